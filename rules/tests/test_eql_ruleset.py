"""``compile_many`` gives, rule by rule, exactly what each query gives alone.

The oracle is always the engine itself: ``eql.compile(text, **options).search(events)`` per
rule. The rule set must return the same matches (the same event objects, in the same order,
with the same join keys) despite its prefilter, shared conditions and memos.
"""

from __future__ import annotations

import functools
import gc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.events import generate_events
from rules import eql
from rules.eql.ruleset import RuleSet, RuleSetError, requirement
from rules.eql.timestamps import epoch_millis
from rules.tests.test_eql_corpus import (
    BIG,  # a size that never truncates
    compiled_corpus,
    needs_corpus,
    seed_rules,
    windows_rules,
)


def results(pairs) -> list[tuple]:
    """Comparable form of ``(rule_id, match)`` pairs: event identities and join keys."""
    return [
        (rid, [None if e is None else id(e) for e in m.events], list(m.join_keys))
        for rid, m in pairs
    ]


def alone(texts: dict[str, str], events: list, **options) -> list[tuple]:
    out = []
    for rid, text in texts.items():
        out.extend((rid, m) for m in eql.compile(text, **options).search(events))
    return results(out)


def assert_same(texts: dict[str, str], events: list, **options) -> list[tuple]:
    expected = alone(texts, events, **options)
    got = results(eql.compile_many(texts, **options).search(events))
    assert got == expected
    return got


def assert_same_compiled(rs, events: list) -> list[tuple]:
    """Like :func:`assert_same` for an already compiled rule set: its own ``Query`` objects
    (what ``eql.compile`` returned for each text) are the oracle, each run alone."""
    expected = results((rid, m) for rid, q in rs.queries.items() for m in q.search(events))
    got = results(rs.search(events))
    assert got == expected
    return got


# ---- generated ECS events ------------------------------------------------------------------


@functools.cache
def generated(count: int, attack_rate: float, epoch_ms: bool) -> list[dict]:
    gc.disable()
    try:
        events = list(generate_events(count, seed=7, attack_rate=attack_rate))
    finally:
        gc.enable()
    if epoch_ms:  # the engine's oracle runs faster on numeric timestamps; same order
        for e in events:
            e["@timestamp"] = epoch_millis(e["@timestamp"])
    return events


@needs_corpus
def test_seed_rules_together_equal_each_alone_on_20k_generated_events():
    events = generated(20_000, 0.004, False)
    got = assert_same(seed_rules(), events, size=BIG)
    by_rule = {rid for rid, _ids, _keys in got}
    assert by_rule == set(seed_rules()), "the generator plants a match for every seed rule"


@needs_corpus
def test_all_windows_rules_together_equal_each_alone_on_generated_events():
    # Attack-heavy events so that many rules match; numeric timestamps keep the per-rule
    # oracle (391 full searches) within a few seconds.
    events = generated(1_500, 0.1, True)
    corpus = compiled_corpus()  # compiled once per session, with a size that never truncates
    assert set(windows_rules()) | set(seed_rules()) <= set(corpus.queries)
    rs = RuleSet({rid: corpus.queries[rid] for rid in windows_rules()})
    got = assert_same_compiled(rs, events)
    assert len({rid for rid, _ids, _keys in got}) >= 15


@needs_corpus
def test_rule_set_applies_each_rules_size_limit():
    events = generated(20_000, 0.004, False)
    got = assert_same(seed_rules(), events, size=1)
    assert len(got) == 3


# ---- prefilter edge cases -------------------------------------------------------------------


def proc(name=None, **extra):
    e = {"event": {"category": ["process"], "type": ["start"]}, "@timestamp": extra.pop("ts", 1)}
    if name is not None:
        e["process"] = {"name": name}
    e.update(extra)
    return e


