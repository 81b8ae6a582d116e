"""Split a Windows command line into arguments the way ``CommandLineToArgvW`` does.

Rules (Microsoft's documentation of CommandLineToArgvW and of the C runtime's argument
parsing, plus its long-documented quirks):

* Arguments are separated by runs of whitespace: space (U+0020) and tab (U+0009).
* The first argument (the program name) is special: if the line starts with ``"``, it runs
  to the next ``"`` (or the end) with no escaping at all, and ends there even when no
  whitespace follows; otherwise it runs to the first whitespace, quotes included literally.
  A line that starts with whitespace therefore has an empty program name.
* In later arguments, ``2n`` backslashes followed by ``"`` give ``n`` backslashes and the
  quote opens or closes a quoted section; ``2n+1`` backslashes followed by ``"`` give ``n``
  backslashes and a literal ``"``. Backslashes not followed by ``"`` are literal.
* Inside a quoted section, ``""`` gives a literal ``"`` and ends the quoted section (the
  behaviour of CommandLineToArgvW and of the C runtime before 2008).
* ``""`` on its own yields an empty argument; trailing whitespace yields none.

One deliberate difference: for an empty command line the real function returns the path of
the calling program; here it returns ``[]``.
"""

from __future__ import annotations

__all__ = ["split_command_line"]

_WS = " \t"


def split_command_line(command_line: str) -> list[str]:
    """Return the argv that CommandLineToArgvW would give for ``command_line``."""
    if not command_line:
        return []
    s = command_line
    n = len(s)
    i = 0
    # argv[0]: no escapes, quotes only delimit.
    if s[0] == '"':
        end = s.find('"', 1)
        if end < 0:
            args = [s[1:]]
            i = n
        else:
            args = [s[1:end]]
            i = end + 1
    else:
        j = 0
        while j < n and s[j] not in _WS:
            j += 1
        args = [s[:j]]
        i = j
    while i < n and s[i] in _WS:
        i += 1
    if i >= n:
        return args

    current: list[str] = []
    quote_state = 0  # 0 outside quotes, 1 inside; 2 = just closed (a further '"' is literal)
    backslashes = 0
    while i < n:
        c = s[i]
        if c in _WS and quote_state == 0:
            if backslashes:
                current.append("\\" * backslashes)
                backslashes = 0
            args.append("".join(current))
            current = []
            while i < n and s[i] in _WS:
                i += 1
            if i >= n:
                return args
            continue
        if c == "\\":
            backslashes += 1
            i += 1
            continue
        if c == '"':
            current.append("\\" * (backslashes // 2))
            if backslashes % 2:
                current.append('"')
                backslashes = 0
                i += 1
                continue
            backslashes = 0
            quote_state += 1
            i += 1
            # A run of quotes: every third one (counting the open quote) is literal.
            while i < n and s[i] == '"':
                quote_state += 1
                if quote_state == 3:
                    current.append('"')
                    quote_state = 0
                i += 1
            if quote_state == 2:
                quote_state = 0
            continue
        if backslashes:
            current.append("\\" * backslashes)
            backslashes = 0
        current.append(c)
        i += 1
    if backslashes:
        current.append("\\" * backslashes)
    args.append("".join(current))
    return args
