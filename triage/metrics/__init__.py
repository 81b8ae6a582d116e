"""Manager metrics, computed in SQL from the append-only alert history.

- :mod:`triage.metrics.team`: the team figures of a cohort (durations, rates, SLA, rule noise,
  workload), cached while the history is unchanged;
- :mod:`triage.metrics.questions`: per-question agreement of answers with dispositions;
- :mod:`triage.metrics.date_range`: the date range of the manager pages;
- :mod:`triage.metrics.facts_sql`: the trigger that folds the history into ``triage_alertfacts``;
- :mod:`triage.metrics.sql`: SQL pieces they share, and those that differ per database.

The names below are the surface the views and the benchmarks use.
"""

from triage.metrics.date_range import PRESETS, DateRange
from triage.metrics.questions import question_stats
from triage.metrics.team import Duration, cached_team_metrics, nearest_rank, team_metrics

__all__ = [
    "PRESETS",
    "DateRange",
    "Duration",
    "cached_team_metrics",
    "nearest_rank",
    "question_stats",
    "team_metrics",
]
