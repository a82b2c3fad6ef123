"""`lifecycle.at_rest`: when a finished run's reconcile has nothing to do (and so
needs no read of the whole run), as a named table."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from jobwarden.core.lifecycle import at_rest
from jobwarden.core.observed import PodView, RunView, Termination
from tests.unit.factories import T0, make_run


def _run(phase: str = "Succeeded", *, cancel: bool = False, deleting: bool = False) -> RunView:
    return make_run(spec={"cancel": cancel}, status={"phase": phase}, deleting=deleting)


def _pod(*, tracked: bool = False, alive: bool = False, deleting: bool = False) -> PodView:
    return PodView(
        name="nightly-1",
        uid="pod-uid",
        attempt=1,
        phase="Running" if alive else "Succeeded",
        resource_version="1",
        created=T0,
        deletion_requested=T0 + datetime.timedelta(seconds=5) if deleting else None,
        deletion_deadline=None,
        tracked=tracked,
        termination=None if alive else Termination(0, "Completed", "", T0),
        running_since=T0,
    )


CASES = {
    "succeeded, pod released": (_run(), [_pod()], True),
    "succeeded, no pod left": (_run(), [], True),
    "failed, pod released": (_run("Failed"), [_pod()], True),
    "the pod still holds the tracking finalizer": (_run(), [_pod(tracked=True)], False),
    "a worker still alive (to stop)": (_run("Failed"), [_pod(alive=True)], False),
    "a worker alive but already being deleted": (
        _run("Failed"),
        [_pod(alive=True, deleting=True)],
        True,
    ),
    "being deleted (its finalizer to release)": (_run(deleting=True), [_pod()], False),
    "a cancel to record (or its record to keep)": (_run("Cancelled", cancel=True), [], False),
    "not finished": (_run("Running"), [_pod(alive=True)], False),
}


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_at_rest(name: str) -> None:
    run, pods, expected = CASES[name]
    assert at_rest(run, pods) is expected, name


def test_the_case_table_covers_a_run_with_two_pods() -> None:
    pods = [_pod(), dataclasses.replace(_pod(tracked=True), name="nightly-2")]
    assert at_rest(_run(), pods) is False
