"""Decode what a command line hides: PowerShell ``-EncodedCommand`` (base64 of UTF-16LE text),
base64 passed to ``atob(...)`` or ``[Convert]::FromBase64String(...)``.

Pure Python. The result is plain text for the template to escape; nothing here is trusted or
executed. Work is bounded: at most ``MAX_INPUT`` characters are scanned, a payload longer than
``MAX_PAYLOAD`` is cut, and decoded text is searched again at most ``MAX_DEPTH`` levels deep
(a payload that decodes to another encoded command is common).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

MAX_INPUT = 256 * 1024
MAX_PAYLOAD = 64 * 1024
MAX_DEPTH = 3
MAX_RESULTS = 10

_ENCODED_FLAG = re.compile(
    r"""(?:^|[\s"'])[-/\u2013\u2014](?P<flag>[A-Za-z]{1,16})\s+["']?(?P<b64>[A-Za-z0-9+/]{8,}={0,2})"""
)
_ATOB = re.compile(r"""\batob\s*\(\s*(?P<q>["'`])(?P<b64>[A-Za-z0-9+/=\s]{8,}?)(?P=q)\s*\)""", re.I)
_FROM_B64 = re.compile(
    r"""FromBase64String\s*\(\s*(?P<q>["'])(?P<b64>[A-Za-z0-9+/=\s]{8,}?)(?P=q)\s*\)""", re.I
)


@dataclass(frozen=True)
class Decoded:
    method: str  # "-EncodedCommand", "atob()", "FromBase64String()"
    encoded: str  # the payload as it appeared (possibly cut)
    text: str  # what it decodes to
    encoding: str  # "utf-16le" or "utf-8"
    depth: int = 0


def _is_encoded_command_flag(flag: str) -> bool:
    flag = flag.lower()
    # PowerShell accepts any unambiguous prefix of -EncodedCommand, plus the alias -ec.
    return flag == "ec" or (len(flag) >= 1 and "encodedcommand".startswith(flag))


def _b64(payload: str) -> bytes | None:
    compact = re.sub(r"\s+", "", payload)[:MAX_PAYLOAD]
    compact = compact[: len(compact) - len(compact) % 4] if "=" not in compact else compact
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _printable_ratio(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for ch in text if ch.isprintable() or ch in "\r\n\t")
    return good / len(text)


def _text_of(raw: bytes, prefer_utf16: bool) -> tuple[str, str] | None:
    """The readable text of decoded bytes, or None when they are not text."""
    looks_utf16 = len(raw) >= 2 and raw[1::2].count(0) >= len(raw) // 4
    order = ("utf-16le", "utf-8") if (prefer_utf16 or looks_utf16) else ("utf-8", "utf-16le")
    for encoding in order:
        if encoding == "utf-16le" and len(raw) % 2:
            continue
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _printable_ratio(text) >= 0.85:
            return text, encoding
    return None


def decode_command_line(command_line: str | None) -> list[Decoded]:
    """Every hidden payload found in ``command_line``, outermost first."""
    results: list[Decoded] = []
    if command_line:
        _scan(str(command_line)[:MAX_INPUT], 0, results)
    return results


def _scan(text: str, depth: int, results: list[Decoded]) -> None:
    if depth >= MAX_DEPTH:
        return
    found: list[tuple[str, str, bool]] = []
    for match in _ENCODED_FLAG.finditer(text):
        if _is_encoded_command_flag(match.group("flag")):
            found.append(("-EncodedCommand", match.group("b64"), True))
    found += [("atob()", m.group("b64"), False) for m in _ATOB.finditer(text)]
    found += [("FromBase64String()", m.group("b64"), False) for m in _FROM_B64.finditer(text)]
    for method, payload, prefer_utf16 in found:
        if len(results) >= MAX_RESULTS:
            return
        raw = _b64(payload)
        decoded = _text_of(raw, prefer_utf16) if raw else None
        if decoded is None:
            continue
        plain, encoding = decoded
        results.append(Decoded(method, payload[:MAX_PAYLOAD], plain, encoding, depth))
        _scan(plain, depth + 1, results)
