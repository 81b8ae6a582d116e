"""Sequences across ingest batches: the look-back of detection on ingest.

A sequence rule may match events of several batches. Detection records, per batch, the *hits*
of each sequence's selective queries (``SequenceHit``); a batch then completes a sequence only
for the join keys that have a hit of each of those queries, in the batch or stored within the
sequence's span, and reads the stored events of just those keys (see ``sequence_context`` and
docs/pipeline.md). Also here: reading stored events back (``load_rows``).
"""

from __future__ import annotations

import contextlib
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from django.db import connection, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from rules import eql
from rules.eql.timestamps import parse_ingest_timestamp
from rules.ingest.fields import get_field
from rules.models import Event, SequenceHit

__all__ = [
    "MAX_CONTEXT_EVENTS",
    "SequenceShape",
    "derived_writes",
    "load_documents",
    "load_rows",
    "look_around",
    "rows_of_texts",
    "sequence_cache",
    "sequence_context",
    "sequence_shape",
]

# At most this many stored events are read as look-back context for sequences of one batch.
MAX_CONTEXT_EVENTS = 50_000
# Join keys that are indexed columns of the event store, so look-back can filter in SQL.
_KEY_COLUMNS = {
    "host.id": "host_id",
    "host.name": "host_name",
    "user.id": "user_id",
    "user.name": "user_name",
    "process.entity_id": "process_entity_id",
    "process.parent.entity_id": "parent_entity_id",
}


@dataclass(frozen=True)
class SequenceShape:
    """What look-back needs to know about a sequence query."""

    maxspan: timedelta | None
    key_paths: tuple[str, ...]  # the `by` fields (empty when a key is not a plain field)


def _plain_path(key) -> str | None:
    path = getattr(key, "path", None)
    return ".".join(path) if path else None


def sequence_shape(query: eql.Query) -> SequenceShape | None:
    """None for event queries; for sequences, their maxspan and the plain-field join keys
    every term joins on: the ``by`` fields of ``sequence by``, plus per-term ``by`` keys
    that name the same field in every term at the same position."""
    if query.kind != "sequence":
        return None
    seq = query.statement.query
    maxspan = timedelta(milliseconds=seq.maxspan_ms) if seq.maxspan_ms else None
    paths = []
    for key in seq.shared_keys:
        path = _plain_path(key)
        if path is None:
            return SequenceShape(maxspan, ())
        paths.append(path)
    terms = [*seq.terms, *([seq.until] if seq.until is not None else [])]
    per_term = [tuple(t.keys) for t in terms]
    if per_term and per_term[0] and all(len(k) == len(per_term[0]) for k in per_term):
        for i in range(len(per_term[0])):
            found = {_plain_path(keys[i]) for keys in per_term}
            if len(found) == 1 and None not in found:
                paths.append(found.pop())
            else:
                break  # positions after a mismatch are not compared on their own
    return SequenceShape(maxspan, tuple(dict.fromkeys(paths)))


