"""Scenario 7 — what one write costs the API server: CPU seconds of the kube-apiserver
process (from /proc) per create and per status patch, for a JobRun as shipped, for
JobRuns under variants of its CRD (no CEL rules; the pod template left schema-less),
and for a native Job, on the same control plane with nothing else writing (no
operator). Explains how much of the admission gap is the shape of our CRD.

Each variant: `count` objects created, then three status patches each (Queued →
Running → Succeeded for JobRuns, the first carrying the template snapshot as the
operator's does; the Job's status gets an active count, a ready count and a
condition). 8 requests in flight.
"""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path
from typing import Any

import yaml

from bench.client import gather_limited
from bench.cluster import BenchCluster
from bench.env import ProcessSampler, loadavg
from bench.scenarios import Context

REPO = Path(__file__).resolve().parents[2]
CONCURRENCY = 8
TEMPLATE = {
    "spec": {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "main",
                "image": "busybox:1.36",
                "command": ["sh", "-c", "echo hello; sleep 1"],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"memory": "128Mi"},
                },
            }
        ],
    }
}
#: (title, group, keep CEL rules, keep the pod-template schema); "jobwarden.dev" is the
#: CRD as installed, the others are copies under a scratch group.
VARIANTS = (
    ("JobRun, CRD as shipped", "jobwarden.dev", True, True),
    ("JobRun, CRD without CEL rules", "nocel.bench.jobwarden.dev", False, True),
    ("JobRun, pod template schema-less", "lite.bench.jobwarden.dev", True, False),
    ("JobRun, neither", "bare.bench.jobwarden.dev", False, False),
)


async def run(ctx: Context) -> dict[str, Any]:
    count = ctx.param("writecost_objects", 300, 100)
    result: dict[str, Any] = {"parameters": {"objects": count, "in_flight": CONCURRENCY}}
    async with BenchCluster(ctx.workdir / "writecost", nodes=1, start_operator=False) as cluster:
        result["loadavg_before"] = loadavg()
        apiserver = cluster.component_pid("kube-apiserver")
        for _, group, cel, schema in VARIANTS[1:]:
            await _install_variant(cluster, group, cel=cel, schema=schema)
        await asyncio.sleep(5)  # the new groups' discovery settles
        measured: dict[str, Any] = {}
        for title, group, _, _ in VARIANTS:
            ctx.log(f"writecost: {title}")
            measured[title] = await _jobruns(cluster, apiserver, group, count)
        ctx.log("writecost: native Job")
        measured["Job (batch/v1), suspended"] = await _jobs(cluster, apiserver, count)
        result["variants"] = measured
        result["loadavg_after"] = loadavg()
    return result


async def _measured(pid: int, requests: list[Any]) -> dict[str, float]:
    apiserver = ProcessSampler(pid)
    cpu, start = apiserver.cpu_seconds(), time.monotonic()
    await gather_limited(CONCURRENCY, requests)
    return {
        "cpu_ms": round((apiserver.cpu_seconds() - cpu) * 1000 / len(requests), 2),
        "wall_ms": round((time.monotonic() - start) * 1000 / len(requests), 2),
    }


async def _install_variant(cluster: BenchCluster, group: str, *, cel: bool, schema: bool) -> None:
    crd = yaml.safe_load((REPO / "crds" / "jobruns.jobwarden.dev.yaml").read_text())
    crd["metadata"] = {"name": f"jobruns.{group}"}
    crd["spec"]["group"] = group
    version = crd["spec"]["versions"][0]
    version.pop("selectableFields", None)
    root = version["schema"]["openAPIV3Schema"]["properties"]
    if not schema:
        loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        rules = root["spec"]["properties"]["template"].get("x-kubernetes-validations")
        root["spec"]["properties"]["template"] = {
            **loose,
            **({"x-kubernetes-validations": rules} if rules else {}),
        }
        root["status"]["properties"]["snapshot"]["properties"]["template"] = dict(loose)
    if not cel:
        _strip_rules(root)
    assert cluster.client is not None
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    await cluster.client.create(path, crd)
    for _ in range(300):
        got = await cluster.client.get(f"{path}/jobruns.{group}")
        conditions = (got.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"CRD jobruns.{group} not established")


def _strip_rules(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("x-kubernetes-validations", None)
        for value in node.values():
            _strip_rules(value)
    elif isinstance(node, list):
        for value in node:
            _strip_rules(value)


async def _jobruns(cluster: BenchCluster, pid: int, group: str, count: int) -> dict[str, Any]:
    client = cluster.client
    assert client is not None
    base = f"/apis/{group}/v1alpha1/namespaces/default/jobruns"
    names = [f"cost-{i}" for i in range(count)]
    spec = {"template": TEMPLATE, "priority": "High", "timeoutSeconds": 600}
    create = await _measured(
        pid,
        [
            client.create(
                base,
                {
                    "apiVersion": f"{group}/v1alpha1",
                    "kind": "JobRun",
                    "metadata": {"name": name},
                    "spec": spec,
                },
            )
            for name in names
        ],
    )
    patches = []
    for step, phase in enumerate(("Queued", "Running", "Succeeded")):
        status: dict[str, Any] = {
            "phase": phase,
            "observedGeneration": 1,
            "conditions": [_condition("Admitted", phase != "Queued")],
        }
        if step == 0:
            status["snapshot"] = {
                "time": "2026-11-22T10:00:00Z",
                "template": copy.deepcopy(TEMPLATE),
                "settings": {"priority": "High"},
            }
        patches.append(
            await _measured(
                pid, [client.merge_patch(f"{base}/{n}/status", {"status": status}) for n in names]
            )
        )
    return {"create": create, "status_patch": _mean(patches)}


async def _jobs(cluster: BenchCluster, pid: int, count: int) -> dict[str, Any]:
    client = cluster.client
    assert client is not None
    base = "/apis/batch/v1/namespaces/default/jobs"
    names = [f"cost-{i}" for i in range(count)]
    create = await _measured(
        pid,
        [
            client.create(
                base,
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": name},
                    "spec": {"suspend": True, "template": TEMPLATE},
                },
            )
            for name in names
        ],
    )
    patches = []
    for status in (
        {"active": 0, "ready": 0},
        {"ready": 0, "terminating": 0},
        {"conditions": [_condition("Suspended", True)]},
    ):
        patches.append(
            await _measured(
                pid, [client.merge_patch(f"{base}/{n}/status", {"status": status}) for n in names]
            )
        )
    return {"create": create, "status_patch": _mean(patches)}


def _condition(kind: str, true: bool) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if true else "False",
        "reason": "Bench",
        "message": "bench",
        "lastTransitionTime": "2026-11-22T10:00:00Z",
    }


def _mean(parts: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(sum(p[key] for p in parts) / len(parts), 2) for key in parts[0]}
