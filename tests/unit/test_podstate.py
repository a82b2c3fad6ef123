"""What a worker pod's state means (`core.podstate`): why it has not started and
whether that can heal, whether it was disrupted, and how an OOM kill is said —
table-driven from pod objects as the API server returns them."""

from __future__ import annotations

from typing import Any

import pytest

from jobwarden.api.enums import Reason
from jobwarden.core.observed import PodView
from jobwarden.core.podstate import (
    CONFIG_ERROR_GRACE_SECONDS,
    Heal,
    disruption_of,
    oom_message,
    safe_reason,
    start_state,
)
from tests.unit.factories import T0, at, pod_body

SCHEDULER_WORDS = (
    "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
    "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
)


def pending(
    *,
    node: str | None = "kwok-node-0",
    waiting: tuple[str, str] | None = None,
    init_waiting: tuple[str, str] | None = None,
    conditions: list[dict[str, Any]] | None = None,
) -> PodView:
    """A Pending worker pod: unscheduled (node None), or waiting with (reason, message)."""
    body = pod_body(1, phase="Pending", node_name=node, container_statuses=[])
    status = body["status"]
    if waiting is not None:
        status["containerStatuses"] = [
            {"name": "main", "state": {"waiting": {"reason": waiting[0], "message": waiting[1]}}}
        ]
    if init_waiting is not None:
        status["initContainerStatuses"] = [
            {"name": "init", "state": {"waiting": {"reason": init_waiting[0],
                                                   "message": init_waiting[1]}}}
        ]  # fmt: skip
    if conditions is not None:
        status["conditions"] = conditions
    return PodView.from_body(body)


UNSCHEDULABLE = [
    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
     "message": SCHEDULER_WORDS}
]  # fmt: skip

START_CASES = [
    # (pod, reason shown, heal, words in the message)
    pytest.param(pending(node=None), "PodPending", Heal.NORMAL, "waits to be scheduled",
                 id="not scheduled yet, nothing said"),
    pytest.param(pending(node=None, conditions=UNSCHEDULABLE), "Unschedulable", Heal.MAY_HEAL,
                 "didn't match Pod's node affinity/selector",
                 id="Unschedulable: the scheduler's words"),
    pytest.param(pending(), "ContainerCreating", Heal.NORMAL, "being started on node kwok-node-0",
                 id="bound, no container status yet"),
    pytest.param(pending(waiting=("ContainerCreating", "")), "ContainerCreating", Heal.NORMAL,
                 "creating the worker's container", id="ContainerCreating"),
    pytest.param(pending(waiting=("ErrImagePull", 'failed to pull "x:1": not found')),
                 "ErrImagePull", Heal.MAY_HEAL, 'failed to pull "x:1"', id="ErrImagePull"),
    pytest.param(pending(waiting=("ImagePullBackOff", 'Back-off pulling image "x:1"')),
                 "ImagePullBackOff", Heal.MAY_HEAL, "Back-off pulling", id="ImagePullBackOff"),
    pytest.param(pending(waiting=("InvalidImageName", 'couldn\'t parse image name "X Y"')),
                 "InvalidImageName", Heal.NEVER, "couldn't parse",
                 id="InvalidImageName: never heals"),
    pytest.param(pending(waiting=("ErrImageNeverPull", 'image "x:1" is not present with pull '
                                  "policy of Never")),
                 "ErrImageNeverPull", Heal.NEVER, "pull policy of Never",
                 id="ErrImageNeverPull: never heals"),
    pytest.param(pending(waiting=("CreateContainerConfigError", 'secret "db" not found')),
                 "CreateContainerConfigError", Heal.AFTER_GRACE, 'secret "db" not found',
                 id="CreateContainerConfigError: a missing Secret gets a grace"),
    pytest.param(pending(waiting=("CreateContainerError", "name conflict")),
                 "CreateContainerError", Heal.AFTER_GRACE, "name conflict",
                 id="CreateContainerError"),
    pytest.param(pending(waiting=("SomethingNew", "a reason we do not know")),
                 "SomethingNew", Heal.MAY_HEAL, "a reason we do not know",
                 id="an unknown reason: shown, bounded by the start timeout"),
    pytest.param(pending(waiting=("not a reason!", "odd")), "PodPending", Heal.MAY_HEAL, "odd",
                 id="a reason that cannot be a condition reason is replaced"),
    pytest.param(pending(init_waiting=("ErrImagePull", "init image missing"),
                         waiting=("PodInitializing", "")),
                 "ErrImagePull", Heal.MAY_HEAL, "init container",
                 id="an init container's reason first"),
    pytest.param(pending(init_waiting=("PodInitializing", ""), waiting=("PodInitializing", "")),
                 "PodInitializing", Heal.NORMAL, "running init containers",
                 id="init containers running"),
]  # fmt: skip


