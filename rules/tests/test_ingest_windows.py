"""Windows records (Winlogbeat, NXLog) normalised to ECS as Elastic Defend writes it."""

import copy
import json
from pathlib import Path

import pytest

from rules.ingest import normalise_record, parse_ndjson, read_path

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def fixture_objects(name):
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def normalised(name, index):
    return normalise_record(copy.deepcopy(fixture_objects(name)[index]))[1]


def without(doc, *keys):
    return {k: v for k, v in doc.items() if k not in keys}


WINLOGBEAT_HOST = {
    "os": {"type": "windows", "family": "windows", "platform": "windows"},
    "name": "WS02.corp.example",
    "id": "6f1f2d3c-aaaa-bbbb-cccc-1234567890ab",
    "hostname": "ws02",
}
ANA = {"name": "ana", "domain": "CORP", "id": "CORP\\ana"}
POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"


def sysmon_event(code, **more):
    return {
        "kind": "event",
        "code": code,
        "module": "sysmon",
        "dataset": "windows.sysmon_operational",
        "provider": "Microsoft-Windows-Sysmon",
        "created": "2024-06-01T12:00:30.000Z",
        **more,
    }


def test_sysmon_1_from_winlogbeat_is_a_defend_process_start():
    doc = normalised("winlogbeat.ndjson", 0)
    source = fixture_objects("winlogbeat.ndjson")[0]
    assert len(doc["event"].pop("id")) == 64
    assert without(doc, "winlog") == {
        "@timestamp": "2024-06-01T12:00:00.250Z",  # Sysmon's UtcTime
        "event": sysmon_event("1", category=["process"], type=["start"], action="start"),
        "host": WINLOGBEAT_HOST,
        "process": {
            "pid": 5150,
            "entity_id": "{a1b2c3d4-0001-0000-0000-000000000001}",
            "executable": POWERSHELL,
            "name": "powershell.exe",
            "command_line": source["winlog"]["event_data"]["CommandLine"],
            "args": [
                "powershell.exe",
                "-NoP",
                "-EncodedCommand",
                "SQBFAFgA",
                "-File",
                "C:\\Users\\ana\\My Docs\\a b.ps1",
                "C:\\tmp\\",
            ],
            "args_count": 7,
            "working_directory": "C:\\Users\\ana\\",
            "hash": {"md5": "0123456789abcdef0123456789abcdef", "sha256": "aa11"},
            "pe": {
                "original_file_name": "PowerShell.EXE",
                "description": "Windows PowerShell",
                "product": "Microsoft® Windows® Operating System",
                "company": "Microsoft Corporation",
                "file_version": "10.0.19041.1",
                "imphash": "bb22",
            },
            "parent": {
                "pid": 4000,
                "entity_id": "{a1b2c3d4-0001-0000-0000-000000000000}",
                "executable": "C:\\Windows\\System32\\wscript.exe",
                "name": "wscript.exe",
                "command_line": '"C:\\Windows\\System32\\WScript.exe" "C:\\Users\\ana\\Downloads\\invoice.js"',
                "args": [
                    "C:\\Windows\\System32\\WScript.exe",
                    "C:\\Users\\ana\\Downloads\\invoice.js",
                ],
                "args_count": 2,
            },
        },
        "user": ANA,
        "message": "Process Create:\nRuleName: -",
        "ecs": {"version": "9.5.0"},
        "agent": source["agent"],
    }
    assert doc["winlog"] == {
        "event_id": "1",
        "channel": "Microsoft-Windows-Sysmon/Operational",
        "computer_name": "WS02.corp.example",
        "provider_name": "Microsoft-Windows-Sysmon",
        "record_id": "501",
        "process": {"pid": 3000, "thread": {"id": 3100}},
        "user": {"identifier": "S-1-5-18"},
        "event_data": source["winlog"]["event_data"],
    }


