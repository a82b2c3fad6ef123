"""The start of an attempt and its disruptions (issue 17), as stories of `decide`:
refused pod creates (permanent and transient), the Starting phase with the pod's own
reason, startTimeoutSeconds, start errors that cannot heal, disruptions retried
without spending a retry, and OOMKilled. Each decision is checked against the
lifecycle's invariants (`test_lifecycle.check_invariants`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from jobwarden.api import constants as c
from jobwarden.core.conditions import Condition
from jobwarden.core.lifecycle import POD_APPEAR_SECONDS, START_QUIET_SECONDS, decide
from jobwarden.core.observed import PodView
from jobwarden.core.plan import CreatePod, DeletePod, Plan, ReleasePod
from jobwarden.core.podstate import CONFIG_ERROR_GRACE_SECONDS
from jobwarden.core.refusals import ApiRefusal, Refusal, RefusalCause
from tests.unit.factories import ADMIT, apply_pod_actions, apply_status, at, full, pod_body
from tests.unit.test_lifecycle import (
    MARGIN,
    Story,
    check_invariants,
    new,
    running,
    stamp,
    uid,
)

QUOTA = ApiRefusal(
    403,
    "Forbidden",
    'pods "nightly-1" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, '
    "limited: pods=1",
)
POD_SECURITY = ApiRefusal(
    403,
    "Forbidden",
    'pods "nightly-1" is forbidden: violates PodSecurity "restricted:latest": privileged '
    '(container "main" must not set securityContext.privileged=true)',
)
SCHEDULER_WORDS = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."


def step(story: Story, when: float, *, refuse: ApiRefusal | None = None, slot: Any = ADMIT) -> Plan:
    """One reconcile as the engine does it: when the API server refuses the create the
    decision asked for, the same decision is made again knowing what it said."""
    story.now = at(when)
    plan = decide(story.run, story.pods, slot, story.now)
    creates = [a for a in plan.pre_actions if isinstance(a, CreatePod)]
    if creates and refuse is not None:
        plan = decide(
            story.run, story.pods, slot, story.now, refusal=Refusal(creates[0].attempt, refuse)
        )
        assert not any(isinstance(a, CreatePod) for a in plan.pre_actions)
    check_invariants(story.run, story.pods, plan)
    story.run = apply_status(story.run, plan)
    story.pods = apply_pod_actions(story.pods, plan, story.now)
    story.plans.append(plan)
    return plan


def events(plan: Plan) -> list[str]:
    return [f"{e.type}/{e.reason}" for e in plan.events]


def creates(plan: Plan) -> list[CreatePod]:
    return [a for a in plan.pre_actions if isinstance(a, CreatePod)]


def worker_started(story: Story) -> Condition:
    return next(k for k in story.conditions if k["type"] == "WorkerStarted")


def set_pod(story: Story, body: dict[str, Any]) -> None:
    pod = PodView.from_body(body)
    story.pods = [pod if p.name == pod.name else p for p in story.pods]


def pending_body(
    attempt: int = 1,
    *,
    created: float = 0,
    node: str | None = "kwok-node-0",
    waiting: tuple[str, str] | None = None,
    unschedulable: bool = False,
) -> dict[str, Any]:
    body = pod_body(attempt, created=at(created), phase="Pending", node_name=node,
                    container_statuses=[])  # fmt: skip
    if waiting is not None:
        body["status"]["containerStatuses"] = [
            {"name": "main", "state": {"waiting": {"reason": waiting[0], "message": waiting[1]}}}
        ]
    if unschedulable:
        body["status"]["conditions"] = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": SCHEDULER_WORDS}
        ]  # fmt: skip
    return body


# ------------------------------------------------------------ refused creates
def test_a_permanent_refusal_fails_the_run_at_once_and_frees_the_slot() -> None:
    story = new(retries=3)
    plan = step(story, 0, refuse=POD_SECURITY)
    assert story.phase == "Failed"
    assert story.status["reason"] == "PodRejected"
    assert 'violates PodSecurity "restricted:latest"' in story.status["message"]
    assert story.status["attempts"][0]["reason"] == "PodRejected"
    assert "privileged" in story.status["attempts"][0]["message"]
    assert events(plan) == ["Normal/Started", "Warning/PodRejected"]
    assert [(a.action, a.outcome) for a in plan.audit] == [
        ("admitted", "started"),
        ("pod-rejected", "Failed"),
    ]
    assert plan.refusal is not None and plan.refusal.cause == RefusalCause.POLICY
    assert not plan.holds_slot and not plan.requeue_after
    assert step(story, 100).status is None, "nothing is tried again"


def test_a_transient_refusal_keeps_the_slot_and_backs_off() -> None:
    story = new()
    plan = step(story, 0, refuse=QUOTA)
    assert story.phase == "Starting"
    assert story.status["reason"] == "PodCreateRefused"
    assert story.status["message"].startswith("pod creation refused: pods \"nightly-1\" is "
                                              "forbidden: exceeded quota: q")  # fmt: skip
    assert events(plan) == ["Normal/Started", "Warning/PodCreateRefused"]
    assert plan.holds_slot and plan.requeue_after == 5
    assert plan.refusal is not None and plan.refusal.transient
    record = story.status["attempts"][0]
    assert (record["createRefusals"], record["nextCreateTime"]) == (1, stamp(5))

    assert step(story, 3).status is None and story.plans[-1].pre_actions == []
    created_at: list[float] = [0]
    for when, refused in ((5, True), (15, True), (35, True), (65, False)):
        plan = step(story, when, refuse=QUOTA if refused else None)
        created_at.append(when)
        assert plan.holds_slot
        assert events(plan) == [], "one Warning per attempt, not per refusal"
    assert creates(plan) == [CreatePod("nightly-1", 1)]
    assert story.status["attempts"][0]["createRefusals"] == 4
    assert story.status["attempts"][0]["createTime"] == stamp(65)
    assert story.status["reason"] == "PodCreating"
    story.pod_starts(66)
    step(story, 66)
    assert story.phase == "Running"
    assert worker_started(story)["status"] == "True"


def test_refused_creates_end_at_the_start_timeout_and_free_the_slot() -> None:
    story = new(retries=0, startTimeoutSeconds=30)
    step(story, 0, refuse=QUOTA)
    for when in (5, 15):
        step(story, when, refuse=QUOTA)
    plan = step(story, 30)
    assert story.phase == "Failed"
    assert story.status["reason"] == "PodCreateRefused"
    assert "did not start within 30s: pod creation refused" in story.status["message"]
    assert not plan.holds_slot and creates(plan) == []


def test_waiting_on_refused_creates_counts_against_the_attempts_timeout() -> None:
    story = new(retries=0, timeoutSeconds=20, startTimeoutSeconds=600)
    step(story, 0, refuse=QUOTA)
    assert story.plans[-1].requeue_after == 5
    step(story, 5, refuse=QUOTA)
    plan = step(story, 20)
    assert story.phase == "Failed"
    assert story.status["reason"] == "DeadlineExceeded"
    assert "did not start within its timeout of 20s" in story.status["message"]
    assert not plan.holds_slot


def test_a_refusal_that_becomes_permanent_fails_the_run() -> None:
    """ResourceQuota full, then a PodSecurity label added to the namespace meanwhile."""
    story = new()
    step(story, 0, refuse=QUOTA)
    plan = step(story, 5, refuse=POD_SECURITY)
    assert story.phase == "Failed" and story.status["reason"] == "PodRejected"
    assert not plan.holds_slot


def test_cancel_while_a_refused_create_backs_off_creates_nothing() -> None:
    story = new()
    step(story, 0, refuse=QUOTA)
    story.cancel(when=2)
    plan = step(story, 2)
    assert story.phase == "Cancelled"
    assert creates(plan) == [] and not plan.holds_slot
    assert story.status["cancellation"]["outcome"] == "Cancelled"
    assert step(story, 10).pre_actions == []


def test_a_retried_create_not_yet_seen_is_waited_for_from_its_own_time() -> None:
    story = new()
    step(story, 0, refuse=QUOTA)
    step(story, 100)  # the retried create succeeded; the pod is not in the cache yet
    story.pods = []
    plan = step(story, 100 + POD_APPEAR_SECONDS - 1)
    assert plan.status is None and plan.requeue_after == 1.0 and plan.holds_slot


# ------------------------------------------------------------------- Starting
def test_unschedulable_is_shown_with_the_schedulers_words_then_times_out() -> None:
    story = new(retries=1, startTimeoutSeconds=60)
    step(story, 0)
    set_pod(story, pending_body(node=None, unschedulable=True))
    plan = step(story, 1)
    assert story.phase == "Starting"
    assert story.status["reason"] == "Unschedulable"
    assert SCHEDULER_WORDS in story.status["message"]
    assert events(plan) == ["Warning/WorkerPending"]
    assert plan.holds_slot and plan.requeue_after == 59
    assert step(story, 30).status is None, "unchanged: no write, no second Warning"
    plan = step(story, 60)
    assert plan.pre_actions == [DeletePod("nightly-1", uid(1), 0)]
    assert plan.post_actions == [ReleasePod("nightly-1", uid(1))]
    assert not plan.holds_slot
    assert story.phase == "Retrying"
    record = story.status["attempts"][0]
    assert record["reason"] == "Unschedulable"
    assert "did not start within 60s" in record["message"]
    assert events(plan) == ["Warning/Retrying"]


def test_a_start_that_is_merely_slow_times_out_as_start_timeout() -> None:
    story = new(retries=0, startTimeoutSeconds=60)
    step(story, 0)
    set_pod(story, pending_body(waiting=("ContainerCreating", "")))
    plan = step(story, 1)
    assert plan.status is None, "a start on its way is not written within its first seconds"
    assert plan.requeue_after == START_QUIET_SECONDS - 1
    plan = step(story, START_QUIET_SECONDS)
    assert story.status["reason"] == "ContainerCreating" and events(plan) == []
    step(story, 60)
    assert story.phase == "Failed" and story.status["reason"] == "StartTimeout"


@pytest.mark.parametrize("reason", ["InvalidImageName", "ErrImageNeverPull"])
def test_start_errors_that_cannot_heal_fail_the_run_at_once(reason: str) -> None:
    story = new(retries=3)
    step(story, 0)
    set_pod(story, pending_body(waiting=(reason, "the kubelet's words")))
    plan = step(story, 2)
    assert story.phase == "Failed"
    assert story.status["reason"] == reason
    assert (
        "cannot start" in story.status["message"]
        and "the kubelet's words" in story.status["message"]
    )
    assert plan.pre_actions == [DeletePod("nightly-1", uid(1), 0)]
    assert not plan.holds_slot
    assert len(story.status["attempts"]) == 1, "retries would meet the same error"


def test_a_missing_secret_gets_a_grace_then_fails_the_run() -> None:
    story = new(retries=3)
    step(story, 0)
    waiting = ("CreateContainerConfigError", 'secret "db" not found')
    set_pod(story, pending_body(waiting=waiting))
    plan = step(story, 2)
    assert story.phase == "Starting" and story.status["reason"] == "CreateContainerConfigError"
    assert events(plan) == ["Warning/WorkerPending"]
    assert plan.requeue_after == pytest.approx(CONFIG_ERROR_GRACE_SECONDS - 2)
    step(story, CONFIG_ERROR_GRACE_SECONDS)
    assert story.phase == "Failed"
    assert story.status["reason"] == "CreateContainerConfigError"


def test_image_pull_errors_flapping_warn_once() -> None:
    story = new()
    step(story, 0)
    warnings = []
    for when, reason in ((2, "ErrImagePull"), (4, "ImagePullBackOff"), (20, "ErrImagePull")):
        set_pod(story, pending_body(waiting=(reason, f"{reason}: x:1")))
        warnings += events(step(story, when))
        assert story.phase == "Starting" and story.status["reason"] == reason
    assert warnings == ["Warning/WorkerPending"]


def test_cancel_while_starting_ends_at_once() -> None:
    story = new()
    step(story, 0)
    set_pod(story, pending_body(waiting=("ImagePullBackOff", "")))
    step(story, 2)
    story.cancel(when=3)
    plan = step(story, 3)
    assert story.phase == "Cancelled"
    assert plan.pre_actions == [DeletePod("nightly-1", uid(1), 0)]
    assert story.status["attempts"][0]["message"] == "cancelled before its worker started"


# ---------------------------------------------------------------- disruptions
def deleted_by_someone(story: Story, when: float, grace: int = 30) -> None:
    pod = story.pod()
    story.pods = [
        dataclasses.replace(pod, deletion_requested=at(when), deletion_deadline=at(when + grace))
    ]


def test_a_pod_deleted_outside_jobwarden_is_retried_without_spending_a_retry() -> None:
    story = running(retries=0)
    deleted_by_someone(story, 100)
    plan = step(story, 100)
    assert story.phase == "Running" and plan.holds_slot, "the worker is still stopping"
    assert plan.pre_actions == [], "not deleted again"
    story.pod_exits(143, when=101)
    plan = step(story, 101)
    record = story.status["attempts"][0]
    assert record["reason"] == "Disrupted"
    assert "deleted outside jobwarden" in record["message"]
    assert story.phase == "Retrying" and story.status["nextAttemptTime"] == stamp(101)
    assert events(plan) == ["Warning/Disrupted"]
    assert [(a.action, a.outcome) for a in plan.audit] == [("disrupted", "retried")]
    assert not plan.holds_slot
    plan = step(story, 101.5)
    assert creates(plan) == [CreatePod("nightly-2", 2)], "retries: 0, and yet retried"


def test_a_deleted_pod_whose_node_is_gone_ends_after_its_grace() -> None:
    story = running()
    deleted_by_someone(story, 100, grace=30)
    assert step(story, 100).requeue_after == pytest.approx(30 + MARGIN)
    plan = step(story, 100 + 30 + MARGIN)
    assert DeletePod("nightly-1", uid(1), 0) in plan.pre_actions
    assert story.status["attempts"][0]["reason"] == "Disrupted"


def test_a_worker_that_finishes_while_deleted_outside_succeeded() -> None:
    story = running()
    deleted_by_someone(story, 100)
    story.pod_exits(0, when=101)
    step(story, 101)
    assert story.phase == "Succeeded"


def test_a_node_lost_under_a_running_worker() -> None:
    story = running(retries=0)
    body = pod_body(1, exit_code=137, phase="Failed", running_since=at(2), finished_at=at(90))
    body["status"]["conditions"] = [
        {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
         "message": "PodGC: node no longer exists"}
    ]  # fmt: skip
    body["metadata"]["deletionTimestamp"] = "2025-03-01T12:01:30Z"
    body["metadata"]["deletionGracePeriodSeconds"] = 0
    set_pod(story, body)
    step(story, 91)
    record = story.status["attempts"][0]
    assert record["reason"] == "Disrupted"
    assert "lost with its node kwok-node-0" in record["message"]
    assert story.phase == "Retrying"


def test_disruptions_are_free_only_up_to_the_bound() -> None:
    story = running(retries=0)
    for attempt in range(1, c.MAX_DISRUPTIONS + 2):
        deleted_by_someone(story, 100 * attempt)
        story.pod_exits(143, when=100 * attempt + 1, attempt=attempt)
        step(story, 100 * attempt + 1)
        if attempt <= c.MAX_DISRUPTIONS:
            assert story.phase == "Retrying", attempt
            step(story, 100 * attempt + 2)  # attempt n + 1 created
            story.pod_starts(100 * attempt + 3)
            step(story, 100 * attempt + 3)
            assert story.phase == "Running"
    assert story.phase == "Failed"
    assert story.status["reason"] == "Disrupted"
    assert len(story.status["attempts"]) == c.MAX_DISRUPTIONS + 1


def test_a_disruption_does_not_lengthen_the_backoff_of_real_failures() -> None:
    story = running(retries=1)
    deleted_by_someone(story, 100)
    story.pod_exits(143, when=101)
    step(story, 101)
    step(story, 102)
    story.pod_starts(103, attempt=2)
    step(story, 103)
    story.pod_exits(1, when=150, attempt=2)
    plan = step(story, 150)
    assert story.phase == "Retrying"
    assert plan.requeue_after == 60, "the first failure's backoff (60 s), not the second's"


# -------------------------------------------------------------------- OOMKilled
def test_oom_killed_shows_the_memory_limit() -> None:
    story = running(retries=0)
    body = pod_body(1, exit_code=137, reason="OOMKilled", running_since=at(2), finished_at=at(50))
    body["spec"]["containers"] = [{"name": "main", "resources": {"limits": {"memory": "128Mi"}}}]
    set_pod(story, body)
    step(story, 50)
    assert story.phase == "Failed"
    assert story.status["reason"] == "OOMKilled"
    assert "exceeded its memory limit of 128Mi" in story.status["message"]
    assert story.status["attempts"][0]["reason"] == "OOMKilled"


def test_queued_runs_never_show_starting() -> None:
    story = new()
    step(story, 0, slot=full(2))
    assert story.phase == "Queued"


def test_a_pod_that_starts_at_once_costs_one_write_more_than_before() -> None:
    """Admission (Starting), running (Running), the end: the pod states between
    (unscheduled, bound, creating its container) are not written one by one."""
    story = new()
    writes = [step(story, 0).status is not None]
    set_pod(story, pending_body(node=None))  # ADDED: not scheduled yet
    writes.append(step(story, 0.2).status is not None)
    set_pod(story, pending_body(waiting=("ContainerCreating", "")))  # bound
    writes.append(step(story, 0.4).status is not None)
    story.pod_starts(0.6)
    writes.append(step(story, 0.6).status is not None)
    story.pod_exits(0, when=2)
    writes.append(step(story, 2).status is not None)
    assert writes == [True, False, False, True, True]
