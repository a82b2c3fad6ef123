"""`deadlineSeconds`: when a run is due to have finished, and whether it missed it.

Measured from the run's scheduled time (its fire; with jitter, the fire itself, not
the delayed start: the deadline is about when the job should be done), or from its
creation for a run without one (manual, standalone). A miss is flagged, never acted
on: `timeoutSeconds` is what stops a run.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

from jobwarden.core.observed import RunView


class Deadline(NamedTuple):
    """A run's deadline: from when it is measured, and when it falls."""

    start: datetime.datetime
    due: datetime.datetime
    seconds: int

    def message(self) -> str:
        """Why the condition says what it says."""
        start = self.start.strftime("%Y-%m-%dT%H:%M:%SZ")
        due = self.due.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"not finished {self.seconds} s after its scheduled time {start} (due {due})"


def deadline_of(run: RunView) -> Deadline | None:
    """The run's deadline, or None without deadlineSeconds."""
    seconds = run.settings.deadline_seconds
    if seconds is None:
        return None
    start = (run.scheduled_time or run.created).astimezone(datetime.UTC)
    return Deadline(start, start + datetime.timedelta(seconds=seconds), seconds)


def missed(
    deadline: Deadline, completion: datetime.datetime | None, now: datetime.datetime
) -> bool:
    """Finished after the deadline, or not finished and the deadline has come."""
    if completion is not None:
        return completion > deadline.due
    return now >= deadline.due


__all__ = ["Deadline", "deadline_of", "missed"]
