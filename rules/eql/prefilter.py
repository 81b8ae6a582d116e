"""What a query requires of an event, read off its syntax tree: the prefilter's analysis.

:func:`requirement` finds literal values a condition needs (``process.name : ("a.exe",
"b.exe")`` needs one of two names), :func:`implied_categories` the event categories an ``any``
condition needs (``event.category == "file" and ...``), and :func:`specialise` drops the
branches of a condition that cannot hold for one category, so that each category of an ``any``
query is keyed by what its own branch needs. :func:`score` ranks keys by how many events they
would let through. Everything here is sound for the engine's semantics: when a condition is
true, what it is said to require holds. Nothing here evaluates events.
"""

from __future__ import annotations

from . import ast
from .compiler import DATE_LIKE
from .pattern_keys import (
    COMMON_SEGMENTS,
    PREFIX_LENGTHS,
    best_substring,
    common_prefix,
    key_pieces,
    literal_head,
    pattern_atom,
    prefix_key,
    regex_atom,
    weak_substring,
)

__all__ = [
    "BROAD",
    "COMMON",
    "PREFIX_LENGTHS",
    "Atom",
    "alternatives",
    "filters",
    "implied_categories",
    "is_exclusion",
    "requirement",
    "score",
    "specialise",
]

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
# An atom is (field path, mode, frozenset of keys). Modes, by what must hold of the value (or
# of one element of a multi-valued field):
#   "eq"   its lowercased text is one of the keys (strings);
#   "seg"  one of its backslash-separated lowercased segments is (``registry.path :
#          "*\\Services\\PortProxy\\*"`` needs a "portproxy" segment: a literal run of a wildcard
#          pattern that holds "\\x\\" can only match a value that has "x" as a whole segment);
#   "pre"  its lowercased text starts with one of the keys (``"adexplorer*"``), each key as
#          long as one of ``PREFIX_LENGTHS`` (:mod:`rules.eql.pattern_keys`);
#   "sub"  its lowercased text contains one of the keys (``"*eval(*"``, a regex's literal);
#   "num"  it equals one of the keys, numbers, as the engine compares (numeric strings too);
#   "bool" it equals one of the keys, booleans (or the strings "true" / "false");
#   "any"  it is not null (the keys are ``{True}``): what a regex or a function needs at least.
Atom = tuple[tuple[str, ...], str, frozenset]

# Values of broad fields that most events carry: keyed on them, a filter still runs on nearly
# every event of its category. Any other value of a broad field (``event.action :
# "service-installed"``) is rare enough to be a useful key.
_COMMON_BROAD_VALUES = frozenset(
    {
        "windows", "linux", "macos", "unix", "start", "end", "creation", "change", "deletion",
        "info", "access", "connection", "connection_attempted", "connection_accepted",
        "disconnect_received", "protocol", "load", "exec", "fork", "modification", "rename",
        "overwrite", "allowed", "denied", "success", "failure", "unknown", "process", "file",
        "network", "registry", "library", "authentication", "iam", "configuration", "driver",
        "host", "session", "event", "alert", "signal", "metric", "state", "lookup_requested",
        "lookup_result", "query", "endpoint", "outgoing", "incoming", "egress", "ingress",
        "tcp", "udp", "ipv4", "ipv6", "dns", "http", "logged-in", "log_on", "user",
        "endpoint.events.process", "endpoint.events.file", "endpoint.events.network",
        "endpoint.events.registry", "endpoint.events.library", "windows.sysmon_operational",
        "system.security", "windows.powershell_operational", "sysmon", "security",
    }
)  # fmt: skip


def _constant(node):
    """The value of a literal string, number or boolean (not null), else ``_NO``."""
    if isinstance(node, ast.Literal) and node.value is not None:
        return node.value
    return _NO


_NO = object()


def _field_and_constant(left, right):
    if isinstance(left, ast.Field) and _constant(right) is not _NO:
        return left.path, right.value
    if isinstance(right, ast.Field) and _constant(left) is not _NO:
        return right.path, left.value
    return None


