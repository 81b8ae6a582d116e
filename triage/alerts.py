"""The one writer of alerts: detection's candidates become ``Alert`` rows, each new one with its
"raised" history row and its rule's technique links.

Detection (``rules.detection``) finds this function through the setting
``DETECTION_ALERT_WRITER`` and calls it inside the transaction of its batch; the demo data
calls it too. Every alert, whoever raises it, gets its SLA from ``settings.SLA_MINUTES``.

The "raised" row is the shape ``triage/services.py`` documents: no actor, ``"" → "new"``,
``data = {"rule_id": <the rule's rule_id>, "event_ids": [...]}``, stamped with
``recorded_now()`` (the demo replays a past with ``services.clock``). Both paths below write
exactly that row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import JSONField

from rules.detection import AlertCandidate
from triage.models import Alert, AlertEvent, Status, recorded_now

# Alerts per INSERT statement: the event snapshots are large, and so is a statement's
# parameter list.
CHUNK = 200


def raise_alerts(
    candidates: Sequence[AlertCandidate], *, now: datetime | None = None
) -> dict[int, list[int]]:
    """Insert the candidates' alerts unless their key is raised already; returns rule pk ->
    the ids of the alerts that are new.

    One transaction (joining the caller's, if any); ``INSERT … ON CONFLICT (key) DO NOTHING``,
    so a candidate raised before, or twice in ``candidates``, makes no second alert. Only new
    alerts get their history row and their rule's techniques. On PostgreSQL one statement per
    :data:`CHUNK` alerts does all three, whatever the number of rules.
    """
    if not candidates:
        return {}
    if any(c.rule_pk is None for c in candidates):
        raise ValueError("an alert candidate without a stored rule cannot be raised")
    now = now or datetime.now(UTC)
    recorded = recorded_now()
    values = [_alert_values(c, now) for c in candidates]
    rule_pk_of = {c.key: c.rule_pk for c in candidates}
    history_data = {c.key: _raised_data(c) for c in candidates}
    inserted: list[tuple[int, str]] = []
    with transaction.atomic(savepoint=False):
        if _one_statement():
            for start in range(0, len(values), CHUNK):
                inserted.extend(_raise_postgresql(values[start : start + CHUNK], recorded))
        else:
            inserted = _raise_generic(values, history_data, recorded)
    new: dict[int, list[int]] = {}
    for pk, key in inserted:
        new.setdefault(rule_pk_of[key], []).append(pk)
    return new


def _one_statement() -> bool:
    """Whether the database takes the one-statement path (data-modifying CTEs)."""
    return connection.vendor == "postgresql"


def _raised_data(candidate: AlertCandidate) -> dict:
    """The ``data`` of an alert's "raised" history row."""
    return {"rule_id": candidate.rule_id, "event_ids": list(candidate.event_ids)}


def _alert_values(candidate: AlertCandidate, now: datetime) -> dict:
    """A new alert's values by attribute name (``rule_id``: the rule's pk); the fields left
    out take their defaults."""
    sla_minutes = settings.SLA_MINUTES.get(candidate.severity, settings.SLA_MINUTES["medium"])
    return {
        "key": candidate.key,
        "rule_id": candidate.rule_pk,
        "rule_version": candidate.rule_version,
        "rule_name": candidate.rule_name[:300],
        "severity": candidate.severity,
        "risk_score": candidate.risk_score,
        "timestamp": candidate.timestamp or now,
        "created_at": now,
        "updated_at": now,
        "host_name": candidate.host_name,
        "host_id": candidate.host_id,
        "user_name": candidate.user_name,
        "user_id": candidate.user_id,
        "event_ids": list(candidate.event_ids),
        "event_snapshot": list(candidate.documents),
        "status": Status.NEW,
        "sla_due_at": now + timedelta(minutes=sla_minutes),
    }


def _alert_columns() -> list:
    return [f for f in Alert._meta.concrete_fields if not f.primary_key]


def _rule_model():
    # The rule model through the foreign key: table names come from _meta, wherever the
    # model lives.
    return Alert._meta.get_field("rule").related_model


# --- PostgreSQL: one statement --------------------------------------------------------------


def _raise_sql(n_alerts: int) -> str:
    """One statement that inserts up to ``n_alerts`` alerts not raised yet (``ON CONFLICT
    (key) DO NOTHING``) and, for each new one, its "raised" history row and its rule's
    technique links; it returns (id, key) of the new alerts. Parameters: the alerts' values
    (columns of ``_alert_columns()``), then the history rows' time and status."""
    quote = connection.ops.quote_name
    fields = _alert_columns()
    columns = ", ".join(quote(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    rules = _rule_model()
    history = AlertEvent._meta.db_table
    alert_links = Alert.techniques.through._meta.db_table
    rule_links = rules.techniques.through._meta.db_table
    return (
        f"WITH new AS (INSERT INTO {quote(Alert._meta.db_table)} ({columns}) "  # noqa: S608 (model identifiers; values are parameters)
        f"VALUES {', '.join([row] * n_alerts)} "
        "ON CONFLICT (key) DO NOTHING RETURNING id, key, rule_id, event_ids), "
        f"history AS (INSERT INTO {history} "
        "(alert_id, actor_id, created_at, kind, from_status, to_status, data) "
        "SELECT new.id, NULL, %s::timestamptz, 'raised', '', %s::text, "
        "jsonb_build_object('rule_id', r.rule_id, 'event_ids', new.event_ids) "
        f"FROM new JOIN {rules._meta.db_table} r ON r.id = new.rule_id), "
        f"links AS (INSERT INTO {alert_links} (alert_id, technique_id) "
        f"SELECT new.id, t.technique_id FROM new JOIN {rule_links} t "
        "ON t.detectionrule_id = new.rule_id ON CONFLICT DO NOTHING) "
        "SELECT id, key FROM new"
    )


def _raise_postgresql(alerts: list[dict], recorded: datetime) -> list[tuple[int, str]]:
    """:func:`_raise_sql` for ``alerts`` (values by attribute name). The values are sent as
    parameters beside the statement, not quoted into it (the event snapshots are large);
    JSON goes as orjson's text."""
    params: list = []
    columns = _alert_columns()
    for values in alerts:
        for f in columns:
            value = values[f.attname] if f.attname in values else f.get_default()
            if isinstance(f, JSONField):
                value = orjson.dumps(value).decode()
            params.append(value)
    params += [recorded, Status.NEW]
    with (
        connection.cursor() as django_cursor,
        psycopg.Cursor(django_cursor.cursor.connection) as cursor,
    ):
        cursor.execute(_raise_sql(len(alerts)), params)
        return cursor.fetchall()


# --- any database: three statements ---------------------------------------------------------


def _insert_alerts(alerts: list[Alert]) -> list[tuple[int, str]]:
    """``INSERT … ON CONFLICT (key) DO NOTHING RETURNING id, key``: the rows really inserted."""
    fields = _alert_columns()
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params: list = []
    for alert in alerts:
        for f in fields:
            params.append(f.get_db_prep_save(getattr(alert, f.attname), connection))
    sql = (
        f"INSERT INTO {connection.ops.quote_name(Alert._meta.db_table)} ({columns}) "  # noqa: S608 (model identifiers; values are parameters)
        f"VALUES {', '.join([row_sql] * len(alerts))} "
        "ON CONFLICT (key) DO NOTHING RETURNING id, key"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _raise_generic(
    values: list[dict], history_data: dict[str, dict], recorded: datetime
) -> list[tuple[int, str]]:
    """The alerts, then the new ones' history rows and technique links (SQLite, the demo)."""
    through = _rule_model().techniques.through
    techniques: dict[int, list[int]] = {}
    for rule_pk, technique_pk in through.objects.filter(
        detectionrule_id__in={v["rule_id"] for v in values}
    ).values_list("detectionrule_id", "technique_id"):
        techniques.setdefault(rule_pk, []).append(technique_pk)
    rule_pk_of = {v["key"]: v["rule_id"] for v in values}
    alerts = [Alert(**v) for v in values]
    inserted: list[tuple[int, str]] = []
    for start in range(0, len(alerts), CHUNK):
        inserted.extend(_insert_alerts(alerts[start : start + CHUNK]))
    if inserted:
        AlertEvent.objects.bulk_create(
            AlertEvent(
                alert_id=pk,
                actor=None,
                created_at=recorded,
                kind="raised",
                from_status="",
                to_status=Status.NEW,
                data=history_data[key],
            )
            for pk, key in inserted
        )
        links = Alert.techniques.through
        links.objects.bulk_create(
            [
                links(alert_id=pk, technique_id=t)
                for pk, key in inserted
                for t in techniques.get(rule_pk_of[key], ())
            ],
            ignore_conflicts=True,
        )
    return inserted
