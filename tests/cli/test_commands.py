"""Every `pentathlon` command against a live server (eager Celery: uploads are scored on commit)."""

from __future__ import annotations

import http.server
import json
import socket
import stat
import threading
import zipfile

import numpy as np
import pytest

from challenge.models import Submission
from challenge.services.submissions import CANCEL_TOO_LATE

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _one_sentence(result) -> str:
    assert "Traceback" not in result.err
    assert len(result.err_lines) == 1, result.err
    return result.err_lines[0]


# --------------------------------------------------------------------------------------------- login


def test_login_stores_the_token_readable_by_the_owner_only(
    run_cli, server_url, participant, password, cli_home
):
    from rest_framework.authtoken.models import Token

    result = run_cli("login", "--server", server_url, "-u", participant.username, "-p", password)
    assert result.code == 0, result.err
    path = cli_home / ".config" / "pentathlon" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert stored["server"] == server_url
    assert stored["servers"][server_url]["token"] == Token.objects.get(user=participant).key
    assert str(path) in result.out


def test_login_with_a_wrong_password_exits_3(run_cli, server_url, participant, cli_home):
    result = run_cli("login", "--server", server_url, "-u", participant.username, "-p", "wrong")
    assert result.code == 3
    assert "credentials" in _one_sentence(result)
    assert not (cli_home / ".config" / "pentathlon" / "credentials.json").exists()


def test_login_with_a_token_checks_it_first(run_cli, server_url, participant):
    from rest_framework.authtoken.models import Token

    bad = run_cli("login", "--server", server_url, "--token", "0" * 40)
    assert bad.code == 3
    assert "pentathlon login" in _one_sentence(bad)
    token = Token.objects.create(user=participant).key
    good = run_cli("login", "--server", server_url, "--token", token)
    assert good.code == 0, good.err


def test_the_server_comes_from_the_environment(run_cli, server_url, participant, password, monkeypatch):
    monkeypatch.setenv("PENTATHLON_SERVER", server_url + "/api/v1/")
    assert run_cli("login", "-u", participant.username, "-p", password).code == 0
    assert "video-pentathlon" in run_cli("challenges").out


# ------------------------------------------------------------------------------------- listings, kit


def test_challenges_and_phases_are_listed(run_cli, logged_in, phase):
    challenges = run_cli("challenges")
    assert challenges.code == 0 and "video-pentathlon" in challenges.out
    phases = run_cli("phases", "video-pentathlon")
    assert phases.code == 0 and "Validation" in phases.out and str(phase.id) in phases.out
    as_json = json.loads(run_cli("phases", "video-pentathlon", "--json").out)
    assert as_json[0]["id"] == phase.id
    missing = run_cli("phases", "nope")
    assert missing.code == 1
    assert _one_sentence(missing) == "error: No challenge with this name exists."


def test_kit_holds_orderings_and_shapes_but_no_ground_truth(run_cli, kit_dir, phase, tiny_truth):
    from challenge.publication import phase_published_truth

    published = phase_published_truth(phase=phase)
    shapes = json.loads((kit_dir / "shapes.json").read_text())
    assert shapes["datasets"] == published.public_shapes()
    assert shapes["phase"] == "val" and shapes["query_order"] == "blind"
    for name, truth in published.datasets.items():
        assert (kit_dir / name / "videos.txt").read_text().splitlines() == list(truth.videos)
        assert (kit_dir / name / "queries.txt").read_text().splitlines() == list(truth.query_ids)
        assert not set(truth.query_ids) & set(tiny_truth.datasets[name].query_ids)
    files = sorted(p.relative_to(kit_dir).as_posix() for p in kit_dir.rglob("*") if p.is_file())
    assert files == sorted(
        [
            "shapes.json",
            "README.txt",
            "example_submission.npz",
            *(f"{n}/{f}" for n in tiny_truth.datasets for f in ("videos.txt", "queries.txt", "queries.tsv")),
        ]
    )
    text = "".join((kit_dir / f).read_text() for f in files if not f.endswith(".npz"))
    assert "query_video" not in text and "query_masks" not in text
    with np.load(kit_dir / "example_submission.npz", allow_pickle=False) as example:
        assert set(example.files) == set(tiny_truth.datasets)
        for name, truth in tiny_truth.datasets.items():
            assert example[name].shape == (truth.num_queries, truth.num_videos)
            assert example[name].dtype == np.float32
            # Random: the example does not encode the mapping.
            assert example[name].argmax(axis=1).tolist() != published.datasets[name].query_video.tolist()
    assert run_cli("validate", "--kit", kit_dir, kit_dir / "example_submission.npz").code == 0


