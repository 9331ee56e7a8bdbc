"""Scoring a participant's file in a child process that holds no secret (docs/deploying.md, "The scoring
child").

The server's worker (the parent) calls `score_in_child`: it writes the phase's published ground truth
to a private folder (npz, no pickle), starts ``python -m evaluation.sandbox`` and reads back the
report (JSON lines over a pipe) and the per-query ranks and values (npz, no pickle:
`evaluation.kept_ranks`). The child's environment is rebuilt from an allow-list
(`scrubbed_environment`): no secret key, database or broker URL, storage key or password reaches it. Where bubblewrap works, the child runs in a mount namespace holding only the
Python installation, this package, the submission and the ground truth (read-only) and a scratch
folder, so the site's database file does not exist for it; elsewhere (no ``bwrap``, or a container
without user namespaces) it runs with the scrubbed environment and, when the worker runs as root, as an
unprivileged uid.

The child checks the file's sha256 against the one recorded at upload before reading it and refuses a
file that changed (`StoredFileChangedError`); the file's status (inode, size, change time) must be the
same after scoring, so the bytes scored are the bytes hashed.

Nothing here imports Django: the parent passes what it needs as arguments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np

from .errors import EvaluationError, GroundTruthError, SubmissionError
from .kept_ranks import KEPT_FILE, kept_load, kept_save

logger = logging.getLogger(__name__)

MODES = ("auto", "bwrap", "env")
#: Environment variables the child may inherit (with LC_*), unless their name looks like a secret.
ENV_ALLOWED = frozenset(
    {
        "PATH",
        "LANG",
        "LANGUAGE",
        "TZ",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "NUMBA_THREADING_LAYER",
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        "NVIDIA_VISIBLE_DEVICES",
        "NVIDIA_DRIVER_CAPABILITIES",
        "PYTORCH_CUDA_ALLOC_CONF",
    }
)
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|KEY|TOKEN|_URL|DSN|CREDENTIAL|AUTH|COOKIE", re.IGNORECASE)
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
#: Where the files appear inside the bubblewrap namespace (no server path is ever visible there).
_JOB = "/job"
#: Modules the readers import on first use: loaded before the child gives up its privileges (its
#: uid may not reach the Python installation afterwards).
_LAZY_IMPORTS = ("encodings.cp437", "encodings.latin_1", "encodings.ascii", "zlib", "bz2", "lzma", "csv")
_CHANGED = "the stored file changed after it was accepted: its sha256 is no longer the one recorded at upload"


class StoredFileChangedError(EvaluationError):
    """The file to score is not the file that was accepted (its sha256 or its status changed)."""


class SandboxError(RuntimeError):
    """The child could not be started or ended without an answer; an internal error, logged."""


def scrubbed_environment(environ: Mapping[str, str], **fixed: str) -> dict[str, str]:
    """The child's environment: the allow-listed names of `environ` (never one that looks like a
    secret: *SECRET*, *PASSWORD*, *KEY*, *TOKEN*, *_URL*, ...), then `fixed`.

    >>> sorted(scrubbed_environment({"PATH": "/bin", "DJANGO_SECRET_KEY": "s", "LC_ALL": "C",
    ...                              "DATABASE_URL": "sqlite:///x", "OMP_NUM_THREADS": "2"}))
    ['LC_ALL', 'OMP_NUM_THREADS', 'PATH']
    """
    out = {
        name: value
        for name, value in environ.items()
        if (name in ENV_ALLOWED or name.startswith("LC_")) and not _SECRET_NAME.search(name)
    }
    out.setdefault("PATH", _SAFE_PATH)
    out.update(fixed)
    return out


# --- the parent ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Isolation:
    """How a child is isolated: "bwrap" (mount namespace + scrubbed environment) or "env" (scrubbed
    environment, and uid `uid` when the parent is root)."""

    kind: str
    uid: int | None = None
    gid: int | None = None

    def describe(self) -> str:
        if self.kind == "bwrap":
            return "bubblewrap mount namespace (submission, ground truth and Python only) and a scrubbed environment"
        if self.uid is not None:
            return f"scrubbed environment as uid {self.uid} (bubblewrap unavailable)"
        return "scrubbed environment only (bubblewrap unavailable, not root: same uid)"


@cache
def bwrap_works() -> bool:
    """Whether bubblewrap is installed and can make a namespace here (memoised per process)."""
    binary = shutil.which("bwrap")
    if binary is None:
        return False
    try:
        done = subprocess.run(
            [binary, *_base_binds(), "--", _python(), "-c", "pass"],
            env=scrubbed_environment(os.environ),
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    if done.returncode != 0:
        logger.warning(
            "bubblewrap cannot start a namespace here: %s", done.stderr.decode(errors="replace")[-300:]
        )
    return done.returncode == 0


def isolation_for(mode: str, *, uid: int = 65534, gid: int = 65534) -> Isolation:
    """The isolation in force for `mode` ("auto": bubblewrap when it works, else the fallback)."""
    if mode not in MODES:
        raise ValueError(f"unknown scoring isolation {mode!r}; expected one of {MODES}")
    if mode in ("auto", "bwrap") and bwrap_works():
        return Isolation("bwrap")
    if mode == "bwrap":
        raise SandboxError("scoring isolation 'bwrap' was asked for but bubblewrap cannot start here")
    if os.geteuid() == 0:
        return Isolation("env", uid=uid, gid=gid)
    return Isolation("env")


def make_undumpable() -> None:
    """Mark this process non-dumpable: its /proc files (environ, memory) become root's, so a child
    running as the same uid cannot read the parent's secrets there. Linux only; a no-op elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