@contextlib.contextmanager
def derived_writes():
    """A transaction for what detection derives from stored events (alerts, runs, hits).

    On PostgreSQL its commit does not wait for the disk (``synchronous_commit`` off for this
    transaction only): a crash can lose the last moments of it, which the scheduled rule
    runs derive again (alert keys keep that idempotent); the events themselves are always
    committed durably by ingest.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def load_documents(queryset) -> list[tuple[int, dict]]:
    """(pk, document) pairs; the JSON is decoded with orjson (much faster than json)."""
    rows = queryset.values_list("pk", Cast("doc", output_field=TextField()))
    return [(pk, orjson.loads(text)) for pk, text in rows.iterator(chunk_size=2000)]


_fromepoch = datetime.fromtimestamp


def _int_array(values) -> str:
    """A PostgreSQL array literal of integers: one string is sent much faster than a list,
    which the driver adapts element by element in Python."""
    return "{" + ",".join(str(int(v)) for v in values) + "}"


def load_rows(
    event_pks: list[int], texts: dict[int, str] | None = None
) -> list[tuple[int, dict, datetime]]:
    """(pk, document, timestamp) of the events, in time order (then pk). The documents are
    read as text and decoded with orjson; the timestamp is the stored, indexed one. On
    PostgreSQL, ``texts`` (if given) receives each document's JSON text by pk."""
    if connection.vendor != "postgresql":
        rows = [
            (pk, doc, parse_ingest_timestamp(get_field(doc, "@timestamp", None)))
            for pk, doc in load_documents(Event.objects.filter(pk__in=event_pks))
        ]
        rows.sort(key=_time_then_pk)
        return rows
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        # the time as epoch seconds: a float is read much faster than a timestamp
        cursor.execute(
            f"SELECT id, doc::text, extract(epoch FROM timestamp)::float8 FROM {table} "  # noqa: S608 (model identifiers; values are parameters)
            "WHERE id = ANY(%s::bigint[])",
            [_int_array(event_pks)],
        )
        fetched = cursor.fetchall()
    return rows_of_texts([(pk, text, _fromepoch(epoch, UTC)) for pk, text, epoch in fetched], texts)


def _time_then_pk(row: tuple) -> tuple:
    return row[2], row[0]


def rows_of_texts(
    items: list[tuple[int, str | bytes, datetime]], texts: dict[int, str | bytes] | None = None
) -> list[tuple[int, dict, datetime]]:
    """What :func:`load_rows` returns, from (pk, JSON text, timestamp) already in hand (a
    batch handed over by ingest); ``texts`` receives the texts by pk."""
    rows = [(pk, orjson.loads(text), ts) for pk, text, ts in items]
    if texts is not None:
        texts.update((pk, text) for pk, text, _ts in items)
    rows.sort(key=_time_then_pk)
    return rows


def look_around(
    specs: dict[str, tuple[SequenceShape, timedelta]],
    narrow: dict[str, tuple | None],
    rows: list[tuple[int, dict, datetime]],
) -> dict[str, list[int]]:
    """Per sequence rule, the stored events (not of the batch) within its span of the batch,
    narrowed by indexed columns to the values of the join keys that can make a match
    (``narrow``, see :func:`_narrowing`). Rules narrowed by the same columns share a query."""
    batch = {pk for pk, _, _ in rows}
    first_ts, last_ts = rows[0][2], rows[-1][2]
    groups: dict[tuple, list[str]] = {}
    for rid in specs:
        shape = tuple(columns for columns, _values in narrow.get(rid) or ())
        groups.setdefault(shape, []).append(rid)
    out: dict[str, list[int]] = {}
    for shape, rids in groups.items():
        span = max(specs[rid][1] for rid in rids)
        wanted = [
            (columns, frozenset().union(*(narrow[rid][n][1] for rid in rids)))
            for n, columns in enumerate(shape)
        ]
        if any(not values for _columns, values in wanted):
            out.update((rid, []) for rid in rids)
            continue
        found = _events_in(first_ts - span, last_ts + span, wanted, _context_cap(rids, batch))
        for rid in rids:
            lo = (first_ts - specs[rid][1]).timestamp()
            hi = (last_ts + specs[rid][1]).timestamp()
            mine = [values for _columns, values in narrow.get(rid) or ()]
            out[rid] = [
                pk
                for pk, ts, *cols in found
                if pk not in batch and lo <= ts <= hi and _holds(cols, shape, mine)
            ][:MAX_CONTEXT_EVENTS]
    return out


def _holds(cols: list, shape: tuple, values: list[frozenset]) -> bool:
    """Whether an event's column values (``cols``, in the order of the flattened ``shape``)
    hold, at every key position, one of that position's values in one of its columns."""
    at = 0
    for columns, wanted in zip(shape, values, strict=True):
        if not any(cols[at + k] in wanted for k in range(len(columns))):
            return False
        at += len(columns)
    return True