def test_sysmon_3_is_a_network_connection():
    doc = normalised("winlogbeat.ndjson", 1)
    assert doc["@timestamp"] == "2024-06-01T12:00:01.000Z"
    assert without(doc["event"], "id") == sysmon_event(
        "3", category=["network"], type=["start"], action="connection_attempted"
    )
    assert doc["process"] == {
        "pid": 5150,
        "entity_id": "{a1b2c3d4-0001-0000-0000-000000000001}",
        "executable": POWERSHELL,
        "name": "powershell.exe",
    }
    assert doc["source"] == {"ip": "10.0.0.5", "port": 50123, "domain": "ws02.corp.example"}
    assert doc["destination"] == {"ip": "203.0.113.7", "port": 443}
    assert doc["network"] == {"direction": "egress", "transport": "tcp", "type": "ipv4"}
    assert doc["user"] == ANA


def test_sysmon_3_inbound_is_accepted_ingress():
    obj = fixture_objects("winlogbeat.ndjson")[1]
    obj["winlog"]["event_data"].update(Initiated="false", SourceIsIpv6="true", SourceIp="::1")
    _, doc = normalise_record(obj)
    assert doc["event"]["action"] == "connection_accepted"
    assert doc["network"] == {"direction": "ingress", "transport": "tcp", "type": "ipv6"}


def test_sysmon_5_is_a_process_end():
    doc = normalised("winlogbeat.ndjson", 2)
    assert without(doc["event"], "id") == sysmon_event(
        "5", category=["process"], type=["end"], action="end"
    )
    assert doc["process"]["pid"] == 5150 and doc["user"] == ANA


def test_sysmon_11_is_a_file_creation():
    doc = normalised("winlogbeat.ndjson", 3)
    assert without(doc["event"], "id") == sysmon_event(
        "11", category=["file"], type=["creation"], action="creation"
    )
    assert doc["file"] == {
        "path": "C:\\Users\\ana\\Downloads\\invoice.js",
        "name": "invoice.js",
        "directory": "C:\\Users\\ana\\Downloads",
        "extension": "js",
    }
    assert doc["process"]["name"] == "chrome.exe"


def test_sysmon_15_zone_identifier_gives_the_download_origin():
    doc = normalised("winlogbeat.ndjson", 4)
    assert without(doc["event"], "id") == sysmon_event(
        "15", category=["file"], type=["creation"], action="creation"
    )
    assert doc["file"] == {
        "path": "C:\\Users\\ana\\Downloads\\invoice.js",
        "name": "invoice.js",
        "directory": "C:\\Users\\ana\\Downloads",
        "extension": "js",
        "origin_url": "https://cdn.example.net/invoice.js",
        "origin_referrer_url": "https://mail.example.net/inbox",
        "Ext": {"windows": {"zone_identifier": 3}},
    }
    assert doc["process"]["name"] == "chrome.exe"
    assert doc["user"] == ANA


def test_sysmon_15_other_stream_keeps_its_path_and_hash():
    obj = fixture_objects("winlogbeat.ndjson")[4]
    obj["winlog"]["event_data"].update(TargetFilename="C:\\x\\a.txt:hidden", Contents="-")
    _, doc = normalise_record(obj)
    assert doc["file"] == {
        "path": "C:\\x\\a.txt:hidden",
        "name": "a.txt:hidden",
        "directory": "C:\\x",
        "extension": "txt:hidden",
        "hash": {"sha256": "cc33"},
    }


def test_unknown_sysmon_event_keeps_its_data_as_a_generic_event():
    obj = fixture_objects("winlogbeat.ndjson")[5]
    obj["winlog"]["event_id"] = "255"  # Sysmon's error event: not mapped
    _, doc = normalise_record(obj)
    assert without(doc["event"], "id") == sysmon_event("255")
    assert "process" not in doc and "category" not in doc["event"]
    assert doc["winlog"]["event_data"] == obj["winlog"]["event_data"]


