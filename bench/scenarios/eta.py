"""Scenario 10 (issue 22) — queue start estimates: how far `status.queue.
estimatedStartTime` is from when each run actually started.

A queue of N runs (500) is created at once in a namespace whose WorkerQuota admits Q
(20) at a time; each run's simulated worker takes a duration of its own (uniform 2-6 s,
seeded). A watch records every estimate each run showed, and when it was seen; the
actual start is the operator's admission stamp (`status.startTime`). Reported, over
the runs that showed an estimate:

* `first`: the first estimate a run showed (the one a user sees earliest, made
  furthest ahead), its error |actual - estimate| and how far ahead it was made;
* `last`: the estimate in effect when the run started;
* `all`: every estimate shown, each an error sample;
* `bias`: actual - estimate of the first estimate (positive: the run started later
  than estimated);
* coverage: runs that showed an estimate before they started (none can be made
  before the first admissions that took the last free slot).
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench.client import Watcher, gather_limited
from bench.cluster import BenchCluster, parse_time
from bench.objects import jobrun, path, sim
from bench.scenarios import Context
from bench.stats import summary
from bench.track import TERMINAL, RunTracker, key_of, wait_for

JSON = dict[str, Any]
NAMESPACE = "eta"
SEED = 22


class EstimateTracker:
    """Every distinct estimate each run showed: (seen at, estimate, position)."""

    def __init__(self) -> None:
        self.shown: dict[str, list[tuple[float, float, int]]] = {}

    def handle(self, kind: str, obj: JSON, arrival: float) -> None:
        queue = (obj.get("status") or {}).get("queue") or {}
        estimate = queue.get("estimatedStartTime")
        if kind == "DELETED" or not estimate:
            return
        shown = self.shown.setdefault(key_of(obj), [])
        value = parse_time(estimate)
        if not shown or shown[-1][1] != value:
            shown.append((arrival, value, int(queue.get("position") or 0)))


def errors(
    shown: dict[str, list[tuple[float, float, int]]], started: dict[str, float]
) -> dict[str, Any]:
    """The error summaries of the estimates shown against the actual starts."""
    first, last, every, ahead, bias = [], [], [], [], []
    for key, start in started.items():
        before = [s for s in shown.get(key, []) if s[0] <= start]
        if not before:
            continue
        seen, estimate, _ = before[0]
        first.append(abs(start - estimate))
        bias.append(start - estimate)
        ahead.append(start - seen)
        last.append(abs(start - before[-1][1]))
        every.extend(abs(start - s[1]) for s in before)
    return {
        "runs": len(started),
        "with_estimate": len(first),
        "coverage": round(len(first) / len(started), 3) if started else None,
        "first_error_seconds": summary(first),
        "first_ahead_seconds": summary(ahead),
        "first_bias_seconds": summary(bias),
        "last_error_seconds": summary(last),
        "all_error_seconds": summary(every),
        "estimates_per_run": round(sum(len(v) for v in shown.values()) / len(started), 2)
        if started
        else None,
    }


def timeline(
    shown: dict[str, list[tuple[float, float, int]]],
    started: dict[str, float],
    began: float,
    step: float = 10.0,
) -> list[dict[str, Any]]:
    """Per `step` seconds from the first create: runs admitted (the actual pace) and
    the pace the estimates written then implied (position / time to the estimate)."""
    buckets: dict[int, dict[str, Any]] = {}
    for start in started.values():
        bucket = buckets.setdefault(int((start - began) // step), {"admitted": 0, "implied": []})
        bucket["admitted"] += 1
    for samples in shown.values():
        for seen, estimate, position in samples:
            if estimate > seen and position:
                bucket = buckets.setdefault(
                    int((seen - began) // step), {"admitted": 0, "implied": []}
                )
                bucket["implied"].append(position / (estimate - seen))
    rows = []
    for index in sorted(buckets):
        implied = sorted(buckets[index]["implied"])
        rows.append(
            {
                "from_seconds": index * step,
                "admitted_per_second": round(buckets[index]["admitted"] / step, 2),
                "estimates": len(implied),
                "implied_per_second_p50": round(implied[len(implied) // 2], 2) if implied else None,
            }
        )
    return rows


async def run(ctx: Context) -> dict[str, Any]:
    count = ctx.param("eta_runs", 500, 100)
    quota = ctx.param("eta_quota", 20, 20)
    low, high = 2.0, 6.0
    rng = random.Random(SEED)
    durations = [round(rng.uniform(low, high), 1) for _ in range(count)]
    result: dict[str, Any] = {
        "parameters": {
            "runs": count,
            "quota": quota,
            "run_seconds": f"uniform {low:g}-{high:g} (seed {SEED})",
            "client_concurrency": 50,
        }
    }
    async with BenchCluster(ctx.workdir / "eta", nodes=max(3, quota // 10)) as cluster:
        client = cluster.client
        assert client is not None
        await cluster.namespace(NAMESPACE, quota=quota)
        runs, estimates = RunTracker(), EstimateTracker()

        def handle(kind: str, obj: JSON, arrival: float) -> None:
            runs.handle(kind, obj, arrival)
            estimates.handle(kind, obj, arrival)

        watcher = await Watcher(client, path("jobruns", NAMESPACE), handle).start()
        keys = [f"{NAMESPACE}/eta-{i:04d}" for i in range(count)]

        async def create(index: int) -> None:
            body = jobrun(f"eta-{index:04d}", sim(durations[index]))
            await client.create(path("jobruns", NAMESPACE), body)

        began = time.time()
        await gather_limited(50, [create(i) for i in range(count)])
        await wait_for(
            lambda: runs.count(keys, TERMINAL) == len(keys),
            timeout=1800,
            what=f"{count} runs finished",
            interval=0.2,
        )
        result["wall_seconds"] = round(time.time() - began, 1)
        await watcher.stop()
        started = {
            key: parse_time(status["startTime"])
            for key in keys
            if (status := (runs.latest.get(key) or {}).get("status") or {}).get("startTime")
        }
        result.update(errors(estimates.shown, started))
        result["timeline"] = timeline(estimates.shown, started, began)
        ctx.log(
            f"eta: {result['with_estimate']}/{count} runs had an estimate; first p50 "
            f"{result['first_error_seconds'].get('p50')} s p90 "
            f"{result['first_error_seconds'].get('p90')} s"
        )
    return result
