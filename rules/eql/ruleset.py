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
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from . import ast
from . import functions as fn
from .compiler import compile_expr
from .errors import EqlError
from .fields import field_getter

__all__ = ["RuleSet", "RuleSetError", "compile_many", "requirement"]

# Fields whose values most events share: a rule keyed on them alone still needs its predicate
# run on nearly every event of its category, so any other key is preferred.
_BROAD_FIELDS = frozenset(
    {
        "host.os.type", "host.os.family", "host.os.name", "host.os.platform", "event.type",
        "event.kind", "event.category", "event.module", "event.dataset", "event.outcome",
        "event.provider", "data_stream.dataset", "data_stream.type", "agent.type",
        "network.direction", "network.transport", "network.type", "user.domain",
        "event.action",
    }
)  # fmt: skip

# A requirement is a tuple of atoms; the filter can match only if one atom holds.
# An atom is (field path, mode, frozenset of lowercased strings): in mode "eq" the lowercased
# field value must be one of them; in mode "seg" one of the value's backslash-separated
# segments must be (``registry.path : "*\\Services\\PortProxy\\*"`` needs a "portproxy"
# segment: a literal run of a wildcard pattern that holds "\\x\\" can only match a value
# that has "x" as a whole segment).
Atom = tuple[tuple[str, ...], str, frozenset[str]]

# Segments most Windows paths share: a pattern keyed on them filters little.
_COMMON_SEGMENTS = frozenset(
    {
        "", "c:", "?:", "windows", "system32", "syswow64", "users", "program files",
        "program files (x86)", "programdata", "appdata", "local", "roaming", "temp",
        "microsoft", "software", "hklm", "hkey_local_machine", "hkey_users", "hkcu",
        "currentversion", "device", "registry", "machine", "user", "system", "windows nt",
        "wow6432node", "policies", "classes", "controlset001", "services", "control",
    }
)  # fmt: skip


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


def _string_literal(node) -> str | None:
    if isinstance(node, ast.Literal) and type(node.value) is str:
        return node.value
    return None


def _field_and_string(left, right) -> tuple[tuple[str, ...], str] | None:
    if isinstance(left, ast.Field) and _string_literal(right) is not None:
        return left.path, right.value
    if isinstance(right, ast.Field) and _string_literal(left) is not None:
        return right.path, left.value
    return None


def _score(atoms: tuple[Atom, ...]) -> int:
    """A rough cost of keying a filter by ``atoms``: how often events would hit them.

    A value of a broad field (``host.os.type == "windows"``) or a common path segment hits
    most events; a specific value or segment (a process name, "perflogs") hits few, even
    dozens of them together.
    """
    total = 0
    for path, mode, values in atoms:
        if ".".join(path) in _BROAD_FIELDS:
            total += 1000 * len(values)
        elif mode == "seg":
            total += sum(100 if v in _COMMON_SEGMENTS else 2 for v in values)
        else:
            total += len(values)
    return total


def _segment(pattern: str) -> str | None:
    """The most telling whole segment a (lowercased) wildcard pattern requires, if any."""
    runs = re.split(r"[*?]", pattern)
    found: list[str] = []
    for i, run in enumerate(runs):
        pieces = run.split("\\")
        if len(pieces) < 2:
            continue
        found.extend(pieces[1:-1])
        if i == 0:
            found.append(pieces[0])
        if i == len(runs) - 1:
            found.append(pieces[-1])
    if not found:
        return None
    return max(found, key=lambda seg: (seg not in _COMMON_SEGMENTS, len(seg)))


def _atoms(path, eq: set[str], seg: set[str]) -> tuple[Atom, ...]:
    out = []
    if eq:
        out.append((path, "eq", frozenset(eq)))
    if seg:
        out.append((path, "seg", frozenset(seg)))
    return tuple(out)