@pytest.mark.parametrize(("pod", "reason", "heal", "words"), START_CASES)
def test_start_state(pod: PodView, reason: str, heal: Heal, words: str) -> None:
    state = start_state(pod)
    assert (state.reason, state.heal) == (reason, heal)
    assert words in state.message
    assert state.problem is (heal is not Heal.NORMAL)
    assert not pod.started


@pytest.mark.parametrize(
    ("heal_reason", "seconds", "failed"),
    [
        pytest.param("InvalidImageName", 0, True, id="never heals: fails at once"),
        pytest.param("CreateContainerConfigError", CONFIG_ERROR_GRACE_SECONDS - 1, False,
                     id="config error within its grace"),
        pytest.param("CreateContainerConfigError", CONFIG_ERROR_GRACE_SECONDS, True,
                     id="config error past its grace"),
        pytest.param("ImagePullBackOff", 10_000, False,
                 id="may heal: only the start timeout ends it"),
    ],
)  # fmt: skip
def test_when_a_start_problem_ends_the_attempt(
    heal_reason: str, seconds: float, failed: bool
) -> None:
    state = start_state(pending(waiting=(heal_reason, "")))
    assert state.failed(at(seconds)) is failed


def _ended(**fields: Any) -> PodView:
    """A worker pod that was running and has ended (143 on SIGTERM unless said)."""
    body = pod_body(1, exit_code=fields.pop("exit_code", 143), finished_at=at(50))
    status, metadata = body["status"], body["metadata"]
    if "disruption" in fields:
        reason, message = fields.pop("disruption")
        status["conditions"] = [
            {"type": "DisruptionTarget", "status": "True", "reason": reason, "message": message}
        ]
    if "pod_reason" in fields:
        status["reason"], status["message"] = fields.pop("pod_reason")
    if fields.pop("deleted", False):
        metadata["deletionTimestamp"] = "2025-03-01T12:01:00Z"
        metadata["deletionGracePeriodSeconds"] = 30
    assert not fields
    return PodView.from_body(body)


DISRUPTION_CASES = [
    pytest.param(_ended(), False, None, id="ended on its own: no disruption"),
    pytest.param(_ended(deleted=True), False, "was deleted outside jobwarden on node kwok-node-0",
                 id="deleted by someone else"),
    pytest.param(_ended(deleted=True), True, None, id="deleted by jobwarden (cancel, timeout)"),
    pytest.param(_ended(disruption=("EvictionByEvictionAPI", "Eviction API: evicting")), True,
                 "evicted through the Eviction API", id="evicted (drain)"),
    pytest.param(_ended(disruption=("PreemptionByScheduler", "t/high: preempting")), False,
                 "preempted by the scheduler", id="preempted"),
    pytest.param(_ended(disruption=("DeletionByPodGC", "PodGC: node no longer exists")), False,
                 "lost with its node kwok-node-0 (DeletionByPodGC)", id="node deleted (PodGC)"),
    pytest.param(_ended(disruption=("DeletionByTaintManager", "Taint manager: deleting")), False,
                 "taint manager", id="node NoExecute taint"),
    pytest.param(_ended(pod_reason=("Evicted", "The node was low on resource: memory.")), False,
                 "Evicted on node kwok-node-0: The node was low on resource: memory.",
                 id="node-pressure eviction (status.reason)"),
    pytest.param(_ended(pod_reason=("OutOfcpu", "Node didn't have enough resource")), False, None,
                 id="a kubelet admission failure of its own is not a disruption"),
]  # fmt: skip


@pytest.mark.parametrize(("pod", "by_us", "words"), DISRUPTION_CASES)
def test_disruption_of(pod: PodView, by_us: bool, words: str | None) -> None:
    found = disruption_of(pod, deleted_by_jobwarden=by_us)
    if words is None:
        assert found is None
    else:
        assert found is not None and words in found.message


def test_oom_message_names_the_memory_limit() -> None:
    body = pod_body(1, exit_code=137, reason="OOMKilled")
    body["spec"]["containers"] = [{"name": "main", "resources": {"limits": {"memory": "64Mi"}}}]
    pod = PodView.from_body(body)
    assert pod.memory_limit == "64Mi"
    assert oom_message(pod) == "was OOMKilled: it exceeded its memory limit of 64Mi"
    unlimited = PodView.from_body(pod_body(1, exit_code=137, reason="OOMKilled"))
    assert "no memory limit" in oom_message(unlimited)


def test_safe_reason() -> None:
    assert safe_reason("ImagePullBackOff", Reason.POD_PENDING) == "ImagePullBackOff"
    assert safe_reason("", Reason.POD_PENDING) == "PodPending"
    assert safe_reason("x" * 200, Reason.POD_PENDING) == "PodPending"


def test_a_running_pod_has_started() -> None:
    pod = PodView.from_body(pod_body(1, running_since=T0))
    assert pod.started and pod.waiting is None
