from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

admin.site.site_header = "Orion administration"
admin.site.site_title = "Orion admin"

urlpatterns = [
    path("", include("chat.urls")),
    path("knowledge/", include("agents.urls")),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registration/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(settings.ORION_ADMIN_PATH, admin.site.urls),
]
