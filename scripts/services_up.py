"""Exit 0 if the PostgreSQL and Redis URLs given as arguments both answer."""

from __future__ import annotations

import sys

import dj_database_url
import psycopg
import redis


def main(pg_url: str, redis_url: str) -> int:
    db = dj_database_url.parse(pg_url)
    try:
        psycopg.connect(
            host=db["HOST"],
            port=db["PORT"] or 5432,
            user=db["USER"],
            dbname=db["NAME"],
            password=db["PASSWORD"] or None,
            connect_timeout=3,
        ).close()
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not up"
        print(f"services_up: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
