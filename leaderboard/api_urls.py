from django.urls import path

from leaderboard import apis

urlpatterns = [
    path("phases/<int:phase_id>/leaderboard/", apis.LeaderboardListApi.as_view(), name="leaderboard"),
    path(
        "phases/<int:phase_id>/leaderboard/history/",
        apis.LeaderboardHistoryApi.as_view(),
        name="leaderboard-history",
    ),
    path(
        "submissions/<int:submission_id>/charts/",
        apis.SubmissionChartsApi.as_view(),
        name="submission-charts",
    ),
    path("entries/<int:submission_id>/charts/", apis.EntryChartsApi.as_view(), name="entry-charts"),
]
