"""The worker pod of one attempt, built from the run's pod template.

The same manifest runs on a real cluster and on the local one: nothing here knows
about simulation (kwok reads the pod's own annotations).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from jobwarden.api import constants as c
from jobwarden.core.lifecycle import pod_name
from jobwarden.core.observed import TRACKING_FINALIZER

#: Where Export volumes are mounted in the export worker's container.
EXPORT_VOLUME_ROOT = "/jobwarden/volumes"
EXPORT_WORKER_MODULE = "jobwarden.worker.export"
#: The export worker's PostgreSQL connection URI, from spec.source.postgres.secretRef.
EXPORT_SOURCE_URI_ENV = "JOBWARDEN_SOURCE_URI"
#: The ServiceAccount of worker pods whose template names none: it may only read
#: jobwarden runs and patch their status (see `engine.workers`).
WORKER_SERVICE_ACCOUNT = "jobwarden-worker"
#: The export worker runs as the image's own non-root user (Dockerfile: 65532).
EXPORT_WORKER_UID = 65532
#: Its root filesystem is read-only; scratch space is an emptyDir here (TMPDIR).
EXPORT_SCRATCH_VOLUME = "jobwarden-scratch"
EXPORT_SCRATCH_PATH = "/tmp"  # a mount point inside the worker container


def restricted_pod_security() -> dict[str, Any]:
    """The pod securityContext of the pods jobwarden builds itself: what the Pod
    Security Standard `restricted` asks for (non-root, seccomp RuntimeDefault), with
    a group that owns the mounted volumes so the non-root worker can write its file."""
    return {
        "runAsNonRoot": True,
        "runAsUser": EXPORT_WORKER_UID,
        "runAsGroup": EXPORT_WORKER_UID,
        "fsGroup": EXPORT_WORKER_UID,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_container_security() -> dict[str, Any]:
    """The container securityContext to go with `restricted_pod_security`: no
    privilege escalation, every capability dropped, a read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }


class TemplateMissingError(ValueError):
    """The run has no pod template to start a worker from (yet)."""


def run_template(body: Mapping[str, Any]) -> dict[str, Any]:
    """The pod template of a JobRun: its own, or the snapshot of its ScheduledJob."""
    spec = body.get("spec") or {}
    if spec.get("template"):
        return copy.deepcopy(dict(spec["template"]))
    snapshot = (body.get("status") or {}).get("snapshot") or {}
    if snapshot.get("template"):
        return copy.deepcopy(dict(snapshot["template"]))
    raise TemplateMissingError(
        f"{body.get('kind')} {body.get('metadata', {}).get('name')} has no template and no "
        "snapshot of its ScheduledJob's template"
    )


def export_template(body: Mapping[str, Any], default_image: str) -> dict[str, Any]:
    """The pod template of an Export: the built-in export worker with its overrides."""
    spec = body.get("spec") or {}
    worker = spec.get("worker") or {}
    volumes = list(spec.get("volumes") or [])
    source_env: list[dict[str, Any]] = []
    secret_ref = ((spec.get("source") or {}).get("postgres") or {}).get("secretRef")
    if secret_ref:
        # Only the worker's container reads the Secret: the URI never enters the
        # Export, the operator's memory or its logs.
        source_env.append(
            {
                "name": EXPORT_SOURCE_URI_ENV,
                "valueFrom": {
                    "secretKeyRef": {
                        "name": secret_ref["name"],
                        "key": secret_ref.get("key") or "uri",
                    }
                },
            }
        )
    container: dict[str, Any] = {
        "name": "export",
        "image": worker.get("image") or default_image,
        "command": ["python", "-m", EXPORT_WORKER_MODULE],
        "env": [
            {"name": "JOBWARDEN_EXPORT_SPEC", "value": json.dumps(spec, sort_keys=True)},
            {"name": "JOBWARDEN_VOLUME_ROOT", "value": EXPORT_VOLUME_ROOT},
            {"name": "TMPDIR", "value": EXPORT_SCRATCH_PATH},
            *source_env,
            *(worker.get("env") or []),
        ],
        "volumeMounts": [
            *(
                {"name": v["name"], "mountPath": f"{EXPORT_VOLUME_ROOT}/{v['name']}"}
                for v in volumes
                if v.get("name")
            ),
            {"name": EXPORT_SCRATCH_VOLUME, "mountPath": EXPORT_SCRATCH_PATH},
        ],
        "securityContext": restricted_container_security(),
    }
    if worker.get("imagePullPolicy"):
        container["imagePullPolicy"] = worker["imagePullPolicy"]
    if worker.get("resources"):
        container["resources"] = worker["resources"]
    # It meets the Pod Security Standard "restricted", so Exports run in namespaces that
    # enforce it (most tenant namespaces of platform teams do).
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "volumes": [*volumes, {"name": EXPORT_SCRATCH_VOLUME, "emptyDir": {}}],
        "securityContext": restricted_pod_security(),
    }
    for field in ("nodeSelector", "tolerations", "serviceAccountName"):
        if worker.get(field):
            pod_spec[field] = worker[field]
    return {
        "metadata": {
            "labels": dict(worker.get("podLabels") or {}),
            "annotations": dict(worker.get("podAnnotations") or {}),
        },
        "spec": pod_spec,
    }


