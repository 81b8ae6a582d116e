"""Storing events: parsed records in, deduplicated rows out, detection queued on commit.

Everything that reaches the event store goes through :func:`store_events`: HTTP bodies,
``_bulk`` requests and files. Rows are inserted with ``ON CONFLICT (event_id) DO NOTHING``
so sending the same events twice stores nothing new, and only the rows this call inserted
are handed to detection.

This module is the machine side's public surface for events: the human side reads them
through it (``Event`` and ``IngestSource`` are re-exported here), never through
``rules.models`` directly.
"""

from __future__ import annotations

import logging
import operator
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from django.db import IntegrityError, connection, transaction
from psycopg.adapt import Dumper
from psycopg.pq import Format

from rules import handoff
from rules.eql.gc_pause import gc_paused
from rules.ingest.ecs import index_columns
from rules.ingest.records import ParsedRecord
from rules.models import Event, IngestSource

__all__ = [  # the surface other apps may import; the rest is this module's own
    "BATCH_SIZE",
    "COLUMN_TYPES",
    "INDEXED_COLUMNS",
    "Event",
    "EventRow",
    "IngestSource",
    "IngestSummary",
    "JsonbFromText",
    "StoreResult",
    "UnstorableEvent",
    "enqueue_detection",
    "event_row",
    "ingest_records",
    "rows_from_records",
    "store_events",
]

logger = logging.getLogger(__name__)

# Detection tasks receive the new rows' primary keys; a batch this size stays a small message.
BATCH_SIZE = 2000

INDEXED_COLUMNS = (
    "event_id",
    "timestamp",
    "category",
    "action",
    "host_id",
    "host_name",
    "user_id",
    "user_name",
    "process_entity_id",
    "process_pid",
    "parent_entity_id",
    "parent_pid",
)
_TEXT_COLUMNS = {
    name: Event._meta.get_field(name).max_length
    for name in INDEXED_COLUMNS
    if Event._meta.get_field(name).max_length
}


class UnstorableEvent(ValueError):
    """An event that parsed but cannot be stored (the reason is fit for the sender)."""


@dataclass
class EventRow:
    """An event ready for the store: its indexed column values and its JSON text (UTF-8)."""

    columns: dict
    doc_json: bytes

    @property
    def event_id(self) -> str:
        return self.columns["event_id"]


def event_row(doc: dict, *, plain: bool = False, text: bytes | None = None) -> EventRow:
    """The row for one ECS document (``event.id`` already assigned by the parser).

    ``plain`` and ``text`` as :class:`~rules.ingest.records.ParsedRecord` has them: ``text``
    (the document's JSON exactly, as it was sent) is stored as it is instead of writing the
    document out again. Raises :class:`UnstorableEvent` for what PostgreSQL would refuse: no
    usable timestamp, a NUL character (JSONB cannot hold ``\\u0000``), an over-long id.
    """
    columns = index_columns(doc, plain=plain)
    if columns["timestamp"] is None:
        raise UnstorableEvent("@timestamp: missing or not a date")
    event_id = columns["event_id"]
    if len(event_id) > _TEXT_COLUMNS["event_id"]:
        raise UnstorableEvent(f"event.id: longer than {_TEXT_COLUMNS['event_id']} characters")
    doc_json = orjson.dumps(doc) if text is None else text
    if b"\\u0000" in doc_json and _NUL_ESCAPE.search(doc_json):
        raise UnstorableEvent("contains a NUL character (\\u0000), which cannot be stored")
    for name, limit in _TEXT_COLUMNS.items():
        value = columns[name]
        if value is None:
            columns[name] = ""
        elif len(value) > limit:
            # Only the indexed copy is cut; the document keeps the full value.
            columns[name] = value[:limit]
        elif "\x00" in value:
            columns[name] = value.replace("\x00", "")
    return EventRow(columns, doc_json)


