"""Scenario 4 — footprint: the operator's RSS and CPU with N ScheduledJobs (on a
yearly schedule, so they hold state but do not fire) and N finished JobRuns present,
idle and under a load of runs; and its start-up time with that many objects.

The objects are created before the operator first starts (no webhooks yet), the
finished runs with a realistic status (written through the status subresource) and
the labels the operator gives finished runs. Start-up is measured twice: the first
start (every ScheduledJob gets its first status) and a restart (steady state):
process start → "engine started" (store filled, queue starts), and → a JobRun
created at process start reaching Running (its first reconcile, behind every key the
start-up queued).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.client import Watcher, gather_limited
from bench.cluster import BenchCluster
from bench.env import ProcessSampler, loadavg
from bench.objects import jobrun, path, scheduledjob, sim
from bench.scenarios import Context
from bench.stats import summary
from bench.track import TERMINAL, RunTracker, wait_for

YEARLY = "0 0 1 1 *"
ENGINE_STARTED = b"engine started"


def finished_status(name: str, stamp: str) -> dict[str, Any]:
    """What a succeeded run's status looks like after the operator is done with it."""
    conditions = [
        ("Admitted", "False", "Finished", "the run has finished"),
        ("Finished", "True", "Succeeded", "attempt 1 succeeded (exit code 0)"),
        ("Ready", "True", "Succeeded", "succeeded"),
        ("Reconciling", "False", "Finished", "finished"),
        ("Stalled", "False", "Succeeded", "succeeded"),
    ]
    return {
        "phase": "Succeeded",
        "reason": "Succeeded",
        "message": "attempt 1 succeeded (exit code 0)",
        "observedGeneration": 1,
        "attempt": 1,
        "startTime": stamp,
        "completionTime": stamp,
        "conditions": [
            {
                "type": t,
                "status": s,
                "reason": r,
                "message": m,
                "lastTransitionTime": stamp,
                "observedGeneration": 1,
            }
            for t, s, r, m in conditions
        ],
        "attempts": [
            {
                "attempt": 1,
                "podName": f"{name}-1",
                "startTime": stamp,
                "finishTime": stamp,
                "exitCode": 0,
                "reason": "Completed",
            }
        ],
        "log": [
            {"time": stamp, "message": "attempt 1 started on pod " + name + "-1 (quota 1/10)"},
            {"time": stamp, "message": "attempt 1 succeeded (exit code 0)"},
        ],
    }


