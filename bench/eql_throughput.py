"""EQL throughput: our engine against orjson parsing and the PyPI ``eql`` package, in one run.

    .venv/bin/python -m bench.eql_throughput [--events 200000] [--repeat 3] [--no-baseline]

What it measures (all on the same generated events, see ``bench/events.py``):

1. ``orjson.loads`` over the NDJSON lines: the cost of merely reading the events. Twice:
   parsing each line and dropping it (the figure the goals are judged against: the cheapest
   possible read), and parsing all lines into a list (allocation and GC of every live event,
   as a batch reader pays).
2. Our engine through ``eql.compile_many`` (one pass, prefilter) with
   (a) the three seed rules and (b) every Windows EQL rule of the corpus
   (``../shared/corpus/detection-rules/eql/rules/windows``, ``_deprecated`` excluded):
   evaluation alone on already-parsed dicts, and end to end (orjson parse + evaluate).
3. The same workloads in the PyPI ``eql`` package's ``PythonEngine`` (AGPL: installed by this
   script into ``bench/.baseline-venv`` and only ever run there, in a subprocess; the product
   never imports it). It crashes on arrays under ``in``, so it gets a copy of the events with
   every array reduced to its first element; it is slow, so it runs on the first events only
   and the ratio compares events per second. Rules it cannot parse are skipped and counted.
   Its time covers ``stream_events`` only (JSON reading and ``Event`` building excluded),
   like our "evaluate" figure.

All times are CPU seconds of the measuring process (``time.process_time``), not wall-clock:
development and CI machines are shared, and wall-clock time there measures the neighbours.
Each of our figures is the best of ``--repeat`` runs (the median is printed beside it); the
baseline runs once per workload (it is long enough to be stable). Garbage collection stays on;
the generated events are moved to the permanent generation (``gc.freeze``) as a long-lived
buffer would be.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import orjson

from bench.events import DEFAULT_SEED, first_elements, generate_events

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SOC_SHARED_DIR", ROOT.parent / "shared"))
# The seed rules are shipped too (rules/library): workload (a) runs without the shared folder.
SEED_RULES = SHARED / "seeds" / "rules"
if not SEED_RULES.is_dir():
    SEED_RULES = ROOT / "rules" / "library"
WINDOWS_RULES = SHARED / "corpus" / "detection-rules" / "eql" / "rules" / "windows"
BASELINE_VENV = ROOT / "bench" / ".baseline-venv"
BASELINE_PACKAGE = "eql"

OPTIONS = {
    "timestamp_field": "@timestamp",
    "tiebreaker_field": None,
    "category_field": "event.category",
    # Elasticsearch's default result size is 10 per query; the benchmark wants every match.
    "size": 10_000_000,
}


def load_rules(paths) -> dict[str, str]:
    """``{rule_id: query}`` for the EQL rules among TOML files (deprecated ones excluded)."""
    rules: dict[str, str] = {}
    for path in sorted(paths):
        if "_deprecated" in path.parts:
            continue
        rule = tomllib.loads(path.read_text(encoding="utf-8")).get("rule", {})
        if rule.get("language") != "eql" or "query" not in rule:
            continue
        rid = rule.get("rule_id") or path.stem
        while rid in rules:
            rid += "+"
        rules[rid] = rule["query"]
    return rules


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(best seconds, median seconds, last result) of ``repeat`` calls, in CPU seconds of this
    process: on a shared machine wall-clock time would mostly measure the neighbours."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.process_time()
        result = fn()
        times.append(time.process_time() - t0)
    return min(times), statistics.median(times), result


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def fmt_rate(r: float) -> str:
    return f"{r:>12,.0f} events/s"


# ---- the baseline (PyPI eql, AGPL, separate virtualenv) ---------------------------------

BASELINE_RUNNER = r"""
import json, sys, time
from datetime import datetime
import eql
from eql import parser as p

rules_path, events_path, out_path = sys.argv[1:4]
rules = json.load(open(rules_path))
flags = [getattr(p, n) for n in ("elasticsearch_syntax", "ignore_missing_functions",
         "elasticsearch_validate_optional_fields", "allow_sample", "allow_runs",
         "allow_negation") if hasattr(p, n)]
analytics, skipped = [], {}
for ctx in flags:
    ctx.__enter__()
for rid, text in rules.items():
    try:
        analytics.append(eql.parse_analytic({"query": text, "metadata": {"id": rid}}))
    except Exception as exc:  # noqa: BLE001 - every parser failure is a skipped rule
        skipped[rid] = type(exc).__name__ + ": " + str(exc).splitlines()[0][:200]

