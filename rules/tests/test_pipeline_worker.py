"""The pipeline against real PostgreSQL, Redis and Celery workers: crashes and outages."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from kombu import Connection, pools

from rules import handoff
from rules.models import Event, RuleRun
from rules.store import event_row, store_events
from rules.tests.pipeline_helpers import (
    import_library,
    make_source,
    ndjson,
    nodejs_attack,
    process_start,
    winscript_attack,
)
from triage.models import Alert, AlertEvent

pytestmark = pytest.mark.broker


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_a_worker_killed_mid_task_loses_nothing_and_doubles_nothing(
    celery_worker_process, tmp_path, settings
):
    import_library()
    pause = tmp_path / "pause"
    pause.write_text("hold")
    reached = tmp_path / "pause.reached"
    visibility = 2
    worker = celery_worker_process({"CELERY_VISIBILITY_TIMEOUT": str(visibility)}, pause_file=pause)
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(handoff.KEY_PREFIX + "*"):  # other tests' leftovers
        client.delete(key)
    # Two attacks for two rules: the task commits the batch's alerts, then blocks before it
    # returns (so before the message is acknowledged).
    store_events([event_row(e) for e in (winscript_attack(), nodejs_attack(), process_start())])
    wait_for(reached.exists, 60, "the detection task to reach its pause point")
    assert Alert.objects.count() == 2
    # The batch's documents came through Redis, and stay there until the task is done.
    assert len(list(client.scan_iter(handoff.KEY_PREFIX + "*"))) == 1
    worker.kill()
    pause.unlink()
    time.sleep(visibility + 0.5)  # the unacked message becomes visible again
    celery_worker_process({"CELERY_VISIBILITY_TIMEOUT": str(visibility)})
    # The task ran again (each run records a run per rule that matched) ...
    runs = RuleRun.objects.filter(trigger=RuleRun.Trigger.INGEST)
    wait_for(lambda: runs.count() == 4, 60, "the task to run again")
    time.sleep(0.5)
    # ... and found the same two alerts already raised: nothing lost, nothing doubled.
    assert Alert.objects.count() == 2
    assert AlertEvent.objects.filter(kind="raised").count() == 2
    assert sorted(runs.values_list("alerts_raised", flat=True)) == [0, 0, 1, 1]
    # The redelivered task read the same hand-off, then deleted it.
    assert not list(client.scan_iter(handoff.KEY_PREFIX + "*"))


def test_with_redis_down_events_are_stored_and_the_scheduled_run_alerts_later(
    celery_worker_process, client, caplog, monkeypatch
):
    from rules import store, tasks
    from triage.celery import app

    import_library()
    _source, token = make_source()
    attack = winscript_attack(when=datetime.now(UTC) - timedelta(seconds=5))

    # The broker is unreachable: tasks are published through a connection to a closed port.
    dead = Connection("redis://127.0.0.1:9/0")
    monkeypatch.setattr(
        type(app.amqp), "producer_pool", property(lambda self: pools.producers[dead])
    )
    monkeypatch.setattr(store, "_broker_down_until", 0.0)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="rules.store"):
        response = client.post(
            "/api/v1/events",
            data=ndjson([attack, process_start()]),
            content_type="application/x-ndjson",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert time.monotonic() - started < 10
    assert "could not queue detection" in caplog.text
    assert Event.objects.count() == 2 and Alert.objects.count() == 0

    # Redis is back: beat's tick queues the due rules and a worker raises the alert.
    monkeypatch.undo()
    store._broker_down_until = 0.0
    celery_worker_process()
    tasks.run_due_rules.apply_async()
    wait_for(lambda: Alert.objects.exists(), 60, "the scheduled run's alert")
    assert Alert.objects.get().event_ids == [attack["event"]["id"]]
