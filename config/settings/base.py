"""Settings shared by every environment. Everything that varies comes from the environment."""

from pathlib import Path
from typing import Any

from kombu import Exchange, Queue

from config.env import BASE_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Sign-up, login, password reset, e-mail verification and social login (accounts/ owns the glue).
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.orcid",
    "accounts",
    "challenge",
    "leaderboard",
    "workers",
]

MIDDLEWARE = [
    "config.middleware.RequestBodyTimeoutMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "challenge.context_processors.organiser_console",
            ],
        },
    },
]

# --- Files --------------------------------------------------------------------------------------
# VAR_DIR holds everything the site writes: the default SQLite file, public media, the private
# store (uploaded submissions, hidden ground truth) and the embedded broker's folders.
VAR_DIR = Path(env("PENTATHLON_VAR_DIR", default=str(BASE_DIR / "var")))

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # BEGIN IMMEDIATE: writers queue up on the database lock instead of failing on upgrade, which
    # is what makes the per-team quota check atomic on SQLite.
    # WAL: readers (the boards) never wait for a writer (a worker storing a result), nor it for them.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Keep each web thread's connection (opening one and its PRAGMAs cost more than a cached board).
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Never below MEDIA_ROOT and never served by any URL: submissions and hidden ground truth.
PRIVATE_STORAGE_ROOT = Path(env("PENTATHLON_PRIVATE_ROOT", default=str(VAR_DIR / "private")))

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Object storage in production, e.g. PENTATHLON_PRIVATE_STORAGE_BACKEND=storages.backends.s3.S3Storage
    # and PENTATHLON_PRIVATE_STORAGE_OPTIONS='{"bucket_name": "...", "default_acl": "private", "querystring_auth": true}'.
    "private": {
        "BACKEND": env(
            "PENTATHLON_PRIVATE_STORAGE_BACKEND", default="challenge.storage.PrivateFileSystemStorage"
        ),
        "OPTIONS": env.json(
            "PENTATHLON_PRIVATE_STORAGE_OPTIONS",
            default={"location": str(PRIVATE_STORAGE_ROOT), "base_url": None},
        ),
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Object storage for everything (S3 or any S3-compatible service): PENTATHLON_STORAGE_BACKEND=s3.
# The public bucket holds media; the private bucket (never served: url() raises) holds submissions
# and hidden ground truth. Credentials and endpoint come from the standard AWS_* variables.
if env("PENTATHLON_STORAGE_BACKEND", default="filesystem") in ("s3", "storages.backends.s3.S3Storage"):
    _s3_common = {
        "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
        "region_name": env("AWS_S3_REGION_NAME", default=None),
        "access_key": env("AWS_ACCESS_KEY_ID", default=None),
        "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
        "file_overwrite": False,
    }
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {**_s3_common, "bucket_name": env("AWS_STORAGE_BUCKET_NAME")},
    }
    STORAGES["private"] = {
        "BACKEND": "challenge.storage_s3.PrivateS3Storage",
        "OPTIONS": {
            **_s3_common,
            "bucket_name": env("PENTATHLON_PRIVATE_BUCKET_NAME"),
            "default_acl": "private",
            "querystring_auth": True,
        },
    }