def _value_atoms(path, values) -> tuple[Atom, ...]:
    """Atoms for "the field equals one of ``values``" (strings lowercased: a superset of
    both case-sensitive and case-insensitive equality)."""
    strings = {v.lower() for v in values if type(v) is str}
    numbers = {v for v in values if type(v) is int or type(v) is float}
    booleans = {v for v in values if type(v) is bool}
    out = []
    if strings:
        out.append((path, "eq", frozenset(strings)))
    if numbers:
        out.append((path, "num", frozenset(numbers)))
    if booleans:
        out.append((path, "bool", frozenset(booleans)))
    return tuple(out)


def score(atoms: tuple[Atom, ...] | None) -> int:
    """A rough cost of keying a filter by ``atoms``: how often events would hit them.

    A common value of a broad field (``host.os.type == "windows"``) or a common path segment
    hits most events; a specific value or segment (a process name, "perflogs") hits few, even
    dozens of them together. No atoms (the filter runs on every event of its category) costs
    the most.
    """
    if atoms is None:
        return _UNKEYED
    total = 0
    for path, mode, values in atoms:
        if ".".join(path) in _BROAD_FIELDS:
            if mode == "eq":
                common = any(v in _COMMON_BROAD_VALUES for v in values)
            elif mode == "pre":
                common = any(c.startswith(v) for v in values for c in _COMMON_BROAD_VALUES)
            else:
                common = True
            total += (BROAD if common else 30) * len(values)
        elif mode == "seg":
            total += sum(100 if v in COMMON_SEGMENTS else 2 for v in values)
        elif mode == "pre":
            total += sum(100 if common_prefix(v) else 3 for v in values)
        elif mode == "sub":
            total += sum(100 if weak_substring(v) else 4 for v in values)
        elif mode == "any":
            total += BROAD if ".".join(path) in _CORE_FIELDS else _EXISTS
        elif mode == "bool":
            # a flag is true for most events (signed, trusted, exists) and false for some
            total += sum(BROAD if v else COMMON for v in values)
        else:
            total += len(values)
    return total


# Fields that nearly every event of their category carries: "present" keys nothing there.
_CORE_FIELDS = frozenset(
    {
        "@timestamp", "process.pid", "process.name", "process.executable", "process.entity_id",
        "process.command_line", "process.args", "process.args_count", "process.parent.pid",
        "process.parent.name", "process.parent.executable", "process.parent.entity_id",
        "process.parent.command_line", "process.parent.args", "user.id", "user.name",
        "user.domain", "host.id", "host.name", "host.os.type", "event.type", "event.action",
        "event.category", "event.code", "event.kind", "event.outcome", "file.path", "file.name",
        "file.extension", "registry.path", "registry.key", "registry.value", "registry.hive",
        "dll.path", "dll.name", "source.ip", "source.port", "destination.ip", "destination.port",
        "network.direction", "network.transport", "network.protocol", "dns.question.name",
        "winlog.event_id", "winlog.channel", "winlog.computer_name",
    }
)  # fmt: skip

BROAD = 1000  # a score at or above this: the filter runs on most events of its category
COMMON = 100  # a score at or above this: the filter runs on many events of its category
_EXISTS = 500  # "the field is present": many optional fields are absent from most events
_UNKEYED = 1_000_000

_EXISTS_ATOM = frozenset((True,))
_STRING_PREDICATES = {"startsWith": "pre", "endsWith": "sub", "stringContains": "sub"}