def _events_in(lo: datetime, hi: datetime, wanted: list, cap: int) -> list:
    """(pk, epoch seconds, *columns) of the stored events between ``lo`` and ``hi`` where, for
    each (columns, values) of ``wanted``, one of the columns holds one of the values."""
    columns = [c for cols, _values in wanted for c in cols]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(*events_in_sql(lo, hi, wanted, cap))
            return cursor.fetchall()
    q = Q(timestamp__gte=lo, timestamp__lte=hi)
    for cols, values in wanted:
        either = Q()
        for c in cols:
            either |= Q(**{f"{c}__in": values})
        q &= either
    rows = Event.objects.filter(q).values_list("pk", "timestamp", *columns)[:cap]
    return [(pk, ts.timestamp(), *cols) for pk, ts, *cols in rows]


def events_in_sql(lo: datetime, hi: datetime, wanted: list, cap: int) -> tuple[str, list]:
    """The PostgreSQL statement and parameters of :func:`_events_in`. The host and process
    columns are indexed (host id and name with the time), so narrowing by them reads the
    keys' events rather than every event of the window."""
    columns = [c for cols, _values in wanted for c in cols]
    table = Event._meta.db_table
    select = "".join(f", e.{c}" for c in columns)
    where, params = [], []
    # A host column is indexed with the time: each host's window is read by its own scan of
    # that index (a subquery per host, which ``OFFSET 0`` keeps apart). Given the whole time
    # range at once, the planner read every event of the window whenever it took the
    # window's newest events (beyond its statistics: live ones) for few.
    by_host, hosts = next(
        ((cols[0], values) for cols, values in wanted if cols in _HOST_TIME_INDEXED), (None, ())
    )
    if by_host is not None:
        inner = "".join(f", {c}" for c in dict.fromkeys(columns))
        source = (
            f"unnest(%s::text[]) AS k(v) CROSS JOIN LATERAL (SELECT id, timestamp{inner} FROM {table} "  # noqa: S608 (model identifiers; values are parameters)
            f"WHERE {by_host} = k.v AND timestamp >= %s AND timestamp <= %s OFFSET 0) AS e"
        )
        params += [sorted(hosts), lo, hi]
    else:
        source = f"{table} e"
        where.append("e.timestamp >= %s AND e.timestamp <= %s")
        params += [lo, hi]
    for cols, values in wanted:
        if cols == (by_host,):
            continue
        where.append("(" + " OR ".join(f"e.{c} = ANY(%s)" for c in cols) + ")")
        params += [list(values)] * len(cols)
    sql = (
        f"SELECT e.id, extract(epoch FROM e.timestamp)::float8{select} FROM {source}"  # noqa: S608 (model identifiers; values are parameters)
        + (" WHERE " + " AND ".join(where) if where else "")
        + " LIMIT %s"
    )
    return sql, [*params, cap]


# Narrowing columns of the event store indexed together with the time (see models.Event).
_HOST_TIME_INDEXED = (("host_id",), ("host_name",))


def _context_cap(rids: list[str], batch: set[int]) -> int:
    return MAX_CONTEXT_EVENTS * len(rids) + len(batch)


_ANY_RULE: frozenset = frozenset({"*"})  # a document read back whose matches were not worked out


