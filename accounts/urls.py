from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("api-token/", views.api_token_detail, name="api-token"),
    path("api-token/rotate/", views.api_token_rotate_view, name="api-token-rotate"),
    path("api-token/revoke/", views.api_token_revoke_view, name="api-token-revoke"),
]
