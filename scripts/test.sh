#!/bin/sh
# Set everything up and run the whole test suite: lint, format check, the
# suite on the embedded default (SQLite + filesystem broker), short chaos runs
# (scripts/chaos.py; docs/reliability.md), the suite again on PostgreSQL +
# Redis, then the end-to-end tests on PostgreSQL + RabbitMQ. With
# REQUIRE_SERVICES=1 (CI) a missing PostgreSQL, Redis or RabbitMQ is a
# failure; otherwise that pass is skipped, loudly.
. "$(dirname "$0")/venv.sh"
ruff check .
ruff format --check .
mypy
# The whole suite on the embedded default, but for two tests that need no
# second run: the HTTP fuzzer (a minute; it runs on PostgreSQL below, where the
# database refuses more) and the Redis restart (its own redis-server; below).
python -m pytest -k "not fuzzing" --deselect tests/e2e/test_redis_restart.py "$@"

# Short chaos runs of every fault kind, each fault 3 s (docs/reliability.md).
# Each uses stores of its own, apart from the suite's: a chaos_ci_* PostgreSQL
# database, a private redis-server on a free port, a chaos_ci_rabbit RabbitMQ
# vhost, files under var/chaos-ci*.
CHAOS_SHORT="--fault-seconds 3 --gap 8 --lease 10 --sent-republish 15 --kill-every 4"
# The embedded default: workers killed mid-handler, a backlog, random kills.
# shellcheck disable=SC2086
python scripts/chaos.py --database sqlite --broker filesystem --fault worker-kill \
    $CHAOS_SHORT --events 40 --window 10 --backlog 60 --settle-timeout 90 --name ci-sqlite

PG_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
# Rate-limit counters in Redis too, as in production (another database number).
RATE_LIMIT_URL=${TEST_RATE_LIMIT_REDIS_URL:-redis://127.0.0.1:6379/14}
if python scripts/services_up.py "$PG_URL" "$REDIS_URL"; then
    # PostgreSQL + Redis: every fault kind (broker killed, database refused and
    # black-holed, workers killed mid-handler), a backlog, random kills.
    TEST_POSTGRES_URL=$PG_URL python scripts/chaos.py --database postgres --broker redis \
        --fault all $CHAOS_SHORT --events 150 --window 20 --backlog 200 --settle-timeout 120 \
        --name ci_redis
    # PostgreSQL + RabbitMQ (when a RabbitMQ server and rabbitmqctl are here):
    # the broker refused at a fault proxy, workers killed mid-handler.
    if command -v rabbitmqctl >/dev/null && rabbitmqctl -q status >/dev/null 2>&1; then
        TEST_POSTGRES_URL=$PG_URL python scripts/chaos.py --database postgres --broker rabbitmq \
            --fault broker-kill --fault worker-kill $CHAOS_SHORT --events 60 --window 10 \
            --settle-timeout 90 --name ci_rabbit
    else
        echo "!!! chaos run on PostgreSQL + RabbitMQ NOT RUN: no RabbitMQ server !!!" >&2
    fi
    # Again on PostgreSQL + Redis, but for what no database or broker changes:
    # the pure time rules (their property tests) and the admin's pages (their
    # writes are the services', tested here; the dashboard's reads are kept).
    DATABASE_URL=$PG_URL CELERY_BROKER_URL=$REDIS_URL RATE_LIMIT_REDIS_URL=$RATE_LIMIT_URL \
        python -m pytest --ignore tests/scheduling/test_recurrence_properties.py \
        --ignore tests/scheduling/test_recurrence.py --ignore tests/admin/test_browser.py \
        --ignore tests/e2e/test_admin_browser.py --ignore tests/admin/test_admin.py \
        --ignore tests/admin/test_admin_audit.py --ignore tests/admin/test_access_admin.py \
        --ignore tests/admin/test_event_admin.py --ignore tests/admin/test_dashboard_browser.py \
        "$@"
elif [ "${REQUIRE_SERVICES:-0}" = "1" ]; then
    echo "PostgreSQL or Redis unreachable and REQUIRE_SERVICES=1" >&2
    exit 1
else
    echo "!!! PostgreSQL + Redis pass NOT RUN: services unreachable (see above) !!!" >&2
fi

# RabbitMQ, in a vhost of its own (the tests purge their queues), made here
# when rabbitmqctl can (it needs root or the rabbitmq user); otherwise
# TEST_RABBITMQ_URL names one that exists. The end-to-end tests only, and of
# them neither the HTTP API fuzzer (minutes on PostgreSQL; it tests the API,
# not the broker) nor the Redis restart test (its own redis-server): both ran
# above.
RABBITMQ_URL=${TEST_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/scheduler_test}
RABBITMQ_VHOST=${RABBITMQ_URL##*/}
RABBITMQ_USER=${RABBITMQ_URL#*://}
RABBITMQ_USER=${RABBITMQ_USER%%[:@]*}
if command -v rabbitmqctl >/dev/null 2>&1 && [ -n "$RABBITMQ_VHOST" ]; then
    rabbitmqctl -q add_vhost "$RABBITMQ_VHOST" >/dev/null 2>&1 &&
        rabbitmqctl -q set_permissions -p "$RABBITMQ_VHOST" "$RABBITMQ_USER" '.*' '.*' '.*' \
            >/dev/null 2>&1 || echo "rabbitmqctl could not make vhost $RABBITMQ_VHOST" >&2
fi
if python scripts/services_up.py "$PG_URL" "$RABBITMQ_URL"; then
    DATABASE_URL=$PG_URL CELERY_BROKER_URL=$RABBITMQ_URL python -m pytest \
        tests/e2e/test_end_to_end.py tests/e2e/test_dead_worker.py tests/e2e/test_failover.py \
        tests/e2e/test_health.py tests/e2e/test_guide_payloads.py
elif [ "${REQUIRE_SERVICES:-0}" = "1" ]; then
    echo "PostgreSQL or RabbitMQ unreachable and REQUIRE_SERVICES=1" >&2
    exit 1
else
    echo "!!! PostgreSQL + RabbitMQ pass NOT RUN: services unreachable (see above) !!!" >&2
fi
