"""Embeddings for the knowledge base, asked of the simulator over real HTTP."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from agents.knowledge.embeddings import (
    BATCH_SIZE,
    EmbeddingError,
    embed_texts,
    from_bytes,
    to_bytes,
)
from agents.models import Provider
from agents.simulator import SimulatorConfig, SimulatorThread, run_in_thread, simulated_embedding

NOWHERE = "http://127.0.0.1:9/v1"  # nothing listens there

pytestmark = pytest.mark.django_db  # staff's providers are read from the database


@pytest.fixture(autouse=True)
def _embeddings(settings: Any) -> None:
    settings.ORION_EMBEDDINGS_MODEL = "sim-embed"


@pytest.fixture
def locked_simulator() -> Iterator[SimulatorThread]:
    """A simulator that wants the key "right-key"."""
    with run_in_thread(SimulatorConfig(port=0, api_key="right-key")) as sim:
        yield sim


def provider(name: str, base_url: str, priority: int) -> Provider:
    return Provider.objects.create(
        name=name, base_url=base_url, model="orion-sim-1", priority=priority, max_retries=0
    )


def requests_to(simulator: SimulatorThread) -> int:
    return int(simulator.stats()["requests"])


def test_vectors_are_the_simulator_s_as_unit_float32_rows_in_order() -> None:
    texts = ["stop a reply", "change the password", "stop a reply"]

    vectors = embed_texts(texts)

    assert vectors is not None and vectors.dtype == np.float32 and vectors.shape == (3, 64)
    for row, text in zip(vectors, texts, strict=True):
        assert row == pytest.approx(np.array(simulated_embedding(text)), abs=1e-6)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-6)
    assert np.array_equal(vectors[0], vectors[2])


def test_many_texts_are_sent_in_batches(simulator: SimulatorThread) -> None:
    texts = [f"passage number {n}" for n in range(2 * BATCH_SIZE + 2)]
    before = requests_to(simulator)

    vectors = embed_texts(texts)

    assert requests_to(simulator) - before == 3
    assert vectors is not None and len(vectors) == len(texts)
    assert vectors[-1] == pytest.approx(np.array(simulated_embedding(texts[-1])), abs=1e-6)


def test_without_an_embeddings_model_nothing_is_asked(
    settings: Any, simulator: SimulatorThread
) -> None:
    settings.ORION_EMBEDDINGS_MODEL = ""
    before = requests_to(simulator)

    assert embed_texts(["stop a reply"]) is None
    assert requests_to(simulator) == before


def test_without_a_provider_nothing_is_embedded(settings: Any) -> None:
    settings.OPENAI_BASE_URL = ""

    assert embed_texts(["stop a reply"]) is None


def test_staff_s_first_provider_is_asked_rather_than_the_settings_one(
    settings: Any, simulator: SimulatorThread
) -> None:
    settings.OPENAI_BASE_URL = NOWHERE
    provider("second", NOWHERE, priority=2)
    provider("first", simulator.base_url, priority=1)

    assert embed_texts(["stop a reply"]) is not None


def test_only_the_first_provider_is_asked(simulator: SimulatorThread) -> None:
    provider("first", NOWHERE, priority=1)
    provider("second", simulator.base_url, priority=2)

    with pytest.raises(EmbeddingError, match="first could not be reached for embeddings"):
        embed_texts(["stop a reply"])


def test_an_unreachable_provider_is_an_error_in_words(settings: Any) -> None:
    settings.OPENAI_BASE_URL = NOWHERE
    settings.ORION_PROVIDER_NAME = "local-model"

    with pytest.raises(EmbeddingError, match="local-model could not be reached for embeddings"):
        embed_texts(["stop a reply"])


def test_a_refusal_is_an_error_in_words(settings: Any, locked_simulator: SimulatorThread) -> None:
    settings.OPENAI_BASE_URL = locked_simulator.base_url
    settings.OPENAI_API_KEY = "wrong-key"

    with pytest.raises(EmbeddingError, match=r"refused to embed with sim-embed \(HTTP 401\)"):
        embed_texts(["stop a reply"])


def test_vectors_are_stored_as_little_endian_float32() -> None:
    stored = to_bytes(np.array([1.0, -0.5], dtype=np.float64))

    assert stored == struct.pack("<2f", 1.0, -0.5)
    assert from_bytes(stored).dtype == np.float32
    assert list(from_bytes(memoryview(stored))) == [1.0, -0.5]
