from __future__ import annotations

from django.urls import path

from agents import views

app_name = "knowledge"

urlpatterns = [
    path("documents/<int:pk>/", views.document_view, name="document"),
]
