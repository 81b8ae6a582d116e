"""Many EQL queries over one event stream, in one pass, with a prefilter.

``compile_many({"rule-id": text, ...}, **options)`` compiles every query with
:func:`rules.eql.compile` and analyses its syntax tree once:

* the **event categories** each query can match (per term for sequences and samples, plus the
  ``until`` term; ``any`` matches every event);
* the **literal values** a query requires: a condition that must hold for the query (or the
  term) to match and that compares a field with string constants, for example
  ``process.name : ("a.exe", "b.exe")``, ``process.name == "x"`` or ``file.extension in~
  ("js", "vbs")`` at the top level of an ``and``, or a wildcard path pattern's whole segment
  (``process.executable : "?:\\PerfLogs\\*.exe"`` needs a ``perflogs`` segment). The most
  selective such condition keys the filter; an ``or`` is indexed when every branch is;
  ``not``, ``!=``, regexes, functions and comparisons with numbers or null never key a filter
  (they could only narrow the candidates unsoundly).

``RuleSet.search(events)`` reads the events once. For each event it looks up the filters of
the event's categories and, per indexed field, the filters that accept the event's lowercased
value (every element of an array; a non-string value makes every filter of that field a
candidate). Lowercasing is a superset of both the case-sensitive ``==``/``in`` and the
case-insensitive ``:``/``in~`` comparisons, so no match is lost. Each candidate filter's
condition then runs on the event -- as its ``and`` operands, each distinct operand of the
whole rule set compiled once, evaluated at most once per event and memoised by the values of
the fields it reads (see :class:`_Operands`); a rule keeps the events (in input order) that
satisfy at least one of its filters and, at the end, runs its own compiled query over them:
``query.search(kept)``. A rule therefore yields exactly what it would alone on all the events
-- same matches, same order, same ``head``/``tail``/``size`` limits -- because an event that
satisfies none of a query's filters never changes its result (ordering ties fall back to
arrival order, which a subsequence preserves). Sequences and samples go the same way: an
event is kept when it satisfies any of their terms (``until`` and missing terms included).

Errors: by default (``on_error="raise"``) any rule that does not compile makes
``compile_many`` raise :class:`RuleSetError`, an :class:`~rules.eql.errors.EqlError` naming
every failing rule id with its line, column and reason (``.errors`` maps rule id to the
engine's error, ``.rule_id`` is the first). With ``on_error="skip"`` the failing rules are
left out and listed in ``RuleSet.errors``.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from . import ast
from . import functions as fn
from .compiler import compile_expr
from .errors import EqlError
from .fields import field_getter
from .prefilter import (
    COMMON,
    Atom,
    filters,
    implied_categories,
    is_exclusion,
    requirement,
    score,
    specialise,
)

__all__ = ["RuleSet", "RuleSetError", "compile_many", "requirement"]

_gc_lock = threading.Lock()
_gc_state = [0, False]  # nested pauses in progress, whether the first one disabled gc


@contextlib.contextmanager
def _gc_paused():
    """Cyclic garbage collection off during a pass (re-entrant and thread-safe).

    A pass allocates many small acyclic objects (memo keys, kept-event lists) that survive;
    each would-be collection then re-traverses every long-lived object, which made the cost
    per event grow with the number of events kept. The pass creates no reference cycles, so
    nothing is lost by collecting afterwards instead.
    """
    with _gc_lock:
        if _gc_state[0] == 0:
            _gc_state[1] = gc.isenabled()
            if _gc_state[1]:
                gc.disable()
        _gc_state[0] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state[0] -= 1
            if _gc_state[0] == 0 and _gc_state[1]:
                gc.enable()


class RuleSetError(EqlError):
    """Some rules of a rule set do not compile; ``errors`` maps each rule id to its error."""

    def __init__(self, errors: dict[str, EqlError]):
        self.errors = dict(errors)
        first_id, first = next(iter(self.errors.items()))
        lines = [f"{len(self.errors)} rule(s) do not compile:"]
        lines += [f"rule {rid!r}: {err}" for rid, err in self.errors.items()]
        super().__init__("\n".join(lines), first.line, first.column)
        self.rule_id = first_id


def _fields_of(node) -> set[tuple[str, ...]]:
    return {n.path for n in ast.walk(node) if isinstance(n, ast.Field)}


def _truth(v) -> bool:
    """True when the engine's ``and`` would treat ``v`` as true (``where`` keeps only true)."""
    if v is True:
        return True
    if type(v) is list:
        return any(x is True for x in fn.flat(v))
    return False


