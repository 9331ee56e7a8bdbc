"""evaluation/ is usable offline: it imports no Django, DRF, Celery or site app."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_evaluation_core_loads_no_web_framework():
    code = (
        "import sys, evaluation.cli, evaluation.scoring, evaluation.bench, evaluation.synthetic;"
        "bad = [m for m in sys.modules if m.split('.')[0] in"
        " ('django', 'rest_framework', 'celery', 'challenge', 'leaderboard', 'workers', 'config', 'core')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
