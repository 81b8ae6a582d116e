"""Keys for the prefilter from a wildcard or regex pattern: the literal a value must hold.

:func:`pattern_atom` and :func:`regex_atom` answer with one ``(mode, key)`` (modes as in
:mod:`rules.eql.prefilter`: ``eq``, ``seg``, ``pre``, ``sub``) or None when the pattern gives
no key that would filter; a key is chosen so that every value the pattern matches has it.
"""

from __future__ import annotations

import re

__all__ = [
    "COMMON_SEGMENTS",
    "PREFIX_LENGTHS",
    "best_substring",
    "common_prefix",
    "key_pieces",
    "literal_head",
    "pattern_atom",
    "prefix_key",
    "regex_atom",
    "weak_substring",
]

# Lengths of the literal heads that key wildcard patterns ("pre" mode): a head is cut to the
# longest of these it reaches, so that an event's value is looked up once per length in use.
PREFIX_LENGTHS = (3, 5, 8, 12)

# Segments most Windows paths share: a pattern keyed on them filters little.
COMMON_SEGMENTS = frozenset(
    {
        "", "c:", "?:", "windows", "system32", "syswow64", "users", "program files",
        "program files (x86)", "programdata", "appdata", "local", "roaming", "temp",
        "microsoft", "software", "hklm", "hkey_local_machine", "hkey_users", "hkcu",
        "currentversion", "device", "registry", "machine", "user", "system", "windows nt",
        "wow6432node", "policies", "classes", "controlset001", "services", "control",
    }
)  # fmt: skip


# Heads most paths, registry keys, SIDs and URLs share: as a prefix key they filter little.
_COMMON_HEADS = (
    "c:\\windows\\system32\\", "c:\\windows\\syswow64\\", "c:\\program files (x86)\\",
    "c:\\programdata\\", "c:\\users\\", "\\device\\harddiskvolume", "\\\\?\\", "\\??\\",
    "hklm\\software\\", "hkey_local_machine\\software\\", "hkey_users\\", "hkcu\\software\\",
    "\\registry\\machine\\", "\\registry\\user\\", "s-1-5-", "http://", "https://",
)  # fmt: skip


def common_prefix(key: str) -> bool:
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
    return max(found, key=lambda seg: (seg not in COMMON_SEGMENTS, len(seg)))


_MIN_SUBSTRING = 3  # shorter literal runs are not used as "sub" keys

# Substrings most command lines and paths contain: as a key they filter little.
_WEAK_SUBSTRINGS = frozenset(
    {".exe", ".dll", "\\windows\\", "\\system32\\", "program files", "\\users\\", "appdata",
     "c:\\", "\\\\", "http", "://", ".com", "microsoft"}
)  # fmt: skip


def weak_substring(key: str) -> bool:
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


def key_pieces(run: str, case_folding: bool = False, lowered: bool = False) -> list[str]:
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


def literal_head(run: str, case_folding: bool = False, lowered: bool = False) -> str:
    """The lowercased start of ``run`` made of characters usable in keys (see
    :func:`_key_pieces`)."""
    if lowered:
        return run
    n = 0
    while n < len(run) and _key_char_ok(run[n], case_folding):
        n += 1
    return run[:n].lower()


def best_substring(runs: list[str]) -> str | None:
    # a short run is no key, unless it holds a rare (non-ASCII) character such as U+202E
    runs = [r for r in runs if len(r) >= _MIN_SUBSTRING or (r and not r.isascii())]
    if not runs:
        return None
    return max(runs, key=lambda r: (not weak_substring(r), len(r)))


def prefix_key(head: str) -> str | None:
    usable = [n for n in PREFIX_LENGTHS if n <= len(head)]
    return head[: usable[-1]] if usable else None


def _choose(seg: str | None, prefix: str | None, sub: str | None) -> tuple[str, str] | None:
    """The best of the candidate keys of one pattern: a telling segment, prefix or substring
    first, then the common ones."""
    if seg is not None and seg not in COMMON_SEGMENTS:
        return "seg", seg
    if prefix is not None and not common_prefix(prefix):
        return "pre", prefix
    if sub is not None and not weak_substring(sub):
        return "sub", sub
    for mode, key in (("seg", seg), ("pre", prefix), ("sub", sub)):
        if key is not None:
            return mode, key
    return None


def pattern_atom(pattern: str, insensitive: bool) -> tuple[str, str] | None:
    """(mode, key) keying one wildcard pattern, or None when nothing can. ``insensitive``
    patterns (``:``, ``like~``) are matched by the engine on lowercased text, so keys taken
    from the lowercased pattern are exact; for ``like``, only characters that lowercase the
    same anywhere may form a prefix or a substring key."""
    lp = pattern.lower()
    if "*" not in lp and "?" not in lp:
        return "eq", lp
    runs = re.split(r"[*?]", lp if insensitive else pattern)
    prefix = prefix_key(literal_head(runs[0], lowered=insensitive))
    subs = [p for r in runs for p in key_pieces(r, lowered=insensitive)]
    return _choose(_segment(lp), prefix, best_substring(subs))


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


def regex_atom(pattern: str, insensitive: bool) -> tuple[str, str] | None:
    found = _regex_runs(pattern)
    if found is None:
        return None
    head, runs = found
    prefix = prefix_key(literal_head(head, case_folding=insensitive))
    subs = [p for r in runs for p in key_pieces(r, case_folding=insensitive)]
    return _choose(None, prefix, best_substring(subs))