def _python() -> str:
    """The interpreter of this environment by its real prefix (a venv's pyvenv.cfg sits there)."""
    return os.path.join(os.path.realpath(sys.prefix), "bin", "python" if os.name != "nt" else "python.exe")


def _package_dir() -> str:
    return os.path.realpath(os.path.dirname(os.path.abspath(__file__)))


def _base_binds() -> list[str]:
    """bwrap arguments for a namespace holding the system libraries, Python and this package."""
    args = ["--die-with-parent", "--new-session", "--unshare-all", "--proc", "/proc", "--dev", "/dev"]
    args += ["--tmpfs", "/tmp", "--dir", _JOB]
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    prefixes = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    for prefix in sorted(prefixes):
        if not prefix.startswith("/usr/"):
            args += ["--ro-bind", prefix, prefix]
    package = _package_dir()
    args += ["--ro-bind", package, package]
    return args


def _numba_cache_dir() -> str | None:
    """Where this process's compiled rank kernel is cached (copied into the child's scratch)."""
    try:
        from .metrics import compiled

        kernel = compiled._compiled()
        return None if kernel is None else str(kernel._cache._cache_path)
    except Exception:  # numba missing or its layout changed: the child compiles it itself
        return None


def _gpu_binds() -> list[str]:
    args = []
    for name in sorted(os.listdir("/dev")) if os.path.isdir("/dev") else []:
        if name.startswith("nvidia"):
            args += ["--dev-bind", f"/dev/{name}", f"/dev/{name}"]
    if args:
        args += ["--ro-bind-try", "/sys", "/sys"]
    return args


def _truth_save(truth: Any, path: str) -> None:
    """The published ground truth as one npz (strings as JSON bytes, arrays as arrays; no pickle)."""
    meta = {
        "challenge": truth.challenge,
        "phase": truth.phase,
        "query_order": truth.query_order,
        "datasets": [],
    }
    arrays: dict[str, np.ndarray] = {}
    for i, (name, d) in enumerate(truth.datasets.items()):
        meta["datasets"].append(
            {
                "name": name,
                "videos": list(d.videos),
                "query_ids": list(d.query_ids),
                "query_text": None if d.query_text is None else list(d.query_text),
                "masks": d.query_masks is not None,
            }
        )
        arrays[f"{i}.query_video"] = np.asarray(d.query_video)
        if d.query_masks is not None:
            arrays[f"{i}.query_masks"] = np.asarray(d.query_masks)
        if d.relevance is not None:  # sets of relevant items: the table itself, grades as float64
            meta["datasets"][-1]["relevance"] = d.relevance.num_items
            arrays[f"{i}.rel_indptr"] = np.asarray(d.relevance.indptr, dtype=np.int64)
            arrays[f"{i}.rel_items"] = np.asarray(d.relevance.items, dtype=np.int64)
            arrays[f"{i}.rel_grades"] = np.asarray(d.relevance.grades, dtype=np.float64)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, allow_pickle=False, **arrays)


