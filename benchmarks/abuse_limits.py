"""Abuse-limit benchmark (SECURITY.md, "Abuse limits"): peak scorer memory on inflating files, and
requests each limit refuses.

    .venv/bin/python benchmarks/abuse_limits.py                 # the limits as they are
    .venv/bin/python benchmarks/abuse_limits.py --unprotected   # also HDF5's own read of each bomb

Part 1 scores hostile files with `python -m evaluation score` (the worker's code: inspect, then
load) in a fresh process each and prints its peak RSS, at three sizes per attack so that the cost
can be seen not to grow with the bomb. `--unprotected` also reads each HDF5 bomb with h5py's own
read_direct, which is what the scorer did before the limits (about 1 GiB for the 1 GiB chunk).

Part 2 times the bounded reader on legitimate gzip + shuffle files (three sizes, h5py's automatic
chunks and tiny 10 x 10 chunks) against HDF5's own read: filtered chunks are inflated by the
reader itself, never past their size.

Part 3 runs the site in process on a throw-away SQLite file with the default settings (throttle
rates included) and counts what each limit refuses: hostile ?limit/?offset values, token logins
with forged X-Forwarded-For headers, the chunk bomb on the upload road, formula cells in the CSV
exports, and (SECURITY.md, "Recovery and the remaining limits") chunked upload creations (throttle,
open-upload and bytes-in-flight caps, unapproved team), team creations from one address,
notifications of one team, and the storage the retention period gives back.

Part 4 (`--faults`, a few minutes) runs real processes on the embedded default, started as bin/demo
starts them (SQLite file, filesystem broker, gunicorn, one prefork worker with its embedded beat):
submissions are uploaded, the pool process is SIGKILLed during a scoring, then the whole worker (and
restarted), then a file that SIGKILLs the process scoring it is uploaded. It prints the faults
survived, the submissions lost (goal 0), scored twice (goal 0), the recovery times, and the killer
file's end. Prints figures only; no assertion on time.
"""

from __future__ import annotations

import argparse
import io
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MiB = 1024**2
_RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "print((done.stderr or done.stdout).strip().splitlines()[-1] if (done.stderr or done.stdout).strip() else '')\n"
)
_UNPROTECTED_READ = (
    "import sys, h5py, numpy as np\n"
    "with h5py.File(sys.argv[1], 'r') as f:\n"
    "    node = f['MSVD/sims']; out = np.empty(node.shape, node.dtype); node.read_direct(out)\n"
)


