"""Query execution: event queries, sequences and samples, batch (``search``) and streaming.

Ordering follows Elasticsearch: events by timestamp, then tiebreaker, then arrival order (our
stand-in for Elasticsearch's implicit ``_shard_doc`` tiebreaker). Each event gets an *ordinal*
``(timestamp, tiebreaker, position)`` and every algorithm works on ordinals; the streaming
matchers that walk them live in :mod:`rules.eql.matchers`.
"""

from __future__ import annotations

import itertools

from . import ast
from . import functions as fn
from .compiler import compile_category, compile_predicate, field_getter
from .errors import EqlError
from .matchers import DEFAULT_MAX_OPEN, EventMatcher, KeySpec, Match, SequenceMatcher
from .timestamps import epoch_millis

DEFAULT_SIZE = 10


# ---- ordering ---------------------------------------------------------------------------


def _tb_key(v):
    if v is None:
        return (2, 0)
    if type(v) is list:
        v = fn.first(v)
        if v is None:
            return (2, 0)
    if type(v) in (int, float) and type(v) is not bool:
        return (0, v)
    return (1, str(v))


def _first_item(pair):
    return pair[0]


def _sort_key_value(v):
    if v is None:
        return (0, 0)
    if type(v) is bool:
        return (1, v)
    if type(v) in (int, float):
        return (2, v)
    return (3, str(v))


# ---- the compiled query -------------------------------------------------------------------


class Stream:
    """Streaming interface: ``feed(event)`` returns the matches it completes; ``flush()`` ends
    the stream and returns what was still waiting.

    * Events must arrive in time order (timestamp, then tiebreaker); ``out_of_order`` counts
      the events that did not (they are still processed, at their arrival position).
    * Event queries match at once; ``head``/``tail``/``size`` do not apply to a stream.
    * Sequence state is bounded by ``maxspan`` (older partial sequences are pruned: they can
      never complete) and by ``max_open`` open partial sequences: ``dropped`` counts the partial
      sequences evicted by that cap (oldest first), never silently.
    * Missing-event history is bounded the same way (``history_dropped`` counts forgotten
      entries). A sequence ending in a missing event waits until ``maxspan`` has passed (or
      ``flush()``, when the query has no maxspan).
    * Samples need the whole data set: ``feed`` buffers, ``flush`` returns the samples.
    """

    def __init__(self, query: Query, max_open: int = DEFAULT_MAX_OPEN):
        self.query = query
        self._pos = 0
        self._last = None
        self.out_of_order = 0
        if isinstance(query.statement.query, ast.Sequence):
            self._m = SequenceMatcher(query, max_open)
        elif isinstance(query.statement.query, ast.Sample):
            self._m = None
            self._buf = []
        else:
            self._m = EventMatcher(query)

    @property
    def dropped(self) -> int:
        return 0 if self._m is None else self._m.dropped

    @property
    def history_dropped(self) -> int:
        return getattr(self._m, "history_dropped", 0)

    def feed(self, event) -> list[Match]:
        self._pos += 1
        if type(event) is not dict:
            return []
        if self._m is None:
            self._buf.append(event)
            return []
        ordinal = self.query._ordinal(event, self._pos)
        if self._last is not None and ordinal[:3] < self._last:
            self.out_of_order += 1
        else:
            self._last = ordinal[:3]
        return [m for _, m in self._m.feed_ordered(event, ordinal)]

    def flush(self) -> list[Match]:
        if self._m is None:
            buf, self._buf = self._buf, []
            return self.query._samples(buf)
        return [m for _, m in self._m.flush()]


