"""``manage.py llm_simulator``: run the OpenAI-compatible LLM simulator in the foreground.

Point the app at it with an OpenAI base URL of ``http://HOST:PORT/v1``. Behaviour can also be
changed per request with ``[sim:...]`` markers; see ``agents.simulator``.
"""

from __future__ import annotations

import asyncio
import gc
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agents.simulator import DEFAULT_MODEL, LLMSimulator, SimulatorConfig, run_until_stopped


def _fraction(value: str) -> float:
    """argparse type for --error-rate: a float in [0, 1]."""
    try:
        number = float(value)
    except ValueError:
        raise ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= number <= 1.0:
        raise ArgumentTypeError("must be between 0.0 and 1.0")
    return number


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ArgumentTypeError(f"{value!r} is not a number") from None
    if number <= 0:
        raise ArgumentTypeError("must be positive")
    return number


def _non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ArgumentTypeError(f"{value!r} is not a number") from None
    if number < 0:
        raise ArgumentTypeError("must not be negative")
    return number


def _non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 0:
        raise ArgumentTypeError("must not be negative")
    return number


def config_from_options(options: dict[str, Any]) -> SimulatorConfig:
    """Build the simulator config from parsed command options."""
    try:
        return SimulatorConfig(
            host=options["host"],
            port=options["port"],
            ttft_ms=options["ttft_ms"],
            tokens_per_sec=options["tokens_per_sec"],
            reply_tokens=options["reply_tokens"],
            error_rate=options["error_rate"],
            drop_after=options["drop_after"],
            api_key=options["api_key"],
            seed=options["seed"],
            model=options["model"],
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


class Command(BaseCommand):
    help = (
        "Run the OpenAI-compatible LLM simulator (chat completions with streaming, models, "
        "embeddings, /sim/stats) until SIGINT/SIGTERM."
    )
    # The simulator touches neither the database nor any app, so it must start even when
    # settings point at a database that is not up yet.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        defaults = SimulatorConfig()
        parser.add_argument("--host", default=defaults.host, help="Interface to bind.")
        parser.add_argument(
            "--port",
            type=int,
            default=defaults.port,
            help="TCP port (0 picks a free one and prints it).",
        )
        parser.add_argument(
            "--ttft-ms",
            type=_non_negative_float,
            default=defaults.ttft_ms,
            help="Time to first token in milliseconds, from the end of the request.",
        )
        parser.add_argument(
            "--tokens-per-sec",
            type=_positive_float,
            default=defaults.tokens_per_sec,
            help="Streaming rate after the first token.",
        )
        parser.add_argument(
            "--reply-tokens",
            type=_non_negative_int,
            default=defaults.reply_tokens,
            help="Tokens per reply unless the request's max_tokens is smaller.",
        )
        parser.add_argument(
            "--error-rate",
            type=_fraction,
            default=defaults.error_rate,
            help="Fraction (0-1) of chat completions answered with HTTP 500 (seeded).",
        )
        parser.add_argument(
            "--drop-after",
            type=_non_negative_int,
            default=None,
            help="Close every stream abruptly after this many content tokens.",
        )
        parser.add_argument(
            "--api-key",
            default=None,
            help="Require exactly this bearer key (default: accept any).",
        )
        parser.add_argument(
            "--seed", type=int, default=defaults.seed, help="Seed for --error-rate decisions."
        )
        parser.add_argument("--model", default=DEFAULT_MODEL, help="Model id listed by /v1/models.")

    def handle(self, *args: Any, **options: Any) -> None:
        config = config_from_options(options)

        def announce(simulator: LLMSimulator) -> None:
            # What is loaded by now lives as long as the process: keep it out of the garbage
            # collector's full scans, which otherwise stall the event loop for ~100 ms under
            # a burst of new connections (Django and the simulator make a large heap).
            gc.collect()
            gc.freeze()
            self.stdout.write(
                f"LLM simulator listening on {simulator.base_url} "
                f"(ttft {config.ttft_ms:g} ms, {config.tokens_per_sec:g} tok/s, "
                f"{config.reply_tokens} tokens/reply); stats at /sim/stats"
            )
            # Scripts wait for this line to learn the port; don't leave it in a buffer.
            self.stdout.flush()

        try:
            asyncio.run(run_until_stopped(config, ready=announce))
        except OSError as exc:  # typically the port is already taken
            raise CommandError(f"Could not start the LLM simulator: {exc}") from exc
        self.stdout.write("LLM simulator stopped.")
