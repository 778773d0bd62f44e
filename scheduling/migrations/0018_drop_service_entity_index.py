"""One index fewer per event written and per firing claimed: ``(service_id, entity_id)``.

``entity_id`` has an index of its own (0014), and an entity's ids are its
service's: the few events of one entity that another service might share
are filtered out after that index finds them. Every claim rewrites its event
(a non-HOT update, an entry in every index of the row) and every event
scheduled inserts one, so the pair was write work that no read needed.

A plain ``DROP INDEX``: quick, but it waits for the queries already reading
the table and holds new ones back meanwhile; run it in a quiet moment.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0017_audit_actor_index"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="scheduledevent", name="event_service_entity_idx"),
    ]
