"""Imported into a real worker with `celery worker --include tests.integration.slow_scoring` (tests only).

With PENTATHLON_TEST_FAULT_INJECTION=1 in its environment it wraps `evaluation.sandbox.score_in_child` (the
worker's side of scoring: the child process it starts scores the file) so that a fault can be injected at a
known moment:

* it writes the scoring process's pid to `$PENTATHLON_VAR_DIR/scoring.pid` (the pool process to kill);
* it then waits `PENTATHLON_TEST_SCORING_DELAY_S` seconds (the lease is renewed meanwhile), so a test can
  SIGKILL the pool process or the whole worker "during scoring";
* a submission file whose sha256 is `PENTATHLON_TEST_KILLER_SHA256` SIGKILLs the process scoring it, as a
  file that blows the worker up would.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import evaluation.sandbox

_original = evaluation.sandbox.score_in_child


def _sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def score_in_child(*args, **kwargs):
    var = Path(os.environ["PENTATHLON_VAR_DIR"])
    (var / "scoring.pid.tmp").write_text(str(os.getpid()))
    (var / "scoring.pid.tmp").replace(var / "scoring.pid")
    killer = os.environ.get("PENTATHLON_TEST_KILLER_SHA256")
    if killer and _sha256(kwargs["submission_path"]) == killer:
        with open(var / "killer-deaths.log", "a") as log:
            log.write(f"{os.getpid()}\n")
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(os.environ.get("PENTATHLON_TEST_SCORING_DELAY_S", "0")))
    return _original(*args, **kwargs)


# Only in a worker started for fault tests: collecting this module (pytest --doctest-modules imports every
# file) must not change the scorer of the test process itself.
if os.environ.get("PENTATHLON_TEST_FAULT_INJECTION") == "1":
    evaluation.sandbox.score_in_child = score_in_child
