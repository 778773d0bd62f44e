#!/bin/sh
# Set everything up and run web + worker + beat (the Procfile) on the embedded
# default: SQLite and the filesystem broker under var/. Ctrl-C stops all three.
. "$(dirname "$0")/venv.sh"
python manage.py migrate --noinput
python manage.py collectstatic --noinput --verbosity 0
python manage.py setup_system_events
# Demo data (DEMO=0 to skip): an admin user (admin/admin unless DEMO_ADMIN_USERNAME
# and DEMO_ADMIN_PASSWORD say otherwise) and appointments whose first reminder
# e-mails appear in the worker's output about a minute after start.
if [ "${DEMO:-1}" = "1" ]; then
    python manage.py demo
fi
# The metrics files of a previous run (docs/operations.md): emptied before
# any of the three processes starts, so none loses the files it opened.
rm -rf -- "${PROMETHEUS_MULTIPROC_DIR:-${VAR_DIR:-var}/metrics}"
exec honcho start --procfile Procfile --port "${PORT:-8000}"
