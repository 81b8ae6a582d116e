"""Query execution: event queries, sequences and samples, batch (``search``) and streaming.

Ordering follows Elasticsearch: events by timestamp, then tiebreaker, then arrival order (our
stand-in for Elasticsearch's implicit ``_shard_doc`` tiebreaker). Each event gets an *ordinal*
``(timestamp, tiebreaker, position)`` and every algorithm below works on ordinals.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field

from . import ast
from . import functions as fn
from .compiler import compile_category, compile_expr, compile_predicate, field_getter
from .errors import EqlError
from .timestamps import epoch_millis

DEFAULT_SIZE = 10
DEFAULT_MAX_OPEN = 100_000


@dataclass(slots=True)
class Match:
    """One result: ``events`` (``None`` for a missing-event slot) and ``join_keys``."""

    events: list
    join_keys: list = field(default_factory=list)


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


# ---- join keys ----------------------------------------------------------------------------


class _KeySpec:
    """Computes the join-key combinations of an event for one query term."""

    __slots__ = ("getters", "optional")

    def __init__(self, keys):
        self.getters = tuple(compile_expr(k) for k in keys)
        # only ``?field`` keys accept nulls; Elasticsearch drops events missing a plain key
        self.optional = tuple(isinstance(k, ast.Field) and k.optional for k in keys)

    def combos(self, e):
        """A list of key tuples (several for multi-valued keys; empty when a key is null)."""
        getters = self.getters
        if not getters:
            return [()]
        per = []
        single = True
        for g, opt in zip(getters, self.optional, strict=True):
            v = g(e)
            if type(v) is dict:  # an object has no value of its own: no key
                v = None
            if type(v) is list:
                vals = _dedupe_sorted([x for x in fn.flat(v) if type(x) is not dict])
                if not vals:
                    if not opt:
                        return []
                    vals = [None]
                elif len(vals) > 1:
                    single = False
                per.append(vals)
            elif v is None:
                if not opt:
                    return []
                per.append((None,))
            else:
                per.append((v,))
        if single:
            return [tuple(p[0] for p in per)]
        return list(itertools.product(*per))


def _dedupe_sorted(vals):
    out = []
    seen = set()
    for v in vals:
        k = (type(v), v)
        if k not in seen:
            seen.add(k)
            out.append(v)
    with contextlib.suppress(TypeError):
        out.sort()
    return out


def _sort_key_value(v):
    if v is None:
        return (0, 0)
    if type(v) is bool:
        return (1, v)
    if type(v) in (int, float):
        return (2, v)
    return (3, str(v))


# ---- streaming matchers -------------------------------------------------------------------


class _EventMatcher:
    """Streaming matcher of an event query: every matching event is a match at once."""

    def __init__(self, query: Query):
        self.pred = query._event_pred
        self.dropped = 0

    def feed_ordered(self, e, ordinal):
        if self.pred(e):
            return [(ordinal, Match([e], []))]
        return []

    def flush(self):
        return []


class _Partial:
    __slots__ = ("events", "last_ts", "ordinals", "start_ts")

    def __init__(self, events, ordinals, start_ts, last_ts):
        self.events = events
        self.ordinals = ordinals
        self.start_ts = start_ts
        self.last_ts = last_ts


class _SequenceMatcher:
    """Elasticsearch's sequence algorithm, one event at a time in ordinal order.

    Per positive stage and join key only the latest partial sequence is kept: Elasticsearch
    extends the latest partial before the event and discards the older ones of that key, so
    they can never complete. ``until`` events discard all partials of their key. Missing-event
    stages are checked on completion (trailing ones once ``maxspan`` has passed or on flush).
    """

    def __init__(self, query: Query, max_open: int = DEFAULT_MAX_OPEN):
        self.q = query
        self.stages = query._positive  # list of (index in full term list, pred, keyspec)
        self.missing = query._missing  # list of (index, pred, keyspec)
        self.n_terms = query._n_terms
        self.maxspan = query._maxspan
        self.until = query._until  # (pred, keyspec) or None
        self.partials = [{} for _ in self.stages[:-1]] if len(self.stages) > 1 else []
        self.history = [[] for _ in self.missing]  # (ordinal, ts, combos) per missing stage
        self.pending = []  # completed candidates waiting for trailing missing checks
        self.max_open = max_open
        self.open = 0
        self.dropped = 0
        self.history_dropped = 0
        self._since_prune = 0
        # every filter of the query, in the order feed_ordered reads their results
        self.all_preds = [p for _i, p, _k in self.missing] + [p for _i, p, _k in self.stages]
        if self.until is not None:
            self.all_preds.append(self.until[0])
        self._has_trailing = bool(self.missing) and self.missing[-1][0] > self.stages[-1][0]
        self._has_leading = bool(self.missing) and self.missing[0][0] < self.stages[0][0]

    # -- helpers -------------------------------------------------------------------------
    def _prune(self, now_ts):
        if self.maxspan is None or now_ts is None:
            return
        limit = now_ts - self.maxspan
        for group in self.partials:
            stale = [k for k, p in group.items() if p.start_ts is not None and p.start_ts < limit]
            for k in stale:
                del group[k]
            self.open -= len(stale)
        if self.missing:
            horizon = limit - self.maxspan  # leading checks look back up to one more maxspan
            for hist in self.history:
                cut = 0
                while cut < len(hist) and hist[cut][1] is not None and hist[cut][1] < horizon:
                    cut += 1
                if cut:
                    del hist[:cut]

    def _evict(self):
        # drop the oldest partial when the cap is reached: counted, never silent. Each group
        # is a dict kept in arrival order (a replaced partial moves to the end), so the oldest
        # of a group is its first item.
        oldest = None
        for gi, group in enumerate(self.partials):
            if group:
                k = next(iter(group))
                o = group[k].ordinals[-1]
                if oldest is None or o < oldest[2]:
                    oldest = (gi, k, o)
        if oldest is not None:
            del self.partials[oldest[0]][oldest[1]]
            self.open -= 1
            self.dropped += 1

    def feed_ordered(self, e, ordinal, flags=None):
        """Process one event (in ordinal order); ``flags`` are the results of ``all_preds``
        on it when the caller has them already. Returns ``(sort key, Match)`` pairs."""
        if flags is None:
            flags = [p(e) for p in self.all_preds]
        ts = ordinal[1]
        out = []
        stages = self.stages
        last = len(stages) - 1
        nm = len(self.missing)
        self._since_prune += 1
        if self._since_prune >= 256:
            self._since_prune = 0
            self._prune(ts)
        if self.pending and self.maxspan is not None and ts is not None:
            out.extend(self._release(ts))
        # missing-event history first: a missing event must lie strictly between neighbours,
        # and this event's ordinal is greater than every partial's, so order does not matter
        for hi, (_idx, _pred, keyspec) in enumerate(self.missing):
            if flags[hi]:
                combos = keyspec.combos(e)
                if combos:
                    hist = self.history[hi]
                    hist.append((ordinal, ts, set(combos)))
                    if len(hist) > self.max_open:
                        # bounded memory without maxspan: forget the oldest, and say so
                        del hist[0]
                        self.history_dropped += 1
        # positive stages from last to first, so one event never fills two stages of a sequence
        for si in range(last, -1, -1):
            if not flags[nm + si]:
                continue
            keyspec = stages[si][2]
            combos = keyspec.combos(e)
            for key in combos:
                if si == 0:
                    p = _Partial([e], [ordinal], ts, ts)
                    if last == 0:
                        out.extend(self._complete(p, key))
                        continue
                    group = self.partials[0]
                    if group.pop(key, None) is None:
                        self.open += 1
                    group[key] = p
                    continue
                prev = self.partials[si - 1].pop(key, None)
                if prev is None:
                    continue
                self.open -= 1
                if (
                    self.maxspan is not None
                    and ts is not None
                    and prev.start_ts is not None
                    and ts - prev.start_ts > self.maxspan
                ):
                    continue
                p = _Partial([*prev.events, e], [*prev.ordinals, ordinal], prev.start_ts, ts)
                if si == last:
                    out.extend(self._complete(p, key))
                else:
                    group = self.partials[si]
                    if group.pop(key, None) is None:
                        self.open += 1
                    group[key] = p
        if self.until is not None:
            ukeys = self.until[1]
            if flags[-1]:
                for key in ukeys.combos(e):
                    for group in self.partials:
                        if group.pop(key, None) is not None:
                            self.open -= 1
        while self.open > self.max_open:
            self._evict()
        return out

    def _complete(self, p, key):
        if not self.missing:
            return [(p.ordinals[-1], Match(p.events, list(key)))]
        if self._has_trailing:
            self.pending.append((p, key))
            return []
        return self._check_missing(p, key)

    def _release(self, now_ts):
        out = []
        keep = []
        for p, key in self.pending:
            if p.last_ts is not None and now_ts - p.start_ts > self.maxspan:
                out.extend(self._check_missing(p, key))
            else:
                keep.append((p, key))
        self.pending = keep
        return out

    def flush(self):
        out = []
        for p, key in self.pending:
            out.extend(self._check_missing(p, key))
        self.pending = []
        return out

    def _check_missing(self, p, key):
        """Emit the candidate unless a missing stage is present, as Elasticsearch decides it:
        an inner missing stage (between two positive events) is present when one matching
        event with the same key lies strictly between its neighbours; the outer stages
        (leading and trailing) count only together: when every one of them has a matching
        event before the first / after the last positive event and all of it fits in
        ``maxspan``."""
        slots = [None] * self.n_terms
        pos_index = [idx for idx, _, _ in self.stages]
        for idx, ev in zip(pos_index, p.events, strict=True):
            slots[idx] = ev
        result = [(p.ordinals[-1], Match(slots, list(key)))]
        ords = dict(zip(pos_index, p.ordinals, strict=True))
        first_pos, last_pos = pos_index[0], pos_index[-1]
        lo_ts, hi_ts = p.start_ts, p.last_ts
        outer_found = True
        has_outer = False
        for hi, (idx, _, _) in enumerate(self.missing):
            hist = self.history[hi]
            if first_pos < idx < last_pos:
                before = max(ords[j] for j in pos_index if j < idx)
                after = min(ords[j] for j in pos_index if j > idx)
                for rec in hist:
                    if before < rec[0] < after and key in rec[2]:
                        return []
                continue
            has_outer = True
            if not outer_found:
                continue
            found = None
            if idx < first_pos:
                bound = ords[first_pos]
                for rec in reversed(hist):
                    if rec[0] < bound and key in rec[2]:
                        found = rec
                        break
                if found is not None and found[1] is not None and lo_ts is not None:
                    lo_ts = min(lo_ts, found[1])
            else:
                bound = ords[last_pos]
                for rec in hist:
                    if rec[0] > bound and key in rec[2]:
                        found = rec
                        break
                if found is not None and found[1] is not None and hi_ts is not None:
                    hi_ts = max(hi_ts, found[1])
            if found is None:
                outer_found = False
        if not has_outer or not outer_found:
            return result
        if self.maxspan is not None and lo_ts is not None and hi_ts - lo_ts > self.maxspan:
            return result
        return []


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
            self._m = _SequenceMatcher(query, max_open)
        elif isinstance(query.statement.query, ast.Sample):
            self._m = None
            self._buf = []
        else:
            self._m = _EventMatcher(query)

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
                entry = (i, self._filter_pred(t.filter), _KeySpec(t.keys))
                (self._missing if t.missing else self._positive).append(entry)
            self._maxspan = q.maxspan_ms
            self._until = None
            if q.until is not None:
                self._until = (self._filter_pred(q.until.filter), _KeySpec(q.until.keys))
        elif isinstance(q, ast.Sample):
            self._sample_terms = [(self._filter_pred(t.filter), _KeySpec(t.keys)) for t in q.terms]

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
        m = _SequenceMatcher(self, max_open=1 << 62)  # a batch keeps everything: no drops
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
        every filter in the order of ``_SequenceMatcher.all_preds`` (missing-event terms,
        positive terms, then ``until``). Nothing is re-evaluated; the result is the same."""
        m = _SequenceMatcher(self, max_open=1 << 62)
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
