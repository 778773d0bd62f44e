#!/bin/sh
# Set everything up and run the whole test suite: lint, format check, the
# suite on the embedded default (SQLite + filesystem broker), then the suite
# again on PostgreSQL + Redis. With REQUIRE_SERVICES=1 (CI) a missing
# PostgreSQL or Redis is a failure; otherwise that pass is skipped, loudly.
. "$(dirname "$0")/venv.sh"
ruff check .
ruff format --check .
python -m pytest "$@"

PG_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
# Rate-limit counters in Redis too, as in production (another database number).
RATE_LIMIT_URL=${TEST_RATE_LIMIT_REDIS_URL:-redis://127.0.0.1:6379/14}
if python scripts/services_up.py "$PG_URL" "$REDIS_URL"; then
    # The short chaos run: 2 beats + 2 workers SIGKILLed at random (scripts/chaos.py).
    TEST_POSTGRES_URL=$PG_URL TEST_REDIS_URL=$REDIS_URL python scripts/chaos.py \
        --events 300 --window 40 --kill-every 3 --settle-timeout 120 --workdir var/chaos-ci
    DATABASE_URL=$PG_URL CELERY_BROKER_URL=$REDIS_URL RATE_LIMIT_REDIS_URL=$RATE_LIMIT_URL \
        python -m pytest "$@"
elif [ "${REQUIRE_SERVICES:-0}" = "1" ]; then
    echo "PostgreSQL or Redis unreachable and REQUIRE_SERVICES=1" >&2
    exit 1
else
    echo "!!! PostgreSQL + Redis pass NOT RUN: services unreachable (see above) !!!" >&2
fi
