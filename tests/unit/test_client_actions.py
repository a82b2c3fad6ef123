"""The actions the kubectl plugin and the dashboard share (jobwarden.client.actions):
what a cancel sends (one bound on the reason, the operator's), what "cancel all"
selects, and which runs can be re-run. The requests themselves are proven on the
cluster (tests/integration/test_cli.py, test_dashboard_*.py)."""

from __future__ import annotations

from typing import Any

import pytest

from jobwarden.api import constants as c
from jobwarden.client import actions
from jobwarden.client.actions import Outcome, Result
from jobwarden.core import lifecycle

JSON = dict[str, Any]


def run(name: str, phase: str | None, *, cancel: bool = False, kind: str = "JobRun") -> JSON:
    return {
        "kind": kind,
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"cancel": True} if cancel else {},
        "status": {"phase": phase} if phase else {},
    }


def test_the_reason_is_bounded_as_the_operator_records_it() -> None:
    assert actions.MAX_REASON_CHARS == lifecycle.MAX_REASON_CHARS
    long = "x" * (lifecycle.MAX_REASON_CHARS + 50)
    patch = actions.cancel_patch(f"  {long}  ")
    reason = patch["metadata"]["annotations"][c.ANNOTATION_CANCEL_REASON]
    assert reason == "x" * lifecycle.MAX_REASON_CHARS
    assert patch["spec"] == {"cancel": True}


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_no_reason_sends_only_the_flag(reason: str | None) -> None:
    assert actions.cancel_patch(reason) == {"spec": {"cancel": True}}


def test_cancel_all_selects_what_is_open_in_a_stable_order() -> None:
    objects = [
        run("b", "Running"),
        run("a", "Queued"),
        run("asked", "Running", cancel=True),
        run("done", "Succeeded"),
        run("new", None),
        run("e", "Retrying", kind="Export"),
    ]
    chosen = actions.open_to_cancel(objects)
    assert [(o["kind"], o["metadata"]["name"]) for o in chosen] == [
        ("Export", "e"),
        ("JobRun", "a"),
        ("JobRun", "b"),
        ("JobRun", "new"),
    ]


@pytest.mark.parametrize("phase", ["Queued", "Running", "Retrying", "Cancelling", None])
def test_only_a_finished_run_is_rerun(phase: str | None) -> None:
    with pytest.raises(actions.NotFinishedError):
        actions.rerun(run("x", phase))


@pytest.mark.parametrize("phase", ["Succeeded", "Failed", "Cancelled"])
def test_a_finished_run_is_rerun(phase: str) -> None:
    assert actions.rerun(run("x", phase))["spec"]["rerunOf"] == "x"


def test_outcomes_that_count_as_done() -> None:
    done = {r for r in Result if Outcome("JobRun", "ns", "x", r).ok}
    assert done == {
        Result.REQUESTED,
        Result.UNCHANGED,
        Result.WOULD_CANCEL,
        Result.PAUSED,
        Result.RESUMED,
    }
    assert Outcome("JobRun", "ns", "x", Result.DENIED, "no").record() == {
        "kind": "JobRun",
        "namespace": "ns",
        "name": "x",
        "result": "denied",
        "message": "no",
    }
