from __future__ import annotations

from django.urls import URLPattern, path

from robot import api, views

app_name = "robot"

urlpatterns: list[URLPattern] = [
    path("api/robots/<slug:name>/", api.robot_detail, name="api-detail"),
    path("api/robots/<slug:name>/cycles/", api.robot_cycles, name="api-cycles"),
    path("api/robots/<slug:name>/cycles/<int:number>/retry/", api.robot_cycle_retry, name="api-cycle-retry"),
    path("api/robots/<slug:name>/start/", api.robot_start, name="api-start"),
    path("api/robots/<slug:name>/stop/", api.robot_stop, name="api-stop"),
    path("api/robots/<slug:name>/run/", api.robot_run, name="api-run"),
    path("api/wstart", api.legacy_wstart, name="legacy-wstart"),
    path("api/wstop", api.legacy_wstop, name="legacy-wstop"),
    path("api/demo/todos/", views.demo_todos, name="demo-todos"),
    path("metrics/robots/", views.robot_metrics, name="metrics"),
]
