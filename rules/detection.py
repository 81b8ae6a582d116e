"""Running detection rules over stored events and raising alerts: the plain functions behind
the Celery tasks (``rules/tasks.py``) and the ``detect``/``ingest`` commands.

Guarantees:

* **Idempotent.** An alert's key is ``alert_key(rule_id, ordered event ids)`` under the unique
  constraint ``alert_key_unique``; alerts are inserted with ``ON CONFLICT (key) DO NOTHING
  RETURNING id``, so running the same batch or window twice (a retried task, a worker killed
  mid-task, overlapping scheduled windows) never makes a second alert, and only the rows a
  call really inserted get their "raised" history row and technique links.
* **Isolated failures.** A rule that fails (compile or run time) is recorded as a failed
  ``RuleRun``; the other rules still run.
* **Exceptions first.** A match is dropped when one of its events meets an active
  ``RuleException`` of its rule; ``max_signals`` then caps the alerts of one run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, JSONField, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import MD5

from rules import eql, handoff
from rules.eql.gc_pause import gc_paused
from rules.eql.timestamps import parse_ingest_timestamp
from rules.ingest.ecs import event_id_of
from rules.ingest.fields import MISSING, get_field
from rules.lookback import (
    derived_writes,
    load_documents,
    load_rows,
    rows_of_texts,
    sequence_context,
    sequence_shape,
)
from rules.models import (
    DetectionRule,
    Event,
    ExceptionOperator,
    RuleException,
    RuleRun,
    SequenceHit,
    active_exceptions_q,
)
from triage.models import Alert, AlertEvent, Status, alert_key, recorded_now

logger = logging.getLogger(__name__)

# The engine's result limit per search (Elasticsearch's EQL ``size``). max_signals is applied
# by us after exceptions, as Elastic applies exceptions inside its query.
SEARCH_SIZE = 10_000
CATEGORY_FIELD = "event.category"

# --- compiling -----------------------------------------------------------------------------


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_query_cache: dict[tuple[str, str], eql.Query] = {}
_ruleset_cache: dict[frozenset, object] = {}
_RULESET_CACHE_SIZE = 4  # the enabled set, its sequences, and a change or two


def compile_query(rule_id: str, text: str) -> eql.Query:
    """The compiled query of a rule (cached per process by rule id and query text)."""
    key = (rule_id, _text_key(text))
    query = _query_cache.get(key)
    if query is None:
        query = eql.compile(
            text, timestamp_field="@timestamp", category_field=CATEGORY_FIELD, size=SEARCH_SIZE
        )
        if len(_query_cache) > 5000:
            _query_cache.clear()
        _query_cache[key] = query
    return query


def compile_ruleset(texts: dict[str, str], digests: dict[str, str] | None = None):
    """One :class:`eql.RuleSet` for many rules (cached: the enabled set rarely changes).
    ``digests`` (rule id -> a digest of its query text), when the caller has them, spare
    hashing every text to find the cached set."""
    if digests is None:
        digests = {rule_id: _text_key(text) for rule_id, text in texts.items()}
    key = frozenset(digests.items())
    ruleset = _ruleset_cache.get(key)
    if ruleset is None:
        ruleset = eql.compile_many(
            texts,
            on_error="skip",
            timestamp_field="@timestamp",
            category_field=CATEGORY_FIELD,
            size=SEARCH_SIZE,
        )
        while len(_ruleset_cache) >= _RULESET_CACHE_SIZE:
            _ruleset_cache.pop(next(iter(_ruleset_cache)))
        _ruleset_cache[key] = ruleset
    return ruleset


def warm_up() -> None:
    """Compile the enabled rules into this process's cache (and close the connection used)."""
    from django.db import close_old_connections

    _compile_enabled(_enabled_rules()).prepare()
    close_old_connections()


# --- exceptions ----------------------------------------------------------------------------


def _wildcard(pattern: str) -> re.Pattern:
    parts = []
    for ch in pattern:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _as_strings(value) -> list[str]:
    if value is MISSING or value is None:
        return []
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, str | int | float):
            out.append(str(v))
    return out