def test_kit_of_an_unknown_phase_is_one_sentence(run_cli, logged_in, phase):
    result = run_cli("kit", 999_999)
    assert result.code == 1
    assert _one_sentence(result) == (
        f"error: No phase with the id 999999 exists. Open for submissions now: {phase.id} "
        "(video-pentathlon/val). `pentathlon phases CHALLENGE` lists a challenge's phases."
    )


# ---------------------------------------------------------------------- offline == server rejections


def _bad_submission(kind, tiny_truth, tmp_path, kit_dir):
    from evaluation import synthetic

    matrices = synthetic.similarity_matrices(tiny_truth, seed=3)
    if kind == "wrong_columns":
        matrices["MSVD"] = matrices["MSVD"][:, :-1]
    elif kind == "nan":
        matrices["DiDeMo"][4, 2] = np.nan
    elif kind in ("topk_out_of_range", "topk_without_ids"):
        path = tmp_path / f"bad-{kind}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for name, sims in matrices.items():
                topk = synthetic.topk_lists(sims, 10)
                ids = (kit_dir / name / "queries.txt").read_text().split()
                if kind == "topk_without_ids":
                    ids = None  # the 2020 client's CSV: bare indices in the organisers' order
                elif name == "YouCook2":
                    topk[5, 3] = 500
                archive.writestr(f"{name}-val-predictions.csv", synthetic.codalab_csv(topk, ids))
        return path
    elif kind == "embedding_rows":
        pairs = synthetic.embedding_pairs(tiny_truth, dim=8)
        text, video = pairs["ActivityNet"]
        pairs["ActivityNet"] = (text[:-1], video)
        path = tmp_path / "bad-embeddings.npz"
        synthetic.write_embeddings_npz(path, pairs)
        return path
    path = tmp_path / f"bad-{kind}.npz"
    synthetic.write_npz_submission(path, matrices)
    return path


@pytest.mark.parametrize(
    "kind", ["wrong_columns", "nan", "topk_out_of_range", "topk_without_ids", "embedding_rows"]
)
def test_offline_validation_gives_the_servers_message(kind, run_cli, kit_dir, phase, tiny_truth, tmp_path):
    path = _bad_submission(kind, tiny_truth, tmp_path, kit_dir)
    offline = run_cli("validate", "--kit", kit_dir, path)
    assert offline.code == 2
    offline_line = _one_sentence(offline)
    assert offline_line.startswith("rejected: ")

    submitted = run_cli("submit", phase.id, path, "--method-name", f"bad {kind}", "--interval", "0.05")
    assert submitted.code == 2
    stored = Submission.objects.filter(method_name=f"bad {kind}").first()
    if kind in ("wrong_columns", "embedding_rows", "topk_out_of_range", "topk_without_ids"):
        # Shapes and top-k lists are checked as the upload arrives: refused at once, nothing stored.
        assert stored is None
        expected = offline_line.replace("rejected: ", "rejected: The file cannot be scored: ")
        assert submitted.err_lines[-1].rstrip(".") == expected.rstrip(".")
        return
    assert stored.status == Submission.Status.FAILED
    assert offline_line == f"rejected: {stored.error_message}"
    assert submitted.err_lines[-1] == offline_line


