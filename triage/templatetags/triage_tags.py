"""Template filters for attacker-controlled text: escape, clip, and show hidden characters.

Event fields come from the endpoint, so an attacker chooses them. Django escapes HTML; these
filters also make invisible tricks visible: right-to-left overrides and other bidirectional
controls (which make ``evil\u202egnp.exe`` read as ``evilexe.png``), zero-width characters and
control bytes are shown as ``⟨U+202E⟩`` markers, and very long values are clipped.
"""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

_HIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
DEFAULT_CLIP = 4000


def reveal_text(value, clip: int = DEFAULT_CLIP) -> str:
    """Escaped HTML of ``value`` with hidden characters marked and the length clipped."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    text = str(value)
    extra = len(text) - clip if clip and len(text) > clip else 0
    if extra:
        text = text[:clip]
    html = _HIDDEN.sub(
        lambda m: (
            f'<span class="hidden-char" title="hidden character">⟨U+{ord(m.group()):04X}⟩</span>'
        ),
        str(escape(text)),
    )
    if extra:
        html += f'<span class="clipped">… {extra:,} more characters</span>'
    return html


@register.filter
def reveal(value, clip=DEFAULT_CLIP):
    """``{{ value|reveal }}`` or ``{{ value|reveal:200 }}``: safe to put in any element."""
    return mark_safe(reveal_text(value, int(clip)))  # noqa: S308 - escaped above


@register.filter
def has_hidden(value) -> bool:
    return bool(value) and bool(_HIDDEN.search(str(value)))


@register.filter
def get_item(mapping, key):
    if mapping is None:
        return None
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def ecs(doc, path: str):
    """A field of an ECS document by dotted path, nested or dotted keys."""
    return ecs_get(doc, path)


def ecs_get(doc, path: str):
    if not isinstance(doc, dict):
        return None
    if path in doc:
        return doc[path]
    node = doc
    parts = path.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict):
            return None
        if part in node:
            node = node[part]
            continue
        rest = ".".join(parts[i:])
        return node.get(rest)
    return node
