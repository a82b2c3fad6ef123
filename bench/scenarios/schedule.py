"""Scenario 2 — schedule precision: N ScheduledJobs and N native CronJobs, all on
`* * * * *`, on the same control plane in the same run, for several fires.

Lags are measured from the fire instant (a whole minute) to the arrival of the
object's ADDED watch event at the client (creationTimestamp has only whole seconds),
for JobRuns and Jobs, and for their worker pods. The operator's own figure (its log
line "run NS/NAME created X s after its fire time", written once the run is created
and the ScheduledJob's status is written) is reported beside it.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from bench.client import Watcher, gather_limited
from bench.cluster import BenchCluster, audit_breakdown, parse_time
from bench.env import ProcessSampler, loadavg
from bench.objects import cronjob, path, scheduledjob, sim
from bench.scenarios import Context, guarded
from bench.stats import rounded, summary
from bench.track import key_of, wait_for

SCHEDULE = "* * * * *"
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"


async def run(ctx: Context) -> dict[str, Any]:
    sizes = ctx.param("schedule_sizes", "1000,5000", "100")
    minutes = ctx.param("schedule_fires", 3, 1)
    result: dict[str, Any] = {"parameters": {"fires": minutes, "schedule": SCHEDULE}, "runs": {}}
    for size in [int(s) for s in str(sizes).split(",")]:
        measured = await guarded(ctx, result, f"size {size}", _one(ctx, size, minutes))
        if measured is not None:
            result["runs"][str(size)] = measured
    return result


class _Seen:
    """ADDED arrivals of JobRuns, Jobs and pods, with their fire instants."""

    def __init__(self) -> None:
        self.runs: dict[str, tuple[float, float]] = {}  # run -> (fire, arrival)
        self.jobs: dict[str, tuple[float, float]] = {}
        self.run_pods: dict[str, tuple[str, float]] = {}  # pod -> (run key, arrival)
        self.job_pods: dict[str, tuple[str, float]] = {}

    def on_run(self, kind: str, obj: dict[str, Any], arrival: float) -> None:
        fire = parse_time((obj.get("spec") or {}).get("scheduledTime"))
        if not math.isnan(fire):
            self.runs.setdefault(key_of(obj), (fire, arrival))

    def on_job(self, kind: str, obj: dict[str, Any], arrival: float) -> None:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        fire = parse_time(annotations.get(SCHEDULED_ANNOTATION))
        if not math.isnan(fire):
            self.jobs.setdefault(key_of(obj), (fire, arrival))

    def on_pod(self, kind: str, obj: dict[str, Any], arrival: float) -> None:
        metadata = obj.get("metadata") or {}
        labels = metadata.get("labels") or {}
        namespace = metadata.get("namespace")
        if labels.get("jobwarden.dev/run"):
            run = f"{namespace}/{labels['jobwarden.dev/run']}"
            self.run_pods.setdefault(key_of(obj), (run, arrival))
        elif labels.get("batch.kubernetes.io/job-name"):
            job = f"{namespace}/{labels['batch.kubernetes.io/job-name']}"
            self.job_pods.setdefault(key_of(obj), (job, arrival))


async def _one(ctx: Context, size: int, minutes: int) -> dict[str, Any]:
    spread = max(1, min(10, size // 100))
    per_namespace = math.ceil(size / spread)
    nodes = max(3, size // 200)
    async with BenchCluster(ctx.workdir / f"schedule-{size}", nodes=nodes) as cluster:
        client = cluster.client
        assert client is not None
        sj_namespaces = [f"sj-{i}" for i in range(spread)]
        cj_namespaces = [f"cj-{i}" for i in range(spread)]
        for namespace in sj_namespaces:
            await cluster.namespace(namespace, quota=per_namespace + 10)
        for namespace in cj_namespaces:
            await cluster.namespace(namespace)
        seen = _Seen()
        watchers = [
            await Watcher(
                client, "/apis/jobwarden.dev/v1alpha1/jobruns", seen.on_run, types=("ADDED",)
            ).start(),
            await Watcher(client, "/apis/batch/v1/jobs", seen.on_job, types=("ADDED",)).start(),
            await Watcher(client, "/api/v1/pods", seen.on_pod, types=("ADDED",)).start(),
        ]
        ctx.log(f"schedule: creating {size} ScheduledJobs and {size} CronJobs")
        began = time.monotonic()
        creates = []
        for index in range(size):
            sj_ns = sj_namespaces[index % spread]
            cj_ns = cj_namespaces[index % spread]
            creates.append(
                client.create(
                    path("scheduledjobs", sj_ns), scheduledjob(f"sj-{index:05d}", SCHEDULE, sim(1))
                )
            )
            creates.append(
                client.create(
                    path("cronjobs", cj_ns, group="batch/v1"),
                    cronjob(f"cj-{index:05d}", SCHEDULE, sim(1)),
                )
            )
        await gather_limited(50, creates)
        create_seconds = time.monotonic() - began
        ctx.log(f"schedule: created {2 * size} objects in {create_seconds:.1f} s")
        first_fire = math.ceil((time.time() + 5) / 60) * 60
        fires = [float(first_fire + 60 * i) for i in range(minutes)]
        sampler = ProcessSampler(cluster.operator_pid)
        cpu_before, wall_before = sampler.cpu_seconds(), time.time()
        window = cluster.cpu_window().start()
        load_at_fire: dict[str, list[float]] = {}
        for fire in fires:
            await asyncio.sleep(max(0.0, fire - time.time()))
            load_at_fire[str(int(fire))] = loadavg()
            ctx.log(f"schedule: fire at {time.strftime('%H:%M:%S', time.gmtime(fire))} UTC")
        expected = size * len(fires)

        def done() -> bool:
            runs = sum(1 for f, _ in seen.runs.values() if f in fires)
            jobs = sum(1 for f, _ in seen.jobs.values() if f in fires)
            return runs >= expected and jobs >= expected

        try:
            await wait_for(done, timeout=120, what="every fire's JobRun and Job", interval=0.5)
        except TimeoutError as error:
            ctx.log(f"schedule: {error}")
        await asyncio.sleep(5)  # pods of the last fire
        cpu = sampler.cpu_seconds() - cpu_before
        machine_cpu = window.stop()
        wall = time.time() - wall_before
        rss = sampler.rss_mib()
        for watcher in watchers:
            await watcher.stop()
        fire_set = set(fires)
        operator_lags = {f"{ns}/{name}": lag for ns, name, lag in cluster.fire_lines()}
        run_lag = {k: a - f for k, (f, a) in seen.runs.items() if f in fire_set}
        job_lag = {k: a - f for k, (f, a) in seen.jobs.items() if f in fire_set}
        run_pod_lag = [
            a - seen.runs[r][0]
            for r, a in seen.run_pods.values()
            if r in seen.runs and seen.runs[r][0] in fire_set
        ]
        job_pod_lag = [
            a - seen.jobs[j][0]
            for j, a in seen.job_pods.values()
            if j in seen.jobs and seen.jobs[j][0] in fire_set
        ]
        per_fire: dict[str, Any] = {}
        for fire in fires:
            runs = [a - f for f, a in seen.runs.values() if f == fire]
            jobs = [a - f for f, a in seen.jobs.values() if f == fire]
            per_fire[time.strftime("%H:%M:%S", time.gmtime(fire))] = {
                "jobrun_created": summary(runs),
                "job_created": summary(jobs),
                "jobruns_missing": size - len(runs),
                "jobs_missing": size - len(jobs),
            }
        operator_samples = [operator_lags[k] for k in run_lag if k in operator_lags]
        records = cluster.audit_records()
        requests = audit_breakdown(records, set(sj_namespaces))
        samples = {
            "jobrun_created": list(run_lag.values()),
            "jobrun_created_operator_log": operator_samples,
            "jobrun_pod_created": run_pod_lag,
            "job_created": list(job_lag.values()),
            "job_pod_created": job_pod_lag,
        }
        summaries = {name: summary(values) for name, values in samples.items()}
        ratio = {
            stat: _ratio(summaries["jobrun_created"], summaries["job_created"], stat)
            for stat in ("p50", "p90", "p99", "max")
        }
        return {
            "scheduledjobs": size,
            "cronjobs": size,
            "namespaces_each": spread,
            "nodes": nodes,
            "fires": [time.strftime("%H:%M:%S", time.gmtime(f)) for f in fires],
            "create_seconds": round(create_seconds, 1),
            "expected_per_kind": expected,
            "jobruns_missing": expected - len(run_lag),
            "jobs_missing": expected - len(job_lag),
            "loadavg_at_fire": load_at_fire,
            "operator_cpu_percent": round(100 * cpu / wall, 1),
            "cpu": machine_cpu,
            "operator_rss_mib": rss,
            "operator_requests_per_fire": {
                k: round(v / expected, 2) for k, v in sorted(requests.items())
            },
            "summary": summaries,
            "ratio_jobwarden_to_cronjob": ratio,
            "per_fire": per_fire,
            "samples": {name: rounded(values, 3) for name, values in samples.items()},
        }


def _ratio(ours: dict[str, Any], theirs: dict[str, Any], stat: str) -> float | None:
    if not ours.get("count") or not theirs.get("count") or not theirs[stat]:
        return None
    return round(ours[stat] / theirs[stat], 2)
