"""Scenario 3 — admission throughput: runs whose pods complete 1 s after they start,
created as fast as the client can (50 requests in flight), under a WorkerQuota; and the
same work as native Jobs (parallelism 1) on the same control plane, which have no quota.

Throughput is counted from the first create sent to the last run seen finished (watch
arrival at the client), and over the middle 80 % of finishes (steady state). Queue
wait is the operator's admission stamp (`status.attempts[0].startTime`) minus the
client's receipt of the create response; for Jobs, pod ADDED arrival minus the same.
"""

from __future__ import annotations

import time
from typing import Any

from bench.client import Watcher, gather_limited
from bench.cluster import BenchCluster, audit_breakdown, by_operator, parse_time, writes_by_actor
from bench.env import ProcessSampler, loadavg
from bench.objects import job, jobrun, path, sim
from bench.scenarios import Context
from bench.stats import rounded, summary
from bench.track import TERMINAL, PodTracker, RunTracker, key_of, wait_for

RUN_SECONDS = 1
MAX_QUOTA = 1000  # WorkerQuota.spec.maxRunning's maximum


def job_phase(obj: dict[str, Any]) -> str:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return "Succeeded" if condition["type"] == "Complete" else "Failed"
    return "Running" if (obj.get("status") or {}).get("active") else ""


class _Alive:
    """Counts live pods (not terminated, not deleted) per namespace; keeps the maximum."""

    def __init__(self) -> None:
        self.alive: dict[str, set[str]] = {}
        self.max: dict[str, int] = {}

    def handle(self, kind: str, obj: dict[str, Any], arrival: float) -> None:
        namespace = (obj.get("metadata") or {}).get("namespace", "")
        alive = self.alive.setdefault(namespace, set())
        key = key_of(obj)
        if kind == "DELETED" or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            alive.discard(key)
        else:
            alive.add(key)
        self.max[namespace] = max(self.max.get(namespace, 0), len(alive))


