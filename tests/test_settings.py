"""Deployment defaults: DEBUG off, no secret in the repository."""

from __future__ import annotations

import ast
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from project.env import secret_from_file

ROOT = Path(__file__).resolve().parents[1]


def settings_in_child(expression: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Evaluate ``expression`` on project.settings in a fresh interpreter with ``env``."""
    inherited = {"RATE_LIMIT_REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL"}
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k not in inherited
    }
    return subprocess.run(
        [sys.executable, "-c", f"from project import settings; print({expression})"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_is_off_unless_asked_for() -> None:
    assert settings_in_child("settings.DEBUG").stdout.strip() == "False"
    assert settings_in_child("settings.DEBUG", DJANGO_DEBUG="1").stdout.strip() == "True"


def test_production_refuses_to_start_without_a_secret_key() -> None:
    child = settings_in_child("settings.SECRET_KEY", DJANGO_REQUIRE_SECRET_KEY="1")

    assert child.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in child.stderr


def test_the_embedded_key_is_random_private_and_shared_by_the_checkouts_processes(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "secret_key"
    first = settings_in_child("settings.SECRET_KEY", DJANGO_SECRET_KEY_FILE=str(key_file))
    second = settings_in_child("settings.SECRET_KEY", DJANGO_SECRET_KEY_FILE=str(key_file))
    elsewhere = settings_in_child(
        "settings.SECRET_KEY", DJANGO_SECRET_KEY_FILE=str(tmp_path / "other")
    )

    assert first.stdout == second.stdout != elsewhere.stdout
    assert len(first.stdout.strip()) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_the_embedded_key_file_is_never_committed() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", "var/secret_key"], cwd=ROOT, check=False)
    assert ignored.returncode == 0


@pytest.mark.parametrize("attempt", range(3))
def test_processes_starting_together_agree_on_one_key(tmp_path: Path, attempt: int) -> None:
    key_file = tmp_path / "secret_key"
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: secret_from_file(key_file), range(16)))

    assert len(keys) == 1
    assert list(tmp_path.iterdir()) == [key_file]  # no drafts left behind


def test_rate_limits_are_counted_in_the_brokers_redis_unless_told_otherwise() -> None:
    backend = (
        "settings.CACHES['ratelimit']['BACKEND'], settings.CACHES['ratelimit'].get('LOCATION')"
    )
    broker = "redis://127.0.0.1:6379/3"

    embedded = settings_in_child(backend, CELERY_BROKER_URL="filesystem://")
    on_redis = settings_in_child(backend, CELERY_BROKER_URL=broker)
    elsewhere = settings_in_child(
        backend, CELERY_BROKER_URL=broker, RATE_LIMIT_REDIS_URL="redis://10.0.0.9:6379/1"
    )

    assert "LocMemCache" in embedded.stdout
    assert f"RedisCache {broker}" in on_redis.stdout
    assert "redis://10.0.0.9:6379/1" in elsewhere.stdout


def test_postgresql_connects_give_up_after_a_bound() -> None:
    options = "settings.DATABASES['default']['OPTIONS']"
    url = "postgres://u@db.invalid:5432/x"

    default = settings_in_child(options, DATABASE_URL=url)
    chosen = settings_in_child(options, DATABASE_URL=f"{url}?connect_timeout=2")

    assert "'connect_timeout': 5" in default.stdout
    assert "'connect_timeout': '2'" in chosen.stdout or "'connect_timeout': 2" in chosen.stdout


def postgres_options(statement: str = "", **env: str) -> dict[str, object]:
    """The OPTIONS of the default database in a fresh interpreter, after ``statement``."""
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{statement}\nfrom django.conf import settings\n"
            "print(repr(settings.DATABASES['default']['OPTIONS']),"
            " settings.DATABASES['default']['CONN_HEALTH_CHECKS'])",
        ],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DJANGO_"))},
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DATABASE_URL": "postgres://u@db.invalid:5432/x",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    options, health_checks = child.stdout.strip().rsplit(" ", 1)
    assert health_checks == "True"  # a reused connection is checked first
    return ast.literal_eval(options)


def test_every_process_drops_a_postgresql_connection_whose_peer_vanished() -> None:
    options = postgres_options("import django; django.setup()")

    assert options["keepalives"] == 1
    assert (options["keepalives_idle"], options["keepalives_interval"]) == (5, 2)
    assert options["keepalives_count"] == 3
    assert options["tcp_user_timeout"] == 10_000  # milliseconds, for libpq
    # Worker, beat and manage.py: long statements (migrations, clean-ups) run.
    assert "options" not in options


def test_the_web_process_bounds_its_statements_by_default() -> None:
    web = postgres_options("import project.wsgi")
    chosen = postgres_options(
        "import project.wsgi",
        DATABASE_STATEMENT_TIMEOUT="30",
        DATABASE_URL="postgres://u@db.invalid:5432/x?options=-c%20lock_timeout%3D2000",
    )
    off = postgres_options("import project.wsgi", DATABASE_STATEMENT_TIMEOUT="0")

    assert web["options"] == "-c statement_timeout=5000"
    assert chosen["options"] == "-c lock_timeout=2000 -c statement_timeout=30000"
    assert "options" not in off


def test_postgresql_timeouts_come_from_the_environment() -> None:
    options = postgres_options(
        "import django; django.setup()",
        DATABASE_KEEPALIVES_IDLE="30",
        DATABASE_TCP_USER_TIMEOUT="2.5",
        DATABASE_STATEMENT_TIMEOUT="0.5",
    )

    assert options["keepalives_idle"] == 30
    assert options["tcp_user_timeout"] == 2500
    assert options["options"] == "-c statement_timeout=500"


def test_rate_limit_redis_calls_are_bounded() -> None:
    child = settings_in_child(
        "settings.CACHES['ratelimit']['OPTIONS']", RATE_LIMIT_REDIS_URL="redis://10.0.0.9:6379/1"
    )

    assert child.stdout.strip() == "{'socket_connect_timeout': 1.0, 'socket_timeout': 1.0}"


@pytest.mark.django_db
def test_keepalives_and_tcp_user_timeout_never_cut_a_long_statement() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    url = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    # The tightest settings: a live server working on a statement answers the
    # probes and acknowledges, so a 3 s statement outlives 1 s timeouts.
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.db import connection\n"
            "connection.cursor().execute('SELECT pg_sleep(3)'); print('done')",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DATABASE_URL": url,
            "DATABASE_TCP_USER_TIMEOUT": "1",
            "DATABASE_KEEPALIVES_IDLE": "1",
            "DATABASE_KEEPALIVES_INTERVAL": "1",
            "DATABASE_KEEPALIVES_COUNT": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert child.stdout.strip() == "done", child.stderr


def test_redis_brokers_use_the_transport_that_survives_a_restart() -> None:
    transport = "settings.CELERY_BROKER_TRANSPORT, getattr(settings, 'CELERY_BROKER_USE_SSL', None)"

    plain = settings_in_child(transport, CELERY_BROKER_URL="redis://127.0.0.1:6379/3")
    tls = settings_in_child(transport, CELERY_BROKER_URL="rediss://redis.internal:6380/0")

    assert plain.stdout.strip() == "scheduling.redis_transport:Transport None"
    # kombu's own rediss:// default (no certificate check) is not what we get.
    assert tls.stdout.strip() == (
        "scheduling.redis_transport:Transport {'ssl_cert_reqs': <VerifyMode.CERT_REQUIRED: 2>}"
    )


def test_each_broker_gets_its_own_transport_options() -> None:
    options = "sorted(settings.CELERY_BROKER_TRANSPORT_OPTIONS)"

    redis = settings_in_child(options, CELERY_BROKER_URL="redis://127.0.0.1:6379/3")
    rabbitmq = settings_in_child(options, CELERY_BROKER_URL="amqp://u:pw@mq.internal:5672/sched")

    assert "visibility_timeout" in redis.stdout
    assert rabbitmq.stdout.strip() == "['confirm_publish']"


def test_on_rabbitmq_a_consumer_timeout_reconnects_instead_of_killing_the_worker() -> None:
    child = settings_in_child(
        "settings.CELERY_BROKER_CHANNEL_ERROR_RETRY, settings.CACHES['ratelimit']['BACKEND']",
        CELERY_BROKER_URL="amqps://u:pw@mq.internal:5671/sched",
    )

    assert child.stdout.split() == ["True", "django.core.cache.backends.locmem.LocMemCache"]


def test_an_unsupported_broker_is_refused_without_showing_its_url() -> None:
    child = settings_in_child("1", CELERY_BROKER_URL="sqs://key:s3cret@region/")

    assert child.returncode != 0
    assert "unsupported broker 'sqs'" in child.stderr
    assert "s3cret" not in child.stderr
