"""Vectors for passages and questions, from the provider's ``/v1/embeddings``.

The model is the ``ORION_EMBEDDINGS_MODEL`` setting; empty means no embeddings, and
search is keyword-only. The provider is the first of staff's chain, else the one from
settings. Calls are synchronous: ingestion runs in a Celery task and search on the
database thread. Vectors are float32 rows of unit length, stored in ``Chunk.embedding``
as little-endian bytes (``to_bytes``, ``from_bytes``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import openai
from django.conf import settings

from agents.providers.client import tls_context
from agents.providers.config import ProviderConfig, configured_provider

logger = logging.getLogger(__name__)

BATCH_SIZE = 64  # texts per request: well under every provider's limit on inputs
_STORED = np.dtype("<f4")

Vectors = npt.NDArray[np.float32]

# Staff's providers, in the order tried. The knowledge base sits below the pipeline and
# does not import it: ``agents.pipeline.config`` sets this to its snapshot's chain when it
# is loaded (the app's ``ready``).
staff_providers: Callable[[], Sequence[ProviderConfig]] = tuple


class EmbeddingError(Exception):
    """Why texts could not be embedded, in words (ingestion shows them to staff)."""


def embeddings_model() -> str:
    """The embeddings model asked for, or "" when search is keyword-only."""
    return str(settings.ORION_EMBEDDINGS_MODEL or "").strip()


def embeddings_provider() -> ProviderConfig | None:
    """Where embeddings are asked for: staff's first provider, else the settings' one."""
    providers = staff_providers()
    return providers[0] if providers else configured_provider()


def embed_texts(texts: list[str], *, timeout: float | None = None) -> Vectors | None:
    """One unit-length float32 row per text, or None without a model or a provider.

    ``timeout`` (seconds) is for a caller that would rather give up early (search): it
    replaces the provider's own, and failures are not tried again. Raises
    ``EmbeddingError``.
    """
    model = embeddings_model()
    config = embeddings_provider() if model else None
    if config is None:
        return None
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    rows: list[list[float]] = []
    for start in range(0, len(texts), BATCH_SIZE):
        rows.extend(_embed_batch(config, model, texts[start : start + BATCH_SIZE], timeout))
    if len({len(row) for row in rows}) != 1:
        raise EmbeddingError(f"{config.name} gave vectors of different lengths for {model}.")
    return _normalised(np.asarray(rows, dtype=np.float32), config, model)


def to_bytes(vector: npt.ArrayLike) -> bytes:
    """A vector as stored in ``Chunk.embedding``: float32, little-endian."""
    return np.asarray(vector, dtype=_STORED).tobytes()


def from_bytes(data: bytes | memoryview) -> Vectors:
    """A stored ``Chunk.embedding`` back as a float32 vector."""
    return np.frombuffer(data, dtype=_STORED).astype(np.float32)


def _embed_batch(
    config: ProviderConfig, model: str, batch: list[str], timeout: float | None
) -> list[list[float]]:
    seconds = config.timeout if timeout is None else timeout
    retries = config.max_retries if timeout is None else 0
    try:
        response = _client(config.base_url, config.api_key, retries).embeddings.create(
            model=model,
            input=batch,
            timeout=openai.Timeout(seconds, connect=min(seconds, config.connect_timeout)),
        )
    except openai.OpenAIError as exc:
        raise _failure(exc, config, model) from exc
    data = sorted(response.data, key=lambda item: item.index)
    if len(data) != len(batch):
        raise EmbeddingError(
            f"{config.name} gave {len(data)} vectors for {len(batch)} texts ({model})."
        )
    return [list(item.embedding) for item in data]


def _normalised(matrix: Vectors, config: ProviderConfig, model: str) -> Vectors:
    if matrix.shape[1] == 0 or not np.isfinite(matrix).all():
        raise EmbeddingError(f"{config.name} gave empty or invalid vectors for {model}.")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    # A zero vector stays zero: it matches nothing rather than dividing by zero.
    return (matrix / np.where(norms == 0.0, 1.0, norms)).astype(np.float32, copy=False)


@lru_cache(maxsize=8)
def _client(base_url: str, api_key: str, max_retries: int) -> openai.OpenAI:
    """One synchronous SDK client per endpoint and key, shared by threads (httpx's client
    is thread-safe). Timeouts are given per request; retries, with backoff, are the
    SDK's (the async policy in ``agents.providers.retries`` cannot run here)."""
    return openai.OpenAI(
        base_url=base_url,
        api_key=api_key,
        max_retries=max_retries,
        http_client=openai.DefaultHttpxClient(verify=tls_context(), trust_env=True),
    )


def _failure(exc: openai.OpenAIError, config: ProviderConfig, model: str) -> EmbeddingError:
    if isinstance(exc, openai.APIStatusError):
        logger.warning("embeddings failed: HTTP %s %r", exc.status_code, exc.response.text[:300])
        return EmbeddingError(
            f"{config.name} refused to embed with {model} (HTTP {exc.status_code})."
        )
    logger.warning("embeddings failed: %.300s", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, openai.APITimeoutError):
        return EmbeddingError(f"{config.name} did not answer in time for embeddings.")
    if isinstance(exc, openai.APIConnectionError):
        return EmbeddingError(f"{config.name} could not be reached for embeddings.")
    return EmbeddingError(f"{config.name} could not embed with {model}: {type(exc).__name__}.")