# ``\u0000`` as an escape, not as text that reads so (``\\u0000``: a backslash, then "u0000"):
# preceded by an even number of backslashes.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


@dataclass
class StoreResult:
    accepted: int = 0
    duplicates: int = 0
    new_pks: list[int] = field(default_factory=list)
    new_event_ids: set[str] = field(default_factory=set)


# PostgreSQL types of the indexed columns that are not text.
COLUMN_TYPES = {"timestamp": "timestamptz", "process_pid": "bigint", "parent_pid": "bigint"}


def _insert_postgresql(rows: list[EventRow], source_id: int | None) -> list[tuple[int, str]]:
    """Insert the rows not stored yet; returns (id, event_id) of each row this call inserted.

    Fast path, for rows none of which is stored yet (the usual case): reserve their ids from
    the table's sequence, then ``COPY`` them with those ids, so nothing is read back. If one
    is stored already (a file sent twice, a concurrent writer), the unique constraint stops
    the COPY (rolled back to a savepoint) and the safe path runs instead.
    """
    table = Event._meta.db_table
    names = ", ".join(INDEXED_COLUMNS)
    with connection.cursor() as django_cursor:
        # psycopg's own cursor: COPY streams the rows without quoting them
        cursor = psycopg.Cursor(django_cursor.cursor.connection)
        cursor.adapters.register_dumper(None, JsonbFromText)
        ids = _reserve_ids(cursor, table, len(rows))
        now = datetime.now(UTC)
        columns = _row_columns
        try:
            statement = (
                f"COPY {table} (id, {names}, ingested_at, source_id, doc) "
                "FROM STDIN (FORMAT BINARY)"
            )
            with transaction.atomic(), cursor.copy(statement) as copy:
                copy.set_types(_COPY_TYPES)
                for pk, row in zip(ids, rows, strict=True):
                    copy.write_row((pk, *columns(row.columns), now, source_id, row.doc_json))
        except (IntegrityError, psycopg.errors.UniqueViolation):
            return _insert_staged(rows, source_id)
        return [(pk, row.event_id) for pk, row in zip(ids, rows, strict=True)]


class JsonbFromText(Dumper):
    """``jsonb`` in COPY's binary format from the JSON text in hand: a version byte, then the
    text. The binary format spares escaping every backslash of a Windows path for the text
    format, and formatting and parsing the timestamps as text: half the client's work per row."""

    format = Format.BINARY
    oid = psycopg.postgres.types["jsonb"].oid

    def dump(self, obj: bytes) -> bytes:
        return b"\x01" + obj


# The binary COPY's column types: (id, INDEXED_COLUMNS..., ingested_at, source_id, doc).
_COPY_TYPES = [
    "bigint",
    *(COLUMN_TYPES.get(n, "text") for n in INDEXED_COLUMNS),
    "timestamptz",
    "bigint",
    "jsonb",
]

_row_columns = operator.itemgetter(*INDEXED_COLUMNS)

_id_block: int | None = None  # how far one nextval of the event id sequence advances it


def _reserve_ids(cursor, table: str, count: int) -> list[int]:
    """``count`` unused event ids. The sequence advances by a block per ``nextval`` (see
    migration 0006), so a batch takes a call per block rather than one per event; each
    call's block is this caller's alone."""
    global _id_block
    if _id_block is None:
        cursor.execute(
            "SELECT seqincrement FROM pg_sequence "
            "WHERE seqrelid = pg_get_serial_sequence(%s, 'id')::regclass",
            [table],
        )
        _id_block = max(1, cursor.fetchone()[0])
    calls = -(-count // _id_block)
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
        [table, calls],
    )
    return [start + k for (start,) in cursor.fetchall() for k in range(_id_block)][:count]


