"""Admin pages whose every write is in the audit log, as the signed-in user.

``AuditActorMiddleware`` makes the user the actor of the request; this
records what the admin's generic views write themselves (the change form,
deletion, bulk deletion), which no service sees. Each entry is written in
the transaction of its change: the admin's add, change and delete views run
in one already; bulk deletion gets one here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import router, transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from scheduling import audit
from scheduling.models import AuditAction


class AuditedAdmin(admin.ModelAdmin):
    """A ModelAdmin that audits its saves and deletions (names of fields, never values)."""

    audit_add: AuditAction
    audit_change: AuditAction
    audit_delete: AuditAction
    # The field an entry names as its target (an event's id, a key's prefix).
    audit_target_field = "pk"

    def audit_target(self, obj: Any) -> object:
        return getattr(obj, self.audit_target_field)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with self._atomic():
            super().save_model(request, obj, form, change)
            audit.record(
                self.audit_change if change else self.audit_add,
                self.audit_target(obj),
                via="admin",
                fields=sorted(form.changed_data),
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        target = self.audit_target(obj)  # before the row, and maybe its pk, is gone
        with self._atomic():
            super().delete_model(request, obj)
            audit.record(self.audit_delete, target, via="admin")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # The changelist's "delete selected" runs outside any transaction.
        with self._atomic():
            # Values, not instances: an event's payload is not decrypted for this.
            targets = list(queryset.values_list(self.audit_target_field, flat=True))
            super().delete_queryset(request, queryset)
            audit.record_many(
                self.audit_delete, ((target, {"via": "admin", "bulk": True}) for target in targets)
            )

    def _atomic(self) -> Any:
        model: type[Model] = self.model
        return transaction.atomic(using=router.db_for_write(model))
