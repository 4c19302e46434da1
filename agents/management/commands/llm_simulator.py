"""``manage.py llm_simulator``: run the OpenAI-compatible LLM simulator in the foreground.

Point the app at it with an OpenAI base URL of ``http://HOST:PORT/v1``. The flags set the
defaults; ``[sim:...]`` markers change single replies (see ``agents.simulator``).
"""

from __future__ import annotations

import asyncio
import gc
from argparse import ArgumentParser, ArgumentTypeError
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.management.base import BaseCommand, CommandError

from agents.simulator import DEFAULT_MODEL, LLMSimulator, SimulatorConfig, run_until_stopped

_N = TypeVar("_N", int, float)


def _bounded(
    convert: Callable[[str], _N], kind: str, accept: Callable[[_N], bool], rule: str
) -> Callable[[str], _N]:
    """An argparse ``type``: ``convert`` the value (``kind`` names it), then check ``accept``."""

    def parse(value: str) -> _N:
        try:
            number = convert(value)
        except ValueError:
            raise ArgumentTypeError(f"{value!r} is not {kind}") from None
        if not accept(number):
            raise ArgumentTypeError(rule)
        return number

    return parse


_fraction = _bounded(float, "a number", lambda x: 0.0 <= x <= 1.0, "must be between 0.0 and 1.0")
_positive_float = _bounded(float, "a number", lambda x: x > 0, "must be positive")
_non_negative_float = _bounded(float, "a number", lambda x: x >= 0, "must not be negative")
_non_negative_int = _bounded(int, "an integer", lambda x: x >= 0, "must not be negative")


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
            drop_rate=options["drop_rate"],
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
            "--drop-rate",
            type=_fraction,
            default=defaults.drop_rate,
            help="Fraction (0-1) of streams closed abruptly halfway through (seeded).",
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
            # collector's full scans, which otherwise stall the event loop under a burst of
            # new connections (Django and the simulator make a large heap).
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