def requirement(expr) -> tuple[Atom, ...] | None:
    """Atoms of which at least one holds whenever ``expr`` is true, or None if unknown.

    Sound for the engine's semantics: string comparisons are exact after lowercasing at most,
    multi-valued fields match when any element does, and null never satisfies an atom.
    """
    if isinstance(expr, ast.StringMatch):
        if expr.kind != "wildcard" or not isinstance(expr.expr, ast.Field):
            return None
        eq: set[str] = set()
        seg: set[str] = set()
        for p in expr.patterns:
            p = p.lower()
            if "*" not in p and "?" not in p:
                eq.add(p)
                continue
            s = _segment(p)
            if s is None:
                return None
            seg.add(s)
        return _atoms(expr.expr.path, eq, seg) or None
    if isinstance(expr, ast.Comparison):
        if expr.op != "==":
            return None
        fs = _field_and_string(expr.left, expr.right)
        return None if fs is None else ((fs[0], "eq", frozenset((fs[1].lower(),))),)
    if isinstance(expr, ast.InSet):
        if expr.negated or not isinstance(expr.expr, ast.Field) or not expr.values:
            return None
        values = [_string_literal(v) for v in expr.values]
        if any(v is None for v in values):
            return None
        return ((expr.expr.path, "eq", frozenset(v.lower() for v in values)),)
    if isinstance(expr, ast.And):
        best = None
        for operand in expr.operands:
            r = requirement(operand)
            if r is not None and (best is None or _score(r) < _score(best)):
                best = r
        return best
    if isinstance(expr, ast.Or):
        merged: dict[tuple[tuple[str, ...], str], set[str]] = {}
        for operand in expr.operands:
            r = requirement(operand)
            if r is None:
                return None
            for path, mode, values in r:
                merged.setdefault((path, mode), set()).update(values)
        return tuple((p, m, frozenset(v)) for (p, m), v in merged.items())
    return None


def _filters(statement: ast.Statement) -> list[ast.EventFilter]:
    q = statement.query
    if isinstance(q, ast.EventQuery):
        return [q.filter]
    terms = list(q.terms)
    if isinstance(q, ast.Sequence) and q.until is not None:
        terms.append(q.until)
    return [t.filter for t in terms]


def _truth(v) -> bool:
    """True when the engine's ``and`` would treat ``v`` as true (``where`` keeps only true)."""
    if v is True:
        return True
    if type(v) is list:
        return any(x is True for x in fn.flat(v))
    return False


def _is_exclusion(node) -> bool:
    """An ``and`` operand that excludes a few cases: a negation, ``!=`` or ``not in``."""
    return (
        isinstance(node, ast.Not)
        or (isinstance(node, ast.Comparison) and node.op == "!=")
        or (isinstance(node, ast.InSet) and node.negated)
    )


def _fields_of(node) -> set[tuple[str, ...]]:
    return {n.path for n in ast.walk(node) if isinstance(n, ast.Field)}


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
    """One filter's entry in the index: its rule slot, category, atoms and predicate."""

    slot: int
    category: str | None
    atoms: tuple[Atom, ...] | None
    operands: tuple[int, ...]


