"""Django admin for the machine side: ATT&CK tactics and techniques, rules (with exceptions and
history), runs, ingest sources (the token is shown once, at creation or rotation), events
(read-only)."""

from __future__ import annotations

from django.contrib import admin, messages

from rules.models import (
    DetectionRule,
    DetectionRuleVersion,
    Event,
    IngestSource,
    RuleException,
    RuleRun,
    Tactic,
    Technique,
)


@admin.register(Tactic)
class TacticAdmin(admin.ModelAdmin):
    list_display = ("external_id", "name")


@admin.register(Technique)
class TechniqueAdmin(admin.ModelAdmin):
    list_display = ("external_id", "name", "tactic", "parent")


class RuleExceptionInline(admin.TabularInline):
    model = RuleException
    extra = 0
    fields = ("field", "operator", "values", "comment", "author", "expires_at", "created_at")
    readonly_fields = ("created_at",)
    raw_id_fields = ("author",)


class RuleVersionInline(admin.TabularInline):
    model = DetectionRuleVersion
    extra = 0
    can_delete = False
    fields = ("version", "content_hash", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DetectionRule)
class DetectionRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "severity", "risk_score", "version", "enabled", "last_run_at")
    list_filter = ("enabled", "severity", "type")
    search_fields = ("name", "rule_id", "description", "tags")
    list_editable = ("enabled",)
    filter_horizontal = ("techniques",)
    readonly_fields = ("rule_id", "content_hash", "source_path", "created_at", "updated_at")
    inlines = [RuleExceptionInline, RuleVersionInline]


@admin.register(RuleRun)
class RuleRunAdmin(admin.ModelAdmin):
    list_display = (
        "rule",
        "trigger",
        "outcome",
        "started_at",
        "events_scanned",
        "alerts_raised",
        "max_signals_reached",
        "duration_ms",
    )
    list_filter = ("outcome", "trigger")
    search_fields = ("rule__name", "error")
    date_hierarchy = "started_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(IngestSource)
class IngestSourceAdmin(admin.ModelAdmin):
    list_display = ("name", "token_prefix", "enabled", "created_at", "last_seen_at")
    list_filter = ("enabled",)
    readonly_fields = ("token_prefix", "created_at", "last_seen_at")
    actions = ["rotate_token"]

    def save_model(self, request, obj, form, change):
        if not change:
            token = obj.issue_token()
            super().save_model(request, obj, form, change)
            messages.warning(
                request,
                f"Token for {obj.name} (shown once, only a hash is kept): {token}",
            )
        else:
            super().save_model(request, obj, form, change)

    @admin.action(description="Issue a new token (the old one stops working)")
    def rotate_token(self, request, queryset):
        for source in queryset:
            token = source.issue_token()
            source.save(update_fields=["token_hash", "token_prefix"])
            messages.warning(request, f"New token for {source.name} (shown once): {token}")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "timestamp", "category", "action", "host_name", "user_name")
    list_filter = ("category",)
    search_fields = ("=event_id", "=host_name", "=user_name", "=process_entity_id")
    date_hierarchy = "timestamp"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RuleException)
class RuleExceptionAdmin(admin.ModelAdmin):
    list_display = ("rule", "field", "operator", "values", "author", "expires_at", "created_at")
    list_filter = ("operator",)
    search_fields = ("rule__name", "field", "comment")
    raw_id_fields = ("author",)
    autocomplete_fields = ("rule",)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("author", request.user.pk)
        return initial
