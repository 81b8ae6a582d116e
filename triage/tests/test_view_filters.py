"""GET filters as forms: every key answered, bad values read as their defaults."""

from django.http import QueryDict

from triage.views.filters import history_filters
from triage.views.queue import QueueFilterForm


class Range:
    start = end = None


def test_queue_filters_strip_clip_and_fall_back():
    values = QueueFilterForm(
        QueryDict("host=%20web01%20&sort=bogus&group=host&rule=" + "9" * 300)
    ).values()
    assert values["host"] == "web01"
    assert values["sort"] == "risk" and values["group"] == "host"
    assert len(values["rule"]) == 200
    assert list(values) == [
        "status",
        "severity",
        "technique",
        "rule",
        "host",
        "assignee",
        "since",
        "sort",
        "group",
    ]


def test_queue_filters_keep_the_last_of_repeated_keys_like_request_get():
    assert QueueFilterForm(QueryDict("host=a&host=b")).values()["host"] == "b"


def test_history_filters_read_ids_as_digits_only():
    f = history_filters(
        QueryDict("analyst=%2012%20&rule=-3&technique=T1059.001.extra&outcome=nope"), Range
    )
    assert (f.analyst, f.rule, f.technique, f.outcome) == (12, None, "T1059.001.extra"[:16], "")
    f = history_filters({"rule": "1" * 19, "outcome": "override"}, Range)
    assert (f.rule, f.outcome) == (None, "override")
