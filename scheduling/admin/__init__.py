"""The engine's admin, one module per area: events and their history, beat's rows,
API keys and the audit log, the operations dashboard. Importing the package registers
them all.
"""

from scheduling.admin import access, beat, dashboard, events  # noqa: F401 - they register
