"""The playbook format: the frozen dataclasses a technique playbook is loaded into.

Pure Python, no Django import. The format is described in ``triage/playbooks/README.md``; in
short a playbook is a mapping with ``technique``, ``version``, ``title`` and the seven sections
``log_sources``, ``key_indicators``, ``questions``, ``escalation``, ``l1_steps``, ``t2_actions``
and ``containment``. :mod:`triage.playbook_files` reads YAML files into it and
:mod:`triage.playbook_validation` checks the data on the way in; every problem raises
:class:`PlaybookFormatError`, whose message names the file and the field
(``T1059.001.yaml: escalation.criteria[2].when.any[0].question: unknown question 'obfuscatd'``).

Versioning rule: a file's ``version`` must increase whenever its content changes.
:attr:`Playbook.content_hash` covers everything except ``version``, so a loader compares it with
the stored hash and calls :func:`version_change` to decide between "unchanged" and "new version",
or to refuse a file whose content changed under the same (or a lower) version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

SECTIONS: tuple[str, ...] = (
    "log_sources",
    "key_indicators",
    "questions",
    "escalation",
    "l1_steps",
    "t2_actions",
    "containment",
)
TOP_LEVEL_KEYS: tuple[str, ...] = ("technique", "version", "title", *SECTIONS)
CHECKLISTS: tuple[str, ...] = ("l1_steps", "t2_actions", "containment")

YES_NO_UNKNOWN = "yes_no_unknown"
TEXT = "text"
QUESTION_TYPES: tuple[str, ...] = (YES_NO_UNKNOWN, TEXT)
YES, NO, UNKNOWN = "yes", "no", "unknown"
CHOICES: tuple[str, ...] = (YES, NO, UNKNOWN)


class PlaybookFormatError(ValueError):
    """A playbook file is not valid. ``source`` is the file (or ``<string>``), ``field`` the
    dotted path of the offending value (empty for the whole file)."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "<string>",
        field: str = "",
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.field = field
        self.line = line
        self.column = column
        where = source
        if line is not None:
            where += f":{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


# --- the data model -------------------------------------------------------------------------


@dataclass(frozen=True)
class LogSource:
    name: str
    detail: str


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    type: Literal["yes_no_unknown", "text"]
    help: str = ""


@dataclass(frozen=True)
class AnswerIs:
    """Met when the question's answer is one of ``answers`` (a yes_no_unknown question)."""

    question: str
    answers: tuple[str, ...]

    def leaves(self) -> Iterator[AnswerIs]:
        yield self


@dataclass(frozen=True)
class _Group:
    """A condition made of other conditions (see :class:`AnyOf` and :class:`AllOf`)."""

    conditions: tuple[Condition, ...]

    def leaves(self) -> Iterator[AnswerIs]:
        """Every :class:`AnswerIs` below this condition, depth first."""
        for condition in self.conditions:
            yield from condition.leaves()


@dataclass(frozen=True)
class AnyOf(_Group):
    """Met when at least one of ``conditions`` is met."""


@dataclass(frozen=True)
class AllOf(_Group):
    """Met when every one of ``conditions`` is met."""


Condition = AnswerIs | AnyOf | AllOf


@dataclass(frozen=True)
class Criterion:
    id: str
    text: str
    when: Condition
    urgent: bool = False

    def question_ids(self) -> tuple[str, ...]:
        """The questions this criterion depends on, each once, in first-use order."""
        return tuple(dict.fromkeys(leaf.question for leaf in self.when.leaves()))


@dataclass(frozen=True)
class Close:
    """What a "close" recommendation needs besides no criterion being met: ``requires`` lists
    extra questions (often the benign-evidence ones) that must have a definite answer."""

    text: str
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Escalation:
    criteria: tuple[Criterion, ...]
    close: Close


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    text: str
    help: str = ""


@dataclass(frozen=True)
class Playbook:
    technique: str
    version: int
    title: str
    log_sources: tuple[LogSource, ...]
    key_indicators: tuple[str, ...]
    questions: tuple[Question, ...]
    escalation: Escalation
    l1_steps: tuple[ChecklistItem, ...]
    t2_actions: tuple[ChecklistItem, ...]
    containment: tuple[ChecklistItem, ...]
    source: str = field(default="<string>", compare=False)

    def question(self, question_id: str) -> Question:
        """The question with this id; KeyError if there is none."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def criterion(self, criterion_id: str) -> Criterion:
        """The escalation criterion with this id; KeyError if there is none."""
        for criterion in self.escalation.criteria:
            if criterion.id == criterion_id:
                return criterion
        raise KeyError(criterion_id)

    def relevant_question_ids(self) -> tuple[str, ...]:
        """Questions the recommendation depends on (used by a criterion or by
        ``escalation.close.requires``), in the playbook's question order."""
        used = {qid for c in self.escalation.criteria for qid in c.question_ids()}
        used.update(self.escalation.close.requires)
        return tuple(q.id for q in self.questions if q.id in used)

    def to_dict(self) -> dict[str, Any]:
        """The canonical form: plain dicts, lists, strings, ints and bools, with defaults filled
        in. ``playbook_from_dict(p.to_dict())`` gives back an equal playbook."""
        return {
            "technique": self.technique,
            "version": self.version,
            "title": self.title,
            "log_sources": [{"name": s.name, "detail": s.detail} for s in self.log_sources],
            "key_indicators": list(self.key_indicators),
            "questions": [
                {"id": q.id, "text": q.text, "type": q.type, "help": q.help} for q in self.questions
            ],
            "escalation": {
                "criteria": [
                    {
                        "id": c.id,
                        "text": c.text,
                        "urgent": c.urgent,
                        "when": _condition_dict(c.when),
                    }
                    for c in self.escalation.criteria
                ],
                "close": {
                    "text": self.escalation.close.text,
                    "requires": list(self.escalation.close.requires),
                },
            },
            **{
                name: [{"id": i.id, "text": i.text, "help": i.help} for i in getattr(self, name)]
                for name in CHECKLISTS
            },
        }

    @property
    def content_hash(self) -> str:
        """sha256 (hex) of the canonical content without ``version``: it changes exactly when
        something an analyst sees or the recommendation uses changes, not with YAML layout,
        comments or key order."""
        content = self.to_dict()
        del content["version"]
        material = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _condition_dict(condition: Condition) -> dict[str, Any]:
    if isinstance(condition, AnswerIs):
        return {"question": condition.question, "answer": list(condition.answers)}
    key = "any" if isinstance(condition, AnyOf) else "all"
    return {key: [_condition_dict(c) for c in condition.conditions]}


def version_change(
    stored_version: int | None, stored_hash: str | None, playbook: Playbook
) -> Literal["new", "unchanged", "new_version"]:
    """What a loader should do with a file, given the newest stored version of its technique.

    - nothing stored: ``"new"``;
    - same content and same version: ``"unchanged"``;
    - a higher version (content changed or not): ``"new_version"``;
    - changed content with the same or a lower version, or a lower version at all:
      :class:`PlaybookFormatError` (bump ``version`` in the file).
    """
    if stored_version is None:
        return "new"
    if playbook.version > stored_version:
        return "new_version"
    if playbook.version == stored_version and playbook.content_hash == stored_hash:
        return "unchanged"
    if playbook.version == stored_version:
        message = f"content changed but version is still {stored_version}; increase version"
    else:
        message = f"version {playbook.version} is lower than the stored version {stored_version}"
    raise PlaybookFormatError(message, source=playbook.source, field="version")
