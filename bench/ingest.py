"""Ingest benchmark: HTTP POST → stored → evaluated, against PostgreSQL's raw COPY rate.

    python bench/ingest.py [--events 40000] [--rounds 5] [--batch 1000] [--latency-samples 30]
                           [--rule-sets both|seeds|windows]

On a fresh machine with local PostgreSQL and Redis, it creates its own database, migrates it,
imports the rules, starts its own gunicorn on 127.0.0.1 and a Celery worker, then measures:

1. **Throughput** for two rule sets (the three seed rules; every Windows EQL rule of the
   corpus plus the seeds): events per second from the first POST until every event is stored
   *and* every detection task has finished (Redis queue and unacked set empty).
2. **Baseline**: the raw ``COPY`` rate of the same rows (same columns, same JSON) into the
   event table itself, as large as the run has made it (same indexes, same data around
   them), in a transaction that is rolled back; measured right before and right after each
   throughput round (the round's baseline is the faster of the two). Each rule set gets
   ``--rounds`` rounds of fresh events; the median ratio is reported with every round's,
   since a shared machine's speed drifts. The COPY into an empty twin of the table (the fastest case, which
   a growing store does not have) is measured and printed too, with its ratio.
3. **Latency**: POST of one attack event → its alert row exists (p50/p95), with a real worker.

It prints the figures and the ratios against the goals (ingest ≥ 0.5 x COPY; p95 < 2 s), and
removes everything it created. Environment: ``BENCH_POSTGRES_URL`` (a server URL, default
``postgres://root@127.0.0.1:5432/postgres``), ``BENCH_REDIS_URL`` (default Redis db 14).
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import orjson
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.events import generate_events  # noqa: E402

SHARED = Path(os.environ.get("SOC_SHARED_DIR") or ROOT.parent / "shared")
CORPUS = SHARED / "corpus" / "detection-rules" / "eql" / "rules" / "windows"
WINSCRIPT_RULE_ID = "2d62889e-e758-4c5e-b57e-c735914ee32a"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self, args):
        self.args = args
        server = urlparse(
            os.environ.get("BENCH_POSTGRES_URL", "postgres://root@127.0.0.1:5432/postgres")
        )
        self.dbname = f"soc_bench_{os.getpid()}"
        auth = server.username or "root"
        if server.password:
            auth += f":{server.password}"
        host = f"{server.hostname or '127.0.0.1'}:{server.port or 5432}"
        self.server_url = f"postgres://{auth}@{host}/{server.path.lstrip('/') or 'postgres'}"
        self.db_url = f"postgres://{auth}@{host}/{self.dbname}"
        self.redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
        self.port = free_port()
        self.procs: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": self.db_url,
            "REDIS_URL": self.redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",
            "STATIC_MANIFEST": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        self.token = ""
        self.redis = redis.Redis.from_url(self.redis_url)
        self.cpu_per_event: dict[str, float] = {}

    # --- setup and teardown ------------------------------------------------------------
    def manage(self, *argv: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *argv],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode not in (0, 2):  # import_rules exits 2 when some files fail
            raise RuntimeError(f"manage.py {' '.join(argv)} failed:\n{result.stderr}")
        return result.stdout

    def setup(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
        log(f"database {self.dbname}: migrating, importing rules")
        self.manage("migrate", "--no-input", "-v", "0")
        paths = [str(ROOT / "rules" / "library"), *([str(CORPUS)] if CORPUS.is_dir() else [])]
        out = self.manage("import_rules", *paths)
        log("  " + out.strip().splitlines()[-1])
        self.token = self.manage("create_ingest_source", "bench").strip()
        self.redis.delete("celery", "unacked", "unacked_index")
        log_dir = ROOT / "test-artifacts"
        log_dir.mkdir(exist_ok=True)
        web_log = (log_dir / "bench-web.log").open("ab")
        worker_log = (log_dir / "bench-worker.log").open("ab")
        self.procs.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("gunicorn")),
                    "triage.wsgi",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    str(self.args.web_workers),
                    "--timeout",
                    "120",
                ],
                cwd=ROOT,
                env={**self.env, "PGAPPNAME": "bench-web"},  # tells its connections apart
                stdout=web_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        self.worker_log = worker_log
        self.start_worker()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _ = self.request("GET", "/api/es/", b"")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the web server did not start; see test-artifacts/bench-web.log")

    def start_worker(self) -> None:
        """A Celery worker whose processes compile the enabled rules as they start."""
        self.worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "triage",
                "worker",
                "--loglevel=WARNING",
                f"--concurrency={self.args.worker_concurrency}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--hostname=bench-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env={**self.env, "PGAPPNAME": "bench-worker"},
            stdout=self.worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(self.worker)

    def restart_worker(self) -> None:
        """A fresh worker for a phase: its processes compile that phase's rules at start, as
        after a deploy or a restart, so the timed window holds the steady state, not a
        one-time compilation in whichever process gets its first batch there."""
        self.procs.remove(self.worker)
        os.killpg(self.worker.pid, signal.SIGTERM)
        self.worker.wait(timeout=60)
        self.redis.delete("celery", "unacked", "unacked_index")
        self.start_worker()

    def wait_quiet(self, kinds=("worker",), timeout: float = 120) -> None:
        """Until the processes of ``kinds`` have stopped using CPU: the worker done
        compiling, PostgreSQL done with the autovacuum and checkpoint work a round leaves."""
        deadline = time.monotonic() + timeout
        used = cpu_by_process_kind()
        last = sum(used.get(kind, 0.0) for kind in kinds)
        while time.monotonic() < deadline:
            time.sleep(1.0)
            used = cpu_by_process_kind()
            now = sum(used.get(kind, 0.0) for kind in kinds)
            if now - last < 0.02 * len(kinds):
                return
            last = now

    def teardown(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.redis.delete("celery", "unacked", "unacked_index")
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')

    # --- helpers -------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes, conn=None) -> tuple[int, bytes]:
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            conn.request(
                method,
                path,
                body=body,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/x-ndjson",
                },
            )
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            if own:
                conn.close()

    def idle(self) -> bool:
        """No detection task queued or running (acks_late keeps a running task unacked)."""
        return self.redis.llen("celery") == 0 and self.redis.hlen("unacked") == 0

    def wait_idle(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        time.sleep(0.05)
        while time.monotonic() < deadline:
            if self.idle():
                return
            time.sleep(0.02)
        raise RuntimeError("detection did not finish in time; see test-artifacts/bench-worker.log")

    def sql(self, query: str, params=()):
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def enable_rules(self, seeds_only: bool) -> int:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute("UPDATE rules_detectionrule SET enabled = true")
            if seeds_only:
                conn.execute(
                    "UPDATE rules_detectionrule SET enabled = false WHERE source_path NOT LIKE %s",
                    [f"{ROOT / 'rules' / 'library'}%"],
                )
            return conn.execute(
                "SELECT count(*) FROM rules_detectionrule WHERE enabled"
            ).fetchone()[0]

    def warm_up(self, events: list[dict]) -> None:
        """A fresh worker compiles the enabled rules, and one batch goes through, before
        anything is timed."""
        self.restart_worker()
        self.wait_quiet()
        status, body = self.request("POST", "/api/v1/events", to_ndjson(events))
        assert status == 200, body
        self.wait_idle()
        self.wait_quiet()

    # --- measurements ----------------------------------------------------------------------
    def throughput(self, bodies: list[bytes], count: int) -> float:
        """Events per second from the first POST to stored and evaluated."""
        queue = list(enumerate(bodies))
        lock = threading.Lock()
        accepted = [0]
        errors: list[str] = []

        def sender() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            while True:
                with lock:
                    if not queue:
                        break
                    _i, body = queue.pop(0)
                status, answer = self.request("POST", "/api/v1/events", body, conn)
                if status != 200:
                    errors.append(f"{status} {answer[:200]!r}")
                    continue
                with lock:
                    accepted[0] += orjson.loads(answer)["accepted"]
            conn.close()

        before = cpu_by_process()
        started = time.perf_counter()
        threads = [threading.Thread(target=sender) for _ in range(self.args.senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        posted = time.perf_counter() - started
        self.wait_idle()
        elapsed = time.perf_counter() - started
        if errors:
            raise RuntimeError(f"{len(errors)} POSTs failed, first: {errors[0]}")
        if accepted[0] != count:
            raise RuntimeError(f"{accepted[0]} of {count} events accepted")
        log(f"  posted in {posted:.1f} s, evaluated by {elapsed:.1f} s")
        spent = cpu_by_process_kind(since=before)
        self.cpu_per_event = {k: spent.get(k, 0.0) / count * 1e6 for k in CPU_KINDS}
        # PostgreSQL's share, by whose connection it served (PGAPPNAME, set per process kind)
        clients = dict(
            self.sql("SELECT pid, application_name FROM pg_stat_activity WHERE datname = %s",
                     [self.dbname])
        )  # fmt: skip
        served = cpu_by_process_kind(
            since=before,
            group=lambda pid, kind: (
                {"bench-web": "web", "bench-worker": "worker"}.get(clients.get(pid), "other")
                if kind == "postgres"
                else None
            ),
        )
        self.postgres_by_client = {k: v / count * 1e6 for k, v in served.items()}
        return count / elapsed

    def copy_rate(
        self, events: list[dict], *, into: str = "store", id_suffix: str = "", text: bool = False
    ) -> float:
        """Raw COPY of the same rows (same columns, same JSON), from a client that has them
        ready: ``into="store"``, into the event table itself at its size then (same indexes,
        same data around them), in a transaction that is rolled back and vacuumed away;
        ``into="empty"``, into an empty twin of the event table (same indexes). ``id_suffix``
        is appended to the ``event_id`` column, for rows the store already holds. In the
        binary format ingest sends, or with ``text``, in COPY's default text format (what
        ``psql \\copy`` sends, and ingest did before: the baseline of earlier figures)."""
        from rules.store import COLUMN_TYPES, INDEXED_COLUMNS, JsonbFromText, event_row

        columns = INDEXED_COLUMNS
        rows = []
        for e in events:
            row = event_row(e)
            rows.append([*(row.columns[c] for c in columns), row.doc_json])
            rows[-1][0] += id_suffix
        names = ", ".join(columns)
        table = "rules_event" if into == "store" else "bench_copy"
        with psycopg.connect(self.db_url) as conn:
            if into != "store":
                conn.execute("DROP TABLE IF EXISTS bench_copy")
                conn.execute("CREATE TABLE bench_copy (LIKE rules_event INCLUDING ALL)")
                conn.commit()
            # The format ingest sends in: binary, the documents as the JSON text in hand.
            conn.adapters.register_dumper(None, JsonbFromText)
            types = [*(COLUMN_TYPES.get(c, "text") for c in columns), "timestamptz", "jsonb"]
            cpu_before = cpu_by_process()
            started = time.perf_counter()
            now = datetime.now(UTC)
            statement = f"COPY {table} ({names}, ingested_at, doc) FROM STDIN"
            with conn.cursor() as cur:
                if text:
                    with cur.copy(statement) as copy:
                        for r in rows:
                            copy.write_row([*r[:-1], now, r[-1].decode()])
                else:
                    with cur.copy(statement + " (FORMAT BINARY)") as copy:
                        copy.set_types(types)
                        for r in rows:
                            copy.write_row([*r[:-1], now, r[-1]])
            if into == "store":
                conn.rollback()
            else:
                conn.commit()
            elapsed = time.perf_counter() - started
            spent = cpu_by_process_kind(since=cpu_before).get("postgres", 0.0)
            self.copy_postgres_cpu = spent / len(rows) * 1e6
            conn.autocommit = True
            if into == "store":
                conn.execute("VACUUM rules_event")  # the rolled-back rows, out of the way
            else:
                conn.execute("DROP TABLE bench_copy")
        return len(rows) / elapsed

    def latency(self, samples: int) -> list[float]:
        """Seconds from POST of one attack event to its alert row."""
        from rules.detection import alert_key
        from rules.tests.pipeline_helpers import winscript_attack

        out = []
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        with psycopg.connect(self.db_url, autocommit=True) as db:
            for _ in range(samples):
                event = winscript_attack()
                key = alert_key(WINSCRIPT_RULE_ID, [event["event"]["id"]])
                started = time.perf_counter()
                status, body = self.request("POST", "/api/v1/events", to_ndjson([event]), conn)
                assert status == 200, body
                deadline = started + 30
                while time.perf_counter() < deadline:
                    if db.execute("SELECT 1 FROM triage_alert WHERE key = %s", [key]).fetchone():
                        break
                    time.sleep(0.005)
                else:
                    raise RuntimeError("no alert within 30 s")
                out.append(time.perf_counter() - started)
                time.sleep(0.05)
        conn.close()
        return out


CPU_KINDS = ("web", "worker", "postgres")


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """pid -> (kind, CPU seconds used so far) of the processes of each kind on this machine
    (Linux /proc): the web server, the Celery worker, PostgreSQL."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for proc in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        kind = (
            "web"
            if "gunicorn" in cmd
            else "worker"
            if "celery" in cmd
            else "postgres"
            if cmd.startswith("postgres")
            else None
        )
        if kind is not None:
            out[int(proc.name)] = (kind, seconds)
    return out


