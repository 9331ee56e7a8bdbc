"""URLs. There is deliberately no route to MEDIA_ROOT or the private storage: uploads and ground
truth are never served."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from challenge import views as challenge_views

api_v1 = [
    path("", include("challenge.api_urls")),
    path("", include("leaderboard.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
]

urlpatterns = [
    path("", challenge_views.home, name="home"),
    path("accounts/signup/", challenge_views.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("", include("challenge.urls")),
    path("", include("leaderboard.urls")),
]
