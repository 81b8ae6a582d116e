"""Playbook validation: plain data (parsed YAML, or a stored ``Playbook.to_dict()``) checked
value by value and turned into a :class:`triage.playbook_format.Playbook`.

Every problem raises :class:`~triage.playbook_format.PlaybookFormatError` naming the source and
the dotted path of the offending value (``escalation.criteria[1].when.any[0].question``), with
a message that says what was expected. The checks are written out by hand rather than declared
with a schema library: most of them are about how values refer to each other (criteria name
questions of the right type, every yes/no question is used, ids are unique per section), and the
messages would otherwise have to be translated back from a library's error codes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# The shipped ATT&CK rows: plain data, Django-free like this module.
from rules import attack
from triage.playbook_format import (
    CHECKLISTS,
    CHOICES,
    QUESTION_TYPES,
    TOP_LEVEL_KEYS,
    YES_NO_UNKNOWN,
    AllOf,
    AnswerIs,
    AnyOf,
    ChecklistItem,
    Close,
    Condition,
    Criterion,
    Escalation,
    LogSource,
    Playbook,
    PlaybookFormatError,
    Question,
)

MAX_TEXT_CHARS = 2000
MAX_ITEMS = 100
MAX_CONDITION_DEPTH = 6
MAX_VERSION = 2**31 - 1  # fits a PostgreSQL integer column
ID_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
# C0 controls other than tab and newline, DEL and C1 controls: never meaningful in prose,
# and a NUL or escape sequence in a playbook is more likely an attack than a typo.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def playbook_from_dict(data: Any, source: str = "<dict>") -> Playbook:
    """Validate already-parsed data as a playbook; ``source`` names it in error messages.
    Raises :class:`PlaybookFormatError` on the first bad value; never returns a partly valid
    playbook."""
    return _Validator(source).playbook(data)


class _Validator:
    """Turns parsed YAML into a Playbook, checking each value as it goes. ``field`` arguments
    are dotted paths used in error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, message: str) -> PlaybookFormatError:
        return PlaybookFormatError(message, source=self.source, field=field)

    # generic shapes

    def mapping(
        self, value: Any, field: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(field, f"expected a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str) or key not in required + optional:
                allowed = ", ".join(required + optional)
                raise self.fail(_join(field, str(key)), f"unknown key (allowed: {allowed})")
        for key in required:
            if key not in value:
                raise self.fail(_join(field, key), "missing")
        return value

    def sequence(self, value: Any, field: str, *, allow_empty: bool = False) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(field, f"expected a list, got {_kind(value)}")
        if not value and not allow_empty:
            raise self.fail(field, "must not be empty")
        if len(value) > MAX_ITEMS:
            raise self.fail(field, f"more than {MAX_ITEMS} items")
        return value

    def text(self, value: Any, field: str, *, allow_empty: bool = False) -> str:
        if not isinstance(value, str):
            hint = " (quote it)" if isinstance(value, bool | int | float) else ""
            raise self.fail(field, f"expected a string, got {_kind(value)}{hint}")
        value = value.strip()
        if not value and not allow_empty:
            raise self.fail(field, "must not be empty")
        if len(value) > MAX_TEXT_CHARS:
            raise self.fail(field, f"longer than {MAX_TEXT_CHARS} characters")
        match = _CONTROL_CHARS.search(value)
        if match:
            raise self.fail(field, f"contains control character U+{ord(match.group()):04X}")
        return value

    def slug(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
            raise self.fail(
                field,
                f"{value!r} is not a valid id (lowercase letter, then lowercase letters, digits "
                "or _; at most 64 characters)",
            )
        return value

    def unique_ids(self, items: list[Any], field: str) -> None:
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            if item.id in seen:
                raise self.fail(
                    f"{field}[{index}].id",
                    f"duplicate id {item.id!r} (also {field}[{seen[item.id]}])",
                )
            seen[item.id] = index

    # the playbook

    def playbook(self, data: Any) -> Playbook:
        if data is None:
            raise self.fail("", "empty file")
        top = self.mapping(data, "", TOP_LEVEL_KEYS)
        technique = top["technique"]
        if not isinstance(technique, str) or technique not in attack.technique_ids():
            known = ", ".join(attack.technique_ids())
            raise self.fail("technique", f"unknown technique {technique!r} (known: {known})")
        version = top["version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise self.fail("version", f"expected a whole number >= 1, got {version!r}")
        if version > MAX_VERSION:
            raise self.fail("version", f"must be at most {MAX_VERSION}")
        questions = self.questions(top["questions"])
        return Playbook(
            technique=technique,
            version=version,
            title=self.text(top["title"], "title"),
            log_sources=self.log_sources(top["log_sources"]),
            key_indicators=tuple(
                self.text(item, f"key_indicators[{i}]")
                for i, item in enumerate(self.sequence(top["key_indicators"], "key_indicators"))
            ),
            questions=questions,
            escalation=self.escalation(top["escalation"], questions),
            **{name: self.checklist(top[name], name) for name in CHECKLISTS},
            source=self.source,
        )

    def log_sources(self, value: Any) -> tuple[LogSource, ...]:
        items = []
        for i, item in enumerate(self.sequence(value, "log_sources")):
            field = f"log_sources[{i}]"
            item = self.mapping(item, field, ("name", "detail"))
            items.append(
                LogSource(
                    name=self.text(item["name"], f"{field}.name"),
                    detail=self.text(item["detail"], f"{field}.detail"),
                )
            )
        return tuple(items)

    def questions(self, value: Any) -> tuple[Question, ...]:
        questions = []
        for i, item in enumerate(self.sequence(value, "questions")):
            field = f"questions[{i}]"
            item = self.mapping(item, field, ("id", "text", "type"), ("help",))
            kind = item["type"]
            if kind not in QUESTION_TYPES:
                raise self.fail(
                    f"{field}.type", f"{kind!r} is not one of {', '.join(QUESTION_TYPES)}"
                )
            questions.append(
                Question(
                    id=self.slug(item["id"], f"{field}.id"),
                    text=self.text(item["text"], f"{field}.text"),
                    type=kind,
                    help=self.text(item.get("help", ""), f"{field}.help", allow_empty=True),
                )
            )
        self.unique_ids(questions, "questions")
        return tuple(questions)

    def checklist(self, value: Any, section: str) -> tuple[ChecklistItem, ...]:
        items = []
        for i, item in enumerate(self.sequence(value, section)):
            field = f"{section}[{i}]"
            item = self.mapping(item, field, ("id", "text"), ("help",))
            items.append(
                ChecklistItem(
                    id=self.slug(item["id"], f"{field}.id"),
                    text=self.text(item["text"], f"{field}.text"),
                    help=self.text(item.get("help", ""), f"{field}.help", allow_empty=True),
                )
            )
        self.unique_ids(items, section)
        return tuple(items)

    def escalation(self, value: Any, questions: tuple[Question, ...]) -> Escalation:
        section = self.mapping(value, "escalation", ("criteria", "close"))
        by_id = {q.id: q for q in questions}
        criteria = []
        for i, item in enumerate(self.sequence(section["criteria"], "escalation.criteria")):
            field = f"escalation.criteria[{i}]"
            item = self.mapping(item, field, ("id", "text", "when"), ("urgent",))
            urgent = item.get("urgent", False)
            if not isinstance(urgent, bool):
                raise self.fail(f"{field}.urgent", f"expected true or false, got {urgent!r}")
            criteria.append(
                Criterion(
                    id=self.slug(item["id"], f"{field}.id"),
                    text=self.text(item["text"], f"{field}.text"),
                    when=self.condition(item["when"], f"{field}.when", by_id, depth=1),
                    urgent=urgent,
                )
            )
        self.unique_ids(criteria, "escalation.criteria")

        close_field = "escalation.close"
        close = self.mapping(section["close"], close_field, ("text",), ("requires",))
        requires = []
        for i, qid in enumerate(
            self.sequence(close.get("requires", []), f"{close_field}.requires", allow_empty=True)
        ):
            field = f"{close_field}.requires[{i}]"
            self.known_question(qid, field, by_id)
            if qid in requires:
                raise self.fail(field, f"{qid!r} is listed twice")
            requires.append(qid)

        used = {qid for c in criteria for qid in c.question_ids()} | set(requires)
        for i, question in enumerate(questions):
            if question.type == YES_NO_UNKNOWN and question.id not in used:
                raise self.fail(
                    f"questions[{i}]",
                    f"yes_no_unknown question {question.id!r} is not used by any escalation "
                    "criterion or by escalation.close.requires",
                )
        return Escalation(
            criteria=tuple(criteria),
            close=Close(
                text=self.text(close["text"], f"{close_field}.text"), requires=tuple(requires)
            ),
        )

    def known_question(self, qid: Any, field: str, by_id: Mapping[str, Question]) -> Question:
        if not isinstance(qid, str) or qid not in by_id:
            known = ", ".join(by_id)
            raise self.fail(field, f"unknown question {qid!r} (questions: {known})")
        return by_id[qid]

    def condition(
        self, value: Any, field: str, by_id: Mapping[str, Question], *, depth: int
    ) -> Condition:
        if depth > MAX_CONDITION_DEPTH:
            raise self.fail(field, f"conditions nest deeper than {MAX_CONDITION_DEPTH} levels")
        if not isinstance(value, Mapping):
            raise self.fail(field, f"expected a mapping, got {_kind(value)}")
        if "any" in value or "all" in value:
            key = "any" if "any" in value else "all"
            self.mapping(value, field, (key,))
            items = self.sequence(value[key], f"{field}.{key}")
            conditions = tuple(
                self.condition(item, f"{field}.{key}[{i}]", by_id, depth=depth + 1)
                for i, item in enumerate(items)
            )
            return AnyOf(conditions) if key == "any" else AllOf(conditions)
        if "question" not in value:
            raise self.fail(field, "expected 'any', 'all' or 'question' with 'answer'")
        self.mapping(value, field, ("question", "answer"))
        question = self.known_question(value["question"], f"{field}.question", by_id)
        if question.type != YES_NO_UNKNOWN:
            raise self.fail(
                f"{field}.question",
                f"question {question.id!r} has type {question.type}; criteria can only use "
                f"{YES_NO_UNKNOWN} questions",
            )
        raw = value["answer"]
        answers = raw if isinstance(raw, list) else [raw]
        if not answers:
            raise self.fail(f"{field}.answer", "must name at least one answer")
        for answer in answers:
            if answer not in CHOICES:
                raise self.fail(f"{field}.answer", f"{answer!r} is not one of {', '.join(CHOICES)}")
        if len(set(answers)) != len(answers):
            raise self.fail(f"{field}.answer", "lists an answer twice")
        if len(answers) == len(CHOICES):
            raise self.fail(f"{field}.answer", "lists every answer, so it is always met")
        return AnswerIs(question.id, tuple(c for c in CHOICES if c in answers))


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)
