"""A batch's documents handed from ingest to its detection task through Redis.

Ingest has every new event's JSON text in hand when its batch commits; the detection task
would otherwise read the same documents back from PostgreSQL (converting each ``jsonb`` to
text again, a large share of the database's work per event). So, after the commit, ingest
writes the batch (primary keys, timestamps, JSON texts) to one short-lived Redis key and
names it in the task; the task reads it, checks it holds exactly its primary keys, and
deletes it when done.

This is a cache, never the record: the events are committed to PostgreSQL before the key is
written, and a task whose key is missing (expired, Redis restarted, a write that failed,
no Redis at all) reads its events from PostgreSQL as before. The key expires after
:data:`TTL_SECONDS`, which bounds what a worker pool that falls behind can pile up in
Redis; a task older than that simply takes the slower path.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "soc:detect-batch:"
TTL_SECONDS = 120

_client = None
_client_url = None


def enabled() -> bool:
    """Hand-off needs Redis and a worker in another process (eager tasks run right here)."""
    return bool(settings.REDIS_URL) and not settings.CELERY_TASK_ALWAYS_EAGER


def _redis():
    global _client, _client_url
    if _client is None or _client_url != settings.REDIS_URL:
        import redis
        from redis.connection import Encoder, PythonRespSerializer

        # Replies are parsed by hiredis (C: reading a batch is four times faster than the
        # pure-Python parser), but commands are packed by redis-py's own packer, which sends
        # a large value as it is where hiredis's copies it (writing a batch: six times).
        packer = PythonRespSerializer(6000, Encoder("utf-8", "strict", False).encode)
        # Short timeouts: Redis being away must not hold up ingest (the task falls back).
        _client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=1,
            socket_timeout=2,
            command_packer=packer,
        )
        _client_url = settings.REDIS_URL
    return _client


def encode(pks: Sequence[int], timestamps: Sequence[datetime], texts: Sequence[bytes]) -> bytes:
    """One value: a JSON header line (primary keys, epoch seconds), then one JSON document
    per line (compact JSON text never holds a raw newline)."""
    header = orjson.dumps([list(pks), [ts.timestamp() for ts in timestamps]])
    return b"\n".join([header, *texts])


def decode(blob: bytes, pks: Sequence[int]) -> list[tuple[int, bytes, datetime]] | None:
    """(pk, JSON text, timestamp) per event, or None unless the value holds exactly ``pks``."""
    lines = blob.split(b"\n")
    try:
        stored_pks, epochs = orjson.loads(lines[0])
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None
    if (
        not isinstance(stored_pks, list)
        or not isinstance(epochs, list)
        or sorted(stored_pks) != sorted(pks)
        or not (len(stored_pks) == len(epochs) == len(lines) - 1)
    ):
        return None
    fromepoch = datetime.fromtimestamp
    return [
        (pk, text, fromepoch(epoch, UTC))
        for pk, text, epoch in zip(stored_pks, lines[1:], epochs, strict=True)
    ]


def put(pks: Sequence[int], timestamps: Sequence[datetime], texts: Sequence[bytes]) -> str | None:
    """Write a batch; its key, or None when Redis could not take it (the task then reads
    PostgreSQL)."""
    key = KEY_PREFIX + uuid.uuid4().hex
    try:
        _redis().set(key, encode(pks, timestamps, texts), ex=TTL_SECONDS)
    except Exception:  # any Redis failure: the slower path is still correct
        logger.warning("could not hand a batch of %d events to detection via Redis", len(pks))
        return None
    return key


def take(key: str, pks: Sequence[int]) -> list[tuple[int, bytes, datetime]] | None:
    """The batch written under ``key`` if it is there and holds exactly ``pks``, else None."""
    try:
        blob = _redis().get(key)
    except Exception:
        logger.warning("could not read a handed-off batch from Redis; reading PostgreSQL")
        return None
    return decode(blob, pks) if blob else None


def discard(key: str) -> None:
    """Delete a batch once its task has finished (the expiry is only the backstop)."""
    try:
        _redis().delete(key)
    except Exception:
        logger.warning("could not delete handed-off batch %s (it expires by itself)", key)