CASE_EVENTS = [
    proc("cmd.exe", ts=1),
    proc("CMD.EXE", ts=2),
    proc("Cmd.Exe", ts=3),
    proc("cmd.exe.bak", ts=4),
    proc(None, ts=5),
    proc(["powershell.exe", "CMD.exe"], ts=6),  # multi-valued field: any element
    proc([["cmd.exe"]], ts=7),  # nested array
    proc(17, ts=8),  # a number where a string is expected
    {"@timestamp": 9, "event.category": "process", "process.name": "CMD.exe"},  # dotted keys
    {"@timestamp": 10, "event": {"category": "process"}, "process": {"name": None}},
    {"@timestamp": 11, "event": {"category": ["process", "file"]}, "process": {"name": "cmd.exe"}},
    {"@timestamp": 12, "event": {"category": "Process"}, "process": {"name": "cmd.exe"}},
    proc("x.exe", ts=13, process={"name": "x.exe", "parent": {"name": "WScript.exe"}}),
    proc("y.exe", ts=14, process={"name": "y.exe", "pe": {"original_file_name": "cmd.exe"}}),
    proc("z", ts=15, process={"name": "z", "args": ["-enc", "AAAA", 5, None]}),
    {"@timestamp": 16, "event": {"category": ["file"]}, "file": {"extension": "JS"}},
    {"@timestamp": 17, "event": {"category": ["file"]}, "file": {"extension": ["js", "vbs"]}},
    proc("ß.exe", ts=18),
    proc("SS.EXE", ts=19),
    proc("İ.exe", ts=20),
    proc("\u212a.exe", ts=21),  # Kelvin sign lowercases to k
    proc("k.exe", ts=22),
    proc("a.exe", ts=23, process={"executable": "C:\\Windows\\Temp\\a.exe"}),
    proc("b.exe", ts=24, process={"executable": "c:\\WINDOWS\\temp\\B.EXE"}),
    proc("c.exe", ts=25, process={"executable": "C:\\Windows\\Temp"}),
    proc("d.exe", ts=26, process={"executable": ["x", "\\\\?\\C:\\Windows\\Temp\\d.exe"]}),
    proc("e.exe", ts=27, process={"executable": "C:\\Windows\\Temp\\Sub\\e.exe"}),
    proc("f.exe", ts=28, process={"executable": 12}),
    proc("g.exe", ts=29, process={"executable": "C:\\Windows\\Tempo\\g.exe"}),
    # dotted keys inside nested objects: a leaf spelled with the rest of its path, and an
    # object present but empty beside a dotted spelling of what it should hold
    proc("h.exe", ts=30, process={"name": "h.exe", "parent.name": "WScript.exe"}),
    proc("i.exe", ts=31, process={"name": "i.exe", "pe": {}, "pe.original_file_name": "CMD.exe"}),
    proc(
        "j.exe",
        ts=32,
        process={"name": "j.exe", "parent": {"pid": 1}, "parent.name": "wscript.exe"},
    ),
    "not an event",
    None,
]

CASES = {
    "colon-insensitive": 'process where process.name : "CMD.exe"',
    "eq-sensitive": 'process where process.name == "cmd.exe"',
    "eq-sensitive-upper": 'process where process.name == "CMD.EXE"',
    "eq-tilde": 'process where process.name ==~ "cmd.EXE"'
    if False
    else 'process where process.name : "cmd.EXE"',
    "in-sensitive": 'process where process.name in ("cmd.exe", "CMD.exe")',
    "in-insensitive": 'process where process.name in~ ("CMD.EXE", "powershell.EXE")',
    "not-in": 'process where process.name not in ("cmd.exe")',
    "wildcard": 'process where process.name : "cmd*"',
    "like": 'process where process.name like "CMD.*"',
    "like-tilde": 'process where process.name like~ "cmd.exe"',
    "regex": 'process where process.name regex~ "cmd\\\\.exe"',
    "or-fields": 'process where process.parent.name : "wscript.exe" or ?process.pe.original_file_name == "cmd.exe"',
    "or-mixed": 'process where process.name : "x.exe" or process.name : "cmd*"',
    "not": 'process where not process.name : "cmd.exe"',
    "not-eq": 'process where process.name != "cmd.exe"',
    "optional": 'process where ?process.pe.original_file_name : "CMD.EXE"',
    "and-or": 'process where event.type == "start" and (process.name : "cmd.exe" or process.args : "-ENC")',
    "args": 'process where process.args : "-enc"',
    "args-number": 'process where process.args : "5"',
    "number-as-string": 'process where process.name : "17"',
    "number-eq": "process where process.name == 17",
    "string-eq-number": 'process where process.name == "17"',
    "null": "process where process.name == null",
    "not-null": "process where process.name != null",
    "any": 'any where process.name : "cmd.exe"',
    "file-ext": 'file where file.extension in~ ("js", "jse")',
    "file-ext-sensitive": 'file where file.extension == "js"',
    "unicode-ss": 'process where process.name : "ss.exe"',
    "unicode-sharp-s": 'process where process.name : "ß.exe"',
    "unicode-dotted-i": 'process where process.name : "i̇.exe"',
    "unicode-kelvin": 'process where process.name : "k.exe"',
    "function": 'process where startsWith~(process.name, "CMD")',
    "true": "process where true",
    "tail": 'process where process.name : "cmd.exe" | tail 2',
    "head": 'process where process.name : "cmd.exe" | head 1',
    "sequence": 'sequence [process where process.name : "cmd.exe"] [process where process.name == "x.exe"]',
    "sequence-by": 'sequence by event.type [process where process.name : "cmd.exe"] [process where process.args : "-enc"]',
    "sequence-until": (
        'sequence [process where process.name : "cmd.exe"] [process where process.name : "z"]'
        ' until [process where process.name : "x.exe"]'
    ),
    "sequence-missing": (
        'sequence with maxspan=1h [process where process.name : "cmd.exe"]'
        ' ![process where process.name : "y.exe"] [process where process.name : "z"]'
    ),
    "seg-temp": 'process where process.executable : "?:\\\\Windows\\\\Temp\\\\*.exe"',
    "seg-trailing": 'process where process.executable : "*\\\\temp"',
    "seg-leading": 'process where process.executable : "c:\\\\windows*"',
    "seg-like": 'process where process.executable like "C:\\\\Windows\\\\Temp\\\\*"',
    "seg-or-eq": 'process where process.executable : ("*\\\\Temp\\\\*", "x") or process.name == "z"',
    "seg-question": 'process where process.executable : "?:\\\\windows\\\\tem?\\\\*"',
    "sample": 'sample by event.type [process where process.name : "cmd.exe"] [process where process.name : "z"]',
}


