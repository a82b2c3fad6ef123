"""What a worker pod's state means for its attempt: pure readings of a `PodView`.

- `start_state`: a pod whose worker has not started yet — what it waits for (in
  Kubernetes' own words), and whether that can heal: an invalid image name or a
  missing image with pull policy Never cannot; a missing Secret or ConfigMap
  (CreateContainerConfigError) may be created a moment later, so it gets a short grace.
- `disruption_of`: a worker stopped by something other than its own code or
  jobwarden — evicted, preempted, deleted by someone else, lost with its node.
- `oom_message`: the words for a container killed over its memory limit.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from enum import Enum

from jobwarden.api.enums import Reason
from jobwarden.core.observed import PodView
from jobwarden.core.reasons import PodReason

#: A CreateContainerConfigError (a Secret or ConfigMap the pod names is missing) or a
#: CreateContainerError fails the attempt once it has lasted this long since the pod
#: was created: long enough for a GitOps tool applying the Secret beside the run.
CONFIG_ERROR_GRACE_SECONDS = 60.0
#: A status reason must fit metav1.Condition's reason pattern (and the CRD's).
_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")


class Heal(Enum):
    """Whether a start problem may go away by itself."""

    NORMAL = "normal"  # not a problem: the pod is on its way
    MAY_HEAL = "may-heal"  # a problem that may go away (bounded by startTimeoutSeconds)
    AFTER_GRACE = "after-grace"  # cannot heal once it has lasted CONFIG_ERROR_GRACE_SECONDS
    NEVER = "never"  # cannot heal: fail at once


_HEALING: dict[str, Heal] = {
    PodReason.CONTAINER_CREATING: Heal.NORMAL,
    PodReason.POD_INITIALIZING: Heal.NORMAL,
    PodReason.UNSCHEDULABLE: Heal.MAY_HEAL,
    PodReason.SCHEDULING_GATED: Heal.MAY_HEAL,
    PodReason.ERR_IMAGE_PULL: Heal.MAY_HEAL,
    PodReason.IMAGE_PULL_BACK_OFF: Heal.MAY_HEAL,
    PodReason.REGISTRY_UNAVAILABLE: Heal.MAY_HEAL,
    PodReason.IMAGE_INSPECT_ERROR: Heal.MAY_HEAL,
    PodReason.PRE_START_HOOK_ERROR: Heal.MAY_HEAL,
    PodReason.CREATE_CONTAINER_CONFIG_ERROR: Heal.AFTER_GRACE,
    PodReason.CREATE_CONTAINER_ERROR: Heal.AFTER_GRACE,
    PodReason.INVALID_IMAGE_NAME: Heal.NEVER,
    PodReason.ERR_IMAGE_NEVER_PULL: Heal.NEVER,
}


def safe_reason(reason: str, fallback: Reason) -> str:
    """`reason` if it can stand as a condition reason, else `fallback`."""
    return reason if reason and len(reason) <= 128 and _REASON.match(reason) else str(fallback)


@dataclass(frozen=True)
class StartState:
    """Where a not-yet-started worker stands."""

    reason: str  # the condition reason shown (the pod's own when it gives one)
    message: str
    heal: Heal
    #: For Heal.AFTER_GRACE: when the problem stops being given time.
    give_up_at: datetime.datetime | None = None

    @property
    def problem(self) -> bool:
        """Worth a Warning: the pod is not simply on its way."""
        return self.heal is not Heal.NORMAL

    def failed(self, now: datetime.datetime) -> bool:
        """The attempt should end now: this cannot heal (any more)."""
        if self.heal is Heal.NEVER:
            return True
        return self.give_up_at is not None and now >= self.give_up_at


def start_state(pod: PodView) -> StartState:
    """What a pod whose worker has not started waits for (see the module docstring)."""
    waiting = pod.waiting
    if waiting is None:
        if not pod.scheduled:
            return StartState(
                Reason.POD_PENDING, f"pod {pod.name} waits to be scheduled", Heal.NORMAL
            )
        return StartState(
            PodReason.CONTAINER_CREATING,
            f"pod {pod.name} is being started on node {pod.node_name}",
            Heal.NORMAL,
        )
    heal = _HEALING.get(waiting.reason, Heal.MAY_HEAL)
    where = "init container" if waiting.init else "pod"
    detail = waiting.message or _DEFAULT_WORDS.get(waiting.reason, "")
    message = f"{where} {pod.name}: {waiting.reason}" + (f": {detail}" if detail else "")
    give_up = (
        pod.created + datetime.timedelta(seconds=CONFIG_ERROR_GRACE_SECONDS)
        if heal is Heal.AFTER_GRACE
        else None
    )
    return StartState(safe_reason(waiting.reason, Reason.POD_PENDING), message, heal, give_up)


_DEFAULT_WORDS: dict[str, str] = {
    PodReason.CONTAINER_CREATING: "creating the worker's container",
    PodReason.POD_INITIALIZING: "running init containers",
}


# ------------------------------------------------------------------ disruptions
_DISRUPTION_WORDS: dict[str, str] = {
    PodReason.PREEMPTION_BY_SCHEDULER: "preempted by the scheduler for a higher-priority pod",
    PodReason.DELETION_BY_TAINT_MANAGER: "deleted by the taint manager (its node is tainted)",
    PodReason.EVICTION_BY_EVICTION_API: "evicted through the Eviction API (e.g. a node drain)",
    PodReason.DELETION_BY_POD_GC: "garbage-collected: its node no longer exists",
    PodReason.TERMINATION_BY_KUBELET: (
        "terminated by its node's kubelet (node pressure or shutdown)"
    ),
}
#: Pod-level failure reasons that are about the node, not the worker.
_NODE_FAILURES: frozenset[str] = frozenset({PodReason.EVICTED, PodReason.NODE_LOST})


@dataclass(frozen=True)
class Disruption:
    """Who or what stopped a worker that neither jobwarden nor its own code stopped."""

    message: str


def disruption_of(pod: PodView, *, deleted_by_jobwarden: bool) -> Disruption | None:
    """A disruption, if the pod shows one (see the module docstring).

    `deleted_by_jobwarden`: the operator asked for the deletion itself (a cancel, a
    timeout), so a deletion is not a disruption.
    """
    node = f" on node {pod.node_name}" if pod.node_name else ""
    note = pod.disruption
    if note is not None and note.reason:
        words = _DISRUPTION_WORDS.get(note.reason, note.reason)
        if note.reason == PodReason.DELETION_BY_POD_GC and pod.node_name:
            words = f"lost with its node {pod.node_name} (DeletionByPodGC)"
            node = ""
        detail = f": {note.message}" if note.message else ""
        return Disruption(f"{words}{node}{detail}")
    failure = pod.failure
    if failure is not None and failure.reason in _NODE_FAILURES:
        detail = f": {failure.message}" if failure.message else ""
        return Disruption(f"{failure.reason}{node}{detail}")
    if pod.deletion_requested is not None and not deleted_by_jobwarden:
        return Disruption(f"pod {pod.name} was deleted outside jobwarden{node}")
    return None


def oom_message(pod: PodView) -> str:
    """How to say that the worker was OOM-killed, with its memory limit."""
    if pod.memory_limit:
        return f"was OOMKilled: it exceeded its memory limit of {pod.memory_limit}"
    return "was OOMKilled (no memory limit set: the node ran out of memory)"