class _SequenceCandidates:
    """Per worker process: for recently seen events, which sequence rules they can match
    (by the rule-set prefilter) and, if any, the document. Consecutive batches look back over
    mostly the same stored events; this keeps them from being read, decoded and prefiltered
    again and again. Cleared when the compiled rule set changes (the enabled rules did)."""

    SIZE = 100_000

    def __init__(self) -> None:
        self.key: object = None
        # pk -> (rules it can match, its JSON: text as read back, or bytes when re-encoded)
        self.entries: OrderedDict[int, tuple[frozenset[str], str | bytes | None]] = OrderedDict()
        self._sets: dict[frozenset[str], frozenset[str]] = {}

    def bind(self, key: object) -> None:
        if key is not self.key:
            self.key = key
            self.entries.clear()
            self._sets.clear()

    def _shared(self, rule_ids: frozenset[str]) -> frozenset[str]:
        """One object per distinct set of rule ids (there are few)."""
        if len(self._sets) > 10_000:
            self._sets.clear()
        return self._sets.setdefault(rule_ids, rule_ids)

    def put(self, pk: int, rule_ids: frozenset[str], doc: dict, text: str | None = None) -> None:
        # Kept as JSON, not as the live dict: a decoded document is a hundred objects that
        # every garbage collection would traverse (the cache holds up to SIZE of them); few
        # are ever read back. Only documents some sequence can use are kept.
        if not rule_ids:
            text = None
        elif text is None:
            text = orjson.dumps(doc)
        self.entries[pk] = (self._shared(rule_ids), text)
        self.entries.move_to_end(pk)
        while len(self.entries) > self.SIZE:
            self.entries.popitem(last=False)

    def fill(self, pks: list[int]) -> None:
        """Read the documents of ``pks`` not held yet. What they can match is not worked out:
        they may match any sequence (the rule's own search decides)."""
        missing = [pk for pk in pks if pk not in self.entries]
        for start in range(0, len(missing), 5000):
            texts: dict[int, str] = {}
            for pk, doc, _ts in load_rows(missing[start : start + 5000], texts):
                self.put(pk, _ANY_RULE, doc, texts.get(pk))

    def context(self, rule_id: str, pks: list[int], decoded: dict[int, dict]) -> list[dict]:
        """The documents of ``pks`` that ``rule_id`` can use; ``decoded`` (pk -> document)
        shares the decoding between the rules of one batch."""
        out = []
        for pk in pks:
            entry = self.entries.get(pk)
            if entry is not None and (entry[0] is _ANY_RULE or rule_id in entry[0]):
                doc = decoded.get(pk)
                if doc is None:
                    doc = decoded[pk] = orjson.loads(entry[1])
                out.append(doc)
        return out


sequence_cache = _SequenceCandidates()


def _span(rule_id: str, ruleset, rules: dict) -> timedelta:
    shape = _shape_of(ruleset.queries[rule_id])
    return (shape.maxspan if shape else None) or rules[rule_id].lookback


_shapes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _shape_of(query: eql.Query) -> SequenceShape | None:
    """``sequence_shape``, remembered for as long as the compiled query lives."""
    try:
        return _shapes[query]
    except KeyError:
        shape = _shapes[query] = sequence_shape(query)
        return shape


