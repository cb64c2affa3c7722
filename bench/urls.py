from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path


def bare(request: HttpRequest) -> HttpResponse:
    """The anchor: a Django view that does nothing."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/bare/", bare),
    path("", include("asyncportal.urls")),
]