def fetch(e: dict, head: str, get, marks: list, values: list):
    """``get(e)``, skipping the engine's general resolution when the field is plainly absent:
    its first segment is not a top-level key and no top-level key is dotted (then no nested
    or dotted spelling of the path can exist). Slot 0 of ``marks``/``values`` remembers, per
    event, whether the event has a dotted top-level key."""
    if head in e:
        return get(e)
    if marks[0] is not e:
        marks[0] = e
        values[0] = any("." in k for k in e)
    return get(e) if values[0] else None


_MEMO_FIELDS = 4  # conditions reading up to this many fields are memoised by their values
_CACHE_MAX = 8192  # distinct values remembered per condition before the memo starts over
_CACHE_PROBE = 4096  # lookups after which a memo that rarely hits is switched off


class _Operands:
    """The distinct conditions (``and`` operands) of all filters, each compiled once.

    ``evals[k](event, marks, values)`` tells whether condition ``k`` is true for the event.
    ``marks``/``values`` are the caller's per-search memo of field values (slot ``j`` holds
    field ``j``'s value for the event ``marks[j]``), so a field read by many conditions is
    resolved once per event. A condition that reads at most ``_MEMO_FIELDS`` fields is a pure
    function of their values, so its result is also memoised by those values (None, strings
    and tuples of strings only, so that ``1``, ``1.0`` and ``True`` never share an entry); a
    memo that rarely hits turns itself off. Everything shared between searches is either immutable or a memo of a
    deterministic result, so concurrent searches stay correct.
    """

    def __init__(self):
        self.ids: dict[str, int] = {}
        self.evals: list = []
        # field slots; slot 0 is reserved: "does the event have a dotted top-level key?"
        self.paths: dict[tuple[str, ...], int] = {}
        self.getters: list = [None]
        self.heads: list = [None]

    def slot(self, path: tuple[str, ...]) -> int:
        j = self.paths.get(path)
        if j is None:
            j = self.paths[path] = len(self.getters)
            self.getters.append(field_getter(path))
            self.heads.append(path[0])
        return j

    def add(self, node) -> int:
        # repr, not the node: nodes compare by value and Literal(1) == Literal(True) == Literal(1.0)
        ident = repr(node)
        k = self.ids.get(ident)
        if k is None:
            k = self.ids[ident] = len(self.evals)
            fields = sorted(_fields_of(node))
            slots = tuple(self.slot(p) for p in fields) if 1 <= len(fields) <= _MEMO_FIELDS else ()
            self.evals.append(self._lazy(k, node, slots))
        return k

    def _lazy(self, k: int, node, slots):
        """Compile on first use: a rule set that is only checked never pays for it."""
        evals = self.evals

        def first_call(e, marks, values):
            evals[k] = self._compile(node, slots)
            return evals[k](e, marks, values)

        return first_call

    def _compile(self, node, slots):
        f = compile_expr(node)
        if not slots:
            return lambda e, _marks, _values: _truth(f(e))
        fetchers = tuple((j, self.heads[j], self.getters[j]) for j in slots)
        cache: dict = {}
        # lookups and hits until the probe decides whether the memo pays; then it stays on
        # (counting stops) or switches off (the condition is simply evaluated)
        state = [0, 0, True]

        def remember(key, e):
            r = _truth(f(e))
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            cache[key] = r
            return r

        def probe(hit: bool) -> None:
            state[0] += 1
            state[1] += hit
            if state[0] >= _CACHE_PROBE:
                state[2] = state[1] * 4 >= state[0]
                state[0] = -(2**62)  # decided: never probe again
                if not state[2]:
                    cache.clear()

        if len(fetchers) == 1:
            ((j, head, get),) = fetchers

            def memo1(e, marks, values):
                if not state[2]:
                    return _truth(f(e))
                if marks[j] is e:
                    v = values[j]
                else:
                    if head in e:
                        v = get(e)
                    elif marks[0] is e:
                        v = get(e) if values[0] else None
                    else:
                        v = fetch(e, head, get, marks, values)
                    marks[j] = e
                    values[j] = v
                if type(v) is list:
                    for x in v:
                        if type(x) is not str:
                            return _truth(f(e))
                    v = tuple(v)
                elif v is not None and type(v) is not str:
                    return _truth(f(e))
                r = cache.get(v)
                if state[0] >= 0:
                    probe(r is not None)
                return remember(v, e) if r is None else r

            return memo1

        def memo(e, marks, values):
            if not state[2]:
                return _truth(f(e))
            parts = []
            for j, head, get in fetchers:
                if marks[j] is e:
                    v = values[j]
                else:
                    if head in e:
                        v = get(e)
                    elif marks[0] is e:
                        v = get(e) if values[0] else None
                    else:
                        v = fetch(e, head, get, marks, values)
                    marks[j] = e
                    values[j] = v
                if v is None or type(v) is str:
                    parts.append(v)
                elif type(v) is list and all(type(x) is str for x in v):
                    parts.append(tuple(v))
                else:
                    return _truth(f(e))
            key = tuple(parts)
            r = cache.get(key)
            if state[0] >= 0:
                probe(r is not None)
            return remember(key, e) if r is None else r

        return memo


