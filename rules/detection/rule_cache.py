"""The one owner of what detection keeps between calls in a process: compiled queries, compiled
rule sets, the enabled rules' query texts, and the last listing of enabled rules.

Every batch lists the enabled rules with a token that changes whenever a rule's row is written
and reads (and hashes) only the query texts this process has not seen; a batch whose listing is
the same as the last one (the usual case) takes the last one's rule set as it is. Hundreds of
queries were otherwise read, hashed and looked up again for every batch.

All of it is a cache: :meth:`RuleCache.clear` empties it, and the next call builds it again
from the database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import Exists, OuterRef
from django.db.models.expressions import RawSQL
from django.db.models.functions import MD5

from rules import eql
from rules.models import DetectionRule, RuleException

if TYPE_CHECKING:
    from rules.eql.ruleset import RuleSet

# The engine's result limit per search (Elasticsearch's EQL ``size``). max_signals is applied
# by us after exceptions, as Elastic applies exceptions inside its query.
SEARCH_SIZE = 10_000
CATEGORY_FIELD = "event.category"

_QUERY_CACHE_SIZE = 5000
_RULESET_CACHE_SIZE = 4  # the enabled set, its sequences, and a change or two
_QUERY_TEXTS_SIZE = 20_000


@dataclass(frozen=True)
class RuleText:
    """What detection needs of an enabled rule before it knows whether the rule matches."""

    query: str
    lookback: timedelta
    digest: str  # MD5 of the query text
    has_exceptions: bool = False  # any exception row, active or not


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _row_version():
    """An expression that changes whenever a rule's row is written: on PostgreSQL the row
    version's writing transaction and place (``xmin``, ``ctid``: every update writes a new
    version, even twice in one transaction); elsewhere (SQLite, the demo) the query's MD5."""
    if connection.vendor == "postgresql":
        table = DetectionRule._meta.db_table
        return RawSQL(f"{table}.xmin::text || {table}.ctid::text", ())  # noqa: S611 (no input)
    return MD5("query")


def _list_enabled() -> list[tuple[str, str, timedelta, bool]]:
    """(rule id, row version, look-back, has exceptions?) of each enabled rule, by row id."""
    if connection.vendor == "postgresql":
        rules = DetectionRule._meta.db_table
        exceptions = RuleException._meta.db_table
        with connection.cursor() as cursor:
            # One statement, no ORM: it runs for every batch. The exceptions' rule ids are
            # read once (a hashed subplan), not once per rule.
            cursor.execute(
                f"SELECT rule_id, xmin::text || ctid::text, lookback, "  # noqa: S608 (model identifiers; no input)
                f"id IN (SELECT rule_id FROM {exceptions}) "
                f"FROM {rules} WHERE enabled ORDER BY id"
            )
            return cursor.fetchall()
    return list(
        DetectionRule.objects.enabled()
        .annotate(has_exceptions=Exists(RuleException.objects.filter(rule=OuterRef("pk"))))
        .order_by("pk")
        .values_list("rule_id", _row_version(), "lookback", "has_exceptions")
    )


class RuleCache:
    """Compiled queries and rule sets, and the enabled rules' texts, of this process."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget everything; the next call reads and compiles again."""
        self._queries: dict[tuple[str, str], eql.Query] = {}
        self._rulesets: dict[frozenset, RuleSet] = {}
        # (rule id, row version) -> (query text, its MD5)
        self._query_texts: dict[tuple[str, str], tuple[str, str]] = {}
        # The last listing and what was made of it (see enabled_rules).
        self._last_listing: tuple[list, dict[str, RuleText]] | None = None
        # A listing's rules and their rule set (see compile_enabled).
        self._last_compiled: tuple[dict, RuleSet] | None = None

    def compile_query(self, rule_id: str, text: str) -> eql.Query:
        """The compiled query of a rule (cached by rule id and query text)."""
        key = (rule_id, _text_key(text))
        query = self._queries.get(key)
        if query is None:
            query = eql.compile(
                text, timestamp_field="@timestamp", category_field=CATEGORY_FIELD, size=SEARCH_SIZE
            )
            if len(self._queries) > _QUERY_CACHE_SIZE:
                self._queries.clear()
            self._queries[key] = query
        return query

    def compile_ruleset(
        self, texts: dict[str, str], digests: dict[str, str] | None = None
    ) -> RuleSet:
        """One :class:`RuleSet` for many rules (cached: the enabled set rarely changes).
        ``digests`` (rule id -> a digest of its query text), when the caller has them, spare
        hashing every text to find the cached set. A query that does not compile is in the
        set's ``errors``, not raised."""
        if digests is None:
            digests = {rule_id: _text_key(text) for rule_id, text in texts.items()}
        key = frozenset(digests.items())
        ruleset = self._rulesets.get(key)
        if ruleset is None:
            ruleset = eql.compile_many(
                texts,
                on_error="skip",
                timestamp_field="@timestamp",
                category_field=CATEGORY_FIELD,
                size=SEARCH_SIZE,
            )
            while len(self._rulesets) >= _RULESET_CACHE_SIZE:
                self._rulesets.pop(next(iter(self._rulesets)))
            self._rulesets[key] = ruleset
        return ruleset

    def enabled_rules(self) -> dict[str, RuleText]:
        """rule_id -> (query, look-back, digest, has exceptions?) of the enabled rules: only the
        columns detection needs; the full rows are read for the rules that raise alerts. The
        dict may be shared between calls: read it, never change it."""
        listed = _list_enabled()
        if self._last_listing is not None and self._last_listing[0] == listed:
            return self._last_listing[1]
        known_texts = self._query_texts
        unseen = [rule_id for rule_id, token, *_ in listed if (rule_id, token) not in known_texts]
        fresh: dict[str, tuple[str, str]] = {}
        if unseen:
            if len(known_texts) > _QUERY_TEXTS_SIZE:
                known_texts.clear()
            for rule_id, token, query in DetectionRule.objects.filter(
                rule_id__in=unseen
            ).values_list("rule_id", _row_version(), "query"):
                known_texts[(rule_id, token)] = fresh[rule_id] = (query, _md5(query))
        out = {}
        for rule_id, token, lookback, has_exceptions in listed:
            # A rule written between the two reads: the text just read is the newer one (and
            # the next listing differs from this one, so it is made again).
            known = known_texts.get((rule_id, token)) or fresh.get(rule_id)
            if known is not None:  # None: deleted meanwhile
                out[rule_id] = RuleText(known[0], lookback, known[1], has_exceptions)
        self._last_listing = (listed, out)
        return out

    def compile_enabled(self, rules: dict[str, RuleText]) -> RuleSet:
        """The rule set of a listing from :meth:`enabled_rules`; the same listing as the last
        batch's (the same dict) gets the same rule set without a look-up."""
        if self._last_compiled is not None and self._last_compiled[0] is rules:
            return self._last_compiled[1]
        ruleset = self.compile_ruleset(
            {rule_id: rule.query for rule_id, rule in rules.items()},
            {rule_id: rule.digest for rule_id, rule in rules.items()},
        )
        self._last_compiled = (rules, ruleset)
        return ruleset


# The process's one cache (a worker process compiles once and serves many batches).
rule_cache = RuleCache()
