"""Scenario 1 — cancel latency.

Running runs (worker exits 0.5 s after SIGTERM) cancelled one by one (the next cancel
is sent once the previous run is terminal) and all at once, plus queued runs cancelled
all at once. t0 is the client's wall clock just before it sends the merge patch
`{"spec":{"cancel":true}}`; phases are timed by the arrival of watch events at the
client; the operator's own stamps (`status.cancellation.signalledAt`, taken just
before it sends the pod DELETE, and `finishedAt`) are on the same machine's clock.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.client import Client, Watcher, gather_limited
from bench.cluster import BenchCluster, audit_breakdown, parse_time
from bench.env import loadavg
from bench.objects import job, jobrun, path, sim
from bench.scenarios import Context, guarded
from bench.stats import rounded, summary
from bench.track import TERMINAL, PodTracker, RunTracker, wait_for

SIGTERM_EXIT_SECONDS = 0.5
GRACE_SECONDS = 30


async def run(ctx: Context) -> dict[str, Any]:
    count = ctx.param("cancel_runs", 200, 10)
    result: dict[str, Any] = {
        "parameters": {
            "runs": count,
            "sigterm_exit_seconds": SIGTERM_EXIT_SECONDS,
            "cancel_grace_period_seconds": GRACE_SECONDS,
        },
        "loadavg_before": None,
    }
    nodes = max(3, count // 100 + 1)
    async with BenchCluster(ctx.workdir / "cancel", nodes=nodes) as cluster:
        result["loadavg_before"] = loadavg()
        parts = "serial,burst,native_burst,queued"
        only = str(ctx.param("cancel_parts", parts, parts))
        works: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = [
            ("serial", lambda: _running(ctx, cluster, "cancel-serial", count, serial=True)),
            ("burst", lambda: _running(ctx, cluster, "cancel-burst", count, serial=False)),
            ("native_burst", lambda: _native_burst(ctx, cluster, "suspend-burst", count)),
            ("queued", lambda: _queued(ctx, cluster, "cancel-queued", count)),
        ]
        for part, work in works:
            if part not in only.split(","):
                continue
            measured = await guarded(ctx, result, part, work())
            if measured is not None:
                result[part] = measured
        result["loadavg_after"] = loadavg()
        records = cluster.audit_records()
        for part in ("serial", "burst", "queued"):  # the native part has no operator writes
            if part not in result:
                continue
            namespace = result[part]["namespace"]
            result[part]["operator_requests"] = dict(audit_breakdown(records, {namespace}))
    return result


async def _watch(
    cluster: BenchCluster, namespace: str
) -> tuple[RunTracker, PodTracker, list[Watcher]]:
    assert cluster.client is not None
    runs, pods = RunTracker(), PodTracker()
    watchers = [
        await Watcher(cluster.client, path("jobruns", namespace), runs.handle).start(),
        await Watcher(cluster.client, path("pods", namespace, group="v1"), pods.handle).start(),
    ]
    return runs, pods, watchers


async def _running(
    ctx: Context, cluster: BenchCluster, namespace: str, count: int, *, serial: bool
) -> dict[str, Any]:
    client = cluster.client
    assert client is not None
    await cluster.namespace(namespace, quota=count + 10)
    runs, pods, watchers = await _watch(cluster, namespace)
    names = [f"run-{i:04d}" for i in range(count)]
    keys = [f"{namespace}/{n}" for n in names]
    body = {"cancelGracePeriodSeconds": GRACE_SECONDS}
    ctx.log(f"cancel: creating {count} long-running runs in {namespace}")
    await gather_limited(
        50,
        (
            client.create(
                path("jobruns", namespace),
                jobrun(n, sim(3600, SIGTERM_EXIT_SECONDS), **body),
            )
            for n in names
        ),
    )
    await wait_for(
        lambda: (
            runs.count(keys, ("Running",)) == count
            and sum(1 for k in keys if f"{k}-1" in pods.running) == count
        ),
        timeout=600,
        what=f"{count} runs Running with running pods",
    )
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}

    async def cancel(name: str, via: Client = client) -> None:
        key = f"{namespace}/{name}"
        sent[key] = time.time()
        await via.merge_patch(path("jobruns", namespace, name), {"spec": {"cancel": True}})
        answered[key] = time.time()

    ctx.log(f"cancel: cancelling {count} running runs {'one by one' if serial else 'at once'}")
    cpu = cluster.cpu_window().start()
    if serial:
        for name in names:
            await cancel(name)
            key = f"{namespace}/{name}"
            await wait_for(
                lambda: runs.phase(key) in TERMINAL,  # noqa: B023 - awaited in this iteration
                timeout=120,
                what=f"{key} terminal",
            )
    else:
        await _at_once(cluster, names, lambda via, n: cancel(n, via))
    await wait_for(
        lambda: runs.count(keys, TERMINAL) == count, timeout=600, what=f"{count} runs terminal"
    )
    window = cpu.stop()
    for watcher in watchers:
        await watcher.stop()
    measured = _measure(namespace, keys, sent, answered, runs, pods, serial=serial)
    measured["cpu"] = window
    return measured


async def _at_once(
    cluster: BenchCluster, names: list[str], send: Callable[[Client, str], Awaitable[None]]
) -> None:
    """Every request in flight at once, each on its own connection (as many users
    would be): no request waits for the benchmark client's own connection pool."""
    async with Client(cluster.local.kubeconfig(), connections=len(names)) as burst:
        await gather_limited(len(names), (send(burst, n) for n in names))