@dataclass(frozen=True)
class _Route:
    """One filter's entry in the index (an ``any`` filter may have one per implied category).

    ``term`` is the filter's position among its sequence's filters in the order of
    ``_SequenceMatcher.all_preds`` (missing terms, positive terms, ``until``), else -1: a
    search records which filters each kept event satisfies, so the sequence matcher does not
    evaluate them again. ``insensitive``: ``category`` is lowercased and admits any spelling.
    """

    slot: int
    filter_no: int
    term: int
    category: str | None
    insensitive: bool
    atoms: tuple[Atom, ...] | None
    operands: tuple[int, ...]


_MODES = {"eq": 0, "seg": 1, "pre": 2, "num": 3, "bool": 4, "sub": 5, "any": 6}
_EQ, _SEG, _PRE, _NUM, _BOOL, _SUB, _ANY = range(7)


def _hits(mode: int, width: int, v, index: dict, every: tuple):
    """The routes of one field index that a value (not None) may satisfy: see ``Atom``
    (``width``: the length of the prefixes of a "pre" index)."""
    if mode == _ANY:
        return every
    found: set[int] = set()
    for x in v if type(v) is list else (v,):
        t = type(x)
        if t is str:
            if mode == _EQ:
                found.update(index.get(x.lower(), ()))
            elif mode == _SUB:
                lx = x.lower()
                for key, ids in index.items():
                    if key in lx:
                        found.update(ids)
            elif mode == _SEG:
                for part in x.lower().split("\\"):
                    if part in index:
                        found.update(index[part])
            elif mode == _PRE:
                found.update(index.get(x.lower()[:width], ()))
            elif mode == _NUM:
                n = fn.to_number(x)
                if n is not None:
                    found.update(index.get(n, ()))
            elif x == "true" or x == "false":
                found.update(index.get(x == "true", ()))
        elif x is None:
            continue
        elif t is list:
            return every  # nested arrays: the engine flattens them; not worth it here
        elif mode == _NUM:
            if t is int or t is float:
                found.update(index.get(x, ()))
        elif mode == _BOOL:
            if t is bool:
                found.update(index.get(x, ()))
        else:
            return every  # a number or boolean where text is expected: it may render as a key
    return found


