"""Many EQL queries over one event stream, in one pass, with a prefilter.

``compile_many({"rule-id": text, ...}, **options)`` compiles every query with
:func:`rules.eql.compile` and analyses its syntax tree once (:mod:`rules.eql.prefilter`):
the **event categories** each filter can match (per term for sequences and samples, plus the
``until`` term; an ``any`` query is indexed under the categories it names, if it does) and what
its condition **requires** of one field: a literal value, a path segment, a prefix, a
substring, or at least that the field is present. Each filter is keyed by the most selective
of these, checked sound against the engine's own semantics (case folding, arrays, nulls).

``RuleSet.search(events)`` reads the events once. Per combination of event categories a
generated function (:mod:`rules.eql.index`) reads the indexed fields of an event and looks
their values up; each candidate filter's condition then runs as its ``and`` operands, each
distinct operand of the whole rule set compiled once, evaluated at most once per event and
memoised by the values of the fields it reads (:mod:`rules.eql.operands`). A rule keeps the
events (in input order) that satisfy at least one of its filters and, at the end, runs its
own compiled query over them (sequences reuse the verdicts of the pass). A rule therefore
yields exactly what it would alone on all the events -- same matches, same order, same
``head``/``tail``/``size`` limits -- because an event that satisfies none of a query's filters
never changes its result (ordering ties fall back to arrival order, which a subsequence
preserves). The broad terms of a sequence are evaluated after the pass, only for the join
keys its other terms produced (:mod:`rules.eql.deferral`). ``candidates`` exposes the pass
to the detection pipeline, which completes sequences across batches itself.

Errors: by default (``on_error="raise"``) any rule that does not compile makes
``compile_many`` raise :class:`RuleSetError`, an :class:`~rules.eql.errors.EqlError` naming
every failing rule id with its line, column and reason (``.errors`` maps rule id to the
engine's error, ``.rule_id`` is the first). With ``on_error="skip"`` the failing rules are
left out and listed in ``RuleSet.errors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from . import ast
from .deferral import Deferring, complete, flag_terms, keys_of_eager_terms
from .errors import EqlError
from .fields import field_getter
from .gc_pause import gc_paused
from .index import Plan, Route
from .operands import Operands
from .prefilter import (
    BROAD,
    COMMON,
    Atom,
    alternatives,
    filters,
    implied_categories,
    is_exclusion,
    requirement,
    score,
    specialise,
)

__all__ = ["RuleSet", "RuleSetError", "compile_many", "requirement"]


class RuleSetError(EqlError):
    """Some rules of a rule set do not compile; ``errors`` maps each rule id to its error."""

    def __init__(self, errors: dict[str, EqlError]):
        self.errors = dict(errors)
        first_id, first = next(iter(self.errors.items()))
        lines = [f"{len(self.errors)} rule(s) do not compile:"]
        lines += [f"rule {rid!r}: {err}" for rid, err in self.errors.items()]
        super().__init__("\n".join(lines), first.line, first.column)
        self.rule_id = first_id


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
        self._slot = {rule_id: slot for slot, rule_id in enumerate(self.rule_ids)}
        # worked out once: callers ask for every batch
        self.sequence_ids = [rid for rid, q in self.queries.items() if q.kind == "sequence"]
        category_path = tuple(category_field.split("."))
        self._category = field_getter(category_path)
        self.routes: list[Route] = []
        self._operands = Operands()
        self._n_terms: list[int] = []  # per rule slot: its number of filters (0: no sequence)
        drafts = []  # per route to be: what it is, its condition and what can key it
        for slot, rule_id in enumerate(self.rule_ids):
            statement = self.queries[rule_id].statement
            terms = _term_positions(statement.query)
            self._n_terms.append(len(terms) if isinstance(statement.query, ast.Sequence) else 0)
            for filter_no, f in enumerate(filters(statement)):
                c = f.condition
                term = terms[filter_no] if self._n_terms[slot] else -1
                implied = implied_categories(c, category_path) if f.category is None else None
                if implied is None:
                    drafts.append((slot, filter_no, term, f.category, False, c, alternatives(c)))
                    continue
                # an ``any`` filter that names its categories is indexed under each of them,
                # keyed by what its own branch for that category requires
                cats, insensitive = implied
                for cat in sorted(cats):
                    keyed = specialise(c, cat, category_path, insensitive)
                    drafts.append((slot, filter_no, term, cat, insensitive, c, alternatives(keyed)))
        for (slot, filter_no, term, cat, insensitive, c, _alts), atoms in zip(
            drafts, _choose_keys(drafts), strict=True
        ):
            ops = self._ordered_operands(c, atoms)
            self.routes.append(Route(slot, filter_no, term, cat, insensitive, atoms, ops))
        self._anchor_term: dict[int, int] = {}
        self._deferred = self._choose_deferred()
        # per sequence, the flag positions of its positive terms
        self._positive_terms = {
            rule_id: [p for p, (_pred, _ks, positive) in enumerate(flag_terms(q)) if positive]
            for rule_id, q in self.queries.items()
            if q.kind == "sequence"
        }
        deferred = {i for routes in self._deferred.values() for i in routes}
        # (category, case-insensitive?) -> route ids; category None: every event
        self._by_category: dict[tuple, list[int]] = {}
        self._by_category_eager: dict[tuple, list[int]] = {}
        for i, r in enumerate(self.routes):
            key = (r.category, r.insensitive)
            self._by_category.setdefault(key, []).append(i)
            if i not in deferred:
                self._by_category_eager.setdefault(key, []).append(i)
        self._plans: dict[tuple, Plan] = {}
        self._plans_eager: dict[tuple, Plan] = {}
        # per route, its conditions' generated test, made when the route is first checked
        self._tests = [self._lazy_test(i) for i in range(len(self.routes))]

    def prepare(self) -> RuleSet:
        """Do now what a search otherwise does on first use: generate the test of every filter
        and the index of every event category the rules name (a worker calls this at start,
        so that its first batches are as fast as the next)."""
        for i, route in enumerate(self.routes):
            self._tests[i] = self._operands.test(route.operands)
        categories = {r.category for r in self.routes if r.category is not None}
        for category in sorted(categories):
            for eager in (False, True):
                self._plan((category,), eager)
        return self

    def _lazy_test(self, i: int):
        def first_call(*args):
            test = self._tests[i] = self._operands.test(self.routes[i].operands)
            return test(*args)

        return first_call

    def _ordered_operands(self, condition, atoms) -> tuple[int, ...]:
        """The ``and`` operands of a filter, as condition ids, in the order its test runs them.

        The test stops at the first operand that is not true, and operands are pure, so any
        order gives the same answer; the cheapest to reject run first: the operands that
        need specific values (a name, a path segment), most specific first, except the one
        the filter is indexed by (an event reaches the test because it holds that value, so
        it is nearly always true); then that one; then broad ones (``host.os.type ==
        "windows"``, shared by most rules and worked out once per event) and those without
        keys; exclusions (``not ...``, ``!=``, ``not in``), which hold for nearly every event,
        last.
        """
        parts = condition.operands if isinstance(condition, ast.And) else (condition,)

        def rank(part):
            if is_exclusion(part):
                return (3, 0)
            need = requirement(part)
            if need is not None and need == atoms:
                return (1, 0)
            cost = score(need)
            return (0, cost) if cost < BROAD else (2, 0)

        return tuple(self._operands.add(p) for p in sorted(parts, key=rank))

    def _choose_deferred(self) -> dict[int, list[int]]:
        """Rule slot -> the routes of that sequence which ``search`` evaluates after its pass.

        A sequence completes only when every positive term matches events of one join key. Its
        most selective positive term (the *anchor*) is evaluated during the pass like any
        filter; the other terms that would run on most events of their category (keyed on
        broad values only, or not keyed) wait until the pass is over, and are then evaluated
        only if every eagerly evaluated positive term has matched, and only on the events
        whose join key those terms produced (:mod:`rules.eql.deferral`). A filter is deferred as a
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
            self._anchor_term[slot] = self.routes[mine[anchor][0]].term
            later = [i for f, ids in mine.items() if f != anchor and cost[f] >= BROAD for i in ids]
            if later:
                deferred[slot] = later
        return deferred

    def join_keyspecs(self, rule_id: str) -> list:
        """The join-key specs of a sequence's filters (``.combos(event)`` gives an event's
        join keys in that filter), in flag order; empty for other queries."""
        query = self.queries[rule_id]
        if query.kind != "sequence":
            return []
        return [keyspec for _pred, keyspec, _positive in flag_terms(query)]

    def eager_terms(self, rule_id: str) -> list[int]:
        """For a sequence, the flag positions of its positive terms that a deferring pass
        evaluates (all but the broad ones; the anchor always); empty for other queries."""
        slot = self._slot[rule_id]
        query = self.queries[rule_id]
        if query.kind != "sequence":
            return []
        deferred = {self.routes[i].term for i in self._deferred.get(slot, ())}
        return [p for p, (_pred, _ks, positive) in enumerate(flag_terms(query))
                if positive and p not in deferred]  # fmt: skip

    def anchor_term(self, rule_id: str) -> int | None:
        """For a sequence, the flag position (see :meth:`candidates`) of its anchor: the
        positive term its prefilter evaluates first, most selective; every match holds an
        event of it. None for other queries."""
        return self._anchor_term.get(self._slot[rule_id])

    def __len__(self) -> int:
        return len(self.queries)

    def describe(self) -> dict[str, list[tuple[str | None, tuple[Atom, ...] | None]]]:
        """Rule id -> its filters' (category, atoms) as indexed (atoms None = category only)."""
        out: dict[str, list] = {rid: [] for rid in self.rule_ids}
        for r in self.routes:
            out[self.rule_ids[r.slot]].append((r.category, r.atoms))
        return out

    def _plan(self, cats: tuple, eager: bool = False) -> Plan:
        plans = self._plans_eager if eager else self._plans
        plan = plans.get(cats)
        if plan is None:
            by_category = self._by_category_eager if eager else self._by_category
            ids = list(by_category.get((None, False), ()))
            for c in dict.fromkeys(cats):
                ids.extend(by_category.get((c, False), ()))
                ids.extend(by_category.get((c.lower(), True), ()))
            routes = {i: self.routes[i] for i in dict.fromkeys(ids)}
            plan = plans[cats] = Plan(routes, self._operands)
        return plan

    def prefiltered(self, events: Iterable[dict]) -> list[list[dict]]:
        """Per rule slot, the events (in input order) that match at least one of its filters.

        Only those events can take part in the rule's results, so ``query.search`` over
        them gives exactly the results over all the events.
        """
        with gc_paused():
            return self._prefiltered(events, None)

    def candidates(self, events: list[dict], *, defer: bool = False) -> Candidates:
        """One pass over ``events``: per rule, the events (in input order) that match at least
        one of its filters, as :meth:`prefiltered`, and for a sequence which of its filters
        each of them satisfies (see :class:`Candidates`). With ``defer``, the broad terms of
        sequences are left out of the pass, for the caller to complete the sequences that can
        still match (:meth:`Candidates.complete`)."""
        flags: list[list] = [[] for _ in self.rule_ids]
        deferring = Deferring(len(self.rule_ids)) if defer and self._deferred else None
        with gc_paused():
            lists = self._prefiltered(events, flags, deferring)
        return Candidates(self, events, lists, flags, deferring)

    def _run_deferred(self, events: list, lists: list, flags: list, deferring: Deferring):
        """Complete the sequences whose terms were deferred, so that their lists and flags hold
        exactly what a pass over every route would have kept, evaluating a deferred term only
        on the events whose join key every eagerly evaluated positive term produced (none at
        all when one of those terms matched nothing)."""
        for slot, routes in self._deferred.items():
            if not lists[slot]:
                continue
            terms = flag_terms(self.queries[self.rule_ids[slot]])
            work = [(self.routes[i].term, self.routes[i].category) for i in routes]
            keys = keys_of_eager_terms(terms, {p for p, _c in work}, lists[slot], flags[slot])
            if not keys:
                lists[slot], flags[slot] = [], []
                continue
            lists[slot], flags[slot] = complete(
                events, lists[slot], flags[slot], deferring.kept_at[slot], work, terms,
                deferring, keys,
            )  # fmt: skip

    def search_rule(self, rule_id: str, events: list[dict], flags: list | None = None) -> list:
        """The rule's ``Query.search`` over ``events``, taking for sequences the truth of its
        filters from ``flags`` (from :meth:`candidates`) instead of evaluating them again."""
        query = self.queries[rule_id]
        with gc_paused():
            if flags is not None and query.kind == "sequence":
                if not self._all_positive_terms_hit(rule_id, flags):
                    return []
                return query._search_flagged(events, flags)
            return query.search(events)

    def _all_positive_terms_hit(self, rule_id: str, flags: list) -> bool:
        """Whether every positive term of a sequence holds for one of the events: a sequence
        with a term that none does has no result, and needs no search."""
        for p in self._positive_terms[rule_id]:
            for row in flags:
                if row[p]:
                    break
            else:
                return False
        return True

    def _prefiltered(
        self, events: Iterable[dict], flags: list | None, deferring: Deferring | None = None
    ) -> list[list[dict]]:
        """``prefiltered``; with ``flags`` (a list with one empty list per rule slot), also
        records for each event a sequence rule keeps the truth of each of its filters. With
        ``deferring``, the deferred routes are left out and ``deferring`` records what
        completing them needs (see :mod:`rules.eql.deferral`)."""
        lists: list[list[dict]] = [[] for _ in self.rule_ids]
        eager = deferring is not None
        kept_at = deferring.kept_at if eager else None
        of_category = deferring.of_category if eager else None
        pos = -1
        term_pos = [r.term if flags is not None else -1 for r in self.routes]
        n_terms = self._n_terms
        tests = self._tests
        slots = [r.slot for r in self.routes]
        seen: list[object] = [None] * len(self.routes)
        # per-event memo of each distinct condition: (event it was computed for, result)
        mark: list[object] = [None] * len(self._operands)
        value: list[bool] = [False] * len(self._operands)
        # per-event memo of field values, see Operands; plans made during this search may add
        # field slots, so the lists are grown when a new plan appears
        fmarks: list[object] = [None] * len(self._operands.getters)
        fvalues: list[object] = [None] * len(self._operands.getters)
        n_slots = self._operands.getters
        get_category = self._category
        plans = self._plans_eager if eager else self._plans
        plan_for = self._plan

        for e in events:
            pos += 1
            if type(e) is not dict:
                continue
            c = get_category(e)
            t = type(c)
            key = tuple(c) if t is list else (c,) if t is str else ()
            try:
                plan = plans.get(key)  # also filed under keys holding non-strings, see below
            except TypeError:  # an unhashable category element (an object, a list)
                key = tuple(x for x in c if type(x) is str)
                plan = plans.get(key)
            if plan is None:
                plan = plans[key] = plan_for(tuple(x for x in key if type(x) is str), eager)
                grow = len(n_slots) - len(fmarks)  # the new plan may read new fields
                fmarks.extend([None] * grow)
                fvalues.extend([None] * grow)
            if eager:
                at = of_category.get(key)
                if at is None:
                    at = of_category[key] = []
                at.append(pos)
            for hits in plan.find(e, fmarks, fvalues):
                for i in hits:
                    if seen[i] is e:
                        continue
                    seen[i] = e
                    if not tests[i](e, fmarks, fvalues, mark, value):
                        continue
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
        return lists

    def search(self, events: Iterable[dict]) -> Iterator[tuple[str, object]]:
        """``(rule_id, match)`` for every match of every rule, rule by rule in insertion order,
        each rule's matches in the order and within the limits of ``Query.search``."""
        flags: list[list] = [[] for _ in self.rule_ids]
        # Deferring needs to come back to the events after the pass: only for a list (an
        # iterator's events would all have to be kept alive for it).
        deferring = (
            Deferring(len(self.rule_ids)) if self._deferred and type(events) is list else None
        )
        with gc_paused():
            lists = self._prefiltered(events, flags, deferring)
            if deferring is not None:
                self._run_deferred(events, lists, flags, deferring)
        for slot, rule_id in enumerate(self.rule_ids):
            if lists[slot]:
                rows = flags[slot] if self._n_terms[slot] else None
                for match in self.search_rule(rule_id, lists[slot], rows):
                    yield rule_id, match


