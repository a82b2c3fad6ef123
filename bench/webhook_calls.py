"""What the webhooks cost a burst of cancels, as the API server saw it (issue 24).

`python -m bench.webhook_calls RUNS CONCURRENCY DIR`: a fresh control plane and
operator, RUNS running runs (kwok), all cancelled by the run's creator with CONCURRENCY
PATCHes in flight. Prints the PATCH round trips and, from the API server's own metrics
(`apiserver_admission_webhook_admission_duration_seconds`), how many calls each
webhook got and their mean latency, while the runs were created and while they were
cancelled; the CPU the operator and the API server used per run from the first cancel
until every run was terminal (from /proc); and the operator's writes from the audit
log. Webhook counts and the operator's writes do not depend on the machine's load;
the latencies do (the load average is printed with them), and CPU less so.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.client import Client, Watcher, gather_limited
from bench.cluster import BenchCluster
from bench.env import ProcessSampler, loadavg
from bench.objects import jobrun, path, sim
from bench.stats import summary
from bench.track import TERMINAL, PodTracker, RunTracker, wait_for

_SAMPLE = re.compile(
    r"^apiserver_admission_webhook_admission_duration_seconds_(sum|count)\{([^}]*)\} (\S+)$"
)
#: The API server's own time for a request, webhooks included.
_REQUEST = re.compile(r"^apiserver_request_duration_seconds_(sum|count)\{([^}]*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')
Totals = dict[tuple[str, str, str], float]


async def webhook_totals(client: Client) -> Totals:
    """(sum|count, webhook, operation) → value, from the API server's /metrics; the
    API server's whole time for PATCHes of JobRuns as webhook "apiserver: PATCH"."""
    async with client.session.get(client.server + "/metrics") as response:
        text = await response.text()
    totals: Totals = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            labels = dict(_LABEL.findall(match.group(2)))
            key = (match.group(1), labels.get("name", ""), labels.get("operation", ""))
            totals[key] = totals.get(key, 0.0) + float(match.group(3))
        match = _REQUEST.match(line)
        if match:
            labels = dict(_LABEL.findall(match.group(2)))
            wanted = {"verb": "PATCH", "resource": "jobruns", "subresource": ""}
            if all(labels.get(k, "") == v for k, v in wanted.items()):
                key = (match.group(1), "apiserver: jobruns", "PATCH")
                totals[key] = totals.get(key, 0.0) + float(match.group(3))
    return totals


def per_webhook(before: Totals, after: Totals) -> dict[str, Any]:
    """Calls and mean latency (s) per webhook and operation between two readings."""
    result: dict[str, Any] = {}
    for kind, name, operation in after:
        if kind != "count":
            continue
        calls = after["count", name, operation] - before.get(("count", name, operation), 0.0)
        if calls:
            spent = after.get(("sum", name, operation), 0.0) - before.get(
                ("sum", name, operation), 0.0
            )
            result[f"{name} {operation}"] = {"calls": calls, "mean_s": round(spent / calls, 3)}
    return result


async def measure(count: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    async with BenchCluster(workdir, nodes=2) as cluster:
        client = cluster.client
        assert client is not None
        namespace = "burst"
        await cluster.namespace(namespace, quota=count + 10)
        runs, pods = RunTracker(), PodTracker()
        watchers = [
            await Watcher(client, path("jobruns", namespace), runs.handle).start(),
            await Watcher(client, path("pods", namespace, group="v1"), pods.handle).start(),
        ]
        names = [f"run-{i:04d}" for i in range(count)]
        keys = [f"{namespace}/{n}" for n in names]
        start = await webhook_totals(client)
        body = jobrun("x", sim(3600, 0.5), cancelGracePeriodSeconds=30)
        await gather_limited(
            50,
            (
                client.create(path("jobruns", namespace), {**body, "metadata": {"name": n}})
                for n in names
            ),
        )
        await wait_for(
            lambda: sum(1 for k in keys if f"{k}-1" in pods.running) == count,
            timeout=600,
            what="running",
        )
        created = await webhook_totals(client)
        load = loadavg()
        samplers = {
            "operator": ProcessSampler(cluster.operator_pid),
            "kube-apiserver": ProcessSampler(cluster.component_pid("kube-apiserver")),
        }
        cpu_before = {name: sampler.cpu_seconds() for name, sampler in samplers.items()}
        round_trips: list[float | None] = []

        async def cancel(name: str) -> None:
            sent = time.time()
            await client.merge_patch(path("jobruns", namespace, name), {"spec": {"cancel": True}})
            round_trips.append(time.time() - sent)

        profile = _profile(client, workdir)  # the API server's CPU while the burst settles
        await gather_limited(concurrency, (cancel(n) for n in names))
        cancelled = await webhook_totals(client)
        await wait_for(lambda: runs.count(keys, TERMINAL) == count, timeout=600, what="terminal")
        if profile is not None:
            await profile
        cpu_ms_per_run = {
            name: round((sampler.cpu_seconds() - cpu_before[name]) * 1000 / count, 1)
            for name, sampler in samplers.items()
        }
        await asyncio.sleep(3)  # the audit log is written in batches
        writes: Counter[str] = Counter()
        for record in cluster.audit_records():
            ref = record.get("objectRef") or {}
            if ref.get("namespace") == namespace:
                sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
                writes[f"{record.get('verb')} {ref.get('resource')}{sub}"] += 1
        for watcher in watchers:
            await watcher.stop()
        return {
            "runs": count,
            "concurrency": concurrency,
            "loadavg_at_cancel": load,
            "cancel_patch_round_trip_s": summary(round_trips),
            "webhooks_while_creating": per_webhook(start, created),
            "webhooks_while_cancelling": per_webhook(created, cancelled),
            "cpu_ms_per_run_from_cancel_to_terminal": cpu_ms_per_run,
            "operator_writes_per_run": {k: round(v / count, 2) for k, v in writes.items()},
        }


def _profile(client: Client, workdir: Path) -> asyncio.Task[None] | None:
    """With DEVCLUSTER_PROFILING=1 and BENCH_PROFILE_SECONDS=N: the API server's CPU
    profile over the next N seconds, into DIR/kube-apiserver-cpu.pprof
    (`go tool pprof -top KUBE_APISERVER_BINARY FILE` reads it)."""
    seconds = os.environ.get("BENCH_PROFILE_SECONDS")
    if not (seconds and os.environ.get("DEVCLUSTER_PROFILING")):
        return None

    async def record() -> None:
        url = f"{client.server}/debug/pprof/profile?seconds={int(seconds)}"
        async with client.session.get(url) as response:
            (workdir / "kube-apiserver-cpu.pprof").write_bytes(await response.read())

    return asyncio.create_task(record())


def main() -> None:
    count, concurrency, workdir = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    result = asyncio.run(measure(count, concurrency, workdir))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
