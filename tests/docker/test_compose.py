"""Static checks of the production topology: docker/compose.yml, the Dockerfiles and .env.example.

No Docker engine and no database are needed. `docker compose config` is run only where the compose
plugin is installed; elsewhere that test is skipped, saying why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILES = [DOCKER / "Dockerfile", DOCKER / "Dockerfile.cuda"]
IMAGE_ROOT = "/app/"  # where the repository lives inside the images (WORKDIR)
ONE_SHOT = {"migrate"}
WORKERS = {"worker-cpu", "worker-gpu"}
APP_SERVICES = {"web", "beat"} | WORKERS

VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)")
DEFAULT_RE = r"\$\{%s:-([^}]*)\}"
ASSIGNMENT_RE = re.compile(r"^\s*(#\s*)?([A-Z_][A-Z0-9_]*)=(.*)$")


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _compose_variables(text: str) -> set[str]:
    """Names interpolated by compose: `${NAME...}` and `$NAME`, but not the escaped `$$NAME`."""
    unescaped = text.replace("$$", "")
    return {braced or bare for braced, bare in VAR_RE.findall(unescaped)}


def _env_example() -> tuple[dict[str, str], set[str]]:
    """(active assignments, every documented name, active or commented out)."""
    active: dict[str, str] = {}
    documented: set[str] = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ASSIGNMENT_RE.match(line)
        if match:
            commented, name, value = match.groups()
            documented.add(name)
            if not commented:
                active[name] = value
    return active, documented


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else list(command)


def _option(argv: list[str], *names: str) -> str:
    for i, arg in enumerate(argv):
        if arg in names:
            return argv[i + 1]
        for name in names:
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
    raise AssertionError(f"none of {names} in {argv}")


def _expand_defaults(value: str) -> str:
    """`${NAME:-default}` -> default (what compose uses when .env leaves NAME unset)."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", value)


