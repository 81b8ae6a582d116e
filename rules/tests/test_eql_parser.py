"""EQL parsing: the AST shape the prefilter relies on, and errors with line, column and caret."""

from __future__ import annotations

import contextlib

import pytest

from rules import eql
from rules.eql import ast
from rules.eql.parser import parse


def cond(text):
    return parse(text).query.filter.condition


def test_and_or_are_flattened_and_not_binds_tighter_than_and():
    c = cond('process where a == 1 and not b == 2 and c : "x" or d in ("y", "z")')
    assert isinstance(c, ast.Or)
    left, right = c.operands
    assert isinstance(left, ast.And) and len(left.operands) == 3
    assert isinstance(left.operands[1], ast.Not)
    assert right == ast.InSet(ast.Field(("d",)), (ast.Literal("y"), ast.Literal("z")))


def test_wildcard_list_and_case_flags():
    c = cond('any where process.name : ("A.EXE", "b*") and x like "Q*" and y regex~ "a.*"')
    a, b, r = c.operands
    assert a == ast.StringMatch("wildcard", ast.Field(("process", "name")), ("A.EXE", "b*"), True)
    assert b.case_insensitive is False and b.kind == "wildcard"
    assert r.kind == "regex" and r.case_insensitive is True


def test_in_variants():
    a, b, c = cond("any where a in~ (1) and b not in (2) and c not in~ (3)").operands
    assert (a.case_insensitive, a.negated) == (True, False)
    assert (b.case_insensitive, b.negated) == (False, True)
    assert (c.case_insensitive, c.negated) == (True, True)


def test_fields_optional_backticks_and_dots():
    a, b, c = cond("any where ?process.pid == 1 and `my field`.x == 2 and `a.b` == 3").operands
    assert a.left == ast.Field(("process", "pid"), optional=True)
    assert b.left.path == ("my field", "x")
    assert c.left.path == ("a", "b")


def test_keywords_are_whole_words_only():
    c = cond("any where android == 1 and inbound == 2 and likes == 3 and sequences == 4")
    assert [o.left.path[0] for o in c.operands] == ["android", "inbound", "likes", "sequences"]


def test_strings_escapes_raw_and_unicode():
    c = cond(r'any where a == "q\"\\\t\n\u{1F600}" and b == """raw\n\d""" and c == "é"')
    assert c.operands[0].right.value == 'q"\\\t\n\U0001f600'
    assert c.operands[1].right.value == "raw\\n\\d"
    assert c.operands[2].right.value == "é"


def test_comments_are_ignored():
    q = "// leading\nprocess where /* inline */ true // trailing"
    assert parse(q).query.filter.condition == ast.Literal(True)


def test_function_names_are_case_insensitive_and_canonical():
    c = cond('any where STARTSWITH~(a, "x") and cidrmatch(ip, "10.0.0.0/8")')
    assert c.operands[0] == ast.FunctionCall(
        "startsWith", (ast.Field(("a",)), ast.Literal("x")), True
    )
    assert c.operands[1].name == "cidrMatch"


def test_arithmetic_precedence_and_negative_literals():
    c = cond("any where a + 2 * -3 > 4 % b")
    assert c.left == ast.Arithmetic(
        "+", ast.Field(("a",)), ast.Arithmetic("*", ast.Literal(2), ast.Literal(-3))
    )


def test_sequence_shape():
    st = parse(
        "sequence by host.id with maxspan=2m [process where true] by user.id with runs=2 "
        "![file where true] by user.id [network where true] by user.id until "
        "[process where x == 1] by user.id | tail 3"
    )
    q = st.query
    assert isinstance(q, ast.Sequence)
    assert q.maxspan_ms == 120_000
    assert len(q.terms) == 4  # runs=2 expands
    assert [t.missing for t in q.terms] == [False, False, True, False]
    assert q.terms[0].keys == (ast.Field(("host", "id")), ast.Field(("user", "id")))
    assert q.until.filter.category == "process"
    assert st.pipes == (ast.Pipe("tail", 3),)


@pytest.mark.parametrize(
    ("unit", "ms"), [("ms", 5), ("s", 5000), ("m", 300_000), ("h", 18_000_000), ("d", 432_000_000)]
)
def test_maxspan_units(unit, ms):
    q = parse(f"sequence with maxspan=5{unit} [a where true] [b where true]").query
    assert q.maxspan_ms == ms


def test_sample_and_any_and_quoted_category():
    st = parse('sample by host [any where true] by os ["my-cat" where true] by os')
    assert st.query.terms[0].filter.category is None
    assert st.query.terms[1].filter.category == "my-cat"
    assert st.query.terms[1].keys == (ast.Field(("host",)), ast.Field(("os",)))
    assert parse('"""my.cat""" where true').query.filter.category == "my.cat"
    assert parse("`my cat` where true").query.filter.category == "my cat"


def test_walk_visits_every_node():
    st = parse('sequence by h [process where a : ("x", "y")] [file where not b == 1]')
    kinds = {type(n).__name__ for n in ast.walk(st)}
    assert {"Sequence", "SequenceTerm", "EventFilter", "StringMatch", "Not", "Field"} <= kinds


# ---- errors -----------------------------------------------------------------------------


