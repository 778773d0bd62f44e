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
exec honcho start --procfile Procfile --port "${PORT:-8000}"
