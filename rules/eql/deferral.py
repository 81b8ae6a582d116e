"""Sequences in a rule set: the terms whose evaluation waits until they can matter.

A sequence completes only when every positive term matches events of one join key. The rule
set evaluates each sequence's most selective positive term (its *anchor*) during its pass and
defers the terms that would run on most events of their category; :func:`complete` then
evaluates a deferred term only on the events whose join key can still be part of a match.
An event of another key cannot change the result: the sequence matcher's state is per join
key, and ``until`` and missing-event terms only act on the sequences of their own key.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Deferring", "complete", "flag_terms", "keys_of_eager_terms"]

_SCALARS = frozenset({str, int, float, bool, type(None)})


def _may_join(checks: list, e: dict) -> bool:
    """False when one key component of the event rules out every key: a null plain key, or a
    scalar no key holds at that position (``checks``: (getter, optional?, allowed values))."""
    for get, optional, allowed in checks:
        v = get(e)
        if v is None:
            if not optional:
                return False
        elif type(v) in _SCALARS and v not in allowed:
            return False
    return True


def _joins(keyspec, e: dict, keys: set) -> bool:
    """Whether one of the event's join keys (``keyspec.combos(e)``) is in ``keys``: directly
    when every key value is a plain non-null scalar (its only key is then their tuple)."""
    values = tuple(g(e) for g in keyspec.getters)
    for v in values:
        if v is None or type(v) not in _SCALARS:
            return any(key in keys for key in keyspec.combos(e))
    return values in keys


class Deferring:
    """What a deferring pass records for :func:`complete`: each kept sequence event's position
    in the events, and the positions of the events of each category."""

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


def flag_terms(query) -> list[tuple]:
    """``(predicate, key spec, positive?)`` of a sequence's filters, in flag order (missing
    terms, positive terms, ``until``), as its matcher evaluates them."""
    out = [(pred, keyspec, False) for _i, pred, keyspec in query._missing]
    out += [(pred, keyspec, True) for _i, pred, keyspec in query._positive]
    if query._until is not None:
        out.append((query._until[0], query._until[1], False))
    return out


def keys_of_eager_terms(terms: list, deferred: set[int], kept: list, rows: list) -> set:
    """The join keys that every eagerly evaluated positive term produced (``terms`` from
    :func:`flag_terms`; ``deferred``: flag positions evaluated later; ``kept``/``rows``: the
    pass's events and flags for the rule). Empty when one of those terms matched nothing."""
    keys = None
    for p, (_pred, keyspec, positive) in enumerate(terms):
        if not positive or p in deferred:
            continue
        found = set()
        for e, row in zip(kept, rows, strict=True):
            if row[p]:
                found.update(keyspec.combos(e))
        keys = found if keys is None else keys & found
        if not keys:
            return set()
    return keys or set()


def complete(
    events: list,
    kept: list,
    rows: list,
    kept_at: list[int],
    work: list[tuple[int, str | None]],
    terms: list,
    deferring: Deferring,
    keys: set,
    extra_keys: Callable[[tuple], bool] | None = None,
) -> tuple[list, list]:
    """A sequence's kept events and flags with its deferred terms evaluated: ``work`` holds
    (flag position, category) of each deferred route; a term is evaluated on the events of
    its category whose join key is in ``keys`` (or accepted by ``extra_keys``). Returns the
    new (events, flags), in the order of ``events``."""
    by_pos = dict(zip(kept_at, zip(kept, rows, strict=True), strict=True))
    n = len(terms)
    checks_for = None
    if keys and extra_keys is None:
        # per key component, the values the keys hold there: a scalar outside them rules an
        # event out before its whole key is worked out (the last components, a term's own
        # keys such as a process id, are the most telling: they are read first)
        width = len(next(iter(keys)))
        components = [{k[c] for k in keys} for c in range(width)]

        def checks_for(keyspec):
            checks = list(zip(keyspec.getters, keyspec.optional, components, strict=True))
            checks.reverse()
            return checks

    for p, category in work:
        pred, keyspec, _positive = terms[p]
        checks = checks_for(keyspec) if checks_for is not None else None
        for at in deferring.positions(category):
            e = events[at]
            if checks is not None and not _may_join(checks, e):
                continue
            if extra_keys is None:
                if not _joins(keyspec, e, keys):
                    continue
            elif not any(key in keys or extra_keys(key) for key in keyspec.combos(e)):
                continue
            if not pred(e):
                continue
            entry = by_pos.get(at)
            if entry is None:
                entry = by_pos[at] = (e, [False] * n)
            entry[1][p] = True
    ordered = sorted(by_pos.items())
    return [e for _at, (e, _row) in ordered], [row for _at, (_e, row) in ordered]
