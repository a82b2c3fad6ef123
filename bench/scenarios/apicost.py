"""Scenario 5 — API cost: the operator's mutating requests per run, from the API
server's audit log (user jobwarden-operator; create, update, patch, delete), each
request attributed to its run by name (the run itself, its pods `<run>-<attempt>`,
its Events `<run>.<id>`). Namespace-level writes (WorkerQuota status) are shown apart.

Cases: runs that succeed at once (quota large enough), runs that succeed after
queueing (quota 5), running runs cancelled (worker exits 0.5 s after SIGTERM), and
queued runs cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from bench.client import Watcher, gather_limited
from bench.cluster import BenchCluster
from bench.env import loadavg
from bench.objects import jobrun, path, sim
from bench.scenarios import Context
from bench.stats import summary
from bench.track import TERMINAL, PodTracker, RunTracker, wait_for

SETTLE_SECONDS = 5  # late writes (labels, finalizer release, Events) and the audit flush


async def run(ctx: Context) -> dict[str, Any]:
    count = ctx.param("apicost_runs", 100, 10)
    result: dict[str, Any] = {"parameters": {"runs_per_case": count}, "cases": {}}
    async with BenchCluster(ctx.workdir / "apicost", nodes=3) as cluster:
        result["loadavg_before"] = loadavg()
        cases = [
            ("succeeded", "cost-ok", count + 10, sim(1), None),
            ("succeeded after queueing", "cost-queued-ok", 5, sim(0.5), None),
            ("cancelled while running", "cost-cancel", count + 10, sim(3600, 0.5), "Running"),
            ("cancelled while queued", "cost-cancel-queued", 1, sim(1), "Queued"),
        ]
        runs_by_case: dict[str, list[str]] = {}
        for title, namespace, quota, annotations, cancel_in in cases:
            ctx.log(f"apicost: {title}")
            runs_by_case[namespace] = await _case(
                cluster, namespace, count, quota, annotations, cancel_in
            )
        await asyncio.sleep(SETTLE_SECONDS)
        records = cluster.audit_records()
        for title, namespace, *_ in cases:
            result["cases"][title] = _cost(records, namespace, runs_by_case[namespace])
        result["loadavg_after"] = loadavg()
    return result


async def _case(  # noqa: PLR0917
    cluster: BenchCluster,
    namespace: str,
    count: int,
    quota: int,
    annotations: dict[str, str],
    cancel_in: str | None,
) -> list[str]:
    client = cluster.client
    assert client is not None
    await cluster.namespace(namespace, quota=quota)
    runs, pods = RunTracker(), PodTracker()
    watchers = [
        await Watcher(client, path("jobruns", namespace), runs.handle).start(),
        await Watcher(client, path("pods", namespace, group="v1"), pods.handle).start(),
    ]
    if cancel_in == "Queued":
        await client.create(path("jobruns", namespace), jobrun("blocker", sim(3600)))
        await wait_for(
            lambda: runs.phase(f"{namespace}/blocker") == "Running", timeout=120, what="blocker"
        )
    names = [f"run-{i:04d}" for i in range(count)]
    keys = [f"{namespace}/{n}" for n in names]
    await gather_limited(
        50, (client.create(path("jobruns", namespace), jobrun(n, annotations)) for n in names)
    )
    if cancel_in == "Running":
        await wait_for(
            lambda: all(f"{k}-1" in pods.running for k in keys), timeout=600, what="running"
        )
    elif cancel_in == "Queued":
        await wait_for(
            lambda: all((runs.latest.get(k, {}).get("status") or {}).get("queue") for k in keys),
            timeout=600,
            what="queued",
        )
    if cancel_in:
        await gather_limited(
            50,
            (
                client.merge_patch(path("jobruns", namespace, n), {"spec": {"cancel": True}})
                for n in names
            ),
        )
    await wait_for(
        lambda: runs.count(keys, TERMINAL) == count,
        timeout=900,
        what=f"{namespace}: terminal",
        interval=0.1,
    )
    await asyncio.sleep(2)
    for watcher in watchers:
        await watcher.stop()
    return names


def _owner(ref: dict[str, Any]) -> str:
    name = str(ref.get("name") or "")
    resource = ref.get("resource")
    if resource == "events":
        return name.split(".", 1)[0]
    if resource == "pods":
        return name.rsplit("-", 1)[0]
    return name


def _cost(records: list[dict[str, Any]], namespace: str, names: list[str]) -> dict[str, Any]:
    wanted = set(names)
    per_run: Counter[str] = Counter()
    per_run_no_events: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    namespace_level: Counter[str] = Counter()
    for event in records:
        ref = event.get("objectRef") or {}
        if ref.get("namespace") != namespace:
            continue
        resource = str(ref.get("resource", "?")) + (
            "/" + ref["subresource"] if ref.get("subresource") else ""
        )
        code = int((event.get("responseStatus") or {}).get("code") or 0)
        label = f"{event.get('verb')} {resource}" + ("" if 200 <= code < 300 else f" ({code})")
        owner = _owner(ref)
        if owner not in wanted:
            namespace_level[label] += 1
            continue
        per_run[owner] += 1
        kinds[label] += 1
        if ref.get("resource") != "events":
            per_run_no_events[owner] += 1
    runs = len(names)
    return {
        "namespace": namespace,
        "runs": runs,
        "per_run": summary([per_run[n] for n in names]),
        "per_run_without_events": summary([per_run_no_events[n] for n in names]),
        "mean_per_run": round(sum(per_run.values()) / runs, 2),
        "mean_per_run_without_events": round(sum(per_run_no_events.values()) / runs, 2),
        "by_request": {k: round(v / runs, 2) for k, v in kinds.most_common()},
        "namespace_level_total": dict(namespace_level),
        "measured_at": time.strftime("%H:%M:%S"),
    }