def _dockerfile_instruction(path: Path, keyword: str) -> list[str]:
    """The exec-form JSON array of the last `keyword` instruction (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    lines = [line for line in text.splitlines() if line.startswith(f"{keyword} ")]
    assert lines, f"{path.name} has no {keyword}"
    body = lines[-1][len(keyword) :].strip()
    if keyword == "HEALTHCHECK":
        body = body.split(" CMD ", 1)[1].strip()
    return json.loads(body)


def _repo_path(image_path: str) -> Path:
    return ROOT / image_path[len(IMAGE_ROOT) :]


# --- services ----------------------------------------------------------------------------------


def test_every_service_has_a_command(services: dict[str, dict[str, Any]]) -> None:
    missing = [
        name
        for name, service in services.items()
        if not (service.get("command") or service.get("entrypoint"))
    ]
    assert not missing, f"services without command or entrypoint: {missing}"


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert service.get("restart") == "unless-stopped", f"{name} is not restarted after a crash or reboot"


def test_migrate_is_a_one_shot_that_everything_else_waits_for(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert _command(migrate)[-3:] == ["manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_redis_persists_queued_messages(services: dict[str, dict[str, Any]]) -> None:
    redis = services["redis"]
    argv = _command(redis)
    assert _option(argv, "--appendonly") == "yes"
    assert _option(argv, "--maxmemory-policy") == "noeviction"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert redis["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]


def test_postgres_is_checked_with_pg_isready_and_keeps_its_data(services: dict[str, dict[str, Any]]) -> None:
    postgres = services["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])


def test_web_runs_gunicorn_on_the_wsgi_app(services: dict[str, dict[str, Any]]) -> None:
    argv = _command(services["web"])
    assert argv[0] == "gunicorn" and argv[-1] == "config.wsgi:application"


def test_worker_queues_cover_cpu_gpu_and_the_default_queue(services: dict[str, dict[str, Any]]) -> None:
    queues: dict[str, set[str]] = {}
    for name in WORKERS:
        argv = _command(services[name])
        assert argv[:4] == ["celery", "-A", "config", "worker"], name
        assert _option(argv, "-O") == "fair", f"{name}: long evaluations need -O fair"
        queues[name] = set(_expand_defaults(_option(argv, "-Q", "--queues")).split(","))
    assert {"cpu", "celery"} <= queues["worker-cpu"], (
        "unrouted tasks land on `celery`; a default worker must consume it"
    )
    assert "gpu" in queues["worker-gpu"]
    assert "profiles" not in services["worker-cpu"], "the CPU worker must start without a profile"


def test_worker_healthchecks_ping_their_own_node(services: dict[str, dict[str, Any]]) -> None:
    for name in WORKERS:
        service = services[name]
        prefix = _option(_command(service), "-n", "--hostname").split("@")[0]
        test = " ".join(service["healthcheck"]["test"])
        assert "celery -A config inspect ping" in test, name
        assert f"{prefix}@$$HOSTNAME" in test, f"{name} pings a node other than its own ({prefix}@...)"


def test_gpu_worker_is_optional_and_reserves_an_nvidia_gpu(services: dict[str, dict[str, Any]]) -> None:
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["build"]["dockerfile"] == "docker/Dockerfile.cuda"
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]
    assert _expand_defaults(gpu["environment"]["PENTATHLON_EVALUATION_DEVICE"]) == "cuda"


def test_there_is_exactly_one_beat(services: dict[str, dict[str, Any]]) -> None:
    beats = [
        name
        for name, service in services.items()
        if _command(service)[:4] == ["celery", "-A", "config", "beat"]
    ]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_web_workers_and_beat_share_the_data_volume(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        assert "pentathlon-data:/data" in services[name]["volumes"], name


def test_app_containers_run_production_settings(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES | ONE_SHOT:
        env = services[name]["environment"]
        assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.prod", name
        for required in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL"):
            assert required in env, f"{name} lacks {required}"


def test_visibility_timeout_outlasts_the_hard_time_limit(services: dict[str, dict[str, Any]]) -> None:
    """Otherwise Redis re-delivers a still-running evaluation and it runs twice."""
    env = services["worker-cpu"]["environment"]
    visibility = int(_expand_defaults(env["CELERY_VISIBILITY_TIMEOUT"]))
    hard = int(_expand_defaults(env["PENTATHLON_EVALUATION_HARD_LIMIT"]))
    soft = int(_expand_defaults(env["PENTATHLON_EVALUATION_SOFT_LIMIT"]))
    assert soft < hard < visibility


# --- configuration -----------------------------------------------------------------------------


def test_every_compose_variable_is_documented_in_env_example(compose_text: str) -> None:
    _, documented = _env_example()
    undocumented = sorted(_compose_variables(compose_text) - documented)
    assert not undocumented, f"used in compose.yml but not in .env.example: {undocumented}"


def test_every_active_env_example_variable_reaches_compose(compose_text: str) -> None:
    """A variable set in .env but never interpolated would silently do nothing (COMPOSE_* are read
    by compose itself)."""
    active, _ = _env_example()
    read_by_compose = {name for name in active if name.startswith("COMPOSE_")}
    unused = sorted(set(active) - read_by_compose - _compose_variables(compose_text))
    assert not unused, f"set in .env.example but unused by compose.yml: {unused}"


def test_env_example_holds_only_placeholders_for_secrets() -> None:
    active, _ = _env_example()
    for name in ("DJANGO_SECRET_KEY", "POSTGRES_PASSWORD"):
        assert "replace-me" in active[name], f"{name} must be an obvious placeholder"


def test_required_variables_fail_loudly_when_unset(compose_text: str) -> None:
    for name in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "POSTGRES_PASSWORD"):
        assert re.search(rf"\$\{{{name}:\?", compose_text), f"{name} should use ${{{name}:?...}}"


def test_the_project_name_comes_from_env_example_not_a_top_level_name(compose: dict[str, Any]) -> None:
    """docker-compose 1.x (Debian's package) rejects a top-level `name:`; both versions read the variable."""
    assert "name" not in compose
    active, _ = _env_example()
    assert active.get("COMPOSE_PROJECT_NAME") == "pentathlon"


def test_gpu_reservation_needs_no_interpolated_number(services: dict[str, dict[str, Any]]) -> None:
    """docker-compose 1.x keeps an interpolated `count` a string and then refuses the whole file."""
    for device in services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]:
        count = device.get("count")
        assert count is None or isinstance(count, int) or count == "all", count


# --- images ------------------------------------------------------------------------------------

