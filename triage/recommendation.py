"""The L1 recommendation: "escalate", "close" or "undecided" from a playbook and the answers.

Pure function, no Django import. The rules, precisely:

1. **Answers.** A yes_no_unknown question is answered by "yes", "no" or "unknown" (case and
   surrounding spaces ignored; ``True``/``False`` mean yes/no). A text question is answered by
   any non-blank text. Anything else (blank, ``None``, another word, an unknown question id) is
   *not answered*. Text answers never affect a criterion: criteria can only name
   yes_no_unknown questions (the format enforces it).
2. **Conditions** are evaluated in three-valued logic. A leaf ``{question, answer: [...]}`` is
   *met* when the answer is listed, *not met* when a different definite answer was given, and
   *open* when the question is unanswered, or answered "unknown" while the leaf does not list
   "unknown" (the true answer could still be the one listed). ``any`` is met if one part is met,
   not met if all parts are not met, else open; ``all`` is the mirror image.
3. **Escalate** as soon as any criterion is met, whatever else is unanswered. ``reasons`` are
   the texts of the met criteria, in playbook order; ``urgent`` is true when one of them is
   marked urgent.
4. **Close** only when every relevant question (used by a criterion or listed in
   ``escalation.close.requires``) is answered, no criterion is met *or open*, and every question
   in ``close.requires`` has a definite answer (yes/no, or text). ``reasons`` are the playbook's
   close text and a line saying no criterion is met.
5. Otherwise **undecided**. ``missing`` lists the relevant questions not yet answered;
   ``unknown`` lists the questions answered "unknown" that stand in the way of a close.

So "unknown" never counts as benign: it either meets a criterion that lists it (the playbook
says "if you cannot tell, escalate"), or it keeps the criterion open and blocks a close. It only
lets a close through when no answer to that question could change the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from triage.playbook_format import (
    CHOICES,
    NO,
    UNKNOWN,
    YES,
    YES_NO_UNKNOWN,
    AllOf,
    AnswerIs,
    AnyOf,
    Condition,
    Playbook,
)

ESCALATE = "escalate"
CLOSE = "close"
UNDECIDED = "undecided"
DECISIONS: tuple[str, ...] = (ESCALATE, CLOSE, UNDECIDED)

Decision = Literal["escalate", "close", "undecided"]


@dataclass(frozen=True)
class Answer:
    """An analyst's answer: ``value`` is yes/no/unknown or free text; ``note`` is optional."""

    value: str
    note: str = ""


@dataclass(frozen=True)
class Recommendation:
    decision: Decision
    reasons: tuple[str, ...]
    met_criteria: tuple[str, ...]
    missing: tuple[str, ...]
    unknown: tuple[str, ...] = ()
    urgent: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, e.g. for an AlertEvent's data."""
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "met_criteria": list(self.met_criteria),
            "missing": list(self.missing),
            "unknown": list(self.unknown),
            "urgent": self.urgent,
        }


def normalize_answers(playbook: Playbook, answers: Mapping[Any, Any] | None) -> dict[str, str]:
    """The answered questions of ``playbook`` as ``{question_id: value}``: yes/no/unknown for
    yes_no_unknown questions, stripped text for text questions. Values that do not answer their
    question (see the module docstring) and ids the playbook does not have are left out."""
    result: dict[str, str] = {}
    if not isinstance(answers, Mapping):
        return result
    for question in playbook.questions:
        value = _answer_value(answers.get(question.id))
        if value is None:
            continue
        if question.type == YES_NO_UNKNOWN:
            value = value.lower()
            if value not in CHOICES:
                continue
        result[question.id] = value
    return result


def _answer_value(raw: Any) -> str | None:
    if isinstance(raw, Answer):
        raw = raw.value
    elif isinstance(raw, Mapping):
        raw = raw.get("value")
    if isinstance(raw, bool):
        return YES if raw else NO
    if not isinstance(raw, str):
        return None
    value = raw.strip()
    return value or None


def evaluate(condition: Condition, values: Mapping[str, str]) -> bool | None:
    """True (met), False (not met) or None (open) for normalised ``values``; see rule 2."""
    if isinstance(condition, AnswerIs):
        value = values.get(condition.question)
        if value is None:
            return None
        if value in condition.answers:
            return True
        return None if value == UNKNOWN else False
    if not isinstance(condition, AnyOf | AllOf):
        raise TypeError(f"not a condition: {condition!r}")
    results = [evaluate(part, values) for part in condition.conditions]
    if isinstance(condition, AnyOf):
        if any(r is True for r in results):
            return True
        return False if all(r is False for r in results) else None
    if any(r is False for r in results):
        return False
    return True if all(r is True for r in results) else None


def recommend(playbook: Playbook, answers: Mapping[Any, Any] | None) -> Recommendation:
    """Recommend escalate, close or undecided; see the module docstring for the exact rules.

    ``answers`` maps question ids to an :class:`Answer`, a plain string, a ``{"value": ...}``
    mapping or a bool. Never raises for odd answers: they count as not answered.
    """
    values = normalize_answers(playbook, answers)
    criteria = playbook.escalation.criteria
    results = {c.id: evaluate(c.when, values) for c in criteria}
    met = [c for c in criteria if results[c.id] is True]
    relevant = playbook.relevant_question_ids()
    missing = tuple(qid for qid in relevant if qid not in values)

    required = set(playbook.escalation.close.requires)
    blocking_unknown = {
        qid
        for c in criteria
        if results[c.id] is None
        for qid in c.question_ids()
        if values.get(qid) == UNKNOWN
    }
    blocking_unknown.update(
        qid
        for qid in required
        if values.get(qid) == UNKNOWN and playbook.question(qid).type == YES_NO_UNKNOWN
    )
    unknown = tuple(q.id for q in playbook.questions if q.id in blocking_unknown)

    if met:
        return Recommendation(
            decision=ESCALATE,
            reasons=tuple(c.text for c in met),
            met_criteria=tuple(c.id for c in met),
            missing=missing,
            unknown=unknown,
            urgent=any(c.urgent for c in met),
        )
    if not missing and not unknown and all(result is False for result in results.values()):
        # With every relevant question answered, a criterion can only stay open through an
        # "unknown" answer, and those are in ``unknown``; the last test is belt and braces.
        return Recommendation(
            decision=CLOSE,
            reasons=(
                playbook.escalation.close.text,
                f"None of the {len(criteria)} escalation criteria is met.",
            ),
            met_criteria=(),
            missing=(),
            unknown=(),
        )
    reasons = [f"Not answered yet: {playbook.question(qid).text}" for qid in missing]
    reasons += [
        f"Answered unknown, which rules out a close: {playbook.question(qid).text}"
        for qid in unknown
    ]
    return Recommendation(
        decision=UNDECIDED,
        reasons=tuple(reasons),
        met_criteria=(),
        missing=missing,
        unknown=unknown,
    )