class _Plan:
    """The merged index for one combination of event categories (routes by number).

    ``fields``: per indexed field and mode (and prefix length), ``(slot, head, getter, mode,
    width, index, every)``: the field's value slot and getter (see :class:`_Operands`), the
    index from key to route ids, and every route id of the index.
    """

    __slots__ = ("always", "fields")

    def __init__(self, routes: dict[int, _Route], operands: _Operands):
        always: list[int] = []
        by_field: dict[tuple, dict[object, set[int]]] = {}
        for i, r in routes.items():
            if r.atoms is None:
                always.append(i)
                continue
            for path, mode, values in r.atoms:
                for v in values:
                    width = len(v) if mode == "pre" else 0
                    by_field.setdefault((path, mode, width), {}).setdefault(v, set()).add(i)
        self.always = tuple(sorted(always))
        fields = []
        for (path, mode, width), index in sorted(by_field.items(), key=lambda kv: kv[0][0]):
            frozen = {v: tuple(sorted(s)) for v, s in index.items()}
            every = tuple(sorted({i for ids in frozen.values() for i in ids}))
            j = operands.slot(path)
            head, get = operands.heads[j], operands.getters[j]
            fields.append((j, head, get, _MODES[mode], width, frozen, every))
        self.fields = tuple(fields)