async def run(ctx: Context) -> dict[str, Any]:
    count = ctx.param("footprint_objects", 10000, 100)
    load_runs = ctx.param("footprint_load_runs", 1000, 50)
    idle_seconds = ctx.param("footprint_idle_seconds", 60, 5)
    load_timeout = ctx.param("footprint_load_timeout", 240, 30)
    settle_timeout = ctx.param("footprint_settle_timeout", 180, 20)
    spread = max(1, min(10, count // 1000))
    result: dict[str, Any] = {
        "parameters": {
            "scheduledjobs": count,
            "finished_jobruns": count,
            "namespaces": spread,
            "idle_seconds": idle_seconds,
            "load_runs": load_runs,
            "load_quota": 100,
            "load_timeout_seconds": load_timeout,
            "settle_timeout_seconds": settle_timeout,
        }
    }
    async with BenchCluster(ctx.workdir / "footprint", nodes=3, start_operator=False) as cluster:
        client = cluster.client
        assert client is not None
        namespaces = [f"fp-{i}" for i in range(spread)]
        for namespace in namespaces:
            await cluster.namespace(namespace)
        ctx.log(f"footprint: creating {count} ScheduledJobs and {count} finished JobRuns")
        began = time.monotonic()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())

        async def finished_run(namespace: str, index: int) -> None:
            name = f"done-{index:05d}"
            body = jobrun(name, sim(1))
            body["metadata"]["labels"] = {"jobwarden.dev/trigger": "Manual"}
            await client.create(path("jobruns", namespace), body)
            await client.merge_patch(
                path("jobruns", namespace, name) + "/status",
                {"status": finished_status(name, stamp)},
            )

        coros = []
        for index in range(count):
            namespace = namespaces[index % spread]
            coros.append(
                client.create(
                    path("scheduledjobs", namespace),
                    scheduledjob(f"yearly-{index:05d}", YEARLY, sim(1)),
                )
            )
            coros.append(finished_run(namespace, index))
        await gather_limited(50, coros)
        result["create_seconds"] = round(time.monotonic() - began, 1)

        ctx.log("footprint: first start of the operator")
        result["first_start"] = await _start(cluster, "probe-first")
        await _settle(ctx, cluster, result, "after_first_start", settle_timeout)
        cluster.memprobe_dump()
        await cluster.stop_operator()
        ctx.log("footprint: restart of the operator")
        result["restart"] = await _start(cluster, "probe-restart")
        await _settle(ctx, cluster, result, "after_restart", settle_timeout)

        sampler = ProcessSampler(cluster.operator_pid)
        ctx.log(f"footprint: idle for {idle_seconds} s")
        result["idle"] = await _sample(sampler, idle_seconds)
        cluster.memprobe_dump()

        ctx.log(f"footprint: load of {load_runs} runs (quota 100)")
        await cluster.namespace("fp-load", quota=100)
        tracker = RunTracker()
        watcher = await Watcher(client, path("jobruns", "fp-load"), tracker.handle).start()
        keys = [f"fp-load/load-{i:05d}" for i in range(load_runs)]
        sampling = asyncio.create_task(
            _sample(
                sampler,
                load_timeout,
                stop_when=lambda: all(tracker.phase(k) in TERMINAL for k in keys),
            )
        )
        await gather_limited(
            50,
            (
                client.create(path("jobruns", "fp-load"), jobrun(k.split("/")[1], sim(1)))
                for k in keys
            ),
        )
        result["load"] = await sampling
        result["load"]["runs_finished"] = tracker.count(keys, TERMINAL)
        result["load"]["runs_admitted"] = sum(
            1 for k in keys if tracker.first_of(k, ("Running", *TERMINAL)) is not None
        )
        await watcher.stop()
        result["after_load_idle"] = await _sample(sampler, min(idle_seconds, 20))
        cluster.memprobe_dump()
        result["peak_rss_mib"] = sampler.peak_rss_mib()
        result["loadavg_after"] = loadavg()
    return result


async def _start(cluster: BenchCluster, probe: str) -> dict[str, Any]:
    """Start the operator; time to its engine and to a probe run's first reconcile."""
    client = cluster.client
    assert client is not None
    offset = cluster.operator_log.stat().st_size if cluster.operator_log.exists() else 0
    load = loadavg()
    task = asyncio.create_task(cluster.start_operator(timeout=900))
    started = time.time()
    await asyncio.sleep(0)
    tracker = RunTracker()
    watcher = await Watcher(client, path("jobruns", "fp-0"), tracker.handle, initial=False).start()
    await _retry_create(cluster, probe)
    ready_seconds = await task
    engine_at = await wait_for(
        lambda: ENGINE_STARTED in cluster.operator_log.read_bytes()[offset:],
        timeout=900,
        what="engine started",
        interval=0.05,
    )
    running_at = await wait_for(
        lambda: tracker.phase(f"fp-0/{probe}") in ("Running", *TERMINAL),
        timeout=900,
        what="probe run Running",
        interval=0.05,
    )
    await watcher.stop()
    sampler = ProcessSampler(cluster.operator_pid)
    return {
        "loadavg": load,
        "to_engine_started_seconds": round(engine_at - cluster.operator_started_at, 2),
        "to_ready_seconds": round(ready_seconds, 2),
        "to_probe_running_seconds": round(running_at - started, 2),
        "rss_mib_when_ready": sampler.rss_mib(),
    }


async def _retry_create(cluster: BenchCluster, probe: str) -> None:
    """Create the probe run as soon as the API (webhooks starting up) accepts it."""
    client = cluster.client
    assert client is not None
    for _ in range(3000):
        try:
            await client.create(path("jobruns", "fp-0"), jobrun(probe, sim(600)))
            return
        except Exception:  # webhook not served yet: try again
            await asyncio.sleep(0.05)


async def _settle(
    ctx: Context, cluster: BenchCluster, result: dict[str, Any], name: str, timeout: float
) -> None:
    """Wait until the operator's CPU use drops (start-up work done); record how long."""
    sampler = ProcessSampler(cluster.operator_pid)
    began = time.time()
    last = sampler.cpu_seconds()
    quiet = 0
    while time.time() - began < timeout and quiet < 3:
        await asyncio.sleep(1)
        now = sampler.cpu_seconds()
        quiet = quiet + 1 if now - last < 0.05 else 0
        last = now
    result[name] = {
        "settled": quiet >= 3,
        "busy_seconds_after_ready": round(time.time() - began - 3 * (quiet >= 3), 1),
        "rss_mib": sampler.rss_mib(),
        "cpu_seconds_total": round(sampler.cpu_seconds(), 1),
    }
    ctx.log(f"footprint: {name}: {result[name]}")


async def _sample(sampler: ProcessSampler, seconds: float, stop_when: Any = None) -> dict[str, Any]:
    """RSS and CPU (% of one core) every second for `seconds` (or until `stop_when()`)."""
    rss: list[float] = []
    cpu: list[float] = []
    load = loadavg()
    began = time.time()
    last_cpu, last_t = sampler.cpu_seconds(), time.monotonic()
    while time.time() - began < seconds:
        await asyncio.sleep(1)
        now_cpu, now_t = sampler.cpu_seconds(), time.monotonic()
        cpu.append(100 * (now_cpu - last_cpu) / (now_t - last_t))
        rss.append(sampler.rss_mib())
        last_cpu, last_t = now_cpu, now_t
        if stop_when is not None and stop_when():
            break
    return {
        "seconds": round(time.time() - began, 1),
        "loadavg_before": load,
        "loadavg_after": loadavg(),
        "rss_mib": summary(rss),
        "cpu_percent": summary(cpu),
        "cpu_percent_mean": round(sum(cpu) / len(cpu), 1) if cpu else None,
    }