def _choose_keys(drafts: list) -> list:
    """Per draft route, the atoms that key it: its most selective alternative, unless that
    one needs a field no other route of its categories reads (each indexed field costs a
    lookup on every event of the category) while a selective alternative reads only fields
    that are indexed there anyway."""
    chosen = [min(alts, key=score) if alts else None for *_rest, alts in drafts]
    categories = [draft[3] for draft in drafts]

    def fields(atoms) -> set:
        return {path for path, _mode, _values in atoms or ()}

    def readers() -> dict:
        """(category, field) -> how many routes are keyed on the field."""
        count: dict = {}
        for cat, atoms in zip(categories, chosen, strict=True):
            for path in fields(atoms):
                count[cat, path] = count.get((cat, path), 0) + 1
        return count

    def others(count: dict, cat, path, own: int) -> int:
        """Routes besides ``own`` that read ``path`` on the events a route of ``cat`` sees."""
        if cat is None:
            n = sum(v for (_c, p), v in count.items() if p == path)
        else:
            n = count.get((cat, path), 0) + count.get((None, path), 0)
        return n - own

    for _round in range(len(drafts)):
        count = readers()
        for n, atoms in enumerate(chosen):
            cat = categories[n]
            if atoms is None or all(others(count, cat, p, 1) for p in fields(atoms)):
                continue
            mine = fields(atoms)
            shared = [
                alt
                for alt in drafts[n][-1]
                if score(alt) < COMMON
                and all(others(count, cat, p, p in mine) for p in fields(alt))
            ]
            if shared:
                chosen[n] = min(shared, key=score)
                break  # count again before the next change
        else:
            break
    return chosen


