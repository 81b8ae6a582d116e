"""Importing Elastic TOML rules: counts, versions and history, errors with positions."""

from __future__ import annotations

import io
import shutil

import pytest
from django.core.management import CommandError, call_command

from rules.models import DetectionRule, DetectionRuleVersion, Technique
from rules.tests.pipeline_helpers import LIBRARY, WINSCRIPT_RULE_ID

pytestmark = pytest.mark.django_db


def run_import(*args) -> tuple[str, str, Exception | None]:
    out, err = io.StringIO(), io.StringIO()
    error = None
    try:
        call_command("import_rules", *args, stdout=out, stderr=err)
    except CommandError as exc:
        error = exc
    return out.getvalue(), err.getvalue(), error


def test_importing_the_library_creates_three_rules_with_their_fields_and_techniques():
    out, _err, error = run_import(str(LIBRARY))
    assert error is None
    assert "imported 3, updated 0, unchanged 0, failed 0" in out
    rule = DetectionRule.objects.get(rule_id=WINSCRIPT_RULE_ID)
    assert rule.version == 202
    assert rule.severity == "high" and rule.risk_score == 73
    assert rule.interval.total_seconds() == 300 and rule.lookback.total_seconds() == 540
    assert rule.max_signals == 100
    assert "winlogbeat-*" in rule.index_patterns
    assert rule.note.startswith("## Triage and analysis")
    assert rule.license == "Elastic License v2"
    assert set(rule.techniques.values_list("external_id", flat=True)) == {
        "T1059",
        "T1059.001",
        "T1059.003",
        "T1059.005",
    }
    sub = Technique.objects.get(external_id="T1059.001")
    assert sub.parent.external_id == "T1059" and sub.tactic.external_id == "TA0002"


def test_importing_again_changes_nothing():
    run_import(str(LIBRARY))
    out, _err, error = run_import(str(LIBRARY))
    assert error is None
    assert "imported 0, updated 0, unchanged 3, failed 0" in out


def test_a_newer_version_updates_the_rule_and_keeps_the_old_content(tmp_path):
    run_import(str(LIBRARY))
    rule = DetectionRule.objects.get(rule_id=WINSCRIPT_RULE_ID)
    rule.enabled = False  # an operator's choice survives an update
    rule.save()
    src = LIBRARY / "execution_powershell_susp_args_via_winscript.toml"
    text = (
        src.read_text()
        .replace("version = 202", "version = 203")
        .replace("risk_score = 73", "risk_score = 80")
    )
    newer = tmp_path / "newer.toml"
    newer.write_text(text)
    out, _err, error = run_import(str(newer))
    assert error is None and "updated 1" in out
    rule.refresh_from_db()
    assert (rule.version, rule.risk_score, rule.enabled) == (203, 80, False)
    old = DetectionRuleVersion.objects.get(rule=rule)
    assert old.version == 202 and old.content["risk_score"] == 73
    # An older version is left alone.
    out, _err, _ = run_import(str(src))
    assert "unchanged 1" in out
    rule.refresh_from_db()
    assert rule.version == 203


def test_dry_run_counts_without_saving():
    out, _err, error = run_import(str(LIBRARY), "--dry-run")
    assert error is None and "imported 3" in out
    assert DetectionRule.objects.count() == 0


def test_failures_name_file_line_column_and_reason_and_the_rest_still_import(tmp_path):
    shutil.copy(LIBRARY / "execution_nodejs_susp_patterns.toml", tmp_path / "good.toml")
    (tmp_path / "bad_toml.toml").write_text('[rule]\nrule_id = "a"\nname = oops"\n')
    (tmp_path / "bad_eql.toml").write_text(
        '[rule]\nrule_id = "b"\nname = "B"\ntype = "eql"\nlanguage = "eql"\n'
        "query = '''\nprocess where\n  process.name == \n'''\n"
    )
    (tmp_path / "bad_field.toml").write_text(
        '[rule]\nrule_id = "c"\nname = "C"\nseverity = "urgent"\n'
        "query = '''process where true'''\n"
    )
    out, err, error = run_import(str(tmp_path))
    assert isinstance(error, CommandError)
    assert "imported 1, updated 0, unchanged 0, failed 3" in out
    lines = err.strip().splitlines()
    assert any(f"{tmp_path / 'bad_toml.toml'}:3:8: TOML:" in line for line in lines), lines
    assert any(f"{tmp_path / 'bad_eql.toml'}:8:" in line and "EQL:" in line for line in lines)
    assert any(f"{tmp_path / 'bad_field.toml'}:4:1: rule.severity" in line for line in lines)
    assert DetectionRule.objects.count() == 1


def test_an_unknown_technique_gets_a_row_named_from_the_toml(tmp_path):
    text = (LIBRARY / "execution_nodejs_susp_patterns.toml").read_text()
    text += (
        '\n[[rule.threat]]\nframework = "MITRE ATT&CK"\n'
        '[[rule.threat.technique]]\nid = "T1204"\nname = "User Execution"\n'
        'reference = "https://attack.mitre.org/techniques/T1204/"\n'
        '[rule.threat.tactic]\nid = "TA0002"\nname = "Execution"\n'
        'reference = "https://attack.mitre.org/tactics/TA0002/"\n'
    )
    path = tmp_path / "r.toml"
    path.write_text(text)
    _out, err, error = run_import(str(path))
    assert error is None, err
    assert Technique.objects.get(external_id="T1204").name == "User Execution"
