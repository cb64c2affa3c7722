from __future__ import annotations

from django.urls import path

from registration import views

app_name = "registration"
urlpatterns = [
    path("", views.register, name="home"),
    path("register/", views.register, name="register"),
    path("register/<uuid:registration_id>/", views.status, name="status"),
]