class Query:
    """A compiled EQL query. ``search(events)`` returns Elasticsearch's results and order."""

    # No defaults here: they are :func:`rules.eql.compile`'s, the one way to make a Query.
    def __init__(
        self,
        statement: ast.Statement,
        text: str,
        *,
        timestamp_field: str,
        tiebreaker_field: str | None,
        category_field: str,
        size: int | None,
        max_samples_per_key: int,
    ):
        self.statement = statement
        self.text = text
        self.timestamp_field = timestamp_field
        self.tiebreaker_field = tiebreaker_field
        self.category_field = category_field
        if size is not None and (type(size) is not int or size < 0):
            raise EqlError("size must be a non-negative integer")
        self.size = DEFAULT_SIZE if size is None else size
        self.max_samples_per_key = max_samples_per_key
        self._ts_get = field_getter(tuple(timestamp_field.split(".")))
        self._tb_get = (
            field_getter(tuple(tiebreaker_field.split("."))) if tiebreaker_field else None
        )
        q = statement.query
        if isinstance(q, ast.EventQuery):
            self._event_pred = self._filter_pred(q.filter)
        elif isinstance(q, ast.Sequence):
            self._n_terms = len(q.terms)
            self._positive = []
            self._missing = []
            for i, t in enumerate(q.terms):
                entry = (i, self._filter_pred(t.filter), KeySpec(t.keys))
                (self._missing if t.missing else self._positive).append(entry)
            self._maxspan = q.maxspan_ms
            self._until = None
            if q.until is not None:
                self._until = (self._filter_pred(q.until.filter), KeySpec(q.until.keys))
        elif isinstance(q, ast.Sample):
            self._sample_terms = [(self._filter_pred(t.filter), KeySpec(t.keys)) for t in q.terms]

    def _filter_pred(self, flt: ast.EventFilter):
        cat = compile_category(flt.category, self.category_field)
        pred = compile_predicate(flt.condition, first=cat)
        # callers test truthiness; leaves may return None for null
        return pred

    @property
    def kind(self) -> str:
        """``"event"``, ``"sequence"`` or ``"sample"``."""
        q = self.statement.query
        if isinstance(q, ast.Sequence):
            return "sequence"
        if isinstance(q, ast.Sample):
            return "sample"
        return "event"

    def _ordinal(self, e, pos):
        ts = epoch_millis(self._ts_get(e)) if type(e) is dict else None
        tb = _tb_key(self._tb_get(e)) if self._tb_get is not None else (2, 0)
        return (0 if ts is not None else 1, ts if ts is not None else 0, tb, pos)

    def stream(self, max_open: int = DEFAULT_MAX_OPEN) -> Stream:
        """A streaming matcher (see :class:`Stream`)."""
        return Stream(self, max_open)

    def search(self, events, size: int | None = None) -> list[Match]:
        """All results over ``events`` (any order), in Elasticsearch order, limited by the
        ``head``/``tail`` pipes and by ``size`` (default: the compile-time size, 10)."""
        limit = self.size if size is None else size
        if type(limit) is not int or limit < 0:
            raise EqlError("size must be a non-negative integer")
        q = self.statement.query
        if isinstance(q, ast.Sample):
            return self._limit(self._samples([e for e in events if type(e) is dict]), limit)
        # evaluate first, order afterwards: only relevant events pay for their ordinal
        ordinal = self._ordinal
        if isinstance(q, ast.EventQuery):
            # evaluate first, order afterwards: only matching events pay for their ordinal
            pred = self._event_pred
            hits = [(ordinal(e, i), e) for i, e in enumerate(events) if type(e) is dict and pred(e)]
            hits.sort(key=_first_item)
            return self._limit([Match([e], []) for _o, e in hits], limit)
        m = SequenceMatcher(self, max_open=1 << 62)  # a batch keeps everything: no drops
        preds = m.all_preds
        relevant = []
        for i, e in enumerate(events):
            if type(e) is dict:
                flags = [p(e) for p in preds]
                if any(flags):
                    relevant.append((ordinal(e, i), e, flags))
        return self._run_sequence(m, relevant, limit)

    def _search_flagged(self, events: list, flags: list) -> list[Match]:
        """``search(events)`` of a sequence, for a caller that already knows which filters
        each event satisfies: ``flags[i]`` holds, for ``events[i]`` (a dict), the truth of
        every filter in the order of ``SequenceMatcher.all_preds`` (missing-event terms,
        positive terms, then ``until``). Nothing is re-evaluated; the result is the same."""
        m = SequenceMatcher(self, max_open=1 << 62)
        ordinal = self._ordinal
        relevant = [
            (ordinal(e, i), e, f) for i, (e, f) in enumerate(zip(events, flags, strict=True))
        ]
        return self._run_sequence(m, relevant, self.size)

    def _run_sequence(self, m, relevant, limit):
        relevant.sort(key=_first_item)
        found = []
        for o, e, flags in relevant:
            found.extend(m.feed_ordered(e, o, flags))
        found.extend(m.flush())
        found.sort(key=_first_item)
        return self._limit([mm for _, mm in found], limit)

    def _limit(self, results, limit):
        tail_last = False
        for p in self.statement.pipes:
            if p.name == "head":
                results = results[: p.count]
                tail_last = False
            else:
                results = results[len(results) - p.count :] if p.count else []
                tail_last = True
        if len(results) > limit:
            results = results[len(results) - limit :] if tail_last else results[:limit]
        return results

    # -- samples ------------------------------------------------------------------------------
    def _samples(self, evs):
        """Elasticsearch ``sample``: join keys in ascending order (nulls first); per key, the
        matching events of each query in index (arrival) order, up to ``max_samples_per_key``
        each, combined query by query into samples of distinct events, at most
        ``max_samples_per_key`` samples per key. Timestamps play no part."""
        terms = self._sample_terms
        n = len(terms)
        per_key = self.max_samples_per_key
        by_key: dict = {}
        for e in evs:
            for ti, (pred, keyspec) in enumerate(terms):
                if not pred(e):
                    continue
                for key in keyspec.combos(e):
                    slot = by_key.get(key)
                    if slot is None:
                        slot = by_key[key] = [[] for _ in range(n)]
                    # one more than needed, so distinct events can still be found
                    if len(slot[ti]) < per_key + n:
                        slot[ti].append(e)
        results = []
        for key in sorted(by_key, key=lambda k: tuple(_sort_key_value(v) for v in k)):
            cands = by_key[key]
            if any(not c for c in cands):
                continue
            made = 0
            for combo in itertools.product(*cands):
                if len({id(e) for e in combo}) < n:
                    continue
                results.append(Match(list(combo), list(key)))
                made += 1
                if made >= per_key:
                    break
        return results
