"""The server's settings: every way of starting Orion serves it the same way."""

from __future__ import annotations

from django.test import override_settings

from project.serving import APP, WS_MAX_BYTES, server_config


def test_the_app_on_uvloop_httptools_and_websockets() -> None:
    config = server_config(host="127.0.0.1", port=8123)
    assert (config.app, config.host, config.port) == (APP, "127.0.0.1", 8123)
    assert (config.loop, config.http, config.ws) == ("uvloop", "httptools", "websockets-sansio")
    assert config.lifespan == "off"
    assert config.ws_max_size == WS_MAX_BYTES


def test_proxy_headers_are_ignored_unless_asked_for() -> None:
    config = server_config(host="127.0.0.1", port=8123)
    assert config.proxy_headers is False


@override_settings(ORION_TRUSTED_PROXIES=["10.0.0.2", "10.0.0.3"])
def test_proxy_headers_are_believed_from_the_trusted_proxies_only() -> None:
    config = server_config(host="0.0.0.0", port=8123, proxy_headers=True)  # noqa: S104
    assert config.proxy_headers is True
    assert config.forwarded_allow_ips == ["10.0.0.2", "10.0.0.3"]