def _function_requirement(expr: ast.FunctionCall) -> tuple[Atom, ...] | None:
    """Keys of a boolean string function on a field: its first argument must be present,
    and a literal second argument is a prefix or substring of it."""
    if expr.name not in (*_STRING_PREDICATES, "cidrMatch") or not expr.args:
        return None
    field = expr.args[0]
    if not isinstance(field, ast.Field):
        return None
    mode = _STRING_PREDICATES.get(expr.name)
    if mode is not None and len(expr.args) == 2 and type(_constant(expr.args[1])) is str:
        lit = expr.args[1].value
        pieces = key_pieces(lit, lowered=False) if not expr.case_insensitive else [lit.lower()]
        lead = literal_head(lit, lowered=expr.case_insensitive)
        if expr.case_insensitive:
            lead = lead.lower()
        if mode == "pre" and prefix_key(lead) is not None:
            return ((field.path, "pre", frozenset((prefix_key(lead),))),)
        sub = best_substring(pieces)
        if sub is not None:
            return ((field.path, "sub", frozenset((sub,))),)
    return ((field.path, "any", _EXISTS_ATOM),)


def alternatives(expr) -> list[tuple[Atom, ...]]:
    """Every requirement ``expr`` can be keyed by: one per ``and`` operand that has one (any
    of them is sound), or the one of the whole condition."""
    if isinstance(expr, ast.And):
        return [r for r in (requirement(o) for o in expr.operands) if r is not None]
    r = requirement(expr)
    return [] if r is None else [r]


def requirement(expr) -> tuple[Atom, ...] | None:
    """Atoms of which at least one holds whenever ``expr`` is true, or None if unknown.

    Sound for the engine's semantics: string comparisons are exact after lowercasing at most,
    numbers and booleans compare as :func:`rules.eql.functions.eq` does, multi-valued fields
    match when any element does, and null never satisfies an atom.
    """
    if isinstance(expr, ast.StringMatch):
        if not isinstance(expr.expr, ast.Field) or not expr.patterns:
            return None
        path = expr.expr.path
        keys: dict[str, set] = {}
        for p in expr.patterns:
            if expr.kind == "wildcard":
                atom = pattern_atom(p, expr.case_insensitive)
            else:
                atom = regex_atom(p, expr.case_insensitive)
            if atom is None:  # no key for this pattern: the field must be present at least
                return ((path, "any", _EXISTS_ATOM),)
            keys.setdefault(atom[0], set()).add(atom[1])
        return tuple((path, mode, frozenset(v)) for mode, v in keys.items())
    if isinstance(expr, ast.FunctionCall):
        return _function_requirement(expr)
    if isinstance(expr, ast.Comparison):
        fc = _field_and_constant(expr.left, expr.right)
        if fc is None:
            is_null = isinstance(expr.right, ast.Literal) and expr.right.value is None
            if expr.op == "!=" and is_null and isinstance(expr.left, ast.Field):
                return ((expr.left.path, "any", _EXISTS_ATOM),)  # ``field != null``
            return None
        if expr.op != "==":
            # ``<``, ``>``... and ``!=`` against a value are null, not true, on a null field
            return ((fc[0], "any", _EXISTS_ATOM),)
        if type(fc[1]) is str and DATE_LIKE.match(fc[1]):
            return ((fc[0], "any", _EXISTS_ATOM),)  # a date compares as an instant, not text
        return _value_atoms(fc[0], (fc[1],))
    if isinstance(expr, ast.InSet):
        if expr.negated or not isinstance(expr.expr, ast.Field) or not expr.values:
            return None
        values = [_constant(v) for v in expr.values]
        if any(v is _NO for v in values):
            return None
        return _value_atoms(expr.expr.path, values)
    if isinstance(expr, ast.And):
        best = None
        for operand in expr.operands:
            r = requirement(operand)
            if r is not None and (best is None or score(r) < score(best)):
                best = r
        return best
    if isinstance(expr, ast.Or):
        merged: dict[tuple[tuple[str, ...], str], set] = {}
        for operand in expr.operands:
            r = requirement(operand)
            if r is None:
                return None
            for path, mode, values in r:
                merged.setdefault((path, mode), set()).update(values)
        return tuple((p, m, frozenset(v)) for (p, m), v in merged.items())
    return None


def filters(statement: ast.Statement) -> list[ast.EventFilter]:
    q = statement.query
    if isinstance(q, ast.EventQuery):
        return [q.filter]
    terms = list(q.terms)
    if isinstance(q, ast.Sequence) and q.until is not None:
        terms.append(q.until)
    return [t.filter for t in terms]


