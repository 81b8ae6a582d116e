"""The L1 recommendation: escalate, close or undecided, and unknown never counts as benign."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.playbook_files import default_directory, load_all
from triage.playbook_format import YES_NO_UNKNOWN, AllOf, AnswerIs, AnyOf, Condition, Playbook
from triage.playbook_validation import playbook_from_dict
from triage.recommendation import (
    CLOSE,
    DECISIONS,
    ESCALATE,
    UNDECIDED,
    Answer,
    evaluate,
    normalize_answers,
    recommend,
)

SHIPPED = {p.technique: p for p in load_all(default_directory())}

# For each shipped playbook, answers an analyst would give for a benign, fully explained alert.
BENIGN: dict[str, dict[str, str]] = {
    "T1059": {
        "expected_origin": "yes",
        "related_alerts": "no",
        "trusted_location": "yes",
        "remote_execution": "no",
        "obfuscated": "no",
        "suspicious_network": "no",
        "unexpected_children": "no",
        "missing_attribution": "no",
        "lateral_movement": "no",
        "privileged_account": "no",
    },
    "T1059.001": {
        "expected_user": "yes",
        "known_management_tool": "no",
        "unusual_parent": "no",
        "obfuscated": "no",
        "stealth_flags": "no",
        "download_cradle": "no",
        "defense_evasion": "no",
        "follow_on": "no",
        "credential_or_lateral": "no",
        "decoded_script": "Get-ChildItem D:\\Reports -Filter *.tmp | Remove-Item",
    },
    "T1059.003": {
        "expected_user": "yes",
        "recognised_command": "yes",
        "unusual_parent": "no",
        "user_writable_location": "no",
        "obfuscated": "no",
        "download_or_lolbin": "no",
        "discovery_or_cleanup": "no",
        "persistence": "no",
        "remote_or_lateral": "no",
        "command_summary": "Maps the department share as drive S: at logon.",
    },
    "T1059.005": {
        "known_internal_script": "yes",
        "user_writable_location": "no",
        "script_origin": "\\\\corp.example\\NETLOGON\\map_printers.vbs",
        "lure_delivery": "no",
        "office_lineage": "no",
        "encoded_or_obfuscated": "no",
        "spawned_processes": "no",
        "network_download": "no",
        "persistence": "no",
        "seen_elsewhere": "no",
    },
    "T1059.007": {
        "business_justification": "yes",
        "signed_known": "yes",
        "active_hours": "yes",
        "drive_by": "no",
        "origin_url": "https://intranet.corp.example/tools/report.js",
        "suspicious_origin": "no",
        "obfuscated": "no",
        "follow_on_activity": "no",
        "lateral_movement": "no",
    },
}

TECHNIQUES = sorted(SHIPPED)


def benign(technique: str, **changes: str) -> dict[str, str]:
    return {**BENIGN[technique], **changes}


def satisfying(condition: Condition) -> dict[str, str]:
    """One answer set that meets ``condition`` (first listed answer, first ``any`` branch)."""
    if isinstance(condition, AnswerIs):
        return {condition.question: condition.answers[0]}
    if isinstance(condition, AnyOf):
        return satisfying(condition.conditions[0])
    answers: dict[str, str] = {}
    for part in condition.conditions:
        answers.update(satisfying(part))
    return answers


def test_benign_answer_sets_answer_every_question():
    for technique, playbook in SHIPPED.items():
        assert set(BENIGN[technique]) == {q.id for q in playbook.questions}


# --- the three decisions on every shipped playbook ------------------------------------------


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_no_answers_is_undecided_and_lists_every_relevant_question(technique):
    playbook = SHIPPED[technique]
    result = recommend(playbook, {})
    assert result.decision == UNDECIDED
    assert result.missing == playbook.relevant_question_ids()
    assert result.met_criteria == ()
    assert len(result.reasons) == len(result.missing)
    assert result.reasons[0].startswith("Not answered yet: ")


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_benign_answers_recommend_close_with_the_playbooks_reason(technique):
    playbook = SHIPPED[technique]
    result = recommend(playbook, BENIGN[technique])
    assert result.decision == CLOSE
    assert result.reasons[0] == playbook.escalation.close.text
    n = len(playbook.escalation.criteria)
    assert result.reasons[1] == f"None of the {n} escalation criteria is met."
    assert (result.met_criteria, result.missing, result.unknown, result.urgent) == (
        (),
        (),
        (),
        False,
    )


@pytest.mark.parametrize(
    ("technique", "criterion"),
    [(p.technique, c.id) for p in SHIPPED.values() for c in p.escalation.criteria],
)
def test_every_criterion_escalates_with_its_own_text(technique, criterion):
    playbook = SHIPPED[technique]
    wanted = playbook.criterion(criterion)
    result = recommend(playbook, benign(technique, **satisfying(wanted.when)))
    assert result.decision == ESCALATE
    assert criterion in result.met_criteria
    assert wanted.text in result.reasons
    assert result.reasons == tuple(playbook.criterion(c).text for c in result.met_criteria)
    assert result.urgent == any(playbook.criterion(c).urgent for c in result.met_criteria)


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_escalation_does_not_wait_for_the_other_answers(technique):
    playbook = SHIPPED[technique]
    criterion = playbook.escalation.criteria[0]
    result = recommend(playbook, satisfying(criterion.when))
    assert result.decision == ESCALATE
    assert result.met_criteria == (criterion.id,)
    assert result.missing  # still shown, so the analyst can finish the record
    assert set(result.missing).isdisjoint(criterion.question_ids())


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_one_missing_answer_keeps_it_undecided_and_names_it(technique):
    playbook = SHIPPED[technique]
    for qid in playbook.relevant_question_ids():
        answers = benign(technique)
        del answers[qid]
        result = recommend(playbook, answers)
        assert result.decision == UNDECIDED, qid
        assert result.missing == (qid,)
        assert result.reasons == (f"Not answered yet: {playbook.question(qid).text}",)


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_an_unknown_answer_closes_only_when_no_real_answer_could_change_that(technique):
    playbook = SHIPPED[technique]
    for question in playbook.questions:
        if question.type != YES_NO_UNKNOWN:
            continue
        result = recommend(playbook, benign(technique, **{question.id: "unknown"}))
        if result.decision == CLOSE:
            for real in ("yes", "no"):
                alternative = recommend(playbook, benign(technique, **{question.id: real}))
                assert alternative.decision == CLOSE, (question.id, real)
            assert question.id not in playbook.escalation.close.requires
        elif result.decision == UNDECIDED:
            assert result.unknown == (question.id,)
            assert result.missing == ()
            assert "Answered unknown" in result.reasons[0]


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_question_answers_outside_the_criteria_do_not_change_the_decision(technique):
    playbook = SHIPPED[technique]
    for question in playbook.questions:
        if question.type != "text":
            continue
        for text in ("yes", "unknown", "escalate now", "<b>no</b>"):
            result = recommend(playbook, benign(technique, **{question.id: text}))
            assert result.decision == CLOSE


# --- scenarios, one playbook at a time ----------------------------------------------------


def test_t1059_lateral_movement_is_urgent():
    result = recommend(SHIPPED["T1059"], benign("T1059", lateral_movement="yes", obfuscated="yes"))
    assert result.decision == ESCALATE
    assert result.met_criteria == ("obfuscation", "lateral_movement")
    assert result.urgent


def test_t1059_user_folder_with_unknown_remote_origin_escalates():
    answers = benign("T1059", trusted_location="no", remote_execution="unknown")
    result = recommend(SHIPPED["T1059"], answers)
    assert result.met_criteria == ("untrusted_location_remote",)
    assert not result.urgent


def test_t1059_unknown_remote_origin_from_a_trusted_folder_can_still_close():
    result = recommend(SHIPPED["T1059"], benign("T1059", remote_execution="unknown"))
    assert result.decision == CLOSE


def test_t1059_unknown_obfuscation_blocks_close():
    result = recommend(SHIPPED["T1059"], benign("T1059", obfuscated="unknown"))
    assert result.decision == UNDECIDED
    assert result.unknown == ("obfuscated",)


def test_t1059_unknown_origin_blocks_close_because_close_needs_it():
    result = recommend(SHIPPED["T1059"], benign("T1059", expected_origin="unknown"))
    assert result.decision == UNDECIDED
    assert result.unknown == ("expected_origin",)
    assert result.reasons == (
        "Answered unknown, which rules out a close: "
        + SHIPPED["T1059"].question("expected_origin").text,
    )


def test_powershell_encoded_command_from_configmgr_closes():
    answers = benign(
        "T1059.001", obfuscated="yes", stealth_flags="yes", known_management_tool="yes"
    )
    assert recommend(SHIPPED["T1059.001"], answers).decision == CLOSE


def test_powershell_encoded_command_from_an_unknown_launcher_escalates():
    answers = benign(
        "T1059.001", obfuscated="yes", stealth_flags="yes", known_management_tool="unknown"
    )
    result = recommend(SHIPPED["T1059.001"], answers)
    assert result.decision == ESCALATE
    assert result.met_criteria == ("obfuscation", "hidden_bypass")


def test_powershell_amsi_bypass_escalates_even_from_management_tooling():
    answers = benign("T1059.001", known_management_tool="yes", defense_evasion="yes")
    assert recommend(SHIPPED["T1059.001"], answers).met_criteria == ("defense_evasion",)


def test_powershell_close_needs_the_decoded_script():
    answers = benign("T1059.001", decoded_script="   ")
    result = recommend(SHIPPED["T1059.001"], answers)
    assert result.decision == UNDECIDED
    assert result.missing == ("decoded_script",)


def test_cmd_caret_obfuscation_from_word_escalates():
    answers = benign("T1059.003", obfuscated="yes", unusual_parent="yes")
    result = recommend(SHIPPED["T1059.003"], answers)
    assert result.met_criteria == ("unusual_parent", "obfuscation")


def test_cmd_discovery_by_a_recognised_admin_script_closes():
    answers = benign("T1059.003", discovery_or_cleanup="yes")
    assert recommend(SHIPPED["T1059.003"], answers).decision == CLOSE
    answers = benign("T1059.003", discovery_or_cleanup="yes", recognised_command="no")
    assert recommend(SHIPPED["T1059.003"], answers).met_criteria == (
        "discovery_or_cleanup_unrecognised",
    )


def test_vbs_from_outlook_cache_with_unknown_lure_escalates():
    answers = benign(
        "T1059.005",
        known_internal_script="no",
        user_writable_location="yes",
        lure_delivery="unknown",
    )
    result = recommend(SHIPPED["T1059.005"], answers)
    assert result.met_criteria == ("unknown_script_user_folder", "lure_delivery")


def test_vbs_seen_on_other_hosts_is_urgent():
    result = recommend(SHIPPED["T1059.005"], benign("T1059.005", seen_elsewhere="yes"))
    assert result.met_criteria == ("campaign",)
    assert result.urgent


def test_javascript_seed_criteria():
    playbook = SHIPPED["T1059.007"]
    cases = {
        "unexpected_execution": {"business_justification": "no"},
        "suspicious_origin": {"suspicious_origin": "yes"},
        "obfuscation": {"obfuscated": "yes"},
        "follow_on_activity": {"follow_on_activity": "yes"},
        "lateral_movement": {"lateral_movement": "yes"},
        "drive_by_unknown_script": {"drive_by": "yes", "signed_known": "unknown"},
        "unknown_script_off_hours": {"active_hours": "no", "signed_known": "no"},
        "unsigned_unaccounted": {"signed_known": "no", "business_justification": "unknown"},
    }
    for criterion, changes in cases.items():
        result = recommend(playbook, benign("T1059.007", **changes))
        assert result.met_criteria == (criterion,), criterion


def test_javascript_signed_script_off_hours_closes():
    answers = benign("T1059.007", active_hours="no")
    assert recommend(SHIPPED["T1059.007"], answers).decision == CLOSE


# --- answer forms ---------------------------------------------------------------------------


def test_answers_may_be_objects_strings_mappings_or_booleans():
    playbook = SHIPPED["T1059"]
    answers = {
        "expected_origin": Answer("Yes ", note="Build server, see CHG-1234."),
        "related_alerts": {"value": "NO", "note": ""},
        "trusted_location": True,
        "remote_execution": False,
        "obfuscated": "no",
        "suspicious_network": " no\n",
        "unexpected_children": Answer("no"),
        "missing_attribution": "no",
        "lateral_movement": "no",
        "privileged_account": "no",
    }
    assert normalize_answers(playbook, answers) == BENIGN["T1059"] | {"remote_execution": "no"}
    assert recommend(playbook, answers).decision == CLOSE


@pytest.mark.parametrize("odd", [None, "", "   ", "maybe", "y", 1, 0.5, ["yes"], object()])
def test_odd_answers_count_as_not_answered(odd):
    playbook = SHIPPED["T1059"]
    result = recommend(playbook, benign("T1059", obfuscated=odd))
    assert result.decision == UNDECIDED
    assert result.missing == ("obfuscated",)


def test_unknown_question_ids_and_non_mappings_are_ignored():
    playbook = SHIPPED["T1059"]
    assert recommend(playbook, {**BENIGN["T1059"], "nope": "yes", 3: "yes"}).decision == CLOSE
    assert recommend(playbook, None).decision == UNDECIDED
    assert recommend(playbook, ["yes"]).decision == UNDECIDED  # type: ignore[arg-type]


def test_recommendation_serialises_to_json():
    result = recommend(SHIPPED["T1059"], benign("T1059", lateral_movement="yes"))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["decision"] == "escalate"
    assert data["met_criteria"] == ["lateral_movement"]
    assert data["urgent"] is True


# --- three-valued conditions ----------------------------------------------------------------

YES_LEAF = AnswerIs("a", ("yes",))
NO_UNKNOWN_LEAF = AnswerIs("b", ("no", "unknown"))


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        (YES_LEAF, {"a": "yes"}, True),
        (YES_LEAF, {"a": "no"}, False),
        (YES_LEAF, {"a": "unknown"}, None),
        (YES_LEAF, {}, None),
        (NO_UNKNOWN_LEAF, {"b": "unknown"}, True),
        (NO_UNKNOWN_LEAF, {"b": "yes"}, False),
        (AnyOf((YES_LEAF, NO_UNKNOWN_LEAF)), {"a": "unknown", "b": "no"}, True),
        (AnyOf((YES_LEAF, NO_UNKNOWN_LEAF)), {"a": "no", "b": "yes"}, False),
        (AnyOf((YES_LEAF, NO_UNKNOWN_LEAF)), {"a": "no"}, None),
        (AllOf((YES_LEAF, NO_UNKNOWN_LEAF)), {"a": "no"}, False),
        (AllOf((YES_LEAF, NO_UNKNOWN_LEAF)), {"a": "yes", "b": "unknown"}, True),
        (AllOf((YES_LEAF, NO_UNKNOWN_LEAF)), {"a": "unknown", "b": "no"}, None),
    ],
)
def test_conditions_use_three_valued_logic(condition, values, expected):
    assert evaluate(condition, values) is expected


def test_evaluate_refuses_non_conditions():
    with pytest.raises(TypeError):
        evaluate("a == yes", {})  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------

PLAYBOOKS = st.sampled_from(sorted(SHIPPED.values(), key=lambda p: p.technique))
CHOICE_VALUES = st.sampled_from(["yes", "no", "unknown"])
ODD_VALUES = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.sampled_from(["YES", " no ", "Unknown", "n/a", "\x00", "yes\u200b"]),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.lists(st.text(max_size=3), max_size=2),
    st.builds(Answer, st.text(max_size=10), st.text(max_size=10)),
    st.dictionaries(st.sampled_from(["value", "note", "x"]), st.text(max_size=5), max_size=2),
)


@st.composite
def playbook_and_answers(draw, values=ODD_VALUES):
    playbook = draw(PLAYBOOKS)
    ids = [q.id for q in playbook.questions]
    keys = st.one_of(st.sampled_from(ids), st.text(max_size=10), st.integers())
    answers = draw(st.dictionaries(keys, values, max_size=len(ids) + 3))
    return playbook, answers


@given(playbook_and_answers(values=st.one_of(CHOICE_VALUES, ODD_VALUES)))
def test_random_answers_never_crash_and_give_one_of_three_decisions(case):
    playbook, answers = case
    result = recommend(playbook, answers)
    assert result.decision in DECISIONS
    relevant = playbook.relevant_question_ids()
    assert set(result.missing) <= set(relevant)
    assert set(result.unknown) <= set(relevant)
    assert (result.decision == ESCALATE) == bool(result.met_criteria)
    assert result.reasons
    json.dumps(result.to_dict())


@st.composite
def yes_no_unknown_answers(draw):
    """Valid answers, starting from the benign set and changing a few, so that all three
    decisions come up often."""
    playbook = draw(PLAYBOOKS)
    answers: dict[str, str] = dict(BENIGN[playbook.technique])
    for question in draw(st.lists(st.sampled_from(playbook.questions), max_size=4)):
        if question.type == YES_NO_UNKNOWN:
            value = draw(st.one_of(st.none(), CHOICE_VALUES))
        else:
            value = draw(st.sampled_from([None, "recorded"]))
        if value is None:
            answers.pop(question.id, None)
        else:
            answers[question.id] = value
    return playbook, answers


@given(yes_no_unknown_answers(), st.data())
def test_escalation_survives_any_further_answers(case, data):
    playbook, answers = case
    first = recommend(playbook, answers)
    if first.decision != ESCALATE:
        return
    more = dict(answers)
    for qid in first.missing:
        more[qid] = data.draw(
            CHOICE_VALUES if playbook.question(qid).type == YES_NO_UNKNOWN else st.just("x")
        )
    later = recommend(playbook, more)
    assert later.decision == ESCALATE
    assert set(first.met_criteria) <= set(later.met_criteria)


@given(yes_no_unknown_answers(), st.data())
def test_a_close_stands_whatever_the_unknowns_really_were(case, data):
    playbook, answers = case
    if recommend(playbook, answers).decision != CLOSE:
        return
    resolved = {
        qid: data.draw(st.sampled_from(["yes", "no"])) if value == "unknown" else value
        for qid, value in answers.items()
    }
    assert recommend(playbook, resolved).decision == CLOSE


@given(yes_no_unknown_answers())
def test_close_needs_every_relevant_question_answered(case):
    playbook, answers = case
    result = recommend(playbook, answers)
    if result.decision == CLOSE:
        assert set(playbook.relevant_question_ids()) <= set(answers)
        for qid in playbook.escalation.close.requires:
            assert answers[qid] != "unknown"


# --- random playbooks -----------------------------------------------------------------------

QIDS = ["q1", "q2", "q3", "q4"]


LEAVES = st.builds(
    lambda q, answers: {"question": q, "answer": answers},
    st.sampled_from(QIDS),
    st.lists(CHOICE_VALUES, min_size=1, max_size=2, unique=True),
)
CONDITIONS = st.recursive(
    LEAVES,
    lambda inner: st.builds(
        lambda key, parts: {key: parts},
        st.sampled_from(["any", "all"]),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=6,
)


@st.composite
def random_playbooks(draw) -> Playbook:
    criteria = draw(st.lists(CONDITIONS, min_size=1, max_size=4))
    requires = draw(st.lists(st.sampled_from(QIDS), unique=True))
    data = {
        "technique": "T1059",
        "version": 1,
        "title": "Random",
        "log_sources": [{"name": "n", "detail": "d"}],
        "key_indicators": ["k"],
        "questions": [{"id": q, "text": f"{q}?", "type": "yes_no_unknown"} for q in QIDS],
        "escalation": {
            "criteria": [
                {"id": f"c{i}", "text": f"Criterion {i}.", "when": when}
                for i, when in enumerate(criteria)
            ],
            # Every question is relevant, so none is an orphan whatever the criteria use.
            "close": {"text": "Close.", "requires": QIDS if len(requires) == 0 else requires},
        },
        "l1_steps": [{"id": "s", "text": "t"}],
        "t2_actions": [{"id": "s", "text": "t"}],
        "containment": [{"id": "s", "text": "t"}],
    }
    unused = set(QIDS) - {q for c in criteria for q in _leaf_questions(c)} - set(requires)
    data["escalation"]["close"]["requires"] = [*requires, *sorted(unused)]
    return playbook_from_dict(data)


def _leaf_questions(condition: dict):
    if "question" in condition:
        yield condition["question"]
    for part in condition.get("any", []) + condition.get("all", []):
        yield from _leaf_questions(part)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(random_playbooks(), st.dictionaries(st.sampled_from(QIDS), CHOICE_VALUES), st.data())
def test_random_playbooks_follow_the_documented_rules(playbook, answers, data):
    result = recommend(playbook, answers)
    criteria = playbook.escalation.criteria
    if result.decision == ESCALATE:
        met = [c.id for c in criteria if evaluate(c.when, answers) is True]
        assert list(result.met_criteria) == met
        # Answering the missing questions, or learning what the unknowns were, keeps it met.
        completed = {q: data.draw(CHOICE_VALUES) for q in QIDS if q not in answers}
        assert recommend(playbook, {**answers, **completed}).decision == ESCALATE
    elif result.decision == CLOSE:
        assert set(answers) == set(QIDS)
        assert all(evaluate(c.when, answers) is False for c in criteria)
        assert all(answers[q] != "unknown" for q in playbook.escalation.close.requires)
        resolved = {
            q: data.draw(st.sampled_from(["yes", "no"])) if v == "unknown" else v
            for q, v in answers.items()
        }
        assert recommend(playbook, resolved).decision == CLOSE
    else:
        assert result.missing or result.unknown
        assert not any(evaluate(c.when, answers) is True for c in criteria)