def _insert_staged(rows: list[EventRow], source_id: int | None) -> list[tuple[int, str]]:
    """Safe under any concurrency: COPY into a session-private staging table, then move the new
    rows over with ``INSERT … SELECT … ON CONFLICT (event_id) DO NOTHING RETURNING``."""
    table = Event._meta.db_table
    names = ", ".join(INDEXED_COLUMNS)
    stage_columns = ", ".join(f"{n} {COLUMN_TYPES.get(n, 'text')}" for n in INDEXED_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS rules_event_stage ({stage_columns}, doc text) "
            "ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE rules_event_stage")
        raw = cursor.cursor  # psycopg's own cursor: COPY streams rows without quoting them
        with raw.copy(f"COPY rules_event_stage ({names}, doc) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([*(row.columns[n] for n in INDEXED_COLUMNS), row.doc_json.decode()])
        cursor.execute(
            f"INSERT INTO {table} ({names}, ingested_at, source_id, doc) "  # noqa: S608 (model identifiers; values are parameters)
            f"SELECT {names}, now(), %s, doc::jsonb FROM rules_event_stage "
            "ON CONFLICT (event_id) DO NOTHING RETURNING id, event_id",
            [source_id],
        )
        return cursor.fetchall()


def _insert_generic(rows: list[EventRow], source_id: int | None) -> list[tuple[int, str]]:
    """SQLite (the demo): ``INSERT … ON CONFLICT DO NOTHING RETURNING`` one row at a time."""
    table = Event._meta.db_table
    names = [*INDEXED_COLUMNS, "ingested_at", "source_id", "doc"]
    placeholders = ", ".join(["%s"] * len(names))
    sql = (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders}) "  # noqa: S608 (model identifiers; values are parameters)
        "ON CONFLICT (event_id) DO NOTHING RETURNING id, event_id"
    )
    now = datetime.now(UTC)
    ts_field = Event._meta.get_field("timestamp")
    pks = []
    with connection.cursor() as cursor:
        for row in rows:
            values = [row.columns[name] for name in INDEXED_COLUMNS]
            values[1] = ts_field.get_db_prep_value(values[1], connection)
            values += [
                ts_field.get_db_prep_value(now, connection),
                source_id,
                row.doc_json.decode(),
            ]
            cursor.execute(sql, values)
            found = cursor.fetchone()
            if found:
                pks.append((found[0], found[1]))
    return pks


def store_events(rows: list[EventRow], source: IngestSource | None = None) -> StoreResult:
    """Insert rows not already stored; detection of the new ones is queued for after commit.

    Runs in the caller's transaction (or its own). Duplicates, within ``rows`` or against
    the store, are counted and skipped, never an error.
    """
    result = StoreResult()
    if not rows:
        return result
    unique: dict[str, EventRow] = {}
    for row in rows:
        unique.setdefault(row.event_id, row)
    source_id = source.pk if source is not None else None
    insert = _insert_postgresql if connection.vendor == "postgresql" else _insert_generic
    with transaction.atomic():
        inserted = insert(list(unique.values()), source_id)
        if inserted:
            enqueue_detection(
                [pk for pk, _ in inserted], [unique[event_id] for _, event_id in inserted]
            )
    result.new_pks = [pk for pk, _ in inserted]
    result.new_event_ids = {event_id for _, event_id in inserted}
    result.accepted = len(inserted)
    result.duplicates = len(rows) - len(inserted)
    return result


# After the broker fails, ingest stops trying it for this long (each attempt can take seconds
# of connection retries); the scheduled rule runs cover the events stored meanwhile.
BROKER_RETRY_AFTER = 30.0
_broker_down_until = 0.0


def _broker_error(exc: BaseException) -> bool:
    from kombu.exceptions import OperationalError

    return isinstance(exc, OperationalError | ConnectionError | OSError)


