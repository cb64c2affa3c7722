from __future__ import annotations

from django.urls import URLPattern, path

from robot import views

app_name = "robot"

# The JSON API is declared in robot/api.py and mounted with the others in asyncportal/urls.py.
urlpatterns: list[URLPattern] = [
    path("metrics/robots/", views.robot_metrics, name="metrics"),
]
