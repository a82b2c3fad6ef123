"""A run's life as segments of time, for the dashboard's timeline: queued, each
attempt's starting and running, the backoff gaps between attempts, cancelling.

Pure: computed from the run's status (and, when the caller could read them, when each
worker's container started), so it shows what the operator recorded, nothing guessed.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jobwarden.api.enums import RunPhase
from jobwarden.client.objects import created_at, is_terminal, phase_of, status_of
from jobwarden.client.text import parse_time

#: Admitted, its worker's container not started yet.
STARTING_PHASE = RunPhase.STARTING.value


class Stage(StrEnum):
    """What a run was doing during a segment."""

    QUEUED = "queued"  # waiting for admission
    STARTING = "starting"  # its pod exists, the container has not started
    RUNNING = "running"  # the worker runs
    BACKOFF = "backoff"  # between a failed attempt and the next one
    CANCELLING = "cancelling"  # SIGTERM sent, waiting for the worker to exit


@dataclass(frozen=True)
class Segment:
    """One stretch of a run's life; `open` while it still goes on (ends at now)."""

    stage: Stage
    start: datetime.datetime
    end: datetime.datetime
    attempt: int | None = None
    open: bool = False

    @property
    def seconds(self) -> float:
        """How long it lasted (so far)."""
        return max((self.end - self.start).total_seconds(), 0.0)


def run_timeline(
    run: Mapping[str, Any],
    now: datetime.datetime,
    container_started: Mapping[str, datetime.datetime] | None = None,
) -> list[Segment]:
    """The segments of `run`, oldest first. `container_started` maps a worker pod's
    name to when its container started (from the pod, when it can be read); without
    it an attempt counts as running from its pod's creation."""
    status = status_of(run)
    started = container_started or {}
    final = is_terminal(run)
    ended = parse_time(status.get("completionTime")) if final else None
    last = ended or now
    phase = phase_of(run)
    attempts = [a for a in status.get("attempts") or [] if parse_time(a.get("startTime"))]
    cancellation = status.get("cancellation") or {}
    signalled = parse_time(cancellation.get("signalledAt"))
    segments: list[Segment] = []

    created = created_at(run)
    first = parse_time(attempts[0].get("startTime")) if attempts else None
    if created is not None:
        queue_end = first or (ended if final else now)
        if queue_end is not None and queue_end > created:
            segments.append(Segment(Stage.QUEUED, created, queue_end, open=queue_end is now))

    for index, attempt in enumerate(attempts):
        number = int(attempt.get("attempt") or index + 1)
        begin = parse_time(attempt.get("startTime"))
        assert begin is not None  # filtered above
        finish = parse_time(attempt.get("finishTime"))
        current = index == len(attempts) - 1
        end = finish or (last if current else begin)
        is_open = finish is None and current and not final
        running_from = started.get(str(attempt.get("podName") or ""))
        if running_from is None and is_open and phase == STARTING_PHASE:
            segments.append(Segment(Stage.STARTING, begin, end, number, is_open))
        else:
            if running_from is not None and begin < running_from < end:
                segments.append(Segment(Stage.STARTING, begin, running_from, number))
                begin = running_from
            cut = signalled if current and signalled is not None and begin < signalled else None
            if cut is not None and cut < end:
                segments.append(Segment(Stage.RUNNING, begin, cut, number))
                segments.append(Segment(Stage.CANCELLING, cut, end, number, is_open))
            elif end > begin or is_open:
                segments.append(Segment(Stage.RUNNING, begin, end, number, is_open))
        if finish is not None:
            following = attempts[index + 1] if index + 1 < len(attempts) else None
            gap_end: datetime.datetime | None = None
            if following is not None:
                gap_end = parse_time(following.get("startTime"))
            elif not final:
                gap_end = now  # Retrying: waiting for the next attempt
            if gap_end is not None and gap_end > finish:
                segments.append(
                    Segment(Stage.BACKOFF, finish, gap_end, number, open=gap_end is now)
                )
    return segments
