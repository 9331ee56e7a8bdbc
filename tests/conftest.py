"""Fixtures for the site's tests: a Pentathlon-like challenge with tiny synthetic ground truth."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from django.core.files import File
from django.core.servers.basehttp import WSGIServer
from django.test.testcases import LiveServerThread
from rest_framework.test import APIClient

from tests.factories import (
    PASSWORD,
    ChallengeFactory,
    DatasetFactory,
    MembershipFactory,
    OrganiserFactory,
    PhaseFactory,
    SuperuserFactory,
    TeamFactory,
    UserFactory,
)

DATASETS = ("MSRVTT", "MSVD", "DiDeMo", "YouCook2", "ActivityNet")


# The test database is in-memory SQLite: one connection, shared by the live server's threads. A
# threaded live server lets a page's parallel fetches (charts, polling) use that connection at once,
# which breaks its savepoints; one request at a time is what such a database can serve.
class _SerialLiveServer(WSGIServer):
    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The server thread itself already uses the overridden (shared) connection.
        self.connections_override = connections_override


LiveServerThread.server_class = _SerialLiveServer


#: Tests that must not overlap one another when the suite runs in several processes (`make test`:
#: pytest-xdist, `--dist loadgroup`): each group runs on one worker, in order, while the other workers
#: take the rest. "browser": one chromium per worker and several live servers. "stack": real web
#: servers and workers on PostgreSQL and Redis (tests/integration/stack.py); they share the suite's Redis
#: (the board cache, kombu's "unacked" hash) while their ids repeat from stack to stack, and race on
#: purpose (quota, rescore). "embedded": stacks on SQLite and the filesystem broker whose leases or
#: request timeouts are timed, so one at a time; they share nothing with the others (Stack leaves
#: REDIS_URL out), and the untimed embedded stacks (test_embedded_stack.py) run beside anything.
SERIAL_GROUPS = {
    "tests/browser/": "browser",
    "tests/integration/test_embedded_recovery.py": "embedded",
    "tests/integration/test_slow_bodies.py": "embedded",
    "tests/integration/test_embedded_stack.py": "",  # no group: each test on whichever process is free
    "tests/integration/": "stack",
    "tests/security/test_concurrency_postgres.py": "stack",
    "tests/security/test_abuse_postgres.py": "stack",
    "tests/security/test_load.py": "stack",
    "tests/config/test_celery.py": "stack",
}


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadgroup` with SERIAL_GROUPS by path. xdist's own `xdist_group` mark cannot be used: it
    renames the test's node id, which pytest 9.2 no longer lets a plugin do, so the mark is ignored."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class SerialGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for prefix, group in SERIAL_GROUPS.items():
                if nodeid.startswith(prefix):
                    return group or super()._split_scope(nodeid)
            return super()._split_scope(nodeid)

    return SerialGroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`postgres`/`redis` tests need DATABASE_URL / REDIS_URL; without them they are skipped, saying so."""
    for item in items:
        if "postgres" in item.keywords and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
            item.add_marker(
                pytest.mark.skip(reason="needs DATABASE_URL=postgres://... (a PostgreSQL server)")
            )
        if "redis" in item.keywords and not os.environ.get("REDIS_URL", "").startswith("redis"):
            item.add_marker(pytest.mark.skip(reason="needs REDIS_URL=redis://... (a Redis server)"))