def test_sysmon_22_dns_query():
    doc = normalised("winlogbeat.ndjson", 5)
    assert without(doc["event"], "id") == sysmon_event(
        "22", category=["network"], type=["protocol", "info"], action="lookup_result"
    )
    assert doc["dns"] == {
        "question": {"name": "cdn.example.net"},
        "resolved_ip": ["203.0.113.7"],
        "response_code": "NOERROR",
    }
    assert doc["network"] == {"protocol": "dns"}
    assert doc["process"]["name"] == "powershell.exe"


def test_sysmon_22_results_keep_only_addresses():
    obj = fixture_objects("winlogbeat.ndjson")[5]
    obj["winlog"]["event_data"]["QueryResults"] = (
        "type:  5 edge.example.net;::ffff:203.0.113.7;2001:db8::1;cafe.bad;"
    )
    _, doc = normalise_record(obj)
    assert doc["dns"]["resolved_ip"] == ["203.0.113.7", "2001:db8::1"]


SYSMON_NXLOG = {
    "EventTime": "2024-06-01 12:00:00",
    "Hostname": "WS1",
    "EventType": "INFO",
    "SourceName": "Microsoft-Windows-Sysmon",
    "Channel": "Microsoft-Windows-Sysmon/Operational",
    "UtcTime": "2024-06-01 12:00:00.000",
    "ProcessGuid": "{A1B2C3D4-0001-0000-0000-000000000001}",
    "ProcessId": 10,
    "Image": "C:\\Windows\\System32\\wscript.exe",
    "User": "CORP\\ana",
}


def test_sysmon_7_image_load():
    _, doc = normalise_record(
        {
            **SYSMON_NXLOG,
            "EventID": 7,
            "ImageLoaded": "C:\\Windows\\System32\\scrobj.dll",
            "OriginalFileName": "scrobj.dll",
            "Hashes": "SHA256=ABC,IMPHASH=DEF",
            "Signed": "true",
            "Signature": "Microsoft Windows",
            "SignatureStatus": "Valid",
        }
    )
    assert without(doc["event"], "id", "created") == {
        **without(sysmon_event("7"), "created"),
        "category": ["library"],
        "type": ["start"],
        "action": "load",
    }
    assert doc["dll"] == {
        "path": "C:\\Windows\\System32\\scrobj.dll",
        "name": "scrobj.dll",
        "hash": {"sha256": "abc"},
        "pe": {"original_file_name": "scrobj.dll", "imphash": "def"},
        "code_signature": {
            "exists": True,
            "subject_name": "Microsoft Windows",
            "status": "Valid",
            "trusted": True,
        },
    }
    assert doc["process"]["name"] == "wscript.exe"


@pytest.mark.parametrize(
    ("event_id", "data", "event_type", "action", "registry"),
    [
        (
            13,
            {
                "EventType": "SetValue",
                "TargetObject": "HKU\\S-1-5-21-1\\Software\\Run\\upd",
                "Details": "C:\\a.js",
            },
            "change",
            "modification",
            {
                "path": "HKU\\S-1-5-21-1\\Software\\Run\\upd",
                "hive": "HKU",
                "key": "S-1-5-21-1\\Software\\Run",
                "value": "upd",
                "data": {"strings": ["C:\\a.js"]},
            },
        ),
        (
            13,
            {"TargetObject": "HKLM\\System\\x\\Start", "Details": "DWORD (0x00000002)"},
            "change",
            "modification",
            {
                "path": "HKLM\\System\\x\\Start",
                "hive": "HKLM",
                "key": "System\\x",
                "value": "Start",
                "data": {"strings": ["DWORD (0x00000002)"], "type": "REG_DWORD"},
            },
        ),
        (
            12,
            {"EventType": "CreateKey", "TargetObject": "HKLM\\SOFTWARE\\Evil"},
            "creation",
            "creation",
            {"path": "HKLM\\SOFTWARE\\Evil", "hive": "HKLM", "key": "SOFTWARE\\Evil"},
        ),
        (
            12,
            {"EventType": "DeleteValue", "TargetObject": "HKLM\\SOFTWARE\\K\\V"},
            "deletion",
            "deletion",
            {"path": "HKLM\\SOFTWARE\\K\\V", "hive": "HKLM", "key": "SOFTWARE\\K", "value": "V"},
        ),
    ],
)
def test_sysmon_registry_events(event_id, data, event_type, action, registry):
    _, doc = normalise_record({**SYSMON_NXLOG, "EventID": event_id, **data})
    assert doc["event"]["category"] == ["registry"]
    assert doc["event"]["type"] == [event_type]
    assert doc["event"]["action"] == action
    assert doc["registry"] == registry


