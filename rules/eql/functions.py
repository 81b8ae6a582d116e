"""Runtime helpers: value coercion, comparisons and the EQL functions (Elasticsearch semantics).

Values are ``None`` (null or missing), scalars, or lists (multi-valued fields). Every function
returns ``None`` when an argument it needs is null, as Elasticsearch does.
"""

from __future__ import annotations

import ipaddress
import math
import operator
import re

try:  # linear-time regexes, as Lucene's (see regex_matcher)
    import re2 as _re2
except ImportError:  # pragma: no cover - google-re2 is in requirements.txt
    _re2 = None

# ---- value helpers -------------------------------------------------------------------


def is_null(v) -> bool:
    """Null as Elasticsearch sees it: missing, null, an empty list or a list of nulls."""
    if v is None:
        return True
    if type(v) is list:
        return all(is_null(x) for x in v)
    return False


def flat(v):
    """The non-null scalar elements of ``v`` (a list is flattened, nested lists too)."""
    if type(v) is list:
        out = []
        for x in v:
            if type(x) is list:
                out.extend(flat(x))
            elif x is not None:
                out.append(x)
        return out
    return [] if v is None else [v]


def first(v):
    """One value for script-like contexts: Elasticsearch reads the first (sorted) doc value."""
    if type(v) is not list:
        return v
    vals = flat(v)
    if not vals:
        return None
    try:
        return min(vals)
    except TypeError:
        return vals[0]


def is_number(v) -> bool:
    t = type(v)
    return t is int or t is float


def to_number(v):
    """A number from a number or a numeric string, else None."""
    t = type(v)
    if t is int or t is float:
        return v
    if t is str:
        try:
            return int(v)
        except ValueError:
            try:
                f = float(v)
            except ValueError:
                return None
            return f if math.isfinite(f) else None
    return None


def to_string(v):
    """Elasticsearch's string rendering of a value (``true``, ``1``, ``1.5``)."""
    if v is None:
        return None
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if t is float:
        if v.is_integer() and abs(v) < 1e7:
            return f"{v:.1f}"
        return repr(v)
    if t is list:
        return to_string(first(v))
    return str(v)


def eq(a, b) -> bool:
    """Case-sensitive equality of two non-null scalars, coercing number/numeric-string pairs."""
    ta, tb = type(a), type(b)
    if ta is tb:
        return a == b
    if ta is bool or tb is bool:
        if ta is str:
            return a == ("true" if b else "false")
        if tb is str:
            return b == ("true" if a else "false")
        return False
    if ta is str and (tb is int or tb is float):
        n = to_number(a)
        return n is not None and n == b
    if tb is str and (ta is int or ta is float):
        n = to_number(b)
        return n is not None and n == a
    if (ta is int or ta is float) and (tb is int or tb is float):
        return a == b
    return False


def order(a, b):
    """-1/0/1 comparing two non-null scalars, or None when they do not compare."""
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        if ta is tb:
            return (a > b) - (a < b)
        return None
    if ta is str and tb is str:
        return (a > b) - (a < b)
    if ta is str:
        a = to_number(a)
        if a is None:
            return None
    elif ta is not int and ta is not float:
        return None
    if tb is str:
        b = to_number(b)
        if b is None:
            return None
    elif tb is not int and tb is not float:
        return None
    return (a > b) - (a < b)


# ---- wildcards -------------------------------------------------------------------------