def enqueue_detection(event_pks: list[int], rows: list[EventRow] | None = None) -> None:
    """Queue detection of these (new) rows once the transaction that stored them commits.

    With ``rows`` (the stored rows, in the order of ``event_pks``) and a broker in another
    process, their documents go along through Redis (see :mod:`rules.handoff`) so that the
    task need not read them back. A broker that cannot be reached is logged, not raised: the
    events are stored, and the scheduled rule runs (every rule's ``interval`` over its
    ``from`` look-back) find them.
    """
    pks = list(event_pks)
    hand_off = rows is not None and handoff.enabled()

    def send() -> None:
        global _broker_down_until
        from rules.tasks import detect_events

        if time.monotonic() < _broker_down_until:
            logger.warning(
                "broker unavailable: detection of %d stored events is left to the scheduled "
                "rule runs",
                len(pks),
            )
            return
        for start in range(0, len(pks), BATCH_SIZE):
            chunk = pks[start : start + BATCH_SIZE]
            kwargs: dict = {"event_pks": chunk}
            if hand_off:
                handed = rows[start : start + BATCH_SIZE]
                key = handoff.put(
                    chunk, [r.columns["timestamp"] for r in handed], [r.doc_json for r in handed]
                )
                if key is not None:
                    kwargs["batch_key"] = key
            try:
                detect_events.apply_async(kwargs=kwargs, retry=False)
            except Exception as exc:
                if "batch_key" in kwargs:
                    handoff.discard(kwargs["batch_key"])
                logger.exception(
                    "could not queue detection of %d stored events (the scheduled rule runs "
                    "will cover them)",
                    len(pks) - start,
                )
                if _broker_error(exc):
                    _broker_down_until = time.monotonic() + BROKER_RETRY_AFTER
                return
        _broker_down_until = 0.0

    transaction.on_commit(send)


@dataclass
class IngestSummary:
    """What happened to an input: counts, and the records that were refused, with why."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)

    def as_response(self) -> dict:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
        }


def rows_from_records(
    records: Iterable[ParsedRecord], summary: IngestSummary
) -> Iterator[tuple[ParsedRecord, EventRow]]:
    """The storable records, each with its row; the others are added to ``summary.rejected``."""
    for record in records:
        if record.error is not None or record.event is None:
            summary.rejected.append(_rejection(record, record.error or "no event"))
            continue
        try:
            row = event_row(record.event, plain=record.plain, text=record.text)
        except UnstorableEvent as exc:
            summary.rejected.append(_rejection(record, str(exc)))
            continue
        if record.kind:
            summary.by_kind[record.kind] = summary.by_kind.get(record.kind, 0) + 1
        yield record, row


def _rejection(record: ParsedRecord, error: str) -> dict:
    item = {"line": record.number, "error": error}
    if record.source:
        item["source"] = record.source
    return item


def ingest_records(
    records: Iterable[ParsedRecord],
    source: IngestSource | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    on_batch=None,
) -> IngestSummary:
    """Store every good record (in committed batches of ``batch_size``), reject the rest.

    ``on_batch(summary)`` is called after each batch commits (progress reporting).
    """
    with gc_paused():
        return _ingest_records(records, source, batch_size, on_batch)


# An ingest source's "last seen" time is written at most this often (every request would
# otherwise update the same row).
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


def _ingest_records(records, source, batch_size: int, on_batch) -> IngestSummary:
    summary = IngestSummary()
    batch: list[EventRow] = []

    def flush() -> None:
        result = store_events(batch, source)
        summary.accepted += result.accepted
        summary.duplicates += result.duplicates
        batch.clear()
        if on_batch is not None:
            on_batch(summary)

    for _record, row in rows_from_records(records, summary):
        batch.append(row)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    now = datetime.now(UTC)
    if source is not None and (summary.accepted or summary.duplicates) and _stale(source, now):
        IngestSource.objects.filter(pk=source.pk).update(last_seen_at=now)
    return summary


def _stale(source: IngestSource, now: datetime) -> bool:
    return source.last_seen_at is None or now - source.last_seen_at >= LAST_SEEN_RESOLUTION