def is_exclusion(node) -> bool:
    """An ``and`` operand that excludes a few cases: a negation, ``!=`` or ``not in``."""
    return (
        isinstance(node, ast.Not)
        or (isinstance(node, ast.Comparison) and node.op == "!=")
        or (isinstance(node, ast.InSet) and node.negated)
    )


# ---- event categories of ``any`` conditions --------------------------------------------------

Categories = tuple[frozenset[str], bool]  # (categories, compared case-insensitively)


def implied_categories(expr, category_path: tuple[str, ...]) -> Categories | None:
    """The categories an event must have (one of them) when ``expr`` is true, or None.

    ``event.category == "file"`` and ``in`` imply exact values; ``:`` and ``in~`` imply
    values compared case-insensitively (returned lowercased, flag True). An ``and`` implies
    what any operand implies, an ``or`` what all its branches imply together.
    """
    if isinstance(expr, ast.Comparison):
        if expr.op != "==":
            return None
        fc = _field_and_constant(expr.left, expr.right)
        if fc is None or fc[0] != category_path or type(fc[1]) is not str:
            return None
        return frozenset((fc[1],)), False
    if isinstance(expr, ast.InSet):
        if expr.negated or not _is_field(expr.expr, category_path) or not expr.values:
            return None
        values = [_constant(v) for v in expr.values]
        if any(type(v) is not str for v in values):
            return None
        if expr.case_insensitive:
            return frozenset(v.lower() for v in values), True
        return frozenset(values), False
    if isinstance(expr, ast.StringMatch):
        if expr.kind != "wildcard" or not _is_field(expr.expr, category_path):
            return None
        if any("*" in p or "?" in p for p in expr.patterns):
            return None
        if expr.case_insensitive:
            return frozenset(p.lower() for p in expr.patterns), True
        return frozenset(expr.patterns), False
    if isinstance(expr, ast.And):
        found = [c for c in (implied_categories(o, category_path) for o in expr.operands) if c]
        exact = [cats for cats, insensitive in found if not insensitive]
        if exact:
            return frozenset.intersection(*exact), False
        if found:
            return frozenset.intersection(*(cats for cats, _i in found)), True
        return None
    if isinstance(expr, ast.Or):
        found = [implied_categories(o, category_path) for o in expr.operands]
        if not found or any(c is None for c in found):
            return None
        if any(insensitive for _cats, insensitive in found):
            # an exact value also satisfies the case-insensitive test: the union stays sound
            return frozenset(v.lower() for cats, _i in found for v in cats), True
        return frozenset(v for cats, _i in found for v in cats), False
    return None


def _is_field(node, path) -> bool:
    return isinstance(node, ast.Field) and node.path == path


_FALSE = ast.Literal(False)


def specialise(expr, category: str, category_path: tuple[str, ...], insensitive: bool = False):
    """``expr`` without the ``or`` branches (and ``and`` terms) that cannot be true for an
    event of ``category`` (any spelling of it when ``insensitive``), for keying only: wherever
    the original is true for such an event, the result is true too (what is dropped was false).
    """
    cats = implied_categories(expr, category_path)
    if cats is not None and not _admits(cats, category, insensitive):
        return _FALSE
    if isinstance(expr, ast.And):
        return ast.And(
            tuple(specialise(o, category, category_path, insensitive) for o in expr.operands)
        )
    if isinstance(expr, ast.Or):
        kept = [specialise(o, category, category_path, insensitive) for o in expr.operands]
        kept = [o for o in kept if o is not _FALSE]
        if not kept:
            return _FALSE
        return kept[0] if len(kept) == 1 else ast.Or(tuple(kept))
    return expr


def _admits(cats: Categories, category: str, insensitive: bool) -> bool:
    values, cats_insensitive = cats
    if insensitive or cats_insensitive:
        return category.lower() in {v.lower() for v in values}
    return category in values
