from django.urls import path

from challenge import apis, ground_truth_apis, kit_apis, team_apis, upload_apis

urlpatterns = [
    path("auth/token/", apis.TokenObtainApi.as_view(), name="token"),
    path("challenges/", apis.ChallengeListApi.as_view(), name="challenge-list"),
    path("challenges/<slug:slug>/", apis.ChallengeDetailApi.as_view(), name="challenge-detail"),
    path("challenges/<slug:slug>/phases/", apis.PhaseListApi.as_view(), name="phase-list"),
    path("challenges/<slug:slug>/team/", team_apis.TeamMineApi.as_view(), name="team-mine"),
    path("challenges/<slug:slug>/team/join/", team_apis.TeamJoinApi.as_view(), name="team-join"),
    path("submissions/", apis.SubmissionListApi.as_view(), name="submission-list"),
    path("submissions/create/", apis.SubmissionCreateApi.as_view(), name="submission-create"),
    path("submissions/<int:submission_id>/", apis.SubmissionDetailApi.as_view(), name="submission-detail"),
    path(
        "submissions/<int:submission_id>/update/",
        apis.SubmissionUpdateApi.as_view(),
        name="submission-update",
    ),
    path("phases/<int:phase_id>/kit/", kit_apis.PhaseStarterKitApi.as_view(), name="phase-kit"),
    path(
        "phases/<int:phase_id>/ground-truth/",
        ground_truth_apis.PhaseGroundTruthApi.as_view(),
        name="phase-ground-truth",
    ),
    path(
        "phases/<int:phase_id>/query-order/",
        ground_truth_apis.PhaseQueryOrderApi.as_view(),
        name="phase-query-order",
    ),
    path(
        "phases/<int:phase_id>/query-text/",
        ground_truth_apis.PhaseQueryTextApi.as_view(),
        name="phase-query-text",
    ),
    path(
        "submissions/<int:submission_id>/cancel/",
        apis.SubmissionCancelApi.as_view(),
        name="submission-cancel",
    ),
    path("uploads/", upload_apis.UploadCreateApi.as_view(), name="upload-create"),
    path("uploads/<uuid:upload_id>/", upload_apis.UploadDetailApi.as_view(), name="upload-detail"),
    path(
        "uploads/<uuid:upload_id>/complete/", upload_apis.UploadCompleteApi.as_view(), name="upload-complete"
    ),
]