def wildcard_matcher(patterns, insensitive: bool):
    """A predicate ``str -> bool`` true when the string matches any ``*``/``?`` pattern.

    Plain patterns become a set lookup, ``abc*`` / ``*abc`` / ``*abc*`` become
    startswith/endswith/contains checks, the rest one compiled regex. Backslashes are literal,
    as in Elasticsearch EQL (there is no wildcard escape).
    """
    exact, prefixes, suffixes, contains, regexes = set(), [], [], [], []
    for p in patterns:
        if insensitive:
            p = p.lower()
        if "?" not in p:
            stars = p.count("*")
            if stars == 0:
                exact.add(p)
                continue
            core = p.strip("*")
            if "*" not in core:
                lead, trail = p.startswith("*"), p.endswith("*")
                if stars == 1 and trail and not lead:
                    prefixes.append(core)
                    continue
                if stars == 1 and lead and not trail:
                    suffixes.append(core)
                    continue
                if lead and trail:
                    contains.append(core)
                    continue
        regexes.append(_glob(p))
    pre = tuple(prefixes)
    suf = tuple(suffixes)
    con = tuple(contains)
    rx = _any_glob(regexes) if regexes else None
    has_any = "" in con

    kinds = [k for k, v in (("e", exact), ("p", pre), ("s", suf), ("c", con), ("r", rx)) if v]
    exact = frozenset(exact)
    if has_any:
        return _true
    if kinds == ["e"]:
        if insensitive:
            return lambda s: s.lower() in exact
        return exact.__contains__
    if kinds == ["p"]:
        if insensitive:
            return lambda s: s.lower().startswith(pre)
        return lambda s: s.startswith(pre)
    if kinds == ["s"]:
        if insensitive:
            return lambda s: s.lower().endswith(suf)
        return lambda s: s.endswith(suf)
    if kinds == ["c"] and len(con) == 1:
        (c0,) = con
        if insensitive:
            return lambda s: c0 in s.lower()
        return lambda s: c0 in s

    def match(s: str) -> bool:
        if insensitive:
            s = s.lower()
        if s in exact:
            return True
        if pre and s.startswith(pre):
            return True
        if suf and s.endswith(suf):
            return True
        for c in con:
            if c in s:
                return True
        return rx is not None and rx(s)

    return match


def _true(_s):
    return True


def _segment_finder(seg: str):
    """``find(s, start, end)``: leftmost index of ``seg`` (``?`` = any one character) in
    ``s[start:end]``, or -1. Linear for plain segments (``str.find``)."""
    if "?" not in seg:
        return lambda s, start, end: s.find(seg, start, end)
    rx = re.compile("".join("." if c == "?" else re.escape(c) for c in seg), re.S)

    def find(s, start, end):
        m = rx.search(s, start, end)
        return -1 if m is None else m.start()

    return find


def _glob(p: str):
    """A matcher for one ``*``/``?`` pattern, without backtracking: the first and last pieces
    are anchored, the middle ones matched leftmost (which is exact for globs), so a long
    attacker-controlled value cannot make matching slow."""
    pieces = p.split("*")
    if len(pieces) == 1:
        rx = re.compile("".join("." if c == "?" else re.escape(c) for c in p) + r"\Z", re.S)
        return lambda s: rx.match(s) is not None
    head, *mids, tail = pieces
    head_m = re.compile("".join("." if c == "?" else re.escape(c) for c in head), re.S).match
    tail_rx = re.compile("".join("." if c == "?" else re.escape(c) for c in tail) + r"\Z", re.S)
    finders = [(_segment_finder(m), len(m)) for m in mids if m]
    minimum = len(head) + len(tail) + sum(n for _f, n in finders)
    nh, nt = len(head), len(tail)

    def match(s: str) -> bool:
        n = len(s)
        if n < minimum or head_m(s) is None or tail_rx.match(s, n - nt) is None:
            return False
        pos, end = nh, n - nt
        for find, size in finders:
            i = find(s, pos, end)
            if i < 0:
                return False
            pos = i + size
        return pos <= end

    return match


def _any_glob(matchers):
    if len(matchers) == 1:
        return matchers[0]
    matchers = tuple(matchers)

    def match(s: str) -> bool:
        for m in matchers:  # noqa: SIM110 - faster than any() over a generator
            if m(s):
                return True
        return False

    return match


