"""Manager pages under load: the metrics page and the CSV export over 100,000 alerts.

    .venv/bin/python -m bench.ui_manager [--alerts 100000] [--requests 20] [--reload]

Uses its own PostgreSQL database (``soc_bench_manager`` on the server of ``DATABASE_URL``,
default ``postgres://root@127.0.0.1:5432``), created, migrated and bulk-loaded with COPY on the
first run (``--reload`` starts it again). The history is deterministic (seeded): a year of
alerts with claims, answers, L1 decisions (some overrides), T2 claims, accepts, returns,
containment, closes and a few reopenings — about ten AlertEvent rows per alert.

What it prints, each with a baseline measured in the same run:

1. **Metrics page** (``GET /manager/metrics/``, Django test client, logged in as a manager):
   p50/p95 over ``--requests`` requests for the default 30 days and for the whole year (every
   alert). Baseline: the same durations computed the naive way, by loading the cohort's
   events into Python and looping (what the SQL replaces).
2. **CSV export** (``GET /manager/history/export.csv``): peak Python memory (tracemalloc) and
   time while streaming ~10k and ~100k decisions; the ratio of the two peaks shows whether
   memory stays flat as the range grows. Baseline: the same rows materialised with ``list()``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

BENCH_DB = "soc_bench_manager"
SEED = 1059
START = datetime(2025, 11, 1, tzinfo=UTC)
DAYS = 365


def _configure(server_url: str) -> None:
    parsed = urlparse(server_url)
    base = f"{parsed.scheme}://{parsed.netloc}"
    os.environ["DATABASE_URL"] = f"{base}/{BENCH_DB}"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
    os.environ["DEBUG"] = "0"
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    os.environ["SECURE_COOKIES"] = "0"
    os.environ["STATIC_MANIFEST"] = "0"
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("REDIS_URL", "")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")


def _ensure_database(server_url: str, reload: bool) -> bool:
    """Create the bench database if needed; True when it must be (re)loaded."""
    import psycopg

    parsed = urlparse(server_url)
    with psycopg.connect(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "root",
        password=parsed.password or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if exists and reload:
            conn.execute(f'DROP DATABASE "{BENCH_DB}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
            return True
    return False


# --- the history -------------------------------------------------------------------------------


def _copy(cursor, model, rows: list[dict]) -> None:
    """COPY plain dicts into a model's table; missing columns get the field default."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not f.primary_key or f.name in rows[0]]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [
                    f.get_db_prep_save(
                        row[f.attname] if f.attname in row else f.get_default(), connection
                    )
                    for f in fields
                ]
            )