def test_upload_refused_by_the_server_exits_2(run_cli, logged_in, phase, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a submission")
    result = run_cli("submit", phase.id, path, "-m", "oops")
    assert result.code == 2
    assert _one_sentence(result).startswith("rejected: The file name 'notes.txt' does not end in .zip")


@pytest.mark.parametrize("chunked_above", [None, "1"], ids=["direct", "chunked"])
def test_a_file_sent_again_is_rejected_with_the_earlier_submission(
    chunked_above, run_cli, logged_in, phase, make_submission_file
):
    path = make_submission_file("npz", seed=31)
    chunked = ["--chunked-above", chunked_above] if chunked_above else []
    first = run_cli("submit", phase.id, path, "-m", "first", "--no-wait", *chunked)
    assert first.code == 0, first.err
    earlier = Submission.objects.get(method_name="first")
    again = run_cli("submit", phase.id, path, "-m", "again", "--no-wait", *chunked)
    assert again.code == 2
    line = _one_sentence(again)
    assert line.startswith("rejected: Your team already submitted this file")
    assert f"submission #{earlier.id}, http" in line and f"/submissions/{earlier.id}/" in line
    assert not Submission.objects.filter(method_name="again").exists()
    if chunked_above:  # refused when the upload started: no byte of it was sent
        from challenge.models import ChunkedUpload

        assert ChunkedUpload.objects.count() == 1


def test_the_quota_refusal_says_what_to_do_next(run_cli, logged_in, phase, make_submission_file):
    phase.max_submissions_total = 1
    phase.save()
    assert run_cli("submit", phase.id, make_submission_file("npz", seed=32), "-m", "a", "--no-wait").code == 0
    refused = run_cli("submit", phase.id, make_submission_file("npz", seed=33), "-m", "b", "--no-wait")
    assert refused.code == 2
    assert "`pentathlon phases video-pentathlon` lists them" in _one_sentence(refused)


# --------------------------------------------------------------------------------- pack, submit, read


def _write_inputs(directory, tiny_truth):
    from evaluation import synthetic

    directory.mkdir()
    matrices = synthetic.similarity_matrices(tiny_truth, seed=1, noise=0.5)
    pairs = synthetic.embedding_pairs(tiny_truth, dim=16, seed=1, noise=0.5)
    np.save(directory / "MSRVTT.npy", matrices["MSRVTT"].astype(np.float16))
    np.save(directory / "msvd.npy", matrices["MSVD"].astype(np.float64))
    np.save(directory / "DiDeMo.npy", matrices["DiDeMo"])
    text, video = pairs["YouCook2"]
    np.save(directory / "YouCook2_text.npy", text)
    np.save(directory / "YouCook2_video.npy", video)
    text, video = pairs["ActivityNet"]
    np.save(directory / "activity-net_text.npy", text.astype(np.float16))
    np.save(directory / "activity-net_video.npy", video.astype(np.float16))
    (directory / "notes.md").write_text("ignored")


@pytest.mark.slow
def test_pack_then_submit_prints_the_result_table(run_cli, kit_dir, phase, tiny_truth, tmp_path):
    inputs = tmp_path / "inputs"
    _write_inputs(inputs, tiny_truth)
    packed = run_cli("pack", inputs, "-o", tmp_path / "mine.npz", "--kit", kit_dir)
    assert packed.code == 0, packed.err
    assert "valid" in packed.out
    with np.load(tmp_path / "mine.npz", allow_pickle=False) as npz:
        assert npz["MSRVTT"].dtype == np.float16  # never widened nor narrowed
        assert npz["MSVD"].dtype == np.float64
        assert npz["ActivityNet_text"].dtype == np.float16
        assert set(npz.files) == {
            "MSRVTT",
            "MSVD",
            "DiDeMo",
            "YouCook2_text",
            "YouCook2_video",
            "ActivityNet_text",
            "ActivityNet_video",
        }
    with zipfile.ZipFile(tmp_path / "mine.npz") as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}

    submitted = run_cli("submit", phase.id, tmp_path / "mine.npz", "-m", "Packed CE", "--interval", "0.05")
    assert submitted.code == 0, submitted.err
    submission = Submission.objects.get(method_name="Packed CE")
    assert submission.status == Submission.Status.FINISHED
    assert "overall score" in submitted.out and "Geom" in submitted.out
    for name in tiny_truth.datasets:
        assert name in submitted.out
    overall = submission.result.primary_score
    assert f"{overall:.2f}" in submitted.out

    status = run_cli("status", submission.id)
    assert status.code == 0 and "finished" in status.out and f"{overall:.2f}" in status.out
    results = run_cli("results", submission.id, "--json")
    assert results.code == 0
    assert json.loads(results.out)["results"]["overall_score"] == pytest.approx(overall)
    board = run_cli("leaderboard", phase.id)
    assert board.code == 0 and "Alpha" in board.out and "Packed CE" in board.out


def test_pack_topk_zip_is_scored_without_v2t(run_cli, kit_dir, phase, tiny_truth, tmp_path):
    inputs = tmp_path / "inputs"
    _write_inputs(inputs, tiny_truth)
    packed = run_cli("pack", inputs, "--topk", 10, "--kit", kit_dir)
    assert packed.code == 0, packed.err
    with zipfile.ZipFile("submission.zip") as archive:
        assert sorted(archive.namelist()) == sorted(f"{n}-val-predictions.csv" for n in tiny_truth.datasets)
    submitted = run_cli("submit", phase.id, "submission.zip", "-m", "Top-k", "--interval", "0.05", "--json")
    assert submitted.code == 0, submitted.err
    data = json.loads(submitted.out)
    assert data["status"] == "finished"
    assert all(result["v2t"] is None for result in data["results"]["datasets"].values())


def test_no_wait_then_status_wait(run_cli, logged_in, phase, make_submission_file):
    result = run_cli("submit", phase.id, make_submission_file("h5"), "-m", "later", "--no-wait")
    assert result.code == 0, result.err
    submission = Submission.objects.get(method_name="later")
    waited = run_cli("status", submission.id, "--wait", "--interval", "0.05")
    assert waited.code == 0 and "finished" in waited.out