class RuleSet:
    """Compiled queries evaluated together; see the module docstring for the guarantees."""

    def __init__(
        self,
        queries: dict[str, object],
        *,
        category_field: str = "event.category",
        errors: dict[str, EqlError] | None = None,
    ):
        self.queries = dict(queries)
        self.errors = dict(errors or {})
        self.rule_ids = list(self.queries)
        category_path = tuple(category_field.split("."))
        self._category = field_getter(category_path)
        self.routes: list[_Route] = []
        self._operands = _Operands()
        self._n_terms: list[int] = []  # per rule slot: its number of filters (0: no sequence)
        for slot, rule_id in enumerate(self.rule_ids):
            statement = self.queries[rule_id].statement
            terms = _term_positions(statement.query)
            self._n_terms.append(len(terms) if isinstance(statement.query, ast.Sequence) else 0)
            for filter_no, f in enumerate(filters(statement)):
                c = f.condition
                parts = c.operands if isinstance(c, ast.And) else (c,)
                # exclusions (``not ...``, ``!=``, ``not in``) hold for nearly every event:
                # evaluated last, they are skipped whenever another operand already fails (the
                # operands are pure, so the order cannot change the conjunction)
                parts = sorted(parts, key=is_exclusion)
                ops = tuple(self._operands.add(p) for p in parts)
                term = terms[filter_no] if self._n_terms[slot] else -1
                implied = implied_categories(c, category_path) if f.category is None else None
                if implied is None:
                    self.routes.append(
                        _Route(slot, filter_no, term, f.category, False, requirement(c), ops)
                    )
                    continue
                # an ``any`` filter that names its categories is indexed under each of them,
                # keyed by what its own branch for that category requires
                cats, insensitive = implied
                for cat in sorted(cats):
                    atoms = requirement(specialise(c, cat, category_path, insensitive))
                    self.routes.append(_Route(slot, filter_no, term, cat, insensitive, atoms, ops))
        self._deferred = self._choose_deferred()
        deferred = {i for routes in self._deferred.values() for i in routes}
        # (category, case-insensitive?) -> route ids; category None: every event
        self._by_category: dict[tuple, list[int]] = {}
        self._by_category_eager: dict[tuple, list[int]] = {}
        for i, r in enumerate(self.routes):
            key = (r.category, r.insensitive)
            self._by_category.setdefault(key, []).append(i)
            if i not in deferred:
                self._by_category_eager.setdefault(key, []).append(i)
        self._plans: dict[tuple, _Plan] = {}
        self._plans_eager: dict[tuple, _Plan] = {}

    def _choose_deferred(self) -> dict[int, list[int]]:
        """Rule slot -> the routes of that sequence which ``search`` evaluates after its pass.

        A sequence completes only when every positive term matches events of one join key. Its
        most selective positive term (the *anchor*) is evaluated during the pass like any
        filter; the other terms that would run on many events of their category (keyed on
        common or broad values only, or not keyed) wait until the pass is over, and are then evaluated
        only if every eagerly evaluated positive term has matched, and only on the events
        whose join key those terms produced (:meth:`_run_deferred`). A filter is deferred as a
        whole (all its routes) or not at all.
        """
        by_filter: dict[tuple[int, int], list[int]] = {}
        for i, r in enumerate(self.routes):
            by_filter.setdefault((r.slot, r.filter_no), []).append(i)
        deferred: dict[int, list[int]] = {}
        for slot, rule_id in enumerate(self.rule_ids):
            q = self.queries[rule_id].statement.query
            if not isinstance(q, ast.Sequence):
                continue
            n_missing = sum(1 for t in q.terms if t.missing)
            mine = {f: ids for (s, f), ids in by_filter.items() if s == slot}
            cost = {f: max(score(self.routes[i].atoms) for i in ids) for f, ids in mine.items()}
            positive = [
                f for f, ids in mine.items() if n_missing <= self.routes[ids[0]].term < len(q.terms)
            ]
            anchor = min(positive, key=lambda f: (cost[f], f))
            later = [i for f, ids in mine.items() if f != anchor and cost[f] >= COMMON for i in ids]
            if later:
                deferred[slot] = later
        return deferred

    def __len__(self) -> int:
        return len(self.queries)

    def describe(self) -> dict[str, list[tuple[str | None, tuple[Atom, ...] | None]]]:
        """Rule id -> its filters' (category, atoms) as indexed (atoms None = category only)."""
        out: dict[str, list] = {rid: [] for rid in self.rule_ids}
        for r in self.routes:
            out[self.rule_ids[r.slot]].append((r.category, r.atoms))
        return out

    def _plan(self, cats: tuple, eager: bool = False) -> _Plan:
        plans = self._plans_eager if eager else self._plans
        plan = plans.get(cats)
        if plan is None:
            by_category = self._by_category_eager if eager else self._by_category
            ids = list(by_category.get((None, False), ()))
            for c in dict.fromkeys(cats):
                ids.extend(by_category.get((c, False), ()))
                ids.extend(by_category.get((c.lower(), True), ()))
            routes = {i: self.routes[i] for i in dict.fromkeys(ids)}
            plan = plans[cats] = _Plan(routes, self._operands)
        return plan

    def prefiltered(self, events: Iterable[dict]) -> list[list[dict]]:
        """Per rule slot, the events (in input order) that match at least one of its filters.

        Only those events can take part in the rule's results, so ``query.search`` over
        them gives exactly the results over all the events.
        """
        with _gc_paused():
            return self._prefiltered(events, None)

    def _prefiltered(
        self, events: Iterable[dict], flags: list | None, deferring: _Deferring | None = None
    ) -> list[list[dict]]:
        """``prefiltered``; with ``flags`` (a list with one empty list per rule slot), also
        records for each event a sequence rule keeps the truth of each of its filters. With
        ``deferring``, the deferred routes are left out and ``deferring`` records what
        :meth:`_run_deferred` needs: each kept sequence event's position in ``events``, and
        the positions of the events of each category."""
        lists: list[list[dict]] = [[] for _ in self.rule_ids]
        eager = deferring is not None
        kept_at = deferring.kept_at if eager else None
        of_category = deferring.of_category if eager else None
        pos = -1
        term_pos = [r.term if flags is not None else -1 for r in self.routes]
        n_terms = self._n_terms
        route_ops = [r.operands for r in self.routes]
        slots = [r.slot for r in self.routes]
        seen: list[object] = [None] * len(self.routes)
        evals = self._operands.evals
        # per-event memo of each distinct condition: (event it was computed for, result)
        mark: list[object] = [None] * len(evals)
        value: list[bool] = [False] * len(evals)
        # per-event memo of field values, see _Operands; plans made during this search may add
        # field slots, so the lists are grown when a new plan appears
        fmarks: list[object] = []
        fvalues: list[object] = []
        n_slots = self._operands.getters
        get_category = self._category
        plans = self._plans_eager if eager else self._plans
        plan_for = self._plan

        def check(i, e):
            for k in route_ops[i]:
                if mark[k] is e:
                    if not value[k]:
                        return
                else:
                    r = evals[k](e, fmarks, fvalues)
                    mark[k] = e
                    value[k] = r
                    if not r:
                        return
            slot = slots[i]
            lst = lists[slot]
            p = term_pos[i]
            if not lst or lst[-1] is not e:
                lst.append(e)
                if p >= 0:
                    f = [False] * n_terms[slot]
                    f[p] = True
                    flags[slot].append(f)
                    if eager:
                        kept_at[slot].append(pos)
            elif p >= 0:
                flags[slot][-1][p] = True

        for e in events:
            pos += 1
            if type(e) is not dict:
                continue
            c = get_category(e)
            if type(c) is str:
                key = (c,)
            elif type(c) is list:
                key = tuple(x for x in c if type(x) is str)
            else:
                key = ()
            if eager:
                at = of_category.get(key)
                if at is None:
                    at = of_category[key] = []
                at.append(pos)
            plan = plans.get(key) or plan_for(key, eager)
            if len(fmarks) < len(n_slots):
                grow = len(n_slots) - len(fmarks)
                fmarks.extend([None] * grow)
                fvalues.extend([None] * grow)
            for i in plan.always:
                check(i, e)
            for j, head, get, mode, width, index, every in plan.fields:
                if fmarks[j] is e:
                    v = fvalues[j]
                else:
                    if head in e:
                        v = get(e)
                    elif fmarks[0] is e:  # the event's "has a dotted key" is known already
                        v = get(e) if fvalues[0] else None
                    else:
                        v = fetch(e, head, get, fmarks, fvalues)
                    fmarks[j] = e
                    fvalues[j] = v
                if v is None:
                    continue
                if mode == 0 and type(v) is str:  # "eq" on a plain string: the common case
                    hits = index.get(v.lower())
                    if hits is None:
                        continue
                else:
                    hits = _hits(mode, width, v, index, every)
                    if not hits:
                        continue
                for i in hits:
                    if seen[i] is not e:
                        seen[i] = e
                        check(i, e)
        return lists

    def search(self, events: Iterable[dict]) -> Iterator[tuple[str, object]]:
        """``(rule_id, match)`` for every match of every rule, rule by rule in insertion order,
        each rule's matches in the order and within the limits of ``Query.search``."""
        flags: list[list] = [[] for _ in self.rule_ids]
        # Deferring needs to come back to the events after the pass: only for a list (an
        # iterator's events would all have to be kept alive for it).
        deferring = (
            _Deferring(len(self.rule_ids)) if self._deferred and type(events) is list else None
        )
        with _gc_paused():
            lists = self._prefiltered(events, flags, deferring)
            if deferring is not None:
                self._run_deferred(events, lists, flags, deferring)
        for slot, rule_id in enumerate(self.rule_ids):
            if lists[slot]:
                query = self.queries[rule_id]
                with _gc_paused():
                    if self._n_terms[slot]:
                        found = query._search_flagged(lists[slot], flags[slot])
                    else:
                        found = query.search(lists[slot])
                for match in found:
                    yield rule_id, match

    def _run_deferred(self, events: list, lists: list, flags: list, deferring: _Deferring):
        """Complete ``lists`` and ``flags`` of the sequences whose routes were deferred, so
        that they hold exactly what a pass over every route would have kept.

        An event of a deferred term can only matter to a sequence of its join key, and a
        sequence completes only if every positive term matches an event of that key. So when
        an eagerly evaluated positive term matched nothing, the sequence has no result (its
        lists are emptied); otherwise a deferred term is evaluated only on the events of its
        category whose join key every eagerly evaluated positive term produced. The others
        cannot change the result: the sequence matcher's state is per join key, and ``until``
        and missing-event terms only act on the sequences of their own key.
        """
        for slot, routes in self._deferred.items():
            kept, rows = lists[slot], flags[slot]
            if not kept:
                continue
            terms = _flag_terms(self.queries[self.rule_ids[slot]])
            deferred_pos = {self.routes[i].term for i in routes}
            eager_positive = [p for p, (_pred, _ks, positive) in enumerate(terms)
                              if positive and p not in deferred_pos]  # fmt: skip
            keys = None
            for p in eager_positive:
                keyspec = terms[p][1]
                found = set()
                for e, row in zip(kept, rows, strict=True):
                    if row[p]:
                        found.update(keyspec.combos(e))
                keys = found if keys is None else keys & found
                if not keys:
                    break
            if not keys:
                lists[slot], flags[slot] = [], []
                continue
            by_pos = dict(zip(deferring.kept_at[slot], zip(kept, rows, strict=True), strict=True))
            n = len(terms)
            for i in routes:
                p = self.routes[i].term
                pred, keyspec, _positive = terms[p]
                for at in deferring.positions(self.routes[i].category):
                    e = events[at]
                    for key in keyspec.combos(e):
                        if key in keys:
                            break
                    else:
                        continue
                    if not pred(e):
                        continue
                    entry = by_pos.get(at)
                    if entry is None:
                        entry = by_pos[at] = (e, [False] * n)
                    entry[1][p] = True
            ordered = sorted(by_pos.items())
            lists[slot] = [e for _at, (e, _row) in ordered]
            flags[slot] = [row for _at, (_e, row) in ordered]