def peak_rss(argv: list[str]) -> tuple[int, float, str]:
    """(exit status, peak RSS in MiB, last line of output) of argv, run in a fresh grandchild."""
    done = subprocess.run(
        [sys.executable, "-c", _RSS_WRAPPER, *argv], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    first, _, last = done.stdout.partition("\n")
    code, rss = first.split()
    return int(code), int(rss) / 1024, last.strip()


def _h5_bomb(path: Path, chunks: tuple[int, int], inflated: int) -> Path:
    import h5py

    from tests.security.corpus import deflated_zeros

    with h5py.File(path, "w") as handle:
        node = handle.create_group("MSVD").create_dataset(
            "sims", shape=(97, 20), maxshape=(None, None), dtype="f4", chunks=chunks, compression="gzip"
        )
        node.id.write_direct_chunk((0, 0), deflated_zeros(inflated))
    return path


def _valid_h5(path: Path) -> Path:
    import h5py
    import numpy as np

    with h5py.File(path, "w") as handle:
        sims = np.random.default_rng(0).random((97, 20), dtype=np.float32)
        handle.create_group("MSVD").create_dataset("sims", data=sims, compression="gzip", shuffle=True)
    return path


def _zip_zeros(path: Path, nbytes: int) -> Path:
    import numpy as np

    side = int((nbytes // 4) ** 0.5)
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((side, side), np.float32))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("MSVD.npy", buffer.getvalue())
    return path


def memory_part(folder: Path, *, unprotected: bool) -> None:
    from evaluation.ground_truth import write_ground_truth
    from evaluation.synthetic import pentathlon_ground_truth

    truth = folder / "gt.h5"
    write_ground_truth(truth, pentathlon_ground_truth(phase="val", scale="tiny", seed=0))
    baseline = peak_rss([sys.executable, "-c", "import h5py, numpy, evaluation.scoring"])[1]
    print(f"interpreter with numpy, h5py and the scorer imported: {baseline:.0f} MiB peak RSS")
    cases = [
        ("reference: a valid 97 x 20 array, gzip + shuffle", _valid_h5),
        ("one gzip chunk of 128 MiB (8192 x 4096 f4)", lambda p: _h5_bomb(p, (8192, 4096), 128 * MiB)),
        ("one gzip chunk of 512 MiB (16384 x 8192 f4)", lambda p: _h5_bomb(p, (16384, 8192), 512 * MiB)),
        ("one gzip chunk of 1 GiB (16384 x 16384 f4)", lambda p: _h5_bomb(p, (16384, 16384), 1024 * MiB)),
        ("at the chunk limit: 64 MiB chunk, scored", lambda p: _h5_bomb(p, (4096, 4096), 64 * MiB)),
        ("256 KiB chunk whose stream inflates to 64 MiB", lambda p: _h5_bomb(p, (256, 256), 64 * MiB)),
        ("256 KiB chunk whose stream inflates to 256 MiB", lambda p: _h5_bomb(p, (256, 256), 256 * MiB)),
        ("7.6 KiB chunk whose stream inflates to 1 GiB", lambda p: _h5_bomb(p, (97, 20), 1024 * MiB)),
        ("zip: 16 MiB of zero similarities, deflated", lambda p: _zip_zeros(p.with_suffix(".zip"), 16 * MiB)),
        ("zip: 64 MiB of zero similarities, deflated", lambda p: _zip_zeros(p.with_suffix(".zip"), 64 * MiB)),
        (
            "zip: 256 MiB of zero similarities, deflated",
            lambda p: _zip_zeros(p.with_suffix(".zip"), 256 * MiB),
        ),
    ]
    print(
        f"\n{'file':<50} {'on disk':>10} {'scorer':>9} {'peak RSS':>10}"
        + ("  HDF5's own read" if unprotected else "")
    )
    for number, (label, build) in enumerate(cases):
        path = build(folder / f"case{number}.h5")
        code, rss, message = peak_rss(
            [
                sys.executable,
                "-m",
                "evaluation",
                "score",
                "--submission",
                str(path),
                "--ground-truth",
                str(truth),
            ]
        )
        outcome = {0: "scored", 2: "refused"}.get(code, f"exit {code}")
        line = f"{label:<50} {path.stat().st_size / 1024:>8.0f} K {outcome:>9} {rss:>7.0f} MiB"
        if unprotected and path.suffix == ".h5":
            _, raw_rss, _ = peak_rss([sys.executable, "-c", _UNPROTECTED_READ, str(path)])
            line += f"  {raw_rss:>7.0f} MiB"
        print(line)
        if code == 2:
            print(f"    {message[:150]}")
        path.unlink()


def read_cost_part(folder: Path) -> None:
    """What the bounded reader costs on legitimate gzip + shuffle files, against HDF5's own read."""
    import time

    import h5py
    import numpy as np

    from evaluation.io import inspect_submission, load_entry

    print(f"\n{'gzip + shuffle array':<44} {'chunks':>8} {'inspect':>9} {'own reader':>11} {'HDF5 read':>10}")
    for chunking in ("auto", "10 x 10"):
        for side in (1000, 2000, 4000):
            path = folder / f"read-{side}.h5"
            sims = np.random.default_rng(0).random((side, side), dtype=np.float32)
            with h5py.File(path, "w") as handle:
                handle.create_group("MSVD").create_dataset(
                    "sims",
                    data=sims,
                    chunks=True if chunking == "auto" else (10, 10),
                    compression="gzip",
                    shuffle=True,
                )
                count = handle["MSVD/sims"].id.get_num_chunks()
            started = time.perf_counter()
            manifest = inspect_submission(path)
            inspected = time.perf_counter() - started
            started = time.perf_counter()
            loaded = load_entry(path, manifest, "MSVD")["sims"]
            own = time.perf_counter() - started
            with h5py.File(path, "r") as handle:
                started = time.perf_counter()
                reference = handle["MSVD/sims"][...]
                hdf5 = time.perf_counter() - started
            assert (loaded == reference).all()
            label = f"{side} x {side} f4 ({sims.nbytes / MiB:.0f} MiB), {chunking} chunks"
            print(f"{label:<44} {count:>8,} {inspected:>8.2f}s {own:>10.2f}s {hdf5:>9.2f}s")
            path.unlink()


def requests_part(folder: Path) -> None:
    from benchmarks import _site

    _site.configure(str(folder / "site"))
    from django.core.management import call_command
    from django.test import Client
    from rest_framework.test import APIClient

    call_command("seed_pentathlon", "--scale", "tiny", verbosity=0)
    logging.getLogger("django.request").setLevel(logging.ERROR)  # the 400s and 429s are the point
    from challenge.models import Phase, Submission, Team
    from leaderboard.models import Result

    phase = Phase.objects.get(challenge__slug="video-pentathlon", slug="val")

    hostile = ["9223372036854775808", "-1", "abc", "1e3", "1.5", "0x10", "1" * 40]
    codes: dict[int, int] = {}
    for name in ("limit", "offset"):
        for value in hostile:
            status = (
                Client(raise_request_exception=False)
                .get(f"/api/v1/phases/{phase.id}/leaderboard/", {name: value})
                .status_code
            )
            codes[status] = codes.get(status, 0) + 1
    print(
        f"\n?limit / ?offset, {2 * len(hostile)} hostile values: answers {dict(sorted(codes.items()))} (no 500)"
    )

    client = APIClient()
    login_codes = [
        client.post(
            "/api/v1/auth/token/",
            {"username": f"guess{i}", "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        ).status_code
        for i in range(40)
    ]
    print(
        f"token logins, 40 with a different forged X-Forwarded-For each (login rate 30/min):"
        f" {login_codes.count(400)} x 400, {login_codes.count(429)} x 429 refused by the throttle"
    )

    bomb = _h5_bomb(folder / "gibchunk.h5", (16384, 16384), 1024 * MiB)
    participant = APIClient()
    participant.force_authenticate(phase.challenge.teams.first().members.first())
    with open(bomb, "rb") as handle:
        response = participant.post(
            "/api/v1/submissions/create/",
            {"phase": phase.id, "method_name": "bomb", "file": handle},
            format="multipart",
        )
    print(f"upload of the 1 GiB-chunk file ({bomb.stat().st_size / MiB:.1f} MiB): {response.status_code}")
    print(f"    {str(response.json())[:160]}")

    team = Team.objects.create(
        challenge=phase.challenge, name='=HYPERLINK("http://x.example","y")', is_approved=True
    )
    submission = Submission.objects.create(
        team=team, phase=phase, method_name="@SUM(1+1)", status=Submission.Status.FINISHED, file_size=1
    )
    Result.objects.create(submission=submission, primary_score=-1.0, metrics={})
    board = Client().get("/c/video-pentathlon/val/leaderboard.csv").content.decode()
    formulas = sum(
        cell.startswith(("=", "+", "@")) for line in board.splitlines() for cell in line.split(",")
    )
    quoted = sum(
        cell.startswith(("'=", "'@", "\"'=")) for line in board.splitlines() for cell in line.split(",")
    )
    print(
        f"leaderboard CSV with a formula team and method: {quoted} cells neutralised, {formulas} formulas left"
    )


def limits_part(folder: Path) -> None:
    """What the limits of SECURITY.md's "Recovery and the remaining limits" refuse, by default."""
    from datetime import timedelta

    from django.conf import settings
    from django.core import mail
    from django.test import Client
    from django.utils import timezone
    from rest_framework.test import APIClient

    from challenge.models import ChunkedUpload, Phase, Submission, Team
    from challenge.notifications import submission_notify_final
    from challenge.selectors import team_storage_annotate
    from challenge.services import submission_files_expire_now
    from tests.factories import MembershipFactory, SubmissionFactory, TeamFactory, UserFactory

    phase = Phase.objects.get(challenge__slug="video-pentathlon", slug="val")
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]

    def creations(user, count: int, size: int) -> dict[int, int]:
        client = APIClient()
        client.force_authenticate(user)
        codes: dict[int, int] = {}
        for i in range(count):
            body = {"phase": phase.id, "filename": f"u{i}.npz", "size": size, "method_name": "m"}
            status = client.post("/api/v1/uploads/", body, format="json").status_code
            codes[status] = codes.get(status, 0) + 1
        return dict(sorted(codes.items()))

    def member(name: str, approved: bool = True):
        user = UserFactory(username=name)
        MembershipFactory(
            team=TeamFactory(challenge=phase.challenge, name=name, is_approved=approved), user=user
        )
        return user

    print(
        f"\nchunked upload creations, 70 x 1 MiB by one user (upload rate {rates['upload']}, "
        f"{settings.PENTATHLON_UPLOAD_MAX_OPEN} open at once): {creations(member('many'), 70, MiB)}"
        " (400 = open-upload cap, 429 = throttle)"
    )
    print(
        f"chunked upload creations, 100 declaring 2 GiB each by one user (bytes in flight "
        f"{settings.PENTATHLON_UPLOAD_MAX_BYTES_IN_FLIGHT / 1024**3:.0f} GiB): "
        f"{creations(member('huge'), 100, settings.SUBMISSION_MAX_BYTES)}"
    )
    print(
        f"chunked upload creations by an unapproved team's member: {creations(member('pending', False), 5, MiB)}"
    )
    print(f"    open uploads in the database now: {ChunkedUpload.objects.count()}")

    web = Client()
    made: dict[int, int] = {}
    for i in range(30):
        web.force_login(UserFactory(username=f"sock{i}"))
        status = web.post(
            "/c/video-pentathlon/team/", {"action": "create", "name": f"Sock {i}"}, REMOTE_ADDR="203.0.113.9"
        ).status_code
        made[status] = made.get(status, 0) + 1
    print(
        f"team creations, 30 accounts from one address (rate {rates['team_create']}): {dict(sorted(made.items()))}"
        f" (302 = created, 400 = refused); teams made: {Team.objects.filter(name__startswith='Sock').count()}"
    )

    noisy = TeamFactory(challenge=phase.challenge, name="Noisy")
    MembershipFactory(team=noisy, user=UserFactory(username="noisy", email="noisy@example.org"))
    mail.outbox = []
    rows = [
        SubmissionFactory(team=noisy, phase=phase, status=Submission.Status.FAILED, error_message="bad")
        for _ in range(30)
    ]
    sent = sum(submission_notify_final(submission_id=row.id) for row in rows)
    print(
        f"notifications, 30 failed submissions of one team in an hour (limit "
        f"{settings.PENTATHLON_NOTIFY_MAX_PER_TEAM_HOUR}/team/hour): {sent} sent, {30 - sent} held back"
    )

    hoarder = TeamFactory(challenge=phase.challenge, name="Hoarder")
    payload = b"\0" * (8 * MiB)
    from django.core.files.base import ContentFile

    for i in range(5):
        row = SubmissionFactory(
            team=hoarder, phase=phase, status=Submission.Status.FAILED, file_size=len(payload)
        )
        row.file.save(f"hoard{i}.npz", ContentFile(payload), save=True)
    ended = timezone.now() - timedelta(days=settings.PENTATHLON_FAILED_FILE_RETENTION_DAYS + 1)
    Submission.objects.filter(team=hoarder).update(finished_at=ended)
    before = team_storage_annotate(Team.objects.filter(id=hoarder.id)).get().storage_bytes
    files, freed = submission_files_expire_now()
    after = team_storage_annotate(Team.objects.filter(id=hoarder.id)).get().storage_bytes
    print(
        f"retention ({settings.PENTATHLON_FAILED_FILE_RETENTION_DAYS:g} days): 5 failed x 8 MiB, storage of the "
        f"team {before / MiB:.0f} MiB -> {after / MiB:.0f} MiB ({files} files, {freed / MiB:.0f} MiB deleted)"
    )


def faults_part(folder: Path) -> None:
    """Real processes on the embedded default: pool kill, whole-worker kill, a killer file."""
    import hashlib
    import os
    import time

    from tests.integration.stack import write_submissions
    from tests.integration.test_embedded_recovery import _row, _scoring_pid, _stack, _wait, _worker

    folder.mkdir(parents=True, exist_ok=True)
    stack = _stack(folder)
    files = folder / "files"
    files.mkdir()
    good = write_submissions(files, "val", stack.published_truth("val"))["good"]
    killer = files / "killer.npz"
    killer.write_bytes(good.read_bytes() + b"\0")  # zip tolerates trailing bytes: same content, other sha256
    stack.env["PENTATHLON_TEST_KILLER_SHA256"] = hashlib.sha256(killer.read_bytes()).hexdigest()
    survived, recovery = 0, {}
    try:
        stack.start_web()
        worker = _worker(stack)
        headers = stack.token()
        phase_id = stack.phase_id("val")
        ids = []
        for fault in ("pool process", "whole worker"):
            started = time.time()
            response = stack.upload(headers, phase_id, good, method_name=f"victim of the {fault}")
            ids.append(response.json()["id"])
            pid = _wait(stack, lambda s=started: _scoring_pid(stack, s), "a scoring to start")
            killed = time.monotonic()
            if fault == "pool process":
                os.kill(pid, 9)
            else:
                stack.kill_group(worker)
                worker = _worker(stack)
            _wait(stack, lambda i=ids[-1]: _row(stack, i)["status"] in ("finished", "failed"), "recovery")
            recovery[fault] = time.monotonic() - killed
            survived += 1
        response = stack.upload(headers, phase_id, killer, method_name="killer")
        killer_id = response.json()["id"]
        killer_row = _wait(
            stack,
            lambda: (row := _row(stack, killer_id))["status"] in ("finished", "failed") and row,
            "the killer file to end",
            timeout=600,
        )
        deaths = len((stack.root / "killer-deaths.log").read_text().split())
        survived += deaths
        rows = [_row(stack, i) for i in ids]
    finally:
        stack.stop()
    lost = sum(row["status"] != "finished" for row in rows)
    twice = sum(row["scored_count"] > 1 or row["results"] > 1 for row in rows)
    print("\nfaults on the embedded default (bin/demo's worker: prefork, one child, embedded beat):")
    for fault, seconds in recovery.items():
        print(f"    SIGKILL of the {fault} during scoring: finished {seconds:.1f} s after the kill")
    print(
        f"    killer file: {deaths} worker deaths, then {killer_row['status']} "
        f"(lost attempts {killer_row['lost_attempts']}, quota refunded {bool(killer_row['quota_refunded'])})"
    )
    print(f"faults survived: {survived}; submissions lost: {lost} (goal 0); scored twice: {twice} (goal 0)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--unprotected", action="store_true", help="also measure HDF5's own read of each bomb"
    )
    parser.add_argument("--skip-requests", action="store_true", help="memory part only")
    parser.add_argument("--skip-memory", action="store_true", help="no memory or read-cost part")
    parser.add_argument("--faults", action="store_true", help="also the real-process fault part (minutes)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pentathlon-abuse-") as tmp:
        if not args.skip_memory:
            memory_part(Path(tmp), unprotected=args.unprotected)
            read_cost_part(Path(tmp))
        if args.faults:  # before the in-process site: its own processes and settings
            faults_part(Path(tmp) / "faults")
        if not args.skip_requests:
            requests_part(Path(tmp))
            limits_part(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