def _truth_load(path: str) -> Any:
    from .ground_truth import DatasetTruth, GroundTruth
    from .metrics.relevance import Relevance

    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(data["meta"].tobytes().decode())
        datasets = {}
        for i, d in enumerate(meta["datasets"]):
            relevance = None
            if d.get("relevance") is not None:
                relevance = Relevance(
                    num_queries=len(d["query_ids"]),
                    num_items=int(d["relevance"]),
                    indptr=data[f"{i}.rel_indptr"],
                    items=data[f"{i}.rel_items"],
                    grades=data[f"{i}.rel_grades"],
                )
            datasets[d["name"]] = DatasetTruth(
                name=d["name"],
                videos=tuple(d["videos"]),
                query_ids=tuple(d["query_ids"]),
                query_video=data[f"{i}.query_video"],
                query_masks=data[f"{i}.query_masks"] if d["masks"] else None,
                query_text=None if d["query_text"] is None else tuple(d["query_text"]),
                relevance=relevance,
            )
    return GroundTruth(meta["challenge"], meta["phase"], datasets, query_order=meta["query_order"])


def _reachable_by_others(path: str) -> bool:
    """Whether any uid may read `path`: the file readable by others, every folder above searchable."""
    path = os.path.realpath(path)
    if not os.stat(path).st_mode & 0o004:
        return False
    folder = os.path.dirname(path)
    while True:
        if not os.stat(folder).st_mode & 0o001:
            return False
        parent = os.path.dirname(folder)
        if parent == folder:
            return True
        folder = parent


def score_in_child(
    *,
    ground_truth: Any,
    submission_path: str | os.PathLike[str],
    sha256: str | None,
    isolation: Isolation,
    aggregation: str = "mean",
    device: str = "cpu",
    limits: Any = None,
    threads: int | None = None,
    progress: Callable[[str, str | None, float], None] | None = None,
    ranks_out: dict[str, Any] | None = None,
    memory_limit: int | None = None,
    should_stop: Callable[[], None] | None = None,
    probe: dict[str, Any] | None = None,
    on_probe: Callable[[dict[str, Any]], None] | None = None,
    environ: Mapping[str, str] | None = None,
    file_name: str | None = None,
    metrics: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
) -> dict[str, Any]:
    """`evaluation.scoring.score_submission` in an isolated child; the same report.

    `metrics` and `datasets` are `score_submission`'s (the relevance metrics to report, the
    challenge's dataset names); the ground truth's sets of relevant items travel with it.

    `sha256`: the digest recorded at upload; the child refuses a file whose bytes differ
    (`StoredFileChangedError`). `should_stop()` is called at least twice a second and may raise to
    stop the child (a lost lease). `probe` (tests only) makes the child report its own view of the
    world (`on_probe` receives it) before it reads the submission. Raises what `score_submission`
    raises (SubmissionError, GroundTruthError, MemoryError), StoredFileChangedError, or SandboxError.
    """
    submission_path = os.fspath(submission_path)
    suffix = os.path.splitext(submission_path)[1].lower()
    job = tempfile.mkdtemp(prefix="pentathlon-scoring-")
    process: subprocess.Popen[bytes] | None = None
    read_end = write_end = -1
    try:
        truth_file = os.path.join(job, "truth.npz")
        _truth_save(ground_truth, truth_file)
        out_dir = os.path.join(job, "out")
        scratch = os.path.join(job, "tmp")
        os.mkdir(out_dir)
        os.mkdir(scratch)
        cache_src = _numba_cache_dir()
        env_fixed = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
        if isolation.kind == "bwrap":
            inside = {
                "submission": f"{_JOB}/submission{suffix}",
                "truth": f"{_JOB}/truth.npz",
                "out": f"{_JOB}/out",
                "numba_cache": f"{_JOB}/numba",
            }
            paths = {**inside, "numba_cache": inside["numba_cache"] if cache_src else None}
            binds = [*_base_binds(), "--ro-bind", submission_path, inside["submission"]]
            binds += ["--ro-bind", truth_file, inside["truth"], "--bind", out_dir, inside["out"]]
            if cache_src:
                binds += ["--ro-bind", cache_src, inside["numba_cache"]]
            if device != "cpu":
                binds += _gpu_binds()
            env = scrubbed_environment(
                environ if environ is not None else os.environ,
                HOME="/tmp",
                TMPDIR="/tmp",
                PYTHONPATH=os.path.dirname(_package_dir()),
                **env_fixed,
            )
            binds += ["--clearenv"]
            for name, value in env.items():
                binds += ["--setenv", name, value]
            command = [shutil.which("bwrap") or "bwrap", *binds, "--chdir", "/tmp", "--", _python()]
            child_env = env
        else:
            # the child sees "submission.<ext>" (its messages name no stored file), a copy when its
            # uid may not reach the stored file
            visible = os.path.join(job, f"submission{suffix}")
            if isolation.uid is not None and not _reachable_by_others(submission_path):
                shutil.copyfile(submission_path, visible)
            else:
                os.symlink(os.path.realpath(submission_path), visible)
            if isolation.uid is not None:
                owner = (isolation.uid, isolation.gid if isolation.gid is not None else -1)
                for path in (job, out_dir, scratch, truth_file, visible):
                    os.chown(path, *owner, follow_symlinks=False)
            paths = {"submission": visible, "truth": truth_file, "out": out_dir, "numba_cache": cache_src}
            child_env = scrubbed_environment(
                environ if environ is not None else os.environ,
                HOME=scratch,
                TMPDIR=scratch,
                PYTHONPATH=os.path.dirname(_package_dir()),
                **env_fixed,
            )
            command = [_python()]
            make_undumpable()
        read_end, write_end = os.pipe()
        errors_log = os.path.join(job, "stderr.log")
        request = {
            **paths,
            "channel": write_end,
            "sha256": sha256,
            "aggregation": aggregation,
            "device": device,
            "limits": dataclasses.asdict(limits) if limits is not None else None,
            "threads": threads,
            "want_ranks": ranks_out is not None,
            "memory_limit": memory_limit,
            "drop_to": [isolation.uid, isolation.gid] if isolation.uid is not None else None,
            "parent": os.getpid(),
            "probe": probe,
            "file_name": file_name,
            "metrics": None if metrics is None else list(metrics),
            "datasets": None if datasets is None else list(datasets),
        }
        with open(errors_log, "wb") as errors:  # a file, not a pipe: a chatty child never blocks
            process = subprocess.Popen(
                [*command, "-s", "-m", "evaluation.sandbox"],
                stdin=subprocess.PIPE,
                stdout=errors,
                stderr=errors,
                env=child_env,
                pass_fds=(write_end,),
                cwd=scratch if isolation.kind != "bwrap" else None,
                start_new_session=True,
            )
        os.close(write_end)
        write_end = -1
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(request).encode())
        finally:
            process.stdin.close()
            process.stdin = None
        answer = _relay(process, read_end, progress=progress, should_stop=should_stop, on_probe=on_probe)
        return _answer(answer, process, out_dir=out_dir, errors_log=errors_log, ranks_out=ranks_out)
    finally:
        if process is not None and process.poll() is None:
            _kill(process)
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(job, ignore_errors=True)


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        process.kill()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        logger.error("scoring child %s did not end after SIGKILL", process.pid)


