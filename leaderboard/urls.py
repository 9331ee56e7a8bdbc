from django.urls import path

from leaderboard import views

app_name = "leaderboard"

urlpatterns = [
    path("c/<slug:slug>/<slug:phase_slug>/leaderboard/", views.leaderboard_page, name="phase"),
]