# Uploads always stream to a temporary file (never held in memory), so the evaluation core can
# inspect them by path; the sha256 is computed as the bytes arrive, and the file is linked (not
# copied) into the spool when both are on one file system.
FILE_UPLOAD_HANDLERS = ["challenge.services.files.HashingUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("PENTATHLON_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)
SUBMISSION_MAX_BYTES = env.int("PENTATHLON_SUBMISSION_MAX_BYTES", default=2 * 1024**3)
GROUND_TRUTH_MAX_BYTES = env.int("PENTATHLON_GROUND_TRUTH_MAX_BYTES", default=2 * 1024**3)
# Public annotations (caption -> video table) for the caption audit; read as a stream, never stored.
ANNOTATIONS_MAX_BYTES = env.int("PENTATHLON_ANNOTATIONS_MAX_BYTES", default=512 * 1024**2)
# Resumable chunked uploads (/api/v1/uploads/): partial files live here until completed or expired.
# 32 MiB: a quarter of the requests of 8 MiB chunks; a full-scale test npz (934 MB) uploaded in
# 6.0-6.8 s against 8.4-12.1 s on loopback (benchmarks/big_submission.py --chunk-mib).
UPLOAD_CHUNK_BYTES = env.int("PENTATHLON_UPLOAD_CHUNK_BYTES", default=32 * 1024**2)
UPLOAD_PARTIAL_DIR = Path(env("PENTATHLON_UPLOAD_PARTIAL_DIR", default=str(VAR_DIR / "uploads")))
# Where uploads are spooled and hashed before they are stored; on the private storage's file system
# the spooled file is renamed into place instead of copied a second time (default: the system's).
FILE_UPLOAD_TEMP_DIR = env("PENTATHLON_UPLOAD_TEMP_DIR", default=None)
UPLOAD_EXPIRES_AFTER = env.int("PENTATHLON_UPLOAD_EXPIRES_AFTER", default=24 * 3600)
# Completing an upload waits this long for chunk writes still in flight, then answers 409.
PENTATHLON_UPLOAD_COMPLETE_WAIT = env.float("PENTATHLON_UPLOAD_COMPLETE_WAIT", default=10.0)
# Per user: chunked uploads open at once, and the bytes they declare together (SECURITY.md, finding 15).
PENTATHLON_UPLOAD_MAX_OPEN = env.int("PENTATHLON_UPLOAD_MAX_OPEN", default=3)
PENTATHLON_UPLOAD_MAX_BYTES_IN_FLIGHT = env.int(
    "PENTATHLON_UPLOAD_MAX_BYTES_IN_FLIGHT", default=2 * SUBMISSION_MAX_BYTES
)
# Stored files of failed and cancelled submissions are deleted this many days after they ended.
PENTATHLON_FAILED_FILE_RETENTION_DAYS = env.float("PENTATHLON_FAILED_FILE_RETENTION_DAYS", default=3)
# Notification emails per team and hour; beyond it the rest of the hour's are not sent (logged).
PENTATHLON_NOTIFY_MAX_PER_TEAM_HOUR = env.int("PENTATHLON_NOTIFY_MAX_PER_TEAM_HOUR", default=10)
# Clients (browser form, CLI) switch to the chunked API for files larger than this.
UPLOAD_CHUNKED_THRESHOLD = env.int("PENTATHLON_UPLOAD_CHUNKED_THRESHOLD", default=64 * 1024**2)
# The organisers' expert-feature stores (<Dataset>.h5) the baselines train on (manage.py train_baseline).
PENTATHLON_EXPERT_STORE_DIR = Path(env("PENTATHLON_EXPERT_STORE_DIR", default=str(VAR_DIR / "experts")))
# Trained baselines (and TeachText's teachers), kept so that the same run is never trained twice.
PENTATHLON_BASELINE_CHECKPOINT_DIR = Path(
    env("PENTATHLON_BASELINE_CHECKPOINT_DIR", default=str(VAR_DIR / "baselines" / "checkpoints"))
)
# "auto": CUDA when torch sees a GPU, else the CPU (the evaluation core gives the same results).
EVALUATION_DEVICE = env("PENTATHLON_EVALUATION_DEVICE", default="auto")
# Participant files are read and scored in a child process holding no secret (docs/deploying.md,
# "The scoring child"): "auto" uses bubblewrap when it works here, else a scrubbed environment and,
# for a root worker, the uid/gid below; "bwrap" refuses to score without bubblewrap; "env" never uses it.
PENTATHLON_SCORING_ISOLATION = env("PENTATHLON_SCORING_ISOLATION", default="auto")
PENTATHLON_SCORING_UID = env.int("PENTATHLON_SCORING_UID", default=65534)
PENTATHLON_SCORING_GID = env.int("PENTATHLON_SCORING_GID", default=65534)
# Tests only: {"open": [paths], "allocate_mib": n, "report_to": path} makes the scoring child report
# what it sees from inside (its /proc/self/environ, which files it can open). Never set in production.
PENTATHLON_SCORING_TEST_PROBE = None
# Bootstrap resamples of the confidence intervals and paired tests (docs/uncertainty.md), and how
# many of a board's top entries are compared with their neighbours ("tied within noise").
PENTATHLON_INTERVAL_RESAMPLES = env.int("PENTATHLON_INTERVAL_RESAMPLES", default=1000)
PENTATHLON_SIGNIFICANCE_TOP = env.int("PENTATHLON_SIGNIFICANCE_TOP", default=10)
# Code phases (docs/code-phases.md): the sandbox backend ("bubblewrap", the embedded default, or
# "docker"), its options (e.g. {"runtime_arg": "nvidia"}), and the runtimes organisers may pick
# ({name: {description, python, mounts, image, packages}}; "python3-torch", the site's own Python,
# is always there and is the default).
PENTATHLON_SANDBOX_BACKEND = env("PENTATHLON_SANDBOX_BACKEND", default="bubblewrap")
# An empty value counts as unset: compose passes every variable, set or not (docker/compose.yml).
PENTATHLON_SANDBOX_OPTIONS = (
    env.json("PENTATHLON_SANDBOX_OPTIONS") if env("PENTATHLON_SANDBOX_OPTIONS", default="") else {}
)
PENTATHLON_SANDBOX_RUNTIMES = (
    env.json("PENTATHLON_SANDBOX_RUNTIMES") if env("PENTATHLON_SANDBOX_RUNTIMES", default="") else {}
)
PENTATHLON_SANDBOX_DEFAULT_RUNTIME = env("PENTATHLON_SANDBOX_DEFAULT_RUNTIME", default="python3-torch")
# Unpacked bytes of a program archive, and of a phase's gallery inputs.
PENTATHLON_PROGRAM_MAX_BYTES = env.int("PENTATHLON_PROGRAM_MAX_BYTES", default=8 * 1024**3)
PENTATHLON_GALLERY_INPUTS_MAX_BYTES = env.int("PENTATHLON_GALLERY_INPUTS_MAX_BYTES", default=32 * 1024**3)