def test_results_prints_the_confidence_intervals(run_cli, logged_in, upload, phase):
    submission = upload()
    intervals = submission.result.intervals
    shown = run_cli("results", submission.id)
    assert shown.code == 0, shown.err
    assert "95 % confidence intervals" in shown.out
    overall = intervals["overall_score"]
    assert f"[{overall['low']:.2f}, {overall['high']:.2f}]" in shown.out
    r1 = intervals["datasets"]["MSRVTT"]["t2v"]["R1"]
    assert f"[{r1['low']:.2f}, {r1['high']:.2f}]" in shown.out
    data = json.loads(run_cli("results", submission.id, "--json").out)
    assert data["results"]["intervals"]["overall_score"] == overall
    phase.intervals_enabled = False
    phase.save(update_fields=["intervals_enabled"])
    off = run_cli("results", submission.id)
    assert off.code == 0 and "confidence intervals" not in off.out
    assert json.loads(run_cli("results", submission.id, "--json").out)["results"]["intervals"] is None


def test_results_of_a_hidden_phase_stay_hidden(run_cli, logged_in, hidden_phase, make_submission_file):
    result = run_cli(
        "submit", hidden_phase.id, make_submission_file("npz"), "-m", "secret", "--interval", "0.05"
    )
    assert result.code == 0, result.err
    assert "hidden until the organisers publish" in result.out
    board = run_cli("leaderboard", hidden_phase.id)
    assert board.code == 0 and "hidden" in board.out


# ----------------------------------------------------------------------------------- errors, exits


def test_unreachable_server_is_one_sentence_exit_1(run_cli):
    result = run_cli("challenges", "--server", f"http://127.0.0.1:{_free_port()}")
    assert result.code == 1
    assert _one_sentence(result).startswith("error: Cannot reach the server at http://127.0.0.1:")


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_proxy_without_its_site_is_one_sentence_exit_1(run_cli, status):
    """The production proxy answers 502 while web restarts: say so, not "an internal error"."""

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body>Bad Gateway</body></html>")

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy) as proxy:
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        result = run_cli("challenges", "--server", url)
        proxy.shutdown()
    assert result.code == 1
    assert _one_sentence(result) == (
        f"error: The server at {url} is not answering right now ({status} from its proxy: the site behind"
        " it is down or restarting); try again in a minute."
    )


def test_commands_that_need_a_login_exit_3(run_cli, server_url, phase, make_submission_file):
    result = run_cli("submit", phase.id, make_submission_file("npz"), "-m", "x", "--server", server_url)
    assert result.code == 3
    assert "pentathlon login" in _one_sentence(result)
    assert run_cli("status", 1, "--server", server_url).code == 3


def test_not_in_a_team_exits_4_with_the_team_page(run_cli, server_url, phase, password, make_submission_file):
    from tests.factories import UserFactory

    loner = UserFactory(username="loner")
    assert (
        run_cli("login", "--server", server_url, "--username", loner.username, "--password", password).code
        == 0
    )
    result = run_cli("submit", phase.id, make_submission_file("npz"), "-m", "x")
    assert result.code == 4, result.err
    assert f"{server_url}/c/video-pentathlon/team/" in _one_sentence(result)


def test_someone_elses_submission_is_not_found(run_cli, logged_in, upload, other_participant):
    theirs = upload(user=other_participant)
    result = run_cli("results", theirs.id)
    assert result.code == 1
    assert _one_sentence(result) == "error: No submission with this id exists, or it belongs to another team."


def test_a_stale_token_exits_3(run_cli, logged_in, participant):
    from rest_framework.authtoken.models import Token

    Token.objects.filter(user=participant).delete()
    result = run_cli("status", 1)
    assert result.code == 3
    assert "run `pentathlon login` again" in _one_sentence(result)


def test_cancel_a_queued_submission_then_too_late(run_cli, logged_in, participant, phase):
    from tests.factories import SubmissionFactory

    waiting = SubmissionFactory(team=participant.teams.get(), phase=phase, status=Submission.Status.QUEUED)
    result = run_cli("cancel", waiting.id)
    assert result.code == 0, result.err
    assert f"Submission #{waiting.id} is cancelled" in result.out
    waiting.refresh_from_db()
    assert waiting.status == Submission.Status.CANCELLED
    again = run_cli("cancel", waiting.id, "--json")
    assert again.code == 1
    assert _one_sentence(again) == f"error: {CANCEL_TOO_LATE}"
