"""``python -m rules.eql``: stdout holds only JSON lines, errors go to stderr with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "rules.eql", *args],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        input=stdin,
    )


@pytest.fixture
def events_file(tmp_path):
    lines = [
        {"@timestamp": "2024-01-01T00:00:02Z", "event": {"category": "process"}, "id": "b",
         "process": {"name": "cmd.exe"}, "note": "é☃ \u2028"},
        {"@timestamp": "2024-01-01T00:00:01Z", "event": {"category": "process"}, "id": "a",
         "process": {"name": "CMD.EXE"}},
        {"@timestamp": "2024-01-01T00:00:03Z", "event": {"category": "file"}, "id": "c",
         "process": {"name": "cmd.exe"}},
    ]  # fmt: skip
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n")
    return path


def test_prints_one_json_line_per_match_in_order(events_file):
    r = run('process where process.name : "cmd.exe"', str(events_file))
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.split(b"\n") if line]
    assert [m["events"][0]["id"] for m in out] == ["a", "b"]
    assert out[1]["events"][0]["note"] == "é☃ \u2028"
    assert all(m["join_keys"] == [] for m in out)
    assert r.stderr == b""


def test_id_field_and_sequences(events_file):
    r = run(
        "sequence by process.name [process where true] [file where true]",
        str(events_file),
        "--id-field",
        "id",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == b'{"join_keys":["cmd.exe"],"events":["b","c"]}\n'


def test_size_option_and_default_of_ten(tmp_path):
    path = tmp_path / "many.ndjson"
    path.write_text("".join(json.dumps({"@timestamp": i, "n": i}) + "\n" for i in range(30)))
    r = run("any where true", str(path), "--id-field", "n")
    assert len(r.stdout.splitlines()) == 10
    assert b"size limit" in r.stderr
    r = run("any where true", str(path), "--id-field", "n", "--size", "25")
    assert len(r.stdout.splitlines()) == 25
    r = run("any where true | tail 2", str(path), "--id-field", "n", "--size", "25")
    assert r.stdout == b'{"join_keys":[],"events":[28]}\n{"join_keys":[],"events":[29]}\n'
    assert r.stderr == b""
    r = run("any where true | tail 5", str(path), "--id-field", "n", "--size", "2")
    assert r.stdout == b'{"join_keys":[],"events":[28]}\n{"join_keys":[],"events":[29]}\n'


def test_other_field_names(tmp_path):
    path = tmp_path / "x.ndjson"
    rows = [
        {"t": 2, "kind": "proc", "seq": 1, "id": 1},
        {"t": 2, "kind": "proc", "seq": 0, "id": 2},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in rows))
    r = run(
        "proc where true",
        str(path),
        "--timestamp-field",
        "t",
        "--tiebreaker-field",
        "seq",
        "--category-field",
        "kind",
        "--id-field",
        "id",
    )
    assert r.stdout == b'{"join_keys":[],"events":[2]}\n{"join_keys":[],"events":[1]}\n'


def test_json_array_files_and_several_files(tmp_path, events_file):
    arr = tmp_path / "arr.json"
    arr.write_text(json.dumps([{"@timestamp": 0, "event": {"category": "process"}, "id": "z"}]))
    r = run("process where true", str(events_file), str(arr), "--id-field", "id")
    assert [json.loads(x)["events"] for x in r.stdout.splitlines()] == [["z"], ["a"], ["b"]]


def test_bad_query_exits_2_with_caret_on_stderr(events_file):
    r = run("process where process.name ==", str(events_file))
    assert r.returncode == 2
    assert r.stdout == b""
    err = r.stderr.decode()
    assert "line 1:30" in err
    assert err.rstrip().endswith("^")


def test_bad_json_line_reports_its_line_number(tmp_path):
    path = tmp_path / "bad.ndjson"
    path.write_text('{"a": 1}\n{"a": \n')
    r = run("any where true", str(path))
    assert r.returncode == 2
    assert r.stdout == b""
    assert f"{path}:2:" in r.stderr.decode()


@pytest.mark.parametrize(
    "content",
    [b"[1, 2]\n", b'"just a string"\n', b"\xff\xfe\x00garbage\n", b"[{}, 3]", b"{}\n[]\n"],
)
def test_hostile_files_exit_2_without_traceback(tmp_path, content):
    path = tmp_path / "hostile.ndjson"
    path.write_bytes(content)
    r = run("any where true", str(path))
    assert r.returncode == 2
    assert r.stdout == b""
    assert b"Traceback" not in r.stderr


def test_unreadable_file_exits_2(tmp_path):
    r = run("any where true", str(tmp_path / "nope.ndjson"))
    assert r.returncode == 2
    assert b"cannot read" in r.stderr
    assert r.stdout == b""


def test_bad_arguments_exit_2():
    assert run("any where true").returncode == 2
    r = run("any where true", "x", "--size", "-1")
    assert r.returncode == 2
    assert r.stdout == b""


def test_unicode_query_and_values(tmp_path):
    path = tmp_path / "u.ndjson"
    path.write_text(json.dumps({"@timestamp": 1, "user": "Jürgen 日本"}, ensure_ascii=False))
    r = run('any where user : "jÜrgen*"', str(path))
    assert r.returncode == 0
    assert json.loads(r.stdout)["events"][0]["user"] == "Jürgen 日本"


def test_reads_stdin_with_dash():
    r = run("any where true", "-", "--id-field", "n", stdin=b'{"n": 1, "@timestamp": 1}\n')
    assert r.returncode == 0
    assert r.stdout == b'{"join_keys":[],"events":[1]}\n'
