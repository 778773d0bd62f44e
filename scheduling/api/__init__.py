"""The HTTP API for services outside this Django project.

The contract of the original scheduler service: ``POST /api/events/schedule``,
``POST /api/events/bulk``, ``DELETE /api/events/{id}``,
``GET /api/events/upcoming``, described by ``GET /api/openapi.json``. Each
call names its service (``X-Service-Name``) and proves it with that service's
key (``X-API-Key``); the views are thin: they parse, authorise and call the
same services and selectors as in-process callers.
"""