@dataclass
class ExceptionMatcher:
    """The active exceptions of one rule, ready to test events.

    ``is`` and ``is one of`` compare exactly (case-sensitive, as Elastic's keyword fields);
    ``matches`` is a case-insensitive wildcard (``*``, ``?``) over the whole value; ``exists``
    needs the field present and not null. Multi-valued fields match when any element does.
    """

    exceptions: Sequence[RuleException]
    _tests: list = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        for exc in self.exceptions:
            values = [str(v) for v in (exc.values or [])]
            if exc.operator == ExceptionOperator.MATCHES:
                patterns = [_wildcard(v) for v in values]
                test = (lambda ps: lambda vs: any(p.fullmatch(v) for p in ps for v in vs))(patterns)
            elif exc.operator == ExceptionOperator.EXISTS:
                test = None
            else:
                wanted = frozenset(values[:1] if exc.operator == ExceptionOperator.IS else values)
                test = (lambda w: lambda vs: any(v in w for v in vs))(wanted)
            self._tests.append((exc, exc.field, test))

    def match(self, docs: Iterable[dict | None]) -> RuleException | None:
        """The first exception that one of ``docs`` meets, or None."""
        for exc, path, test in self._tests:
            for doc in docs:
                if doc is None:
                    continue
                value = get_field(doc, path)
                if test is None:
                    if value is not MISSING and value is not None:
                        return exc
                elif test(_as_strings(value)):
                    return exc
        return None


_NO_EXCEPTIONS = ExceptionMatcher([])


def active_exceptions(rule: DetectionRule, now: datetime) -> ExceptionMatcher:
    return ExceptionMatcher(list(rule.exceptions.filter(active_exceptions_q(now))))


def _active_exceptions_of(rules: list[DetectionRule], now: datetime) -> dict[int, ExceptionMatcher]:
    """Rule pk -> its active exceptions, for several rules in one query."""
    found: dict[int, list[RuleException]] = {rule.pk: [] for rule in rules}
    if rules:
        for exc in RuleException.objects.filter(active_exceptions_q(now), rule__in=rules):
            found[exc.rule_id].append(exc)
    return {pk: ExceptionMatcher(excs) for pk, excs in found.items()}


# --- alerts --------------------------------------------------------------------------------


@dataclass
class Candidate:
    """A match about to become an alert."""

    docs: list[dict]
    event_ids: list[str]
    key: str


def candidate(rule_id: str, match) -> Candidate:
    docs = [doc for doc in match.events if isinstance(doc, dict)]
    ids = [event_id_of(doc) for doc in docs]
    return Candidate(docs, ids, alert_key(rule_id, ids))


def select_candidates(
    rule_id: str, matches: Iterable, exceptions: ExceptionMatcher, max_signals: int
) -> tuple[list[Candidate], int, bool]:
    """Matches → candidates: exceptions applied, then capped at ``max_signals``.

    Returns (candidates, suppressed by exceptions, max_signals reached).
    """
    out: list[Candidate] = []
    suppressed = 0
    reached = False
    seen: set[str] = set()
    for match in matches:
        if exceptions.match(match.events) is not None:
            suppressed += 1
            continue
        cand = candidate(rule_id, match)
        if cand.key in seen:
            continue
        if len(out) >= max_signals:
            reached = True
            break
        seen.add(cand.key)
        out.append(cand)
    return out, suppressed, reached


def _first(docs: list[dict], path: str) -> str:
    for doc in reversed(docs):
        value = get_field(doc, path)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:255]
    return ""


def _alert_values(rule: DetectionRule, cand: Candidate, now: datetime) -> dict:
    """A new alert's values by attribute name (``rule_id``: the rule's pk); the fields left
    out take their defaults."""
    stamps = [parse_ingest_timestamp(get_field(doc, "@timestamp", None)) for doc in cand.docs]
    stamps = [ts for ts in stamps if ts is not None]
    sla_minutes = settings.SLA_MINUTES.get(rule.severity, settings.SLA_MINUTES["medium"])
    return {
        "key": cand.key,
        "rule_id": rule.pk,
        "rule_version": rule.version,
        "rule_name": rule.name[:300],
        "severity": rule.severity,
        "risk_score": rule.risk_score,
        "timestamp": max(stamps) if stamps else now,
        "created_at": now,
        "updated_at": now,
        "host_name": _first(cand.docs, "host.name"),
        "host_id": _first(cand.docs, "host.id"),
        "user_name": _first(cand.docs, "user.name"),
        "user_id": _first(cand.docs, "user.id"),
        "event_ids": cand.event_ids,
        "event_snapshot": cand.docs,
        "status": Status.NEW,
        "sla_due_at": now + timedelta(minutes=sla_minutes),
    }


