"""Exit 0 if every server named by the URLs given as arguments answers.

    python scripts/services_up.py postgres://... redis://... amqp://...

PostgreSQL (``postgres://``), Redis (``redis://``) and RabbitMQ (``amqp://``,
with its vhost: a missing vhost or permission counts as down).
"""

from __future__ import annotations

import sys

import dj_database_url
import psycopg
import redis
from kombu import Connection

TIMEOUT_SECONDS = 3


def check_postgres(url: str) -> None:
    db = dj_database_url.parse(url)
    psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname=db["NAME"],
        password=db["PASSWORD"] or None,
        connect_timeout=TIMEOUT_SECONDS,
    ).close()


def check_redis(url: str) -> None:
    redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS).ping()


def check_rabbitmq(url: str) -> None:
    with Connection(url, connect_timeout=TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0)


CHECKS = {
    "postgres": check_postgres,
    "postgresql": check_postgres,
    "redis": check_redis,
    "amqp": check_rabbitmq,
}


def main(urls: list[str]) -> int:
    for url in urls:
        scheme = url.partition("://")[0]
        try:
            CHECKS[scheme](url)
        except Exception as exc:  # noqa: BLE001 - any failure means "not up"
            print(f"services_up: {scheme}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