OFFLINE = DOCKER / "offline"
OFFLINE_DOCKERFILES = sorted(OFFLINE.glob("*.Dockerfile"))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_entrypoint_cmd_and_healthcheck_scripts_exist(dockerfile: Path) -> None:
    for keyword in ("ENTRYPOINT", "CMD", "HEALTHCHECK"):
        argv = _dockerfile_instruction(dockerfile, keyword)
        for position, arg in enumerate(argv):
            if arg.startswith(IMAGE_ROOT):
                path = _repo_path(arg)
                assert path.is_file(), f"{dockerfile.name} {keyword} names {arg}, missing at {path}"
                if position == 0:
                    assert os.access(path, os.X_OK), f"{path} is run directly and must be executable"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_run_as_a_non_root_user(dockerfile: Path) -> None:
    users = [line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")


@pytest.mark.parametrize("dockerfile", DOCKERFILES + OFFLINE_DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_name_no_frontend_image(dockerfile: Path) -> None:
    """A `# syntax=` line makes BuildKit pull that frontend image first: no build without a registry."""
    assert not re.search(r"^#\s*syntax\s*=", dockerfile.read_text(), re.MULTILINE)


def test_offline_base_images_cover_what_compose_runs(services: dict[str, dict[str, Any]]) -> None:
    """The stand-ins for python, postgres and redis, built on a local Debian base image."""
    names = {path.name for path in OFFLINE_DOCKERFILES}
    assert names == {"python.Dockerfile", "postgres.Dockerfile", "redis.Dockerfile", "nginx.Dockerfile"}
    for path in OFFLINE_DOCKERFILES:
        text = path.read_text()
        assert re.search(r"^ARG DEBIAN_IMAGE=debian:bookworm", text, re.MULTILINE), path.name
        assert "FROM ${DEBIAN_IMAGE}" in text, path.name
        for copied, target in re.findall(r"^COPY (\S+) (\S+)", text, re.MULTILINE):
            if target.startswith("/usr/local/bin/"):
                assert os.access(OFFLINE / copied, os.X_OK), (
                    f"{copied} is run directly and must be executable"
                )
    postgres = (OFFLINE / "postgres.Dockerfile").read_text()
    assert "PGDATA=/var/lib/postgresql/data" in postgres  # the compose volume's mount point
    redis = (OFFLINE / "redis.Dockerfile").read_text()
    assert "WORKDIR /data" in redis and "redis-tools" not in redis  # redis-cli comes with redis-server
    assert services["redis"]["command"][0] == "redis-server"
    assert services["postgres"]["command"][0] == "postgres"


def test_cpu_image_can_be_built_without_torch() -> None:
    """The workers score with numpy when torch is absent; an empty TORCH_VERSION skips it."""
    text = (DOCKER / "Dockerfile").read_text()
    assert 'if [ -n "${TORCH_VERSION}" ]; then' in text


def test_cpu_image_uses_the_cpu_torch_index_and_collects_static_files() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert "download.pytorch.org/whl/cpu" in text
    assert "pip install '.[server]'" in text
    assert "collectstatic --noinput" in text


def test_cuda_image_uses_a_cuda_base_and_a_cuda_torch_index() -> None:
    text = (DOCKER / "Dockerfile.cuda").read_text()
    assert re.search(r"ARG CUDA_IMAGE=nvidia/cuda:\S+-runtime-", text)
    assert re.search(r"download\.pytorch\.org/whl/cu\d+", text)


def test_torch_pin_matches_pyproject() -> None:
    pin = re.search(r'"torch==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin, "pyproject.toml no longer pins torch; update the TORCH_VERSION build args"
    for dockerfile in DOCKERFILES:
        assert f"ARG TORCH_VERSION={pin.group(1)}" in dockerfile.read_text(), dockerfile.name


def test_compose_scripts_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        words = _command(service) + [str(w) for w in (service.get("healthcheck") or {}).get("test", [])]
        for word in words:
            for arg in str(word).split():
                if arg.startswith(IMAGE_ROOT):
                    assert _repo_path(arg).is_file(), f"{name} names {arg}, which is not in the repository"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_build_context_excludes_secrets_and_local_state(dockerfile: Path) -> None:
    ignore = Path(f"{dockerfile}.dockerignore").read_text().splitlines()
    for pattern in ("**/.env", "**/.venv", "/var", "**/.git"):
        assert pattern in ignore, f"{dockerfile.name}.dockerignore must exclude {pattern}"


def _load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pentathlon_healthcheck", DOCKER / "healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        ("pentathlon.example.org,www.example.org", "pentathlon.example.org"),
        (".example.org", "example.org"),
        ("*", "localhost"),
        ("", "localhost"),
    ],
)
def test_web_healthcheck_sends_an_allowed_host(
    monkeypatch: pytest.MonkeyPatch, allowed: str, host: str
) -> None:
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", allowed)
    assert _load_healthcheck()._host_header() == host


def test_healthcheck_rejects_an_unknown_mode() -> None:
    assert _load_healthcheck().main(["nonsense"]) == 2


# --- docker compose itself ---------------------------------------------------------------------


def _compose_cli() -> tuple[list[str] | None, str]:
    """(argv of `docker compose` or `docker-compose`, or None; why not). Neither needs a running daemon."""
    problems = []
    if shutil.which("docker"):
        try:
            probe = subprocess.run(
                ["docker", "compose", "version"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"`docker compose version` failed: {exc}")
        else:
            if probe.returncode == 0:
                return ["docker", "compose"], ""
            problems.append("the docker compose plugin is not installed")
    else:
        problems.append("the docker client is not installed")
    if shutil.which("docker-compose"):
        return ["docker-compose"], ""
    problems.append("docker-compose is not installed")
    return None, "; ".join(problems)


@pytest.mark.parametrize("profile", [[], ["--profile", "gpu"]], ids=["default", "gpu"])
def test_docker_compose_config_validates(profile: list[str]) -> None:
    cli, problem = _compose_cli()
    if cli is None:
        pytest.skip(f"cannot run `docker compose config` here ({problem}); the YAML checks above still ran")
    result = subprocess.run(
        [*cli, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE_FILE), *profile, "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    expected = {"postgres", "redis", "migrate", "web", "worker-cpu", "beat"} | (
        {"worker-gpu"} if profile else set()
    )
    assert expected <= set(resolved["services"]), sorted(resolved["services"])
    published = {
        name: service["ports"] for name, service in resolved["services"].items() if service.get("ports")
    }
    assert set(published) == {"proxy"}, f"only the buffering proxy may be published: {published}"
    # v2: mappings; docker-compose 1.x: "ip:host:container"
    ports = published["proxy"]
    host_ips = [port.get("host_ip") if isinstance(port, dict) else port.split(":")[0] for port in ports]
    assert host_ips == ["127.0.0.1"], ports


# --- entry point ----------------------------------------------------------------------------------


def test_entrypoint_creates_every_data_folder_on_a_fresh_volume(tmp_path: Path) -> None:
    """The compose file's upload spool lives on the volume; Django's checks fail when it is missing."""
    data = tmp_path / "data"
    env = {"PATH": os.environ["PATH"], "PENTATHLON_VAR_DIR": str(data)}
    result = subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), "true"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    for name in ("media", "private", "beat", "spool", "uploads"):
        assert (data / name).is_dir(), name


def test_entrypoint_default_spool_is_the_compose_default(services: dict[str, dict[str, Any]]) -> None:
    spool = _expand_defaults(services["web"]["environment"]["PENTATHLON_UPLOAD_TEMP_DIR"])
    assert spool == "/data/spool"
    assert '"${PENTATHLON_UPLOAD_TEMP_DIR:-$data/spool}"' in (DOCKER / "entrypoint.sh").read_text()


def test_entrypoint_creates_a_spool_set_elsewhere(tmp_path: Path) -> None:
    spool = tmp_path / "elsewhere" / "spool"
    env = {
        "PATH": os.environ["PATH"],
        "PENTATHLON_VAR_DIR": str(tmp_path),
        "PENTATHLON_UPLOAD_TEMP_DIR": str(spool),
    }
    result = subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), "true"], env=env, capture_output=True, timeout=30
    )
    assert result.returncode == 0 and spool.is_dir()


