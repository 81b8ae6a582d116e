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

import re

from . import ast
from .compiler import DATE_LIKE

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
#          long as one of ``PREFIX_LENGTHS``;
#   "sub"  its lowercased text contains one of the keys (``"*eval(*"``, a regex's literal);
#   "num"  it equals one of the keys, numbers, as the engine compares (numeric strings too);
#   "bool" it equals one of the keys, booleans (or the strings "true" / "false");
#   "any"  it is not null (the keys are ``{True}``): what a regex or a function needs at least.
Atom = tuple[tuple[str, ...], str, frozenset]

# Lengths of the literal heads that key wildcard patterns ("pre" mode): a head is cut to the
# longest of these it reaches, so that an event's value is looked up once per length in use.
PREFIX_LENGTHS = (3, 5, 8, 12)

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
            total += sum(100 if v in _COMMON_SEGMENTS else 2 for v in values)
        elif mode == "pre":
            total += sum(100 if _common_prefix(v) else 3 for v in values)
        elif mode == "sub":
            total += sum(100 if _weak_substring(v) else 4 for v in values)
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

# Heads most paths, registry keys, SIDs and URLs share: as a prefix key they filter little.
_COMMON_HEADS = (
    "c:\\windows\\system32\\", "c:\\windows\\syswow64\\", "c:\\program files (x86)\\",
    "c:\\programdata\\", "c:\\users\\", "\\device\\harddiskvolume", "\\\\?\\", "\\??\\",
    "hklm\\software\\", "hkey_local_machine\\software\\", "hkey_users\\", "hkcu\\software\\",
    "\\registry\\machine\\", "\\registry\\user\\", "s-1-5-", "http://", "https://",
)  # fmt: skip


def _common_prefix(key: str) -> bool:
    return any(h.startswith(key) or key.startswith(h) for h in _COMMON_HEADS)


def _segments(pattern: str) -> list[str]:
    """The whole segments a (lowercased) wildcard pattern requires."""
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
    return found


def _segment(pattern: str) -> str | None:
    """The most telling whole segment a (lowercased) wildcard pattern requires, if any."""
    found = _segments(pattern)
    if not found:
        return None
    return max(found, key=lambda seg: (seg not in _COMMON_SEGMENTS, len(seg)))


_MIN_SUBSTRING = 3  # shorter literal runs are not used as "sub" keys

# Substrings most command lines and paths contain: as a key they filter little.
_WEAK_SUBSTRINGS = frozenset(
    {".exe", ".dll", "\\windows\\", "\\system32\\", "program files", "\\users\\", "appdata",
     "c:\\", "\\\\", "http", "://", ".com", "microsoft"}
)  # fmt: skip


def _weak_substring(key: str) -> bool:
    return (len(key) < 4 and key.isascii()) or key in _WEAK_SUBSTRINGS


def _key_char_ok(c: str, case_folding: bool) -> bool:
    """Whether a literal character can be part of a key matched against a lowercased value.

    ASCII characters and characters without case lower the same way wherever they stand, so
    a literal found verbatim in a value is found lowercased in the lowercased value. Under a
    regex's case folding (RE2's ``(?i)``), ``s`` also matches the long s (U+017F), which
    lowercases to itself: it cannot be part of a key.
    """
    if c.isascii():
        return not (case_folding and c in "sS")
    return c.lower() == c and c.upper() == c


def _key_pieces(run: str, case_folding: bool = False, lowered: bool = False) -> list[str]:
    """The lowercased pieces of a literal run made of characters usable in keys. A run that
    comes from an already lowercased pattern (``:`` and ``like~``, matched on lowercased
    values) needs no filtering."""
    if lowered:
        return [run]
    pieces, cur = [], []
    for c in run:
        if _key_char_ok(c, case_folding):
            cur.append(c)
        elif cur:
            pieces.append("".join(cur))
            cur = []
    if cur:
        pieces.append("".join(cur))
    return [p.lower() for p in pieces]


def _lead(run: str, case_folding: bool = False, lowered: bool = False) -> str:
    """The lowercased start of ``run`` made of characters usable in keys (see
    :func:`_key_pieces`)."""
    if lowered:
        return run
    n = 0
    while n < len(run) and _key_char_ok(run[n], case_folding):
        n += 1
    return run[:n].lower()


def _best_substring(runs: list[str]) -> str | None:
    # a short run is no key, unless it holds a rare (non-ASCII) character such as U+202E
    runs = [r for r in runs if len(r) >= _MIN_SUBSTRING or (r and not r.isascii())]
    if not runs:
        return None
    return max(runs, key=lambda r: (not _weak_substring(r), len(r)))


def _prefix_key(head: str) -> str | None:
    usable = [n for n in PREFIX_LENGTHS if n <= len(head)]
    return head[: usable[-1]] if usable else None


