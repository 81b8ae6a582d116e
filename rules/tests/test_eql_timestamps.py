"""The one timestamp module: how a query reads a date, how ingest accepts one, and that they agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rules.eql.timestamps import epoch_millis, format_timestamp, parse_ingest_timestamp
from rules.ingest.ecs import EcsFieldError, check_ecs

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_millis(dt: datetime) -> float:
    return (dt - EPOCH) / timedelta(milliseconds=1)


# Texts ingest accepts and the engine reads as they are, or that ingest rewrites first.
INGEST_TEXTS = [
    "2024-01-02T03:04:05Z",
    "2024-01-02T03:04:05.123Z",
    "2024-01-02T03:04:05.123456z",
    "2024-01-02T03:04:05.1234567Z",
    "2024-01-02 03:04:05",
    "2024-01-02T03:04:05+0100",
    "2024-01-02T03:04:05-05:30",
    "2024-01-02T03:04:05,5Z",
    "2024-01-02T03:04:05 UTC",
    "2024-01-02T03:04",
    "2024-01-02",
    " 2024-01-02T03:04:05Z ",
]


@pytest.mark.parametrize("text", INGEST_TEXTS)
def test_every_timestamp_ingest_stores_is_read_by_the_engine_as_the_same_instant(text):
    checked = check_ecs({"@timestamp": text, "event": {"category": ["process"]}})
    stored = checked["@timestamp"]
    assert epoch_millis(stored) == pytest.approx(as_millis(parse_ingest_timestamp(text)), abs=1e-3)


def test_the_engine_reads_epoch_millis_as_elasticsearch_does_and_ingest_refuses_them_as_text():
    # Elasticsearch's default date format ends in ``||epoch_millis``: digit strings are instants.
    assert epoch_millis("1700000000000") == 1_700_000_000_000
    assert epoch_millis(1_700_000_000_000) == 1_700_000_000_000
    assert epoch_millis([None, "2024-01-02T03:04:05Z"]) == 1_704_164_645_000
    # The stored column needs a datetime from a document a person can read back.
    assert parse_ingest_timestamp("1700000000000") is None
    assert parse_ingest_timestamp(["2024-01-02T03:04:05Z"]) is None
    assert parse_ingest_timestamp(1_700_000_000_000) == EPOCH + timedelta(
        milliseconds=1_700_000_000_000
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), "nan", "inf", True])
def test_no_reader_takes_nan_or_infinity_for_an_instant(value):
    assert epoch_millis(value) is None
    assert parse_ingest_timestamp(value) is None


def test_digits_past_the_microsecond_are_a_fraction_of_a_millisecond_to_the_engine():
    assert epoch_millis("2024-01-02T03:04:05.123456789Z") == pytest.approx(1_704_164_645_123.4568)
    assert parse_ingest_timestamp("2024-01-02T03:04:05.123456789Z").microsecond == 123456


def test_format_timestamp_is_read_back_by_both_readers():
    dt = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    text = format_timestamp(dt)
    assert text == "2024-01-02T03:04:05.678Z"
    assert parse_ingest_timestamp(text) == dt
    assert epoch_millis(text) == as_millis(dt)


def test_a_date_ingest_refuses_is_a_field_error():
    with pytest.raises(EcsFieldError, match="not a date"):
        check_ecs({"@timestamp": "1700000000000"})
