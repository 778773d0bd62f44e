"""Admin for API keys (made and revoked here, shown once), the audit log, beat heartbeats."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from scheduling.admin.audited import AuditedAdmin
from scheduling.admin.display import local_time
from scheduling.admin.search import ExactIdSearch
from scheduling.models import ApiKey, AuditAction, AuditEntry, BeatHeartbeat
from scheduling.services.api_keys import create_api_key, revoke_api_key


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdmin):
    list_display = ("prefix", "service_id", "name", "created", "last_used", "revoked")
    list_filter = ("service_id", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("service_id", "name", "prefix")
    actions = ["revoke"]
    # A new key is audited by create_api_key; a key is never deleted.
    audit_change = AuditAction.KEY_CHANGE
    audit_target_field = "prefix"

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is None:
            return ["service_id", "name"]
        return [
            "service_id",
            "name",
            "prefix",
            "created_at",
            "created_by",
            "last_used_at",
            "revoked_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return []
        # A key stays bound to its service; only its label may change.
        return ["service_id", "prefix", "created_at", "created_by", "last_used_at", "revoked_at"]

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: the audit log keeps naming the key

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj: ApiKey) -> str:
        return local_time(obj.created_at)

    @admin.display(description="Last used", ordering="last_used_at")
    def last_used(self, obj: ApiKey) -> str:
        return local_time(obj.last_used_at)

    @admin.display(description="Revoked", ordering="revoked_at")
    def revoked(self, obj: ApiKey) -> str:
        return local_time(obj.revoked_at)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)  # audited: api_key.change
            return
        key, raw_key = create_api_key(service_id=obj.service_id, name=obj.name)
        obj.__dict__.update(key.__dict__)
        # Kept on the request only, to be shown once by response_add.
        request._new_api_key = raw_key  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: Any = None
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "key": obj,
            "raw_key": request._new_api_key,  # type: ignore[attr-defined]
            "title": "API key created",
        }
        # The admin marks its pages never_cache: the key stays out of caches.
        return TemplateResponse(request, "admin/scheduling/apikey/created.html", context)

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = sum(revoke_api_key(key) for key in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the project writes and people only read."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BeatHeartbeat)
class BeatHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("instance", "is_leader", "last_tick", "started")
    ordering = ("-last_tick_at",)

    @admin.display(description="Last tick", ordering="last_tick_at")
    def last_tick(self, obj: BeatHeartbeat) -> str:
        return local_time(obj.last_tick_at)

    @admin.display(description="Started", ordering="started_at")
    def started(self, obj: BeatHeartbeat) -> str:
        return local_time(obj.started_at)


@admin.register(AuditEntry)
class AuditEntryAdmin(ExactIdSearch, ReadOnlyAdmin):
    list_display = ("when", "actor_type", "actor", "address", "action", "target_link")
    list_filter = ("action", "actor_type")
    # Whole values through their indexes: a substring search read the whole log.
    search_fields = ("=target", "=actor")
    search_help_text = (
        "An event id, an API key prefix, or who acted (a service id or a username),"
        " whole and as written."
    )
    date_hierarchy = "at"
    show_full_result_count = False  # the log grows without bound

    @admin.display(description="At", ordering="at")
    def when(self, obj: AuditEntry) -> str:
        return local_time(obj.at)

    @admin.display(description="Target", ordering="target")
    def target_link(self, obj: AuditEntry) -> str:
        """The event or API key the entry names, linked."""
        if obj.action.startswith("api_key."):
            url = reverse("admin:scheduling_apikey_changelist") + f"?q={obj.target}"
        else:
            url = reverse("admin:scheduling_scheduledevent_change", args=[obj.target])
        return format_html('<a href="{}">{}</a>', url, obj.target)