class _Deferring:
    """What a deferring pass records for :meth:`RuleSet._run_deferred`."""

    __slots__ = ("kept_at", "of_category")

    def __init__(self, n_rules: int):
        self.kept_at: list[list[int]] = [[] for _ in range(n_rules)]
        self.of_category: dict[tuple, list[int]] = {}

    def positions(self, category: str | None) -> list[int]:
        """Positions of the events of ``category`` (every event for ``None``), in order."""
        if category is None:
            lists = list(self.of_category.values())
        else:
            lists = [at for cats, at in self.of_category.items() if category in cats]
        if len(lists) == 1:
            return lists[0]
        return sorted(at for lst in lists for at in lst)


def _term_positions(q) -> list[int]:
    """Per filter of a query (terms, then ``until``), its position in flag order: missing
    terms, positive terms, then ``until`` (``_SequenceMatcher.all_preds``)."""
    if not isinstance(q, ast.Sequence):
        return []
    missing = [i for i, t in enumerate(q.terms) if t.missing]
    positive = [i for i, t in enumerate(q.terms) if not t.missing]
    order = {t: k for k, t in enumerate(missing + positive)}
    pos = [order[i] for i in range(len(q.terms))]
    if q.until is not None:
        pos.append(len(q.terms))
    return pos


def _flag_terms(query) -> list[tuple]:
    """``(predicate, key spec, positive?)`` of a sequence's filters, in flag order (missing
    terms, positive terms, ``until``), as its matcher evaluates them."""
    out = [(pred, keyspec, False) for _i, pred, keyspec in query._missing]
    out += [(pred, keyspec, True) for _i, pred, keyspec in query._positive]
    if query._until is not None:
        out.append((query._until[0], query._until[1], False))
    return out


def compile_many(texts: dict[str, str], *, on_error: str = "raise", **options) -> RuleSet:
    """Compile ``{rule_id: query text}`` into a :class:`RuleSet`.

    ``options`` are passed to :func:`rules.eql.compile` (``timestamp_field``,
    ``tiebreaker_field``, ``category_field``, ``size``...). ``on_error="raise"`` raises
    :class:`RuleSetError` naming every rule that fails; ``"skip"`` leaves them out and records
    them in ``RuleSet.errors``.
    """
    if on_error not in ("raise", "skip"):
        raise EqlError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    from rules import eql

    queries, errors = {}, {}
    for rule_id, text in texts.items():
        try:
            queries[rule_id] = eql.compile(text, **options)
        except EqlError as exc:
            errors[rule_id] = exc
    if errors and on_error == "raise":
        raise RuleSetError(errors)
    return RuleSet(
        queries,
        category_field=options.get("category_field", "event.category"),
        errors=errors,
    )
