# Pentathlon: `make demo` runs the site and a worker on the embedded default; `make test` runs every test.
# Both build the virtual environment in .venv first (idempotent; re-run when pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
HOST   ?= 127.0.0.1
PORT   ?= 8000
SCALE  ?= full

.PHONY: sandbox-deps install demo test test-fast lint typecheck bench bench-leaderboard screenshots compose-smoke clean

install: $(VENV)/.installed

# torch==2.13.0 is pinned: on these machines it is the CPU build lying on disk; a looser pin downloads CUDA.
# bubblewrap (Debian package) isolates the scoring child (docs/deploying.md, section 9c); best effort.
$(VENV)/.installed: pyproject.toml
	@$(MAKE) --no-print-directory sandbox-deps
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -e '.[server,torch,dev]'
	touch $@

# The code phases' embedded sandbox (docs/code-phases.md) is bubblewrap, from Debian's packages.
sandbox-deps:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bubblewrap; \
	  else sudo -n apt-get install -y -qq bubblewrap || echo "install bubblewrap (apt-get install bubblewrap) to run code phases"; fi; }

demo: install
	HOST=$(HOST) PORT=$(PORT) SCALE=$(SCALE) bash bin/demo

# The suite runs in PYTEST_WORKERS processes (pytest-xdist; 0 runs it in this process); tests that must
# not overlap stay on one worker each (SERIAL_GROUPS in tests/conftest.py). One process more than the
# CPUs: a good part of the suite waits on real servers, timed leases and a browser, and the extra
# process keeps the CPUs busy meanwhile (on 2 cores, 361 s against 385 s with one per CPU).
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
# Bytecode caches on, whatever the shell says (PYTHONDONTWRITEBYTECODE=1 here): the suite starts hundreds
# of Python processes (test workers, servers, manage.py, scoring children) that otherwise each compile
# the site's sources anew (bare suite on a fresh clone, 2 cores: 348 s against 364 s).
PYTEST := PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadgroup

# The whole suite: doctests of the evaluation core, unit, integration (real worker processes) and
# the PostgreSQL/Redis tests where DATABASE_URL and REDIS_URL are set.
test: install
	$(PYTEST) --doctest-modules evaluation tests

# Without the tests marked `slow` (real worker processes, subprocesses, builds, long runs) or `browser`.
test-fast: install
	$(PYTEST) -m "not slow and not browser" --doctest-modules evaluation tests

# The whole tree: ruff's lint rules, ruff's formatting (check only), the import-linter contracts and
# mypy ([tool.mypy] in pyproject.toml: strict on evaluation/ and on each app's services and selectors).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# mypy ([tool.mypy] in pyproject.toml): strict on evaluation/ and on each app's services and selectors.
typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(PY) -m evaluation.bench

# 10,000 scored submissions in one phase; concurrent clients on loopback; prints queries and p95.
bench-leaderboard: install
	$(PY) benchmarks/leaderboard_load.py

# PNGs of the main pages into screenshots/ (needs /usr/bin/chromium).
screenshots: install
	$(PY) benchmarks/screenshots.py

# The production stack (docker/compose.yml) built without a registry, brought up, used through the CLI
# and put through fault drills; prints build time, time to healthy, submission to result and each
# drill's recovery. Needs root, a running Docker engine, compose and debootstrap; not part of `make test`.
# Any Python with the CLI's dependencies runs it: SMOKE_PY=/path/to/python, SMOKE_ARGS=--keep-up.
SMOKE_PY ?= $(if $(wildcard $(PY)),$(PY),python3)
compose-smoke:
	$(SMOKE_PY) benchmarks/compose_smoke.py $(SMOKE_ARGS)

clean:
	rm -rf $(VENV) var staticfiles
