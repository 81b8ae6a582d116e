"""Properties of the EQL engine under random input (hypothesis).

* Any query text -- arbitrary unicode or grammar-shaped token soup -- either compiles or raises
  ``EqlError`` (``EqlSyntaxError`` included); nothing else escapes.
* A query that compiles runs over odd events without raising.
* Random events (nested dicts, dotted keys, arrays, nested arrays, None, numbers, NaN, booleans,
  unicode) never crash a compiled corpus or seed rule, alone or in a rule set.

Example counts stay modest so the module runs in seconds.
"""

from __future__ import annotations

import functools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import eql
from rules.eql import ast
from rules.tests.test_eql_corpus import BIG, CORPUS, corpus_rules, needs_corpus, seed_rules

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOKENS = [
    "process", "file", "network", "registry", "any", "where", "sequence", "sample", "by",
    "with", "maxspan", "=", "5m", "30s", "1h", "until", "runs", "and", "or", "not", "in",
    "in~", "not in", "like", "like~", "regex", "regex~", ":", "==", "!=", "<", "<=", ">",
    ">=", "+", "-", "*", "/", "%", "(", ")", "[", "]", "!", "![", "?", "|", "head", "tail",
    "true", "false", "null", ",", "process.name", "?process.args", "process.args_count",
    "event.category", "`odd field`", "process.parent.name", "user.id", "host.id",
    '"cmd.exe"', '"*.exe"', '"?:\\\\Users\\\\*"', '"\\""', '"\\u{1F600}"', '"\\q"', "'x'",
    '"""raw"""', '"unterminated', "1", "-1", "1.5", "1e309", "99999999999999999999", "0x10",
    "startsWith", "startsWith~", "endsWith", "stringContains", "length", "concat", "between",
    "cidrMatch", "indexOf", "substring", "number", "add", "subtract", "multiply", "divide",
    "modulo", "wildcard", "match", "\n", "/*", "*/", "//", "~", ";", "$", "@",
]  # fmt: skip

SHAPED = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25).map(" ".join)
PREFIXED = st.tuples(
    st.sampled_from(["process where ", "any where ", "sequence ", "sample by host.id ", ""]),
    SHAPED,
).map("".join)

ODD_EVENTS = [
    {},
    {"@timestamp": "2026-01-05T07:30:00.000Z", "event": {"category": ["process"]}},
    {"@timestamp": 5, "event": {"category": "process"}, "process": {"name": "cmd.exe", "args": []}},
    {"@timestamp": None, "event.category": "process", "process.name": ["a", None, 3, [1.5]]},
    {"@timestamp": "nonsense", "event": {"category": [None, "file"]}, "process": "flat string"},
    {"@timestamp": 1e300, "event": {"category": "any"}, "process": {"name": {"nested": True}}},
    {"@timestamp": -1, "event": None, "host": {"id": float("nan")}, "user": {"id": True}},
]


def compiles_or_eql_error(text: str):
    try:
        return eql.compile(text, size=BIG)
    except eql.EqlError:
        return None


@FAST
@given(st.text(max_size=80))
def test_arbitrary_text_compiles_or_raises_eql_error(text):
    compiles_or_eql_error(text)


@FAST
@given(PREFIXED)
def test_grammar_shaped_text_compiles_or_raises_eql_error(text):
    q = compiles_or_eql_error(text)
    if q is not None:
        q.search(ODD_EVENTS)
        eql.compile_many({"q": text}, size=BIG).search(ODD_EVENTS)


@FAST
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_random_strings_in_query_literals_never_escape(s):
    for text in (
        f"process where process.name : {s!r}",
        f'process where process.name == "{s}"',
        f"process where process.name regex {s!r}",
        f"any where {s}",
    ):
        q = compiles_or_eql_error(text)
        if q is not None:
            q.search(ODD_EVENTS)


# ---- random events against real rules -----------------------------------------------------


@functools.cache
def sampled_rules() -> dict[str, str]:
    """Every 8th corpus rule (deterministic, all kinds) plus the seed rules."""
    rules = {
        rid: q for i, (rid, (_p, q)) in enumerate(sorted(corpus_rules().items())) if i % 8 == 0
    }
    rules.update(seed_rules())
    return rules


@functools.cache
def compiled_sample():
    rs = eql.compile_many(sampled_rules(), size=BIG)
    paths, strings = set(), set()
    for q in rs.queries.values():
        for node in ast.walk(q.statement):
            if isinstance(node, ast.Field):
                paths.add(node.path)
            elif isinstance(node, ast.Literal) and isinstance(node.value, str):
                strings.add(node.value)
            elif isinstance(node, ast.StringMatch):
                strings.update(p.replace("*", "x").replace("?", "y") for p in node.patterns)
    return rs, sorted(paths), sorted(strings)[:400]


def _rule_vocabulary():
    if not CORPUS.is_dir():
        return [("process", "name")], ["cmd.exe"]
    _rs, paths, strings = compiled_sample()
    return paths, strings


@st.composite
def events(draw):
    paths, strings = _rule_vocabulary()
    scalar = st.one_of(
        st.sampled_from(strings),
        st.text(max_size=12),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.booleans(),
        st.none(),
        st.sampled_from(["windows", "start", "process", "file", "S-1-5-18", "", "*", "\\"]),
    )
    value = st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(["name", "x", "args", "1"]), inner, max_size=3),
        ),
        max_leaves=6,
    )
    e: dict = {}
    if draw(st.booleans()):
        e["@timestamp"] = draw(
            st.one_of(st.integers(0, 10**6), st.sampled_from(["2026-01-05T07:30:00.000Z", "x"]))
        )
    category = draw(st.sampled_from(["process", "file", "registry", "network", "library", None]))
    e["event"] = {"category": draw(st.sampled_from([category, [category], [category, "x"]]))}
    for path in draw(st.lists(st.sampled_from(paths), max_size=8)):
        v = draw(value)
        if draw(st.booleans()):
            e[".".join(path)] = v
            continue
        cur = e
        for part in path[:-1]:
            nxt = cur.get(part)
            if not isinstance(nxt, dict):
                nxt = cur[part] = {}
            cur = nxt
        cur[path[-1]] = v
    return e


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=6))
def test_random_events_never_crash_corpus_or_seed_rules(evs):
    rs, _paths, _strings = compiled_sample()
    for q in rs.queries.values():
        for m in q.search(evs):
            assert len(m.events) >= 1
    list(rs.search(evs))


@needs_corpus
def test_sampled_rules_cover_every_query_kind():
    rs, paths, _strings = compiled_sample()
    kinds = {q.kind for q in rs.queries.values()}
    assert kinds >= {"event", "sequence"}
    assert len(rs) >= 100 and len(paths) >= 50