def error_of(text) -> eql.EqlError:
    with pytest.raises(eql.EqlError) as info:
        eql.compile(text)
    return info.value


def test_syntax_error_has_line_column_and_caret():
    err = error_of("process where\n  a == ")
    assert isinstance(err, eql.EqlSyntaxError)
    assert (err.line, err.column) == (2, 8)
    assert str(err).endswith("  a == \n       ^")


def test_unexpected_token_position():
    err = error_of("process where a == 1 b")
    assert isinstance(err, eql.EqlSyntaxError)
    assert (err.line, err.column) == (1, 22)
    assert "\n" + " " * 21 + "^" in str(err)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("process where a = 1", "Use == instead of ="),
        ("process where a == 'x'", "Use double quotes"),
        ('process where a == ?"x"', "Use triple double quotes"),
        (r'process where a == "\q"', "Unexpected character escaped"),
        ("process where a == 1 | unique a", "Pipe [unique] is not supported"),
        ("process where a == 1 | head -1", ""),
        ("process where a == 1 | head", "requires one non-negative integer"),
        ("join [a where true] [b where true]", "[join] are not supported"),
        ("sequence [a where true]", "minimum of 2 queries"),
        ("sequence ![a where true] ![b where true]", "at least one positive"),
        ("sequence [a where true] by x [b where true]", "Inconsistent number of join keys"),
        ("sequence with maxspan=1s by x [a where true] [b where true]", "before [with]"),
        ("sequence with maxspan=1y [a where true] [b where true]", "Unrecognized time unit"),
        ("sequence with maxspan=0s [a where true] [b where true]", "positive maxspan"),
        ("sequence with maxspan=2.5m [a where true] [b where true]", "Decimal time interval"),
        ("process where descendant of [process where true]", ""),
        ("sequence [a where true] [b where true] fork=true", ""),
        ("registry where a[0] == 1", ""),
        ("process where true | sort a", "Pipe [sort] is not supported"),
        ("process where true | unique_count a | filter count < 5", "not supported"),
        ("sequence [a where true] with runs=0 [b where true]", "positive runs"),
        ("sequence [a where true] with runs=101 [b where true]", "more than 100"),
        ("sequence [a where true] [b where true] until [c where true] with runs=2", "[runs]"),
        ("sequence [a where true] [b where true] until ![c where true]", "missing event"),
        ("sample [a where true]", "minimum of 2 queries"),
        ("process where foo(a)", "Unknown function [foo]"),
        ("process where length(a, b)", "takes 1 arguments"),
        ("process where concat()", "arguments"),
        ("process where length~(a)", "no case-insensitive"),
        ("process where a : b", "mismatched input [b]"),
        ("process where a : null", "string constants"),
        ("process where a like 1", "string constants"),
        ("process where a < b < c", ""),
        ("", "empty query"),
        ("process where", ""),
        ("process where a == 1)", ""),
        ("process where a == 1 and", ""),
        ("process where \x00", "token recognition error"),
    ],
)
def test_rejected_queries(text, message):
    err = error_of(text)
    assert message in str(err)
    assert err.line >= 1 and err.column >= 1


def test_deep_nesting_is_an_error_not_a_crash():
    err = error_of("process where " + "(" * 5000 + "a == 1" + ")" * 5000)
    assert isinstance(err, eql.EqlSyntaxError)
    assert "nested too deeply" in str(err)


def test_long_flat_chains_compile():
    q = eql.compile("process where " + " or ".join(f"a == {i}" for i in range(3000)))
    assert isinstance(q.statement.query.filter.condition, ast.Or)
    not_chain = "process where " + "not " * 3000 + "true"
    with contextlib.suppress(eql.EqlError):  # an error is fine, a RecursionError is not
        eql.compile(not_chain)


@pytest.mark.parametrize("junk", ["\ud800", "sequence [[[[", "]]]]", '"unterminated', "`x", "§"])
def test_hostile_input_raises_eql_errors_only(junk):
    with pytest.raises(eql.EqlError):
        eql.compile(f"process where {junk}")


def test_error_classes():
    assert issubclass(eql.EqlSyntaxError, eql.EqlError)
    with pytest.raises(eql.EqlError):
        eql.compile(None)  # type: ignore[arg-type]


def test_brackets_inside_strings_and_comments_do_not_count_as_nesting():
    deep = "(" * 300
    q = eql.compile(
        f'process where a : "*{deep}*" and b == """{deep}""" and `{deep}` == 1 // {deep}\n'
        f"/* {deep} */ and c == 'x'".replace(" and c == 'x'", "")
    )
    assert q.statement.query.filter.condition.operands[0].patterns == (f"*{deep}*",)


def test_colon_with_non_string_constants_is_equality():
    assert cond("any where pid : 4") == ast.Comparison("==", ast.Field(("pid",)), ast.Literal(4))
    c = cond('any where pid : ("x*", 4)')
    assert isinstance(c, ast.Or) and isinstance(c.operands[0], ast.StringMatch)


def test_syntax_errors_say_what_was_expected():
    err = error_of("sequence [a where true")
    assert "mismatched input end of query expecting {']'}" in str(err)
    assert "expecting {'('}" in str(error_of("process where a in 1"))
