"""Many EQL queries over one event stream (placeholder: one query at a time, no prefilter)."""

from __future__ import annotations


class RuleSet:
    def __init__(self, queries: dict):
        self.queries = queries

    def search(self, events):
        events = list(events)
        for rule_id, query in self.queries.items():
            for match in query.search(events):
                yield rule_id, match


def compile_many(texts: dict[str, str], **options) -> RuleSet:
    from rules import eql

    return RuleSet({rule_id: eql.compile(text, **options) for rule_id, text in texts.items()})
