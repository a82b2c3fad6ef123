"""Numbers behind the dashboard's charts: runs finished per minute, and the
durations of a ScheduledJob's recent runs. Pure."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobwarden.client.objects import is_terminal, name_of, namespace_of, phase_of, status_of
from jobwarden.client.text import parse_time

#: The results the charts count, in the order they are stacked and listed.
RESULTS = ("Succeeded", "Failed", "Cancelled")


@dataclass
class Minute:
    """The runs that finished within one minute, by result."""

    start: datetime.datetime
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))

    @property
    def total(self) -> int:
        """All results together."""
        return sum(self.counts.values())


def finished_per_minute(
    runs: Iterable[Mapping[str, Any]],
    jobs: Iterable[Mapping[str, Any]],
    now: datetime.datetime,
    minutes: int = 60,
) -> list[Minute]:
    """The last `minutes` whole minutes up to `now` (the current one last, partial),
    each with the runs that finished in it. Runs already deleted count from their
    ScheduledJob's `status.history` summaries."""
    current = now.replace(second=0, microsecond=0)
    first = current - datetime.timedelta(minutes=minutes - 1)
    buckets = [Minute(first + datetime.timedelta(minutes=i)) for i in range(minutes)]

    def count(moment: datetime.datetime | None, result: object) -> None:
        if moment is None or str(result) not in RESULTS or moment < first or moment > now:
            return
        buckets[int((moment - first).total_seconds() // 60)].counts[str(result)] += 1

    seen: set[tuple[str, str]] = set()
    for run in runs:
        seen.add((namespace_of(run), name_of(run)))
        if is_terminal(run):
            count(parse_time(status_of(run).get("completionTime")), phase_of(run))
    for job in jobs:
        for summary in status_of(job).get("history") or []:
            if (namespace_of(job), str(summary.get("name"))) not in seen:
                count(parse_time(summary.get("completionTime")), summary.get("phase"))
    return buckets


def recent_durations(
    records: Sequence[Mapping[str, Any]], limit: int = 30
) -> list[Mapping[str, Any]]:
    """The newest `limit` history records that have a duration, oldest first (as a
    chart reads left to right). `records` come newest first (client.history)."""
    timed = [r for r in records if isinstance(r.get("durationSeconds"), int | float)]
    return list(reversed(timed[:limit]))


def active_totals(objects: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """How many unfinished runs there are, by kind, by phase and by both (the
    `totals` of `kubectl jobwarden active -o json|yaml`): a dashboard or a script reads
    the counts without counting items."""
    by_kind: dict[str, int] = {}
    by_phase: dict[str, int] = {}
    by_kind_and_phase: dict[str, dict[str, int]] = {}
    total = 0
    for obj in objects:
        kind, phase = str(obj.get("kind") or ""), phase_of(obj)
        total += 1
        by_kind[kind] = by_kind.get(kind, 0) + 1
        by_phase[phase] = by_phase.get(phase, 0) + 1
        phases = by_kind_and_phase.setdefault(kind, {})
        phases[phase] = phases.get(phase, 0) + 1
    return {
        "total": total,
        "byKind": dict(sorted(by_kind.items())),
        "byPhase": dict(sorted(by_phase.items())),
        "byKindAndPhase": {
            k: dict(sorted(v.items())) for k, v in sorted(by_kind_and_phase.items())
        },
    }
