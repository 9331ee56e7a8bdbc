"""URLs. There is deliberately no route to MEDIA_ROOT or the private storage: uploads and ground
truth are never served."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts import views as account_views
from challenge import views as challenge_views
from config.views import ApiIndex

api_v1: list[URLPattern | URLResolver] = [
    path("", ApiIndex.as_view(), name="index"),
    path("", include("challenge.api_urls")),
    path("", include("leaderboard.api_urls")),
    # One schema: /api/schema/ (this old address redirects there).
    path("schema/", RedirectView.as_view(pattern_name="openapi-schema", permanent=True), name="schema"),
]

urlpatterns = [
    path("", challenge_views.home, name="home"),
    # Sign-up, login, logout, password reset, e-mail verification and social login: django-allauth at
    # /accounts/ (the login, signup and logout URLs are the ones the site always had). Its form pages
    # answer 400 when the form has errors, like every other form of the site.
    path("accounts/login/", account_views.login_view, name="account_login"),
    path("accounts/signup/", account_views.signup_view, name="account_signup"),
    path("accounts/password/reset/", account_views.password_reset_view, name="account_reset_password"),
    # Django's conventional address of the reset page.
    path(
        "accounts/password_reset/",
        RedirectView.as_view(pattern_name="account_reset_password", permanent=True),
        name="password-reset-legacy",
    ),
    path("accounts/", include("allauth.urls")),
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
