"""Builders of raw API objects and their core projections, for the core's unit tests.

Raw dict builders (`run_body`, `pod_body`, `scheduled_job_body`) produce what the API
server would return; `make_run` / `make_pod` / `make_scheduled_job` (and `run_of_job`)
project them with the core's `from_body`, exactly as the engine does. `apply_status`
plays the API server's part in a story: it merge-patches a plan's status into the run
(RFC 7386: `null` deletes a key), as the engine's write does, and then prunes and
defaults it by the CRD's structural schema, as the API server does, so a field the CRD
would drop shows up as a write that never ends.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from jobwarden.api import constants as c
from jobwarden.core.conditions import format_micro_time, format_time
from jobwarden.core.observed import TRACKING_FINALIZER, PodView, RunView, Slot
from jobwarden.core.plan import CreatePod, DeletePod, Plan, ReleasePod
from jobwarden.core.scheduledjob import ScheduledJobView
from tests.support.fakeapi import merge

UTC = datetime.UTC
#: The moment most stories start at; everything else is an offset from it.
T0 = datetime.datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
RUN = "nightly"
NAMESPACE = "team-a"
RUN_UID = "run-uid-0001"

#: The namespace answers "yes, start now".
ADMIT = Slot(admit=True, position=0, running=0, limit=10)


def at(seconds: float) -> datetime.datetime:
    """T0 + seconds."""
    return T0 + datetime.timedelta(seconds=seconds)


def full(position: int = 1, running: int = 10, limit: int = 10) -> Slot:
    """The namespace answers "wait": the quota is used up."""
    return Slot(admit=False, position=position, running=running, limit=limit)


# ------------------------------------------------------------------------- runs
def run_body(
    name: str = RUN,
    *,
    kind: str = c.KIND_JOB_RUN,
    namespace: str = NAMESPACE,
    uid: str = RUN_UID,
    generation: int = 1,
    created: datetime.datetime = T0,
    spec: Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    status: Mapping[str, Any] | None = None,
    deleting: bool = False,
    resource_version: str = "1000",
) -> dict[str, Any]:
    """A JobRun (or Export) as the API server returns it."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "generation": generation,
        "resourceVersion": resource_version,
        "creationTimestamp": format_time(created),
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    if labels:
        metadata["labels"] = dict(labels)
    if deleting:
        metadata["deletionTimestamp"] = format_time(created + datetime.timedelta(hours=1))
        metadata["finalizers"] = ["kopf.zalando.org/KopfFinalizerMarker"]
    body: dict[str, Any] = {
        "apiVersion": c.API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "spec": dict(spec) if spec is not None else {},
    }
    if status is not None:
        body["status"] = dict(status)
    return body


def make_run(**kwargs: Any) -> RunView:
    """`RunView.from_body(run_body(**kwargs))`."""
    return RunView.from_body(run_body(**kwargs))


def run_of_job(
    name: str,
    phase: str | None = None,
    *,
    job: str = "nightly",
    created: datetime.datetime = T0,
    completed: datetime.datetime | None = None,
    trigger: str = "Schedule",
    cancel: bool = False,
) -> RunView:
    """A JobRun of the ScheduledJob `job` (uid `uid-<name>`); a `completed` one started
    30 s before it completed."""
    status: dict[str, Any] = {}
    if phase:
        status["phase"] = phase
    if completed:
        status["completionTime"] = format_micro_time(completed)
        status["startTime"] = format_micro_time(completed - datetime.timedelta(seconds=30))
    spec = {"scheduledJobRef": {"name": job}, "trigger": trigger, "cancel": cancel}
    return make_run(name=name, uid=f"uid-{name}", created=created, spec=spec, status=status)


# ---------------------------------------------------------------- scheduled jobs
def scheduled_job_body(
    name: str = "nightly",
    *,
    namespace: str = NAMESPACE,
    uid: str = "sj-uid",
    generation: int = 1,
    created: datetime.datetime | None = T0,
    spec: Mapping[str, Any] | None = None,
    status: Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
    resource_version: str | None = None,
) -> dict[str, Any]:
    """A ScheduledJob as the API server returns it (`created` None: no creation time)."""
    metadata: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "uid": uid,
        "generation": generation,
        "annotations": dict(annotations or {}),
    }
    if created is not None:
        metadata["creationTimestamp"] = format_time(created)
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_SCHEDULED_JOB,
        "metadata": metadata,
        "spec": dict(spec or {}),
        "status": dict(status or {}),
    }


def make_scheduled_job(**kwargs: Any) -> ScheduledJobView:
    """`ScheduledJobView.from_body(scheduled_job_body(**kwargs))`."""
    return ScheduledJobView.from_body(scheduled_job_body(**kwargs))


def request_cancel(
    run: RunView,
    *,
    by: str | None = "alice",
    at_time: datetime.datetime | None = None,
    reason: str | None = None,
) -> RunView:
    """What the API holds after `spec.cancel: true` went through the webhook:
    the spec bumped the generation, the webhook stamped who and when."""
    annotations = dict(run.annotations)
    if by is not None:
        annotations[c.ANNOTATION_CANCEL_REQUESTED_BY] = by
    if at_time is not None:
        annotations[c.ANNOTATION_CANCEL_REQUESTED_AT] = format_time(at_time)
    if reason is not None:
        annotations[c.ANNOTATION_CANCEL_REASON] = reason
    return dataclasses.replace(
        run,
        generation=run.generation + 1,
        settings=dataclasses.replace(run.settings, cancel=True),
        annotations=annotations,
    )