def regex_matcher(patterns, insensitive: bool):
    """A predicate for regexes (whole-string match); any pattern may match.

    Lucene, which runs Elasticsearch's ``regex``, matches with automata in linear time; RE2
    (``google-re2``) does too, so a long attacker-controlled value cannot stall a worker on a
    pattern such as ``([^ ]+[ ]{3,}[^ ]*){3,}.*``. Python's ``re`` is the fallback when RE2 is
    not installed or rejects a pattern (a feature Lucene lacks as well, e.g. a backreference).
    Returns None when no engine accepts the pattern.
    """
    body = (
        "(?s" + ("i" if insensitive else "") + ")(?:" + "|".join(f"(?:{p})" for p in patterns) + ")"
    )
    if _re2 is not None:
        try:
            fm = _re2.compile(body).fullmatch
        except Exception:  # noqa: S110 - RE2 refuses some Python syntax: use re below
            pass
        else:
            return lambda s: fm(s) is not None
    try:
        fm = re.compile(body).fullmatch
    except re.error:
        return None
    return lambda s: fm(s) is not None


# ---- functions -------------------------------------------------------------------------


def _str_args(*vals):
    out = []
    for v in vals:
        v = first(v)
        if v is None:
            return None
        out.append(v if type(v) is str else to_string(v))
    return out


def f_between(source, left, right, greedy=False, insensitive=False):
    args = _str_args(source, left, right)
    if args is None:
        return None
    s, lft, rgt = args
    g = first(greedy)
    if g is None:
        return None
    hay = s.lower() if insensitive else s
    if insensitive:
        lft, rgt = lft.lower(), rgt.lower()
    i = hay.find(lft)
    if i < 0:
        return None
    start = i + len(lft)
    j = hay.rfind(rgt, start) if g is True else hay.find(rgt, start)
    if j < 0:
        return None
    return s[start:j]


def f_cidr_match(ip, *cidrs):
    vals = flat(ip)
    if not vals:
        return None
    nets = []
    for c in cidrs:
        for x in flat(c):
            try:
                nets.append(ipaddress.ip_network(str(x), strict=False))
            except ValueError:
                continue
    for v in vals:
        try:
            addr = ipaddress.ip_address(str(v))
        except ValueError:
            continue
        for n in nets:
            if addr.version == n.version and addr in n:
                return True
    return False


def cidr_matcher(cidrs):
    """``cidrMatch(ip, *cidrs)`` for constant ``cidrs``, parsed once: ``match(ip)``."""
    nets: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    for c in cidrs:
        for x in flat(c):
            try:
                n = ipaddress.ip_network(str(x), strict=False)
            except ValueError:
                continue
            nets[n.version].append((int(n.network_address), int(n.netmask)))

    def match(ip):
        vals = flat(ip)
        if not vals:
            return None
        for v in vals:
            try:
                addr = ipaddress.ip_address(str(v))
            except ValueError:
                continue
            a = int(addr)
            for net, mask in nets[addr.version]:
                if a & mask == net:
                    return True
        return False

    return match


def f_concat(*vals):
    out = []
    for v in vals:
        v = first(v)
        if v is None:
            return None
        out.append(to_string(v))
    return "".join(out)


def _nums(a, b):
    a, b = first(a), first(b)
    if a is None or b is None:
        return None
    if type(a) is bool or type(b) is bool:
        return None
    if not is_number(a):
        a = to_number(a)
    if not is_number(b):
        b = to_number(b)
    if a is None or b is None:
        return None
    return a, b


def f_add(a, b):
    p = _nums(a, b)
    return None if p is None else p[0] + p[1]


def f_subtract(a, b):
    p = _nums(a, b)
    return None if p is None else p[0] - p[1]


def f_multiply(a, b):
    p = _nums(a, b)
    return None if p is None else p[0] * p[1]


