from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# The web process answers people and load balancers: PostgreSQL cancels its
# statements after 5 s unless DATABASE_STATEMENT_TIMEOUT says otherwise.
# Worker, beat and manage.py (migrations, bulk clean-ups) have no limit by
# default: their long statements are legitimate. Read by project.settings,
# so set before the application (and the settings) load.
os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT", "5")

application = get_wsgi_application()
