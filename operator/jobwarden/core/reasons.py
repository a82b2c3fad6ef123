"""Kubernetes' own vocabulary that decisions read: pod reasons and condition types.

jobwarden's own vocabulary (condition types, reasons, Event reasons, audit actions) is
in `jobwarden.api.enums`, where every package, the kubectl plugin's included, uses it.
"""

from __future__ import annotations

from enum import StrEnum


class PodReason(StrEnum):
    """Kubernetes' own reasons (scheduler, kubelet, controllers) that decisions read."""

    UNSCHEDULABLE = "Unschedulable"  # condition PodScheduled=False
    SCHEDULING_GATED = "SchedulingGated"
    CONTAINER_CREATING = "ContainerCreating"  # waiting, normal
    POD_INITIALIZING = "PodInitializing"  # waiting, normal
    ERR_IMAGE_PULL = "ErrImagePull"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    INVALID_IMAGE_NAME = "InvalidImageName"
    ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
    IMAGE_INSPECT_ERROR = "ImageInspectError"
    REGISTRY_UNAVAILABLE = "RegistryUnavailable"
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"  # missing Secret/ConfigMap
    CREATE_CONTAINER_ERROR = "CreateContainerError"
    PRE_START_HOOK_ERROR = "PreStartHookError"
    OOM_KILLED = "OOMKilled"  # a terminated container's reason
    EVICTED = "Evicted"  # a pod's status.reason (node pressure)
    NODE_LOST = "NodeLost"  # a pod's status.reason (node controller, older clusters)
    # Reasons of the DisruptionTarget condition (Kubernetes 1.26+).
    PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"
    DELETION_BY_TAINT_MANAGER = "DeletionByTaintManager"
    EVICTION_BY_EVICTION_API = "EvictionByEvictionAPI"
    DELETION_BY_POD_GC = "DeletionByPodGC"
    TERMINATION_BY_KUBELET = "TerminationByKubelet"


class PodConditionType(StrEnum):
    """Pod condition types decisions read."""

    POD_SCHEDULED = "PodScheduled"
    DISRUPTION_TARGET = "DisruptionTarget"


class PodPhase(StrEnum):
    """A pod's `status.phase`."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
