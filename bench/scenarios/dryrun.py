"""Scenario 8 — what the admission webhook's dry run of the worker pod costs (issue 17).

The same JobRun creates, one at a time, through an operator that dry-runs the worker
pod of each at admission (`JOBWARDEN_WEBHOOK_POD_DRY_RUN_CACHE_SECONDS=0`), one as
shipped (the pod, the same for every create, is dry-run once and then remembered), and
one that does not dry-run (`JOBWARDEN_WEBHOOK_POD_DRY_RUN=false`), each on its own
fresh control plane. The creates are server-side dry runs themselves
(`dryRun=All`): the webhooks run exactly as for a real create, nothing is stored, so
no run starts and every request meets the same namespace, which holds the worker
ServiceAccount as after its first run (before that, the webhook dry-runs the pod a
second time, with `default`: measured apart). Measured: the
client's latency per create, and the CPU the API server and the operator spend per
create (from /proc); and, as the webhook sends it, the pod dry run alone.
"""

from __future__ import annotations

import time
from typing import Any

from bench.client import Client
from bench.cluster import BenchCluster
from bench.env import ProcessSampler
from bench.objects import jobrun, path, sim
from bench.scenarios import Context
from bench.stats import summary
from jobwarden.core.podspec import WORKER_SERVICE_ACCOUNT, build_worker_pod

NAMESPACE = "dryrun"
WARMUP = 20


async def _timed(
    client: Client, count: int, url: str, body: Any, samplers: dict[str, ProcessSampler]
) -> dict[str, Any]:
    """`count` sequential dry-run POSTs: latency summary and CPU ms per request."""
    for _ in range(WARMUP):
        await client.request("POST", url, body, params={"dryRun": "All"})
    cpu_before = {name: sampler.cpu_seconds() for name, sampler in samplers.items()}
    latencies = []
    for _ in range(count):
        began = time.perf_counter()
        await client.request("POST", url, body, params={"dryRun": "All"})
        latencies.append(time.perf_counter() - began)
    return {
        "latency_seconds": summary(latencies),
        "cpu_ms_per_request": {
            name: round((sampler.cpu_seconds() - cpu_before[name]) * 1000 / count, 2)
            for name, sampler in samplers.items()
        },
    }


async def run(ctx: Context) -> dict[str, Any]:
    count = ctx.param("dryrun_requests", 400, 60)
    result: dict[str, Any] = {"parameters": {"requests": count, "warmup": WARMUP}, "variants": {}}
    run_body = jobrun("probe", sim(1))
    variants: tuple[tuple[str, dict[str, str]], ...] = (
        # Every create dry-runs its pod: the cost of the check itself.
        ("with", {"JOBWARDEN_WEBHOOK_POD_DRY_RUN_CACHE_SECONDS": "0"}),
        # As shipped: these creates share one pod, accepted once and then remembered.
        ("cached", {}),
        ("without", {"JOBWARDEN_WEBHOOK_POD_DRY_RUN": "false"}),
    )
    for tag, env in variants:
        ctx.log(f"dryrun: JobRun creates {tag} the worker pod's dry run")
        async with BenchCluster(ctx.workdir / tag, nodes=1, operator_env=env) as cluster:
            client = cluster.client
            assert client is not None
            await cluster.namespace(NAMESPACE)
            samplers = {
                "kube-apiserver": ProcessSampler(cluster.component_pid("kube-apiserver")),
                "operator": ProcessSampler(cluster.operator_pid),
            }
            runs_url = path("jobruns", NAMESPACE)
            if tag == "with":
                # Before the namespace's first run the operator has not created the
                # worker ServiceAccount yet: the pod is dry-run twice (see the webhook).
                result["first_runs_of_a_namespace"] = await _timed(
                    client, count, runs_url, run_body, samplers
                )
            await client.create(
                path("serviceaccounts", NAMESPACE, group="v1"),
                {"metadata": {"name": WORKER_SERVICE_ACCOUNT}},
            )
            measured = await _timed(client, count, runs_url, run_body, samplers)
            if tag == "with":
                # The pod the webhook dry-runs for that JobRun, sent by the client.
                pod = build_worker_pod(
                    {**run_body, "metadata": {"name": "probe", "namespace": NAMESPACE}},
                    1,
                    "ghcr.io/jobwarden/jobwarden:bench",
                )
                pod["metadata"].pop("ownerReferences", None)
                pod["metadata"]["generateName"] = f"{pod['metadata'].pop('name')}-"
                pod["spec"]["serviceAccountName"] = "default"
                result["pod_dry_run_alone"] = await _timed(
                    client, count, path("pods", NAMESPACE, group="v1"), pod, samplers
                )
            result["variants"][tag] = measured
    with_, without = result["variants"].get("with"), result["variants"].get("without")
    if with_ and without:
        result["added_per_admission"] = {
            "latency_p50_ms": round(
                (with_["latency_seconds"]["p50"] - without["latency_seconds"]["p50"]) * 1000, 2
            ),
            "latency_p90_ms": round(
                (with_["latency_seconds"]["p90"] - without["latency_seconds"]["p90"]) * 1000, 2
            ),
            "cpu_ms": {
                name: round(with_["cpu_ms_per_request"][name] - value, 2)
                for name, value in without["cpu_ms_per_request"].items()
            },
        }
    return result
