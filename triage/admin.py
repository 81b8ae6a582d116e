"""Django admin for the triage side. History and playbook versions are read-only here: the
history is append-only (no change or delete path anywhere), versions are immutable."""

from django.contrib import admin

from triage.models import (
    Alert,
    AlertEvent,
    ChecklistEntry,
    Playbook,
    PlaybookAnswer,
    PlaybookRun,
    PlaybookVersion,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Playbook)
class PlaybookAdmin(ReadOnlyAdmin):
    list_display = ("technique", "title", "source_path")


@admin.register(PlaybookVersion)
class PlaybookVersionAdmin(ReadOnlyAdmin):
    list_display = ("playbook", "version", "content_hash", "created_at")


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    """Alerts change only through the workflow (services), so that every change is audited."""

    list_display = ("pk", "rule_name", "severity", "status", "host_name", "assignee", "created_at")
    list_filter = ("status", "severity", "rule")
    search_fields = ("host_name", "user_name", "rule_name")
    raw_id_fields = ("assignee", "rule")
    exclude = ("event_snapshot",)


@admin.register(AlertEvent)
class AlertEventAdmin(ReadOnlyAdmin):
    list_display = ("alert", "created_at", "actor", "kind", "from_status", "to_status")
    list_filter = ("kind",)
    raw_id_fields = ("alert", "actor")


@admin.register(PlaybookRun)
class PlaybookRunAdmin(ReadOnlyAdmin):
    list_display = ("alert", "playbook_version", "l1_analyst", "t2_analyst", "started_at")


@admin.register(PlaybookAnswer)
class PlaybookAnswerAdmin(ReadOnlyAdmin):
    list_display = ("run", "question_id", "value", "answered_by", "answered_at")


@admin.register(ChecklistEntry)
class ChecklistEntryAdmin(ReadOnlyAdmin):
    list_display = ("run", "section", "item_id", "state", "updated_by", "updated_at")
