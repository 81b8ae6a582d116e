"""The prefilter's analysis is sound: what it says a condition requires holds whenever the
condition is true, so a rule set never loses a match that its query finds alone.

The property tests generate random queries (wildcards, ``like``, regexes, string functions,
comparisons, ``any`` queries naming their categories, sequences whose broad terms are
deferred) and random events full of the characters that lowercase or case-fold unusually
(the long s, capital sigma, the Kelvin sign, dotted capital I), and compare the rule set with
each query alone.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import eql
from rules.eql.pattern_keys import _regex_runs, pattern_atom
from rules.eql.prefilter import (
    implied_categories,
    requirement,
    score,
    specialise,
)
from rules.tests.test_eql_ruleset import BIG, assert_same

CATEGORY = ("event", "category")


def condition(text: str):
    return eql.parse(f"any where {text}").query.filter.condition


# ---- what a pattern, a regex or a category test requires ----------------------------------


def test_wildcard_patterns_are_keyed_by_segment_prefix_or_substring():
    assert pattern_atom("?:\\PerfLogs\\*.exe", True) == ("seg", "perflogs")
    assert pattern_atom("ADExplorer*.exe", True) == ("pre", "adexplor")
    assert pattern_atom("*eval(*", True) == ("sub", "eval(")
    assert pattern_atom("*.ngrok.io", True) == ("sub", ".ngrok.io")
    assert pattern_atom("cmd.exe", False) == ("eq", "cmd.exe")
    assert pattern_atom("*", True) is None


def test_case_sensitive_like_keys_only_characters_that_lowercase_alike():
    # capital sigma lowercases to one of two letters depending on what follows: no prefix or
    # substring may hold it
    assert pattern_atom("ΑΣ*", False) is None
    assert pattern_atom("abcΣdef*", False) == ("pre", "abc")
    # the engine lowercases both sides for ``:``, so the lowercased pattern is exact there
    assert pattern_atom("ΑΣ*", True) == ("sub", "ας")


def test_regex_literal_runs_are_read_conservatively():
    assert _regex_runs(r"[A-Z]:\\:.+") == ("", [":\\:"])
    assert _regex_runs(r"C:\\Program Files\\\w+\.exe") == (
        "C:\\Program Files\\",
        ["C:\\Program Files\\", ".exe"],
    )
    assert _regex_runs(r"abc*d") == ("ab", ["ab", "d"])
    assert _regex_runs(r"ab{2,3}c") == ("a", ["a", "c"])
    assert _regex_runs(r"(a[)]b)cd") == ("", ["cd"])
    for unreadable in (r"a|b", r"(?i)abc", r"\x41bc", r"[[:alpha:]]x", r"\p{L}x", "a{2"):
        assert _regex_runs(unreadable) is None, unreadable


def test_case_insensitive_regexes_never_key_on_s():
    # RE2's (?i) lets "s" match the long s (U+017F), which lowercasing keeps as it is: the
    # case-sensitive regex is keyed by its literal head, the insensitive one only needs the field
    assert requirement(condition('process.name regex """pass.*"""')) == (
        (("process", "name"), "pre", frozenset({"pas"})),
    )
    assert requirement(condition('process.name regex~ """pass.*"""')) == (
        (("process", "name"), "any", frozenset({True})),
    )


def test_a_condition_without_literal_keys_still_needs_its_field():
    assert requirement(condition("process.pid > 4")) == ((("process", "pid"), "any", {True}),)
    assert requirement(condition('process.name regex~ ".*"')) == (
        (("process", "name"), "any", {True}),
    )
    assert requirement(condition("process.name == null")) is None
    assert requirement(condition('not process.name : "x"')) is None


def test_numbers_and_booleans_are_keyed_by_value():
    assert requirement(condition("destination.port == 445")) == (
        (("destination", "port"), "num", frozenset({445})),
    )
    assert requirement(condition("process.code_signature.trusted == false")) == (
        (("process", "code_signature", "trusted"), "bool", frozenset({False})),
    )


def test_rare_values_of_broad_fields_are_keys_common_ones_are_not():
    rare = requirement(condition('event.action : "service-installed"'))
    common = requirement(condition('event.action : "start"'))
    assert score(rare) < score(common)


def test_any_queries_imply_the_categories_they_test():
    assert implied_categories(condition('event.category == "file" and x == 1'), CATEGORY) == (
        frozenset({"file"}),
        False,
    )
    assert implied_categories(
        condition('event.category : ("Library", "driver") or event.category == "process"'),
        CATEGORY,
    ) == (frozenset({"library", "driver", "process"}), True)
    assert implied_categories(condition('event.category == "file" or x == 1'), CATEGORY) is None


def test_specialising_to_a_category_keys_each_branch_by_its_own_values():
    cond = condition(
        '(event.category == "file" and file.name : "a.dll") or '
        '(event.category == "registry" and registry.value : "Run")'
    )
    assert requirement(specialise(cond, "file", CATEGORY)) == (
        (("file", "name"), "eq", frozenset({"a.dll"})),
    )
    assert requirement(specialise(cond, "registry", CATEGORY)) == (
        (("registry", "value"), "eq", frozenset({"run"})),
    )


def test_an_any_query_naming_its_categories_is_indexed_under_each():
    rs = eql.compile_many(
        {
            "r": 'any where (event.category == "file" and file.name : "a.dll") or '
            '(event.category : "registry" and registry.value : "Run")'
        }
    )
    assert sorted(rs.describe()["r"], key=str) == [
        ("file", ((("file", "name"), "eq", frozenset({"a.dll"})),)),
        ("registry", ((("registry", "value"), "eq", frozenset({"run"})),)),
    ]
    events = [
        {"@timestamp": 1, "event": {"category": "REGISTRY"}, "registry": {"value": "RUN"}},
        {"@timestamp": 2, "event": {"category": ["file"]}, "file": {"name": "A.DLL"}},
        {"@timestamp": 3, "event": {"category": "File"}, "file": {"name": "a.dll"}},
    ]
    assert_same({"r": rs.queries["r"].text}, events, size=BIG)


IRREGULAR = [
    # RE2's case folding lets "s" match the long s, and "k" the Kelvin sign
    ('process.name regex~ """pas"""', "pa\u017f"),
    ('process.name regex~ """.*ks\\.exe"""', "x\u212a\u017f.exe"),
    # a final capital sigma lowercases differently from one inside a word
    ('process.name like "\u0391\u03a3*"', "\u0391\u03a3\u0391"),
    ('process.name like "*\u0391\u03a3"', "x\u0391\u03a3"),
    ('startsWith(process.name, "\u0391\u03a3")', "\u0391\u03a3\u0391"),
    ('stringContains(process.name, "b\u03a3")', "ab\u03a3d"),
    ('process.name regex """\u0391\u03a3.*"""', "\u0391\u03a3\u0391"),
    # dotted capital I lowercases to two characters
    ('process.name : "\u0130*x"', "\u0130yx"),
    ('process.name like~ "*\u0130"', "a\u0130"),
    ('process.name : "*\u202e*"', "a\u202eb.exe"),
]


def test_irregular_case_mappings_never_lose_a_match():
    for i, (cond, value) in enumerate(IRREGULAR):
        text = f"process where {cond}"
        event = {"@timestamp": 1, "event": {"category": "process"}, "process": {"name": value}}
        assert eql.compile(text).search([event]), f"case {i}: {text} should match {value!r}"
        assert_same({"q": text}, [event], size=BIG)


# ---- random queries against random events -------------------------------------------------

# Words that patterns and values are both made of, so that they often match; values spell
# them with the characters whose case mappings are irregular.
WORDS = ["pas", "\u0391\u03a3", "ks", "ab\u03a3d", "x.exe", "\\tmp\\", "\u202e", "I1", " :"]
SPELLINGS = {
    "s": ["s", "S", "\u017f"], "k": ["k", "K", "\u212a"], "\u03a3": ["\u03a3", "\u03c3", "\u03c2"],
    "i": ["i", "I", "\u0130"], "I": ["I", "i", "\u0130"], "a": ["a", "A"], "p": ["p", "P"],
    "x": ["x", "X"], "e": ["e", "E"], "b": ["b", "B"], "d": ["d", "D"],
    "\u0391": ["\u0391", "\u03b1"],
}  # fmt: skip
WORD = st.sampled_from(WORDS)


@st.composite
def spelled(draw) -> str:
    """Words spelled with random case variants, with a stray character now and then."""
    out = []
    for word in draw(st.lists(WORD, max_size=3)):
        out.extend(draw(st.sampled_from(SPELLINGS.get(c, [c]))) for c in word)
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(["y", "\u03c3", "s", " "])))
    return "".join(out)


TEXT = spelled()
PATTERN = st.lists(st.one_of(WORD, st.sampled_from(["*", "?"])), min_size=1, max_size=4).map(
    "".join
)
REGEX_PIECES = [*(w.replace("\\", "\\\\").replace(".", "\\.") for w in WORDS), "[a-z]", "(ab|s)",
                "x*", "y+", "z?", "a{2}", ".", ".*", "\\d", "(?i)", "\\w+", "[^s]"]  # fmt: skip
REGEX = st.lists(st.sampled_from(REGEX_PIECES), min_size=1, max_size=4).map("".join)
FIELDS = ["process.name", "process.args", "file.path"]


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def atom_condition(draw) -> str:
    field = draw(st.sampled_from(FIELDS))
    kind = draw(st.sampled_from(["colon", "like", "like~", "regex", "regex~", "eq", "ne", "in",
                                 "in~", "func", "num", "cmp", "notnull"]))  # fmt: skip
    if kind == "colon":
        pats = draw(st.lists(PATTERN, min_size=1, max_size=3))
        return f"{field} : ({', '.join(map(quote, pats))})"
    if kind in ("like", "like~"):
        return f"{field} {kind} {quote(draw(PATTERN))}"
    if kind in ("regex", "regex~"):
        return f'{field} {kind} """{draw(REGEX)}"""'
    if kind == "eq":
        return f"{field} == {quote(draw(TEXT))}"
    if kind == "ne":
        return f"{field} != {quote(draw(TEXT))}"
    if kind in ("in", "in~"):
        values = draw(st.lists(TEXT, min_size=1, max_size=3))
        return f"{field} {kind} ({', '.join(map(quote, values))})"
    if kind == "func":
        name = draw(st.sampled_from(["startsWith", "endsWith", "stringContains"]))
        tilde = draw(st.sampled_from(["", "~"]))
        return f"{name}{tilde}({field}, {quote(draw(TEXT))})"
    if kind == "num":
        return f"{field} == {draw(st.integers(0, 2))}"
    if kind == "cmp":
        return f"{field} > {draw(st.integers(0, 2))}"
    return f"{field} != null"


@st.composite
def random_condition(draw, depth: int = 0) -> str:
    if depth >= 2 or draw(st.booleans()):
        return draw(atom_condition())
    op = draw(st.sampled_from(["and", "or", "not"]))
    if op == "not":
        return f"not ({draw(random_condition(depth + 1))})"
    parts = draw(st.lists(random_condition(depth + 1), min_size=2, max_size=3))
    return "(" + f" {op} ".join(parts) + ")"


@st.composite
def random_query(draw) -> str:
    shape = draw(st.sampled_from(["process", "any", "any-cat", "sequence"]))
    cond = draw(random_condition())
    if shape == "process":
        return f"process where {cond}"
    if shape == "any":
        return f"any where {cond}"
    if shape == "any-cat":
        cat = draw(st.sampled_from(['event.category == "file"', 'event.category : "process"',
                                    'event.category in ("file", "Process")']))  # fmt: skip
        return f"any where {cat} and {cond}"
    # a selective first term and a broad second one: the second is deferred
    other = draw(random_condition())
    by = draw(st.sampled_from(["", "by host.id"]))
    return (
        f"sequence {by} [process where process.name : {quote(draw(TEXT))} and {cond}] "
        f"[any where {other}]"
    )


VALUE = st.one_of(
    TEXT,
    st.lists(st.one_of(TEXT, st.integers(0, 2), st.none()), max_size=3),
    st.integers(0, 2),
    st.booleans(),
    st.none(),
)


CATEGORIES = ["process", "file", "Process", ["process", "file"], "registry"]


@st.composite
def random_event(draw) -> dict:
    e: dict = {
        "@timestamp": draw(st.integers(0, 20)),
        "event": {"category": draw(st.sampled_from(CATEGORIES))},
        "host": {"id": draw(st.sampled_from(["h1", "h2"]))},
    }
    for field in FIELDS:
        if draw(st.booleans()):
            continue
        head, tail = field.split(".")
        e.setdefault(head, {})[tail] = draw(VALUE)
    return e


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_query(), st.lists(random_event(), min_size=1, max_size=10))
def test_rule_set_equals_the_query_alone_for_random_queries_and_events(text, events):
    try:
        eql.compile(text)
    except eql.EqlError:
        return  # e.g. a regex RE2 and Python both refuse
    assert_same({"q": text}, events, size=BIG)
