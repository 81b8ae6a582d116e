"""Errors raised by the EQL engine; each carries a 1-based line and column and a caret excerpt."""

from __future__ import annotations


def excerpt(text: str, line: int, column: int) -> str:
    """The query line at ``line`` and a caret under ``column`` (both 1-based)."""
    lines = text.splitlines() or [""]
    line = min(max(line, 1), len(lines))
    src = lines[line - 1].replace("\t", " ")
    column = min(max(column, 1), len(src) + 1)
    return f"{src}\n{' ' * (column - 1)}^"


class EqlError(Exception):
    """A query Elasticsearch would reject (verification error), or a bad option."""

    def __init__(self, message: str, line: int = 1, column: int = 1, text: str | None = None):
        self.reason = message
        self.line = line
        self.column = column
        full = f"line {line}:{column}: {message}"
        if text is not None:
            full += "\n" + excerpt(text, line, column)
        super().__init__(full)


class EqlSyntaxError(EqlError):
    """A query that does not parse."""
