from django.urls import path

from leaderboard import apis

urlpatterns = [
    path("phases/<int:phase_id>/leaderboard/", apis.LeaderboardListApi.as_view(), name="leaderboard"),
]
