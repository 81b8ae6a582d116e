"""Every EQL rule of Elastic's public detection-rules repository compiles with our engine.

The corpus lives in ``<SOC_SHARED_DIR>/corpus/detection-rules/eql`` (test input, never
shipped; see ``shared_data``):
active rules (``rules/``) and building blocks (``rules_building_block/``), minus
``rules/_deprecated``, keeping the rules whose ``language`` is ``eql``. The count is printed in
the terminal summary ("EQL corpus"). The helpers here are shared with the rule-set and
property tests so the corpus is read once per session.
"""

from __future__ import annotations

import functools
import tomllib

from rules import eql
from rules.eql.ruleset import RuleSet
from rules.tests.shared_data import ROOT, missing_reason, needs_shared
from rules.tests.shared_data import SHARED_DIR as SHARED

LIBRARY = ROOT / "rules" / "library"

CORPUS = SHARED / "corpus" / "detection-rules" / "eql"
# The seed rules are also shipped (rules/library), so tests of them run without the shared inputs.
SEED_RULES = SHARED / "seeds" / "rules" if missing_reason() is None else LIBRARY

BIG = 1_000_000  # a result size that never truncates, so every match can be compared

# Filled by the tests, printed by the terminal summary hook in rules/tests/conftest.py.
SUMMARY: dict[str, str] = {}

needs_corpus = needs_shared


def _load(paths) -> dict[str, tuple[str, str]]:
    """``{rule_id: (relative path, query)}`` of the EQL rules among ``paths``."""
    rules: dict[str, tuple[str, str]] = {}
    for path in sorted(paths):
        if "_deprecated" in path.parts:
            continue
        rule = tomllib.loads(path.read_text(encoding="utf-8")).get("rule", {})
        if rule.get("language") != "eql":
            continue
        rid = rule.get("rule_id") or path.stem
        while rid in rules:
            rid += "+"
        rules[rid] = (
            path.name if LIBRARY in path.parents else str(path.relative_to(SHARED)),
            rule["query"],
        )
    return rules


@functools.cache
def corpus_rules() -> dict[str, tuple[str, str]]:
    """Active and building-block EQL rules of the corpus (not deprecated)."""
    return _load(
        [*(CORPUS / "rules").rglob("*.toml"), *(CORPUS / "rules_building_block").rglob("*.toml")]
    )


@functools.cache
def windows_rules() -> dict[str, str]:
    """The corpus' Windows EQL rules (what the throughput benchmark runs as workload (b))."""
    return {
        rid: q for rid, (_p, q) in _load((CORPUS / "rules" / "windows").rglob("*.toml")).items()
    }


@functools.cache
def seed_rules() -> dict[str, str]:
    return {rid: q for rid, (_p, q) in _load(SEED_RULES.glob("*.toml")).items()}


@functools.cache
def compiled_corpus() -> RuleSet:
    return eql.compile_many(
        {rid: q for rid, (_p, q) in corpus_rules().items()}, on_error="skip", size=BIG
    )


@needs_corpus
def test_corpus_holds_the_expected_rules():
    rules = corpus_rules()
    # 1,081 files, of which the deprecated ones and the non-EQL ones are left out
    assert len(rules) >= 1000
    assert all(q.strip() for _p, q in rules.values())
    assert len(windows_rules()) >= 380


@needs_corpus
def test_every_active_and_building_block_eql_rule_compiles():
    rs = compiled_corpus()
    rules = corpus_rules()
    failures = [f"{rules[rid][0]}: {err}" for rid, err in rs.errors.items()]
    SUMMARY["corpus"] = (
        f"{len(rs)}/{len(rules)} corpus EQL rules compile "
        f"({sum(1 for p, _q in rules.values() if 'building_block' in p)} building blocks)"
    )
    assert not failures, "\n".join(failures)
    assert len(rs) == len(rules)


@needs_corpus
def test_every_corpus_rule_gets_a_prefilter_or_a_category():
    """The rule set analyses every corpus rule; most filters are keyed by a literal value."""
    described = compiled_corpus().describe()
    filters = [f for per_rule in described.values() for f in per_rule]
    keyed = sum(1 for _cat, atoms in filters if atoms is not None)
    SUMMARY["prefilter"] = f"{keyed}/{len(filters)} corpus rule filters keyed by literal values"
    assert len(described) == len(corpus_rules())
    assert keyed >= 0.9 * len(filters)


@needs_corpus
def test_seed_rules_compile_and_are_in_the_corpus():
    seeds = seed_rules()
    assert len(seeds) == 3
    rs = eql.compile_many(seeds)
    assert len(rs) == 3 and not rs.errors
    assert set(seeds) <= set(corpus_rules())
