"""SQL that folds the alert history into ``triage_alertfacts`` (see :class:`AlertFacts`).

The fold runs in the database, in the inserting transaction, from a trigger on
``triage_alertevent``: every path that writes history (the workflow services, detection's bulk
inserts, the admin) keeps the facts exact without having to remember to. ``rebuild_sql`` is the
same fold over the whole history at once, used by the migration's backfill and by
``manage.py rebuild_alert_facts``; a test checks that both give the same rows.

Only the kinds the metrics read are folded: claimed, escalated, closed, reopened, returned.
"""

from __future__ import annotations

from triage.metrics.sql import L1_STATUSES_SQL, in_list, json_text

FOLDED_KINDS = ("claimed", "escalated", "closed", "reopened", "returned")
_KINDS_SQL = in_list(FOLDED_KINDS)

COLUMNS = (
    "claimed_at",
    "escalated_at",
    "closed_at",
    "fp_closed_at",
    "reopened_at",
    "n_escalated",
    "n_l1_closed",
    "n_override",
    "n_returned",
)


def _expressions(vendor: str, row: str) -> dict[str, str]:
    """Per-event contributions of one history row (``row`` is its alias) to each column."""
    disposition = json_text(f"{row}.data", "disposition", vendor)
    if vendor == "postgresql":
        override = f"(({row}.data -> 'override') = 'true'::jsonb)"
    else:
        override = f"(json_extract({row}.data, '$.override') = 1)"
    l1_decision = f"({row}.kind = 'escalated' OR ({row}.kind = 'closed' AND {row}.from_status IN {L1_STATUSES_SQL}))"
    return {
        "claimed_at": f"CASE WHEN {row}.kind = 'claimed' THEN {row}.created_at END",
        "escalated_at": f"CASE WHEN {row}.kind = 'escalated' THEN {row}.created_at END",
        "closed_at": f"CASE WHEN {row}.kind = 'closed' THEN {row}.created_at END",
        "fp_closed_at": (
            f"CASE WHEN {row}.kind = 'closed' AND {disposition} = 'false_positive' "
            f"THEN {row}.created_at END"
        ),
        "reopened_at": f"CASE WHEN {row}.kind = 'reopened' THEN {row}.created_at END",
        "n_escalated": f"CASE WHEN {row}.kind = 'escalated' THEN 1 ELSE 0 END",
        "n_l1_closed": (
            f"CASE WHEN {row}.kind = 'closed' AND {row}.from_status IN {L1_STATUSES_SQL} THEN 1 ELSE 0 END"
        ),
        "n_override": f"CASE WHEN {override} AND {l1_decision} THEN 1 ELSE 0 END",
        "n_returned": f"CASE WHEN {row}.kind = 'returned' THEN 1 ELSE 0 END",
    }


# First times keep the earliest value, the other times (closed, reopened) the latest, counters
# add up.
_FIRST = ("claimed_at", "escalated_at")


def _merge(vendor: str, column: str) -> str:
    old, new = f"triage_alertfacts.{column}", f"excluded.{column}"
    if column.startswith("n_"):
        return f"{column} = {old} + {new}"
    if vendor == "postgresql":  # LEAST/GREATEST ignore NULLs there
        return f"{column} = {'LEAST' if column in _FIRST else 'GREATEST'}({old}, {new})"
    pick = "MIN" if column in _FIRST else "MAX"  # SQLite's scalar MIN/MAX return NULL on NULL
    return f"{column} = COALESCE({pick}({old}, {new}), {old}, {new})"


def _upsert(vendor: str) -> str:
    # Built only from the constants of this module: no outside value reaches the SQL.
    values = _expressions(vendor, "NEW")
    return (
        f"INSERT INTO triage_alertfacts (alert_id, {', '.join(COLUMNS)}) "
        f"VALUES (NEW.alert_id, {', '.join(values[c] for c in COLUMNS)}) "
        f"ON CONFLICT (alert_id) DO UPDATE SET {', '.join(_merge(vendor, c) for c in COLUMNS)}"
    )


def create_trigger_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION triage_alertfacts_fold() RETURNS trigger AS $$ "
            f"BEGIN {_upsert(vendor)}; RETURN NULL; END; $$ LANGUAGE plpgsql",
            "CREATE TRIGGER triage_alertfacts_fold AFTER INSERT ON triage_alertevent "
            f"FOR EACH ROW WHEN (NEW.kind IN {_KINDS_SQL}) "
            "EXECUTE FUNCTION triage_alertfacts_fold()",
        ]
    return [
        "CREATE TRIGGER triage_alertfacts_fold AFTER INSERT ON triage_alertevent "
        f"FOR EACH ROW WHEN NEW.kind IN {_KINDS_SQL} BEGIN {_upsert(vendor)}; END"
    ]


def drop_trigger_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [
            "DROP TRIGGER IF EXISTS triage_alertfacts_fold ON triage_alertevent",
            "DROP FUNCTION IF EXISTS triage_alertfacts_fold()",
        ]
    return ["DROP TRIGGER IF EXISTS triage_alertfacts_fold"]


def rebuild_sql(vendor: str) -> str:
    """Recompute every alert's facts from its whole history (the table must be empty)."""
    values = _expressions(vendor, "e")
    aggregates = [
        f"{'MIN' if c in _FIRST else 'MAX'}({values[c]})"
        if c.endswith("_at")
        else f"SUM({values[c]})"
        for c in COLUMNS
    ]
    return (
        f"INSERT INTO triage_alertfacts (alert_id, {', '.join(COLUMNS)}) "
        f"SELECT e.alert_id, {', '.join(aggregates)} FROM triage_alertevent e "
        f"WHERE e.kind IN {_KINDS_SQL} GROUP BY e.alert_id"
    )
