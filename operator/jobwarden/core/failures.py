"""Stop after repeated failures: a ScheduledJob's failure streak and the pause it
triggers (`spec.pauseAfterConsecutiveFailures`).

The pause lives in status (`status.failurePause`), never in spec: GitOps tools keep
the user's spec as written, and a pause the operator wrote into spec would be undone
by the next sync (or fight it). A resume is the annotation `jobwarden.dev/resume` set
to the pause's `since`: it names the pause it ends, so a stale annotation (from an
earlier pause) resumes nothing. After a resume only failures that end later count.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from jobwarden.api.enums import RunPhase
from jobwarden.api.shapes import FailurePauseDict
from jobwarden.core.conditions import format_micro_time, parse_time


class Outcome(NamedTuple):
    """A finished run of the job, as the streak reads it."""

    finished: datetime.datetime
    phase: str
    name: str


@dataclass(frozen=True)
class Streak:
    """Failed runs in a row, newest back to the last success."""

    failures: int  #: all of them (status.consecutiveFailures)
    counted: int  #: those that ended after the last resume (toward the pause)
    last_failed: str | None  #: the newest failed run


def failure_streak(outcomes: Sequence[Outcome], counted_since: datetime.datetime | None) -> Streak:
    """The streak in `outcomes` (any order): failures back to the last success;
    cancelled runs neither count nor break it."""
    failures = counted = 0
    last_failed = None
    for outcome in sorted(outcomes, reverse=True):
        if outcome.phase == RunPhase.SUCCEEDED:
            break
        if outcome.phase == RunPhase.FAILED:
            failures += 1
            last_failed = last_failed or outcome.name
            if counted_since is None or outcome.finished > counted_since:
                counted += 1
    return Streak(failures, counted, last_failed)


@dataclass(frozen=True)
class PauseDecision:
    """What the failure rule decides this time."""

    paused: bool  #: no new fires while True
    record: FailurePauseDict | None  #: status.failurePause to write (None: none)
    tripped: bool = False  #: paused by this decision
    resumed: bool = False  #: resumed by this decision


def decide_failure_pause(
    limit: int | None,
    current: FailurePauseDict | None,
    resume: str | None,
    streak: Streak,
    now: datetime.datetime,
) -> PauseDecision:
    """Stay paused, resume (the annotation names this pause), trip (`limit` failures
    counted), or nothing."""
    if current:
        since = _time(current.get("since"))
        if since is not None and _time(resume) == since:
            return PauseDecision(paused=False, record=None, resumed=True)
        return PauseDecision(paused=True, record=FailurePauseDict(**current))
    if limit is not None and streak.counted >= limit:
        message = (
            f"paused after {streak.counted} failed runs in a row (pauseAfterConsecutiveFailures: "
            f"{limit}; the last: {streak.last_failed}); resume with kubectl jobwarden resume"
        )
        record = FailurePauseDict(
            since=format_micro_time(now),
            failures=streak.counted,
            lastFailedRun=streak.last_failed,
            message=message,
        )
        return PauseDecision(paused=True, record=record, tripped=True)
    return PauseDecision(paused=False, record=None)


def _time(value: Any) -> datetime.datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


__all__ = ["Outcome", "PauseDecision", "Streak", "decide_failure_pause", "failure_streak"]