def _arithmetic(a, b, on_ints, on_floats):
    """``on_ints`` or ``on_floats`` of two numbers; null for a null operand or a zero divisor."""
    p = _nums(a, b)
    if p is None:
        return None
    a, b = p
    if b == 0:
        return None
    if type(a) is int and type(b) is int:
        return on_ints(a, b)
    return on_floats(a, b)


# Integer division and remainder truncate toward zero, as Elasticsearch's (Java's) do.
def _int_quotient(a, b):
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _int_remainder(a, b):
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


def f_divide(a, b):
    return _arithmetic(a, b, _int_quotient, operator.truediv)


def f_modulo(a, b):
    return _arithmetic(a, b, _int_remainder, math.fmod)


def f_ends_with(s, sub, insensitive=False):
    return _any_str(s, sub, insensitive, str.endswith)


def f_starts_with(s, sub, insensitive=False):
    return _any_str(s, sub, insensitive, str.startswith)


def _contains(a, b):
    return b in a


def f_string_contains(s, sub, insensitive=False):
    return _any_str(s, sub, insensitive, _contains)


def _any_str(s, sub, insensitive, op):
    sub = first(sub)
    vals = flat(s)
    if not vals or sub is None:
        return None
    sub = sub if type(sub) is str else to_string(sub)
    if insensitive:
        sub = sub.lower()
    for v in vals:
        v = v if type(v) is str else to_string(v)
        if insensitive:
            v = v.lower()
        if op(v, sub):
            return True
    return False


def f_index_of(s, sub, start=0, insensitive=False):
    args = _str_args(s, sub)
    if args is None:
        return None
    s, sub = args
    start = first(start)
    if start is None:
        start = 0
    start = to_number(start)
    if start is None:
        return None
    start = max(int(start), 0)
    if insensitive:
        s, sub = s.lower(), sub.lower()
    if start > len(s):
        return None
    i = s.find(sub, start)
    return None if i < 0 else i


def f_length(s):
    s = first(s)
    if s is None:
        return None
    return len(s if type(s) is str else to_string(s))


def f_number(s, base=10):
    s, base = first(s), first(base)
    if base is None:
        base = 10
    if s is None:
        return None
    if is_number(s) and type(s) is not bool:
        return s
    if type(s) is not str or type(base) is not int:
        return None
    text = s.strip()
    if base == 10 and text.lower().startswith(("0x", "-0x", "+0x")):
        base = 16  # Elasticsearch reads a 0x prefix as hexadecimal
    try:
        if base == 10:
            try:
                return int(text)
            except ValueError:
                f = float(text)
                return f if math.isfinite(f) else None
        if base == 16 and text.lower().startswith(("0x", "-0x", "+0x")):
            text = text.replace("0x", "", 1).replace("0X", "", 1)
        return int(text, base)
    except ValueError:
        return None


def f_string(v):
    return to_string(first(v))


def f_substring(s, start, end=None):
    s = first(s)
    start = first(start)
    if s is None:
        return None
    if start is None:
        start = 0
    s = s if type(s) is str else to_string(s)
    if type(start) is not int:
        start = to_number(start)
        if start is None:
            return None
        start = int(start)
    if end is None:
        return s[start:]
    end = first(end)
    if end is None:
        return s[start:]
    if type(end) is not int:
        end = to_number(end)
        if end is None:
            return None
        end = int(end)
    return s[start:end]


FUNCTION_IMPLS = {
    "add": f_add,
    "between": f_between,
    "cidrMatch": f_cidr_match,
    "concat": f_concat,
    "divide": f_divide,
    "endsWith": f_ends_with,
    "indexOf": f_index_of,
    "length": f_length,
    "modulo": f_modulo,
    "multiply": f_multiply,
    "number": f_number,
    "startsWith": f_starts_with,
    "string": f_string,
    "stringContains": f_string_contains,
    "substring": f_substring,
    "subtract": f_subtract,
}
INSENSITIVE_CAPABLE = {"between", "endsWith", "indexOf", "startsWith", "stringContains"}
