#!/bin/sh
# Set everything up and run the whole test suite: lint, format check and
# types, then two streams at the same time:
# - the embedded default: the suite on SQLite + the filesystem broker, then
#   short chaos runs (scripts/chaos.py; docs/reliability.md) side by side:
#   on it, of every fault kind on PostgreSQL + Redis, and on PostgreSQL +
#   RabbitMQ;
# - the servers: the suite again on PostgreSQL + Redis, then the broker's
#   end-to-end tests on PostgreSQL + RabbitMQ.
# Most of each stream's time is spent waiting on the processes its tests
# start (worker, beat, gunicorn, Chromium, the servers), so on 2 cores the two
# together take about as long as the longer one alone. They share no store:
# the servers' suite has its own VAR_DIR (metrics files, mail) and pytest
# folder, each chaos run its own database, redis-server, vhost and files. The
# servers' stream writes to var/test-servers.log, shown when both are done.
# With REQUIRE_SERVICES=1 (CI) a missing PostgreSQL, Redis or RabbitMQ is a
# failure; otherwise that part is skipped, loudly.
. "$(dirname "$0")/venv.sh"
ruff check .
ruff format --check .
mypy

# Each fault 3 s (docs/reliability.md).
CHAOS_SHORT="--fault-seconds 3 --gap 8 --lease 10 --sent-republish 15 --kill-every 4"
PG_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
# Rate-limit counters in Redis too, as in production (another database number).
RATE_LIMIT_URL=${TEST_RATE_LIMIT_REDIS_URL:-redis://127.0.0.1:6379/14}
# RabbitMQ, in a vhost of its own (the tests purge their queues), made below
# when rabbitmqctl can (it needs root or the rabbitmq user); otherwise
# TEST_RABBITMQ_URL names one that exists.
RABBITMQ_URL=${TEST_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/scheduler_test}
# The end-to-end tests of what a broker carries (firings, a dead worker,
# failover, health, the guide's payloads): on SQLite + the filesystem broker,
# then on PostgreSQL + RabbitMQ.
BROKER_E2E="tests/e2e/test_end_to_end.py tests/e2e/test_dead_worker.py tests/e2e/test_failover.py
    tests/e2e/test_health.py tests/e2e/test_guide_payloads.py"
NOT_BROKER_E2E=""
for test in $BROKER_E2E; do
    NOT_BROKER_E2E="$NOT_BROKER_E2E --ignore $test"
done

embedded_stream() {
    # The whole suite, but for two tests that need no second run: the HTTP
    # fuzzer (minutes; it runs on PostgreSQL, where the database refuses
    # more) and the Redis restart (its own redis-server): the servers' suite
    # runs both.
    python -m pytest --basetemp var/pytest-embedded -k "not fuzzing" \
        --deselect tests/e2e/test_redis_restart.py "$@"
    # Three chaos runs side by side (each mostly waits out its faults), here
    # rather than in the servers' stream, which is longer:
    # - SQLite: workers killed mid-handler, a backlog, random kills;
    # - PostgreSQL + Redis: every fault kind (broker killed, database refused
    #   and black-holed, workers killed mid-handler), a backlog (in batches of
    #   25: published behind the claims), random kills;
    # - PostgreSQL + RabbitMQ (when rabbitmqctl is here: the run makes a vhost
    #   of its own): the broker refused at a fault proxy, workers killed.
    # The servers' stream says it if the servers are unreachable.
    redis_chaos=""
    rabbit_chaos=""
    if python scripts/services_up.py "$PG_URL" "$REDIS_URL"; then
        # shellcheck disable=SC2086
        TEST_POSTGRES_URL=$PG_URL python scripts/chaos.py --database postgres --broker redis \
            --fault all $CHAOS_SHORT --events 150 --window 20 --backlog 200 --beat-batch 25 \
            --settle-timeout 120 --name ci_redis >var/chaos-ci-redis.log 2>&1 &
        redis_chaos=$!
        if command -v rabbitmqctl >/dev/null && rabbitmqctl -q status >/dev/null 2>&1; then
            # shellcheck disable=SC2086
            TEST_POSTGRES_URL=$PG_URL python scripts/chaos.py --database postgres \
                --broker rabbitmq --fault broker-kill --fault worker-kill $CHAOS_SHORT \
                --events 60 --window 10 --settle-timeout 90 --name ci_rabbit \
                >var/chaos-ci-rabbit.log 2>&1 &
            rabbit_chaos=$!
        else
            echo "!!! chaos run on PostgreSQL + RabbitMQ NOT RUN: no rabbitmqctl !!!" >&2
        fi
    fi
    # shellcheck disable=SC2086
    python scripts/chaos.py --database sqlite --broker filesystem --fault worker-kill \
        $CHAOS_SHORT --events 40 --window 10 --backlog 60 --settle-timeout 90 --name ci-sqlite
    status=0
    if [ -n "$redis_chaos" ]; then
        wait "$redis_chaos" || status=$?
        cat var/chaos-ci-redis.log
    fi
    if [ -n "$rabbit_chaos" ]; then
        wait "$rabbit_chaos" || status=$?
        cat var/chaos-ci-rabbit.log
    fi
    return "$status"
}

servers_stream() {
    if python scripts/services_up.py "$PG_URL" "$REDIS_URL"; then
        # The suite again, but for what no database or broker changes: the
        # pure time rules (their property tests) and the admin's pages (their
        # writes are the services', tested here; the dashboard's reads are
        # kept); nor the broker's end-to-end tests, which run on PostgreSQL
        # with RabbitMQ below (Redis as the broker is the chaos run's, under
        # every fault, and the Redis restart's, the HTTP API's and the
        # metrics' end-to-end tests here).
        # The HTTP fuzzer at 5 examples an operation (FUZZ_EXAMPLES: its time
        # is hypothesis making requests, the costliest test here).
        # shellcheck disable=SC2086
        FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-5} VAR_DIR="$PWD/var/test-servers" DATABASE_URL=$PG_URL \
            CELERY_BROKER_URL=$REDIS_URL RATE_LIMIT_REDIS_URL=$RATE_LIMIT_URL \
            python -m pytest --basetemp var/pytest-servers \
            --ignore tests/scheduling/test_recurrence_properties.py \
            --ignore tests/scheduling/test_recurrence.py --ignore tests/admin/test_browser.py \
            --ignore tests/e2e/test_admin_browser.py --ignore tests/admin/test_admin.py \
            --ignore tests/admin/test_admin_audit.py --ignore tests/admin/test_access_admin.py \
            --ignore tests/admin/test_event_admin.py --ignore tests/admin/test_dashboard_browser.py \
            $NOT_BROKER_E2E "$@"
    elif [ "${REQUIRE_SERVICES:-0}" = "1" ]; then
        echo "PostgreSQL or Redis unreachable and REQUIRE_SERVICES=1" >&2
        return 1
    else
        echo "!!! PostgreSQL + Redis pass NOT RUN: services unreachable (see above) !!!" >&2
    fi

    vhost=${RABBITMQ_URL##*/}
    user=${RABBITMQ_URL#*://}
    user=${user%%[:@]*}
    if command -v rabbitmqctl >/dev/null 2>&1 && [ -n "$vhost" ]; then
        rabbitmqctl -q add_vhost "$vhost" >/dev/null 2>&1 &&
            rabbitmqctl -q set_permissions -p "$vhost" "$user" '.*' '.*' '.*' \
                >/dev/null 2>&1 || echo "rabbitmqctl could not make vhost $vhost" >&2
    fi
    if python scripts/services_up.py "$PG_URL" "$RABBITMQ_URL"; then
        # The broker's end-to-end tests (not the HTTP API's nor the Redis
        # restart's: they ran above).
        # shellcheck disable=SC2086
        VAR_DIR="$PWD/var/test-servers" DATABASE_URL=$PG_URL CELERY_BROKER_URL=$RABBITMQ_URL \
            python -m pytest --basetemp var/pytest-servers $BROKER_E2E
    elif [ "${REQUIRE_SERVICES:-0}" = "1" ]; then
        echo "PostgreSQL or RabbitMQ unreachable and REQUIRE_SERVICES=1" >&2
        return 1
    else
        echo "!!! PostgreSQL + RabbitMQ pass NOT RUN: services unreachable (see above) !!!" >&2
    fi
}

mkdir -p var
# Each stream in a subshell of its own, where set -e stops it at its first failure.
(servers_stream "$@") >var/test-servers.log 2>&1 &
servers=$!
(embedded_stream "$@") &
embedded=$!
# Background jobs ignore Ctrl-C in a script: pass it on.
trap 'kill "$servers" "$embedded" 2>/dev/null; exit 130' INT TERM
embedded_status=0
wait "$embedded" || embedded_status=$?
servers_status=0
wait "$servers" || servers_status=$?
trap - INT TERM
echo "===== PostgreSQL + Redis, PostgreSQL + RabbitMQ (var/test-servers.log) ====="
cat var/test-servers.log
echo "===== embedded default: exit $embedded_status; servers: exit $servers_status ====="
[ "$embedded_status" -eq 0 ] && [ "$servers_status" -eq 0 ]
