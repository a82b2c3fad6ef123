"""The `Stuck` condition: a running worker that has stopped reporting progress.

A worker's progress writes (`status.progress.updateTime`, see `jobwarden.worker`) are
its heartbeat. A run with `stuckAfterSeconds` whose current attempt has been silent
for longer is flagged with the condition `Stuck=True`, shown by the CLI and counted
by a metric; it is not killed (its timeout still applies).

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
REASON_NOT_WATCHED = Reason.NOT_WATCHED  # Stuck=False: not running, or no stuckAfterSeconds


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


def _current_attempt_start(run: RunView) -> datetime.datetime | None:
    attempt = run.attempt
    for record in reversed(list(run.status.get("attempts") or [])):
        if int(record.get("attempt", 0)) == attempt and not record.get("finishTime"):
            try:
                return parse_time(record.get("startTime"))
            except ValueError:
                return None
    return None


def last_heartbeat(
    run: RunView, *, running_since: datetime.datetime | None = None
) -> datetime.datetime | None:
    """When the current attempt's worker was last heard from: its latest progress
    write, else when the attempt (or, if given, its container) started. Progress
    written by an earlier attempt does not count."""
    started = _current_attempt_start(run)
    if started is None:
        return None
    if running_since is not None and running_since > started:
        started = running_since
    progress = run.status.get("progress") or {}
    try:
        reported = parse_time(progress.get("updateTime"))
    except ValueError:
        reported = None
    if reported is not None and reported > started:
        return reported
    return started


def stuck_condition(
    run: RunView,
    now: datetime.datetime,
    *,
    running_since: datetime.datetime | None = None,
) -> StuckCheck:
    """Whether `run` is stuck at `now`: `(is_stuck, message, wake_after)`.

    - no `stuckAfterSeconds`, or not Running: not stuck, nothing to wake for;
    - silent for at least `stuckAfterSeconds`: stuck; no wake-up (the next progress
      write is a watch event that clears it);
    - otherwise: not stuck; wake up when the limit would be reached.
    """
    limit = run.settings.stuck_after_seconds
    if not limit:
        return StuckCheck(False, "stuckAfterSeconds is not set", None)
    if run.phase != RunPhase.RUNNING:
        return StuckCheck(False, f"the run is {run.phase.value}", None)
    last = last_heartbeat(run, running_since=running_since)
    if last is None:
        return StuckCheck(False, "no attempt is running", None)
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