def _insert_alerts(alerts: list[Alert]) -> list[tuple[int, str]]:
    """``INSERT … ON CONFLICT (key) DO NOTHING RETURNING id, key``: the rows really inserted."""
    fields = [f for f in Alert._meta.concrete_fields if not f.primary_key]
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


def _raise_sql(n_alerts: int) -> str:
    """One statement that inserts up to ``n_alerts`` alerts not raised yet (``ON CONFLICT
    (key) DO NOTHING``) and, for each new one, its "raised" history row and its rule's
    technique links; it returns (id, key) of the new alerts. Parameters: the alerts' values
    (columns of ``_alert_columns()``), then the history rows' time and status."""
    quote = connection.ops.quote_name
    fields = _alert_columns()
    columns = ", ".join(quote(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    history = AlertEvent._meta.db_table
    alert_links = Alert.techniques.through._meta.db_table
    rule_links = DetectionRule.techniques.through._meta.db_table
    return (
        f"WITH new AS (INSERT INTO {quote(Alert._meta.db_table)} ({columns}) "  # noqa: S608 (model identifiers; values are parameters)
        f"VALUES {', '.join([row] * n_alerts)} "
        "ON CONFLICT (key) DO NOTHING RETURNING id, key, rule_id, rule_version), "
        f"history AS (INSERT INTO {history} "
        "(alert_id, actor_id, created_at, kind, from_status, to_status, data) "
        "SELECT new.id, NULL, %s::timestamptz, 'raised', '', %s::text, "
        "jsonb_build_object('rule_id', r.rule_id, 'rule_version', new.rule_version) "
        f"FROM new JOIN {DetectionRule._meta.db_table} r ON r.id = new.rule_id), "
        f"links AS (INSERT INTO {alert_links} (alert_id, technique_id) "
        f"SELECT new.id, t.technique_id FROM new JOIN {rule_links} t "
        "ON t.detectionrule_id = new.rule_id ON CONFLICT DO NOTHING) "
        "SELECT id, key FROM new"
    )


def _alert_columns() -> list:
    return [f for f in Alert._meta.concrete_fields if not f.primary_key]


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


def raise_alerts(
    rule: DetectionRule, candidates: list[Candidate], *, now: datetime | None = None
) -> list[int]:
    """Insert the candidates' alerts; returns the ids of those that are new.

    Each new alert gets exactly one AlertEvent ("raised", no actor, to "new") and the rule's
    techniques, in the same transaction as its row.
    """
    return raise_alerts_of([(rule, candidates)], now=now).get(rule.pk, [])


def raise_alerts_of(
    found: list[tuple[DetectionRule, list[Candidate]]], *, now: datetime | None = None
) -> dict[int, list[int]]:
    """:func:`raise_alerts` for several rules at once, in one transaction and one statement
    per 200 alerts on PostgreSQL (three elsewhere) whatever the number of rules (a batch of
    events often alerts for several). Returns rule pk -> the ids of its new alerts."""
    found = [(rule, cands) for rule, cands in found if cands]
    if not found:
        return {}
    now = now or datetime.now(UTC)
    values = [_alert_values(rule, c, now) for rule, cands in found for c in cands]
    rule_of_key: dict[str, DetectionRule] = {}
    for rule, cands in found:
        for c in cands:
            rule_of_key[c.key] = rule
    inserted: list[tuple[int, str]] = []
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            recorded = recorded_now()
            for start in range(0, len(values), 200):
                inserted.extend(_raise_postgresql(values[start : start + 200], recorded))
        else:
            inserted = _raise_generic(values, rule_of_key)
    new: dict[int, list[int]] = {}
    for pk, key in inserted:
        new.setdefault(rule_of_key[key].pk, []).append(pk)
    return new


def _raise_generic(values: list[dict], rule_of_key: dict) -> list[tuple[int, str]]:
    """The alerts, then the new ones' history rows and technique links (SQLite, the demo)."""
    through = DetectionRule.techniques.through
    techniques: dict[int, list[int]] = {}
    for rule_pk, technique_pk in through.objects.filter(
        detectionrule_id__in={rule.pk for rule in rule_of_key.values()}
    ).values_list("detectionrule_id", "technique_id"):
        techniques.setdefault(rule_pk, []).append(technique_pk)
    alerts = [Alert(**v) for v in values]
    inserted: list[tuple[int, str]] = []
    for start in range(0, len(alerts), 200):
        inserted.extend(_insert_alerts(alerts[start : start + 200]))
    if inserted:
        AlertEvent.objects.bulk_create(
            AlertEvent(
                alert_id=pk,
                actor=None,
                kind="raised",
                from_status="",
                to_status=Status.NEW,
                data={
                    "rule_id": rule_of_key[key].rule_id,
                    "rule_version": rule_of_key[key].version,
                },
            )
            for pk, key in inserted
        )
        links = Alert.techniques.through
        links.objects.bulk_create(
            [
                links(alert_id=pk, technique_id=t)
                for pk, key in inserted
                for t in techniques.get(rule_of_key[key].pk, ())
            ],
            ignore_conflicts=True,
        )
    return inserted


def _pause_point() -> None:
    """For the reliability tests only: block while the file named by
    ``DETECTION_TEST_PAUSE_FILE`` exists, after telling the test (``<file>.reached``)."""
    path = os.environ.get("DETECTION_TEST_PAUSE_FILE")
    if not path or not os.path.exists(path):
        return
    with open(path + ".reached", "w") as marker:
        marker.write(str(os.getpid()))
    deadline = time.monotonic() + 120
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


# --- on ingest -----------------------------------------------------------------------------


@dataclass
class BatchOutcome:
    events: int = 0
    alerts: int = 0
    failed_rules: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"events": self.events, "alerts": self.alerts, "failed_rules": self.failed_rules}


@dataclass(frozen=True)
class _RuleText:
    query: str
    lookback: timedelta
    digest: str  # MD5 of the query text
    has_exceptions: bool = False  # any exception row, active or not


# (rule id, row version) -> (query text, its MD5): each batch lists the enabled rules with a
# token that changes whenever the row does, and reads only the texts this process has not
# seen (hundreds of queries were otherwise read, or hashed, for every batch).
_query_texts: dict[tuple[str, str], tuple[str, str]] = {}
# The last listing and what was made of it: a batch whose listing is the same (the usual
# case) takes that, rather than building it again for every rule.
_last_listing: tuple[list, dict[str, _RuleText]] | None = None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _row_version():
    """An expression that changes whenever a rule's row is written: on PostgreSQL the row
    version's writing transaction and place (``xmin``, ``ctid``: every update writes a new
    version, even twice in one transaction); elsewhere (SQLite, the demo) the query's MD5."""
    if connection.vendor == "postgresql":
        table = DetectionRule._meta.db_table
        return RawSQL(f"{table}.xmin::text || {table}.ctid::text", ())  # noqa: S611 (no input)
    return MD5("query")


def _list_enabled() -> list[tuple[str, str, timedelta, bool]]:
    """(rule id, row version, look-back, has exceptions?) of each enabled rule, by row id."""
    if connection.vendor == "postgresql":
        rules = DetectionRule._meta.db_table
        exceptions = RuleException._meta.db_table
        with connection.cursor() as cursor:
            # One statement, no ORM: it runs for every batch. The exceptions' rule ids are
            # read once (a hashed subplan), not once per rule.
            cursor.execute(
                f"SELECT rule_id, xmin::text || ctid::text, lookback, "  # noqa: S608 (model identifiers; no input)
                f"id IN (SELECT rule_id FROM {exceptions}) "
                f"FROM {rules} WHERE enabled ORDER BY id"
            )
            return cursor.fetchall()
    return list(
        DetectionRule.objects.enabled()
        .annotate(has_exceptions=Exists(RuleException.objects.filter(rule=OuterRef("pk"))))
        .order_by("pk")
        .values_list("rule_id", _row_version(), "lookback", "has_exceptions")
    )


def _enabled_rules() -> dict[str, _RuleText]:
    """rule_id -> (query, look-back, digest, has exceptions?) of the enabled rules: only the
    columns detection needs; the full rows are read for the rules that raise alerts. The
    dict may be shared between calls: read it, never change it."""
    global _last_listing
    listed = _list_enabled()
    if _last_listing is not None and _last_listing[0] == listed:
        return _last_listing[1]
    unseen = [rule_id for rule_id, token, *_ in listed if (rule_id, token) not in _query_texts]
    fresh: dict[str, tuple[str, str]] = {}
    if unseen:
        if len(_query_texts) > 20_000:
            _query_texts.clear()
        for rule_id, token, query in DetectionRule.objects.filter(rule_id__in=unseen).values_list(
            "rule_id", _row_version(), "query"
        ):
            _query_texts[(rule_id, token)] = fresh[rule_id] = (query, _md5(query))
    out = {}
    for rule_id, token, lookback, has_exceptions in listed:
        # A rule written between the two reads: the text just read is the newer one (and
        # the next listing differs from this one, so it is made again).
        known = _query_texts.get((rule_id, token)) or fresh.get(rule_id)
        if known is not None:  # None: deleted meanwhile
            out[rule_id] = _RuleText(known[0], lookback, known[1], has_exceptions)
    _last_listing = (listed, out)
    return out


# What raising alerts and recording runs reads of a rule (its long texts are not needed).
_ALERTING = ("rule_id", "version", "name", "severity", "risk_score", "max_signals")


_last_compiled: tuple[dict, object] | None = None  # (a listing's rules, their rule set)


def _compile_enabled(rules: dict[str, _RuleText]):
    global _last_compiled
    if _last_compiled is not None and _last_compiled[0] is rules:
        return _last_compiled[1]  # the same listing as the last batch's (see _enabled_rules)
    ruleset = compile_ruleset(
        {rule_id: rule.query for rule_id, rule in rules.items()},
        {rule_id: rule.digest for rule_id, rule in rules.items()},
    )
    _last_compiled = (rules, ruleset)
    return ruleset


def detect_new_events(
    event_pks: list[int], *, now: datetime | None = None, batch_key: str | None = None
) -> BatchOutcome:
    """Evaluate the enabled rules over newly stored events and raise their alerts.

    Event rules see the batch; sequence rules also see stored events within their maxspan
    that share their join keys (an attack split across two batches is still one sequence).
    A ``RuleRun`` (trigger "ingest") is recorded for each rule that raised alerts or failed.
    ``batch_key`` names the events' documents handed over by ingest (``rules.handoff``);
    without it, or when it is gone, they are read from the store.
    """
    with gc_paused():
        return _detect_new_events(event_pks, now or datetime.now(UTC), batch_key)


def _batch_rows(event_pks: list[int], texts: dict, batch_key: str | None) -> list:
    if batch_key:
        handed = handoff.take(batch_key, event_pks)
        if handed is not None:
            return rows_of_texts(handed, texts)
    return load_rows(event_pks, texts)


def _detect_new_events(event_pks: list[int], now: datetime, batch_key: str | None) -> BatchOutcome:
    started = time.monotonic()
    texts: dict[int, str | bytes] = {}  # pk -> JSON text, for the look-back cache
    rows = _batch_rows(event_pks, texts, batch_key)
    outcome = BatchOutcome(events=len(rows))
    if not rows:
        return outcome
    docs = [doc for _, doc, _ in rows]
    batch_ids = {id(doc) for doc in docs}
    rules = _enabled_rules()
    if not rules:
        return outcome

    ruleset = _compile_enabled(rules)
    # A stored query our engine can no longer compile fails its rule, not the batch.
    failures = {rid: f"{type(exc).__name__}: {exc}" for rid, exc in ruleset.errors.items()}
    sequence_ids = ruleset.sequence_ids
    try:
        # One pass of the rule set's prefilter: per rule, the batch events that can match it
        # (and, for sequences, which of their queries each one satisfies); the broad queries
        # of sequences wait until it is known which join keys can still make a match.
        found = ruleset.candidates(docs, defer=True)
    except Exception:
        logger.exception("rule set prefilter failed; evaluating every rule on every event")
        found = None
    if found is None:
        per_rule = [(rid, docs, None) for rid in ruleset.rule_ids]
        context_of = {}
    else:
        context_of = sequence_context(ruleset, found, sequence_ids, rules, rows, texts)
        per_rule = found.kept()

    matches: dict[str, list] = {}
    for rule_id, candidates, flags in per_rule:
        if not candidates:
            continue
        extra = context_of.get(rule_id)
        try:
            if extra:
                found = ruleset.queries[rule_id].search([*candidates, *extra])
                found = [m for m in found if any(id(e) in batch_ids for e in m.events)]
            else:
                found = ruleset.search_rule(rule_id, candidates, flags)
        except Exception as exc:
            failures[rule_id] = f"{type(exc).__name__}: {exc}"
            continue
        if found:
            matches[rule_id] = found

    window = (rows[0][2], rows[-1][2])
    involved = {
        r.rule_id: r
        for r in DetectionRule.objects.filter(rule_id__in=[*matches, *failures]).only(*_ALERTING)
    }
    # Only the rules that have exceptions at all (as the listing said) have theirs read.
    exceptions = _active_exceptions_of(
        [involved[rid] for rid in matches if rid in involved and rules[rid].has_exceptions], now
    )
    selected: list[tuple[DetectionRule, list[Candidate], bool]] = []
    for rule_id, found in matches.items():
        rule = involved.get(rule_id)
        if rule is None:  # deleted since the batch started
            continue
        cands, _suppressed, reached = select_candidates(
            rule_id, found, exceptions.get(rule.pk, _NO_EXCEPTIONS), rule.max_signals
        )
        selected.append((rule, cands, reached))
    for rule_id, error in failures.items():
        logger.error("rule %s failed on an ingest batch: %s", rule_id, error)
    # The batch's alerts, of every rule, and its runs: one commit.
    with derived_writes():
        new_ids = raise_alerts_of([(rule, cands) for rule, cands, _ in selected], now=now)
        runs = [
            _run_row(
                rule,
                RuleRun.Trigger.INGEST,
                now,
                window,
                scanned=len(rows),
                raised=len(new_ids.get(rule.pk, ())),
                reached=reached,
                started=started,
            )
            for rule, _cands, reached in selected
        ]
        runs += [
            _run_row(
                involved[rule_id],
                RuleRun.Trigger.INGEST,
                now,
                window,
                scanned=len(rows),
                error=error,
                started=started,
            )
            for rule_id, error in failures.items()
            if rule_id in involved
        ]
        RuleRun.objects.bulk_create(runs)
    outcome.alerts = sum(len(ids) for ids in new_ids.values())
    if outcome.alerts:
        _pause_point()
    outcome.failed_rules = sorted(failures)
    return outcome


def _run_row(
    rule: DetectionRule,
    trigger: str,
    now: datetime,
    window: tuple[datetime, datetime],
    *,
    scanned: int,
    raised: int = 0,
    reached: bool = False,
    error: str = "",
    started: float,
) -> RuleRun:
    """An unsaved RuleRun of a rule over an ingest batch."""
    return RuleRun(
        rule=rule,
        trigger=trigger,
        outcome=RuleRun.Outcome.FAILED if error else RuleRun.Outcome.SUCCEEDED,
        started_at=now,
        ended_at=datetime.now(UTC),
        window_start=window[0],
        window_end=window[1],
        events_scanned=scanned,
        alerts_raised=raised,
        max_signals_reached=reached,
        duration_ms=int((time.monotonic() - started) * 1000),
        error=error[:5000],
    )


# --- on schedule ---------------------------------------------------------------------------


def claim_due_rules(now: datetime | None = None) -> list[int]:
    """The enabled rules whose ``interval`` has elapsed, each claimed by compare-and-set on
    ``last_run_at`` so two beats (or two workers) never start the same run twice."""
    now = now or datetime.now(UTC)
    claimed = []
    for rule in DetectionRule.objects.enabled().only("pk", "interval", "last_run_at"):
        if rule.last_run_at is not None and rule.last_run_at + rule.interval > now:
            continue
        updated = DetectionRule.objects.filter(pk=rule.pk, last_run_at=rule.last_run_at).update(
            last_run_at=now
        )
        if updated:
            claimed.append(rule.pk)
    return claimed


def run_rule(
    rule: DetectionRule, *, trigger: str = RuleRun.Trigger.SCHEDULE, now: datetime | None = None
) -> RuleRun:
    """One run of one rule over its ``from`` look-back window, as Elastic schedules it.

    The window holds events whose ``@timestamp`` is within ``[now - from, now]``, plus, for
    rules with a ``timestamp_override`` (Elastic's ``event.ingested``), events *stored* in
    that window whatever their own time (late events). Never raises: a failure is the run's
    ``error``.
    """
    now = now or datetime.now(UTC)
    started = time.monotonic()
    window_start = now - rule.lookback
    run = RuleRun.objects.create(
        rule=rule,
        trigger=trigger,
        started_at=now,
        window_start=window_start,
        window_end=now,
    )
    try:
        query = compile_query(rule.rule_id, rule.query)
        in_window = Q(timestamp__gte=window_start, timestamp__lte=now)
        if rule.timestamp_override:
            in_window |= Q(ingested_at__gte=window_start, ingested_at__lte=now)
        docs = [
            doc for _, doc in load_documents(Event.objects.filter(in_window).order_by("timestamp"))
        ]
        run.events_scanned = len(docs)
        found = query.search(docs)
        cands, _suppressed, reached = select_candidates(
            rule.rule_id, found, active_exceptions(rule, now), rule.max_signals
        )
        run.alerts_raised = len(raise_alerts(rule, cands, now=now))
        run.max_signals_reached = reached
        run.outcome = RuleRun.Outcome.SUCCEEDED
    except Exception as exc:
        logger.exception("rule %s (%s) failed", rule.rule_id, rule.name)
        run.outcome = RuleRun.Outcome.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:5000]
    run.ended_at = datetime.now(UTC)
    run.duration_ms = int((time.monotonic() - started) * 1000)
    run.save()
    return run