def _relay(
    process: subprocess.Popen[bytes],
    fd: int,
    *,
    progress: Callable[[str, str | None, float], None] | None,
    should_stop: Callable[[], None] | None,
    on_probe: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any] | None:
    """Read the child's messages until it closes the pipe: progress is relayed, the last answer kept."""
    buffer = b""
    answer = None
    while True:
        if should_stop is not None:
            should_stop()
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        block = os.read(fd, 1 << 16)
        if not block:
            break
        buffer += block
        if len(buffer) > 256 * 1024**2:
            raise SandboxError("the scoring child sent more than 256 MiB of messages")
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            message = json.loads(line)
            if "progress" in message:
                if progress is not None:
                    stage, dataset, fraction = message["progress"]
                    progress(str(stage), None if dataset is None else str(dataset), float(fraction))
            elif "probe" in message:
                if on_probe is not None:
                    on_probe(message["probe"])
            else:
                answer = message
    return answer


def _answer(
    answer: dict[str, Any] | None,
    process: subprocess.Popen[bytes],
    *,
    out_dir: str,
    errors_log: str,
    ranks_out: dict[str, Any] | None,
) -> dict[str, Any]:
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        _kill(process)
    code = process.returncode
    if answer is None:
        with open(errors_log, "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 2000))
            detail = handle.read().decode(errors="replace")
        if code in (-signal.SIGKILL, 128 + signal.SIGKILL, 137):
            raise MemoryError("the scoring child was killed (SIGKILL): most likely out of memory")
        raise SandboxError(f"the scoring child ended with code {code} and no answer: {detail}")
    if "report" in answer:
        if ranks_out is not None and answer.get("ranks"):
            ranks_out.update(kept_load(os.path.join(out_dir, KEPT_FILE), answer["ranks"]))
        report: dict[str, Any] = answer["report"]
        return report
    error = answer.get("error") or {}
    kind, message = error.get("kind"), str(error.get("message", ""))
    if kind == "submission":
        raise SubmissionError(message)
    if kind == "ground_truth":
        raise GroundTruthError(message)
    if kind == "memory":
        raise MemoryError(message)
    if kind == "changed":
        raise StoredFileChangedError(message)
    raise SandboxError(f"the scoring child failed: {message}")


# --- the child -------------------------------------------------------------------------------------


class _Channel:
    def __init__(self, fd: int) -> None:
        self.out = os.fdopen(fd, "wb", buffering=0)

    def send(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message, default=_plain).encode() + b"\n")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _prepare_numba_cache(source: str | None) -> None:
    """Copy the parent's compiled kernels (ranks, relevance) into this child's scratch, where numba may
    use them (numba only loads a cache from a folder it can write)."""
    if not source or not os.path.isdir(source):
        return
    kernel_source = os.path.join(_package_dir(), "metrics", "compiled.py")
    subdir = os.path.dirname(os.path.abspath(kernel_source))
    hashed = hashlib.sha1(subdir.encode()).hexdigest()  # numba's own naming (caching.py)
    target = os.path.join(tempfile.gettempdir(), "numba-cache")
    where = os.path.join(target, f"{os.path.basename(subdir)}_{hashed}")
    os.makedirs(where, exist_ok=True)
    for name in os.listdir(source):
        if name.startswith(("compiled.", "relevance_kernel.")) and name.endswith((".nbi", ".nbc")):
            shutil.copyfile(os.path.join(source, name), os.path.join(where, name))
    os.environ["NUMBA_CACHE_DIR"] = target


