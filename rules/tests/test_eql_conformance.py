"""Elasticsearch's EQL QA specs run against our engine, with the conventions of its harness.

Conventions (from Elasticsearch's Java test harness, see ../shared/conformance/eql/.../SOURCE.md):
request ``size`` 50; results compared as the flattened list of event ids (the tiebreaker/id
field), ``-1`` for a missing-event slot; ``expected_event_ids`` may list alternatives;
``join_keys`` is the flattened list of every result's keys rendered as strings (``"null"``);
``event.category`` / ``event.sequence`` are field aliases (copied here); endgame FILETIME
timestamps become ``@timestamp`` in epoch ms; ``max_samples_per_key`` is a request parameter.

Every query that fails is listed in ``eql_known_failures.toml`` and runs as xfail(strict=True),
so a fix shows up as an unexpected pass. The per-file pass counts print at the end of the run.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from rules import eql
from rules.tests.shared_data import SHARED_DIR, missing_reason, needs_shared

ROOT = SHARED_DIR / "conformance" / "eql"
QA = ROOT / "elasticsearch-qa"
ENDGAME_DATA = ROOT / "endgame-eql" / "test_data.json"
KNOWN_FAILURES = Path(__file__).with_name("eql_known_failures.toml")
SIZE = 50

# spec file -> (data files, id field, tiebreaker field)
SPECS = {
    "test_queries.toml": (("endgame",), "serial_event_id", "serial_event_id"),
    "additional_test_queries.toml": (("endgame",), "serial_event_id", "serial_event_id"),
    "test_queries_date.toml": (("endgame",), "serial_event_id", "serial_event_id"),
    "test_extra.toml": (("extra",), "sequence", "sequence"),
    "test_missing_events.toml": (("missing-events",), "sequence", "sequence"),
    "test_sample.toml": (("sample1", "sample2", "sample3"), "id", None),
    "test_sample_multi.toml": (("sample-multi",), "id", None),
}

pytestmark = needs_shared

# pass counts per spec file, filled as the tests run, printed by conftest's terminal summary
RESULTS: dict[str, list[int]] = {}


def _strip_comments(text: str) -> str:
    return re.sub(r"^\s*(#|//).*$", "", text, flags=re.M)


def _null_values(mapping: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for name, spec in (mapping.get("properties") or {}).items():
        if "null_value" in spec:
            out[prefix + name] = spec["null_value"]
        if "properties" in spec:
            out.update(_null_values(spec, prefix + name + "."))
    return out


def _load_dataset(name: str) -> list[dict]:
    if name == "endgame":
        events = json.loads(ENDGAME_DATA.read_text())
        for e in events:
            e["@timestamp"] = e["timestamp"] // 10000 - 11644473600000
            e["event"] = {"category": e["event_type"], "sequence": e["serial_event_id"]}
        return events
    events = json.loads(_strip_comments((QA / "data" / f"{name}.data").read_text()))
    mapping = json.loads(_strip_comments((QA / "data" / f"{name}.mapping").read_text()))
    # index-time effects of the mapping: null_value replaces explicit nulls
    for field, value in _null_values(mapping).items():
        for e in events:
            if field in e and e[field] is None:
                e[field] = value
    for e in events:
        alias = {"category": e.get("event_type")}
        if "sequence" in e:
            alias["sequence"] = e["sequence"]
        e["event"] = alias
    return events


def _load_spec(path: Path) -> list[dict]:
    text = path.read_text()
    # upstream's lenient TOML reader accepts bare null in arrays; tomllib does not
    text = re.sub(
        r"^join_keys\s*=\s*\[[^\]]*\]",
        lambda m: re.sub(r"(?<!\")\bnull\b(?!\")", '"__NULL__"', m.group(0)),
        text,
        flags=re.M,
    )
    return tomllib.loads(text).get("queries", [])


def _known_failures() -> dict[str, str]:
    if not KNOWN_FAILURES.exists():
        return {}
    data = tomllib.loads(KNOWN_FAILURES.read_text())
    return {key: entry["reason"] for key, entry in data.items()}


_DATASETS: dict[str, list[dict]] = {}


def _dataset(names) -> list[dict]:
    key = ",".join(names)
    if key not in _DATASETS:
        events = []
        for n in names:
            events.extend(_load_dataset(n))
        _DATASETS[key] = events
    return _DATASETS[key]


def _cases():
    if missing_reason():  # skipped as a whole (pytestmark); the specs are not there to read
        return
    known = _known_failures()
    for spec_file, (data, id_field, tiebreaker) in SPECS.items():
        for i, case in enumerate(_load_spec(QA / spec_file)):
            name = case.get("name") or f"query{i}"
            case_id = f"{spec_file}::{name}"
            marks = []
            if case_id in known:
                marks.append(pytest.mark.xfail(reason=known[case_id], strict=True))
            yield pytest.param(spec_file, data, id_field, tiebreaker, case, id=case_id, marks=marks)


def _render_key(v) -> str:
    if v is None or v == "__NULL__":
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def run_case(data, id_field, tiebreaker, case):
    """Run one spec entry; returns (ok, message)."""
    expected = case.get("expected_event_ids", [])
    try:
        q = eql.compile(
            case["query"],
            timestamp_field="@timestamp",
            tiebreaker_field=tiebreaker,
            category_field="event.category",
            size=case.get("size", SIZE),
            max_samples_per_key=case.get("max_samples_per_key", 1),
        )
        matches = q.search(_dataset(data))
    except eql.EqlError as exc:
        return False, f"error: {exc}"
    got = [(-1 if e is None else e.get(id_field)) for m in matches for e in m.events]
    alternatives = expected if expected and isinstance(expected[0], list) else [expected]
    if got not in alternatives:
        return False, f"ids: expected {expected}, got {got}"
    if "join_keys" in case:
        want = [_render_key(k) for k in case["join_keys"]]
        have = [_render_key(k) for m in matches for k in m.join_keys]
        if want != have:
            return False, f"join keys: expected {want}, got {have}"
    return True, ""


@pytest.mark.parametrize(("spec_file", "data", "id_field", "tiebreaker", "case"), list(_cases()))
def test_elasticsearch_spec(spec_file, data, id_field, tiebreaker, case):
    ok, message = run_case(data, id_field, tiebreaker, case)
    counts = RESULTS.setdefault(spec_file, [0, 0])
    counts[1] += 1
    counts[0] += ok
    assert ok, f"{case['query'].strip()}\n{message}"
