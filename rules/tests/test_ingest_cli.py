"""python -m rules.ingest: events on stdout, rejected lines on stderr."""

import json
from pathlib import Path

from rules.ingest.__main__ import main

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def test_prints_events_and_reports_errors(tmp_path, capsysbinary):
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(b'{"@timestamp": "2024-01-01T00:00:00Z"}\n[1]\n')
    status = main([str(FIXTURES / "sample.evtx"), str(bad), str(tmp_path / "missing")])
    out, err = capsysbinary.readouterr()
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"].get("code") for e in events] == ["1", "4688", "4104", None]
    assert err.decode().splitlines() == [
        f"{bad}:2: expected a JSON object, got array",
        f"{tmp_path / 'missing'}: No such file or directory",
    ]
    assert status == 2


def test_clean_input_exits_zero(capsysbinary):
    assert main([str(FIXTURES / "nxlog.json")]) == 0
    assert len(capsysbinary.readouterr().out.splitlines()) == 3


def test_ingest_imports_no_django():
    import subprocess
    import sys

    code = "import sys, rules.ingest; print(any(m.startswith('django') for m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "False"
