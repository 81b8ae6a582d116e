"""The htmx conventions of every page (DESIGN §6), in one place.

The view, never the client, picks what to render: the whole page, or one ``{% partialdef %}``
fragment of it (``"page.html#fragment"``) when htmx asks for the element that fragment draws.
After a POST, htmx gets a fresh render; a browser without JavaScript gets a redirect.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render


def wants_fragment(request: HttpRequest, target: str) -> bool:
    """True when htmx asks for the element with id ``target`` (not for the whole page)."""
    return bool(request.htmx) and request.htmx.target == target


def render_fragment_or_page(
    request: HttpRequest, template: str, fragment: str, context: dict, *, target: str
) -> HttpResponse:
    """``template#fragment`` when htmx targets ``target``, else the whole ``template``: the
    same context either way, so a bookmarked URL draws what the fragment drew."""
    name = f"{template}#{fragment}" if wants_fragment(request, target) else template
    return render(request, name, context)


def rerender_or_redirect(
    request: HttpRequest,
    rerender: Callable[[], HttpResponse],
    redirect_to: str,
    *,
    error: str = "",
) -> HttpResponse:
    """Answer a POST: for htmx, ``rerender()`` (drawn from fresh state after the change);
    without htmx, a redirect to ``redirect_to`` with ``error`` (if any) as a message."""
    if request.htmx:
        return rerender()
    if error:
        messages.error(request, error)
    return redirect(redirect_to)
