from django.urls import path

from leaderboard import views

app_name = "leaderboard"

urlpatterns = [
    path("c/<slug:slug>/<slug:phase_slug>/leaderboard/", views.leaderboard_page, name="phase"),
    path("c/<slug:slug>/<slug:phase_slug>/leaderboard/embed/", views.leaderboard_embed, name="embed"),
    path("c/<slug:slug>/<slug:phase_slug>/leaderboard.csv", views.leaderboard_csv, name="csv"),
    path("c/<slug:slug>/<slug:phase_slug>/entries/<int:submission_id>/", views.entry_detail, name="entry"),
    path("organiser/phases/<int:phase_id>/rescore/", views.phase_rescore_page, name="rescore"),
    path("organiser/phases/<int:phase_id>/publish/", views.phase_publish, name="publish"),
]
