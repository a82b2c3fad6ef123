"""GitOps health: how Flux (kstatus) and Argo CD (our Lua health checks) read objects
the operator produced on the real control plane."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lupa
import pytest
import yaml

from devcluster.binaries import REPO_ROOT, Binaries
from devcluster.install import OperatorProcess
from jobwarden.api.paths import resource_path
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.kube import JSON
from tests.support.runs import jobrun, pod_template, sim

pytestmark = pytest.mark.cluster

ARGOCD = REPO_ROOT / "charts" / "jobwarden" / "files" / "argocd"
DOC = REPO_ROOT / "docs" / "gitops.md"

#: name → (kind, Flux kstatus, Argo CD health)
EXPECTED = {
    "ok": ("JobRun", "Current", "Healthy"),
    "broken": ("JobRun", "Failed", "Degraded"),
    "stopped": ("JobRun", "Failed", "Degraded"),
    "busy": ("JobRun", "InProgress", "Progressing"),
    "waiting": ("JobRun", "InProgress", "Progressing"),
    "export-ok": ("Export", "Current", "Healthy"),
    "nightly": ("ScheduledJob", "Current", "Healthy"),
    "paused": ("ScheduledJob", "Current", "Suspended"),
    "ended": ("ScheduledJob", "Failed", "Degraded"),
    "quota": ("WorkerQuota", "Current", "Healthy"),
}
LUA_BY_KIND = {
    "JobRun": "run.lua",
    "Export": "run.lua",
    "ScheduledJob": "scheduledjob.lua",
    "WorkerQuota": "workerquota.lua",
}


def argocd_health(script: Path, obj: JSON) -> dict[str, str]:
    """Run an Argo CD health script the way Argo CD does: `obj` is a global table."""
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script.read_text())
    return {"status": str(result["status"]), "message": str(result["message"] or "")}


def kstatus(objects: list[JSON]) -> dict[str, str]:
    """Flux's kstatus reading of each object (name → status)."""
    result = subprocess.run(
        [str(Binaries.locate().kstatus)],
        input=yaml.safe_dump_all(objects),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return {v["name"]: v["status"] for v in map(json.loads, result.stdout.splitlines())}


def test_docs_show_the_tested_scripts() -> None:
    doc = [line.strip() for line in DOC.read_text().splitlines()]
    for script in ARGOCD.glob("*.lua"):
        for line in script.read_text().splitlines():
            assert line.strip() in doc, f"docs/gitops.md lacks {script.name}: {line!r}"


@pytest.fixture(scope="module")
def produced(cluster: TestCluster, operator: OperatorProcess) -> Iterator[dict[str, JSON]]:
    """One object in each interesting state, as the operator left it."""
    kube = cluster.kube()
    namespace = "gitops-health"
    kube.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    quota_path = resource_path(runs.API, "workerquotas", namespace)
    kube.create(
        quota_path,
        {
            "apiVersion": runs.API,
            "kind": "WorkerQuota",
            "metadata": {"name": "quota"},
            "spec": {"maxRunning": 2},
        },
    )

    def create(body: JSON) -> None:
        runs.create(kube, namespace, body)

    create(jobrun("ok", sim(run_seconds=0.2)))
    create(jobrun("broken", sim(run_seconds=0.2, exit_code=2), retries=0))
    create(runs.export("export-ok", sim(run_seconds=0.2)))
    runs.wait_phase(kube, namespace, "ok", "Succeeded")
    runs.wait_phase(kube, namespace, "broken", "Failed")
    runs.wait_phase(kube, namespace, "export-ok", "Succeeded", kind="Export")
    create(jobrun("busy", sim(run_seconds=600)))
    create(jobrun("busy-2", sim(run_seconds=600)))
    runs.wait_phase(kube, namespace, "busy", "Running")
    runs.wait_phase(kube, namespace, "busy-2", "Running")
    create(jobrun("waiting", sim(run_seconds=1)))
    create(jobrun("stopped", sim(run_seconds=1)))
    runs.wait_phase(kube, namespace, "waiting", "Queued")
    runs.wait_phase(kube, namespace, "stopped", "Queued")
    runs.cancel(kube, namespace, "stopped")
    runs.wait_phase(kube, namespace, "stopped", "Cancelled")
    for name, extra in (
        ("nightly", {}),
        ("paused", {"suspend": True}),
        ("ended", {"cancel": True}),
    ):
        create(
            {
                "apiVersion": runs.API,
                "kind": "ScheduledJob",
                "metadata": {"name": name},
                "spec": {"schedule": "0 2 * * *", "template": pod_template(sim()), **extra},
            }
        )
    phases = {"nightly": "Active", "paused": "Suspended", "ended": "Cancelled"}
    for name, phase in phases.items():
        runs.wait_phase(kube, namespace, name, phase, kind="ScheduledJob")
    objects: dict[str, JSON] = {}
    for name, (kind, _, _) in EXPECTED.items():
        if kind == "WorkerQuota":
            body = kube.get(resource_path(runs.API, "workerquotas", namespace, name))
        else:
            body = runs.get(kube, namespace, name, kind)
        body.setdefault("apiVersion", runs.API)
        body.setdefault("kind", kind)
        objects[name] = body
    yield objects
    for name in ("busy", "busy-2", "waiting"):
        runs.cancel(kube, namespace, name)
    kube.delete(f"/api/v1/namespaces/{namespace}")


def test_flux_kstatus_reads_our_conditions(produced: dict[str, JSON]) -> None:
    verdicts = kstatus(list(produced.values()))
    wanted = {name: flux for name, (_, flux, _) in EXPECTED.items()}
    assert verdicts == wanted


@pytest.mark.parametrize("name", list(EXPECTED), ids=list(EXPECTED))
def test_argocd_health_scripts(produced: dict[str, JSON], name: str) -> None:
    kind, _, argo = EXPECTED[name]
    health = argocd_health(ARGOCD / LUA_BY_KIND[kind], produced[name])
    assert health["status"] == argo, health
    assert health["message"]


@pytest.mark.parametrize(
    ("kind", "obj", "status"),
    [
        ("JobRun", {"metadata": {"name": "x"}}, "Progressing"),
        (
            "JobRun",
            {
                "metadata": {"name": "x", "generation": 2},
                "status": {"phase": "Succeeded", "observedGeneration": 1},
            },
            "Progressing",
        ),
        (
            "ScheduledJob",
            {
                "metadata": {"name": "x", "generation": 1},
                "status": {
                    "phase": "Active",
                    "observedGeneration": 1,
                    "conditions": [
                        {
                            "type": "Stalled",
                            "status": "True",
                            "reason": "InvalidSchedule",
                            "message": "bad",
                        }
                    ],
                },
            },
            "Degraded",
        ),
        (
            "WorkerQuota",
            {"metadata": {"name": "x", "generation": 1}, "spec": {"maxRunning": 3}},
            "Progressing",
        ),
    ],
    ids=["run-without-status", "run-stale-generation", "invalid-schedule", "quota-not-applied"],
)
def test_argocd_health_of_edge_cases(kind: str, obj: dict[str, Any], status: str) -> None:
    assert argocd_health(ARGOCD / LUA_BY_KIND[kind], obj)["status"] == status
