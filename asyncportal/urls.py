from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import defaults

from asyncportal import dashboard
from asyncportal.api import PortalAPI

# The one JSON API (/api/…, schema at /api/openapi.json, docs at /api/docs); routers are named by path so
# that core imports no app.
api = PortalAPI(mount="/api/")
api.add_app_router("registrations/", "registration.api.router")
api.add_app_router("demo/", "robot.views.demo")
api.add_app_router("", "robot.api.router")

urlpatterns = [
    path("api/", api.urls),
    path("", include("registration.urls")),
    path("", include("robot.urls")),
    path("admin/", admin.site.urls),
    # django-rq's own patterns, each behind the least-privilege guard (asyncportal/dashboard.py).
    path("django-rq/", include((dashboard.urlpatterns(), "django_rq"))),
]


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 page, except under the API's mount: API clients get the API's JSON error body."""
    if request.path_info.startswith(api.mount):
        return api.not_found(request)
    return defaults.page_not_found(request, exception)


handler404 = not_found