# --- Auth ---------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every password check (login page, API token, admin) counts failures per client IP and username;
# after PENTATHLON_LOGIN_MAX_FAILURES the pair is refused for the window (challenge.auth).
# allauth's backend comes second: it logs in by e-mail address (the username goes to the first).
AUTHENTICATION_BACKENDS = [
    "challenge.auth.LockoutModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PENTATHLON_LOGIN_MAX_FAILURES = env.int("PENTATHLON_LOGIN_MAX_FAILURES", default=5)
PENTATHLON_LOGIN_LOCKOUT_SECONDS = env.int("PENTATHLON_LOGIN_LOCKOUT_SECONDS", default=900)
# Login counters and API throttles. Local memory is per process: production sets CACHE_URL (or
# REDIS_URL, see prod.py) so that every web process shares them.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://pentathlon")}
# Rendered leaderboards (leaderboard.boards.responses), shared by every web process: REDIS_URL (or
# PENTATHLON_BOARD_CACHE_URL) in production; the embedded default keeps them in files under VAR_DIR,
# which needs no server and, unlike the database cache, takes no SQLite write lock from scorers.
BOARD_CACHE = "boards"
_BOARD_CACHE_URL = env("PENTATHLON_BOARD_CACHE_URL", default="") or env("REDIS_URL", default="")
CACHES[BOARD_CACHE] = (
    {**env.cache_url_config(_BOARD_CACHE_URL), "KEY_PREFIX": "pentathlon-boards"}
    if _BOARD_CACHE_URL
    else {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache" / "boards"),
        # Culling walks the folder; a 10,000-team phase has a few hundred board pages per version.
        "OPTIONS": {"MAX_ENTRIES": 20_000, "CULL_FREQUENCY": 4},
    }
)
#: Bytes of rendered boards each web process keeps in its own memory (leaderboard.boards.responses), on top of
#: the shared cache: a warm board is then one cache read of its version. 0 keeps none.
PENTATHLON_BOARD_KEPT_BYTES = env.int("PENTATHLON_BOARD_KEPT_BYTES", default=32 * 1024**2)
#: Seconds a shared cache (a proxy, a browser) may reuse a public board without asking again.
PENTATHLON_BOARD_MAX_AGE = env.int("PENTATHLON_BOARD_MAX_AGE", default=5)
#: Rows per board page (HTML and JSON) by default, and the most a client may ask for.
PENTATHLON_BOARD_PAGE_SIZE = env.int("PENTATHLON_BOARD_PAGE_SIZE", default=100)
PENTATHLON_BOARD_MAX_PAGE_SIZE = env.int("PENTATHLON_BOARD_MAX_PAGE_SIZE", default=500)
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# --- Accounts (django-allauth) ------------------------------------------------------------------
# Log in with the username or the e-mail address; sign up with both (the address is needed for
# password resets and notifications). Every new address gets a confirmation link; notifications go
# only to verified addresses (challenge.notifications). "mandatory" also blocks login until then.
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env("PENTATHLON_EMAIL_VERIFICATION", default="optional")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Pentathlon] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env("PENTATHLON_HTTP_PROTOCOL", default="http")
# allauth's rate limits (per client IP and per account, in the cache): "10/m/ip" style, "off" disables.
ACCOUNT_RATE_LIMITS: dict[str, Any] | bool = {  # False disables them all (test settings)
    action: (False if rate == "off" else rate)
    for action, rate in {
        "login": env("PENTATHLON_RATE_LOGIN", default="30/m/ip"),
        "login_failed": env("PENTATHLON_RATE_LOGIN_FAILED", default="10/m/ip,5/5m/key"),
        "signup": env("PENTATHLON_RATE_SIGNUP", default="20/m/ip"),
        "reset_password": env("PENTATHLON_RATE_RESET_PASSWORD", default="20/m/ip,5/m/key"),
        "reset_password_from_key": env("PENTATHLON_RATE_RESET_PASSWORD_FROM_KEY", default="20/m/ip"),
        "confirm_email": env("PENTATHLON_RATE_CONFIRM_EMAIL", default="1/3m/key"),
        "change_password": env("PENTATHLON_RATE_CHANGE_PASSWORD", default="5/m/user"),
        "manage_email": env("PENTATHLON_RATE_MANAGE_EMAIL", default="10/m/user"),
    }.items()
}
# Social login is off until a provider's client id and secret are set in the environment:
# GITHUB_CLIENT_ID/GITHUB_CLIENT_SECRET, ORCID_CLIENT_ID/ORCID_CLIENT_SECRET (ORCID_BASE_DOMAIN for
# the sandbox, "sandbox.orcid.org"). A provider without them is neither offered nor reachable.
SOCIALACCOUNT_PROVIDERS: dict[str, Any] = {}
if env("GITHUB_CLIENT_ID", default=""):
    SOCIALACCOUNT_PROVIDERS["github"] = {
        "APPS": [{"client_id": env("GITHUB_CLIENT_ID"), "secret": env("GITHUB_CLIENT_SECRET"), "key": ""}],
        "SCOPE": ["user:email"],
    }
