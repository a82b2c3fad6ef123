"""Building, driving and observing jobwarden runs in integration tests."""

from __future__ import annotations

import datetime
import threading
import time
from collections import defaultdict
from typing import Any

from kubernetes import client, watch

from jobwarden.api.constants import API_VERSION
from jobwarden.api.paths import object_path, resource_path
from tests.support.kube import JSON, Kube, KubeError
from tests.support.wait import wait_until

API = API_VERSION
TERMINAL = ("Succeeded", "Failed", "Cancelled")


def sim(
    *,
    run_seconds: float = 1,
    exit_code: int | None = None,
    exit_codes: str | None = None,
    sigterm_exit_seconds: float | None = None,
    sigterm_exit_code: int | None = None,
    ignore_sigterm: bool = False,
    termination_message: str | None = None,
) -> dict[str, str]:
    """Pod annotations that tell kwok how the simulated worker behaves."""
    annotations = {"sim.jobwarden.dev/run-seconds": f"{run_seconds:g}"}
    if exit_code is not None:
        annotations["sim.jobwarden.dev/exit-code"] = str(exit_code)
    if exit_codes is not None:
        annotations["sim.jobwarden.dev/exit-codes"] = exit_codes
    if sigterm_exit_seconds is not None:
        annotations["sim.jobwarden.dev/sigterm-exit-seconds"] = f"{sigterm_exit_seconds:g}"
    if sigterm_exit_code is not None:
        annotations["sim.jobwarden.dev/sigterm-exit-code"] = str(sigterm_exit_code)
    if ignore_sigterm:
        annotations["sim.jobwarden.dev/ignore-sigterm"] = "true"
    if termination_message is not None:
        annotations["sim.jobwarden.dev/termination-message"] = termination_message
    return annotations


def pod_template(annotations: dict[str, str]) -> JSON:
    """A worker pod template with one container and the given annotations."""
    return {
        "metadata": {"annotations": annotations},
        "spec": {"containers": [{"name": "main", "image": "registry.invalid/worker:1"}]},
    }


def jobrun(name: str, annotations: dict[str, str], **spec: Any) -> JSON:
    """A standalone JobRun whose simulated worker behaves as `annotations` say."""
    return {
        "apiVersion": API,
        "kind": "JobRun",
        "metadata": {"name": name},
        "spec": {"template": pod_template(annotations), **spec},
    }


def scheduledjob(name: str, annotations: dict[str, str] | None = None, **spec: Any) -> JSON:
    """A ScheduledJob whose simulated worker behaves as `annotations` say."""
    return {
        "apiVersion": API,
        "kind": "ScheduledJob",
        "metadata": {"name": name},
        "spec": {"template": pod_template(annotations or sim()), **spec},
    }


def export(name: str, annotations: dict[str, str], **spec: Any) -> JSON:
    """An Export whose (simulated) export worker behaves as `annotations` say."""
    return {
        "apiVersion": API,
        "kind": "Export",
        "metadata": {"name": name},
        "spec": {
            "source": {"sqlite": {"volume": "data", "path": "db.sqlite"}},
            "query": "select * from t",
            "format": "csv",
            "destination": {"volume": "data", "path": "out.csv"},
            "volumes": [{"name": "data", "emptyDir": {}}],
            "worker": {"podAnnotations": annotations},
            **spec,
        },
    }


def path(namespace: str, name: str | None = None, kind: str = "JobRun") -> str:
    """REST path of jobwarden objects of `kind`."""
    return object_path(kind, namespace, name)


def create(kube: Kube, namespace: str, body: JSON) -> JSON:
    """Create a jobwarden object in `namespace`."""
    return kube.create(path(namespace, kind=body["kind"]), body)


def get(kube: Kube, namespace: str, name: str, kind: str = "JobRun") -> JSON:
    """Read a jobwarden object."""
    return kube.get(path(namespace, name, kind))


def phase(kube: Kube, namespace: str, name: str, kind: str = "JobRun") -> str:
    """The object's status.phase ('' before the operator wrote one)."""
    return str(get(kube, namespace, name, kind).get("status", {}).get("phase", ""))


def cancel(kube: Kube, namespace: str, name: str, kind: str = "JobRun") -> JSON:
    """Request a cancel, as `kubectl patch --type merge -p '{"spec":{"cancel":true}}'`."""
    return kube.merge_patch(path(namespace, name, kind), {"spec": {"cancel": True}})


def report_progress(
    kube: Kube, namespace: str, name: str, kind: str = "JobRun", fraction: float = 0.1
) -> JSON:
    """Write `status.progress` as a worker does (the SDK's report): its heartbeat."""
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
    progress = {"fraction": fraction, "updateTime": now.replace("+00:00", "Z")}
    return kube.merge_patch(
        path(namespace, name, kind) + "/status", {"status": {"progress": progress}}
    )