def _drop_privileges(drop_to: list[int] | None, parent: int) -> None:
    if not drop_to:
        return
    uid, gid = int(drop_to[0]), int(drop_to[1])
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG (cleared by setuid)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _warm_for_drop(device: str) -> None:
    """Score a tiny file of each format once, so that every module the readers and the kernel import
    on first use is loaded while this process may still read the Python installation."""
    from . import synthetic
    from .ground_truth import GroundTruth, dataset_truth
    from .scoring import score_submission, warm_up

    for name in _LAZY_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    warm_up(device)
    truth = synthetic.pentathlon_ground_truth(phase="val", scale="tiny", seed=0)
    matrices = synthetic.similarity_matrices(truth, seed=0)
    folder = tempfile.mkdtemp(prefix="warm-")
    try:
        for suffix, write in (
            (".npz", synthetic.write_npz_submission),
            (".h5", synthetic.write_h5_submission),
            (".zip", lambda path, m: synthetic.write_codalab_zip(path, m, phase_slug="val")),
        ):
            path = os.path.join(folder, f"warm{suffix}")
            write(path, matrices)
            score_submission(ground_truth=truth, submission_path=path, device=device, ranks_out={})
        # sets of relevant items, graded: the relevance kernel and its imports
        graded = dataset_truth(
            name="Warm",
            videos=["a", "b", "c"],
            query_ids=["q0", "q1"],
            rel_query=[0, 0, 1],
            rel_item=[0, 1, 2],
            rel_grade=[1.0, 0.5, 1.0],
        )
        graded_truth = GroundTruth("warm", "val", {"Warm": graded})
        path = os.path.join(folder, "warm-relevance.npz")
        synthetic.write_npz_submission(path, {"Warm": np.eye(2, 3, dtype=np.float32)})
        score_submission(ground_truth=graded_truth, submission_path=path, device=device, ranks_out={})
        for kept in (truth, graded_truth):
            truth_path = os.path.join(folder, "truth.npz")
            _truth_save(kept, truth_path)
            _truth_load(truth_path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _kernel_environ() -> list[str]:
    """This process's environment as the kernel holds it (fixed at exec)."""
    with open("/proc/self/environ", "rb") as handle:
        return [item.decode(errors="replace") for item in handle.read().split(b"\0") if item]


def _probe(probe: dict[str, Any], environ: list[str]) -> dict[str, Any]:
    """Tests only: what this child can see (`environ`, read from /proc/self/environ before the
    privilege drop, which makes the file root's; os.environ now; which of the given files it can
    open), and optionally an allocation of `allocate_mib`."""
    environ = environ + [f"{k}={v}" for k, v in os.environ.items()]
    opened = {}
    for path in probe.get("open", []):
        try:
            with open(path, "rb") as handle:
                handle.read(16)
            opened[path] = True
        except OSError:
            opened[path] = False
    if probe.get("allocate_mib"):
        np.ones(int(probe["allocate_mib"]) * 1024**2, dtype=np.uint8)
    return {"environ": environ, "opened": opened, "uid": os.getuid()}


def _file_stamp(stat: os.stat_result) -> tuple[int, ...]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def _hash_file(path: str) -> tuple[str, tuple[int, ...]]:
    """The file's sha256 and its status before and after the pass (equal unless it changed meanwhile)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        before = _file_stamp(os.fstat(handle.fileno()))
        buffer = bytearray(4 * 1024**2)
        view = memoryview(buffer)
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
        after = _file_stamp(os.fstat(handle.fileno()))
    if before != after:
        return "", after
    return digest.hexdigest(), after


def _scrub(message: str, request: dict[str, Any]) -> str:
    """A message without any path of this child's world (the file names the participant chose for
    archive members are kept; the server's names never are)."""
    for key in ("submission", "truth", "out"):
        path = request.get(key)
        if path:
            message = message.replace(path, "the submission file" if key == "submission" else "a server file")
            base = os.path.basename(path)
            if len(base) > 4:
                message = message.replace(base, "the submission file")
    return message


def main() -> int:
    request = json.loads(sys.stdin.buffer.read().decode())
    channel = _Channel(int(request["channel"]))
    try:
        if request.get("memory_limit"):
            import resource

            _, hard = resource.getrlimit(resource.RLIMIT_DATA)
            limit = int(request["memory_limit"])
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
        _prepare_numba_cache(request.get("numba_cache"))
        # what scoring imports; numba too, before a privilege drop (`_warm_for_drop`), and otherwise
        # only when a matrix is large enough for the compiled kernel
        from . import io as _io  # noqa: F401
        from .io import ReadLimits
        from .scoring import resolve_device, score_submission

        device = resolve_device(request.get("device") or "cpu")
        if request.get("drop_to"):
            _warm_for_drop(device)
        environ = _kernel_environ() if request.get("probe") is not None else []
        _drop_privileges(request.get("drop_to"), int(request.get("parent") or os.getppid()))
        if request.get("probe") is not None:
            channel.send({"probe": _probe(request["probe"], environ)})
        submission = request["submission"]
        expected = (request.get("sha256") or "").lower()
        stamp = None
        if expected:
            actual, stamp = _hash_file(submission)
            if actual != expected:
                channel.send({"error": {"kind": "changed", "message": _CHANGED}})
                return 0
        truth = _truth_load(request["truth"])
        ranks: dict[str, Any] | None = {} if request.get("want_ranks") else None
        last = [0.0]

        def progress(stage: str, dataset: str | None, fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.2 or fraction >= 1.0 or fraction == 0.0:
                last[0] = now
                channel.send({"progress": [stage, dataset, fraction]})

        report = score_submission(
            ground_truth=truth,
            submission_path=submission,
            aggregation=request.get("aggregation") or "mean",
            device=device,
            limits=ReadLimits(**request["limits"]) if request.get("limits") else None,
            progress=progress,
            threads=request.get("threads"),
            ranks_out=ranks,
            file_name=request.get("file_name"),
            metrics=request.get("metrics"),
            datasets=request.get("datasets"),
        )
        if stamp is not None and _file_stamp(os.stat(submission)) != stamp:
            channel.send({"error": {"kind": "changed", "message": _CHANGED}})
            return 0
        meta = kept_save(ranks, request["out"]) if ranks else []
        channel.send({"report": report, "ranks": meta})
    except MemoryError:
        channel.send({"error": {"kind": "memory", "message": "out of memory"}})
    except SubmissionError as exc:
        channel.send({"error": {"kind": "submission", "message": _scrub(str(exc), request)}})
    except GroundTruthError as exc:
        channel.send({"error": {"kind": "ground_truth", "message": _scrub(str(exc), request)}})
    except BaseException:
        channel.send({"error": {"kind": "internal", "message": traceback.format_exc()[-4000:]}})
    return 0


def _exit(code: int) -> None:
    """End without the interpreter's teardown (numba's thread pool and llvmlite take about half a
    second to shut down, paid on every scoring): the answer is already written to an unbuffered pipe
    and every file this child wrote is closed, so only stdio needs flushing (os._exit, Python docs)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