def test_powershell_4104_script_block():
    doc = normalised("winlogbeat.ndjson", 6)
    assert without(doc["event"], "id") == {
        "kind": "event",
        "code": "4104",
        "module": "powershell",
        "dataset": "windows.powershell_operational",
        "provider": "Microsoft-Windows-PowerShell",
        "created": "2024-06-01T12:00:30.000Z",
        "category": ["process"],
        "type": ["info"],
        "action": "Execute a Remote Command",
    }
    assert doc["powershell"] == {
        "file": {
            "script_block_text": "Write-Host 'héllo \u202etxt.exe 🙂'",
            "script_block_id": "0f0e0d0c-0000-4000-8000-000000000001",
        },
        "sequence": 1,
        "total": 1,
    }
    assert doc["file"] == {
        "path": "C:\\Users\\ana\\My Docs\\a b.ps1",
        "name": "a b.ps1",
        "directory": "C:\\Users\\ana\\My Docs",
        "extension": "ps1",
    }
    assert doc["process"] == {"pid": 5150}
    assert doc["user"] == {"id": "S-1-5-21-9-9-9-1104"}


def test_security_4688_from_nxlog_is_a_defend_process_start():
    doc = normalised("nxlog.json", 0)
    source = fixture_objects("nxlog.json")[0]
    assert len(doc["event"].pop("id")) == 64
    assert doc == {
        "@timestamp": "2024-06-02T08:00:00.000Z",
        "event": {
            "kind": "event",
            "code": "4688",
            "module": "system",
            "dataset": "system.security",
            "provider": "Microsoft-Windows-Security-Auditing",
            "created": "2024-06-02T08:00:05.000Z",
            "category": ["process"],
            "type": ["start"],
            "action": "start",
        },
        "host": {
            "os": {"type": "windows", "family": "windows"},
            "name": "SRV01.corp.example",
            "id": "srv01.corp.example",
        },
        "process": {
            "pid": 0x1F40,
            "executable": "C:\\Windows\\System32\\cmd.exe",
            "name": "cmd.exe",
            "command_line": source["CommandLine"],
            "args": ["cmd.exe", "/c", 'del "C:\\x y" "', "&", "echo", "done"],
            "args_count": 6,
            "parent": {
                "pid": 0xFA0,
                "executable": "C:\\Windows\\System32\\services.exe",
                "name": "services.exe",
            },
        },
        # the new process runs as the target account
        "user": {"id": "S-1-5-21-7-7-7-1200", "name": "svc_app", "domain": "CORP"},
        "message": "A new process has been created.",
        "winlog": {
            "event_id": "4688",
            "channel": "Security",
            "computer_name": "SRV01.corp.example",
            "provider_name": "Microsoft-Windows-Security-Auditing",
            "provider_guid": "{54849625-5478-4994-A5BA-3E3B0328C30D}",
            "record_id": "9001",
            "version": 2,
            "process": {"pid": 4, "thread": {"id": 96}},
            "event_data": {
                k: v
                for k, v in source.items()
                if k.startswith(("Subject", "Target", "New", "Token", "Parent", "Mandatory"))
                or k in ("ProcessId", "CommandLine")
            },
        },
        "ecs": {"version": "9.5.0"},
    }


