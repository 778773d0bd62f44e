"""The backend's event types: importing a module declares its type (``scheduling.event_type``).

Found by the engine's autodiscovery when Django starts, as admin modules are.
"""

from __future__ import annotations

from handlers import (  # noqa: F401 - imported for their declarations
    appointment_follow_up,
    appointment_reminder,
    business_rule,
    report_generation,
)