def test_prefilter_cases_equal_each_query_alone():
    assert_same(CASES, CASE_EVENTS, size=BIG)


def test_prefilter_cases_with_default_size():
    assert_same(CASES, CASE_EVENTS)


@pytest.mark.parametrize("rid", sorted(CASES))
def test_each_prefilter_case_alone(rid):
    assert_same({rid: CASES[rid]}, CASE_EVENTS, size=BIG)


def test_prefilter_indexes_literals_lowercased_and_skips_what_it_cannot_index():
    described = eql.compile_many(CASES).describe()

    def atoms(rid):
        ((_cat, a),) = described[rid]
        if a is None:
            return None
        return {".".join(p) + ("" if m == "eq" else "/" + m): set(v) for p, m, v in a}

    assert atoms("colon-insensitive") == {"process.name": {"cmd.exe"}}
    assert atoms("eq-sensitive-upper") == {"process.name": {"cmd.exe"}}
    assert atoms("in-insensitive") == {"process.name": {"cmd.exe", "powershell.exe"}}
    assert atoms("or-fields") == {
        "process.parent.name": {"wscript.exe"},
        "process.pe.original_file_name": {"cmd.exe"},
    }
    assert atoms("and-or") == {"process.name": {"cmd.exe"}, "process.args": {"-enc"}}
    assert atoms("wildcard") == {"process.name/pre": {"cmd"}}
    assert atoms("or-mixed") == {"process.name": {"x.exe"}, "process.name/pre": {"cmd"}}
    assert atoms("number-eq") == {"process.name/num": {17}}
    assert atoms("string-eq-number") == {"process.name": {"17"}}
    # a regex's literal head, a function's literal prefix; ``!=`` needs the field present
    assert atoms("regex") == {"process.name/pre": {"cmd.e"}}
    assert atoms("function") == {"process.name/pre": {"cmd"}}
    assert atoms("not-eq") == {"process.name/any": {True}}
    assert atoms("not-null") == {"process.name/any": {True}}
    for unindexable in ("not", "not-in", "null", "true"):
        assert atoms(unindexable) is None, unindexable
    assert [c for c, _a in described["sequence-until"]] == ["process"] * 3


def test_requirement_prefers_specific_fields_over_broad_ones():
    q = eql.parse(
        'process where host.os.type == "windows" and event.type == "start" and '
        'process.name : ("a.exe", "b.exe")'
    )
    ((path, mode, values),) = requirement(q.query.filter.condition)
    assert path == ("process", "name") and mode == "eq" and values == {"a.exe", "b.exe"}


