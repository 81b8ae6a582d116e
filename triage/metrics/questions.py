"""Per-question analytics: how each playbook question's last answer lined up with the final
disposition of the alerts raised in a range (see :class:`QuestionStats`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from triage.metrics.sql import json_text, param
from triage.metrics.team import rate
from triage.models import Disposition, PlaybookVersion
from triage.playbook_format import NO, YES

MALICIOUS = frozenset({Disposition.TRUE_POSITIVE})
BENIGN = frozenset({Disposition.FALSE_POSITIVE, Disposition.BENIGN_TRUE_POSITIVE})

# Per cohort alert with a standing close: the last answer to each question, with the
# disposition of that close. Duplicates say nothing about the question, so they are left out.
_ANSWERS = """
WITH standing AS (
    SELECT e.alert_id, {disposition} AS disposition
    FROM triage_alertevent e
    JOIN triage_alert a ON a.id = e.alert_id
    WHERE e.kind = 'closed' AND a.created_at >= %s AND a.created_at < %s
      AND NOT EXISTS (
          SELECT 1 FROM triage_alertevent l
          WHERE l.alert_id = e.alert_id AND l.kind IN ('closed', 'reopened')
            AND (l.created_at > e.created_at OR (l.created_at = e.created_at AND l.id > e.id)))
),
answers AS (
    SELECT q.alert_id, {question} AS question, {answer} AS answer, {version} AS version,
           ROW_NUMBER() OVER (PARTITION BY q.alert_id, {question}
                              ORDER BY q.created_at DESC, q.id DESC) AS n
    FROM triage_alertevent q
    JOIN standing s ON s.alert_id = q.alert_id
    WHERE q.kind = 'answered'
)
SELECT a.version, a.question, LOWER(a.answer), s.disposition, COUNT(*)
FROM answers a JOIN standing s ON s.alert_id = a.alert_id
WHERE a.n = 1 AND s.disposition <> 'duplicate'
GROUP BY a.version, a.question, LOWER(a.answer), s.disposition
"""


def alarming_answers(playbook) -> dict[str, frozenset[str]]:
    """For each question named by an escalation criterion of ``playbook``: the answers that a
    criterion lists for it (the answers that push towards escalation)."""
    found: dict[str, set[str]] = {}
    for criterion in playbook.escalation.criteria:
        for leaf in criterion.when.leaves():
            found.setdefault(leaf.question, set()).update(leaf.answers)
    return {qid: frozenset(values) for qid, values in found.items()}


@dataclass
class QuestionStats:
    """How one playbook question's answers lined up with the final dispositions.

    Over alerts whose standing close has a disposition other than duplicate, the question's
    last answer is:

    * *alarming* when an escalation criterion of the playbook lists that answer for the
      question (``obfuscated = yes``; ``expected_origin = no``; ``unknown`` where a criterion
      lists it);
    * *reassuring* when it is a definite yes/no that no criterion lists;
    * neither otherwise ("unknown" not listed, text answers, questions no criterion names).

    The outcome is *malicious* for ``true_positive`` and *benign* for ``false_positive`` or
    ``benign_true_positive``. The answer **agrees** with the disposition when it is alarming
    and the outcome malicious, or reassuring and the outcome benign.
    ``agreement`` = agreeing / (alarming + reassuring); ``precision`` = malicious among
    alarming answers (how well an alarming answer predicts a true positive); ``recall`` =
    alarming among malicious outcomes.
    """

    technique: str
    question: str
    text: str
    in_criterion: bool
    answered: int = 0
    alarming_tp: int = 0
    alarming_benign: int = 0
    reassuring_tp: int = 0
    reassuring_benign: int = 0

    @property
    def alarming(self) -> int:
        return self.alarming_tp + self.alarming_benign

    @property
    def judged(self) -> int:
        return self.alarming + self.reassuring_tp + self.reassuring_benign

    @property
    def agreement(self) -> float | None:
        return rate(self.alarming_tp + self.reassuring_benign, self.judged)

    @property
    def precision(self) -> float | None:
        return rate(self.alarming_tp, self.alarming)

    @property
    def recall(self) -> float | None:
        return rate(self.alarming_tp, self.alarming_tp + self.reassuring_tp)


def classify(alarming: frozenset[str] | None, answer: str) -> str | None:
    """ "alarming", "reassuring" or None for an answer (see :class:`QuestionStats`)."""
    if alarming is None:
        return None
    if answer in alarming:
        return "alarming"
    if answer in (YES, NO):
        return "reassuring"
    return None


def tally_questions(counts, playbooks: dict) -> list[QuestionStats]:
    """Fold ``(version, question, answer, disposition, count)`` rows into per-question stats.

    ``playbooks`` maps a version key (the ``playbook_version`` of the answers) to a parsed
    playbook; answers of an unknown version are skipped. A question is keyed by technique and
    id, so versions of one playbook add up."""
    stats: dict[tuple[str, str], QuestionStats] = {}
    for version, question, answer, disposition, count in counts:
        playbook = playbooks.get(version)
        if playbook is None:
            continue
        try:
            text = playbook.question(question).text
        except KeyError:
            continue
        criteria = alarming_answers(playbook)
        key = (playbook.technique, question)
        row = stats.get(key)
        if row is None:
            row = stats[key] = QuestionStats(
                playbook.technique, question, text, question in criteria
            )
        row.answered += count
        kind = classify(criteria.get(question), answer or "")
        if kind is None or disposition not in MALICIOUS | BENIGN:
            continue
        outcome = "tp" if disposition in MALICIOUS else "benign"
        counter = f"{kind}_{outcome}"  # alarming_tp, reassuring_benign, ...
        setattr(row, counter, getattr(row, counter) + count)
    return sorted(
        stats.values(),
        key=lambda s: (
            s.precision is None,
            -(s.precision or 0),
            -s.alarming,
            s.technique,
            s.question,
        ),
    )


def question_counts(start: datetime, end: datetime) -> list[tuple]:
    """The raw ``(version, question, answer, disposition, count)`` rows for the cohort."""
    sql = _ANSWERS.format(
        disposition=json_text("e.data", "disposition"),
        question=json_text("q.data", "question"),
        answer=json_text("q.data", "answer"),
        version=json_text("q.data", "playbook_version"),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [param(start), param(end)])
        return [(str(v) if v is not None else None, *rest) for v, *rest in cursor.fetchall()]


def question_stats(start: datetime, end: datetime) -> list[QuestionStats]:
    """Per-question agreement for the alerts raised in ``[start, end)``."""
    counts = question_counts(start, end)
    ids = {int(v) for v, *_ in counts if v is not None and str(v).isdigit()}
    playbooks = {
        str(version.pk): version.parsed()
        for version in PlaybookVersion.objects.filter(pk__in=ids).select_related(
            "playbook__technique"
        )
    }
    return tally_questions(counts, playbooks)
