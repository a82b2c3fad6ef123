"""Edge cases of the run lifecycle found in review: unscheduled pods, queue
positions at the 1-based boundary, and pod ownership."""

from __future__ import annotations

import dataclasses

from jobwarden.core.lifecycle import decide, decide_without_scheduled_job, needs_snapshot
from jobwarden.core.observed import PodView, RunView, Slot
from jobwarden.core.plan import CreatePod, DeletePod, ReleasePod
from tests.unit.factories import (
    ADMIT,
    T0,
    apply_status,
    at,
    make_pod,
    make_run,
    pod_body,
    request_cancel,
)


def _running(pod_node: str | None) -> tuple[RunView, PodView]:
    """A run admitted for attempt 1, and its pod (unscheduled when `pod_node` is None)."""
    run = make_run()
    plan = decide(run, [], ADMIT, T0)
    run = apply_status(run, plan)
    pod = make_pod(1, phase="Pending", node_name=pod_node) if pod_node is None else make_pod(1)
    return run, pod


def test_cancel_of_a_pod_never_scheduled_is_cancelled_at_once() -> None:
    run, pod = _running(None)
    assert not pod.scheduled
    plan = decide(request_cancel(run), [pod], ADMIT, at(1))
    assert plan.status is not None
    assert plan.status["phase"] == "Cancelled"
    assert plan.status["cancellation"]["outcome"] == "Cancelled"
    assert DeletePod(pod.name, pod.uid, 0) in plan.pre_actions
    assert ReleasePod(pod.name, pod.uid) in plan.post_actions
    assert not plan.holds_slot


def test_cancel_of_a_scheduled_pod_waits_for_its_exit() -> None:
    run, pod = _running("kwok-node-0")
    plan = decide(request_cancel(run), [pod], ADMIT, at(1))
    assert plan.status is not None
    assert plan.status["phase"] == "Cancelling"
    assert plan.pre_actions == [DeletePod(pod.name, pod.uid, 30)]
    assert plan.holds_slot


def test_queue_position_is_never_below_one() -> None:
    """The engine may answer position 0 for a run it still counts as holding."""
    plan = decide(make_run(), [], Slot(admit=False, position=0, running=1, limit=1), T0)
    assert plan.status is not None
    assert plan.status["queue"]["position"] == 1
    assert not any(isinstance(a, CreatePod) for a in plan.pre_actions)


def test_pod_owner_uid_is_read_from_the_controller_reference() -> None:
    body = pod_body(1)
    body["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "not-controller"},
        {
            "apiVersion": "jobwarden.dev/v1alpha1",
            "kind": "JobRun",
            "name": "r",
            "uid": "run-uid",
            "controller": True,
        },
    ]
    assert PodView.from_body(body).owner_uid == "run-uid"
    assert PodView.from_body(pod_body(1)).owner_uid == ""


def _stuck(plan_status: dict[str, object]) -> dict[str, object]:
    conditions = plan_status["conditions"]
    assert isinstance(conditions, list)
    found: dict[str, object] = next(c for c in conditions if c["type"] == "Stuck")
    return found


def test_a_silent_worker_is_flagged_stuck_but_not_stopped() -> None:
    run = make_run(spec={"stuckAfterSeconds": 30})
    run = apply_status(run, decide(run, [], ADMIT, T0))
    pod = make_pod(1)
    assert _stuck(dict(run.status))["status"] == "False"  # watched from admission on
    run = apply_status(run, decide(run, [pod], ADMIT, T0))  # seen running: Starting → Running
    quiet = decide(run, [pod], ADMIT, at(10))
    assert quiet.status is None, "nothing changed while the worker is within its limit"
    assert quiet.requeue_after is not None and quiet.requeue_after <= 20
    stuck = decide(run, [pod], ADMIT, at(31))
    assert stuck.status is not None
    assert _stuck(stuck.status)["status"] == "True"
    assert _stuck(stuck.status)["reason"] == "NoProgress"
    assert [e.reason for e in stuck.events] == ["Stuck"]
    assert stuck.pre_actions == [], "a stuck worker must not be killed"
    assert stuck.status["phase"] == "Running"


def test_progress_clears_stuck() -> None:
    run = make_run(spec={"stuckAfterSeconds": 30})
    run = apply_status(run, decide(run, [], ADMIT, T0))
    pod = make_pod(1)
    run = apply_status(run, decide(run, [pod], ADMIT, at(31)))
    reported = dataclasses.replace(
        run,
        status={**run.status, "progress": {"fraction": 0.5, "updateTime": "2025-03-01T12:00:40Z"}},
    )
    plan = decide(reported, [pod], ADMIT, at(41))
    assert plan.status is not None and _stuck(plan.status)["status"] == "False"
    assert plan.events == []


def test_runs_without_stuck_after_seconds_get_no_stuck_condition() -> None:
    run = make_run()
    run = apply_status(run, decide(run, [], ADMIT, T0))
    plan = decide(run, [make_pod(1)], ADMIT, at(100000))
    status = plan.status or dict(run.status)
    assert not any(c["type"] == "Stuck" for c in status.get("conditions", []))


def test_a_run_of_a_missing_scheduled_job_fails_with_its_conditions() -> None:
    run = make_run(spec={"scheduledJobRef": {"name": "gone"}})
    assert needs_snapshot(run)
    plan = decide_without_scheduled_job(run, at(3))
    assert plan.status is not None
    status = plan.status
    message = "ScheduledJob gone not found in team-a"
    assert (status["phase"], status["reason"], status["message"]) == (
        "Failed",
        "ScheduledJobNotFound",
        message,
    )
    assert status["completionTime"] == "2025-03-01T12:00:03.000000Z"
    assert status["log"][-1]["message"] == message
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["Finished"] == ("True", "ScheduledJobNotFound")
    assert conditions["Stalled"] == ("True", "ScheduledJobNotFound")
    assert conditions["Ready"][0] == conditions["Reconciling"][0] == "False"
    assert [(e.type, e.reason, e.message) for e in plan.events] == [("Warning", "Failed", message)]
    assert not plan.pre_actions and not plan.holds_slot
    failed = apply_status(run, plan)
    assert not needs_snapshot(failed), "decided once: a failed run takes no snapshot"


def test_only_an_unfinished_run_of_a_job_without_a_snapshot_needs_one() -> None:
    job = {"scheduledJobRef": {"name": "nightly"}}
    assert not needs_snapshot(make_run())
    assert not needs_snapshot(make_run(spec=job, status={"snapshot": {"settings": {}}}))
    assert not needs_snapshot(make_run(spec=job, status={"phase": "Cancelled"}))
