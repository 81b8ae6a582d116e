"""Event ingest: parse event files and HTTP bodies, normalise them to ECS (no Django).

Entry points (see docs/normalisation.md for formats, the mapping table and error policy):

* :func:`read_path` / :func:`read_bytes` / :func:`read_stream`: stream :class:`ParsedRecord`
  items from a file of any supported format, recognised by content (:func:`sniff_path`);
  :func:`size_hint` is the total for a progress bar fed by ``on_progress``.
* :func:`parse_ndjson`: per-line results for an HTTP NDJSON body.
* :func:`parse_bulk` / :func:`bulk_response`: Elasticsearch ``_bulk`` bodies and answers.
* :func:`normalise_record`: one decoded JSON object to a checked ECS event with an id.
* :func:`event_id_of`, :func:`index_columns`: ids and indexed columns for storage.
* :func:`split_command_line`: CommandLineToArgvW.
"""

from .bulk import BulkItem, bulk_response, parse_bulk
from .cmdline import split_command_line
from .ecs import ECS_VERSION, EcsFieldError, check_ecs, content_hash, event_id_of, index_columns
from .fields import flatten, get_field, set_field
from .ndjson import parse_ndjson
from .normalise import WinEvent, normalise_windows
from .reader import read_bytes, read_path, read_stream, size_hint, sniff_path
from .records import DEFAULT_MAX_LINE_BYTES, ParsedRecord, classify_record, normalise_record

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "ECS_VERSION",
    "BulkItem",
    "EcsFieldError",
    "ParsedRecord",
    "WinEvent",
    "bulk_response",
    "check_ecs",
    "classify_record",
    "content_hash",
    "event_id_of",
    "flatten",
    "get_field",
    "index_columns",
    "normalise_record",
    "normalise_windows",
    "parse_bulk",
    "parse_ndjson",
    "read_bytes",
    "read_path",
    "read_stream",
    "set_field",
    "size_hint",
    "sniff_path",
    "split_command_line",
]
