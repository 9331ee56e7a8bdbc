from django.urls import path

from challenge import views

app_name = "challenge"

urlpatterns = [
    path("c/<slug:slug>/", views.challenge_detail, name="detail"),
    path("c/<slug:slug>/team/", views.team_page, name="team"),
    path("c/<slug:slug>/submissions/", views.submission_mine, name="submissions"),
    path("c/<slug:slug>/<slug:phase_slug>/submit/", views.submission_new, name="submit"),
    path("submissions/<int:submission_id>/", views.submission_detail, name="submission"),
    path("submissions/<int:submission_id>/change/", views.submission_change, name="submission-change"),
]