class _Plan:
    """The merged index for one combination of event categories (routes by number)."""

    __slots__ = ("always", "fields")

    def __init__(self, routes: dict[int, _Route], operands: _Operands):
        always: list[int] = []
        by_field: dict[tuple[tuple[str, ...], str], dict[str, set[int]]] = {}
        for i, r in routes.items():
            if r.atoms is None:
                always.append(i)
                continue
            for path, mode, values in r.atoms:
                index = by_field.setdefault((path, mode), {})
                for v in values:
                    index.setdefault(v, set()).add(i)
        self.always = tuple(sorted(always))
        fields = []
        for (path, mode), index in by_field.items():
            frozen = {v: tuple(sorted(s)) for v, s in index.items()}
            every = tuple(sorted({i for ids in frozen.values() for i in ids}))
            j = operands.slot(path)
            fields.append((j, operands.heads[j], operands.getters[j], mode == "seg", frozen, every))
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
        self._category = field_getter(tuple(category_field.split(".")))
        self.routes: list[_Route] = []
        self._operands = _Operands()
        for slot, rule_id in enumerate(self.rule_ids):
            for f in _filters(self.queries[rule_id].statement):
                c = f.condition
                parts = c.operands if isinstance(c, ast.And) else (c,)
                # exclusions (``not ...``, ``!=``, ``not in``) hold for nearly every event:
                # evaluated last, they are skipped whenever another operand already fails (the
                # operands are pure, so the order cannot change the conjunction)
                parts = sorted(parts, key=_is_exclusion)
                ops = tuple(self._operands.add(p) for p in parts)
                self.routes.append(_Route(slot, f.category, requirement(c), ops))
        # per route: its position among its sequence's filters in the order of
        # ``_SequenceMatcher.all_preds`` (missing terms, positive terms, until), else -1; a
        # search records which filters each kept event satisfies, so the sequence matcher
        # does not evaluate them again
        self._term_pos: list[int] = []
        self._n_terms: list[int] = []  # per rule slot: its number of filters (0: no sequence)
        for rule_id in self.rule_ids:
            q = self.queries[rule_id].statement.query
            if not isinstance(q, ast.Sequence):
                self._n_terms.append(0)
                self._term_pos.extend([-1] * len(_filters(self.queries[rule_id].statement)))
                continue
            missing = [i for i, t in enumerate(q.terms) if t.missing]
            positive = [i for i, t in enumerate(q.terms) if not t.missing]
            order = {t: k for k, t in enumerate(missing + positive)}
            pos = [order[i] for i in range(len(q.terms))]
            if q.until is not None:
                pos.append(len(q.terms))
            self._term_pos.extend(pos)
            self._n_terms.append(len(pos))
        self._by_category: dict[str | None, list[int]] = {}
        for i, r in enumerate(self.routes):
            self._by_category.setdefault(r.category, []).append(i)
        self._plans: dict[tuple, _Plan] = {}

    def __len__(self) -> int:
        return len(self.queries)

    def describe(self) -> dict[str, list[tuple[str | None, tuple[Atom, ...] | None]]]:
        """Rule id -> its filters' (category, atoms) as indexed (atoms None = category only)."""
        out: dict[str, list] = {rid: [] for rid in self.rule_ids}
        for r in self.routes:
            out[self.rule_ids[r.slot]].append((r.category, r.atoms))
        return out

    def _plan(self, cats: tuple) -> _Plan:
        plan = self._plans.get(cats)
        if plan is None:
            ids = list(self._by_category.get(None, ()))
            for c in dict.fromkeys(cats):
                ids.extend(self._by_category.get(c, ()))
            plan = self._plans[cats] = _Plan({i: self.routes[i] for i in ids}, self._operands)
        return plan

    def prefiltered(self, events: Iterable[dict]) -> list[list[dict]]:
        """Per rule slot, the events (in input order) that match at least one of its filters.

        Only those events can take part in the rule's results, so ``query.search`` over
        them gives exactly the results over all the events.
        """
        with _gc_paused():
            return self._prefiltered(events, None)

    def _prefiltered(self, events: Iterable[dict], flags: list | None) -> list[list[dict]]:
        """``prefiltered``; with ``flags`` (a list with one empty list per rule slot), also
        records for each event a sequence rule keeps the truth of each of its filters."""
        lists: list[list[dict]] = [[] for _ in self.rule_ids]
        term_pos = self._term_pos if flags is not None else [-1] * len(self.routes)
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
        plans = self._plans
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
            elif p >= 0:
                flags[slot][-1][p] = True

        for e in events:
            if type(e) is not dict:
                continue
            c = get_category(e)
            if type(c) is str:
                key = (c,)
            elif type(c) is list:
                key = tuple(x for x in c if type(x) is str)
            else:
                key = ()
            plan = plans.get(key) or plan_for(key)
            if len(fmarks) < len(n_slots):
                grow = len(n_slots) - len(fmarks)
                fmarks.extend([None] * grow)
                fvalues.extend([None] * grow)
            for i in plan.always:
                check(i, e)
            for j, head, get, by_segment, index, every in plan.fields:
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
                if type(v) is str and not by_segment:
                    hits = index.get(v.lower())
                    if hits is None:
                        continue
                else:
                    found: set[int] = set()
                    for x in v if type(v) is list else (v,):
                        if type(x) is str:
                            if by_segment:
                                for part in x.lower().split("\\"):
                                    if part in index:
                                        found.update(index[part])
                            else:
                                found.update(index.get(x.lower(), ()))
                        elif x is not None:
                            found = set(every)
                            break
                    if not found:
                        continue
                    hits = found
                for i in hits:
                    if seen[i] is not e:
                        seen[i] = e
                        check(i, e)
        return lists

    def search(self, events: Iterable[dict]) -> Iterator[tuple[str, object]]:
        """``(rule_id, match)`` for every match of every rule, rule by rule in insertion order,
        each rule's matches in the order and within the limits of ``Query.search``."""
        flags: list[list] = [[] for _ in self.rule_ids]
        with _gc_paused():
            lists = self._prefiltered(events, flags)
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
