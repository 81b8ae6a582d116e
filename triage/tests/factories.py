"""Factories for the triage tests: rules, events and alerts with realistic ECS documents."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from rules.detection import alert_key
from rules.ingest.ecs import index_columns
from rules.models import DetectionRule, Event, Technique
from triage.models import Alert, AlertEvent

_counter = itertools.count(1)
BASE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def load_playbooks() -> None:
    call_command("load_playbooks", verbosity=0, stdout=open("/dev/null", "w"))  # noqa: SIM115


def make_rule(
    name="Command and Scripting Interpreter via Windows Scripts",
    techniques=("T1059", "T1059.001"),
    note="## Guide\n\nCheck the parent.",
    **extra,
) -> DetectionRule:
    n = next(_counter)
    rule = DetectionRule.objects.create(
        rule_id=f"00000000-0000-0000-0000-{n:012d}",
        name=name,
        query="process where true",
        severity=extra.pop("severity", "high"),
        risk_score=extra.pop("risk_score", 73),
        note=note,
        **extra,
    )
    rule.techniques.set(Technique.objects.filter(external_id__in=techniques))
    return rule


def process_doc(
    *,
    host="WS-0042",
    user="erin",
    name="powershell.exe",
    pid=4242,
    entity="ent-child",
    parent_name="wscript.exe",
    parent_pid=4100,
    parent_entity="ent-parent",
    command_line="powershell.exe -nop -w hidden -enc SQBFAFgA",
    parent_command_line="wscript.exe C:\\Users\\erin\\Downloads\\invoice.js",
    when=BASE,
    event_id=None,
) -> dict:
    return {
        "@timestamp": when.isoformat().replace("+00:00", "Z"),
        "event": {
            "id": event_id or f"evt-{next(_counter)}",
            "category": ["process"],
            "type": ["start"],
            "action": "start",
        },
        "host": {"name": host, "id": f"hid-{host}", "os": {"type": "windows"}},
        "user": {"name": user, "id": f"uid-{user}"},
        "process": {
            "name": name,
            "pid": pid,
            "entity_id": entity,
            "executable": f"C:\\Windows\\System32\\{name}",
            "command_line": command_line,
            "args": command_line.split(" ")[:50],
            "parent": {
                "name": parent_name,
                "pid": parent_pid,
                "entity_id": parent_entity,
                "command_line": parent_command_line,
            },
        },
    }


def store_event(doc: dict) -> Event:
    columns = {k: (v if v is not None else "") for k, v in index_columns(doc).items()}
    for key in ("process_pid", "parent_pid"):
        columns[key] = columns[key] or None
    return Event.objects.create(doc=doc, **columns)


def make_alert(rule=None, docs=None, *, status="new", store=False, **extra) -> Alert:
    rule = rule or make_rule()
    docs = docs or [process_doc()]
    if store:
        for doc in docs:
            store_event(doc)
    ids = [d["event"]["id"] for d in docs]
    last = docs[-1]
    alert = Alert.objects.create(
        key=alert_key(rule.rule_id, ids),
        rule=rule,
        rule_name=rule.name,
        severity=extra.pop("severity", rule.severity),
        risk_score=extra.pop("risk_score", rule.risk_score),
        timestamp=extra.pop("timestamp", BASE),
        host_name=last["host"]["name"],
        user_name=last["user"]["name"],
        event_ids=ids,
        event_snapshot=docs,
        status=status,
        sla_due_at=extra.pop("sla_due_at", BASE + timedelta(hours=4)),
        **extra,
    )
    alert.techniques.set(rule.techniques.all())
    AlertEvent.objects.create(
        alert=alert, kind="raised", to_status=status, data={"rule_id": rule.rule_id}
    )
    return alert


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Test users log in with a cheap hasher (the default PBKDF2 costs ~0.5 s per user here).
    Import this fixture into a test module to use it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def ensure_role_groups() -> None:
    from django.contrib.auth.models import Group

    for name in ("l1", "t2", "manager"):
        Group.objects.get_or_create(name=name)