@pytest.fixture(scope="session", autouse=True)
def _rank_kernel_compiled(tmp_path_factory):
    """Compile the rank kernel here once, for every array type the readers give it, as a worker does
    when it starts (workers/warmup.py): each scoring child starts from a copy of numba's cache here
    (evaluation.sandbox). Without it every child compiled the kernel anew: 13 s a child on the 2-core
    machine under load, against 3.5 s with the cache.

    Under pytest-xdist a kernel is compiled by one test process only (about 12 s of a core each on a
    fresh clone), under a lock of its own in the run's shared temporary folder; the others load what
    it wrote into numba's on-disk cache. The processes start on different kernels, so that the two
    compile side by side (each kernel has its own cache index, so they never write the same file)."""
    from evaluation import synthetic
    from evaluation.kernel_cache import KERNELS, compile_kernels
    from evaluation.scoring import score_submission, warm_up

    shared = tmp_path_factory.getbasetemp()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker:
        shared = shared.parent  # one folder for the whole run, above each process's own
    first = int(worker.removeprefix("gw") or 0) % len(KERNELS)
    for kernel in KERNELS[first:] + KERNELS[:first]:
        with open(shared / f"{kernel}-kernel.lock", "w") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            compile_kernels((kernel,))
    warm_up("cpu")
    truth = synthetic.pentathlon_ground_truth(phase="val", scale="tiny", seed=0)
    matrices = synthetic.similarity_matrices(truth, seed=0)
    folder = tmp_path_factory.mktemp("warm")
    for path, write in (
        (folder / "warm.npz", synthetic.write_npz_submission),
        (folder / "warm.h5", synthetic.write_h5_submission),
        (folder / "warm.zip", lambda path, m: synthetic.write_codalab_zip(path, m, phase_slug="val")),
    ):
        write(path, matrices)
        score_submission(ground_truth=truth, submission_path=path, device="cpu", ranks_out={})


