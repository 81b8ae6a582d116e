"""``python -m rules.ingest FILE...``: print the normalised ECS events as NDJSON.

stdout is data (one event per line); stderr gets one line per rejected line or record,
``FILE[!MEMBER]:NUMBER: error``. Exit status 1 when anything was rejected, 2 when a file
could not be opened.
"""

from __future__ import annotations

import argparse
import sys

import orjson

from .reader import read_path
from .records import DEFAULT_MAX_LINE_BYTES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rules.ingest", description=__doc__)
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--max-line-bytes", type=int, default=DEFAULT_MAX_LINE_BYTES)
    args = parser.parse_args(argv)
    out = sys.stdout.buffer
    status = 0
    for name in args.files:
        try:
            for record in read_path(name, max_line_bytes=args.max_line_bytes):
                if record.ok:
                    out.write(orjson.dumps(record.event) + b"\n")
                else:
                    where = f"{name}!{record.source}" if record.source else name
                    print(f"{where}:{record.number}: {record.error}", file=sys.stderr)
                    status = max(status, 1)
        except OSError as exc:
            print(f"{name}: {exc.strerror or exc}", file=sys.stderr)
            status = 2
    out.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
