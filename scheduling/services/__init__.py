"""Every write of the scheduling domain.

- ``events``: schedule, cancel, reschedule (the public API);
- ``occurrences``: beat's claims, the worker's run states, retention;
- ``beat_rows``: the django-celery-beat rows that mirror events;
- ``sync``: follow admin edits of those rows back to the events;
- ``heartbeats``: beat's record that it ticks (read by ``GET /health``).
"""