@pytest.fixture(scope="session")
def tiny_truth():
    from evaluation.synthetic import pentathlon_ground_truth

    return pentathlon_ground_truth(phase="val", scale="tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_truth_path(tmp_path_factory, tiny_truth) -> Path:
    from evaluation.ground_truth import write_ground_truth

    path = tmp_path_factory.mktemp("truth") / "val.h5"
    write_ground_truth(path, tiny_truth)
    return path


@pytest.fixture
def make_submission_file(tmp_path, tiny_truth):
    """make_submission_file(kind="npz", seed=0, datasets=None, truth=None) -> path of a real submission file.

    `truth` is the ground truth as a phase publishes it (default: the tiny truth as uploaded); top-k
    rows of a blind one name their query, as its participants must.
    """
    from evaluation import synthetic

    def make(
        kind: str = "npz",
        *,
        seed: int = 0,
        datasets: tuple[str, ...] | None = None,
        name: str | None = None,
        truth=None,
    ) -> Path:
        truth = truth or tiny_truth
        matrices = synthetic.similarity_matrices(truth, seed=seed)
        if datasets is not None:
            matrices = {k: v for k, v in matrices.items() if k in datasets}
        path = tmp_path / (name or f"submission-{kind}-{seed}.{'zip' if kind == 'codalab' else kind}")
        if kind == "npz":
            synthetic.write_npz_submission(path, matrices)
        elif kind == "h5":
            synthetic.write_h5_submission(path, matrices)
        elif kind == "codalab":
            ids = {n: d.query_ids for n, d in truth.datasets.items()} if truth.blind else None
            synthetic.write_codalab_zip(path, matrices, phase_slug="val", query_ids=ids)
        else:
            raise ValueError(kind)
        return path

    return make


@pytest.fixture
def nan_submission_file(tmp_path, tiny_truth):
    """nan_submission_file(dataset="MSRVTT") -> an .npz of the right shape holding a NaN: it passes the
    upload's header checks and fails in the worker with the evaluation core's message."""
    import numpy as np

    def make(dataset: str = "MSRVTT") -> Path:
        truth = tiny_truth.datasets[dataset]
        sims = np.zeros((truth.num_queries, truth.num_videos), dtype=np.float32)
        sims[1, 1] = np.nan
        path = tmp_path / f"nan-{dataset}.npz"
        np.savez(path, **{dataset: sims})
        return path

    return make


@pytest.fixture
def challenge(db):
    challenge = ChallengeFactory(slug="video-pentathlon", title="Video Pentathlon")
    for order, name in enumerate(DATASETS):
        DatasetFactory(challenge=challenge, name=name, order=order)
    return challenge


@pytest.fixture
def phase(challenge, tiny_truth_path):
    from challenge.services import phase_ground_truth_set

    phase = PhaseFactory(challenge=challenge, slug="val", title="Validation", max_submissions_per_day=None)
    with open(tiny_truth_path, "rb") as handle:
        phase_ground_truth_set(phase=phase, file=File(handle))
    return phase


@pytest.fixture
def hidden_phase(challenge, tiny_truth_path):
    from challenge.models import Phase
    from challenge.services import phase_ground_truth_set

    phase = PhaseFactory(
        challenge=challenge,
        slug="test",
        title="Test",
        max_submissions_total=3,
        leaderboard_visibility=Phase.LeaderboardVisibility.HIDDEN,
    )
    with open(tiny_truth_path, "rb") as handle:
        phase_ground_truth_set(phase=phase, file=File(handle))
    return phase


@pytest.fixture
def participant(challenge):
    user = UserFactory(username="alice")
    MembershipFactory(team=TeamFactory(challenge=challenge, name="Alpha"), user=user, role="owner")
    return user


@pytest.fixture
def team(participant, challenge):
    return participant.teams.get(challenge=challenge)


@pytest.fixture
def other_participant(challenge):
    user = UserFactory(username="bob")
    MembershipFactory(team=TeamFactory(challenge=challenge, name="Beta"), user=user, role="owner")
    return user


@pytest.fixture
def organiser(challenge):
    """A staff account that organises the test challenge (and only it)."""
    return OrganiserFactory(username="org", organises=[challenge])


@pytest.fixture
def superuser(db):
    return SuperuserFactory(username="root")


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def upload(participant, phase, make_submission_file, django_capture_on_commit_callbacks):
    """upload(kind="npz", user=participant, phase=phase, **fields) -> Submission, evaluated eagerly on commit."""
    from challenge.publication import phase_published_truth
    from challenge.services import submission_create

    calls: list[int] = []
    repeats = iter(range(10_001, 20_000))

    def do(
        kind: str = "npz",
        *,
        user=None,
        phase_=None,
        seed: int | None = None,
        path: Path | None = None,
        **fields,
    ):
        target = phase_ or phase
        # The first default upload of a test is seed 0; later ones differ, as a team's new file would
        # (the same file again is refused: challenge.services.intake.duplicate_check).
        seed = seed if seed is not None else (0 if not calls else next(repeats))
        calls.append(seed)
        if path is None:
            truth = phase_published_truth(phase=target) if target.ground_truth else None
            path = make_submission_file(kind, seed=seed, truth=truth)
        fields.setdefault("method_name", f"method-{seed}")
        with django_capture_on_commit_callbacks(execute=True), open(path, "rb") as handle:
            submission = submission_create(
                user=user or participant, phase=phase_ or phase, file=File(handle, name=path.name), **fields
            )
        submission.refresh_from_db()
        return submission

    return do


@pytest.fixture
def queued(participant, phase, make_submission_file, django_capture_on_commit_callbacks):
    """queued(path=None) -> a QUEUED submission whose on-commit enqueue was discarded, so the test runs
    (or withholds) its evaluation itself."""
    from challenge.services import submission_create

    repeats = iter(range(20_001, 30_000))
    made: list[Path] = []

    def make(path: Path | None = None):
        # a different file each time: the same file again is refused (intake.duplicate_check)
        path = path or make_submission_file("npz", seed=next(repeats) if made else 0)
        made.append(path)
        with django_capture_on_commit_callbacks(execute=False), open(path, "rb") as handle:
            return submission_create(
                user=participant, phase=phase, file=File(handle, name=path.name), method_name="queued test"
            )

    return make


@pytest.fixture(autouse=True)
def _empty_board_cache():
    """Every test starts with no cached board: the test database's ids repeat from test to test."""
    from django.conf import settings
    from django.core.cache import caches

    caches[settings.BOARD_CACHE].clear()


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    """Rate counters (throttles, notifications per team) live in the cache; ids repeat across tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