async def run(ctx: Context) -> dict[str, Any]:
    count = ctx.param("admission_runs", 2000, 100)
    quota = ctx.param("admission_quota", 50, 50)
    spread = ctx.param("admission_namespaces", 20, 2)
    result: dict[str, Any] = {
        "parameters": {
            "runs": count,
            "quota": quota,
            "namespaces": spread,
            "run_seconds": RUN_SECONDS,
            "client_concurrency": 50,
        },
        "variants": {},
    }
    nodes = max(3, count // 300)
    # Every user's writes are audited: what a run costs the control plane, by writer.
    async with BenchCluster(ctx.workdir / "admission", nodes=nodes, audit_all=True) as cluster:
        alive = _Alive()
        assert cluster.client is not None
        pod_watch = await Watcher(cluster.client, "/api/v1/pods", alive.handle).start()
        variants = [
            (f"jobwarden, 1 namespace, quota {quota}", "jw-one", [("adm-one", count, quota)]),
            ("native Jobs, 1 namespace, no quota", "native", [("native-one", count, 0)]),
            (
                f"jobwarden, {spread} namespaces, quota {quota} each",
                "jw-spread",
                [(f"adm-{i:02d}", count // spread, quota) for i in range(spread)],
            ),
        ]
        if not ctx.quick:  # nearer like-for-like with native Jobs (which have no cap)
            cap = min(count, MAX_QUOTA)
            variants.append(
                (
                    f"jobwarden, 1 namespace, quota {cap} (the largest allowed)",
                    "jw-uncapped",
                    [("adm-uncapped", count, cap)],
                )
            )
        only = str(ctx.param("admission_variants", "", "")).split(",")
        for title, tag, layout in variants:
            if only != [""] and tag not in only:
                continue
            ctx.log(f"admission: {title}")
            try:
                measured = await _variant(ctx, cluster, tag, layout, native=tag == "native")
            except Exception as error:  # keep the other variants' results
                ctx.log(f"admission: {title} failed: {error}")
                result.setdefault("errors", {})[tag] = f"{type(error).__name__}: {error}"
                continue
            measured["title"] = title
            measured["max_alive_pods"] = {ns: alive.max.get(ns, 0) for ns, _, _ in layout}
            result["variants"][tag] = measured
        await pod_watch.stop()
        records = cluster.audit_records(everyone=True)
        ours = [r for r in records if by_operator(r)]
        for measured in result["variants"].values():
            namespaces = set(measured["namespaces"])
            requests = audit_breakdown(ours, namespaces)
            total = measured["runs"]
            measured["operator_requests_per_run"] = {
                k: round(v / total, 2) for k, v in sorted(requests.items())
            }
            measured["writes_per_run_by_actor"] = {
                k: round(v / total, 2)
                for k, v in sorted(writes_by_actor(records, namespaces).items())
            }
    native = (result["variants"].get("native") or {}).get("throughput_overall")
    result["ratio_to_native"] = {
        tag: round(v["throughput_overall"] / native, 2) if native else None
        for tag, v in result["variants"].items()
    }
    return result


async def _variant(
    ctx: Context,
    cluster: BenchCluster,
    tag: str,
    layout: list[tuple[str, int, int]],
    *,
    native: bool,
) -> dict[str, Any]:
    client = cluster.client
    assert client is not None
    for namespace, _, quota in layout:
        await cluster.namespace(namespace, quota=None if native else quota)
    runs = RunTracker(job_phase if native else None)
    pods = PodTracker()
    watchers = []
    for namespace, _, _ in layout:
        plural = ("jobs", "batch/v1") if native else ("jobruns", "jobwarden.dev/v1alpha1")
        watchers.append(
            await Watcher(client, path(plural[0], namespace, group=plural[1]), runs.handle).start()
        )
        watchers.append(
            await Watcher(
                client, path("pods", namespace, group="v1"), pods.handle, types=("ADDED",)
            ).start()
        )
    keys: list[str] = []
    created: dict[str, float] = {}

    async def create(namespace: str, name: str) -> None:
        if native:
            await client.create(path("jobs", namespace, group="batch/v1"), job(name, sim(1)))
        else:
            await client.create(path("jobruns", namespace), jobrun(name, sim(RUN_SECONDS)))
        created[f"{namespace}/{name}"] = time.time()

    coros = []
    for index in range(max(n for _, n, _ in layout)):
        for namespace, n, _ in layout:
            if index < n:
                name = f"{tag}-{index:05d}"
                keys.append(f"{namespace}/{name}")
                coros.append(create(namespace, name))
    sampler = ProcessSampler(cluster.operator_pid)
    control_plane = {
        name: ProcessSampler(cluster.component_pid(name)) for name in ("kube-apiserver", "etcd")
    }
    plane_before = {name: p.cpu_seconds() for name, p in control_plane.items()}
    cpu_before = sampler.cpu_seconds()
    load_before = loadavg()
    window = cluster.cpu_window().start()
    began = time.time()
    await gather_limited(50, coros)
    created_all = time.time()
    await wait_for(
        lambda: runs.count(keys, TERMINAL) == len(keys),
        timeout=1800,
        what=f"{len(keys)} {tag} runs finished",
        interval=0.2,
    )
    wall = time.time() - began
    machine_cpu = window.stop()
    cpu = sampler.cpu_seconds() - cpu_before
    plane_ms_per_run = {
        name: round((p.cpu_seconds() - plane_before[name]) * 1000 / len(keys), 1)
        for name, p in control_plane.items()
    }
    for watcher in watchers:
        await watcher.stop()
    finishes = sorted(t for k in keys if (t := runs.first_of(k, TERMINAL)) is not None)
    total = len(keys)
    lo, hi = finishes[int(0.1 * total)], finishes[int(0.9 * total) - 1]
    steady = (int(0.9 * total) - int(0.1 * total)) / (hi - lo) if hi > lo else None
    waits: list[float | None] = []
    to_pod: list[float | None] = []
    for key in keys:
        pod_key = _pod_key(key, native, pods)
        to_pod.append(pods.added[pod_key] - created[key] if pod_key in pods.added else None)
        if native:
            waits.append(to_pod[-1])
        else:
            attempts = (runs.latest[key].get("status") or {}).get("attempts") or []
            start = parse_time(attempts[0].get("startTime")) if attempts else float("nan")
            waits.append(start - created[key] if attempts else None)
    outcomes: dict[str, int] = {}
    for key in keys:
        outcomes[runs.phase(key)] = outcomes.get(runs.phase(key), 0) + 1
    return {
        "namespaces": [ns for ns, _, _ in layout],
        "runs": total,
        "outcomes": outcomes,
        "create_seconds": round(created_all - began, 2),
        "makespan_seconds": round(finishes[-1] - began, 2),
        "throughput_overall": round(total / (finishes[-1] - began), 2),
        "throughput_steady": round(steady, 2) if steady else None,
        "ideal_throughput": None
        if native
        else round(min(total, sum(q for _, _, q in layout)) / RUN_SECONDS, 1),
        "operator_cpu_percent": round(100 * cpu / wall, 1),
        "control_plane_cpu_ms_per_run": plane_ms_per_run,
        "cpu": machine_cpu,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "summary": {"queue_wait": summary(waits), "create_to_pod_seen": summary(to_pod)},
        "finished_over_time": rounded([t - began for t in finishes], 3),
        "samples": {"queue_wait": rounded(waits, 3), "create_to_pod_seen": rounded(to_pod, 3)},
    }


def _pod_key(key: str, native: bool, pods: PodTracker) -> str:
    if not native:
        return f"{key}-1"
    # Job pods are named <job>-<random>: find the one whose name starts with the job's.
    return _job_pods(pods).get(key, "")


_JOB_POD_INDEX: dict[int, dict[str, str]] = {}


def _job_pods(pods: PodTracker) -> dict[str, str]:
    index = _JOB_POD_INDEX.get(id(pods))
    if index is None:
        index = {}
        for pod_key, obj in pods.latest.items():
            labels = (obj.get("metadata") or {}).get("labels") or {}
            job_name = labels.get("batch.kubernetes.io/job-name")
            if job_name:
                namespace = pod_key.split("/", 1)[0]
                index.setdefault(f"{namespace}/{job_name}", pod_key)
        _JOB_POD_INDEX[id(pods)] = index
    return index
