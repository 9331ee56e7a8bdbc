from django.urls import path

from challenge import organiser_views, views

app_name = "challenge"

urlpatterns = [
    path("c/<slug:slug>/", views.challenge_detail, name="detail"),
    path("c/<slug:slug>/rules/accept/", views.terms_accept_view, name="terms-accept"),
    path("c/<slug:slug>/team/", views.team_page, name="team"),
    path("c/<slug:slug>/team/manage/", views.team_manage, name="team-manage"),
    path("c/<slug:slug>/submissions/", views.submission_mine, name="submissions"),
    path("c/<slug:slug>/<slug:phase_slug>/submit/", views.submission_new, name="submit"),
    path("c/<slug:slug>/<slug:phase_slug>/kit/README.txt", views.kit_readme, name="kit-readme"),
    path("submissions/<int:submission_id>/", views.submission_detail, name="submission"),
    path("submissions/<int:submission_id>/change/", views.submission_change, name="submission-change"),
    path("submissions/<int:submission_id>/cancel/", views.submission_cancel_view, name="submission-cancel"),
    path("submissions/<int:submission_id>/file/", views.submission_file, name="submission-file"),
    path("accounts/profile/", organiser_views.profile_page, name="profile"),
    # The organiser console: each challenge's organisers (site staff create challenges).
    path("organiser/", organiser_views.organiser_home, name="organiser-home"),
    path("organiser/bundle/", organiser_views.bundle_page, name="bundle"),
    path("organiser/new/", organiser_views.challenge_create_view, name="challenge-create"),
    path(
        "organiser/c/<slug:slug>/settings/",
        organiser_views.challenge_settings_view,
        name="challenge-settings",
    ),
    path("organiser/c/<slug:slug>/phases/new/", organiser_views.phase_create_view, name="phase-create"),
    path(
        "organiser/c/<slug:slug>/submissions/",
        organiser_views.console_submissions,
        name="console-submissions",
    ),
    path("organiser/c/<slug:slug>/teams/", organiser_views.console_teams, name="console-teams"),
    path("organiser/c/<slug:slug>/log/", organiser_views.console_log, name="console-log"),
    path(
        "organiser/phases/<int:phase_id>/settings/",
        organiser_views.phase_settings_view,
        name="phase-settings",
    ),
    path(
        "organiser/submissions/<int:submission_id>/cancel/",
        organiser_views.submission_cancel_org_view,
        name="console-submission-cancel",
    ),
    path(
        "organiser/teams/<int:team_id>/remove-member/",
        organiser_views.team_member_remove_org_view,
        name="console-member-remove",
    ),
    path("organiser/c/<slug:slug>/", organiser_views.organiser_dashboard, name="organiser"),
    path("organiser/c/<slug:slug>/bundle.yaml", organiser_views.bundle_export_view, name="bundle-export"),
    path(
        "organiser/phases/<int:phase_id>/submissions.csv",
        organiser_views.submissions_csv,
        name="submissions-csv",
    ),
    path("organiser/phases/<int:phase_id>/lock/", organiser_views.phase_lock_view, name="phase-lock"),
    path(
        "organiser/phases/<int:phase_id>/ground-truth/",
        organiser_views.phase_ground_truth_view,
        name="phase-ground-truth-upload",
    ),
    path(
        "organiser/phases/<int:phase_id>/gallery-inputs/",
        organiser_views.phase_gallery_inputs_view,
        name="phase-gallery-inputs-upload",
    ),
    path("organiser/teams/<int:team_id>/approve/", organiser_views.team_approve_view, name="team-approve"),
    path(
        "organiser/submissions/<int:submission_id>/moderate/",
        organiser_views.submission_moderate_view,
        name="submission-moderate",
    ),
    path(
        "organiser/submissions/<int:submission_id>/refund/",
        organiser_views.submission_refund_view,
        name="submission-refund",
    ),
]
