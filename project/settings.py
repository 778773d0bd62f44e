"""Settings, 12-factor style: every deployment-specific value comes from the environment.

The defaults run the whole system on one machine with no server installed
(the "embedded default"): SQLite in WAL mode and kombu's filesystem broker,
both under ``VAR_DIR``. Production sets ``DATABASE_URL`` (PostgreSQL) and
``CELERY_BROKER_URL`` (Redis or RabbitMQ); see README.md and .env.example.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from project.env import env_bool, env_float, env_int, env_list, env_str, secret_from_file
from scheduling.conf import EVENT_QUEUE, EVENT_TASK_NAME

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()

# Metrics of every process (web, worker, beat, their children) as files in
# one directory, added up by GET /metrics (docs/operations.md). Set here, the
# first module every process loads: prometheus_client reads the variable
# once, when first imported, and children (gunicorn's, Celery's pool) inherit
# it. Empty: metrics stay in each process's memory (one process only).
_METRICS_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "metrics"))
if _METRICS_DIR:
    Path(_METRICS_DIR).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _METRICS_DIR
else:
    # Set but empty, prometheus_client would still look for files.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("DJANGO_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production")
    # Only the embedded default reaches this: a random key made on first start
    # and kept in the checkout's var/ (never committed), shared by every
    # process of the checkout, whatever their VAR_DIR.
    SECRET_KEY = secret_from_file(
        Path(env_str("DJANGO_SECRET_KEY_FILE", str(BASE_DIR / "var" / "secret_key")))
    )
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "django_celery_results",
    "scheduling",
    "handlers",
]

MIDDLEWARE = [
    # First: it counts every answer, those of the other middleware included.
    "scheduling.metrics.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "scheduling.audit.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database_from_url(url: str) -> dict[str, object]:
    config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
    if config["ENGINE"] == "django.db.backends.postgresql":
        config["OPTIONS"] = _postgres_options(dict(config.get("OPTIONS") or {}))  # type: ignore[call-overload]
        # A persistent connection is checked (SELECT 1) before a request reuses
        # it: after a restart of PostgreSQL, the first request reconnects
        # instead of failing.
        config["CONN_HEALTH_CHECKS"] = True
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets the web, the worker and beat read while one of them writes;
        # IMMEDIATE takes the write lock at BEGIN so concurrent writers queue on
        # the busy timeout instead of failing with "database is locked" when a
        # read transaction tries to upgrade.
        config["CONN_MAX_AGE"] = 0
        Path(str(config["NAME"])).parent.mkdir(parents=True, exist_ok=True)
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
        # Tests that start real worker/beat processes need the test database
        # in a file those processes can open.
        config["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    return config


def _postgres_options(options: dict[str, object]) -> dict[str, object]:
    """libpq options that bound every wait on PostgreSQL (README.md, "Configuration").

    Options given in DATABASE_URL (``?keepalives_idle=30``) win over these.
    """
    # Bounded connects: an unreachable host fails requests (and GET /health)
    # after this many seconds instead of the OS's minutes-long TCP timeout.
    options.setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
    # A vanished peer (host down, packets dropped): a write left unacknowledged
    # for tcp_user_timeout, or an idle connection whose keepalive probes go
    # unanswered, fails instead of waiting out the kernel's ~15 minutes of
    # retransmissions. A live server's kernel acknowledges and answers probes
    # while it works, so neither cuts a long statement: safe for every process.
    options.setdefault("keepalives", 1)
    options.setdefault("keepalives_idle", env_int("DATABASE_KEEPALIVES_IDLE", 5))
    options.setdefault("keepalives_interval", env_int("DATABASE_KEEPALIVES_INTERVAL", 2))
    options.setdefault("keepalives_count", env_int("DATABASE_KEEPALIVES_COUNT", 3))
    options.setdefault(
        "tcp_user_timeout", round(env_float("DATABASE_TCP_USER_TIMEOUT", 10.0) * 1000)
    )
    # PostgreSQL cancels a statement running longer. Off unless set: the web
    # process sets a default of its own (project/wsgi.py); worker, beat and
    # manage.py run long statements legitimately (bulk clean-ups, migrations).
    statement_timeout = env_float("DATABASE_STATEMENT_TIMEOUT", 0.0)
    if statement_timeout > 0:
        server_options = (
            f"{options.get('options', '')} -c statement_timeout={round(statement_timeout * 1000)}"
        )
        options["options"] = server_options.strip()
    return options


DATABASES = {
    "default": _database_from_url(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Instants to the second with their zone (project/formats/en/formats.py).
FORMAT_MODULE_PATH = ["project.formats"]
USE_I18N = True
# Instants are aware and UTC inside; IANA zones only at the edges.
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "scheduler@localhost")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# For django.core.mail.backends.filebased.EmailBackend: one file per message.
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))

# --- Celery -----------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
# Each kind of broker gets the options it understands (the URL's scheme says
# which); any other broker is refused rather than half configured.
_BROKER_KINDS = {
    "filesystem": "filesystem",
    "redis": "redis",
    "rediss": "redis",
    "amqp": "rabbitmq",
    "amqps": "rabbitmq",
    "pyamqp": "rabbitmq",
}
_BROKER_SCHEME = CELERY_BROKER_URL.partition("://")[0].lower()
if _BROKER_SCHEME not in _BROKER_KINDS:
    # The scheme only: the URL may hold a password.
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL: unsupported broker {_BROKER_SCHEME!r}; "
        "use filesystem://, redis://, rediss://, amqp:// or amqps://"
    )
BROKER_KIND = _BROKER_KINDS[_BROKER_SCHEME]
if BROKER_KIND == "filesystem":
    # kombu's filesystem transport: one folder shared by every process; its
    # exchange files bound without a race (see the module).
    CELERY_BROKER_TRANSPORT = "scheduling.filesystem_transport:Transport"
    for folder in ("queue", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
elif BROKER_KIND == "redis":
    # kombu's Redis transport with a workaround for a worker that died when
    # Redis restarted (see the module).
    CELERY_BROKER_TRANSPORT = "scheduling.redis_transport:Transport"
    if _BROKER_SCHEME == "rediss":
        # Naming the transport class skips kombu's rediss:// handling (TLS
        # without certificate checks); verify the server's certificate, as
        # redis-py does for the rate-limit cache's rediss:// URL.
        CELERY_BROKER_USE_SSL = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    # Redis redelivers an unacknowledged (acks_late) message after this many
    # seconds; it must exceed the longest handler run.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        # How often workers look for tasks a dead worker took and never
        # acknowledged (older than the visibility timeout). kombu's defaults
        # make that about every 100 s; here it is this many seconds.
        "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
        "unacked_restore_throttle": 1,
    }
else:
    # RabbitMQ gives an unacknowledged message back as soon as its consumer's
    # connection closes: no visibility timeout. But it closes a channel that
    # holds a delivery unacknowledged longer than its consumer_timeout (30 min
    # by default), and a held message comes back: a handler that runs longer,
    # or a retry whose countdown is longer (the worker holds that message until
    # its ETA), would run again and again. The server's consumer_timeout must
    # exceed both (README.md, "RabbitMQ").
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Publisher confirms: a publish returns once RabbitMQ has the message,
        # or raises, so beat marks an occurrence sent only when it is queued
        # (as a Redis LPUSH does). One round trip per message.
        "confirm_publish": True,
    }
    # That timeout is a channel error (PRECONDITION_FAILED), which by default
    # kills the worker ("Unrecoverable error"); reconnect instead, as after a
    # lost connection: RabbitMQ has already given the held messages back.
    CELERY_BROKER_CHANNEL_ERROR_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ROUTES = {EVENT_TASK_NAME: {"queue": EVENT_QUEUE}}
# A message is acknowledged only after the handler returns, and a worker that
# dies mid-task gives it back: nothing due is lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "scheduling.beat:EventScheduler"
# Task events (received, started, succeeded, ...; "sent" from beat), for
# Flower and celery-exporter. Without a consumer the broker drops them. The
# "sent" event is one more message per publish from beat.
CELERY_WORKER_SEND_TASK_EVENTS = env_bool("CELERY_WORKER_SEND_TASK_EVENTS", True)
CELERY_TASK_SEND_SENT_EVENT = env_bool("CELERY_TASK_SEND_SENT_EVENT", True)
# Logging is Django's (LOGGING below; project/celery.py tells Celery so).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = False

# --- The scheduler --------------------------------------------------------------
# Largest accepted payload, measured as compact UTF-8 JSON.
SCHEDULING_MAX_PAYLOAD_BYTES = env_int("SCHEDULING_MAX_PAYLOAD_BYTES", 64 * 1024)
# Fernet keys that encrypt payloads at rest, comma-separated: the first
# encrypts, every one decrypts (rotate: prepend a new key, run
# ``manage.py rotate_payload_keys``, then drop the old one). Empty: one key
# derived from SECRET_KEY, for the embedded default; production sets keys, or
# changing SECRET_KEY would make every stored payload unreadable.
SCHEDULING_PAYLOAD_KEYS = env_list("SCHEDULING_PAYLOAD_KEYS", [])
# Longest beat sleep when nothing is due: bounds the delay before an event
# inserted while beat sleeps is seen.
SCHEDULING_BEAT_POLL_SECONDS = env_float("SCHEDULING_BEAT_POLL_SECONDS", 0.25)
# PostgreSQL: beat listens for the notices of migration 0013's triggers and
# reads the database only when something can be due. Off (it polls as on
# SQLite) behind a pooler that does not pass LISTEN through, such as
# PgBouncer in transaction mode (there it would wait for each re-check).
SCHEDULING_BEAT_LISTEN = env_bool("SCHEDULING_BEAT_LISTEN", True)
# While listening: the longest beat goes without reading the next firing
# anyway, which bounds the delay of a write whose notice was lost.
SCHEDULING_BEAT_RECHECK_SECONDS = env_float("SCHEDULING_BEAT_RECHECK_SECONDS", 5.0)
# Several beats: one holds a lock (a file on SQLite, an advisory lock on
# PostgreSQL) and runs; the others stand by. Off only for in-process tests.
SCHEDULING_BEAT_LOCK = env_bool("SCHEDULING_BEAT_LOCK", True)
# An occurrence published this long ago and never started is published again
# (its message was lost), but only while the event queue is empty (a message
# waiting in a backlog is not lost); the wait doubles at each republish, up
# to an hour.
SCHEDULING_SENT_REPUBLISH_SECONDS = env_int("SCHEDULING_SENT_REPUBLISH_SECONDS", 120)
# A running occurrence's lease: the worker renews it every third of this
# while the handler runs; a worker gone longer than this (killed, or cut off
# from the database) has its occurrence published again by beat.
SCHEDULING_OCCURRENCE_LEASE_SECONDS = env_int("SCHEDULING_OCCURRENCE_LEASE_SECONDS", 60)
# Where the SQLite beat lock file lives (None: beside the database file).
SCHEDULING_LOCK_DIR: str | None = None
# Due occurrences claimed and published per batch.
SCHEDULING_BEAT_BATCH_SIZE = env_int("SCHEDULING_BEAT_BATCH_SIZE", 500)
# Handler errors: retries with exponential backoff, then the occurrence fails.
SCHEDULING_TASK_MAX_RETRIES = env_int("SCHEDULING_TASK_MAX_RETRIES", 5)
SCHEDULING_RETRY_BACKOFF_SECONDS = env_int("SCHEDULING_RETRY_BACKOFF_SECONDS", 10)
SCHEDULING_RETRY_BACKOFF_MAX_SECONDS = env_int("SCHEDULING_RETRY_BACKOFF_MAX_SECONDS", 600)
# Misfire grace per event type, in seconds (None: always run however late);
# types not named keep the grace their declaration gives (scheduling.event_type).
SCHEDULING_MISFIRE_GRACE_SECONDS: dict[str, int | None] = {}
# How many occurrences of each recurring event get_upcoming_events expands.
SCHEDULING_UPCOMING_MAX_PER_EVENT = env_int("SCHEDULING_UPCOMING_MAX_PER_EVENT", 100)
# Recurring events' missed slots (docs/api.md, "Controls"): catch_up="each"
# runs at most this many; catch_up="skip" counts a slot this late as missed.
SCHEDULING_CATCH_UP_MAX_SLOTS = env_int("SCHEDULING_CATCH_UP_MAX_SLOTS", 24)
SCHEDULING_CATCH_UP_ON_TIME_SECONDS = env_int("SCHEDULING_CATCH_UP_ON_TIME_SECONDS", 60)
# Beat records that it ticks (a BeatHeartbeat row) at most this often: one
# upsert every few seconds rather than one per tick.
SCHEDULING_BEAT_HEARTBEAT_SECONDS = env_float("SCHEDULING_BEAT_HEARTBEAT_SECONDS", 5.0)
# GET /health reports beat down when the leader's last recorded tick is older.
SCHEDULING_HEALTH_MAX_BEAT_AGE_SECONDS = env_float("SCHEDULING_HEALTH_MAX_BEAT_AGE_SECONDS", 60.0)
# GET /health: each of its database checks gives up after this many seconds
# on an open connection (a new one is bounded by DATABASE_CONNECT_TIMEOUT).
SCHEDULING_HEALTH_DATABASE_TIMEOUT_SECONDS = env_float(
    "SCHEDULING_HEALTH_DATABASE_TIMEOUT_SECONDS", 2.0
)
if SCHEDULING_BEAT_HEARTBEAT_SECONDS >= SCHEDULING_HEALTH_MAX_BEAT_AGE_SECONDS:
    # A live beat would then look dead between two heartbeats.
    raise ImproperlyConfigured(
        "SCHEDULING_BEAT_HEARTBEAT_SECONDS must be below SCHEDULING_HEALTH_MAX_BEAT_AGE_SECONDS"
    )

# --- Metrics (GET /metrics, docs/operations.md) ----------------------------------
# A bearer token that may read the metrics (a Prometheus scrape); without it,
# only signed-in staff users may.
SCHEDULING_METRICS_TOKEN = env_str("SCHEDULING_METRICS_TOKEN", "")
# Events by status other than "scheduled" are a full table count: read at
# most this often per web process ("scheduled" is read at every scrape).
SCHEDULING_METRICS_STATUS_COUNT_SECONDS = env_float("SCHEDULING_METRICS_STATUS_COUNT_SECONDS", 60.0)
# The due backlog is counted up to this many events (a range of event_due_idx).
SCHEDULING_METRICS_COUNT_LIMIT = 100_000

# --- The HTTP API (scheduling.api) ----------------------------------------------
# Units each API key may spend per window: a request costs 1, a bulk request
# 1 per event. Over budget: 429 with Retry-After, and nothing written.
SCHEDULING_API_RATE_LIMIT = env_int("SCHEDULING_API_RATE_LIMIT", 1200)
# The cache alias (CACHES below) that counts them.
SCHEDULING_API_RATE_CACHE = "ratelimit"
SCHEDULING_API_RATE_WINDOW_SECONDS = env_int("SCHEDULING_API_RATE_WINDOW_SECONDS", 60)
# An API request whose database work is not done after this many seconds has
# its connection cut and answers 503 (a silent database). Above
# DATABASE_STATEMENT_TIMEOUT (PostgreSQL cancels a slow statement first) and,
# with DATABASE_CONNECT_TIMEOUT added, below gunicorn's 30 s worker timeout.
SCHEDULING_API_DATABASE_TIMEOUT_SECONDS = env_float("SCHEDULING_API_DATABASE_TIMEOUT_SECONDS", 10.0)
# Most events in one bulk request (more: 413).
SCHEDULING_API_BULK_MAX_EVENTS = env_int("SCHEDULING_API_BULK_MAX_EVENTS", 500)
# Largest request body (more: 413); room for a full bulk request.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("SCHEDULING_API_MAX_BODY_BYTES", 4 * 1024 * 1024)
# Rate-limit counters: in Redis (one count across every web process): that of
# RATE_LIMIT_REDIS_URL, else the broker's when the broker is Redis; otherwise
# (the embedded default, or RabbitMQ without RATE_LIMIT_REDIS_URL) in each
# process's memory, which `manage.py check --deploy` warns about.
_RATE_LIMIT_REDIS_URL = env_str(
    "RATE_LIMIT_REDIS_URL", CELERY_BROKER_URL if BROKER_KIND == "redis" else ""
)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ratelimit": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _RATE_LIMIT_REDIS_URL,
            # A silent Redis fails the request (503) after this long instead
            # of hanging it: a counter round trip takes well under a millisecond.
            "OPTIONS": {
                "socket_connect_timeout": env_float("RATE_LIMIT_REDIS_TIMEOUT", 1.0),
                "socket_timeout": env_float("RATE_LIMIT_REDIS_TIMEOUT", 1.0),
            },
        }
        if _RATE_LIMIT_REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ratelimit"}
    ),
}

# plain: "time LEVEL logger: message"; json: one object per line with time,
# level, logger, message and the event and occurrence ids when known
# (scheduling.logs). The same for web, worker and beat: Celery is told to
# leave logging to Django (project/celery.py).
LOG_FORMAT = env_str("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "scheduling.logs.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "scheduling.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        },
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # On the filesystem broker (no host in its URL) kombu warns "No
        # hostname was supplied" for every connection it makes; its only other
        # warning (rediss:// without TLS options) cannot happen here.
        "kombu.connection": {"level": "ERROR"},
    },
}
