"""Streaming matchers: events fed one at a time in ordinal order, matches out.

:class:`EventMatcher` for event queries, :class:`SequenceMatcher` for Elasticsearch's
sequence algorithm (join keys, ``maxspan``, ``until``, missing events), and :class:`KeySpec`,
which computes an event's join keys for one term. A :class:`~rules.eql.engine.Query` builds
them and passes itself (its compiled terms); this module does not import the engine, which
imports it. Ordinals are ``(has no timestamp, timestamp, tiebreaker, position)``.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field

from . import ast
from . import functions as fn
from .compiler import compile_expr

__all__ = ["DEFAULT_MAX_OPEN", "EventMatcher", "KeySpec", "Match", "SequenceMatcher"]

DEFAULT_MAX_OPEN = 100_000


@dataclass(slots=True)
class Match:
    """One result: ``events`` (``None`` for a missing-event slot) and ``join_keys``."""

    events: list
    join_keys: list = field(default_factory=list)


# ---- join keys ----------------------------------------------------------------------------


class KeySpec:
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


# ---- streaming matchers -------------------------------------------------------------------


class EventMatcher:
    """Streaming matcher of an event query: every matching event is a match at once."""

    def __init__(self, query):
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


class SequenceMatcher:
    """Elasticsearch's sequence algorithm, one event at a time in ordinal order.

    Per positive stage and join key only the latest partial sequence is kept: Elasticsearch
    extends the latest partial before the event and discards the older ones of that key, so
    they can never complete. ``until`` events discard all partials of their key. Missing-event
    stages are checked on completion (trailing ones once ``maxspan`` has passed or on flush).
    """

    def __init__(self, query, max_open: int = DEFAULT_MAX_OPEN):
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