def cpu_by_process_kind(
    since: dict[int, tuple[str, float]] | None = None, group=None
) -> dict[str, float]:
    """CPU seconds per kind of process: used so far, or since the ``cpu_by_process()``
    reading ``since`` (processes started meanwhile count whole; the ones that ended
    meanwhile, such as a short-lived autovacuum worker, are not seen). ``group(pid, kind)``
    files a process under another name (None: left out)."""
    out: dict[str, float] = {}
    for pid, (kind, seconds) in cpu_by_process().items():
        name = kind if group is None else group(pid, kind)
        if name is None:
            continue
        earlier = since.get(pid) if since else None
        used = seconds - earlier[1] if earlier and earlier[0] == kind else seconds
        out[name] = out.get(name, 0.0) + max(0.0, used)
    return out


def to_ndjson(events) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=40_000, help="events per round")
    parser.add_argument(
        "--rounds", type=int, default=5, help="COPY-then-ingest rounds per rule set (median)"
    )
    parser.add_argument("--batch", type=int, default=1000, help="events per POST")
    parser.add_argument("--senders", type=int, default=2, help="concurrent HTTP clients")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--latency-samples", type=int, default=30)
    parser.add_argument(
        "--rule-sets",
        choices=("both", "seeds", "windows"),
        default="both",
        help="which rule sets to measure (default both)",
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789")
    import django

    django.setup()

    bench = Bench(args)
    phases = [
        (label, seeds_only)
        for label, seeds_only in (("3 seed rules", True), ("seeds + Windows corpus", False))
        if args.rule_sets == "both" or (args.rule_sets == "seeds") == seeds_only
    ]
    if not CORPUS.is_dir() and any(not seeds_only for _label, seeds_only in phases):
        print(f"the Windows rule set is skipped: no corpus at {CORPUS} (set SOC_SHARED_DIR)")
        phases = [(label, seeds_only) for label, seeds_only in phases if seeds_only]
    # Every round of every phase has its own events (each is stored once).
    n_parts = len(phases) * args.rounds
    log(f"generating {200 + n_parts * args.events} events")
    events = list(generate_events(200 + n_parts * args.events, seed=4104))
    warm = events[:200]
    parts = [events[200 + i * args.events : 200 + (i + 1) * args.events] for i in range(n_parts)]
    results = {}
    try:
        bench.setup()
        for index, (label, seeds_only) in enumerate(phases):
            n_rules = bench.enable_rules(seeds_only)
            bench.warm_up(
                [dict(e, event={**e["event"], "id": e["event"]["id"] + label}) for e in warm]
            )
            log(f"throughput with {label} ({n_rules} rules enabled), {args.rounds} rounds")
            rounds = []
            for r in range(args.rounds):
                part = parts[index * args.rounds + r]
                # The baseline is the raw COPY of the same rows into the event store as it
                # stands, measured right before and right after each round, the faster of
                # the two (the machine may be shared, and its speed drifts, within a run and
                # even within a round: the COPY right after an ingest round is often the
                # slower, and the faster is the harder baseline); the rounds' median is
                # reported. The COPY into an empty twin table is measured too, for comparison.
                bench.wait_quiet(CPU_KINDS)
                empty = bench.copy_rate(part, into="empty")
                bench.wait_quiet(CPU_KINDS)
                before = bench.copy_rate(part)
                copy_postgres_cpu = bench.copy_postgres_cpu
                bench.wait_quiet(CPU_KINDS)
                as_text = bench.copy_rate(part, text=True)
                bodies = [
                    to_ndjson(part[i : i + args.batch]) for i in range(0, len(part), args.batch)
                ]
                bench.wait_quiet(CPU_KINDS)
                rate = bench.throughput(bodies, len(part))
                bench.wait_quiet(CPU_KINDS)
                after = bench.copy_rate(part, id_suffix="~")
                copy_rate = max(before, after)
                log(
                    f"  round {r + 1}: COPY into the store {before:,.0f} then {after:,.0f} "
                    f"events/s (into an empty table {empty:,.0f}), ingest {rate:,.0f} events/s, "
                    f"ratio {rate / copy_rate:.2f} ({rate / empty:.2f} to the empty table, "
                    f"{rate / as_text:.2f} to the text-format COPY, {as_text:,.0f} events/s); "
                    f"PostgreSQL CPU per event: COPY {copy_postgres_cpu:.0f} us, ingest "
                    f"{bench.cpu_per_event['postgres']:.0f} us ("
                    + ", ".join(
                        f"{k} {bench.postgres_by_client.get(k, 0.0):.0f}"
                        for k in ("web", "worker", "other")
                    )
                    + ")"
                )
                rounds.append((rate, copy_rate, bench.cpu_per_event, empty, as_text))
            results[label] = (n_rules, rounds)
        log(f"latency: {args.latency_samples} single attack events")
        latencies = bench.latency(args.latency_samples)
        alerts = bench.sql("SELECT count(*) FROM triage_alert")[0][0]
    finally:
        bench.teardown()

    print(f"ingest benchmark: {args.events} events per round, {args.rounds} rounds per rule "
          f"set, {args.batch} per POST, {args.senders} senders, {args.web_workers} web workers, "
          f"worker concurrency {args.worker_concurrency}, {os.cpu_count()} CPUs")  # fmt: skip
    for label, (n_rules, rounds) in results.items():
        ratios = [rate / copy_rate for rate, copy_rate, *_rest in rounds]
        to_empty = statistics.median(r[0] / r[3] for r in rounds)
        to_text = statistics.median(r[0] / r[4] for r in rounds)
        ratio = statistics.median(ratios)
        verdict = "meets" if ratio >= 0.5 else "MISSES"
        print(
            f"{label} ({n_rules} rules): HTTP POST -> stored and evaluated "
            f"{statistics.median(r[0] for r in rounds):,.0f} events/s; raw COPY of the same "
            f"rows into the store around it: {statistics.median(r[1] for r in rounds):,.0f} "
            f"events/s (medians of {len(rounds)} rounds); ratio {ratio:.2f}, median of "
            f"{', '.join(f'{x:.2f}' for x in ratios)} ({verdict} the 0.5 goal); to the COPY "
            f"into an empty table ({statistics.median(r[3] for r in rounds):,.0f} events/s): "
            f"{to_empty:.2f}; to the COPY in the text format "
            f"({statistics.median(r[4] for r in rounds):,.0f} events/s): {to_text:.2f}"
        )
        print(
            "  CPU per event (mean of the rounds): "
            + ", ".join(
                f"{kind} {statistics.mean(r[2][kind] for r in rounds):,.0f} us"
                for kind in CPU_KINDS
            )
            + f" (the machine has {os.cpu_count()} CPUs)"
        )
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    verdict = "meets" if p95 < 2 else "MISSES"
    print(
        f"detection latency POST -> alert row ({len(latencies)} samples, all rules enabled): "
        f"p50 {p50 * 1000:,.0f} ms, p95 {p95 * 1000:,.0f} ms ({verdict} the 2 s goal); "
        f"alerts raised in the run: {alerts}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
