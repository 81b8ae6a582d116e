"""Test hooks for the rules app: where the shared test inputs are (or why they are skipped),
and the EQL conformance pass counts at the end of a run."""

from __future__ import annotations

import os
import sys

import pytest

from rules.tests.shared_data import SHARED_DIR, missing_reason


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_sessionstart(session):
    reason = missing_reason()
    if reason and _in_ci():
        pytest.exit(f"CI needs the shared test inputs: {reason}", returncode=1)


def pytest_report_header(config):
    reason = missing_reason()
    if reason:
        return f"shared test inputs: {reason}; the conformance and corpus tests are skipped"
    return f"shared test inputs: {SHARED_DIR}"


def pytest_terminal_summary(terminalreporter):
    module = sys.modules.get("rules.tests.test_eql_conformance")
    results = getattr(module, "RESULTS", None)
    if not results:
        return
    terminalreporter.section("EQL conformance (Elasticsearch QA specs)")
    passed = total = 0
    for spec_file, (ok, n) in sorted(results.items()):
        terminalreporter.write_line(f"{spec_file:32} {ok:4}/{n:<4} {100 * ok / n:5.1f}%")
        passed += ok
        total += n
    terminalreporter.write_line(
        f"{'overall':32} {passed:4}/{total:<4} {100 * passed / total:5.1f}%"
    )


# ---- EQL corpus and rule-set counts (test_eql_corpus.py fills SUMMARY) ---------------------


class _EqlCorpusSummary:
    """A separate plugin object, so this summary never clashes with the hook above."""

    def pytest_terminal_summary(self, terminalreporter):
        module = sys.modules.get("rules.tests.test_eql_corpus")
        summary = getattr(module, "SUMMARY", None)
        if not summary:
            return
        terminalreporter.section("EQL corpus")
        for line in summary.values():
            terminalreporter.write_line(line)


def pytest_configure(config):
    config.pluginmanager.register(_EqlCorpusSummary(), "eql-corpus-summary")
