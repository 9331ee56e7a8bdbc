"""Mutation fuzzing of the readers: valid files of every format, bytes flipped, cut and inserted.

For each mutated file the reader process (tests/security/fuzz_child.py, kept alive between cases)
runs the whole scorer (`score_submission`: inspect, load, validate, score) or `read_ground_truth`.
The only acceptable outcomes are a score or an `evaluation.errors.EvaluationError` subclass;
any other exception fails the test, and so does a case that takes longer than CASE_TIMEOUT_S (the
process is killed and restarted: a hang, not a slow machine, at that bound). Hypothesis drives
the mutations deterministically (derandomize) so CI runs the same cases every time.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
CASE_TIMEOUT_S = 30
EXAMPLES = int(os.environ.get("PENTATHLON_FUZZ_EXAMPLES", "150"))
COUNTS: dict[str, dict[str, int]] = {}


class Reader:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.security.fuzz_child"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert json.loads(self._readline(120))["ready"]

    def _readline(self, timeout: float) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the reader process died (exit {self.proc.poll()})")
        return line

    def run(self, path: Path, kind: str) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.stdin.write(json.dumps({"path": str(path), "kind": kind}) + "\n")
        self.proc.stdin.flush()
        try:
            return json.loads(self._readline(CASE_TIMEOUT_S))
        except TimeoutError:
            self.stop()
            return {"outcome": "hang"}
        except RuntimeError as exc:
            self.proc = None
            return {"outcome": "crash", "type": "ProcessDied", "message": str(exc)}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture(scope="module")
def reader():
    process = Reader()
    process.start()
    yield process
    process.stop()


def _seeds() -> dict[str, tuple[str, str, bytes]]:
    """name -> (suffix, kind, bytes) of valid files (two small datasets keep them small)."""
    from evaluation import synthetic
    from evaluation.ground_truth import write_ground_truth

    truth = synthetic.pentathlon_ground_truth(
        phase="val", scale="tiny", seed=0, datasets=("DiDeMo", "YouCook2")
    )
    matrices = synthetic.similarity_matrices(truth, seed=1)
    pairs = synthetic.embedding_pairs(truth, dim=8, seed=1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        writers = {
            "npz-sims": (".npz", lambda p: synthetic.write_npz_submission(p, matrices)),
            "npz-embeddings": (".npz", lambda p: synthetic.write_embeddings_npz(p, pairs)),
            "zip-npy": (".zip", lambda p: synthetic.write_npy_zip(p, matrices)),
            "zip-csv": (".zip", lambda p: synthetic.write_codalab_zip(p, matrices, phase_slug="val")),
            "h5-sims": (".h5", lambda p: synthetic.write_h5_submission(p, matrices)),
            "ground-truth": (".h5", lambda p: write_ground_truth(p, truth)),
        }
        for name, (suffix, write) in writers.items():
            path = tmp / f"{name}{suffix}"
            write(path)
            out[name] = (
                suffix,
                "ground_truth" if name == "ground-truth" else "submission",
                path.read_bytes(),
            )
        # a stored (uncompressed) csv zip too: mutations then hit the text itself
        path = tmp / "zip-csv-stored.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for name, sims in matrices.items():
                archive.writestr(
                    f"{name}-val-predictions.csv", synthetic.codalab_csv(synthetic.topk_lists(sims))
                )
        out["zip-csv-stored"] = (".zip", "submission", path.read_bytes())
    return out


SEEDS = _seeds()


def mutations(size: int):
    position = st.integers(min_value=0, max_value=max(size - 1, 0))
    flip = st.tuples(st.just("flip"), position, st.integers(min_value=1, max_value=255))
    cut = st.tuples(st.just("truncate"), position, st.just(0))
    insert = st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=64))
    overwrite = st.tuples(
        st.just("overwrite"),
        position,
        st.sampled_from(
            [
                b"\xff\xff\xff\xff",
                b"\x00\x00\x00\x00",
                b"\x7f\xff\xff\xff\xff\xff\xff\xff",
                b"\x80",
                b"9999999999",
            ]
        ),
    )
    return st.lists(st.one_of(flip, flip, cut, insert, overwrite), min_size=1, max_size=6)


def mutate(data: bytes, ops) -> bytes:
    buffer = bytearray(data)
    for op, at, arg in ops:
        at = min(at, max(len(buffer) - 1, 0))
        if not buffer:
            break
        if op == "flip":
            buffer[at] ^= arg
        elif op == "truncate":
            del buffer[at:]
        elif op == "insert":
            buffer[at:at] = arg
        else:
            buffer[at : at + len(arg)] = arg
    return bytes(buffer)


def _fuzz(reader: Reader, seed_name: str, tmp_path_factory) -> None:
    suffix, kind, data = SEEDS[seed_name]
    folder = tmp_path_factory.mktemp(f"fuzz-{seed_name}")
    counts = COUNTS.setdefault(seed_name, {"cases": 0, "rejected": 0, "accepted": 0})
    assert reader.run(folder / "missing-on-purpose" / f"x{suffix}", kind)["outcome"] == "rejected"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(ops=mutations(len(data)))
    def case(ops) -> None:
        path = folder / f"case{suffix}"
        path.write_bytes(mutate(data, ops))
        answer = reader.run(path, kind)
        counts["cases"] += 1
        counts[answer["outcome"]] = counts.get(answer["outcome"], 0) + 1
        assert answer["outcome"] in ("accepted", "rejected"), (seed_name, ops, answer)

    case()


@pytest.mark.slow
@pytest.mark.parametrize("seed_name", sorted(SEEDS))
def test_mutated_files_only_raise_evaluation_errors(reader, seed_name, tmp_path_factory, capsys):
    _fuzz(reader, seed_name, tmp_path_factory)
    counts = COUNTS[seed_name]
    total = sum(c["cases"] for c in COUNTS.values())
    with capsys.disabled():
        print(
            f"\n[fuzz] {seed_name}: {counts['cases']} mutated files, {counts['rejected']} rejected with an "
            f"EvaluationError, {counts['accepted']} still valid, 0 crashes, 0 hangs (total so far {total})"
        )
