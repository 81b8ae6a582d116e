"""The transition table (triage.workflow) answers "what may this user do now" as DESIGN §5 says."""

from types import SimpleNamespace

import pytest

from triage import workflow
from triage.workflow import allowed_actions, state_allows

ME, SOMEONE_ELSE = 1, 2


def user(*roles):
    # roles_of() reads the per-request cache first, so no database is needed.
    return SimpleNamespace(pk=ME, is_authenticated=True, _triage_roles=frozenset(roles))


def alert(status, assignee_id=None):
    return SimpleNamespace(status=status, assignee_id=assignee_id)


@pytest.mark.parametrize(
    ("roles", "status", "assignee", "expected"),
    [
        (("l1",), "new", None, {"claim", "bulk_close"}),
        (("l1",), "triage", ME, {"answer", "l1_steps", "escalate", "close", "bulk_close"}),
        (("l1",), "triage", SOMEONE_ELSE, set()),
        (("l1",), "escalated", None, set()),
        (("t2",), "new", None, set()),
        (("t2",), "escalated", None, {"t2_claim"}),
        (("t2",), "investigating", ME, {"t2_accept", "t2_return", "t2_actions", "t2_close"}),
        (("t2",), "investigating", SOMEONE_ELSE, set()),
        (("t2",), "containment", ME, {"t2_actions", "containment", "t2_close"}),
        (("t2",), "closed", ME, set()),
        (("manager",), "new", None, set()),
        (("manager",), "triage", ME, set()),
        (("l1", "t2"), "escalated", None, {"t2_claim"}),
    ],
)
def test_allowed_actions_follow_role_status_and_claim(roles, status, assignee, expected):
    assert allowed_actions(alert(status, assignee), user(*roles)) == expected


def test_the_state_check_ignores_roles_so_services_refuse_a_wrong_role_first():
    # A manager holding the claim passes the state check; the role check refuses them.
    assert state_allows(workflow.ANSWER, alert("triage", ME), user("manager"))
    assert workflow.required_role(workflow.ANSWER) == "l1"
    assert workflow.required_role(workflow.CONTAINMENT) == "t2"


def test_every_action_belongs_to_exactly_one_role():
    for action in workflow.ACTIONS:
        assert len({t.role for t in workflow.TRANSITIONS if t.action == action}) == 1