def ts(s):
    d = datetime.strptime(s.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(d.timestamp() * 1000) * 10000  # the package counts time in 100 ns units

events = []
with open(events_path) as f:
    for line in f:
        d = json.loads(line)
        cat = (d.get("event") or {}).get("category") or "unknown"
        events.append(eql.Event(cat, ts(d["@timestamp"]), d))

engine = eql.PythonEngine()
loaded = 0
for a in analytics:  # one by one: a rule the engine cannot convert is skipped, not fatal
    try:
        engine.add_analytic(a)
        loaded += 1
    except Exception as exc:  # noqa: BLE001
        skipped[a.id] = type(exc).__name__ + ": " + str(exc).splitlines()[0][:200]
hits = {}
def hook(out):
    hits[out.analytic_id] = hits.get(out.analytic_id, 0) + 1
engine.add_output_hook(hook)
error = None
t0 = time.process_time()
try:
    engine.stream_events(events)
except Exception as exc:  # noqa: BLE001
    error = type(exc).__name__ + ": " + str(exc)[:300]
seconds = time.process_time() - t0
json.dump({"version": getattr(eql, "__version__", "?"), "rules": loaded,
           "skipped": skipped, "events": len(events), "seconds": seconds,
           "matches": sum(hits.values()), "error": error}, open(out_path, "w"))
"""


def ensure_baseline(log) -> Path | None:
    """The baseline venv's python (created and filled on first use), or None if impossible."""
    py = BASELINE_VENV / ("Scripts" if os.name == "nt" else "bin") / "python"
    check = [str(py), "-c", "import eql"]
    if py.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return py
    log(f"creating the baseline virtualenv {BASELINE_VENV} (pip install {BASELINE_PACKAGE}) ...")
    r = subprocess.run([sys.executable, "-m", "venv", str(BASELINE_VENV)], capture_output=True)
    if r.returncode != 0:
        log("  could not create it: " + r.stderr.decode(errors="replace")[-500:])
        return None
    r = subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         BASELINE_PACKAGE],
        capture_output=True,
    )  # fmt: skip
    if r.returncode != 0 or subprocess.run(check, capture_output=True).returncode != 0:
        tail = r.stderr.decode(errors="replace").strip().splitlines()[-3:]
        log("  pip could not install it (is PyPI reachable?): " + " | ".join(tail))
        return None
    return py


def run_baseline(py: Path, rules: dict[str, str], events: list[dict], timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="eql-baseline-") as tmp:
        tmpd = Path(tmp)
        (tmpd / "runner.py").write_text(BASELINE_RUNNER)
        (tmpd / "rules.json").write_text(json.dumps(rules))
        with open(tmpd / "events.ndjson", "wb") as f:
            for e in events:
                f.write(orjson.dumps(e) + b"\n")
        cmd = [str(py), str(tmpd / "runner.py"), str(tmpd / "rules.json"),
               str(tmpd / "events.ndjson"), str(tmpd / "out.json")]  # fmt: skip
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f}s"}
        if r.returncode != 0:
            return {"error": r.stderr.decode(errors="replace").strip()[-800:]}
        return json.loads((tmpd / "out.json").read_text())


