"""The evidence around an alert, read from stored events: the matched events' key fields with
decoded command lines, the process tree, the host timeline; and the sanitised rule guide.

Queries, not views: the alert page (``triage.views.alert``) shows what these return.

Every query here is an index lookup (see the indexes on ``rules.Event``) with a row limit, so
the page stays fast with millions of events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import nh3
from django.utils.dateparse import parse_datetime
from markdown_it import MarkdownIt

from rules.store import Event
from triage.decoding import decode_command_line
from triage.templatetags.triage_tags import ecs_get

KEY_FIELDS = (
    ("Time", "@timestamp"),
    ("Category", "event.category"),
    ("Action", "event.action"),
    ("Process", "process.name"),
    ("PID", "process.pid"),
    ("Executable", "process.executable"),
    ("Command line", "process.command_line"),
    ("Parent", "process.parent.name"),
    ("Parent command line", "process.parent.command_line"),
    ("User", "user.name"),
    ("Host", "host.name"),
    ("File", "file.path"),
    ("Origin URL", "file.origin_url"),
    ("Referrer", "file.origin_referrer_url"),
    ("Event id", "event.id"),
)
ANCESTOR_DEPTH = 8
CHILD_LIMIT = 50
TIMELINE_LIMIT = 200
TIMELINE_WINDOWS = (5, 15, 60)
PID_WINDOW = timedelta(hours=24)


def key_fields(doc: dict) -> list[tuple[str, object]]:
    return [(label, v) for label, path in KEY_FIELDS if (v := ecs_get(doc, path)) not in (None, "")]


def matched_events(alert) -> list[dict]:
    """Each matched event: its key fields and any command line it decodes."""
    result = []
    for doc in alert.event_snapshot or []:
        if not isinstance(doc, dict):
            continue
        decoded = []
        for path in ("process.command_line", "process.parent.command_line"):
            decoded += decode_command_line(ecs_get(doc, path))
        result.append({"fields": key_fields(doc), "decoded": decoded})
    return result


def _primary_doc(alert) -> dict | None:
    """The matched event the tree is built around: the last process event."""
    docs = [d for d in (alert.event_snapshot or []) if isinstance(d, dict)]
    for doc in reversed(docs):
        if ecs_get(doc, "process.pid") or ecs_get(doc, "process.entity_id"):
            return doc
    return docs[-1] if docs else None


def _time_of(doc: dict, fallback: datetime) -> datetime:
    raw = ecs_get(doc, "@timestamp")
    parsed = parse_datetime(raw) if isinstance(raw, str) else None
    return parsed or fallback


@dataclass
class TreeNode:
    name: str
    pid: object
    command_line: str
    entity_id: str
    timestamp: object = None
    user: str = ""
    is_alert: bool = False
    children: list = field(default_factory=list)


def _node(event: Event | None, doc: dict | None = None, *, is_alert=False) -> TreeNode:
    doc = doc if doc is not None else (event.doc if event else {})
    return TreeNode(
        name=str(ecs_get(doc, "process.name") or "?"),
        pid=ecs_get(doc, "process.pid"),
        command_line=str(ecs_get(doc, "process.command_line") or ""),
        entity_id=str(ecs_get(doc, "process.entity_id") or ""),
        timestamp=event.timestamp if event else ecs_get(doc, "@timestamp"),
        user=str(ecs_get(doc, "user.name") or ""),
        is_alert=is_alert,
    )


_TREE_FIELDS = ("timestamp", "doc", "process_entity_id", "parent_entity_id", "process_pid")


def _process_event_by_entity(entity_id: str) -> Event | None:
    # event_process_entity index; the start event first when there are several.
    return (
        Event.objects.filter(process_entity_id=entity_id, category="process")
        .only(*_TREE_FIELDS)
        .order_by("timestamp")
        .first()
    )


def _process_event_by_pid(host: str, pid, before: datetime) -> Event | None:
    # event_host_pid index; pids are reused, so the latest start before the child within a day.
    return (
        Event.objects.filter(
            host_name=host,
            process_pid=pid,
            category="process",
            timestamp__lte=before,
            timestamp__gte=before - PID_WINDOW,
        )
        .only(*_TREE_FIELDS)
        .order_by("-timestamp")
        .first()
    )


def process_tree(alert) -> dict:
    """Ancestors (oldest first) and children of the alert's process, from stored events.

    By entity id (``process.entity_id``/``process.parent.entity_id``) when the source has them;
    otherwise by host and pid within a day before (ancestors) or after (children). Falls back
    to the parent recorded in the event itself when the parent's own event is not stored.
    """
    doc = _primary_doc(alert)
    if doc is None:
        return {"ancestors": [], "node": None, "children": [], "method": None}
    when = _time_of(doc, alert.timestamp)
    host = str(ecs_get(doc, "host.name") or alert.host_name or "")
    node = _node(None, doc, is_alert=True)
    parent_entity = str(ecs_get(doc, "process.parent.entity_id") or "")
    use_entity = bool(node.entity_id or parent_entity)
    ancestors: list[TreeNode] = []
    seen = {node.entity_id} if node.entity_id else set()
    if use_entity:
        current = parent_entity
        while current and current not in seen and len(ancestors) < ANCESTOR_DEPTH:
            seen.add(current)
            event = _process_event_by_entity(current)
            if event is None:
                break
            ancestors.append(_node(event))
            current = event.parent_entity_id
        children_qs = (
            Event.objects.filter(parent_entity_id=node.entity_id) if node.entity_id else None
        )
    else:
        ppid = ecs_get(doc, "process.parent.pid")
        current_time = when
        while ppid and len(ancestors) < ANCESTOR_DEPTH:
            event = _process_event_by_pid(host, ppid, current_time)
            if event is None:
                break
            ancestors.append(_node(event))
            ppid, current_time = ecs_get(event.doc, "process.parent.pid"), event.timestamp
        children_qs = (
            Event.objects.filter(
                host_name=host,
                parent_pid=node.pid,
                timestamp__gte=when,
                timestamp__lte=when + PID_WINDOW,
            )
            if node.pid
            else None
        )
    if not ancestors and ecs_get(doc, "process.parent.name"):
        ancestors.append(
            TreeNode(
                name=str(ecs_get(doc, "process.parent.name")),
                pid=ecs_get(doc, "process.parent.pid"),
                command_line=str(ecs_get(doc, "process.parent.command_line") or ""),
                entity_id=parent_entity,
            )
        )
    ancestors.reverse()
    children = []
    if children_qs is not None:
        for event in (
            children_qs.filter(category="process")
            .only(*_TREE_FIELDS)
            .order_by("timestamp")[:CHILD_LIMIT]
        ):
            children.append(_node(event))
    return {
        "ancestors": ancestors,
        "node": node,
        "children": children,
        "method": "entity id" if use_entity else "host and pid",
    }


def host_timeline(alert, minutes: int) -> list[dict]:
    """The host's events within ± ``minutes`` of the alert (event_host_time index)."""
    if not alert.host_name:
        return []
    window = timedelta(minutes=minutes)
    events = (
        Event.objects.filter(
            host_name=alert.host_name,
            timestamp__gte=alert.timestamp - window,
            timestamp__lte=alert.timestamp + window,
        )
        .only("timestamp", "event_id", "category", "action", "doc")
        .order_by("timestamp", "pk")[:TIMELINE_LIMIT]
    )
    matched = set(alert.event_ids or [])
    return [
        {
            "timestamp": e.timestamp,
            "category": e.category,
            "action": e.action,
            "process": ecs_get(e.doc, "process.name"),
            "pid": ecs_get(e.doc, "process.pid"),
            "summary": ecs_get(e.doc, "process.command_line")
            or ecs_get(e.doc, "file.path")
            or ecs_get(e.doc, "destination.ip")
            or ecs_get(e.doc, "dns.question.name")
            or "",
            "matched": e.event_id in matched,
        }
        for e in events
    ]


_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
GUIDE_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em",
    "code", "pre", "blockquote", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def render_guide(markdown_text: str) -> str:
    """The rule's investigation guide as sanitised HTML: markdown with raw HTML disabled, then
    nh3 with a strict allow-list (no images, no attributes but link targets; links only
    http/https/mailto, with rel=noopener noreferrer)."""
    if not markdown_text:
        return ""
    html = _markdown.render(markdown_text[:200_000])
    return nh3.clean(
        html,
        tags=GUIDE_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