if env("ORCID_CLIENT_ID", default=""):
    SOCIALACCOUNT_PROVIDERS["orcid"] = {
        "APPS": [{"client_id": env("ORCID_CLIENT_ID"), "secret": env("ORCID_CLIENT_SECRET"), "key": ""}],
        "BASE_DOMAIN": env("ORCID_BASE_DOMAIN", default="orcid.org"),
        "MEMBER_API": False,
    }
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_ADAPTER = "accounts.adapter.SocialAccountAdapter"
# A social login must still confirm its e-mail address before notifications reach it.
SOCIALACCOUNT_EMAIL_VERIFICATION = ACCOUNT_EMAIL_VERIFICATION

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- REST API -----------------------------------------------------------------------------------
# Reverse proxies in front of the site that append the client's address to X-Forwarded-For: 0 (the
# default) ignores the header; docker/compose.yml counts the host's TLS proxy and its own nginx
# (docs/deploying.md).
# Every IP-based limit (API throttles, login lockout) reads the client address through this rule.
PENTATHLON_NUM_PROXIES = env.int("PENTATHLON_NUM_PROXIES", default=0)
# Seconds gunicorn's thread waits for the next bytes of a request body before the request ends with
# 408 (config/middleware.py); 0 waits for ever. The production proxy buffers bodies in front of it.
PENTATHLON_REQUEST_BODY_TIMEOUT = env.int("PENTATHLON_REQUEST_BODY_TIMEOUT", default=60)
REST_FRAMEWORK = {
    "NUM_PROXIES": PENTATHLON_NUM_PROXIES,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per client IP (anonymous), per user, and per user on the views that set a throttle_scope
    # (uploads, token logins). Rates like "300/min"; "off" disables one.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        scope: (None if rate == "off" else rate)
        for scope, rate in {
            "anon": env("PENTATHLON_THROTTLE_ANON", default="600/min"),
            "user": env("PENTATHLON_THROTTLE_USER", default="1200/min"),
            "upload": env("PENTATHLON_THROTTLE_UPLOAD", default="60/hour"),
            "login": env("PENTATHLON_THROTTLE_LOGIN", default="30/min"),
            # Team creation per client address (challenge.throttles.AddressRateThrottle), web and API.
            "team_create": env("PENTATHLON_THROTTLE_TEAM_CREATE", default="5/hour"),
        }.items()
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Pentathlon API",
    "DESCRIPTION": "Challenges, phases, submissions and leaderboards of text-to-video retrieval challenges."
    " Authenticate with `Authorization: Token <key>` (POST /api/v1/auth/token/).",
    "VERSION": "1.0.0",
    # Swagger UI and ReDoc from the installed sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.add_error_responses",
    ],
}

