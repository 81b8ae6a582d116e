"""Our EQL engine: Elasticsearch's Event Query Language in pure Python (no Django here).

Usage::

    from rules import eql
    q = eql.compile(text, timestamp_field="@timestamp", tiebreaker_field=None,
                    category_field="event.category", size=None)
    for m in q.search(events):          # any order in, Elasticsearch order out
        m.events, m.join_keys
    s = q.stream(); s.feed(event) -> [Match]; s.flush() -> [Match]

Choices, following Elasticsearch:

* ``size`` is the ``size`` of Elasticsearch's EQL search API: the maximum number of events
  (event queries), sequences or samples returned; it defaults to 10, as the API does. Pass the
  rule's ``max_signals`` for detection. ``search(events, size=N)`` overrides it per call.
* ``| head N`` keeps the first N results, ``| tail N`` the last N (still returned in ascending
  order); pipes apply in order, then ``size`` applies from the end if the last pipe is a tail.
* Events are ordered by timestamp, then the tiebreaker field, then arrival order (standing in
  for Elasticsearch's implicit ``_shard_doc`` tiebreaker). Timestamps may be epoch
  milliseconds (numbers or numeric strings) or ISO-8601 strings; events without one sort last.
* ``==``, ``!=``, ``in``, ``like``, ``regex`` are case-sensitive; ``:`` and the ``~`` forms are
  case-insensitive. Comparisons with null are null and ``not null`` is null (EQL's folding
  rules); ``where`` keeps only true. So an absent field never satisfies ``!=``, ``not in`` or
  ``not (...)``. (Elasticsearch turns field comparisons into Lucene queries, under which a
  mapped field missing from one document can satisfy ``!=``/``not``; without a mapping we
  apply the null logic everywhere.)
* A field comparison against constants holds when any element of a multi-valued field does;
  ``!=`` and ``not in`` hold when no element matches. Functions other than the string
  predicates read a multi-valued field's first (sorted) value, as Elasticsearch scripts do.
* Sequences: per join key, an event extends the latest open sequence of the previous stage
  (older ones of that key are discarded, as in Elasticsearch); ``maxspan`` bounds first to
  last event (inclusive); ``until`` closes the open sequences of its key; ``runs=N`` repeats a
  query. Results come in completion order (last event's ordinal). Multi-valued join keys join
  on each value (sorted, deduplicated); a null plain key drops the event, a null ``?key``
  joins as null.
* Missing events ``![...]``: a candidate is rejected when an inner missing query matches an
  event of its key strictly between its neighbours, or when every leading/trailing missing
  query matches and all of it fits in ``maxspan`` (the rules Elasticsearch's QA specs show).
* Samples: keys in ascending order (nulls first), events of each query in arrival order,
  distinct events per sample, ``max_samples_per_key`` samples per key (default 1).
* A string literal that looks like an ISO date compares as an instant against numbers
  (epoch ms) and ISO strings, as against an Elasticsearch ``date`` field.
* We have no index mapping: every field behaves as if mapped (``?field`` and ``field`` only
  differ for join keys). Mapping-only behaviour (``version`` ordering, custom date formats,
  ``null_value``, type-checking verification errors) is not reproduced.
* Compiled queries are immutable and cached per process; ``Query.stream()`` gives a bounded
  streaming matcher for workers (see :class:`Stream`).
"""

from __future__ import annotations

import functools

from .engine import DEFAULT_SIZE, Query, Stream
from .errors import EqlError, EqlSyntaxError
from .matchers import Match
from .parser import parse
from .ruleset import compile_many

__all__ = [
    "DEFAULT_SIZE",
    "EqlError",
    "EqlSyntaxError",
    "Match",
    "Query",
    "Stream",
    "compile",
    "compile_many",
    "parse",
]


def compile(
    text: str,
    timestamp_field: str = "@timestamp",
    tiebreaker_field: str | None = None,
    category_field: str = "event.category",
    size: int | None = None,
    max_samples_per_key: int = 1,
) -> Query:
    """Parse and compile ``text``; raises :class:`EqlSyntaxError` or :class:`EqlError`.

    Compiled queries are immutable and cached per process (same text and options, same object).
    """
    if not isinstance(timestamp_field, str) or not timestamp_field:
        raise EqlError("timestamp_field must be a non-empty string")
    if not isinstance(text, str):
        raise EqlError("the query must be a string")
    try:
        return _compile_cached(
            text, timestamp_field, tiebreaker_field, category_field, size, max_samples_per_key
        )
    except TypeError:  # unhashable option values: compile without the cache
        return _compile(
            text, timestamp_field, tiebreaker_field, category_field, size, max_samples_per_key
        )


def _compile(text, timestamp_field, tiebreaker_field, category_field, size, max_samples_per_key):
    try:
        statement = parse(text)
        return Query(
            statement,
            text,
            timestamp_field=timestamp_field,
            tiebreaker_field=tiebreaker_field,
            category_field=category_field,
            size=size,
            max_samples_per_key=max_samples_per_key,
        )
    except RecursionError:
        raise EqlSyntaxError("query is nested too deeply", 1, 1, text) from None


_compile_cached = functools.lru_cache(maxsize=2048)(_compile)