def sequence_context(
    ruleset, found, sequence_ids: list[str], rules: dict, rows, texts: dict[int, str]
) -> dict:
    """Complete the batch's sequence candidates and gather their look-back context.

    Every match of a sequence holds an event of each of its queries that the pass
    evaluated. So a sequence can only complete with this batch for the join keys that have
    a hit of each of those queries in the batch or stored within its span of the batch,
    and an event of the batch. This batch's hits are recorded first (so that a batch
    processed at the same time sees them, or is seen by this one's look-back), then the
    stored ones are read. A sequence with no such key is skipped; the others have their
    deferred queries evaluated on the batch events of those keys, and the stored events of
    those keys within the span are their context (rule id -> documents).
    """
    if not sequence_ids:
        return {}
    # This batch is the next batches' look-back: remember what each event can match, as
    # the pass found (a sequence whose broad queries were left out of the pass may be
    # matched by any event).
    partial = frozenset(rid for rid in sequence_ids if found.deferred(rid))
    of_doc: dict[int, set[str]] = {}
    for rid in sequence_ids:
        for doc in found.of(rid)[0]:
            of_doc.setdefault(id(doc), set()).add(rid)
    # A sequence can only match with this batch through a batch event of one of its
    # queries: one the pass kept for it or, when some of its queries were deferred, any
    # event. The others are done with here (no hits to record, no look-back to read).
    live = []
    for rid in sequence_ids:
        if rid in partial or found.of(rid)[0]:
            live.append(rid)
        else:
            found.skip(rid)
    hits = {rid: found.hits(rid) for rid in live}
    pk_of = {id(doc): (pk, ts) for pk, doc, ts in rows}
    _record_hits(
        (rid, term, key, *pk_of[id(doc)])
        for rid, per_term in hits.items()
        for term, events in per_term.items()
        for doc, keys in events
        for key in keys
    )
    spans = {rid: _span(rid, ruleset, rules) for rid in live}
    stored = _stored_hits(spans, rows)
    specs, narrow = {}, {}
    for rid in live:
        keys = None
        for term, events in hits[rid].items():
            here = {_normal_key(key) for _doc, ks in events for key in ks}
            here |= stored.get((rid, term), set())
            keys = here if keys is None else keys & here
        if keys:
            found.complete(rid, keys)
            keys &= {_normal_key(k) for k in found.join_keys(rid, *found.of(rid))}
        if not keys:
            found.skip(rid)
            continue
        shape = _shape_of(ruleset.queries[rid])
        specs[rid] = (shape, spans[rid])
        narrow[rid] = (keys, _narrowing(ruleset.queries[rid], keys))
    cache = sequence_cache
    # the compiled rule set stands for its rules: one compiled for other rules starts afresh
    cache.bind(ruleset)
    context_of: dict[str, list[dict]] = {}
    if specs:
        windows = look_around(specs, {rid: n[1] for rid, n in narrow.items()}, rows)
        cache.fill(sorted({pk for pks in windows.values() for pk in pks}))
        decoded: dict[int, dict] = {}
        for rid, pks in windows.items():
            keys = narrow[rid][0]
            terms = ruleset.join_keyspecs(rid)
            extra = [
                doc
                for doc in cache.context(rid, pks, decoded)
                if any(_normal_key(key) in keys for keyspec in terms for key in keyspec.combos(doc))
            ]
            if extra:
                context_of[rid] = extra
    for pk, doc, _ts in rows:
        mine = of_doc.get(id(doc))
        cache.put(pk, partial if mine is None else frozenset(mine) | partial, doc, texts.get(pk))
    return context_of


def _normal_key(key: tuple) -> tuple:
    """A join key as the engine compares it, in a form JSON keeps: numbers and booleans that
    are equal in Python (``1``, ``1.0``, ``True``) become one value."""
    out = []
    for v in key:
        if type(v) is bool or (type(v) is float and v.is_integer()):
            v = int(v)
        out.append(v)
    return tuple(out)


def _key_text(key: tuple) -> str:
    return orjson.dumps(list(_normal_key(key)), default=str).decode()


def _record_hits(hits) -> None:
    """Store (rule id, term, join key, event pk, timestamp) of a batch's hits, committed."""
    rows = [(rid, term, _key_text(key), pk, ts) for rid, term, key, pk, ts in hits]
    if not rows:
        return
    if connection.vendor != "postgresql":
        SequenceHit.objects.bulk_create(
            (
                SequenceHit(rule_id=r, term=t, key=k, event_pk=p, timestamp=ts)
                for r, t, k, p, ts in rows
            ),
            batch_size=2000,
        )
        return
    table = SequenceHit._meta.db_table
    # COPY: its rows are formatted by the driver's C code (arrays as parameters were
    # adapted element by element in Python); binary, so no timestamp goes through text.
    statement = f"COPY {table} (rule_id, term, key, event_pk, timestamp) FROM STDIN (FORMAT BINARY)"
    with derived_writes(), connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(["text", "int2", "text", "int8", "timestamptz"])
        for row in rows:
            copy.write_row(row)