def _measure(  # noqa: PLR0917
    namespace: str,
    keys: list[str],
    sent: dict[str, float],
    answered: dict[str, float],
    runs: RunTracker,
    pods: PodTracker,
    *,
    serial: bool | None,
) -> dict[str, Any]:
    samples: dict[str, list[float | None]] = {
        "request_to_cancelling": [],
        "request_to_signalled_operator": [],
        "request_to_pod_deletion_seen": [],
        "request_to_terminal": [],
        "request_to_finished_operator": [],
        "patch_response": [],
        "webhook_stamp_offset": [],
        "terminal_minus_worker_exit": [],
    }
    outcomes: dict[str, int] = {}
    for key in keys:
        t0 = sent[key]
        obj = runs.latest[key]
        status = obj.get("status") or {}
        record = status.get("cancellation") or {}
        phase = status.get("phase", "")
        outcomes[phase] = outcomes.get(phase, 0) + 1
        cancelling = runs.first_of(key, ("Cancelling", *TERMINAL))
        terminal = runs.first_of(key, TERMINAL)
        deletion = pods.deleting.get(f"{key}-1")
        samples["request_to_cancelling"].append(None if cancelling is None else cancelling - t0)
        samples["request_to_terminal"].append(None if terminal is None else terminal - t0)
        samples["request_to_pod_deletion_seen"].append(None if deletion is None else deletion - t0)
        samples["request_to_signalled_operator"].append(
            parse_time(record.get("signalledAt")) - t0 if record.get("signalledAt") else None
        )
        samples["request_to_finished_operator"].append(
            parse_time(record.get("finishedAt")) - t0 if record.get("finishedAt") else None
        )
        samples["patch_response"].append(answered[key] - t0)
        samples["webhook_stamp_offset"].append(
            parse_time(record.get("requestedAt")) - t0 if record.get("requestedAt") else None
        )
        if terminal is not None and deletion is not None:
            # The worker exits SIGTERM_EXIT_SECONDS after the deletion was seen (upper
            # bound of kwok's own SIGTERM time): what the operator adds after that.
            samples["terminal_minus_worker_exit"].append(
                terminal - (deletion + SIGTERM_EXIT_SECONDS)
            )
    return {
        "namespace": namespace,
        "mode": "one by one" if serial else ("at once" if serial is False else "queued, at once"),
        "outcomes": outcomes,
        "send_window_seconds": round(max(sent.values()) - min(sent.values()), 3),
        "summary": {name: summary(values) for name, values in samples.items()},
        "samples": {name: rounded(values) for name, values in samples.items()},
    }


async def _queued(
    ctx: Context, cluster: BenchCluster, namespace: str, count: int
) -> dict[str, Any]:
    client = cluster.client
    assert client is not None
    await cluster.namespace(namespace, quota=1)
    runs, pods, watchers = await _watch(cluster, namespace)
    await client.create(path("jobruns", namespace), jobrun("blocker", sim(3600)))
    await wait_for(
        lambda: runs.phase(f"{namespace}/blocker") == "Running", timeout=120, what="blocker"
    )
    names = [f"queued-{i:04d}" for i in range(count)]
    keys = [f"{namespace}/{n}" for n in names]
    ctx.log(f"cancel: creating {count} queued runs in {namespace}")
    await gather_limited(
        50, (client.create(path("jobruns", namespace), jobrun(n, sim(1))) for n in names)
    )
    await wait_for(
        lambda: all((runs.latest.get(k, {}).get("status") or {}).get("queue") for k in keys),
        timeout=600,
        what=f"{count} runs queued",
    )
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}

    async def cancel(name: str, via: Client) -> None:
        key = f"{namespace}/{name}"
        sent[key] = time.time()
        await via.merge_patch(path("jobruns", namespace, name), {"spec": {"cancel": True}})
        answered[key] = time.time()

    ctx.log(f"cancel: cancelling {count} queued runs at once")
    cpu = cluster.cpu_window().start()
    await _at_once(cluster, names, lambda via, n: cancel(n, via))
    await wait_for(
        lambda: runs.count(keys, TERMINAL) == count, timeout=600, what="queued runs terminal"
    )
    window = cpu.stop()
    for watcher in watchers:
        await watcher.stop()
    measured = _measure(namespace, keys, sent, answered, runs, pods, serial=None)
    measured["cpu"] = window
    pods_created = sum(1 for k in keys if f"{k}-1" in pods.added)
    measured["pods_created"] = pods_created
    for name in ("request_to_signalled_operator", "request_to_pod_deletion_seen"):
        measured["summary"].pop(name, None)
        measured["samples"].pop(name, None)
    measured["summary"].pop("terminal_minus_worker_exit", None)
    measured["samples"].pop("terminal_minus_worker_exit", None)
    return measured


