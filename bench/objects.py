"""Manifests the scenarios create: JobRuns, ScheduledJobs, CronJobs and Jobs whose
simulated pods (kwok) behave as their `sim.jobwarden.dev/*` annotations say."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
API = "jobwarden.dev/v1alpha1"


def sim(run_seconds: float, sigterm_exit_seconds: float | None = None) -> dict[str, str]:
    """Pod annotations for kwok's simulated worker."""
    annotations = {"sim.jobwarden.dev/run-seconds": f"{run_seconds:g}"}
    if sigterm_exit_seconds is not None:
        annotations["sim.jobwarden.dev/sigterm-exit-seconds"] = f"{sigterm_exit_seconds:g}"
    return annotations


def pod_template(annotations: dict[str, str], *, restart_never: bool = False) -> JSON:
    spec: JSON = {"containers": [{"name": "main", "image": "registry.invalid/worker:1"}]}
    if restart_never:
        spec["restartPolicy"] = "Never"
    return {"metadata": {"annotations": annotations}, "spec": spec}


def path(plural: str, namespace: str, name: str | None = None, group: str = API) -> str:
    base = "/api/v1" if group == "v1" else f"/apis/{group}"
    return f"{base}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


def jobrun(name: str, annotations: dict[str, str], **spec: Any) -> JSON:
    return {
        "apiVersion": API,
        "kind": "JobRun",
        "metadata": {"name": name},
        "spec": {"template": pod_template(annotations), **spec},
    }


def scheduledjob(name: str, schedule: str, annotations: dict[str, str], **spec: Any) -> JSON:
    return {
        "apiVersion": API,
        "kind": "ScheduledJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "template": pod_template(annotations),
            "concurrencyPolicy": "Forbid",
            "successfulRunsHistoryLimit": 1,
            "failedRunsHistoryLimit": 1,
            **spec,
        },
    }


def job_spec(annotations: dict[str, str]) -> JSON:
    return {
        "parallelism": 1,
        "completions": 1,
        "backoffLimit": 0,
        "template": pod_template(annotations, restart_never=True),
    }


def job(name: str, annotations: dict[str, str]) -> JSON:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": job_spec(annotations),
    }


def cronjob(name: str, schedule: str, annotations: dict[str, str]) -> JSON:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {"spec": job_spec(annotations)},
        },
    }
