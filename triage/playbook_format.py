"""Playbook files: load and validate a technique playbook into frozen dataclasses.

Pure Python (PyYAML, no Django import). The format is described in
``triage/playbooks/README.md``; in short a playbook is a YAML mapping with ``technique``,
``version``, ``title`` and the seven sections ``log_sources``, ``key_indicators``, ``questions``,
``escalation``, ``l1_steps``, ``t2_actions`` and ``containment``.

Every problem raises :class:`PlaybookFormatError`, whose message names the file and the field
(``T1059.001.yaml: escalation.criteria[2].when.any[0].question: unknown question 'obfuscatd'``).

Versioning rule: a file's ``version`` must increase whenever its content changes.
:attr:`Playbook.content_hash` covers everything except ``version``, so a loader compares it with
the stored hash and calls :func:`version_change` to decide between "unchanged" and "new version",
or to refuse a file whose content changed under the same (or a lower) version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

# The shipped ATT&CK rows: plain data, Django-free like this module.
from rules import attack

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

YES_NO_UNKNOWN = "yes_no_unknown"
TEXT = "text"
QUESTION_TYPES: tuple[str, ...] = (YES_NO_UNKNOWN, TEXT)
YES, NO, UNKNOWN = "yes", "no", "unknown"
CHOICES: tuple[str, ...] = (YES, NO, UNKNOWN)

MAX_FILE_BYTES = 256 * 1024
MAX_TEXT_CHARS = 2000
MAX_ITEMS = 100
MAX_CONDITION_DEPTH = 6
MAX_VERSION = 2**31 - 1  # fits a PostgreSQL integer column
ID_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
# C0 controls other than tab and newline, DEL and C1 controls: never meaningful in prose,
# and a NUL or escape sequence in a playbook is more likely an attack than a typo.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
PLAYBOOK_SUFFIXES = (".yaml", ".yml")


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

    def question_ids(self) -> Iterator[str]:
        yield self.question


@dataclass(frozen=True)
class AnyOf:
    """Met when at least one of ``conditions`` is met."""

    conditions: tuple[Condition, ...]

    def question_ids(self) -> Iterator[str]:
        for condition in self.conditions:
            yield from condition.question_ids()


@dataclass(frozen=True)
class AllOf:
    """Met when every one of ``conditions`` is met."""

    conditions: tuple[Condition, ...]

    def question_ids(self) -> Iterator[str]:
        for condition in self.conditions:
            yield from condition.question_ids()


Condition = AnswerIs | AnyOf | AllOf


@dataclass(frozen=True)
class Criterion:
    id: str
    text: str
    when: Condition
    urgent: bool = False

    def question_ids(self) -> tuple[str, ...]:
        """The questions this criterion depends on, each once, in first-use order."""
        return tuple(dict.fromkeys(self.when.question_ids()))


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
        in. ``parse_playbook(yaml.safe_dump(p.to_dict()))`` gives back an equal playbook."""
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
                for name in ("l1_steps", "t2_actions", "containment")
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


# --- loading --------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader, stricter: YAML 1.1's yes/no/on/off stay strings (so ``answer: yes`` means
    the answer "yes"), duplicate keys are errors, and aliases are refused (no billion laughs)."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in playbooks", mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_playbook(path_or_text: str | os.PathLike[str]) -> Playbook:
    """Load and validate one playbook.

    A ``pathlib.Path`` (any ``os.PathLike``) is read as a file, as is a one-line ``str`` ending
    in ``.yaml`` or ``.yml``; any other ``str`` is the YAML text itself (see also
    :func:`parse_playbook`). Raises :class:`PlaybookFormatError`; never returns a partly valid
    playbook.
    """
    if isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str)
        and "\n" not in path_or_text
        and path_or_text.strip().lower().endswith(PLAYBOOK_SUFFIXES)
    ):
        return _load_file(Path(path_or_text))
    if not isinstance(path_or_text, str):
        raise PlaybookFormatError(
            f"expected a path or YAML text, got {type(path_or_text).__name__}"
        )
    return parse_playbook(path_or_text)


def parse_playbook(text: str, source: str = "<string>") -> Playbook:
    """Validate YAML text as a playbook; ``source`` names it in error messages."""
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_FILE_BYTES:
        raise PlaybookFormatError(f"larger than {MAX_FILE_BYTES} bytes", source=source)
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a stricter SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise PlaybookFormatError(
            f"invalid YAML: {problem}",
            source=source,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except RecursionError:
        raise PlaybookFormatError("invalid YAML: nested too deeply", source=source) from None
    except yaml.YAMLError as exc:
        raise PlaybookFormatError(f"invalid YAML: {exc}", source=source) from None
    return _Validator(source).playbook(data)


def playbook_from_dict(data: Any, source: str = "<dict>") -> Playbook:
    """Validate already-parsed data (e.g. a stored ``Playbook.to_dict()``) as a playbook, with
    the same checks and errors as a file."""
    return _Validator(source).playbook(data)


def load_all(directory: str | os.PathLike[str]) -> list[Playbook]:
    """Every playbook (``*.yaml``/``*.yml``) in ``directory``, sorted by technique id.

    Besides each file's own validation, a file must be named after its technique
    (``T1059.001.yaml``) and a technique may have only one file. Other files (the README) are
    ignored. Raises :class:`PlaybookFormatError` on the first bad file.
    """
    root = Path(directory)
    if not root.is_dir():
        raise PlaybookFormatError("not a directory", source=str(root))
    playbooks: dict[str, Playbook] = {}
    for path in sorted(root.iterdir()):
        if not path.is_file() or path.suffix.lower() not in PLAYBOOK_SUFFIXES:
            continue
        playbook = _load_file(path)
        if path.stem != playbook.technique:
            raise PlaybookFormatError(
                f"the file of technique {playbook.technique!r} must be named "
                f"{playbook.technique}{path.suffix}",
                source=str(path),
                field="technique",
            )
        if playbook.technique in playbooks:
            raise PlaybookFormatError(
                f"technique {playbook.technique!r} already has a playbook in "
                f"{playbooks[playbook.technique].source}",
                source=str(path),
                field="technique",
            )
        playbooks[playbook.technique] = playbook
    return [playbooks[key] for key in sorted(playbooks)]


def default_directory() -> Path:
    """The directory of the playbooks the product ships (``triage/playbooks``)."""
    return Path(__file__).resolve().parent / "playbooks"


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


def _load_file(path: Path) -> Playbook:
    source = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PlaybookFormatError(f"cannot read: {exc.strerror or exc}", source=source) from None
    if len(raw) > MAX_FILE_BYTES:
        raise PlaybookFormatError(f"larger than {MAX_FILE_BYTES} bytes", source=source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlaybookFormatError(
            f"not UTF-8 (bad byte at offset {exc.start})", source=source
        ) from None
    return parse_playbook(text, source=source)


# --- validation -----------------------------------------------------------------------------


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
            l1_steps=self.checklist(top["l1_steps"], "l1_steps"),
            t2_actions=self.checklist(top["t2_actions"], "t2_actions"),
            containment=self.checklist(top["containment"], "containment"),
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
