"""The `Stuck` condition: a running worker that reported progress, then went silent.

A worker's progress writes (`status.progress.updateTime`, see `jobwarden.worker`) are
its heartbeat. Once the current attempt's worker has reported progress at least once,
a silence longer than `stuckAfterSeconds` (default 300; 0 turns it off) flags the run
with the condition `Stuck=True`, shown by the CLI and counted by a metric; it is not
killed (its timeout still applies). A worker that never reports progress is never
flagged for being silent: silence is only news from a worker that promised to talk.

`stuck_condition(run, now)` is pure: it reads the run (settings, phase, current
attempt, progress) and the clock it is given, and returns whether the run is stuck,
the condition's message, and when to look again if nothing is written meanwhile.
Messages depend only on stored times, so reconciling again does not change them.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

from jobwarden.api.enums import Reason, RunPhase
from jobwarden.core.conditions import format_time, parse_time
from jobwarden.core.observed import RunView

#: Reasons of the `Stuck` condition.
REASON_NO_PROGRESS = Reason.NO_PROGRESS  # Stuck=True
REASON_PROGRESSING = Reason.PROGRESS_REPORTED  # Stuck=False: heard from within the limit
REASON_NOT_WATCHED = Reason.NOT_WATCHED  # Stuck=False: not running, never reported, or off


class StuckCheck(NamedTuple):
    """The answer: (is_stuck, message, wake_after seconds or None)."""

    stuck: bool
    message: str
    wake_after: float | None

    @property
    def reason(self) -> Reason:
        """The `Stuck` condition's reason."""
        if self.stuck:
            return REASON_NO_PROGRESS
        return REASON_PROGRESSING if self.wake_after is not None else REASON_NOT_WATCHED

    @property
    def watched(self) -> bool:
        """Whether the run's silence is being timed (its worker has reported)."""
        return self.stuck or self.wake_after is not None


def _current_attempt_start(run: RunView) -> datetime.datetime | None:
    attempt = run.attempt
    for record in reversed(list(run.status.get("attempts") or [])):
        if int(record.get("attempt", 0)) == attempt and not record.get("finishTime"):
            try:
                return parse_time(record.get("startTime"))
            except ValueError:
                return None
    return None


def last_progress(run: RunView) -> datetime.datetime | None:
    """When the current attempt's worker last reported progress; None if it has not
    reported yet (progress written by an earlier attempt does not count)."""
    started = _current_attempt_start(run)
    if started is None:
        return None
    progress = run.status.get("progress") or {}
    try:
        reported = parse_time(progress.get("updateTime"))
    except ValueError:
        reported = None
    return reported if reported is not None and reported > started else None


def stuck_condition(run: RunView, now: datetime.datetime) -> StuckCheck:
    """Whether `run` is stuck at `now`: `(is_stuck, message, wake_after)`.

    - `stuckAfterSeconds` 0, not Running, or no progress reported by the current
      attempt yet: not stuck, nothing to wake for (its first report is a watch event);
    - silent for at least `stuckAfterSeconds` since its last report: stuck; no wake-up
      (the next progress write is a watch event that clears it);
    - otherwise: not stuck; wake up when the limit would be reached.
    """
    limit = run.settings.stuck_after_seconds
    if not limit:
        return StuckCheck(False, "stuck detection is off (stuckAfterSeconds: 0)", None)
    if run.phase != RunPhase.RUNNING:
        return StuckCheck(False, f"the run is {run.phase.value}", None)
    if _current_attempt_start(run) is None:
        return StuckCheck(False, "no attempt is running", None)
    last = last_progress(run)
    if last is None:
        return StuckCheck(
            False,
            "the worker has not reported progress: a worker that never reports is not "
            "flagged for being silent",
            None,
        )
    silent = (now - last).total_seconds()
    if silent >= limit:
        return StuckCheck(
            True,
            f"no progress reported since {format_time(last)} "
            f"(stuckAfterSeconds: {limit}); the worker is not stopped",
            None,
        )
    return StuckCheck(
        False,
        f"the worker reports progress (stuckAfterSeconds: {limit})",
        limit - silent,
    )
