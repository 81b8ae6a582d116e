"""Playbook files: the shipped ones load and are complete; malformed ones fail clearly."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from rules import attack
from triage.playbook_files import (
    MAX_FILE_BYTES,
    default_directory,
    load_all,
    load_playbook,
    parse_playbook,
)
from triage.playbook_format import (
    SECTIONS,
    TEXT,
    YES_NO_UNKNOWN,
    AllOf,
    AnswerIs,
    AnyOf,
    Playbook,
    PlaybookFormatError,
    version_change,
)
from triage.playbook_validation import MAX_CONDITION_DEPTH

PLAYBOOK_DIR = default_directory()
SHIPPED = load_all(PLAYBOOK_DIR)
SHIPPED_IDS = [p.technique for p in SHIPPED]


def shipped(technique: str) -> Playbook:
    return next(p for p in SHIPPED if p.technique == technique)


# --- ATT&CK rows ----------------------------------------------------------------------------


def test_attack_rows_cover_the_tactic_and_the_five_techniques():
    assert [t.external_id for t in attack.TACTICS] == ["TA0002"]
    assert attack.get_tactic("TA0002").name == "Execution"
    assert attack.technique_ids() == (
        "T1059",
        "T1059.001",
        "T1059.003",
        "T1059.005",
        "T1059.007",
    )


@pytest.mark.parametrize("row", attack.TECHNIQUES, ids=lambda r: r.external_id)
def test_attack_technique_rows_are_complete(row):
    assert row.tactic_id == "TA0002"
    path = row.external_id.replace(".", "/")
    assert row.url == f"https://attack.mitre.org/techniques/{path}/"
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", row.description) if s]
    assert 2 <= len(sentences) <= 4
    if "." in row.external_id:
        assert row.parent_id == "T1059"
        assert row.is_subtechnique
        assert row.full_name == f"Command and Scripting Interpreter: {row.name}"
    else:
        assert row.parent_id is None
        assert row.full_name == row.name


def test_unknown_technique_lookup_is_a_key_error():
    with pytest.raises(KeyError):
        attack.get_technique("T9999")


# --- the shipped playbooks ------------------------------------------------------------------


def test_every_shipped_technique_has_exactly_one_playbook():
    assert sorted(attack.technique_ids()) == SHIPPED_IDS
    files = sorted(p.name for p in PLAYBOOK_DIR.glob("*.y*ml"))
    assert files == sorted(f"{t}.yaml" for t in attack.technique_ids())


@pytest.mark.parametrize("technique", SHIPPED_IDS)
def test_shipped_playbook_loads_from_its_file_alone(technique):
    path = PLAYBOOK_DIR / f"{technique}.yaml"
    assert load_playbook(path) == shipped(technique)
    assert load_playbook(str(path)) == shipped(technique)
    assert load_playbook(path.read_text(encoding="utf-8")) == shipped(technique)


@pytest.mark.parametrize("technique", SHIPPED_IDS)
def test_shipped_playbook_has_the_seven_sections_filled(technique):
    playbook = shipped(technique)
    for section in ("log_sources", "key_indicators", "questions", "l1_steps", "t2_actions"):
        assert len(getattr(playbook, section)) >= 3, section
    assert len(playbook.containment) >= 4
    assert len(playbook.escalation.criteria) >= 5
    assert playbook.escalation.close.text
    assert playbook.version >= 1
    assert playbook.title.startswith("Command and Scripting Interpreter")


@pytest.mark.parametrize("technique", SHIPPED_IDS)
def test_shipped_playbook_asks_six_to_ten_questions(technique):
    playbook = shipped(technique)
    assert 6 <= len(playbook.questions) <= 10
    assert all(q.text.endswith("?") for q in playbook.questions)
    assert any(q.type == YES_NO_UNKNOWN for q in playbook.questions)


@pytest.mark.parametrize("technique", SHIPPED_IDS)
def test_shipped_criteria_only_reference_real_yes_no_questions(technique):
    playbook = shipped(technique)
    for criterion in playbook.escalation.criteria:
        assert criterion.question_ids()
        for qid in criterion.question_ids():
            assert playbook.question(qid).type == YES_NO_UNKNOWN
    for qid in playbook.escalation.close.requires:
        playbook.question(qid)


@pytest.mark.parametrize("technique", SHIPPED_IDS)
def test_every_shipped_yes_no_question_matters_to_the_recommendation(technique):
    playbook = shipped(technique)
    relevant = set(playbook.relevant_question_ids())
    for question in playbook.questions:
        if question.type == YES_NO_UNKNOWN:
            assert question.id in relevant


@pytest.mark.parametrize("technique", SHIPPED_IDS)
def test_shipped_playbook_round_trips_through_its_canonical_dict(technique):
    playbook = shipped(technique)
    again = parse_playbook(yaml.safe_dump(playbook.to_dict(), allow_unicode=True))
    assert again == playbook
    assert again.content_hash == playbook.content_hash


@pytest.mark.parametrize("technique", SHIPPED_IDS)
def test_shipped_prose_is_whole_sentences(technique):
    # An unquoted " #" in YAML starts a comment and silently cuts the text short; every prose
    # field ending in punctuation catches that.
    playbook = shipped(technique)
    prose = [
        *playbook.key_indicators,
        *(s.detail for s in playbook.log_sources),
        *(q.help for q in playbook.questions if q.help),
        *(c.text for c in playbook.escalation.criteria),
        playbook.escalation.close.text,
        *(i.text for i in playbook.l1_steps + playbook.t2_actions + playbook.containment),
    ]
    for text in prose:
        assert text.endswith((".", "?", ")")), text


def test_shipped_playbooks_have_distinct_content_hashes():
    hashes = {p.content_hash for p in SHIPPED}
    assert len(hashes) == len(SHIPPED)
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)


def test_specific_playbooks_cover_their_interpreter():
    def words(playbook: Playbook) -> str:
        return yaml.safe_dump(playbook.to_dict(), allow_unicode=True)

    powershell = words(shipped("T1059.001"))
    for needle in ("4104", "4103", "-EncodedCommand", "UTF-16LE", "-ep bypass", "AmsiUtils"):
        assert needle in powershell
    for needle in (
        "DownloadString",
        "Invoke-WebRequest",
        "Constrained Language Mode",
        "-Version 2",
    ):
        assert needle in powershell
    cmd = words(shipped("T1059.003"))
    for needle in ("^", "%VAR:~x,y%", "certutil", "bitsadmin", "winword.exe", "wscript.exe"):
        assert needle in cmd
    vbs = words(shipped("T1059.005"))
    for needle in (".vbe", "WScript.Shell", "MSXML2.XMLHTTP", "Content.Outlook", "macro"):
        assert needle in vbs
    javascript = words(shipped("T1059.007"))
    for needle in (".jse", "mshta", "atob(", "child_process", "Zone.Identifier", "osascript"):
        assert needle in javascript


# --- a small valid playbook to break ------------------------------------------------------


def minimal() -> dict:
    return {
        "technique": "T1059",
        "version": 1,
        "title": "Test playbook",
        "log_sources": [{"name": "Sysmon", "detail": "Process creation."}],
        "key_indicators": ["Encoded commands."],
        "questions": [
            {"id": "obfuscated", "text": "Obfuscated?", "type": "yes_no_unknown"},
            {"id": "expected", "text": "Expected?", "type": "yes_no_unknown", "help": "Ask."},
            {"id": "summary", "text": "Summary?", "type": "text"},
        ],
        "escalation": {
            "criteria": [
                {
                    "id": "obfuscation",
                    "text": "It is obfuscated.",
                    "when": {"question": "obfuscated", "answer": "yes"},
                },
                {
                    "id": "unexpected",
                    "text": "It is unexpected.",
                    "urgent": True,
                    "when": {
                        "any": [
                            {"question": "expected", "answer": ["no", "unknown"]},
                            {
                                "all": [
                                    {"question": "obfuscated", "answer": "unknown"},
                                    {"question": "expected", "answer": "yes"},
                                ]
                            },
                        ]
                    },
                },
            ],
            "close": {"text": "Nothing found.", "requires": ["summary"]},
        },
        "l1_steps": [{"id": "look", "text": "Look."}],
        "t2_actions": [{"id": "dig", "text": "Dig.", "help": "Deeper."}],
        "containment": [{"id": "isolate", "text": "Isolate."}],
    }


def dump(data: object) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def raised(function, *args) -> PlaybookFormatError:
    with pytest.raises(PlaybookFormatError) as info:
        function(*args)
    return info.value


def error_for(data: object) -> PlaybookFormatError:
    with pytest.raises(PlaybookFormatError) as info:
        parse_playbook(dump(data), source="test.yaml")
    return info.value


def test_minimal_playbook_loads_into_typed_dataclasses():
    playbook = parse_playbook(dump(minimal()))
    assert playbook.questions[1].help == "Ask."
    assert playbook.questions[2].type == TEXT
    first, second = playbook.escalation.criteria
    assert first.when == AnswerIs("obfuscated", ("yes",))
    assert not first.urgent
    assert second.urgent
    assert isinstance(second.when, AnyOf)
    assert isinstance(second.when.conditions[1], AllOf)
    assert second.question_ids() == ("expected", "obfuscated")
    assert playbook.relevant_question_ids() == ("obfuscated", "expected", "summary")
    assert playbook.t2_actions[0].help == "Deeper."
    with pytest.raises(AttributeError):
        playbook.version = 2  # type: ignore[misc]


def test_answer_lists_are_stored_in_canonical_order():
    data = minimal()
    data["escalation"]["criteria"][0]["when"] = {
        "question": "obfuscated",
        "answer": ["unknown", "yes"],
    }
    playbook = parse_playbook(dump(data))
    assert playbook.escalation.criteria[0].when == AnswerIs("obfuscated", ("yes", "unknown"))


def test_unquoted_yes_and_no_in_yaml_are_answers_not_booleans():
    text = dump(minimal()).replace("answer: 'yes'", "answer: yes")
    assert "answer: yes\n" in text
    playbook = parse_playbook(text)
    assert playbook.escalation.criteria[0].when == AnswerIs("obfuscated", ("yes",))


@pytest.mark.parametrize("section", SECTIONS)
def test_missing_section_names_it(section):
    data = minimal()
    del data[section]
    error = error_for(data)
    assert error.field == section
    assert str(error) == f"test.yaml: {section}: missing"


@pytest.mark.parametrize("section", ["log_sources", "key_indicators", "questions", "l1_steps"])
def test_empty_section_is_refused(section):
    data = minimal()
    data[section] = []
    assert "must not be empty" in str(error_for(data))


@pytest.mark.parametrize("key", ["technique", "version", "title"])
def test_missing_header_field_names_it(key):
    data = minimal()
    del data[key]
    assert error_for(data).field == key


def test_unknown_top_level_key_is_refused_as_a_probable_typo():
    data = minimal()
    data["containmnet"] = []
    error = error_for(data)
    assert error.field == "containmnet"
    assert "unknown key" in str(error)


def test_unknown_question_in_criterion_names_the_path_and_the_known_ids():
    data = minimal()
    data["escalation"]["criteria"][1]["when"]["any"][1]["all"][0]["question"] = "obfuscatd"
    error = error_for(data)
    assert error.field == "escalation.criteria[1].when.any[1].all[0].question"
    assert "unknown question 'obfuscatd'" in str(error)
    assert "obfuscated, expected, summary" in str(error)
    assert str(error).startswith("test.yaml: escalation.criteria[1]")


def test_unknown_question_in_close_requires_is_refused():
    data = minimal()
    data["escalation"]["close"]["requires"] = ["summary", "nope"]
    assert error_for(data).field == "escalation.close.requires[1]"


def test_duplicate_question_id_is_refused():
    data = minimal()
    data["questions"][2]["id"] = "obfuscated"
    data["questions"][2]["type"] = "yes_no_unknown"
    error = error_for(data)
    assert error.field == "questions[2].id"
    assert "duplicate id 'obfuscated' (also questions[0])" in str(error)


@pytest.mark.parametrize("section", ["l1_steps", "t2_actions", "containment"])
def test_duplicate_checklist_id_is_refused(section):
    data = minimal()
    data[section].append(copy.deepcopy(data[section][0]))
    assert error_for(data).field == f"{section}[1].id"


def test_duplicate_criterion_id_is_refused():
    data = minimal()
    data["escalation"]["criteria"][1]["id"] = "obfuscation"
    assert error_for(data).field == "escalation.criteria[1].id"


@pytest.mark.parametrize("bad_id", ["Obfuscated", "1st", "has space", "x" * 65, "", 7, None])
def test_bad_slug_is_refused(bad_id):
    data = minimal()
    data["l1_steps"][0]["id"] = bad_id
    error = error_for(data)
    assert error.field == "l1_steps[0].id"
    assert "not a valid id" in str(error)


def test_bad_question_type_is_refused():
    data = minimal()
    data["questions"][0]["type"] = "boolean"
    error = error_for(data)
    assert error.field == "questions[0].type"
    assert "'boolean' is not one of yes_no_unknown, text" in str(error)


@pytest.mark.parametrize("version", [0, -1, "1", 1.5, True, None])
def test_bad_version_is_refused(version):
    data = minimal()
    data["version"] = version
    error = error_for(data)
    assert error.field == "version"
    assert "whole number >= 1" in str(error)


def test_version_fits_a_database_integer():
    data = minimal()
    data["version"] = 2**31
    assert "at most 2147483647" in str(error_for(data))


def test_unknown_technique_is_refused():
    data = minimal()
    data["technique"] = "T1059.999"
    error = error_for(data)
    assert error.field == "technique"
    assert "unknown technique 'T1059.999'" in str(error)


def test_criterion_cannot_use_a_text_question():
    data = minimal()
    data["escalation"]["criteria"][0]["when"] = {"question": "summary", "answer": "yes"}
    error = error_for(data)
    assert error.field == "escalation.criteria[0].when.question"
    assert "criteria can only use yes_no_unknown questions" in str(error)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("maybe", "'maybe' is not one of yes, no, unknown"),
        (True, "is not one of yes, no, unknown"),
        ([], "must name at least one answer"),
        (["yes", "yes"], "lists an answer twice"),
        (["yes", "no", "unknown"], "always met"),
    ],
)
def test_bad_answer_in_condition_is_refused(answer, message):
    data = minimal()
    data["escalation"]["criteria"][0]["when"]["answer"] = answer
    error = error_for(data)
    assert error.field == "escalation.criteria[0].when.answer"
    assert message in str(error)


@pytest.mark.parametrize(
    "when",
    [
        {"any": [{"question": "obfuscated", "answer": "yes"}], "all": []},
        {"question": "obfuscated", "answer": "yes", "any": []},
        {"question": "obfuscated", "answer": "yes", "note": "x"},
        {"question": "obfuscated"},
        {"answer": "yes"},
        {"any": []},
        {"all": "obfuscated"},
        ["obfuscated"],
        "obfuscated == yes",
    ],
)
def test_malformed_condition_is_refused(when):
    data = minimal()
    data["escalation"]["criteria"][0]["when"] = when
    assert error_for(data).field.startswith("escalation.criteria[0].when")


def test_deeply_nested_condition_is_refused():
    condition: dict = {"question": "obfuscated", "answer": "yes"}
    for _ in range(MAX_CONDITION_DEPTH):
        condition = {"any": [condition]}
    data = minimal()
    data["escalation"]["criteria"][0]["when"] = condition
    assert "nest deeper than" in str(error_for(data))


def test_yes_no_question_that_nothing_uses_is_refused():
    data = minimal()
    data["questions"].append({"id": "orphan", "text": "Orphan?", "type": "yes_no_unknown"})
    error = error_for(data)
    assert error.field == "questions[3]"
    assert "'orphan' is not used" in str(error)


def test_urgent_must_be_a_boolean():
    data = minimal()
    data["escalation"]["criteria"][0]["urgent"] = "yes"
    assert error_for(data).field == "escalation.criteria[0].urgent"


@pytest.mark.parametrize("value", [None, 3, ["a"], {"a": 1}, "   "])
def test_text_fields_must_be_non_empty_strings(value):
    data = minimal()
    data["questions"][0]["text"] = value
    assert error_for(data).field == "questions[0].text"


def test_text_is_stripped_and_length_limited():
    data = minimal()
    data["title"] = "  Padded title \n"
    assert parse_playbook(dump(data)).title == "Padded title"
    data["title"] = "x" * 2001
    assert "longer than 2000" in str(error_for(data))


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x07", "\x9b"])
def test_control_characters_are_refused(char):
    data = minimal()
    data["key_indicators"] = [f"before{char}after"]
    error = error_for(data)
    assert error.field == "key_indicators[0]"
    assert "control character" in str(error)


def test_hostile_and_unicode_text_stays_plain_data():
    hostile = [
        "<script>alert(document.cookie)</script>",
        "{{ settings.SECRET_KEY }} {% load evil %}",
        "'; DROP TABLE triage_alert; --",
        "Überprüfung — ログ ✓ 🚨 مرحبا \u202eexe.txt",
        "${jndi:ldap://example.invalid/a} $(rm -rf /) `id`",
    ]
    data = minimal()
    data["key_indicators"] = hostile
    data["questions"][0]["help"] = hostile[0]
    playbook = parse_playbook(dump(data))
    assert playbook.key_indicators == tuple(hostile)
    assert playbook.questions[0].help == hostile[0]


def test_python_object_tags_are_refused():
    text = dump(minimal()) + "extra: !!python/object/apply:os.system ['echo pwned']\n"
    error = raised(parse_playbook, text, "evil.yaml")
    assert str(error).startswith("evil.yaml:")
    assert "invalid YAML" in str(error)


def test_yaml_aliases_are_refused():
    text = "technique: &t T1059\nversion: 1\ntitle: *t\n"
    error = raised(parse_playbook, text)
    assert "aliases" in str(error)
    assert error.line == 3


def test_deeply_nested_yaml_is_refused_without_crashing():
    with pytest.raises(PlaybookFormatError, match="nested too deeply"):
        parse_playbook("[" * 20000)


def test_strict_loader_leaves_pyyaml_safe_load_alone():
    assert yaml.safe_load("a: yes") == {"a": True}


def test_yaml_native_types_are_refused_where_text_is_expected():
    data = dump(minimal()).replace("title: Test playbook", "title: !!binary aGVsbG8=")
    error = raised(parse_playbook, data)
    assert error.field == "title"
    assert "expected a string, got bytes" in str(error)


def test_duplicate_yaml_keys_are_refused():
    text = dump(minimal()) + "title: Second title\n"
    error = raised(parse_playbook, text, "dup.yaml")
    assert "duplicate key 'title'" in str(error)
    assert error.line is not None


def test_yaml_syntax_error_gives_line_and_column():
    text = "technique: T1059\nversion: 1\nquestions: [unclosed\n"
    error = raised(parse_playbook, text, "broken.yaml")
    assert error.source == "broken.yaml"
    assert error.line is not None
    assert re.match(r"broken\.yaml:\d+:\d+: invalid YAML", str(error))


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just a string\n"])
def test_non_mapping_document_is_refused(text):
    with pytest.raises(PlaybookFormatError, match=r"empty file|expected a mapping"):
        parse_playbook(text)


def test_oversized_text_is_refused():
    with pytest.raises(PlaybookFormatError, match="larger than"):
        parse_playbook("#" * (MAX_FILE_BYTES + 1))


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / "T1059.yaml"
    data = minimal()
    data["questions"][0]["type"] = "multiple_choice"
    path.write_text(dump(data), encoding="utf-8")
    error = raised(load_playbook, path)
    assert error.source == str(path)
    assert str(error).startswith(f"{path}: questions[0].type:")


def test_non_utf8_and_oversized_files_are_refused(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(dump(minimal()).encode() + "title2: caf\xe9\n".encode("latin-1"))
    with pytest.raises(PlaybookFormatError, match="not UTF-8"):
        load_playbook(latin)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_FILE_BYTES + 10))
    with pytest.raises(PlaybookFormatError, match="larger than"):
        load_playbook(big)
    with pytest.raises(PlaybookFormatError, match="cannot read"):
        load_playbook(tmp_path / "missing.yaml")


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "T1059.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + dump(minimal()).encode())
    assert load_playbook(path).title == "Test playbook"


# --- load_all -------------------------------------------------------------------------------


def test_load_all_sorts_by_technique_and_ignores_other_files(tmp_path):
    for technique in ("T1059.001", "T1059"):
        data = minimal()
        data["technique"] = technique
        (tmp_path / f"{technique}.yaml").write_text(dump(data), encoding="utf-8")
    (tmp_path / "README.md").write_text("# not a playbook\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("technique: nope\n", encoding="utf-8")
    playbooks = load_all(tmp_path)
    assert [p.technique for p in playbooks] == ["T1059", "T1059.001"]
    assert playbooks[0].source == str(tmp_path / "T1059.yaml")


def test_load_all_requires_file_named_after_technique(tmp_path):
    (tmp_path / "powershell.yaml").write_text(dump(minimal()), encoding="utf-8")
    error = raised(load_all, tmp_path)
    assert error.field == "technique"
    assert "must be named T1059.yaml" in str(error)


def test_load_all_refuses_two_files_for_one_technique(tmp_path):
    (tmp_path / "T1059.yaml").write_text(dump(minimal()), encoding="utf-8")
    (tmp_path / "T1059.yml").write_text(dump(minimal()), encoding="utf-8")
    with pytest.raises(PlaybookFormatError, match="already has a playbook"):
        load_all(tmp_path)


def test_load_all_reports_the_bad_file(tmp_path):
    (tmp_path / "T1059.yaml").write_text("technique: [\n", encoding="utf-8")
    error = raised(load_all, tmp_path)
    assert error.source == str(tmp_path / "T1059.yaml")


def test_load_all_needs_a_directory(tmp_path):
    with pytest.raises(PlaybookFormatError, match="not a directory"):
        load_all(tmp_path / "nowhere")


# --- content hash and versions ------------------------------------------------------------


def test_content_hash_ignores_version_comments_and_layout():
    base = parse_playbook(dump(minimal()))
    bumped = minimal()
    bumped["version"] = 7
    reordered = dict(reversed(list(minimal().items())))
    commented = "# a comment\n" + yaml.safe_dump(minimal(), default_flow_style=True)
    for variant in (dump(bumped), dump(reordered), commented):
        assert parse_playbook(variant).content_hash == base.content_hash


def test_content_hash_changes_with_any_visible_change():
    base = parse_playbook(dump(minimal())).content_hash
    changes = [
        ("title", "Other title"),
        ("key_indicators", ["Encoded commands!"]),
    ]
    for key, value in changes:
        data = minimal()
        data[key] = value
        assert parse_playbook(dump(data)).content_hash != base
    data = minimal()
    data["escalation"]["criteria"][0]["when"]["answer"] = ["yes", "unknown"]
    assert parse_playbook(dump(data)).content_hash != base
    data = minimal()
    data["questions"][0]["help"] = "New help."
    assert parse_playbook(dump(data)).content_hash != base


def test_version_change_rules():
    playbook = parse_playbook(dump(minimal()))
    same_hash = playbook.content_hash
    assert version_change(None, None, playbook) == "new"
    assert version_change(1, same_hash, playbook) == "unchanged"
    edited = minimal()
    edited["title"] = "Edited"
    edited_v1 = parse_playbook(dump(edited))
    with pytest.raises(PlaybookFormatError, match="increase version") as info:
        version_change(1, same_hash, edited_v1)
    assert info.value.field == "version"
    edited["version"] = 2
    assert version_change(1, same_hash, parse_playbook(dump(edited))) == "new_version"
    with pytest.raises(PlaybookFormatError, match="lower than the stored version 3"):
        version_change(3, same_hash, playbook)


def test_load_playbook_tells_paths_from_text(tmp_path):
    path = tmp_path / "T1059.yaml"
    path.write_text(dump(minimal()), encoding="utf-8")
    assert load_playbook(str(path)).source == str(path)
    assert load_playbook(Path(path)).source == str(path)
    assert load_playbook(dump(minimal())).source == "<string>"
    with pytest.raises(PlaybookFormatError):
        load_playbook(42)  # type: ignore[arg-type]
