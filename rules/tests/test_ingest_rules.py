"""End to end: rules written for Elastic Defend fire on normalised Sysmon data.

Uses the EQL engine (rules.eql) and the rules the product ships (rules/library); the point
is that our field mapping, not the engine, makes the difference.
"""

import copy
import importlib.util
import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rules import eql
from rules.ingest import normalise_record, read_path

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
LIBRARY = Path(__file__).parents[1] / "library"


def rule_query(name):
    path = LIBRARY / name
    if not path.exists():
        pytest.skip(f"{name} is not shipped")
    return eql.compile(tomllib.loads(path.read_text())["rule"]["query"])


def winlogbeat(index):
    lines = (FIXTURES / "winlogbeat.ndjson").read_text(encoding="utf-8").splitlines()
    return json.loads(lines[index])


DOWNLOADED_SCRIPT_RUN = {
    "UtcTime": "2024-06-01 12:01:00.000",
    "Image": "C:\\Windows\\System32\\wscript.exe",
    "OriginalFileName": "wscript.exe",
    "CommandLine": '"C:\\Windows\\System32\\WScript.exe" "C:\\Users\\ana\\Downloads\\invoice.js"',
    "ParentImage": "C:\\Windows\\explorer.exe",
    "ParentCommandLine": "C:\\Windows\\Explorer.EXE",
}


def test_script_from_internet_fires_on_winlogbeat_sysmon():
    query = rule_query("execution_windows_script_from_internet.toml")
    start = winlogbeat(0)
    start["winlog"]["event_data"].update(DOWNLOADED_SCRIPT_RUN)
    events = [normalise_record(winlogbeat(4))[1], normalise_record(start)[1]]
    [match] = query.search(events)
    assert [e["event"]["code"] for e in match.events] == ["15", "1"]


def test_script_from_internet_fires_on_nxlog_sysmon():
    query = rule_query("execution_windows_script_from_internet.toml")
    records = []
    for obj in (winlogbeat(4), winlogbeat(0)):
        data = obj["winlog"]["event_data"]
        if obj["winlog"]["event_id"] == "1":
            data.update(DOWNLOADED_SCRIPT_RUN)
        records.append(
            {
                "EventTime": data["UtcTime"],
                "Hostname": "WS02.corp.example",
                "EventID": int(obj["winlog"]["event_id"]),
                "SourceName": "Microsoft-Windows-Sysmon",
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                **data,
            }
        )
    events = [normalise_record(r)[1] for r in records]
    assert len(query.search(events)) == 1


def test_script_from_internet_fires_on_an_evtx_file(tmp_path):
    spec = importlib.util.spec_from_file_location("make_evtx", FIXTURES / "make_evtx.py")
    make_evtx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_evtx)
    zone = copy.deepcopy(make_evtx.sample_records()[0])
    zone.update(
        event_id=15,
        record_id=100,
        time=datetime(2024, 5, 6, 7, 7, 0, tzinfo=UTC),
        data=[
            ("UtcTime", make_evtx.STRING, "2024-05-06 07:07:00.000"),
            ("ProcessGuid", make_evtx.GUID, "11111111-2222-3333-4444-0000000000c0"),
            ("ProcessId", make_evtx.UINT32, 3900),
            ("Image", make_evtx.STRING, "C:\\Program Files\\Microsoft\\Edge\\msedge.exe"),
            (
                "TargetFilename",
                make_evtx.STRING,
                "C:\\Users\\bob\\Downloads\\invoice.js:Zone.Identifier",
            ),
            ("Hash", make_evtx.STRING, "Unknown"),
            (
                "Contents",
                make_evtx.STRING,
                "[ZoneTransfer]  ZoneId=3  HostUrl=https://x.example/i.js  ",
            ),
            ("User", make_evtx.STRING, "CORP\\bob"),
        ],
    )
    start = make_evtx.sample_records()[0]  # wscript.exe invoice.js, parent explorer.exe
    path = tmp_path / "sysmon.evtx"
    path.write_bytes(make_evtx.build([zone, start]))
    events = [r.event for r in read_path(path)]
    assert events[0]["file"]["origin_url"] == "https://x.example/i.js"
    query = rule_query("execution_windows_script_from_internet.toml")
    assert len(query.search(events)) == 1


def test_powershell_via_windows_script_fires_on_sysmon_and_security_4688():
    query = rule_query("execution_powershell_susp_args_via_winscript.toml")
    sysmon = normalise_record(winlogbeat(0))[1]
    security = {
        "EventTime": "2024-06-02 08:00:00",
        "Hostname": "SRV01",
        "EventID": 4688,
        "SourceName": "Microsoft-Windows-Security-Auditing",
        "Channel": "Security",
        "NewProcessId": "0x10",
        "NewProcessName": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "CommandLine": "powershell.exe -enc AAAA",
        "ProcessId": "0x20",
        "ParentProcessName": "C:\\Windows\\System32\\mshta.exe",
        "SubjectUserSid": "S-1-5-21-1",
    }
    # 4688 has no parent command line, so ?process.parent.args is null: no match, as
    # with Defend data lacking that field. Sysmon has it.
    matches = query.search([sysmon, normalise_record(security)[1]])
    assert [m.events[0]["event"]["code"] for m in matches] == ["1"]