def load(alerts: int) -> None:
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from rules.models import DetectionRule
    from triage.models import Alert, AlertEvent

    rng = random.Random(SEED)
    print(f"loading {alerts:,} alerts and their history …", file=sys.stderr)
    started = time.perf_counter()
    rules = [
        DetectionRule.objects.create(
            rule_id=f"bench-{i:03d}",
            name=f"Bench rule {i:03d}",
            query="process where true",
            severity=rng.choice(["low", "medium", "high", "critical"]),
        )
        for i in range(20)
    ]
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ("l1", "t2", "manager")}
    l1 = [User.objects.create(username=f"l1_{i:02d}") for i in range(10)]
    t2 = [User.objects.create(username=f"t2_{i:02d}") for i in range(4)]
    manager = User.objects.create(username="bench_manager")
    for user in l1:
        user.groups.add(groups["l1"])
    for user in t2:
        user.groups.add(groups["t2"])
    manager.groups.add(groups["manager"])

    severities = ["low"] * 3 + ["medium"] * 4 + ["high"] * 2 + ["critical"]
    alert_rows, event_rows = [], []
    next_event = 0
    now = START + timedelta(days=DAYS)
    # Noisy rules first: rule i gets weight 1/(i+1).
    weights = [1 / (i + 1) for i in range(len(rules))]
    answers = ["obfuscated", "suspicious_network", "expected_origin", "unexpected_children"]

    def event(alert_id, actor, kind, at, from_status="", to_status="", **data):
        nonlocal next_event
        next_event += 1
        event_rows.append(
            {
                "id": next_event,
                "alert_id": alert_id,
                "actor_id": actor.pk if actor else None,
                "created_at": at,
                "kind": kind,
                "from_status": from_status,
                "to_status": to_status,
                "data": data,
            }
        )

    for alert_id in range(1, alerts + 1):
        raised = START + timedelta(seconds=DAYS * 86400 * (alert_id - 1) / alerts)
        rule = rng.choices(rules, weights)[0]
        severity = rng.choice(severities)
        t = raised
        status, disposition, closed_at = "new", "", None
        event(alert_id, None, "raised", t, "", "new", rule_id=rule.rule_id)
        if rng.random() < 0.97 and raised < now - timedelta(hours=2):
            analyst = rng.choice(l1)
            t += timedelta(minutes=rng.expovariate(1 / 25))
            event(alert_id, analyst, "claimed", t, "new", "triage", bulk=False)
            status = "triage"
            malicious = rng.random() < 0.25
            for question in answers:
                t += timedelta(minutes=rng.expovariate(1 / 3))
                value = rng.choice(["yes", "no", "unknown"])
                event(alert_id, analyst, "answered", t, question=question, answer=value, note="")
            t += timedelta(minutes=rng.expovariate(1 / 10))
            override = rng.random() < 0.08
            if malicious != override:  # an override goes against the recommendation
                event(alert_id, analyst, "escalated", t, "triage", "escalated",
                      recommendation="close" if override else "escalate", decision="escalate",
                      override=override, rationale="bench" if override else "")  # fmt: skip
                status = "escalated"
                if rng.random() < 0.9:
                    specialist = rng.choice(t2)
                    t += timedelta(minutes=rng.expovariate(1 / 40))
                    event(alert_id, specialist, "t2_claimed", t, "escalated", "investigating")
                    status = "investigating"
                    roll = rng.random()
                    t += timedelta(minutes=rng.expovariate(1 / 60))
                    if roll < 0.2:
                        event(alert_id, specialist, "returned", t, "investigating", "triage",
                              reason="not enough", to_user=analyst.pk)  # fmt: skip
                        t += timedelta(minutes=rng.expovariate(1 / 30))
                        event(alert_id, analyst, "closed", t, "triage", "closed", stage="l1",
                              disposition="false_positive", reason="bench",
                              recommendation="close", override=False)  # fmt: skip
                        status, disposition, closed_at = "closed", "false_positive", t
                    elif roll < 0.9:
                        event(alert_id, specialist, "t2_accepted", t, "investigating",
                              "containment", note="")  # fmt: skip
                        for item in ("isolate_host", "edr_forensics", "block_indicators"):
                            t += timedelta(minutes=rng.expovariate(1 / 20))
                            event(alert_id, specialist, "containment_item", t,
                                  section="containment", item=item, state="done")  # fmt: skip
                        t += timedelta(minutes=rng.expovariate(1 / 30))
                        event(alert_id, specialist, "closed", t, "containment", "closed",
                              stage="t2", disposition="true_positive", reason="contained",
                              override=False)  # fmt: skip
                        status, disposition, closed_at = "closed", "true_positive", t
                    else:
                        event(alert_id, specialist, "closed", t, "investigating", "closed",
                              stage="t2", disposition="benign_true_positive", reason="admin",
                              override=False)  # fmt: skip
                        status, disposition, closed_at = "closed", "benign_true_positive", t
            else:
                disposition = rng.choice(["false_positive"] * 6 + ["benign_true_positive"] * 3
                                         + ["duplicate"])  # fmt: skip
                event(alert_id, analyst, "closed", t, "triage", "closed", stage="l1",
                      disposition=disposition, reason="bench", recommendation="close",
                      override=override, rationale="bench" if override else "")  # fmt: skip
                status, closed_at = "closed", t
                if rng.random() < 0.01:
                    t += timedelta(hours=rng.expovariate(1 / 5))
                    specialist = rng.choice(t2)
                    event(alert_id, specialist, "reopened", t, "closed", "investigating")
                    t += timedelta(hours=1)
                    event(alert_id, specialist, "closed", t, "investigating", "closed",
                          stage="t2", disposition="true_positive", reason="it was real",
                          override=False)  # fmt: skip
                    disposition, closed_at = "true_positive", t
        alert_rows.append(
            {
                "id": alert_id,
                "key": f"bench-{alert_id}",
                "rule_id": rule.pk,
                "rule_name": rule.name,
                "severity": severity,
                "timestamp": raised,
                "created_at": raised,
                "updated_at": closed_at or raised,
                "host_name": f"host-{alert_id % 500:03d}",
                "status": status,
                "assignee_id": None,
                "disposition": disposition,
                "closed_at": closed_at,
            }
        )
    with connection.cursor() as cursor:
        raw = cursor.cursor
        _copy(raw, Alert, alert_rows)
        _copy(raw, AlertEvent, event_rows)
        for model in (Alert, AlertEvent):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT MAX(id) FROM {table}))",  # noqa: S608
                [table],
            )
        cursor.execute("ANALYZE")
    print(
        f"loaded {len(alert_rows):,} alerts, {len(event_rows):,} events "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )


# --- measurements ------------------------------------------------------------------------------


def _timed(function, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def naive_durations(start, end) -> dict:
    """The baseline: ack/escalate/resolve means computed by looping over the events."""
    from triage.models import Alert, AlertEvent

    raised = dict(
        Alert.objects.filter(created_at__gte=start, created_at__lt=end).values_list(
            "id", "created_at"
        )
    )
    first: dict[tuple[int, str], datetime] = {}
    last_close: dict[int, datetime] = {}
    reopened: dict[int, datetime] = {}
    events = AlertEvent.objects.filter(alert_id__in=list(raised)).values_list(
        "alert_id", "kind", "created_at"
    )
    for alert_id, kind, at in events:
        if kind in ("claimed", "escalated"):
            first.setdefault((alert_id, kind), at)
        elif kind == "closed":
            last_close[alert_id] = max(at, last_close.get(alert_id, at))
        elif kind == "reopened":
            reopened[alert_id] = max(at, reopened.get(alert_id, at))
    ack = [(at - raised[a]).total_seconds() for (a, k), at in first.items() if k == "claimed"]
    resolve = [
        (at - raised[a]).total_seconds()
        for a, at in last_close.items()
        if a not in reopened or reopened[a] < at
    ]
    return {
        "ack_mean": statistics.fmean(ack) if ack else None,
        "resolve_mean": statistics.fmean(resolve) if resolve else None,
    }


def bench_metrics(client, repeat: int) -> None:
    from django.core.cache import cache

    from triage import metrics

    print("\n== Metrics page (GET /manager/metrics/) ==")
    end_day = (START + timedelta(days=DAYS - 1)).date()
    ranges = {
        "last 30 days": {"from": (end_day - timedelta(days=29)).isoformat(), "to": str(end_day)},
        "whole year": {"from": START.date().isoformat(), "to": str(end_day)},
    }

    def cold(query):
        cache.clear()  # every request computes the figures from the history
        assert client.get("/manager/metrics/", query).status_code == 200

    for label, query in ranges.items():
        date_range = metrics.DateRange.from_query(query)
        m = metrics.team_metrics(date_range.start, date_range.end)
        cold(query)
        page = _timed(lambda q=query: cold(q), repeat)
        warm = _timed(lambda q=query: client.get("/manager/metrics/", q), repeat)
        naive = _timed(lambda r=date_range: naive_durations(r.start, r.end), max(2, repeat // 10))
        check = naive_durations(date_range.start, date_range.end)
        assert abs((check["ack_mean"] or 0) - (m.acknowledge.mean or 0)) < 0.01, (check, m)
        print(
            f"{label:>13}: {m.alerts:,} alerts, {m.decisions:,} decisions\n"
            f"    computed (cache cleared): p50 {statistics.median(page):7.1f} ms  "
            f"p95 {_p95(page):7.1f} ms   (goal p95 < 300 ms)\n"
            f"    unchanged history (reused): p50 {statistics.median(warm):7.1f} ms  "
            f"p95 {_p95(warm):7.1f} ms\n"
            f"    baseline, Python loop over the events (durations only): p50 "
            f"{statistics.median(naive):7.1f} ms -> computed page is "
            f"{statistics.median(naive) / statistics.median(page):.1f}x faster"
        )


def _consume_export(client, query, trace: bool) -> tuple[int, float, int]:
    """Read the whole CSV response; with ``trace`` also the peak of Python memory (tracemalloc
    slows allocation-heavy code, so the timed pass runs without it)."""
    if trace:
        tracemalloc.start()
        tracemalloc.reset_peak()
    started = time.perf_counter()
    response = client.get("/manager/history/export.csv", query)
    lines = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    peak = 0
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return lines - 1, elapsed, peak


def _materialise(query) -> tuple[int, float, int]:
    from triage import history, metrics
    from triage.views.filters import history_filters

    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    date_range = metrics.DateRange.from_query(query)
    rows = history.filter_by(history.rows(), history_filters(query, date_range))
    materialised = list(rows.values_list(*history._EXPORT_VALUES))
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return len(materialised), elapsed, peak


def bench_export(client) -> None:
    from django.db.models import Q

    from triage.models import AlertEvent

    print("\n== CSV export (GET /manager/history/export.csv), streamed ==")
    decisions = AlertEvent.objects.filter(
        Q(kind="escalated") | Q(kind="closed", from_status__in=("new", "triage"))
    ).order_by("created_at")
    end_day = (START + timedelta(days=DAYS - 1)).date()
    results = {}
    for target in (10_000, 100_000):
        nth = decisions.values_list("created_at", flat=True)[target - 1 : target].first()
        last = min(nth.date(), end_day) if nth else end_day
        query = {"from": START.date().isoformat(), "to": last.isoformat()}
        rows, seconds, _ = _consume_export(client, query, trace=False)
        _, _, peak = _consume_export(client, query, trace=True)
        base_rows, base_seconds, base_peak = _materialise(query)
        results[target] = (peak, base_peak)
        print(
            f"~{target:>7,} rows: streamed {rows:,} rows in {seconds:5.1f} s "
            f"({rows / seconds:,.0f} rows/s), peak Python memory {peak / 2**20:6.1f} MiB | "
            "baseline list() "
            f"{base_rows:,} rows in {base_seconds:5.1f} s, peak {base_peak / 2**20:6.1f} MiB"
        )
    growth = results[100_000][0] / results[10_000][0]
    base_growth = results[100_000][1] / results[10_000][1]
    print(
        f"peak memory 100k/10k: streamed {growth:.2f}x (flat ≈ 1), baseline {base_growth:.2f}x; "
        f"at 100k the stream uses {results[100_000][1] / results[100_000][0]:.0f}x less than "
        "the baseline"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--reload", action="store_true", help="drop and load the data again")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args(argv)

    server = os.environ.get("DATABASE_URL") or "postgres://root@127.0.0.1:5432/postgres"
    if not urlparse(server).scheme.startswith("postgres"):
        print("bench/ui_manager.py needs PostgreSQL (DATABASE_URL)", file=sys.stderr)
        return 2
    fresh = _ensure_database(server, args.reload)
    _configure(server)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    from triage.models import Alert

    if fresh or not Alert.objects.exists():
        load(args.alerts)
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.get(username="bench_manager"))
    from triage.models import AlertEvent

    print(
        f"database {BENCH_DB}: {Alert.objects.count():,} alerts, "
        f"{AlertEvent.objects.count():,} events; Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    bench_metrics(client, args.requests)
    if not args.skip_export:
        bench_export(client)
    return 0


if __name__ == "__main__":
    sys.exit(main())
