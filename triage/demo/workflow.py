"""The analysts' past: demo alerts walked through the workflow with ``triage.services``, each
step at a plausible past time, so the history and the manager's metrics have real rows."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from triage import services
from triage.models import Alert
from triage.playbook_format import YES_NO_UNKNOWN
from triage.recommendation import recommend

ANALYSTS = {"l1": ("jordan.l1", "sam.l1"), "t2": ("riley.t2",)}


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
        run = services.run_of(Alert.objects.get(pk=self.alert.pk))
        playbook = run.playbook_version.parsed()
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
