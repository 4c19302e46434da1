from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from project.serving import OrionServer, server_config


class Command(BaseCommand):
    help = "Serve Orion over HTTP and WebSocket on one port (one process per core)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Interface to bind.")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on.")
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            help="Behind a proxy: take the client address from X-Forwarded-For, trusting "
            "only connections from ORION_TRUSTED_PROXIES.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = server_config(
            host=options["host"], port=options["port"], proxy_headers=options["proxy_headers"]
        )
        self.stdout.write(f"Orion is served on http://{config.host}:{config.port}/ (Ctrl-C stops)")
        self.stdout.flush()
        OrionServer(config).run()
