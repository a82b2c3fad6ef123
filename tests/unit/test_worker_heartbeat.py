"""The `Stuck` condition: a running worker whose progress writes (its heartbeat)
stopped for longer than `stuckAfterSeconds` after at least one report is flagged, not
killed; a worker that never reports is never flagged for its silence."""

from __future__ import annotations

from typing import Any

import pytest

from jobwarden.core.conditions import format_micro_time
from jobwarden.core.heartbeat import (
    REASON_NO_PROGRESS,
    REASON_NOT_WATCHED,
    REASON_PROGRESSING,
    stuck_condition,
)
from jobwarden.core.observed import RunView
from tests.unit.factories import T0, at, run_body


def running(
    stuck_after: int | None = 60, progress_at: float | None = None, **status: Any
) -> RunView:
    spec: dict[str, Any] = {"template": {"spec": {"containers": []}}}
    if stuck_after is not None:
        spec["stuckAfterSeconds"] = stuck_after
    body_status: dict[str, Any] = {
        "phase": "Running",
        "attempt": 2,
        "attempts": [
            {
                "attempt": 1,
                "podName": "nightly-1",
                "startTime": format_micro_time(at(-600)),
                "finishTime": format_micro_time(at(-100)),
            },
            {"attempt": 2, "podName": "nightly-2", "startTime": format_micro_time(T0)},
        ],
        **status,
    }
    if progress_at is not None:
        stamp = format_micro_time(at(progress_at))
        body_status["progress"] = {"message": "x", "updateTime": stamp}
    return RunView.from_body(run_body(spec=spec, status=body_status))


NOT_WATCHED, PROGRESSING, NO_PROGRESS = REASON_NOT_WATCHED, REASON_PROGRESSING, REASON_NO_PROGRESS


@pytest.mark.parametrize(
    ("view", "now", "stuck", "wake_after", "reason"),
    [
        pytest.param(running(0, progress_at=1), 9999, False, None, NOT_WATCHED,
                     id="stuckAfterSeconds 0: off"),
        pytest.param(running(phase="Queued"), 9999, False, None, NOT_WATCHED, id="queued"),
        pytest.param(running(phase="Cancelling"), 9999, False, None, NOT_WATCHED, id="cancelling"),
        pytest.param(running(), 10, False, None, NOT_WATCHED, id="attempt just started"),
        pytest.param(running(), 99999, False, None, NOT_WATCHED,
                     id="never reported: never flagged for its silence"),
        pytest.param(running(progress_at=30), 60, False, 30.0, PROGRESSING, id="recent progress"),
        pytest.param(running(progress_at=30), 95, True, None, NO_PROGRESS, id="silent since"),
        pytest.param(running(progress_at=-200), 9999, False, None, NOT_WATCHED,
                     id="progress of the previous attempt does not count"),
        pytest.param(running(None, progress_at=30), 329, False, 1.0, PROGRESSING,
                     id="unset: the default of 300 s"),
        pytest.param(running(None, progress_at=30), 330, True, None, NO_PROGRESS,
                     id="unset: stuck after 300 s"),
    ],
)  # fmt: skip
def test_stuck_condition(
    view: RunView, now: float, stuck: bool, wake_after: float | None, reason: str
) -> None:
    check = stuck_condition(view, at(now))
    is_stuck, message, wake = check  # unpacks as (is_stuck, message, wake_after)
    assert (is_stuck, wake, check.reason) == (stuck, wake_after, reason)
    assert message


def test_the_message_is_stable_while_stuck() -> None:
    view = running(60, progress_at=30)
    first = stuck_condition(view, at(100)).message
    assert first == stuck_condition(view, at(5000)).message
    assert "no progress reported since 2025-03-01T12:00:30Z" in first
    assert "stuckAfterSeconds: 60" in first


def test_a_worker_that_never_reports_says_why_it_is_not_watched() -> None:
    check = stuck_condition(running(60), at(10_000))
    assert not check.stuck and not check.watched
    assert "has not reported progress" in check.message


def test_no_open_attempt_is_not_stuck() -> None:
    view = running(60, attempts=[])
    assert stuck_condition(view, at(1000)) == (False, "no attempt is running", None)