def _term_positions(q) -> list[int]:
    """Per filter of a query (terms, then ``until``), its position in flag order: missing
    terms, positive terms, then ``until`` (``SequenceMatcher.all_preds``)."""
    if not isinstance(q, ast.Sequence):
        return []
    missing = [i for i, t in enumerate(q.terms) if t.missing]
    positive = [i for i, t in enumerate(q.terms) if not t.missing]
    order = {t: k for k, t in enumerate(missing + positive)}
    pos = [order[i] for i in range(len(q.terms))]
    if q.until is not None:
        pos.append(len(q.terms))
    return pos


class Candidates:
    """What one pass of a rule set over a batch kept, per rule (:meth:`RuleSet.candidates`).

    ``of(rule_id)`` gives ``(events, flags)``: the events that may take part in the rule's
    results, and for a sequence, per event, the truth of each of its filters in the order of
    its matcher (missing terms, positive terms, ``until``); None for other queries. Pass them
    to :meth:`RuleSet.search_rule`. When the pass deferred a sequence's broad terms, the
    sequence's lists hold its other terms only until :meth:`complete` is called for it.
    """

    def __init__(self, ruleset: RuleSet, events: list, lists: list, flags: list, deferring):
        self.ruleset = ruleset
        self.events = events
        self._lists = lists
        self._flags = flags
        self._deferring = deferring
        self._done: set[int] = set()

    def of(self, rule_id: str) -> tuple[list, list | None]:
        slot = self.ruleset._slot[rule_id]
        return self._lists[slot], self._flags[slot] if self.ruleset._n_terms[slot] else None

    def kept(self) -> list[tuple[str, list, list | None]]:
        """``(rule id, *of(rule id))`` of each rule that kept any event, in rule order (most
        rules keep nothing from a batch)."""
        rs = self.ruleset
        return [
            (rule_id, events, self._flags[slot] if rs._n_terms[slot] else None)
            for slot, (rule_id, events) in enumerate(zip(rs.rule_ids, self._lists, strict=True))
            if events
        ]

    def deferred(self, rule_id: str) -> bool:
        """Whether the rule has terms this pass left for :meth:`complete`."""
        slot = self.ruleset._slot[rule_id]
        return (
            self._deferring is not None
            and slot in self.ruleset._deferred
            and slot not in self._done
        )

    def hits(self, rule_id: str) -> dict[int, list[tuple[dict, list[tuple]]]]:
        """For a sequence, per positive term the pass evaluated (its flag position), the events
        that satisfy it, each with its join keys there. Every match of the sequence holds an
        event of each of these terms."""
        rs = self.ruleset
        slot = rs._slot[rule_id]
        out: dict[int, list] = {}
        terms = flag_terms(rs.queries[rule_id])
        for term in rs.eager_terms(rule_id):
            keyspec = terms[term][1]
            out[term] = [
                (e, keyspec.combos(e))
                for e, row in zip(self._lists[slot], self._flags[slot], strict=True)
                if row[term]
            ]
        return out

    def join_keys(self, rule_id: str, events: list[dict], flags: list) -> set[tuple]:
        """Every join key the given events of a sequence have, in the terms they satisfy."""
        terms = flag_terms(self.ruleset.queries[rule_id])
        keys: set[tuple] = set()
        for e, row in zip(events, flags, strict=True):
            for p, (_pred, keyspec, _positive) in enumerate(terms):
                if row[p]:
                    keys.update(keyspec.combos(e))
        return keys

    def skip(self, rule_id: str) -> None:
        """Drop the rule's candidates (its caller knows it cannot match) and its deferred
        terms with them."""
        slot = self.ruleset._slot[rule_id]
        self._done.add(slot)
        self._lists[slot], self._flags[slot] = [], []

    def complete(self, rule_id: str, keys: set[tuple]) -> None:
        """Evaluate the sequence's deferred terms on the batch events whose join key is one of
        ``keys`` (those of every event that can share a match with them), so that
        :meth:`of` then gives what a full pass would have kept of the events of those keys."""
        rs = self.ruleset
        slot = rs._slot[rule_id]
        if not self.deferred(rule_id):
            return
        self._done.add(slot)
        if not keys:
            return
        routes = rs._deferred[slot]
        terms = flag_terms(rs.queries[rule_id])
        work = [(rs.routes[i].term, rs.routes[i].category) for i in routes]
        with gc_paused():
            self._lists[slot], self._flags[slot] = complete(
                self.events, self._lists[slot], self._flags[slot],
                self._deferring.kept_at[slot], work, terms, self._deferring, keys,
            )  # fmt: skip


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