def run_rules(rules: Iterable[DetectionRule], **kwargs) -> list[RuleRun]:
    """Run several rules one after another; one failing does not stop the others."""
    return [run_rule(rule, **kwargs) for rule in rules]


# --- retention -----------------------------------------------------------------------------


def _hit_retention() -> timedelta:
    """How long sequence hits are useful: the longest span of an enabled sequence rule (its
    maxspan, else its look-back), and never less than a day."""
    longest = timedelta(days=1)
    for rule in DetectionRule.objects.enabled().only("rule_id", "query", "lookback"):
        try:
            shape = sequence_shape(compile_query(rule.rule_id, rule.query))
        except eql.EqlError:
            continue
        if shape is not None:
            longest = max(longest, shape.maxspan or rule.lookback)
    return longest


def purge_expired_events(now: datetime | None = None, *, chunk: int = 10_000) -> int:
    """Delete events whose ``@timestamp`` is older than ``EVENT_RETENTION_DAYS``, in chunks
    (short transactions). Alerts keep their own snapshot of the events they matched.
    Sequence hits are kept as long as a sequence rule can look back (at least a day)."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=settings.EVENT_RETENTION_DAYS)
    SequenceHit.objects.filter(timestamp__lt=max(cutoff, now - _hit_retention())).delete()
    total = 0
    while True:
        pks = list(Event.objects.filter(timestamp__lt=cutoff).values_list("pk", flat=True)[:chunk])
        if not pks:
            return total
        deleted, _ = Event.objects.filter(pk__in=pks).delete()
        total += deleted