# --- Celery -------------------------------------------------------------------------------------
# The embedded default needs no server: kombu's filesystem transport under VAR_DIR.
# CELERY_BROKER_URL=redis://... switches to Redis without code changes.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://localhost/")
CELERY_BROKER_FOLDER = Path(env("PENTATHLON_BROKER_DIR", default=str(VAR_DIR / "broker")))
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        "store_processed": False,
        # How often an idle worker lists the queue folder: kombu's default (1 s) made a queued
        # submission wait about 0.9 s for pick-up; a listing of the folder costs microseconds.
        "polling_interval": env.float("PENTATHLON_BROKER_POLL_S", default=0.05),
    }
else:
    # Redis redelivers an unacknowledged message after this long; it must stay above the longest
    # scoring time (checked below and by the system check workers.E001), or a slow evaluation
    # would be delivered a second time while it still runs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# The default queue (periodic tasks); a separate name isolates deployments (or test runs) sharing a broker.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Evaluation routing, decided at enqueue from the header-only manifest stored at upload: with GPU
# workers configured, embeddings (a matrix product) and matrices declaring more than
# PENTATHLON_GPU_MIN_BYTES go to the GPU queue, everything else to the CPU queue.
PENTATHLON_CPU_QUEUE = env("PENTATHLON_CPU_QUEUE", default="cpu")
PENTATHLON_GPU_QUEUE = env("PENTATHLON_GPU_QUEUE", default="gpu")
PENTATHLON_GPU_QUEUE_ENABLED = env.bool("PENTATHLON_GPU_QUEUE_ENABLED", default=False)
PENTATHLON_GPU_MIN_BYTES = env.int("PENTATHLON_GPU_MIN_BYTES", default=256 * 1024**2)
# Code phases' programs (CPU) go to this queue when set, else to the CPU queue: a worker of their own
# runs them (compose's `worker-code`, the one that holds the Docker socket: docs/deploying.md).
PENTATHLON_CODE_QUEUE = env("PENTATHLON_CODE_QUEUE", default="")
# A worker started without -Q consumes all of these (the embedded default: one worker does everything).
# Each queue has its own direct exchange and routing key: queues left to Celery's defaults would all
# bind the key "celery" on one exchange, and every message would be delivered to each of them.
CELERY_TASK_QUEUES = [
    Queue(q, Exchange(q, type="direct"), routing_key=q)
    for q in dict.fromkeys(
        [CELERY_TASK_DEFAULT_QUEUE, PENTATHLON_CPU_QUEUE]
        + ([PENTATHLON_GPU_QUEUE] if PENTATHLON_GPU_QUEUE_ENABLED else [])
        + ([PENTATHLON_CODE_QUEUE] if PENTATHLON_CODE_QUEUE else [])
    )
]
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Default evaluation time limits; a phase may set its own (Phase.evaluation_soft_limit_s /
# evaluation_hard_limit_s), up to PENTATHLON_EVALUATION_MAX_LIMIT, sent with each message.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("PENTATHLON_EVALUATION_SOFT_LIMIT", default=1800)
CELERY_TASK_TIME_LIMIT = env.int("PENTATHLON_EVALUATION_HARD_LIMIT", default=1860)
PENTATHLON_EVALUATION_MAX_LIMIT = env.int("PENTATHLON_EVALUATION_MAX_LIMIT", default=3000)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Lease of a running evaluation: the worker bumps Submission.heartbeat_at every
# PENTATHLON_HEARTBEAT_INTERVAL seconds; a RUNNING row whose heartbeat is older than
# PENTATHLON_HEARTBEAT_STALE_AFTER belongs to a dead worker and is re-queued by the sweeper.
PENTATHLON_HEARTBEAT_INTERVAL = env.float("PENTATHLON_HEARTBEAT_INTERVAL", default=10.0)
PENTATHLON_HEARTBEAT_STALE_AFTER = env.int("PENTATHLON_HEARTBEAT_STALE_AFTER", default=60)
# A QUEUED row older than this gets its message sent again (the claim makes duplicates harmless).
PENTATHLON_REQUEUE_QUEUED_AFTER = env.int("PENTATHLON_REQUEUE_QUEUED_AFTER", default=900)
# Claims lost with their worker (killed, out of memory) before a submission ends FAILED, refunded.
PENTATHLON_MAX_LOST_ATTEMPTS = env.int("PENTATHLON_MAX_LOST_ATTEMPTS", default=3)
# Memory one evaluation may fill (RLIMIT_DATA in each process that runs tasks, workers/limits.py); 0 = off.
# Celery also replaces a prefork child whose resident memory stayed above it after a task.
PENTATHLON_WORKER_MEMORY_LIMIT_MB = env.int("PENTATHLON_WORKER_MEMORY_LIMIT_MB", default=8192)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = PENTATHLON_WORKER_MEMORY_LIMIT_MB * 1024 or None  # KiB
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "submission-requeue-stale": {
        "task": "workers.submission_requeue_stale",
        "schedule": env.float("PENTATHLON_REQUEUE_EVERY", default=30.0),
    },
    # Abandoned resumable uploads (rows and partial files) idle for UPLOAD_EXPIRES_AFTER; hourly is plenty.
    "chunked-upload-expire": {"task": "workers.chunked_upload_expire", "schedule": 3600.0},
    # Stored files of failed and cancelled submissions past PENTATHLON_FAILED_FILE_RETENTION_DAYS.
    "submission-files-expire": {"task": "workers.submission_files_expire", "schedule": 3600.0},
}
# Fail at start-up rather than double-run long evaluations (the system check workers.E001 re-checks
# the final settings, e.g. after an environment-specific override).
_visibility = CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout")
if _visibility is not None and _visibility <= max(PENTATHLON_EVALUATION_MAX_LIMIT, CELERY_TASK_TIME_LIMIT):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"CELERY_VISIBILITY_TIMEOUT ({_visibility} s) must be above the longest evaluation "
        f"(PENTATHLON_EVALUATION_MAX_LIMIT={PENTATHLON_EVALUATION_MAX_LIMIT} s, "
        f"PENTATHLON_EVALUATION_HARD_LIMIT={CELERY_TASK_TIME_LIMIT} s)."
    )
CELERY_TIMEZONE = TIME_ZONE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}

# --- Email (submission notifications) -------------------------------------------------------------
# The console backend prints mails to the log by default; set EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend
# and EMAIL_HOST/EMAIL_PORT/EMAIL_HOST_USER/EMAIL_HOST_PASSWORD/EMAIL_USE_TLS for real delivery.
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Pentathlon <noreply@localhost>")
# Absolute links in emails.
PENTATHLON_SITE_URL = env("PENTATHLON_SITE_URL", default="http://127.0.0.1:8000")