# ------------------------------------------------------------- the native analogue
def _job_phase(job: dict[str, Any]) -> str:
    """A Job's state in the terms of a cancel: Running (a pod active), Suspending (the
    Job controller took the suspend: its Suspended condition), Stopped (suspended, no
    pod active or terminating: what Cancelled is to a JobRun)."""
    status = job.get("status") or {}
    suspended = any(
        c.get("type") == "Suspended" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    if suspended:
        busy = int(status.get("active") or 0) + int(status.get("terminating") or 0)
        return "Suspending" if busy else "Stopped"
    return "Running" if int(status.get("active") or 0) else ""


async def _native_burst(
    ctx: Context, cluster: BenchCluster, namespace: str, count: int
) -> dict[str, Any]:
    """Kubernetes' own analogue of a cancel burst, on the same control plane: `count`
    running Jobs suspended at once (`spec.suspend: true`); the Job controller deletes
    their pods (SIGTERM, the same simulated 0.5 s exit) and reports them gone."""
    client = cluster.client
    assert client is not None
    await cluster.namespace(namespace)
    jobs, pods = RunTracker(_job_phase), PodTracker()
    watchers = [
        await Watcher(client, path("jobs", namespace, group="batch/v1"), jobs.handle).start(),
        await Watcher(client, path("pods", namespace, group="v1"), pods.handle).start(),
    ]
    names = [f"job-{i:04d}" for i in range(count)]
    keys = [f"{namespace}/{n}" for n in names]
    ctx.log(f"cancel: creating {count} long-running Jobs in {namespace}")
    for_jobs = path("jobs", namespace, group="batch/v1")
    annotations = sim(3600, SIGTERM_EXIT_SECONDS)
    await gather_limited(50, (client.create(for_jobs, job(n, annotations)) for n in names))

    def running_pods() -> dict[str, str]:
        by_job = {}
        for pod_key, pod in pods.latest.items():
            owner = ((pod.get("metadata") or {}).get("labels") or {}).get("job-name")
            if owner and pod_key in pods.running:
                by_job[f"{namespace}/{owner}"] = pod_key
        return by_job

    await wait_for(
        lambda: jobs.count(keys, ("Running",)) == count and len(running_pods()) == count,
        timeout=600,
        what=f"{count} Jobs with running pods",
    )
    pod_of = running_pods()
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}

    async def suspend(name: str, via: Client) -> None:
        key = f"{namespace}/{name}"
        sent[key] = time.time()
        await via.merge_patch(path("jobs", namespace, name, group="batch/v1"),
                              {"spec": {"suspend": True}})  # fmt: skip
        answered[key] = time.time()

    ctx.log(f"cancel: suspending {count} running Jobs at once")
    cpu = cluster.cpu_window().start()
    await _at_once(cluster, names, lambda via, n: suspend(n, via))
    await wait_for(
        lambda: jobs.count(keys, ("Stopped",)) == count, timeout=600, what=f"{count} Jobs stopped"
    )
    window = cpu.stop()
    for watcher in watchers:
        await watcher.stop()
    samples: dict[str, list[float | None]] = {
        "request_to_suspended_condition": [],
        "request_to_pod_deletion_seen": [],
        "request_to_stopped": [],
        "patch_response": [],
        "stopped_minus_worker_exit": [],
    }
    for key in keys:
        t0 = sent[key]
        taken = jobs.first_of(key, ("Suspending", "Stopped"))
        stopped = jobs.first_of(key, ("Stopped",))
        deletion = pods.deleting.get(pod_of[key])
        samples["request_to_suspended_condition"].append(None if taken is None else taken - t0)
        samples["request_to_pod_deletion_seen"].append(None if deletion is None else deletion - t0)
        samples["request_to_stopped"].append(None if stopped is None else stopped - t0)
        samples["patch_response"].append(answered[key] - t0)
        if stopped is not None and deletion is not None:
            samples["stopped_minus_worker_exit"].append(stopped - (deletion + SIGTERM_EXIT_SECONDS))
    return {
        "namespace": namespace,
        "mode": "native Jobs suspended at once",
        "send_window_seconds": round(max(sent.values()) - min(sent.values()), 3),
        "summary": {name: summary(values) for name, values in samples.items()},
        "samples": {name: rounded(values) for name, values in samples.items()},
        "cpu": window,
    }