def wait_phase(
    kube: Kube,
    namespace: str,
    name: str,
    phases: str | tuple[str, ...],
    *,
    kind: str = "JobRun",
    timeout: float = 60,
) -> JSON:
    """Wait until the object's phase is one of `phases`; return the object."""
    wanted = (phases,) if isinstance(phases, str) else phases

    def probe() -> JSON | None:
        body = get(kube, namespace, name, kind)
        return body if body.get("status", {}).get("phase") in wanted else None

    def describe() -> str:
        try:
            body = get(kube, namespace, name, kind)
            status = body.get("status", {})
            return (
                f"{kind} {name} in {wanted} (now {status.get('phase')!r}; log {status.get('log')})"
            )
        except KubeError as error:
            return f"{kind} {name} in {wanted} ({error})"

    return wait_until(probe, timeout=timeout, interval=0.05, message=describe)


def events_for(kube: Kube, namespace: str, name: str) -> list[JSON]:
    """core/v1 Events whose involved object is `name`, oldest first."""
    listing = kube.get(
        resource_path("v1", "events", namespace), fieldSelector=f"involvedObject.name={name}"
    )
    items: list[JSON] = listing.get("items", [])
    return sorted(items, key=lambda e: str(e.get("eventTime") or e.get("lastTimestamp") or ""))


def event_reasons(kube: Kube, namespace: str, name: str) -> list[str]:
    """Reasons of the Events about `name`, oldest first."""
    return [str(e.get("reason")) for e in events_for(kube, namespace, name)]


def log_messages(body: JSON) -> list[str]:
    """The messages of a run's execution log."""
    return [str(entry.get("message", "")) for entry in body.get("status", {}).get("log", [])]


class PodWatcher:
    """Watches a namespace's pods for the whole test and remembers what it saw.

    A pod counts as alive from its creation until its phase is Succeeded or Failed
    or it is deleted; `max_alive` is the most alive at any watch event.
    """

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self._core = client.CoreV1Api(api)
        self._watch = watch.Watch()  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        self.alive: set[str] = set()
        self.seen: set[str] = set()
        self.max_alive = 0
        self.created_by_run: dict[str, set[str]] = defaultdict(set)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PodWatcher:
        self._thread.start()
        self._ready.wait(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._watch.stop()  # type: ignore[no-untyped-call]
        self._thread.join(timeout=10)

    def _run(self) -> None:
        resource_version = ""
        while True:
            try:
                listing = self._core.list_namespaced_pod(self.namespace)
                resource_version = (
                    (listing.metadata.resource_version or "") if listing.metadata else ""
                )
                for pod in listing.items:
                    self._observe("ADDED", pod.to_dict())
                self._ready.set()
                for event in self._watch.stream(  # type: ignore[no-untyped-call]
                    self._core.list_namespaced_pod,
                    self.namespace,
                    resource_version=resource_version,
                    timeout_seconds=600,
                ):
                    self._observe(str(event["type"]), event["raw_object"])
                return
            except Exception:  # a dropped watch: start over
                if self._watch._stop:
                    return
                time.sleep(0.1)

    def _observe(self, kind: str, pod: dict[str, Any]) -> None:
        metadata = pod.get("metadata") or {}
        name = str(metadata.get("name"))
        labels = metadata.get("labels") or {}
        phase_now = (pod.get("status") or {}).get("phase")
        with self._lock:
            self.seen.add(name)
            if labels.get("jobwarden.dev/run"):
                self.created_by_run[str(labels["jobwarden.dev/run"])].add(name)
            if kind == "DELETED" or phase_now in ("Succeeded", "Failed"):
                self.alive.discard(name)
            else:
                self.alive.add(name)
            self.max_alive = max(self.max_alive, len(self.alive))


def no_pods_left(kube: Kube, namespace: str) -> bool:
    """True when no worker pod is left in the namespace (all released and deleted or done)."""
    pods = kube.get(resource_path("v1", "pods", namespace)).get("items", [])
    return all(
        "jobwarden.dev/run-tracking" not in (p["metadata"].get("finalizers") or []) for p in pods
    )


def wait_events(
    kube: Kube, namespace: str, name: str, *reasons: str, timeout: float = 15
) -> list[str]:
    """Wait until Events with all `reasons` exist for `name`; return all reasons seen."""

    def probe() -> list[str] | None:
        seen = event_reasons(kube, namespace, name)
        return seen if all(r in seen for r in reasons) else None

    return wait_until(
        probe,
        timeout=timeout,
        message=lambda: f"Events {reasons} on {name} (seen {event_reasons(kube, namespace, name)})",
    )
