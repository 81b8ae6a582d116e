"""Team metrics, escalation history and question analytics over a constructed history whose
figures are computed by hand below (see the comments next to each alert)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from triage import history, metrics
from triage.models import Alert, AlertEvent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
NOW = datetime(2026, 4, 1, tzinfo=UTC)
SLA = {"critical": 60, "high": 240, "medium": 1440, "low": 4320}


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@contextmanager
def explicit_times():
    """Let tests choose ``created_at``: ``auto_now_add`` fills the field on every insert,
    bulk_create included, so it is switched off while a history is built."""
    fields = [Alert._meta.get_field("created_at"), AlertEvent._meta.get_field("created_at")]
    saved = [f.auto_now_add for f in fields]
    for f in fields:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f, value in zip(fields, saved, strict=True):
            f.auto_now_add = value


class HistoryBuilder:
    """Inserts alerts and their AlertEvent rows with chosen timestamps."""

    def __init__(self):
        self.events: list[AlertEvent] = []
        self.count = 0

    def alert(self, rule, severity: str, raised: datetime, status: str = "new", **extra):
        self.count += 1
        with explicit_times():
            alert = Alert.objects.create(
                key=f"test-{self.count}",
                rule=rule,
                rule_name=rule.name,
                severity=severity,
                timestamp=raised,
                created_at=raised,
                status=status,
                closed_at=raised if status == "closed" else None,
                **extra,
            )
        self.event(alert, None, "raised", raised, "", "new")
        return alert

    def event(self, alert, actor, kind, at, from_status="", to_status="", **data):
        self.events.append(
            AlertEvent(
                alert=alert,
                actor=actor,
                kind=kind,
                created_at=at,
                from_status=from_status,
                to_status=to_status,
                data=data,
            )
        )

    def save(self):
        with explicit_times():
            AlertEvent.objects.bulk_create(self.events)
        self.events = []


def _rule(name: str):
    from rules.models import DetectionRule

    return DetectionRule.objects.create(rule_id=f"rule-{name}", name=name, query="any where true")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The users here never log in with a password; the default hasher costs ~1 s per user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def playbook_version(db):
    from rules.models import Tactic, Technique
    from triage.models import Playbook, PlaybookVersion
    from triage.playbook_files import default_directory, load_playbook

    parsed = load_playbook(default_directory() / "T1059.yaml")
    tactic, _ = Tactic.objects.get_or_create(external_id="TA0002", defaults={"name": "Execution"})
    technique, _ = Technique.objects.get_or_create(
        external_id="T1059",
        defaults={"name": "Command and Scripting Interpreter", "tactic": tactic},
    )
    playbook, _ = Playbook.objects.get_or_create(technique=technique, defaults={"title": "T1059"})
    return PlaybookVersion.objects.create(
        playbook=playbook, version=99, content=parsed.to_dict(), content_hash=parsed.content_hash
    )


@pytest.fixture
def team(make_user):
    return {
        "alice": make_user("alice", "l1"),
        "dave": make_user("dave", "l1"),
        "bob": make_user("bob", "t2"),
    }


@pytest.fixture
def built(db, team, playbook_version, settings):
    """Five alerts raised in March 2026 (A1..A5) and one in February (A6)."""
    settings.SLA_MINUTES = SLA
    alice, dave, bob = team["alice"], team["dave"], team["bob"]
    noisy, quiet = _rule("Noisy rule"), _rule("Quiet rule")
    pv = playbook_version.pk
    h = HistoryBuilder()

    # A1 high, R1: ack 10m, escalated at 40m (claim->decision 30m), T2 accepts, two containment
    # items done (one marked twice), closed TP at 5h -> resolve 18000 s, SLA 4h breached.
    a1 = h.alert(noisy, "high", T0, status="closed", disposition="true_positive")
    a1.techniques.add(playbook_version.playbook.technique)
    h.event(a1, alice, "claimed", T0 + minutes(10), "new", "triage")
    h.event(a1, alice, "answered", T0 + minutes(20), question="obfuscated", answer="yes",
            playbook_version=pv)  # fmt: skip
    h.event(a1, alice, "answered", T0 + minutes(21), question="expected_origin", answer="yes",
            playbook_version=pv)  # fmt: skip
    h.event(a1, alice, "escalated", T0 + minutes(40), "triage", "escalated",
            recommendation="escalate", decision="escalate", override=False, rationale="")  # fmt: skip
    h.event(a1, bob, "t2_claimed", T0 + minutes(60), "escalated", "investigating")
    h.event(a1, bob, "t2_accepted", T0 + minutes(90), "investigating", "containment")
    for item, at in (("isolate_host", 100), ("isolate_host", 101), ("block_indicators", 110)):
        h.event(a1, bob, "containment_item", T0 + minutes(at), section="containment",
                item=item, state="done")  # fmt: skip
    h.event(a1, bob, "containment_item", T0 + minutes(111), section="containment",
            item="edr_forensics", state="not_applicable")  # fmt: skip
    h.event(a1, bob, "closed", T0 + minutes(300), "containment", "closed", stage="t2",
            disposition="true_positive", reason="contained", override=False)  # fmt: skip

    # A2 medium, R1: ack 5m, L1 close at 35m as FP against an "escalate" recommendation
    # (override, with a formula-looking rationale); resolve 2100 s.
    t = T0 + minutes(60)
    a2 = h.alert(noisy, "medium", t, status="closed", disposition="false_positive")
    h.event(a2, alice, "claimed", t + minutes(5), "new", "triage")
    h.event(a2, alice, "answered", t + minutes(6), question="obfuscated", answer="yes",
            playbook_version=pv)  # fmt: skip
    h.event(a2, alice, "answered", t + minutes(7), question="obfuscated", answer="no",
            playbook_version=pv)  # fmt: skip
    h.event(a2, alice, "closed", t + minutes(35), "triage", "closed", stage="l1",
            disposition="false_positive", reason="admin script",
            recommendation="escalate", override=True,
            rationale='=HYPERLINK("http://evil.example","x")')  # fmt: skip

    # A3 low, R1: ack 20m, escalated at 50m against "close" (override), T2 returns it, the
    # same analyst closes it as FP at 2h (no new claim): two decisions; resolve 7200 s.
    t = T0 + minutes(120)
    a3 = h.alert(noisy, "low", t, status="closed", disposition="false_positive")
    h.event(a3, dave, "claimed", t + minutes(20), "new", "triage")
    h.event(a3, dave, "answered", t + minutes(25), question="obfuscated", answer="yes",
            playbook_version=pv)  # fmt: skip
    h.event(a3, dave, "escalated", t + minutes(50), "triage", "escalated",
            recommendation="close", decision="escalate", override=True,
            rationale="<script>alert(1)</script> gut feeling")  # fmt: skip
    h.event(a3, bob, "t2_claimed", t + minutes(60), "escalated", "investigating")
    h.event(a3, bob, "returned", t + minutes(80), "investigating", "triage", reason="benign")
    h.event(a3, dave, "closed", t + minutes(120), "triage", "closed", stage="l1",
            disposition="false_positive", reason="ok", recommendation="close", override=False)  # fmt: skip

    # A4 critical, R2: never claimed, still open: SLA (1h) breached and open past due.
    t = T0 + minutes(180)
    a4 = h.alert(quiet, "critical", t)
    h.event(a4, alice, "answered", t + minutes(1), question="obfuscated", answer="yes",
            playbook_version=pv)  # fmt: skip

    # A5 medium, R2: ack 30m, L1 close BTP at 1h, reopened at 2h, closed TP by T2 at 3h:
    # resolve 10800 s, final disposition true_positive.
    t = T0 + minutes(240)
    a5 = h.alert(quiet, "medium", t, status="closed", disposition="true_positive")
    h.event(a5, alice, "claimed", t + minutes(30), "new", "triage")
    h.event(a5, alice, "answered", t + minutes(31), question="obfuscated", answer="unknown",
            playbook_version=pv)  # fmt: skip
    h.event(a5, alice, "closed", t + minutes(60), "triage", "closed", stage="l1",
            disposition="benign_true_positive", reason="ok", recommendation="close",
            override=False)  # fmt: skip
    h.event(a5, bob, "reopened", t + minutes(120), "closed", "investigating")
    h.event(a5, bob, "closed", t + minutes(180), "investigating", "closed", stage="t2",
            disposition="true_positive", reason="it was real", override=False)  # fmt: skip

    # A6 high, R2: raised in February (not in March's cohort), claimed by dave on 1 March.
    a6 = h.alert(quiet, "high", datetime(2026, 2, 27, tzinfo=UTC), status="triage")
    h.event(a6, dave, "claimed", datetime(2026, 3, 1, 0, 30, tzinfo=UTC), "new", "triage")
    h.save()
    return {"alerts": [a1, a2, a3, a4, a5, a6], "rules": (noisy, quiet), **team}


def test_team_metrics_equal_the_hand_computed_figures(built):
    m = metrics.team_metrics(*MARCH, now=NOW)
    assert (m.alerts, m.claimed, m.unclaimed, m.resolved, m.open) == (5, 4, 1, 4, 1)
    # Acknowledge: 600, 300, 1200, 1800 s; nearest-rank p90 of 4 values is the 4th.
    assert m.acknowledge == metrics.Duration(4, 975.0, 1800.0)
    assert m.escalate == metrics.Duration(2, 2700.0, 3000.0)
    # Resolve: 18000, 2100, 7200 and the reopened alert's final close 10800.
    assert m.resolve == metrics.Duration(4, 9525.0, 18000.0)
    # Decisions: A1 and A3 escalations; A2, A3 (after the return) and A5's first close by L1.
    assert (m.decisions, m.escalations, m.overrides, m.returns) == (5, 2, 2, 1)
    assert m.escalation_rate == pytest.approx(0.4)
    assert m.override_rate == pytest.approx(0.4)
    assert m.return_rate == pytest.approx(0.5)


def test_sla_breaches_by_severity(built):
    m = metrics.team_metrics(*MARCH, now=NOW)
    rows = {row.severity: (row.alerts, row.breached, row.open_breached) for row in m.sla}
    assert rows == {
        "critical": (1, 1, 1),  # A4 open past its hour
        "high": (1, 1, 0),  # A1 closed after 5h against 4h
        "medium": (2, 0, 0),
        "low": (1, 0, 0),
    }
    assert m.sla_breached == 2


def test_false_positive_rate_per_rule_puts_the_noisiest_first(built):
    m = metrics.team_metrics(*MARCH, now=NOW)
    summary = [(r.rule_name, r.alerts, r.closed, r.false_positives) for r in m.rules]
    # A5's BTP close was reopened: only its final TP close counts.
    assert summary == [("Noisy rule", 3, 3, 2), ("Quiet rule", 2, 1, 0)]
    assert m.rules[0].false_positive_rate == pytest.approx(2 / 3)
    # The newest false positive of the noisy rule (A3) prefills the rule-exception form.
    assert m.rules[0].latest_false_positive == built["alerts"][2].pk
    assert m.rules[1].latest_false_positive is None


def test_workload_counts_actions_taken_within_the_range(built):
    m = metrics.team_metrics(*MARCH, now=NOW)
    by_user = {
        w.username: (w.claims, w.escalations, w.l1_closes, w.t2_claims, w.returns, w.t2_closes)
        for w in m.workload
    }
    assert by_user == {
        "alice": (3, 1, 2, 0, 0, 0),
        "dave": (2, 1, 1, 0, 0, 0),  # includes the February alert claimed on 1 March
        "bob": (0, 0, 0, 2, 1, 2),
    }
    assert [w.username for w in m.workload] == ["alice", "bob", "dave"]


def test_an_empty_range_has_no_figures_and_no_errors(built):
    m = metrics.team_metrics(
        datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC), now=NOW
    )
    assert m.alerts == 0 and m.decisions == 0
    assert m.acknowledge == m.escalate == m.resolve == metrics.Duration(0, None, None)
    assert m.escalation_rate is m.override_rate is m.return_rate is None
    assert m.rules == [] and m.workload == []
    assert all(row.alerts == row.breached == 0 for row in m.sla)
    assert (
        metrics.question_stats(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
        == []
    )


def test_history_rows_carry_claim_and_decision_times_and_the_t2_outcome(built):
    qs, _ = history.sort(history.rows(), "decided")
    rows = [
        (
            r.alert_id,
            r.kind,
            r.actor.username,
            r.time_to_claim,
            r.time_to_decision,
            r.outcome,
            r.final_disposition,
            r.containment_done,
            history.is_override(r),
        )
        for r in history.filter_by(qs, history.Filters(start=MARCH[0], end=MARCH[1]))
    ]
    a1, a2, a3, _, a5, _ = (a.pk for a in built["alerts"])
    assert rows == [
        (a1, "escalated", "alice", minutes(10), minutes(30), "accepted", "true_positive", 2, False),
        (a2, "closed", "alice", minutes(5), minutes(30), "l1_closed", "false_positive", 0, True),
        (a3, "escalated", "dave", minutes(20), minutes(30), "returned", "false_positive", 0, True),
        (a3, "closed", "dave", minutes(20), minutes(100), "l1_closed", "false_positive", 0, False),
        (a5, "closed", "alice", minutes(30), minutes(30), "l1_closed", "true_positive", 0, False),
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"outcome": "returned"}, [("A3", "escalated")]),
        ({"outcome": "override"}, [("A2", "closed"), ("A3", "escalated")]),
        ({"analyst": "dave"}, [("A3", "escalated"), ("A3", "closed")]),
        ({"rule": "Quiet rule"}, [("A5", "closed")]),
        ({"technique": "T1059"}, [("A1", "escalated")]),
    ],
)
def test_history_filters(built, filters, expected):
    names = {a.pk: f"A{i}" for i, a in enumerate(built["alerts"], start=1)}
    kwargs = {"start": MARCH[0], "end": MARCH[1]}
    if "analyst" in filters:
        kwargs["analyst"] = built[filters["analyst"]].pk
    if "rule" in filters:
        kwargs["rule"] = next(r.pk for r in built["rules"] if r.name == filters["rule"])
    kwargs["technique"] = filters.get("technique", "")
    kwargs["outcome"] = filters.get("outcome", "")
    qs, _ = history.sort(history.filter_by(history.rows(), history.Filters(**kwargs)), "decided")
    assert [(names[r.alert_id], r.kind) for r in qs] == expected


def test_question_agreement_uses_the_last_answer_and_the_final_disposition(built):
    stats = {s.question: s for s in metrics.question_stats(*MARCH)}
    obfuscated = stats["obfuscated"]
    # A1 yes/TP (alarming, agrees), A2 no/FP (last answer; reassuring, agrees), A3 yes/FP
    # (alarming, disagrees), A5 unknown (neither); A4 is open, so not counted.
    assert obfuscated.answered == 4
    assert (obfuscated.alarming_tp, obfuscated.alarming_benign) == (1, 1)
    assert (obfuscated.reassuring_tp, obfuscated.reassuring_benign) == (0, 1)
    assert obfuscated.agreement == pytest.approx(2 / 3)
    assert obfuscated.precision == pytest.approx(0.5)
    assert obfuscated.recall == pytest.approx(1.0)
    origin = stats["expected_origin"]  # "yes" is reassuring; the alert was a TP
    assert (origin.answered, origin.reassuring_tp, origin.agreement, origin.precision) == (
        1,
        1,
        0.0,
        None,
    )


def test_nearest_rank_percentile():
    assert metrics.nearest_rank([]) is None
    assert metrics.nearest_rank([5.0]) == 5.0
    assert metrics.nearest_rank([float(v) for v in range(10, 101, 10)]) == 90.0
    assert metrics.nearest_rank([float(v) for v in range(1, 12)]) == 10.0


def test_date_range_parsing_falls_back_to_thirty_days():
    from datetime import date

    today = date(2026, 3, 31)
    r = metrics.DateRange.from_query({}, today=today)
    assert (r.first, r.last, r.preset) == (date(2026, 3, 2), today, "30d")
    r = metrics.DateRange.from_query({"from": "2026-03-10", "to": "2026-03-01"}, today=today)
    assert (r.first, r.last) == (date(2026, 3, 1), date(2026, 3, 10))
    r = metrics.DateRange.from_query({"from": "garbage", "preset": "7d"}, today=today)
    assert (r.first, r.last) == (date(2026, 3, 25), today)