def test_security_4688_without_target_account_uses_the_subject():
    obj = fixture_objects("nxlog.json")[0]
    obj.update(TargetUserSid="S-1-0-0", TargetUserName="-", TargetDomainName="-")
    _, doc = normalise_record(obj)
    assert doc["user"] == {"id": "S-1-5-21-7-7-7-500", "name": "admin", "domain": "CORP"}


def test_nxlog_unknown_event_is_generic_with_offset_time_in_utc():
    doc = normalised("nxlog.json", 1)
    assert doc["@timestamp"] == "2024-06-02T06:00:01.250Z"
    assert doc["event"]["code"] == "4624" and "category" not in doc["event"]
    assert doc["winlog"]["event_data"] == {
        "SubjectUserSid": "S-1-5-18",
        "TargetUserName": "admin",
        "LogonType": "10",
        "IpAddress": "192.0.2.10",
    }


def test_nxlog_powershell_4104_numbers_become_ints():
    doc = normalised("nxlog.json", 2)
    assert doc["powershell"]["sequence"] == 2 and doc["powershell"]["total"] == 3
    assert doc["process"] == {"pid": 6200}
    assert doc["user"] == {"id": "S-1-5-21-7-7-7-500"}
    assert "file" not in doc  # an empty Path is no file


def test_sysmon_system_account_gets_its_sid():
    obj = fixture_objects("winlogbeat.ndjson")[0]
    obj["winlog"]["event_data"]["User"] = "NT AUTHORITY\\SYSTEM"
    _, doc = normalise_record(obj)
    assert doc["user"] == {"name": "SYSTEM", "domain": "NT AUTHORITY", "id": "S-1-5-18"}


def test_winlogbeat_host_of_another_machine_is_not_taken():
    obj = fixture_objects("winlogbeat.ndjson")[0]
    obj["host"] = {"name": "collector01", "id": "collector-id"}  # a forwarded event
    _, doc = normalise_record(obj)
    assert doc["host"] == {
        "os": {"type": "windows", "family": "windows"},
        "name": "WS02.corp.example",
        "id": "ws02.corp.example",
    }


def test_dotted_winlogbeat_record_is_read_too():
    obj = {
        "@timestamp": "2024-06-01T12:00:00Z",
        "winlog.event_id": 1,
        "winlog.provider_name": "Microsoft-Windows-Sysmon",
        "winlog.computer_name": "WS9",
        "winlog.event_data": {"Image": "C:\\a\\b.exe", "ProcessId": "7"},
    }
    kind, doc = normalise_record(obj)
    assert kind == "winlogbeat"
    assert doc["process"] == {"pid": 7, "executable": "C:\\a\\b.exe", "name": "b.exe"}
    assert doc["@timestamp"] == "2024-06-01T12:00:00.000Z"


def test_records_already_in_ecs_are_not_remapped():
    obj = fixture_objects("winlogbeat.ndjson")[0]
    obj["event"]["category"] = ["process"]  # e.g. Winlogbeat's own Sysmon module ran
    kind, doc = normalise_record(copy.deepcopy(obj))
    assert kind == "ecs"
    assert without(doc, "event") == without(obj, "event")


def test_normalised_output_read_again_is_stable():
    first = [r.event for r in read_path(FIXTURES / "winlogbeat.ndjson")]
    again = "\n".join(json.dumps(e) for e in first).encode()
    second = [r.event for r in parse_ndjson(again)]
    assert second == first


@pytest.mark.parametrize(
    ("record", "error"),
    [
        (
            {"winlog": {"event_id": "x", "channel": "Security"}},
            "winlog.event_id: expected an integer",
        ),
        ({"EventID": "four", "SourceName": "x"}, "EventID: expected an integer"),
        (
            {"EventID": 1, "SourceName": "x", "EventTime": "not a time"},
            "record has no usable time (TimeCreated/EventTime/UtcTime)",
        ),
    ],
)
def test_unusable_windows_records_are_errors(record, error):
    with pytest.raises(ValueError, match=r"^" + __import__("re").escape(error) + "$"):
        normalise_record(record)


