"""The Celery wiring the detection pipeline relies on, proven with a real worker and Redis."""

import os

import pytest

pytestmark = pytest.mark.broker


def test_task_round_trips_through_redis_and_a_real_worker(celery_worker_process):
    from triage.celery import ping

    worker = celery_worker_process()
    result = ping.delay(value=41).get(timeout=30)

    assert result["pong"] == 41
    # The answer came from another process: the worker, not this test run in eager mode.
    assert result["worker_pid"] != os.getpid()
    assert worker.process.poll() is None


def test_tasks_are_serialised_as_json_and_acknowledged_late():
    from triage.celery import app

    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert "run-due-rules" in app.conf.beat_schedule