def test_requirement_keys_wildcard_paths_by_a_whole_segment():
    q = eql.parse(
        'registry where registry.path : ("*\\\\Services\\\\PortProxy\\\\v4tov4\\\\*", "HKLM\\\\x") '
        'and process.executable : "?:\\\\Windows\\\\Temp\\\\*.exe"'
    )
    atoms = requirement(q.query.filter.condition)
    assert set(atoms) == {(("registry", "path"), "eq", frozenset({"hklm\\x"})),
                          (("registry", "path"), "seg", frozenset({"portproxy"}))}  # fmt: skip
    q = eql.parse('process where process.executable : "?:\\\\PerfLogs\\\\*.exe"')
    assert requirement(q.query.filter.condition) == (
        (("process", "executable"), "seg", frozenset({"perflogs"})),
    )
    q = eql.parse('process where process.command_line : "*eval(*"')
    assert requirement(q.query.filter.condition) == (
        (("process", "command_line"), "sub", frozenset({"eval("})),
    )


# ---- random events against the edge-case queries --------------------------------------------

NAMES = st.sampled_from(
    ["C:\\Windows\\Temp\\a.exe", "c:\\windows\\temp", "\\temp\\", "Temp", "c:\\windows",
     "cmd.exe", "CMD.EXE", "Cmd.exe", "x.exe", "y.exe", "z", "k.exe", "\u212a.exe", "ß.exe",
     "ss.exe", "17", "-enc", "-ENC", "powershell.exe", "wscript.exe", ""]
)  # fmt: skip
SCALARS = st.one_of(
    NAMES, st.none(), st.integers(-3, 20), st.booleans(), st.floats(allow_nan=False)
)
VALUES = st.one_of(SCALARS, st.lists(st.one_of(SCALARS, st.lists(SCALARS, max_size=2)), max_size=3))


@st.composite
def random_event(draw):
    e: dict = {"@timestamp": draw(st.integers(0, 50))}
    cat = draw(st.sampled_from(["process", "file", "Process", ["process", "file"], None, 3]))
    if draw(st.booleans()):
        e["event"] = {"category": cat, "type": draw(st.sampled_from([["start"], "start", None]))}
    else:
        e["event.category"] = cat
    for field in ("process.name", "process.args", "process.parent.name", "process.executable",
                  "process.pe.original_file_name", "file.extension"):  # fmt: skip
        if draw(st.booleans()):
            continue
        value = draw(VALUES)
        if draw(st.booleans()):
            e[field] = value  # dotted key
        else:
            cur = e
            *head, last = field.split(".")
            for part in head:
                nxt = cur.get(part)
                if not isinstance(nxt, dict):
                    nxt = cur[part] = {}
                cur = nxt
            cur[last] = value
    return e


@functools.cache
def compiled_cases():
    return eql.compile_many(CASES, size=BIG)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(random_event(), min_size=1, max_size=12))
def test_prefilter_never_loses_or_adds_matches_on_random_events(events):
    assert_same_compiled(compiled_cases(), events)


# ---- errors and options ---------------------------------------------------------------------


def test_compile_many_raises_naming_every_failing_rule():
    with pytest.raises(RuleSetError) as info:
        eql.compile_many({"good": "process where true", "bad-1": "process where (", "bad-2": "x"})
    err = info.value
    assert isinstance(err, eql.EqlError)
    assert set(err.errors) == {"bad-1", "bad-2"}
    assert err.rule_id == "bad-1"
    assert "rule 'bad-1'" in str(err) and "rule 'bad-2'" in str(err)
    assert all(isinstance(e, eql.EqlError) for e in err.errors.values())


def test_compile_many_can_skip_failing_rules_and_report_them():
    rs = eql.compile_many({"good": "process where true", "bad": "process where ("}, on_error="skip")
    assert list(rs.queries) == ["good"]
    assert set(rs.errors) == {"bad"}
    assert isinstance(rs.errors["bad"], eql.EqlSyntaxError)
    assert [rid for rid, _m in rs.search([proc("a")])] == ["good"]


def test_compile_many_rejects_an_unknown_error_mode():
    with pytest.raises(eql.EqlError):
        eql.compile_many({"a": "process where true"}, on_error="ignore")