# ---- main ---------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000, help="events to generate (200000)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; best is kept (3)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the PyPI eql baseline")
    ap.add_argument("--baseline-events-a", type=int, default=20_000,
                    help="events the baseline runs for the seed rules (20000)")  # fmt: skip
    ap.add_argument("--baseline-events-b", type=int, default=10_000,
                    help="events the baseline runs for the Windows rules (10000)")  # fmt: skip
    ap.add_argument("--baseline-timeout", type=float, default=600.0)
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    from rules import eql

    seeds = load_rules(SEED_RULES.glob("*.toml"))
    windows = load_rules(WINDOWS_RULES.rglob("*.toml"))
    if not seeds:
        log(f"no seed rules in {SEED_RULES}")
        return 2

    log(f"generating {args.events:,} events (seed {args.seed}) ...")
    gc.disable()
    events = list(generate_events(args.events, seed=args.seed))
    lines = [orjson.dumps(e) for e in events]
    gc.enable()
    gc.collect()
    gc.freeze()
    n = len(events)
    nbytes = sum(len(x) + 1 for x in lines)

    results: dict[str, float] = {}
    out: list[str] = []

    def say(line: str = "") -> None:
        out.append(line)
        print(line, flush=True)

    say(f"EQL throughput -- {n:,} ECS events ({nbytes / n:,.0f} bytes/event as NDJSON), "
        f"seed {args.seed}; CPU time; our figures: best of {args.repeat} (median in brackets)")  # fmt: skip
    say(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    say()

    loads = orjson.loads

    def parse_only():
        for x in lines:
            loads(x)

    best, med, _ = timed(parse_only, args.repeat)
    results["parse"] = rate(n, best)
    say(f"orjson.loads of the NDJSON lines           {fmt_rate(results['parse'])}"
        f"  [{rate(n, med):,.0f}]  {nbytes / best / 1e6:,.0f} MB/s (each event dropped)")  # fmt: skip
    best, med, _ = timed(lambda: [loads(x) for x in lines], args.repeat)
    results["parse_kept"] = rate(n, best)
    say(f"orjson.loads into a list (all kept)        {fmt_rate(results['parse_kept'])}"
        f"  [{rate(n, med):,.0f}]  (allocation and GC of {n:,} live events)")  # fmt: skip

    workloads = {"a": ("3 seed rules", seeds), "b": (f"{len(windows)} Windows rules", windows)}
    if not windows:
        del workloads["b"]
        say(f"(b) skipped: no Windows rules under {WINDOWS_RULES} (set SOC_SHARED_DIR to the "
            "folder holding corpus/detection-rules)")  # fmt: skip
    compiled = {}
    for key, (label, rules) in workloads.items():
        t0 = time.process_time()
        rs = eql.compile_many(rules, on_error="skip", **OPTIONS)
        compiled[key] = rs
        ct = time.process_time() - t0
        if rs.errors:
            say(f"({key}) {len(rs.errors)} rule(s) of {label} do not compile with our engine:")
            for rid, err in list(rs.errors.items())[:5]:
                say(f"      {rid}: {str(err).splitlines()[0]}")

        def evaluate(rs=rs):
            return sum(1 for _ in rs.search(events))

        def end_to_end(rs=rs):
            return sum(1 for _ in rs.search(loads(x) for x in lines))

        best, med, matches = timed(evaluate, args.repeat)
        results[f"{key}_eval"] = rate(n, best)
        say(f"({key}) ours, {label}: evaluate parsed dicts {fmt_rate(results[f'{key}_eval'])}"
            f"  [{rate(n, med):,.0f}]  {matches:,} matches, compiled in {ct:.2f}s")  # fmt: skip
        best, med, _ = timed(end_to_end, args.repeat)
        results[f"{key}_e2e"] = rate(n, best)
        say(f"({key}) ours, {label}: parse + evaluate      {fmt_rate(results[f'{key}_e2e'])}"
            f"  [{rate(n, med):,.0f}]")  # fmt: skip

    say()
    if args.no_baseline:
        say("baseline: skipped (--no-baseline)")
    else:
        py = ensure_baseline(log)
        if py is None:
            say("baseline: PyPI eql could not be installed (PyPI unreachable?); "
                "our figures above stand alone")  # fmt: skip
        for key, (label, rules) in workloads.items() if py else ():
            k = min(n, args.baseline_events_a if key == "a" else args.baseline_events_b)
            subset = [first_elements(e) for e in events[:k]]
            log(f"baseline ({key}): {len(rules)} rules over {k:,} events ...")
            res = run_baseline(py, rules, subset, args.baseline_timeout)
            if res.get("error") and "seconds" not in res:
                say(f"({key}) baseline failed: {res['error']}")
                continue
            results[f"{key}_base"] = rate(res["events"], res["seconds"])
            ours_subset = sum(1 for _ in compiled[key].search(subset))
            say(f"({key}) PyPI eql {res['version']} PythonEngine, {label}, first {k:,} events "
                f"(arrays reduced): {fmt_rate(results[f'{key}_base'])}")  # fmt: skip
            say(f"      rules run {res['rules']}, skipped {len(res['skipped'])}; matches on "
                f"that subset: baseline {res['matches']:,}, ours {ours_subset:,}"
                + (f"; stopped by {res['error']}" if res.get("error") else ""))  # fmt: skip
            for rid, why in list(res["skipped"].items())[:5]:
                say(f"      skipped {rid}: {why}")
            if key == "b" and res["matches"] != ours_subset:
                say("      (the counts differ because the baseline reads EQL otherwise than "
                    "Elasticsearch: `?` is no wildcard in its `:` patterns, so exclusions such "
                    "as `?:\\Program Files\\*` never apply, and its regexes are not anchored)")  # fmt: skip

    say()
    say("ratios (ours = evaluation of parsed dicts unless said otherwise):")

    def ratio(name: str, num: str, den: str, goal: float | None, pct: bool) -> None:
        if num not in results or den not in results:
            say(f"  {name:<44} n/a")
            return
        r = results[num] / results[den]
        shown = f"{r * 100:,.0f}%" if pct else f"{r:,.1f}x"
        g = (
            ""
            if goal is None
            else (f"  (goal >= {goal * 100:.0f}%)" if pct else f"  (goal >= {goal:.0f}x)")
        )
        ok = "" if goal is None else ("  ok" if r >= goal else "  BELOW GOAL")
        say(f"  {name:<44} {shown:>8}{g}{ok}")

    ratio("(b) ours / PyPI eql baseline", "b_eval", "b_base", 100, False)
    ratio("(a) ours / PyPI eql baseline", "a_eval", "a_base", None, False)
    ratio("(b) ours / orjson parse", "b_eval", "parse", 0.10, True)
    ratio("(a) ours / orjson parse", "a_eval", "parse", 0.50, True)
    ratio("(b) ours / orjson parse into a list", "b_eval", "parse_kept", None, True)
    ratio("(a) ours / orjson parse into a list", "a_eval", "parse_kept", None, True)
    ratio("(b) ours parse+evaluate / orjson parse", "b_e2e", "parse", None, True)
    ratio("(a) ours parse+evaluate / orjson parse", "a_e2e", "parse", None, True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
