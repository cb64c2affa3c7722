from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from asyncportal import dashboard

urlpatterns = [
    path("", include("registration.urls")),
    path("", include("robot.urls")),
    path("admin/", admin.site.urls),
    # django-rq's own patterns, each behind the least-privilege guard (asyncportal/dashboard.py).
    path("django-rq/", include((dashboard.urlpatterns(), "django_rq"))),
]
