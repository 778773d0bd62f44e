#!/bin/sh
# Set everything up and run web + worker + beat (the Procfile) on the embedded
# default: SQLite and the filesystem broker under var/. Ctrl-C stops all three.
. "$(dirname "$0")/venv.sh"
python manage.py migrate --noinput
python manage.py collectstatic --noinput --verbosity 0
exec honcho start --procfile Procfile --port "${PORT:-8000}"
