"""Coercing the loosely typed values of Windows records (evtx, NXLog, Winlogbeat) to ints and
strings: one home for what every reader needs, so a number is read the same way in each."""

from __future__ import annotations

from typing import Any

__all__ = ["int_or_none", "number_or_none", "str_or_empty"]


def int_or_none(value: Any, base: int = 10) -> int | None:
    """``value`` as an int: an int as it is, a string of digits in ``base`` (surrounding space
    ignored; ``base=0`` reads Python literals such as ``0x1F``); None for anything else,
    booleans included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), base)
        except ValueError:
            return None
    return None


def number_or_none(value: Any) -> int | None:
    """A pid, port or zone id as Windows writes them: decimal, or hexadecimal after ``0x``."""
    if isinstance(value, str) and value.strip()[:2].lower() == "0x":
        return int_or_none(value, 16)
    return int_or_none(value)


def str_or_empty(value: Any) -> str:
    """``value`` when it is a string, else ``""`` (the readers' "not given")."""
    return value if isinstance(value, str) else ""
