"""A run's timeline (jobwarden.client.timeline): queued, starting, running, backoff
and cancelling segments from its status, for the dashboard's run page."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from jobwarden.client.timeline import Segment, Stage, run_timeline

T0 = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)
JSON = dict[str, Any]


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def ts(seconds: float) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run(phase: str, attempts: list[JSON] | None = None, **status: Any) -> JSON:
    return {
        "kind": "JobRun",
        "metadata": {"name": "r", "namespace": "ns", "creationTimestamp": ts(0)},
        "status": {"phase": phase, "attempts": attempts or [], **status},
    }


def attempt(n: int, start: float, finish: float | None = None) -> JSON:
    body: JSON = {"attempt": n, "podName": f"r-{n}", "startTime": ts(start)}
    if finish is not None:
        body["finishTime"] = ts(finish)
    return body


def shape(segments: list[Segment]) -> list[tuple[str, int | None, float, float, bool]]:
    return [
        (
            s.stage.value,
            s.attempt,
            (s.start - T0).total_seconds(),
            (s.end - T0).total_seconds(),
            s.open,
        )
        for s in segments
    ]


def test_a_queued_run_has_one_open_queued_segment_up_to_now() -> None:
    assert shape(run_timeline(run("Queued"), at(30))) == [("queued", None, 0, 30, True)]


def test_a_retried_run_has_a_backoff_gap_between_its_attempts() -> None:
    body = run(
        "Succeeded",
        [attempt(1, 5, 10), attempt(2, 70, 80)],
        completionTime=ts(80),
    )
    assert shape(run_timeline(body, at(100))) == [
        ("queued", None, 0, 5, False),
        ("running", 1, 5, 10, False),
        ("backoff", 1, 10, 70, False),
        ("running", 2, 70, 80, False),
    ]


def test_while_retrying_the_backoff_runs_until_now() -> None:
    body = run("Retrying", [attempt(1, 5, 10)], nextAttemptTime=ts(70))
    assert shape(run_timeline(body, at(40)))[-1] == ("backoff", 1, 10, 40, True)


def test_the_container_start_splits_starting_from_running() -> None:
    body = run("Running", [attempt(1, 5)])
    segments = run_timeline(body, at(20), {"r-1": at(8)})
    assert shape(segments) == [
        ("queued", None, 0, 5, False),
        ("starting", 1, 5, 8, False),
        ("running", 1, 8, 20, True),
    ]


def test_a_starting_worker_without_a_container_yet_is_starting_until_now() -> None:
    segments = run_timeline(run("Starting", [attempt(1, 5)]), at(9))
    assert shape(segments)[-1] == ("starting", 1, 5, 9, True)


@pytest.mark.parametrize(
    ("phase", "finish", "expected_end", "open_"),
    [("Cancelling", None, 50, True), ("Cancelled", 45, 45, False)],
)
def test_a_cancel_while_running_ends_the_running_at_the_signal(
    phase: str, finish: float | None, expected_end: float, open_: bool
) -> None:
    extra = {"completionTime": ts(45)} if finish else {}
    body = run(
        phase,
        [attempt(1, 5, finish)],
        cancellation={"requestedAt": ts(39), "signalledAt": ts(40)},
        **extra,
    )
    assert shape(run_timeline(body, at(50)))[1:] == [
        ("running", 1, 5, 40, False),
        ("cancelling", 1, 40, expected_end, open_),
    ]


def test_a_run_cancelled_while_queued_was_only_queued() -> None:
    body = run("Cancelled", completionTime=ts(12), cancellation={"requestedAt": ts(12)})
    assert shape(run_timeline(body, at(60))) == [("queued", None, 0, 12, False)]


def test_segments_say_how_long_they_lasted() -> None:
    assert Segment(Stage.RUNNING, at(0), at(2.5)).seconds == 2.5
    assert Segment(Stage.RUNNING, at(3), at(2)).seconds == 0.0
