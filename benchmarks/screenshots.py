"""PNG screenshots of the main pages into screenshots/ (gitignored), from a throw-away demo site.

    .venv/bin/python benchmarks/screenshots.py        (or: make screenshots)

Seeds the tiny Video Pentathlon, scores a few real submissions of several teams and a baseline
through the same services as the site, serves it with gunicorn on loopback and photographs the pages
with headless chromium (/usr/bin/chromium, through Playwright).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _site import ROOT, Server, configure  # noqa: E402

OUT = ROOT / "screenshots"
CHROMIUM = os.environ.get("PENTATHLON_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "screenshot-pass-9"
#: Every page twice: desktop, and a 390 px phone ("-phone" in the file name).
VIEWPORTS = (("", {"width": 1280, "height": 900}), ("-phone", {"width": 390, "height": 844}))


def populate() -> dict:
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.files import File
    from django.core.management import call_command

    from challenge.models import Challenge, Phase
    from challenge.publication import phase_published_truth
    from challenge.services import submission_create, submission_update, team_create, user_create
    from evaluation.synthetic import (
        pentathlon_ground_truth,
        similarity_matrices,
        write_codalab_zip,
        write_npz_submission,
    )

    User = get_user_model()  # noqa: N806 - the model class

    call_command("seed_pentathlon", "--scale", "tiny", verbosity=0)
    challenge = Challenge.objects.get(slug="video-pentathlon")
    val, test = challenge.phases.get(slug="val"), challenge.phases.get(slug="test")
    truth = pentathlon_ground_truth(phase="val", scale="tiny", seed=0)
    test_truth = pentathlon_ground_truth(phase="test", scale="tiny", seed=0, shuffled=True)
    organiser = user_create(username="org", password=PASSWORD, email="org@example.org", is_staff=True)
    team_create(challenge=challenge, user=organiser, name="Organisers", is_baseline=True)
    tmp = Path(tempfile.mkdtemp(prefix="pentathlon-shots-"))
    ids = {}

    def submit(user, phase, gt, name, noise, seed):
        path = tmp / f"{name}-{seed}.npz"
        write_npz_submission(path, similarity_matrices(gt, seed=seed, noise=noise))
        with open(path, "rb") as handle:
            return submission_create(
                user=user,
                phase=phase,
                file=File(handle, name=path.name),
                method_name=name,
                description=f"{name}: synthetic similarities",
                paper_url="https://arxiv.org/abs/1907.13487",
            )

    # the test phase counts the team's chosen final submission (only there can one be chosen)
    Phase.objects.filter(id=test.id).update(final_submission=Phase.FinalSubmission.SELECTED)
    test.refresh_from_db()
    ids["baseline"] = submit(organiser, val, truth, "CE (baseline)", 0.9, 1).id
    submit(organiser, val, truth, "MoEE (baseline)", 1.1, 2)
    for i, (team, noise) in enumerate([("Alpha", 0.6), ("Beta", 0.75), ("Gamma", 0.85), ("Delta", 1.2)]):
        user = user_create(username=team.lower(), password=PASSWORD, email=f"{team.lower()}@example.org")
        team_create(challenge=challenge, user=user, name=team)
        for j in range(2):
            s = submit(user, val, truth, f"{team} model v{j + 1}", noise + 0.2 * (1 - j), 10 * i + j)
            ids.setdefault(team, s.id)
        t = submit(user, test, test_truth, f"{team} final", noise, 100 + i)
        submission_update(submission=t, user=user, is_final=True)
    Phase.objects.filter(id=test.id).update(leaderboard_visibility=Phase.LeaderboardVisibility.OWNERS)
    # a top-k upload (its rank histogram ends in a "beyond top-k" bar) and a failed one, of team Alpha
    alpha = User.objects.get(username="alpha")
    zipped = tmp / "alpha-topk.zip"
    published = phase_published_truth(phase=val)  # a blind phase: rows name their (opaque) query ids
    write_codalab_zip(
        zipped,
        similarity_matrices(published, seed=7, noise=0.7),
        phase_slug="val",
        query_ids={name: d.query_ids for name, d in published.datasets.items()},
    )
    with open(zipped, "rb") as handle:
        topk = submission_create(
            user=alpha, phase=val, file=File(handle, name=zipped.name), method_name="Alpha top-k lists"
        )
    bad = tmp / "alpha-nan.npz"
    msrvtt = truth.datasets["MSRVTT"]
    sims = np.zeros((msrvtt.num_queries, msrvtt.num_videos), dtype=np.float32)
    sims[1, 1] = np.nan
    np.savez(bad, MSRVTT=sims)
    with open(bad, "rb") as handle:
        failed = submission_create(
            user=alpha, phase=val, file=File(handle, name=bad.name), method_name="Alpha broken file"
        )
    return {
        "val": val.id,
        "test": test.id,
        "alpha_submission": ids["Alpha"],
        "alpha_topk": topk.id,
        "alpha_failed": failed.id,
        "duplicate_file": str(tmp / "Alpha model v1-0.npz"),
    }


def main() -> None:
    from playwright.sync_api import sync_playwright

    env = configure()
    info = populate()
    OUT.mkdir(exist_ok=True)
    server = Server(env)
    shots = [
        ("home", "/", None),
        ("challenge", "/c/video-pentathlon/", None),
        ("leaderboard-val", "/c/video-pentathlon/val/leaderboard/", None),
        (
            "leaderboard-val-msvd-by-medr",
            "/c/video-pentathlon/val/leaderboard/?dataset=MSVD&sort=MSVD:MedR",
            None,
        ),
        ("leaderboard-embed", "/c/video-pentathlon/val/leaderboard/embed/", None),
        ("login", "/accounts/login/", None),
        ("signup", "/accounts/signup/", None),
        ("password-reset", "/accounts/password/reset/", None),
        ("challenge-participant", "/c/video-pentathlon/", "alpha"),
        ("team", "/c/video-pentathlon/team/", "alpha"),
        ("submission-result", f"/submissions/{info['alpha_submission']}/", "alpha"),
        ("submission-topk", f"/submissions/{info['alpha_topk']}/", "alpha"),
        ("submission-failed", f"/submissions/{info['alpha_failed']}/", "alpha"),
        ("upload-form", "/c/video-pentathlon/val/submit/", "alpha"),
        ("upload-duplicate", "/c/video-pentathlon/val/submit/", "alpha"),
        ("my-submissions", "/c/video-pentathlon/submissions/", "alpha"),
        ("profile", "/accounts/profile/", "alpha"),
        ("api-token", "/accounts/api-token/", "alpha"),
        ("organiser-home", "/organiser/", "org"),
        ("organiser-tools", "/organiser/c/video-pentathlon/", "org"),
        ("organiser-phase-settings", f"/organiser/phases/{info['val']}/settings/", "org"),
        ("organiser-submissions", "/organiser/c/video-pentathlon/submissions/", "org"),
        ("organiser-teams", "/organiser/c/video-pentathlon/teams/", "org"),
        ("organiser-log", "/organiser/c/video-pentathlon/log/", "org"),
        ("organiser-bundle", "/organiser/bundle/", "org"),
        ("leaderboard-test-organiser", "/c/video-pentathlon/test/leaderboard/", "org"),
        ("rescore", f"/organiser/phases/{info['val']}/rescore/", "org"),
    ]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            contexts = {}
            for (name, path, user), (suffix, viewport) in (
                (shot, size) for size in VIEWPORTS for shot in shots
            ):
                name = f"{name}{suffix}"
                if (user, suffix) not in contexts:
                    contexts[user, suffix] = browser.new_context(base_url=server.url, viewport=viewport)
                    if user:
                        page = contexts[user, suffix].new_page()
                        page.goto("/accounts/login/")
                        page.fill("#id_login", user)
                        page.fill("#id_password", PASSWORD)
                        page.click("main button[type=submit]")
                        page.wait_for_load_state()
                        page.close()
                page = contexts[user, suffix].new_page()
                page.goto(path)
                page.wait_for_load_state("networkidle")
                for canvas in page.locator("canvas").all():
                    canvas.evaluate(
                        "c => new Promise(r => { const t = Date.now(); (function w() {"
                        " if (c.dataset.rendered || !c.isConnected || Date.now() - t > 5000) r();"
                        " else setTimeout(w, 50); })(); })"
                    )
                if name.startswith("organiser-bundle"):
                    page.fill(
                        "textarea[name=bundle]",
                        "challenge: {slug: demo, title: 12}\ndatasets: []\n"
                        "phases:\n  - {slug: val, starts_at: soon, aggregation: median}\n",
                    )
                    page.click("button[value=validate]")
                    page.wait_for_load_state()
                if name.startswith("upload-duplicate"):  # the same file again: refused with a link
                    page.fill("#id_method_name", "again")
                    page.set_input_files("#id_file", info["duplicate_file"])
                    page.click("#upload-form button[type=submit]")
                    page.wait_for_selector("[data-role=duplicate-link]")
                target = OUT / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                # a page wider than the window scrolls sideways: the figure a designer checks first
                width, window = page.evaluate(
                    "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
                )
                overflow = "" if width <= window else f"  OVERFLOWS: {width} px in a {window} px window"
                print(f"{target.relative_to(ROOT)}  {path}  {width} px{overflow}")
                page.close()
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