def _choose(seg: str | None, prefix: str | None, sub: str | None) -> tuple[str, str] | None:
    """The best of the candidate keys of one pattern: a telling segment, prefix or substring
    first, then the common ones."""
    if seg is not None and seg not in _COMMON_SEGMENTS:
        return "seg", seg
    if prefix is not None and not _common_prefix(prefix):
        return "pre", prefix
    if sub is not None and not _weak_substring(sub):
        return "sub", sub
    for mode, key in (("seg", seg), ("pre", prefix), ("sub", sub)):
        if key is not None:
            return mode, key
    return None


def _pattern_atom(pattern: str, insensitive: bool) -> tuple[str, str] | None:
    """(mode, key) keying one wildcard pattern, or None when nothing can. ``insensitive``
    patterns (``:``, ``like~``) are matched by the engine on lowercased text, so keys taken
    from the lowercased pattern are exact; for ``like``, only characters that lowercase the
    same anywhere may form a prefix or a substring key."""
    lp = pattern.lower()
    if "*" not in lp and "?" not in lp:
        return "eq", lp
    runs = re.split(r"[*?]", lp if insensitive else pattern)
    prefix = _prefix_key(_lead(runs[0], lowered=insensitive))
    subs = [p for r in runs for p in _key_pieces(r, lowered=insensitive)]
    return _choose(_segment(lp), prefix, _best_substring(subs))


def _regex_runs(pattern: str) -> tuple[str, list[str]] | None:
    """(literal head, literal runs) that every string matching ``pattern`` (as a whole, the
    engine's ``fullmatch``) contains, from a deliberately small reading of regex syntax;
    None when the pattern uses anything else (alternation at the top, inline flags, groups
    other than plain ones, POSIX classes...), so that no dialect difference between this
    reading and RE2 can make a key unsound. Groups, classes, escapes of letters and ``.`` end
    a run; a quantifier takes back the character it applies to."""
    if "[:" in pattern or "(?" in pattern.replace("(?:", ""):
        return None
    runs: list[str] = []
    cur: list[str] = []
    head: str | None = None
    i, n = 0, len(pattern)

    def end_run():
        nonlocal cur, head
        if head is None:
            head = "".join(cur)
        if cur:
            runs.append("".join(cur))
        cur = []

    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            nxt = pattern[i + 1]
            if nxt.isascii() and not nxt.isalnum():
                cur.append(nxt)
            elif nxt in _CLASS_ESCAPES:
                end_run()
            else:  # \x41, \u0041, \p{L}, octal...: escapes of several characters
                return None
            i += 2
            continue
        if c in "*?{":
            if cur:
                cur.pop()
            end_run()
            if c == "{":
                close = pattern.find("}", i)
                if close < 0:
                    return None
                i = close
            i += 1
            continue
        if c == "+":
            end_run()
            i += 1
            continue
        if c == "|":
            return None
        if c == "[":
            end_run()
            i = _class_end(pattern, i)
            continue
        if c in "().^$":
            end_run()
            if c == "(":  # a group: skip it whole (it may hold an alternation)
                depth, j = 1, i + 1
                while j < n and depth:
                    if pattern[j] == "\\":
                        j += 2
                    elif pattern[j] == "[":
                        j = _class_end(pattern, j)
                    else:
                        depth += {"(": 1, ")": -1}.get(pattern[j], 0)
                        j += 1
                i = j
                continue
            i += 1
            continue
        cur.append(c)
        i += 1
    end_run()
    return head or "", runs


_CLASS_ESCAPES = frozenset("dDwWsSbBAzZ")


def _class_end(pattern: str, i: int) -> int:
    """The index just past the character class that starts at ``pattern[i]`` ("[")."""
    n = len(pattern)
    j = i + 1
    if j < n and pattern[j] == "^":
        j += 1
    if j < n and pattern[j] == "]":
        j += 1
    while j < n and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _regex_atom(pattern: str, insensitive: bool) -> tuple[str, str] | None:
    found = _regex_runs(pattern)
    if found is None:
        return None
    head, runs = found
    prefix = _prefix_key(_lead(head, case_folding=insensitive))
    subs = [p for r in runs for p in _key_pieces(r, case_folding=insensitive)]
    return _choose(None, prefix, _best_substring(subs))


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
        pieces = _key_pieces(lit, lowered=False) if not expr.case_insensitive else [lit.lower()]
        lead = _lead(lit, lowered=expr.case_insensitive)
        if expr.case_insensitive:
            lead = lead.lower()
        if mode == "pre" and _prefix_key(lead) is not None:
            return ((field.path, "pre", frozenset((_prefix_key(lead),))),)
        sub = _best_substring(pieces)
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
                atom = _pattern_atom(p, expr.case_insensitive)
            else:
                atom = _regex_atom(p, expr.case_insensitive)
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
