"""Roles are Django groups: ``l1``, ``t2`` and ``manager``.

Views declare the roles they serve with :func:`role_required`; the server refuses everyone else
with 403. A user of the right role asking for an object outside their reach gets a 404 from
the view's own queryset, so the existence of that object is not revealed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

L1 = "l1"
T2 = "t2"
MANAGER = "manager"
ALL_ROLES = (L1, T2, MANAGER)


def roles_of(user) -> frozenset[str]:
    """The role names of ``user`` (cached on the user object for the request)."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_triage_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        user._triage_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(roles_of(user).intersection(roles))


def role_required(*roles: str) -> Callable:
    """Require a logged-in user holding at least one of ``roles``; others get 403."""

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.required_roles = roles
        return wrapped

    return decorator


def home_url_name(user) -> str:
    """Where a user lands after login: the page of their main role."""
    user_roles = roles_of(user)
    if MANAGER in user_roles:
        return "manager:history"
    if T2 in user_roles:
        return "queue:t2"
    if L1 in user_roles:
        return "queue:l1"
    return "no_role"


def role_context(request: HttpRequest) -> dict:
    """Template context: which navigation entries the user's roles may use."""
    user_roles = roles_of(request.user) if hasattr(request, "user") else frozenset()
    return {
        "user_roles": user_roles,
        "is_l1": L1 in user_roles,
        "is_t2": T2 in user_roles,
        "is_manager": MANAGER in user_roles,
    }