# --- the buffering proxy --------------------------------------------------------------------------

PROXY_TEMPLATE = OFFLINE / "nginx.conf.template"
PROXY_ENTRYPOINT = OFFLINE / "nginx-entrypoint.sh"


def _render_proxy_conf(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """nginx-entrypoint.sh filling in the template as it does in the image (then running `true`)."""
    result = subprocess.run(
        ["sh", str(PROXY_ENTRYPOINT), "true"],
        env={
            "PATH": os.environ["PATH"],
            "PENTATHLON_PROXY_TEMPLATE": str(PROXY_TEMPLATE),
            "PENTATHLON_PROXY_CONF": str(tmp_path / "nginx.conf"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result


def _directive(conf: str, name: str) -> str:
    match = re.search(rf"^\s*{name}\s+([^;]+);", conf, re.MULTILINE)
    assert match, f"no {name} in the proxy's nginx.conf"
    return match.group(1).strip()


def test_only_the_proxy_is_published_and_web_is_reached_through_it(
    services: dict[str, dict[str, Any]],
) -> None:
    published = sorted(name for name, service in services.items() if service.get("ports"))
    assert published == ["proxy"], published
    assert services["web"]["expose"] == ["8000"]
    assert services["proxy"]["environment"]["PENTATHLON_PROXY_UPSTREAM"] == "web:8000"
    assert services["proxy"]["ports"] == [
        "${PENTATHLON_HTTP_BIND:-127.0.0.1}:${PENTATHLON_HTTP_PORT:-8000}:8080"
    ]
    assert "listen 8080 default_server;" in PROXY_TEMPLATE.read_text()
    assert services["proxy"]["restart"] == "unless-stopped"
    assert any(volume.endswith(":/var/cache/pentathlon-proxy") for volume in services["proxy"]["volumes"])


def test_the_proxy_gets_the_same_upload_limits_and_timeout_as_the_site(
    services: dict[str, dict[str, Any]],
) -> None:
    proxy, web = services["proxy"]["environment"], services["web"]["environment"]
    for name in (
        "PENTATHLON_SUBMISSION_MAX_BYTES",
        "PENTATHLON_GROUND_TRUTH_MAX_BYTES",
        "PENTATHLON_UPLOAD_CHUNK_BYTES",
        "GUNICORN_TIMEOUT",
    ):
        assert proxy[name] == web[name], f"the proxy's {name} differs from the site's"


def test_the_proxy_buffers_whole_bodies_with_timeouts(tmp_path: Path) -> None:
    result = _render_proxy_conf(tmp_path)
    assert result.returncode == 0, result.stderr
    conf = (tmp_path / "nginx.conf").read_text()
    assert "${" not in conf, "every template value is filled in"
    assert _directive(conf, "proxy_request_buffering") == "on"
    assert _directive(conf, "client_body_timeout") == "60s"
    assert _directive(conf, "client_header_timeout") == "60s"
    assert _directive(conf, "proxy_read_timeout") == "300s"  # GUNICORN_TIMEOUT's default
    # The largest default upload (2 GiB) and 1 MiB for the multipart framing.
    assert int(_directive(conf, "client_max_body_size")) == 2 * 1024**3 + 1024**2
    assert "set $pentathlon_upstream http://web:8000;" in conf


def test_the_proxy_body_limit_follows_the_largest_upload_limit(tmp_path: Path) -> None:
    result = _render_proxy_conf(
        tmp_path,
        PENTATHLON_SUBMISSION_MAX_BYTES="1000",
        PENTATHLON_GROUND_TRUTH_MAX_BYTES="5000000000",
        PENTATHLON_UPLOAD_CHUNK_BYTES="100",
        PENTATHLON_PROXY_CLIENT_TIMEOUT="15",
        GUNICORN_TIMEOUT="120",
    )
    assert result.returncode == 0, result.stderr
    conf = (tmp_path / "nginx.conf").read_text()
    assert int(_directive(conf, "client_max_body_size")) == 5_000_000_000 + 1024**2
    assert _directive(conf, "client_body_timeout") == "15s"
    assert _directive(conf, "proxy_read_timeout") == "120s"


def test_the_proxy_refuses_a_limit_that_is_not_a_number(tmp_path: Path) -> None:
    result = _render_proxy_conf(tmp_path, PENTATHLON_SUBMISSION_MAX_BYTES="2g")
    assert result.returncode == 1
    assert "PENTATHLON_SUBMISSION_MAX_BYTES must be a whole number, not '2g'" in result.stderr


def test_the_proxy_appends_the_client_address_the_site_counts(services: dict[str, dict[str, Any]]) -> None:
    """The proxy appends to X-Forwarded-For, so it is one of PENTATHLON_NUM_PROXIES: with the host's TLS
    proxy in front, 2 (challenge/client_address.py takes the address the outermost one appended)."""
    conf = PROXY_TEMPLATE.read_text()
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf
    assert _expand_defaults(services["web"]["environment"]["PENTATHLON_NUM_PROXIES"]) == "2"
    assert "proxy_set_header X-Forwarded-Proto $pentathlon_proto;" in conf


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_worker_images_install_bubblewrap_for_the_scoring_child(dockerfile: Path) -> None:
    installs = [line for line in dockerfile.read_text().splitlines() if "apt-get install" in line]
    assert any(" bubblewrap" in line for line in installs), installs
