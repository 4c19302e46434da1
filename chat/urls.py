from __future__ import annotations

from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("conversations/new/", views.conversation_new, name="new"),
    path("c/<uuid:pk>/", views.conversation_detail, name="conversation"),
    path("c/<uuid:pk>/rename/", views.conversation_rename_view, name="rename"),
    path("c/<uuid:pk>/delete/", views.conversation_delete_view, name="delete"),
]
