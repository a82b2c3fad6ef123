"""A run deleted before it finished is stopped through the cancel path first (its
stop-before-delete finalizer holds it), then released; one deleted without our
finalizer (created before it existed) goes at once, as before."""

from __future__ import annotations

import datetime
from typing import Any

from jobwarden.api import constants as c
from jobwarden.core.lifecycle import decide
from jobwarden.core.observed import RunView, Slot
from jobwarden.core.plan import DeletePod, ReleaseRun
from tests.unit.factories import T0, make_pod, run_body

NOW = T0 + datetime.timedelta(minutes=5)
ADMIT = Slot(admit=True, position=0, running=0, limit=10)
STAMPS = {
    c.ANNOTATION_OPERATOR_CANCEL: "true",
    c.ANNOTATION_CANCEL_REQUESTED_BY: "alice",
    c.ANNOTATION_CANCEL_REQUESTED_AT: "2025-03-01T12:04:00.000000Z",
    c.ANNOTATION_CANCEL_REASON: "deleted",
}


def deleted(
    status: dict[str, Any], annotations: dict[str, str] | None = None, ours: bool = True
) -> RunView:
    body = run_body(spec={"template": {"spec": {"containers": [{"name": "w", "image": "w"}]}}},
                    status=status, annotations=annotations, deleting=True)  # fmt: skip
    body["metadata"]["finalizers"] = [c.FINALIZER_STOP_BEFORE_DELETE] if ours else []
    return RunView.from_body(body)


RUNNING = {
    "phase": "Running",
    "attempt": 1,
    "attempts": [{"attempt": 1, "podName": "nightly-1", "startTime": "2025-03-01T12:00:00Z"}],
}


def test_a_deleted_running_run_is_cancelled_by_its_deleter_with_reason_deleted() -> None:
    run = deleted(RUNNING, STAMPS)
    pod = make_pod(1, phase="Running")
    plan = decide(run, [pod], ADMIT, NOW)
    assert any(isinstance(a, DeletePod) and a.grace_period_seconds == 30 for a in plan.pre_actions)
    assert plan.status is not None and plan.status["phase"] == "Cancelling"
    assert plan.status["cancellation"]["requestedBy"] == "alice"
    assert plan.status["cancellation"]["reason"] == "deleted"
    assert [a.action.value for a in plan.audit] == ["cancel-requested"]
    assert not any(isinstance(a, ReleaseRun) for a in plan.post_actions)


def test_a_deleted_run_without_stamps_is_still_stopped_first() -> None:
    """Deleted by the garbage collector or with the webhook down: still the cancel path."""
    plan = decide(deleted(RUNNING), [make_pod(1, phase="Running")], ADMIT, NOW)
    assert plan.status is not None and plan.status["phase"] == "Cancelling"


def test_once_stopped_the_finalizer_is_released() -> None:
    run = deleted({"phase": "Cancelled"}, STAMPS)
    plan = decide(run, [], ADMIT, NOW)
    assert plan.post_actions == [ReleaseRun(run.uid, (), run.resource_version)]
    assert plan.status is None


def test_a_run_without_our_finalizer_is_not_held() -> None:
    plan = decide(deleted(RUNNING, ours=False), [make_pod(1, phase="Running")], ADMIT, NOW)
    assert plan.status is None and not plan.pre_actions