def test_compile_many_passes_options_through():
    events = [proc("cmd.exe", ts=i, host={"ts": 100 - i}) for i in range(5)]
    rs = eql.compile_many({"a": 'process where process.name : "cmd.exe"'}, size=2)
    assert [m.events[0]["@timestamp"] for _r, m in rs.search(events)] == [0, 1]
    rs = eql.compile_many(
        {"a": 'process where process.name : "cmd.exe"'}, timestamp_field="host.ts", size=BIG
    )
    assert [m.events[0]["@timestamp"] for _r, m in rs.search(events)] == [4, 3, 2, 1, 0]
    rs = eql.compile_many({"a": 'file where file.name : "x"'}, category_field="kind", size=BIG)
    assert len(list(rs.search([{"kind": "file", "file": {"name": "X"}}]))) == 1


def test_search_accepts_any_iterable_once():
    rs = eql.compile_many({"a": 'process where process.name : "cmd.exe"'}, size=BIG)
    assert len(list(rs.search(iter(CASE_EVENTS)))) == len(
        eql.compile('process where process.name : "cmd.exe"', size=BIG).search(CASE_EVENTS)
    )


def test_empty_rule_set_matches_nothing():
    rs = eql.compile_many({})
    assert len(rs) == 0
    assert list(rs.search(CASE_EVENTS)) == []


def test_memoised_conditions_never_confuse_values_of_different_types():
    values = [1, True, "1", 1.0, ["1"], [1], "true", None, ["1", None], {"x": 1}, "TRUE", [True]]
    events = [proc(v, ts=i) for i, v in enumerate(values * 3)]  # repeats hit the memos
    texts = {
        "colon": 'process where process.name : "1"',
        "eq-str": 'process where process.name == "1"',
        "eq-num": "process where process.name == 1",
        "eq-bool": "process where process.name == true",
        "in-mixed": 'process where process.name in ("1", 1, true)',
        "two-fields": 'process where process.name : "true" or process.args == null',
        "length": "process where length(process.name) == 1",
    }
    assert_same(texts, events, size=BIG)
    rs = eql.compile_many(texts, size=BIG)
    first = results(rs.search(events))
    assert results(rs.search(events)) == first  # a second search reuses the warm memos


# ---- candidates for the detection pipeline ---------------------------------------------------


@needs_corpus
def test_sequences_completed_for_their_join_keys_match_as_each_query_alone():
    """A deferring pass, completed for every join key the full pass saw, gives each sequence
    the results it has alone; skipped or not, event queries are untouched."""
    events = generated(1_500, 0.1, True)
    corpus = compiled_corpus()
    rs = RuleSet({rid: corpus.queries[rid] for rid in windows_rules()})
    full = rs.candidates(events)
    found = rs.candidates(events, defer=True)
    deferred = [rid for rid in rs.rule_ids if found.deferred(rid)]
    assert len(deferred) >= 5
    for rid in rs.rule_ids:
        if found.deferred(rid):
            found.complete(rid, found.join_keys(rid, *full.of(rid)))
        expected = results((rid, m) for m in rs.queries[rid].search(events))
        assert results((rid, m) for m in rs.search_rule(rid, *found.of(rid))) == expected, rid


def test_hits_are_the_events_of_the_queries_a_deferring_pass_evaluates():
    rs = eql.compile_many(
        {"seq": 'sequence by host.id [process where process.name == "a.exe"] [process where true]'},
        size=BIG,
    )
    events = [
        proc("a.exe", ts=1, host={"id": "h1"}),
        proc("b.exe", ts=2, host={"id": "h1"}),
        proc("a.exe", ts=3, host={"id": ["h2", "h3"]}),
    ]
    found = rs.candidates(events, defer=True)
    assert rs.eager_terms("seq") == [0] and rs.anchor_term("seq") == 0
    hits = found.hits("seq")
    assert [(e["@timestamp"], keys) for e, keys in hits[0]] == [
        (1, [("h1",)]),
        (3, [("h2",), ("h3",)]),
    ]
    assert found.deferred("seq")
    found.complete("seq", {("h1",)})
    kept, flags = found.of("seq")
    # the broad query is evaluated for host h1 only: the h2/h3 event keeps its first flag
    assert [e["@timestamp"] for e in kept] == [1, 2, 3]
    assert flags == [[True, True], [False, True], [True, False]]
    assert [m.events for m in rs.search_rule("seq", kept, flags)] == [events[:2]]


def test_preparing_a_rule_set_changes_no_result():
    rs = eql.compile_many(CASES, size=BIG)
    before = results(rs.search(CASE_EVENTS))
    assert results(rs.prepare().search(CASE_EVENTS)) == before
