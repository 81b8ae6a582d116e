"""Loading the demo: store the generated events, raise their alerts with the real detection
pipeline (in-process, with the chain's time as "now"), then walk them through the workflow."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from rules import detection
from rules.detection import make_candidate
from triage import services
from triage.alerts import raise_alerts
from triage.demo.events import CHAINS_PER_RULE, HOSTS, RULE_CHAINS, SEED, Builder, background
from triage.demo.workflow import team, walk
from triage.models import Alert, Status


def store(docs: list[dict]) -> list[int]:
    """Insert the events not already stored; returns the pks of those inserted now."""
    from rules.store import Event, event_row

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


def raise_missed(rule, docs: list[dict], when: datetime) -> Alert | None:
    """The fallback when the engine raised nothing: an alert of the chain's second process
    event (its last, when it has one), raised through the one writer of alerts like every
    other (its SLA from settings, its "raised" row and techniques with it)."""
    processes = [d for d in docs if d["event"]["category"] == ["process"]]
    if not processes:
        return None
    doc = processes[1] if len(processes) > 1 else processes[0]
    candidate = make_candidate(rule, [doc], [doc["event"]["id"]])
    with services.clock(when):
        raise_alerts([candidate], now=when)
    return Alert.objects.filter(key=candidate.key).first()


@dataclass
class Summary:
    events: int = 0
    alerts: int = 0
    direct: int = 0
    walked: dict[str, int] = field(default_factory=dict)


def load(*, seed: int = SEED, now: datetime | None = None, out=None) -> Summary:
    """Generate, store, detect and walk. Safe to run again (adds nothing the second time)."""
    from rules.catalog import DetectionRule

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
                    alert = raise_missed(rule, b.events, when + timedelta(minutes=1))
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
