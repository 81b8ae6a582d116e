"""Who may do what to an alert now: one declarative table for views, services and templates.

Each row of :data:`TRANSITIONS` says that an action is open to a role when the alert is in one
of some statuses and its claim is in a given state (nobody's, or the acting user's). The views
offer exactly the actions :func:`allowed_actions` returns; ``triage.services`` refuses every
other one (:func:`required_role`, then :func:`state_allows` on the locked row). The table says
whether an action is allowed; the compare-and-set ``UPDATE … WHERE`` in ``services`` still
decides which of two analysts acting at once wins.

The table follows DESIGN §5. Action names are those of the alert URLs where one exists;
checklist actions are named after their section (``l1_steps``, ``t2_actions``,
``containment``).
"""

from __future__ import annotations

from dataclasses import dataclass

from triage import roles
from triage.models import Status

# Ownership of the alert's claim, as the acting user sees it.
FREE = "free"  # nobody holds it
MINE = "mine"  # the acting user holds it

CLAIM = "claim"
ANSWER = "answer"
L1_STEPS = "l1_steps"
ESCALATE = "escalate"
CLOSE = "close"
BULK_CLOSE = "bulk_close"
T2_CLAIM = "t2_claim"
T2_ACCEPT = "t2_accept"
T2_RETURN = "t2_return"
T2_ACTIONS = "t2_actions"
CONTAINMENT = "containment"
T2_CLOSE = "t2_close"


@dataclass(frozen=True)
class Transition:
    """``action`` is open to ``role`` on alerts in ``statuses`` whose claim is ``ownership``."""

    action: str
    role: str
    statuses: frozenset[str]
    ownership: str


def _row(action: str, role: str, statuses: tuple[str, ...], ownership: str) -> Transition:
    return Transition(action, role, frozenset(statuses), ownership)


INVESTIGATING_OR_CONTAINMENT = (Status.INVESTIGATING, Status.CONTAINMENT)

TRANSITIONS: tuple[Transition, ...] = (
    # L1: claim a new alert, then work it while it is in triage with them.
    _row(CLAIM, roles.L1, (Status.NEW,), FREE),
    _row(ANSWER, roles.L1, (Status.TRIAGE,), MINE),
    _row(L1_STEPS, roles.L1, (Status.TRIAGE,), MINE),
    _row(ESCALATE, roles.L1, (Status.TRIAGE,), MINE),
    _row(CLOSE, roles.L1, (Status.TRIAGE,), MINE),
    # Bulk close from the queue: noise nobody has claimed, or alerts in triage with the user.
    _row(BULK_CLOSE, roles.L1, (Status.NEW,), FREE),
    _row(BULK_CLOSE, roles.L1, (Status.TRIAGE,), MINE),
    # T2: claim an escalated alert, then work it while investigating or containing.
    _row(T2_CLAIM, roles.T2, (Status.ESCALATED,), FREE),
    _row(T2_ACCEPT, roles.T2, (Status.INVESTIGATING,), MINE),
    _row(T2_RETURN, roles.T2, (Status.INVESTIGATING,), MINE),
    _row(T2_ACTIONS, roles.T2, INVESTIGATING_OR_CONTAINMENT, MINE),
    _row(CONTAINMENT, roles.T2, (Status.CONTAINMENT,), MINE),
    # Closing from containment also needs every containment item resolved (services checks).
    _row(T2_CLOSE, roles.T2, INVESTIGATING_OR_CONTAINMENT, MINE),
)

ACTIONS: frozenset[str] = frozenset(t.action for t in TRANSITIONS)
_ROLE_OF: dict[str, str] = {t.action: t.role for t in TRANSITIONS}


def required_role(action: str) -> str:
    """The role an action belongs to (every row of one action names the same role)."""
    return _ROLE_OF[action]


def ownership(assignee_id: int | None, user) -> str | None:
    """:data:`FREE`, :data:`MINE`, or None when someone else holds the claim."""
    if assignee_id is None:
        return FREE
    return MINE if assignee_id == user.pk else None


def state_allows(action: str, alert, user) -> bool:
    """True when the alert's status and claim allow ``action`` by ``user`` (role not checked:
    services refuse a wrong role with ``PermissionDenied`` before they look at the state)."""
    held = ownership(alert.assignee_id, user)
    return any(
        t.action == action and alert.status in t.statuses and t.ownership == held
        for t in TRANSITIONS
    )


def allowed_actions(alert, user) -> frozenset[str]:
    """Every action ``user`` may take on ``alert`` now: their roles and the alert's state."""
    user_roles = roles.roles_of(user)
    held = ownership(alert.assignee_id, user)
    return frozenset(
        t.action
        for t in TRANSITIONS
        if t.role in user_roles and alert.status in t.statuses and t.ownership == held
    )