def build_worker_pod(body: Mapping[str, Any], attempt: int, worker_image: str) -> dict[str, Any]:
    """The worker pod of `attempt` of the JobRun or Export `body`: what the engine
    creates, and what the admission webhook dry-runs before the run is stored.

    Raises TemplateMissingError for a run of a ScheduledJob not snapshotted yet."""
    if body.get("kind") == c.KIND_EXPORT:
        template = export_template(body, worker_image)
    else:
        template = run_template(body)
    return worker_pod(body, template, attempt)


def worker_pod(
    body: Mapping[str, Any], template: Mapping[str, Any], attempt: int
) -> dict[str, Any]:
    """The pod manifest for `attempt` of the run `body`, from `template`."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    run_name = str(metadata["name"])
    namespace = str(metadata["namespace"])
    kind = str(body["kind"])
    template_meta = template.get("metadata") or {}
    pod_spec = copy.deepcopy(dict(template.get("spec") or {}))

    labels = dict(template_meta.get("labels") or {})
    labels.update(
        {
            c.LABEL_RUN: run_name,
            c.LABEL_RUN_KIND: kind,
            c.LABEL_ATTEMPT: str(attempt),
            c.LABEL_TENANT: namespace,
        }
    )
    run_labels = metadata.get("labels") or {}
    if run_labels.get(c.LABEL_SCHEDULED_JOB):
        labels[c.LABEL_SCHEDULED_JOB] = run_labels[c.LABEL_SCHEDULED_JOB]

    identity = [
        {"name": "JOBWARDEN_RUN_NAME", "value": run_name},
        {"name": "JOBWARDEN_RUN_NAMESPACE", "value": namespace},
        {"name": "JOBWARDEN_RUN_KIND", "value": kind},
        {"name": "JOBWARDEN_RUN_UID", "value": str(metadata.get("uid", ""))},
        {"name": "JOBWARDEN_ATTEMPT", "value": str(attempt)},
    ]
    for container in pod_spec.get("containers") or []:
        existing = {e.get("name") for e in container.get("env") or []}
        container["env"] = [
            *(container.get("env") or []),
            *(e for e in identity if e["name"] not in existing),
        ]
        container.setdefault("terminationMessagePolicy", "FallbackToLogsOnError")

    pod_spec["restartPolicy"] = "Never"
    # Unless the template names one (also by the deprecated `serviceAccount`), workers
    # run as jobwarden-worker, which may only report to their run.
    pod_spec.setdefault(
        "serviceAccountName", pod_spec.get("serviceAccount") or WORKER_SERVICE_ACCOUNT
    )
    pod_spec.setdefault(
        "terminationGracePeriodSeconds",
        int(spec.get("cancelGracePeriodSeconds", c.DEFAULT_CANCEL_GRACE_PERIOD_SECONDS)),
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(run_name, attempt),
            "namespace": namespace,
            "labels": labels,
            "annotations": dict(template_meta.get("annotations") or {}),
            "finalizers": [TRACKING_FINALIZER],
            "ownerReferences": [
                {
                    "apiVersion": str(body.get("apiVersion", c.API_VERSION)),
                    "kind": kind,
                    "name": run_name,
                    "uid": str(metadata.get("uid", "")),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": pod_spec,
    }