# ------------------------------------------------------------------------- pods
def pod_body(
    attempt: int = 1,
    *,
    run: str = RUN,
    uid: str | None = None,
    created: datetime.datetime = T0,
    phase: str = "Running",
    running_since: datetime.datetime | None = None,
    exit_code: int | None = None,
    reason: str | None = None,
    message: str | None = None,
    finished_at: datetime.datetime | None = None,
    deletion_timestamp: datetime.datetime | None = None,
    deletion_grace: int | None = None,
    tracked: bool = True,
    labels: Mapping[str, str] | None = None,
    container_statuses: Sequence[Mapping[str, Any]] | None = None,
    node_name: str | None = "kwok-node-0",
    run_kind: str | None = None,
    resource_version: str = "2000",
) -> dict[str, Any]:
    """A worker pod as the API server returns it (bound to `node_name`; None = unscheduled).

    With `exit_code` the worker container is terminated (and the pod phase follows:
    Succeeded for 0, Failed otherwise, unless `phase` says otherwise explicitly);
    with phase Running it is running since `running_since` (default: `created`).
    """
    name = f"{run}-{attempt}"
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": uid or f"pod-uid-{name}",
        "resourceVersion": resource_version,
        "creationTimestamp": format_time(created),
        "labels": dict(labels)
        if labels is not None
        else {c.LABEL_RUN: run, c.LABEL_ATTEMPT: str(attempt), c.LABEL_TENANT: NAMESPACE},
        "finalizers": [TRACKING_FINALIZER] if tracked else [],
    }
    if deletion_timestamp is not None:
        metadata["deletionTimestamp"] = format_time(deletion_timestamp)
    if deletion_grace is not None:
        metadata["deletionGracePeriodSeconds"] = deletion_grace
    status: dict[str, Any] = {"phase": phase}
    if container_statuses is not None:
        status["containerStatuses"] = [dict(s) for s in container_statuses]
    elif exit_code is not None:
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            "startedAt": format_time(running_since or created),
            "finishedAt": format_time(finished_at or created),
        }
        if message is not None:
            terminated["message"] = message
        status["containerStatuses"] = [{"name": "main", "state": {"terminated": terminated}}]
        if phase == "Running":
            status["phase"] = "Succeeded" if exit_code == 0 else "Failed"
    elif phase == "Running":
        since = format_time(running_since or created)
        status["containerStatuses"] = [{"name": "main", "state": {"running": {"startedAt": since}}}]
    if run_kind is not None:  # whose pod it is, as the store finds its run
        metadata["labels"][c.LABEL_RUN_KIND] = run_kind
    spec: dict[str, Any] = {"nodeName": node_name} if node_name else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


def make_pod(attempt: int = 1, **kwargs: Any) -> PodView:
    """`PodView.from_body(pod_body(attempt, **kwargs))`."""
    return PodView.from_body(pod_body(attempt, **kwargs))


# ------------------------------------------------------------- the API's part
CRDS = Path(__file__).resolve().parents[2] / "crds"


@functools.cache
def status_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of `status` in the checked-in CRD of a run kind."""
    plural = c.PLURALS[kind]
    with (CRDS / f"{plural}.{c.GROUP}.yaml").open() as file:
        crd = yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == c.VERSION]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


def structural(value: Any, schema: Mapping[str, Any]) -> Any:
    """What the API server stores of `value`: unknown fields pruned, nulls of
    non-nullable fields dropped, defaults filled in (a small model of apiextensions)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return value
    if isinstance(value, dict):
        properties: Mapping[str, Any] | None = schema.get("properties")
        if properties is None:
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping):
                return {k: structural(v, extra) for k, v in value.items()}
            return {}
        result: dict[str, Any] = {}
        for key, item in value.items():
            if key not in properties:
                continue
            if item is None and not properties[key].get("nullable"):
                continue
            result[key] = structural(item, properties[key])
        for key, prop in properties.items():
            if key not in result and "default" in prop:
                result[key] = copy.deepcopy(prop["default"])
        return result
    if isinstance(value, list) and "items" in schema:
        return [structural(item, schema["items"]) for item in value]
    return value


def apply_status(run: RunView, plan: Plan, *, verbatim: bool = False) -> RunView:
    """The run as the API returns it after the plan's status write (if any).

    By default the write is a merge patch stored through the CRD's schema, as on a
    cluster; with `verbatim` the plan's status is taken as it is (only JSON round-tripped).
    """
    if plan.status is None:
        return run
    written = json.loads(json.dumps(plan.status))  # what goes over the wire
    if verbatim:
        return dataclasses.replace(run, status=written)
    stored = structural(merge(dict(run.status), written), status_schema(run.kind))
    return dataclasses.replace(run, status=stored)


def apply_pod_actions(pods: Sequence[PodView], plan: Plan, now: datetime.datetime) -> list[PodView]:
    """The pods as the API returns them after the plan's actions (before the kubelet
    reacts): created pods are Pending, deleted pods carry a deletionTimestamp, released
    pods lose the tracking finalizer."""
    result = list(pods)
    for action in [*plan.pre_actions, *plan.post_actions]:
        if isinstance(action, CreatePod):
            if not any(p.name == action.name for p in result):
                result.append(make_pod(action.attempt, created=now, phase="Pending"))
            continue
        index = next(i for i, p in enumerate(result) if p.name == action.name)
        pod = result[index]
        assert pod.uid == action.uid, f"{action} names another pod than {pod}"
        if isinstance(action, DeletePod):
            if pod.deletion_requested is None or action.grace_period_seconds == 0:
                result[index] = dataclasses.replace(
                    pod,
                    deletion_requested=now,
                    deletion_deadline=now + datetime.timedelta(seconds=action.grace_period_seconds),
                )
        elif isinstance(action, ReleasePod):
            result[index] = dataclasses.replace(pod, tracked=False)
    return result
