from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

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
