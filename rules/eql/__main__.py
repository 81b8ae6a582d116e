"""Command line: ``python -m rules.eql QUERY FILE... [options]``.

Reads events from NDJSON files (one JSON object a line; a file holding one JSON array of
objects works too), runs the query with Elasticsearch's semantics and prints one JSON line per
match on stdout: ``{"join_keys": [...], "events": [...]}``. With ``--id-field`` the events are
printed as the value of that field (``null`` for a missing-event slot). ``--size`` is
Elasticsearch's ``size`` (default 10, as the EQL search API).

Errors (a bad query with its caret excerpt, an unreadable file, a bad JSON line with its line
number) go to stderr and the exit code is 2; stdout only ever holds results.
"""

from __future__ import annotations

import argparse
import sys

import orjson

from . import EqlError
from . import compile as compile_query
from .compiler import field_getter
from .engine import DEFAULT_SIZE


class _InputError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _size(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid size: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("size must be zero or more")
    return n


def _loads(data: bytes, where: str):
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _InputError(f"{where}: invalid JSON: {exc}") from None


def _read_events(path: str):
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as fh:
                data = fh.read()
    except OSError as exc:
        raise _InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    stripped = data.lstrip()
    if stripped.startswith(b"["):
        doc = _loads(data, path)
        if not isinstance(doc, list):
            raise _InputError(f"{path}: expected a JSON array of objects")
        for i, e in enumerate(doc, 1):
            if not isinstance(e, dict):
                raise _InputError(f"{path}: element {i} is not a JSON object")
        return doc
    events = []
    for lineno, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        e = _loads(line, f"{path}:{lineno}")
        if not isinstance(e, dict):
            raise _InputError(f"{path}:{lineno}: expected a JSON object")
        events.append(e)
    return events


def main(argv=None) -> int:
    ap = _Parser(
        prog="python -m rules.eql",
        description="Run an EQL query (Elasticsearch semantics) over NDJSON event files.",
    )
    ap.add_argument("query", help="the EQL query")
    ap.add_argument(
        "files", nargs="+", metavar="FILE", help="NDJSON (or JSON array) files; - for stdin"
    )
    ap.add_argument("--timestamp-field", default="@timestamp")
    ap.add_argument("--tiebreaker-field", default=None)
    ap.add_argument("--category-field", default="event.category")
    ap.add_argument("--id-field", default=None, help="print this field instead of whole events")
    ap.add_argument(
        "--size",
        type=_size,
        default=DEFAULT_SIZE,
        help=f"maximum number of results, as Elasticsearch's size (default {DEFAULT_SIZE})",
    )
    args = ap.parse_args(argv)
    try:
        q = compile_query(
            args.query,
            timestamp_field=args.timestamp_field,
            tiebreaker_field=args.tiebreaker_field,
            category_field=args.category_field,
            size=args.size,
        )
    except EqlError as exc:
        sys.stderr.write(f"invalid query: {exc}\n")
        return 2
    events = []
    try:
        for path in args.files:
            events.extend(_read_events(path))
    except _InputError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    # one more than asked, to tell the user when the size limit cut the results
    matches = q.search(events, size=args.size + 1)
    if len(matches) > args.size:
        pipes = q.statement.pipes
        tail_last = bool(pipes) and pipes[-1].name == "tail"
        matches = matches[1:] if tail_last else matches[: args.size]
        sys.stderr.write(
            f"note: showing {args.size} results, the size limit; use --size N for more\n"
        )
    get_id = field_getter(tuple(args.id_field.split("."))) if args.id_field else None
    out = sys.stdout.buffer
    for m in matches:
        evs = m.events if get_id is None else [None if e is None else get_id(e) for e in m.events]
        line = orjson.dumps(
            {"join_keys": m.join_keys, "events": evs},
            option=orjson.OPT_NON_STR_KEYS,
            default=str,
        )
        out.write(line + b"\n")
    out.flush()
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except BrokenPipeError:
        code = 0
    except KeyboardInterrupt:
        code = 130
    raise SystemExit(code)
