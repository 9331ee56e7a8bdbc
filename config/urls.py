"""URLs. There is deliberately no route to MEDIA_ROOT or the private storage: uploads and ground
truth are never served."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

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
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    # The whole API's OpenAPI schema and browsable docs (assets served locally by the sidecar).
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="openapi-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="openapi-schema"), name="openapi-redoc"),
    path("", include("challenge.urls")),
    path("", include("leaderboard.urls")),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