# Each rule's window is read by its own range scan of (rule_id, timestamp): as a plain join,
# PostgreSQL hashed the windows and scanned the whole hits table for every batch (measured:
# 2.6, then 5.7, then 8.8 ms a batch over three rounds of the ingest benchmark), a cost that
# grows with the table, a day of hits and more in production. ``OFFSET 0`` keeps the
# subquery from being merged into such a join.
STORED_HITS_SQL = (
    "SELECT DISTINCT w.rid, h.term, h.key "
    "FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS w(rid, lo, hi) "
    "CROSS JOIN LATERAL (SELECT term, key FROM {table} "
    "WHERE rule_id = w.rid AND timestamp >= w.lo AND timestamp <= w.hi OFFSET 0) AS h"
)


def _stored_hits(spans: dict[str, timedelta], rows) -> dict[tuple[str, int], set[tuple]]:
    """(rule id, term) -> the join keys of the hits stored within the rule's span of the
    batch (one query; each rule's window is cut in the database)."""
    if not spans:
        return {}
    first_ts, last_ts = rows[0][2], rows[-1][2]
    found: dict[tuple[str, int], set[tuple]] = {}
    if connection.vendor == "postgresql":
        table = SequenceHit._meta.db_table
        rids = list(spans)
        with connection.cursor() as cursor:
            cursor.execute(
                STORED_HITS_SQL.format(table=table),
                [
                    rids,
                    [first_ts - spans[r] for r in rids],
                    [last_ts + spans[r] for r in rids],
                ],
            )
            fetched = cursor.fetchall()
    else:
        widest = max(spans.values())
        fetched = [
            (rid, term, key)
            for rid, term, key, ts in SequenceHit.objects.filter(
                rule_id__in=list(spans),
                timestamp__gte=first_ts - widest,
                timestamp__lte=last_ts + widest,
            ).values_list("rule_id", "term", "key", "timestamp")
            if first_ts - spans[rid] <= ts <= last_ts + spans[rid]
        ]
    decoded = _decoded_keys
    if len(decoded) > 100_000:
        decoded.clear()
    for rid, term, text in fetched:
        key = decoded.get(text)
        if key is None:
            key = decoded[text] = tuple(orjson.loads(text))
        found.setdefault((rid, term), set()).add(key)
    return found


# Join keys as stored (JSON text) -> as compared: consecutive batches read mostly the same.
_decoded_keys: dict[str, tuple] = {}


def _key_columns(query) -> list[tuple[str, ...] | None]:
    """Per join-key position of a sequence, the indexed columns its queries' keys there are
    read from (one column for a shared ``by`` field; several when the queries key on
    different fields, such as a process's entity id and its child's parent entity id), or
    None when one of them is not an indexed column."""
    seq = query.statement.query
    terms = [*seq.terms, *([seq.until] if seq.until is not None else [])]
    width = len(terms[0].keys) if terms else 0
    out: list[tuple[str, ...] | None] = []
    for i in range(width):
        columns = {_KEY_COLUMNS.get(_plain_path(t.keys[i]) or "") for t in terms}
        out.append(None if None in columns else tuple(sorted(columns)))
    return out


def _narrowing(query, keys: set[tuple]) -> tuple | None:
    """The look-back filter for ``keys``: per join-key position read from indexed columns,
    ``(columns, values)``: an event can share a match only if one of those columns holds
    one of the values the keys have there. None when no position is indexed. (A
    multi-valued field is indexed by its first value: an event joining on another value
    is missed here, as by the column itself.)"""
    narrowing = []
    for i, columns in enumerate(_key_columns(query)):
        if columns is None:
            continue
        values = set()
        for key in keys:
            v = key[i] if i < len(key) else None
            if isinstance(v, str | int | float) and not isinstance(v, bool) and str(v):
                values.add(str(v)[:255])
        narrowing.append((columns, frozenset(values)))
    return tuple(narrowing) or None
