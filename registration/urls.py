from __future__ import annotations

from django.urls import path

from registration import api, views

app_name = "registration"
urlpatterns = [
    path("", views.register, name="home"),
    path("register/", views.register, name="register"),
    path("register/<uuid:registration_id>/", views.status, name="status"),
    path("api/registrations/", api.registrations, name="api-create"),
    # str, not uuid: a malformed id gets the API's JSON 404 instead of the site's HTML one.
    path("api/registrations/<str:registration_id>/", api.registration_status, name="api-status"),
]
