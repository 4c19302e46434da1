"""Response headers Orion adds to its own pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control
from django.utils.deprecation import MiddlewareMixin


class PrivatePagesMiddleware(MiddlewareMixin):
    """Pages and fragments are someone's conversations: no cache (browser, proxy) keeps
    them. Static files never reach this middleware (WhiteNoise answers them first)."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response