def test_hostile_event_data_values_do_not_break_mapping():
    obj = fixture_objects("winlogbeat.ndjson")[0]
    obj["winlog"]["event_data"].update(
        ProcessId=["1", "2"], Image=None, CommandLine=12, ParentProcessId="0xZZ", Hashes=[1]
    )
    _, doc = normalise_record(obj)
    assert "pid" not in doc["process"] and "executable" not in doc["process"]
    assert "hash" not in doc["process"]
    assert doc["process"]["parent"].get("pid") is None


@pytest.mark.parametrize(
    ("fixture", "kind", "wrong_type"),
    [
        (
            "winlogbeat.ndjson",
            "winlogbeat",
            b'{"@timestamp": "2024-01-01T00:00:00Z", "winlog": {"event_id": "one", "channel": "Security"}}',
        ),
        ("nxlog.json", "nxlog", b'{"EventID": 4688, "SourceName": "x", "EventTime": [2024]}'),
    ],
)
def test_windows_json_files_with_bad_lines(tmp_path, fixture, kind, wrong_type):
    good = (FIXTURES / fixture).read_bytes().splitlines()
    bad = [
        b'{"winlog": {"event_id": 1,',  # malformed
        b'{"EventID": 1, "SourceName": "caf\xe9"}',  # not UTF-8
        b'{"x": "' + b"y" * (2 * 1024 * 1024) + b'"}',  # 2 MB line
        b"[]",
        wrong_type,
    ]
    lines = []
    for i, line in enumerate(good[:3]):
        lines += [line, bad[i]]
    lines += [good[-1], bad[3], bad[4], good[0][:-20]]  # ...and a truncated last line
    path = tmp_path / "mixed"
    path.write_bytes(b"\n".join(lines))
    records = list(read_path(path))
    assert [r.number for r in records] == list(range(1, 11))
    assert [r.number for r in records if r.ok] == [1, 3, 5, 7]
    assert {r.kind for r in records if r.ok} == {kind}
    errors = {r.number: r.error for r in records if not r.ok}
    assert errors[2].startswith("malformed JSON")
    assert errors[4].startswith("not valid UTF-8")
    assert errors[6] == "line is longer than the limit of 1048576 bytes"
    assert errors[8] == "expected a JSON object, got array"
    assert errors[9] in (
        "winlog.event_id: expected an integer",
        "record has no usable time (TimeCreated/EventTime/UtcTime)",
    )
    assert errors[10].startswith("truncated last line (no newline at end of input)")


def test_rtl_override_and_emoji_in_a_sysmon_command_line():
    obj = fixture_objects("nxlog.json")[0]
    obj["CommandLine"] = 'cmd.exe /c "start \u202egpj.exe" 🙂 日本'
    _, doc = normalise_record(obj)
    assert doc["process"]["args"] == ["cmd.exe", "/c", "start \u202egpj.exe", "🙂", "日本"]
    assert doc["process"]["args_count"] == 5


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            "C:\\evil.js",
            {"path": "C:\\evil.js", "name": "evil.js", "directory": "C:\\", "extension": "js"},
        ),
        (
            "\\\\srv\\share\\run.CMD",
            {
                "path": "\\\\srv\\share\\run.CMD",
                "name": "run.CMD",
                "directory": "\\\\srv\\share",
                "extension": "CMD",
            },
        ),
        (
            "C:\\Users\\a\\.hidden",
            {"path": "C:\\Users\\a\\.hidden", "name": ".hidden", "directory": "C:\\Users\\a"},
        ),
        ("C:\\dir\\", {"path": "C:\\dir\\", "directory": "C:\\dir"}),
    ],
)
def test_file_path_parts(target, expected):
    obj = fixture_objects("winlogbeat.ndjson")[3]
    obj["winlog"]["event_data"]["TargetFilename"] = target
    _, doc = normalise_record(obj)
    assert doc["file"] == expected
