"""Playbook files: the strict YAML loader, one file or text, and the folder of shipped playbooks.

Pure Python (PyYAML, no Django import). Reading is careful because a playbook file is input:
its size is capped before parsing, it must be UTF-8, YAML aliases and Python tags are refused,
and YAML 1.1's yes/no/on/off stay strings. YAML errors carry the line and column; the data is
then checked by :func:`triage.playbook_validation.playbook_from_dict`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from triage.playbook_format import Playbook, PlaybookFormatError
from triage.playbook_validation import playbook_from_dict

MAX_FILE_BYTES = 256 * 1024
PLAYBOOK_SUFFIXES = (".yaml", ".yml")


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
    return playbook_from_dict(data, source)


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
