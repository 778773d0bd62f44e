"""The engine's admin, one module per area: events and their history, beat's rows,
API keys and the audit log. Importing the package registers them all.
"""

from scheduling.admin import access, beat, events  # noqa: F401 - they register
