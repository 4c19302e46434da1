"""WebSocket origin check: a socket is accepted only from the site's own pages.

A browser sends ``Origin`` with every WebSocket handshake. It must equal the origin the
socket was opened on (scheme, host and port, as the browser saw them: behind a trusted
proxy the scheme comes from ``X-Forwarded-Proto``), or one of ``CSRF_TRUSTED_ORIGINS``,
the same rule Django's CSRF check applies to a form post. The host must also be one of
``ALLOWED_HOSTS``. Anything else is refused before the consumer runs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": "80", "https": "443"}


def normalized_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case, without a default port; None if not one."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in DEFAULT_PORTS or not host or parts.path not in ("", "/"):
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is None or str(port) == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_allowed(*, origin: str | None, host: str, secure: bool) -> bool:
    """Whether a handshake with ``Origin: origin`` to ``Host: host`` may open a socket."""
    if not origin or not host:
        return False
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    given = normalized_origin(origin)
    if given is None:
        return False
    own = normalized_origin(f"{'https' if secure else 'http'}://{host}")
    trusted = {normalized_origin(o) for o in settings.CSRF_TRUSTED_ORIGINS}
    return given == own or given in trusted


class SameOriginValidator:
    """ASGI middleware for the WebSocket router: refuses sockets from other origins."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        try:
            origin = headers[b"origin"].decode("latin1") if b"origin" in headers else None
            host = headers.get(b"host", b"").decode("latin1")
        except UnicodeDecodeError:  # pragma: no cover - latin1 decodes every byte
            origin, host = None, ""
        if origin_allowed(origin=origin, host=host, secure=scope.get("scheme") == "wss"):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
