"""One field reader: queries, rule exceptions and ingest read a field the same way."""

from __future__ import annotations

import pytest

from rules import eql
from rules.detection import ExceptionMatcher
from rules.eql.fields import MISSING, field_getter, get_field
from rules.ingest import fields as ingest_fields
from rules.models import ExceptionOperator, RuleException

DOCS = [
    {"process": {"name": "nested"}},
    {"process.name": "dotted"},
    {"process": {"name": "nested"}, "process.name": "dotted"},
    {"process": {"parent.name": "mixed"}},
    {"process.parent": {"name": "mixed"}},
    {"process": {"parent": {"name": "deep"}}},
    {"process": [{"name": "x"}, {"name": "y"}]},
    {"process": [{"name": "x"}, {"pid": 4}]},
    {"process": [{"parent": {"name": "x"}}, {"parent": [{"name": "y"}]}]},
    {"process": [{"pid": 4}]},
    {"process": [[{"name": "in a nested list"}]]},
    {"process": {"name": None}},
    {"process.name": None},
    {"process": None},
    {"process": "a scalar in the way"},
    {"process": {"name": ["a", None, "b"]}},
    {"process": {"Ext": {"token": {"integrity_level_name": "high"}}}},
    {"process.Ext.token": {"integrity_level_name": "dotted high"}},
    {"process": {"Ext.token.integrity_level_name": "mixed high"}},
    {"host.os": {"type": "windows"}, "host": {"name": "h"}},
    {},
]
PATHS = [
    "process",
    "process.name",
    "process.pid",
    "process.parent.name",
    "process.Ext.token.integrity_level_name",
    "host.os.type",
    "host.name",
    "absent",
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("doc", DOCS, ids=repr)
def test_get_field_reads_what_the_engine_reads(doc, path):
    engine = field_getter(tuple(path.split(".")))(doc)
    value = get_field(doc, path)
    assert (None if value is MISSING else value) == engine
    assert get_field(doc, path, "default") == ("default" if value is MISSING else engine)


def test_a_null_field_is_none_and_an_absent_one_is_missing():
    assert get_field({"process": {"name": None}}, "process.name") is None
    assert get_field({"process": {}}, "process.name") is MISSING
    assert get_field({"process": [{"pid": 1}]}, "process.name") is MISSING
    assert get_field({"process": [{"name": None}]}, "process.name") == [None]


def test_ingest_re_exports_the_one_reader():
    assert ingest_fields.get_field is get_field
    assert ingest_fields.MISSING is MISSING


def test_a_query_and_get_field_agree_on_a_list_of_objects():
    doc = {"@timestamp": 1, "event": {"category": "process"}, "process": [{"name": "x"}]}
    assert eql.compile('process where process.name == "x"').search([doc])
    assert get_field(doc, "process.name") == ["x"]


@pytest.mark.parametrize(
    ("operator", "values"),
    [
        (ExceptionOperator.IS, ["x"]),
        (ExceptionOperator.IS_ONE_OF, ["y", "x"]),
        (ExceptionOperator.MATCHES, ["X*"]),
        (ExceptionOperator.EXISTS, []),
    ],
)
def test_a_rule_exception_reads_a_list_of_objects_as_the_engine_does(operator, values):
    matcher = ExceptionMatcher(
        [RuleException(field="process.name", operator=operator, values=values, comment="c")]
    )
    assert matcher.match([{"process": [{"name": "x"}]}]) is not None
    assert matcher.match([{"process": [{"pid": 1}]}]) is None
