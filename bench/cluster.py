"""One local control plane per scenario, with jobwarden's CRDs, its operator and an
audit log of the operator's mutating requests (for the API-cost figures)."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.client import Client
from bench.env import CpuWindow
from devcluster.cluster import IDENTITIES, LocalCluster
from devcluster.install import OperatorProcess, install

OPERATOR_USER = IDENTITIES["operator"].user
MEMPROBE = Path(__file__).resolve().parent / "memprobe"
MUTATING = ("create", "update", "patch", "delete", "deletecollection")
AUDIT_POLICY = f"""\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    users: ["{OPERATOR_USER}"]
    verbs: {json.dumps(list(MUTATING))}
  - level: None
"""
#: BENCH_AUDIT_ALL=1 (diagnostics): every user's writes except Leases, for timelines.
AUDIT_POLICY_ALL = f"""\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    resources: [{{group: coordination.k8s.io, resources: [leases]}}]
  - level: Metadata
    verbs: {json.dumps(list(MUTATING))}
  - level: None
"""
_FIRE_LINE = re.compile(
    rb"^(?P<stamp>\S+ \S+) INFO jobwarden\.scheduler: run (?P<ns>[^/\s]+)/(?P<name>\S+) "
    rb"created (?P<lag>[0-9.]+)s after its fire time",
    re.MULTILINE,
)


class BenchCluster:
    """Start with `async with`; everything is stopped on exit."""

    def __init__(
        self,
        workdir: Path,
        *,
        nodes: int = 3,
        operator_env: dict[str, str] | None = None,
        start_operator: bool = True,
        audit_all: bool = False,
    ) -> None:
        self.workdir = workdir
        self.nodes = nodes
        self.operator_env = operator_env or {}
        self.start_operator_at_once = start_operator
        workdir.mkdir(parents=True, exist_ok=True)
        policy = workdir / "audit-policy.yaml"
        everyone = audit_all or bool(os.environ.get("BENCH_AUDIT_ALL"))
        policy.write_text(AUDIT_POLICY_ALL if everyone else AUDIT_POLICY)
        self.local = LocalCluster(workdir / "cluster", nodes=nodes, audit_policy=policy)
        self.operator: OperatorProcess | None = None
        self.client: Client | None = None
        self.operator_started_at = 0.0
        self._profiler: subprocess.Popen[bytes] | None = None

    @property
    def operator_log(self) -> Path:
        return self.workdir / "operator.log"

    async def __aenter__(self) -> BenchCluster:
        await asyncio.to_thread(self.local.start)
        await asyncio.to_thread(install, str(self.local.binaries.kubectl), self.local.kubeconfig())
        self.client = Client(self.local.kubeconfig(), connections=100)
        await self.client.__aenter__()
        if self.start_operator_at_once:
            await self.start_operator()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop_profiler()
        if self.client is not None:
            await self.client.__aexit__()
        if self.operator is not None:
            await asyncio.to_thread(self.operator.stop)
        await asyncio.to_thread(self.local.stop)

    async def start_operator(self, timeout: float = 600) -> float:
        """Start the operator; returns seconds until its engine and webhooks were ready."""
        env = {"JOBWARDEN_EXIT_MARGIN_SECONDS": "3", **self.operator_env}
        paths = [os.environ.get("PYTHONPATH", "")]
        # Experiments with a patched copy of the operator (a directory holding a
        # `jobwarden` package), without touching the repository's code.
        paths.insert(0, os.environ.get("BENCH_OPERATOR_SOURCE", ""))
        probe_dir = os.environ.get("BENCH_MEMPROBE_DIR")
        if probe_dir:  # memory attribution (bench/memprobe), slows the operator down
            Path(probe_dir).mkdir(parents=True, exist_ok=True)
            paths.insert(0, str(MEMPROBE))
            env["BENCH_TRACEMALLOC_OUT"] = str(Path(probe_dir) / f"{self.workdir.name}.txt")
        if any(paths):
            env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        self.operator = OperatorProcess(
            self.local.kubeconfig("operator"), self.operator_log, env=env
        )
        self.operator_started_at = time.time()
        await asyncio.to_thread(self.operator.start, timeout)
        ready = time.time() - self.operator_started_at
        self._start_profiler()
        return ready

    def memprobe_dump(self) -> None:
        """Ask bench/memprobe (when enabled) to write the operator's allocation sites."""
        if os.environ.get("BENCH_MEMPROBE_DIR") and self.operator is not None:
            os.kill(self.operator_pid, signal.SIGUSR1)

    def _start_profiler(self) -> None:
        """With BENCH_PROFILE_DIR set (`python -m bench --profile DIR`): py-spy samples
        the operator until it stops, into DIR/<scenario dir>-<pid>.txt (collapsed stacks)."""
        directory = os.environ.get("BENCH_PROFILE_DIR")
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not directory:
            return
        if not Path(py_spy).exists():
            raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
        Path(directory).mkdir(parents=True, exist_ok=True)
        out = Path(directory) / f"{self.workdir.name}-{self.operator_pid}.txt"
        self._profiler = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(self.operator_pid),
                "--rate",
                "100",
                "--format",
                "raw",
                "--nonblocking",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _stop_profiler(self) -> None:
        if self._profiler is not None and self._profiler.poll() is None:
            self._profiler.send_signal(signal.SIGINT)
            try:
                self._profiler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._profiler.kill()
        self._profiler = None

    async def stop_operator(self) -> None:
        self._stop_profiler()
        if self.operator is not None:
            await asyncio.to_thread(self.operator.stop)
            self.operator = None

    @property
    def operator_pid(self) -> int:
        assert self.operator is not None and self.operator.process is not None
        return self.operator.process.pid

    # ------------------------------------------------------------------ helpers
    async def namespace(self, name: str, *, quota: int | None = None) -> None:
        """Create a namespace (and a WorkerQuota the operator has observed)."""
        assert self.client is not None
        await self.client.create("/api/v1/namespaces", {"metadata": {"name": name}}, exist_ok=True)
        for _ in range(300):
            sa = await self.client.request(
                "GET", f"/api/v1/namespaces/{name}/serviceaccounts/default", ok_statuses=(404,)
            )
            if sa:
                break
            await asyncio.sleep(0.1)
        if quota is not None:
            path = f"/apis/jobwarden.dev/v1alpha1/namespaces/{name}/workerquotas"
            await self.client.create(
                path,
                {
                    "apiVersion": "jobwarden.dev/v1alpha1",
                    "kind": "WorkerQuota",
                    "metadata": {"name": "bench"},
                    "spec": {"maxRunning": quota},
                },
                exist_ok=True,
            )
            if self.operator is not None:
                for _ in range(600):
                    body = await self.client.get(f"{path}/bench")
                    if (body.get("status") or {}).get("observedGeneration") == body["metadata"][
                        "generation"
                    ]:
                        break
                    await asyncio.sleep(0.1)

    def fire_lines(self) -> list[tuple[str, str, float]]:
        """(namespace, run, lag) from the operator's "created X s after its fire time"."""
        data = self.operator_log.read_bytes() if self.operator_log.exists() else b""
        return [
            (m["ns"].decode(), m["name"].decode(), float(m["lag"]))
            for m in _FIRE_LINE.finditer(data)
        ]

    def cpu_window(self) -> CpuWindow:
        """CPU over a window: the machine, each control-plane process, the operator
        (when it runs) and the benchmark's own client."""
        pids = {c.name: c.pid for c in self.local.components}
        if self.operator is not None and self.operator.process is not None:
            pids["operator"] = self.operator.process.pid
        pids["benchmark client"] = os.getpid()
        return CpuWindow(pids)

    def component_pid(self, name: str) -> int:
        """The pid of a control-plane component ("kube-apiserver", "etcd", …)."""
        return next(c.pid for c in self.local.components if c.name == name)

    def audit_records(self, *, everyone: bool = False) -> list[dict[str, Any]]:
        """The operator's mutating requests (ResponseComplete) from the audit log; with
        `everyone`, every user's (the cluster must audit them: `audit_all`).

        Server-side dry runs are left out: nothing is stored (the admission webhook's
        check of a new run's worker pod is one, per run a user creates); their cost
        is in the API server's CPU, which the scenarios measure apart."""
        path = self.local.audit_log_path
        records: list[dict[str, Any]] = []
        if not path.exists():
            return records
        with path.open("rb") as log:
            for line in log:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("stage") != "ResponseComplete":
                    continue
                if not everyone and not by_operator(event):
                    continue
                if event.get("verb") not in MUTATING or is_dry_run(event):
                    continue
                records.append(event)
        return records


def is_dry_run(event: dict[str, Any]) -> bool:
    """A server-side dry run (`?dryRun=All`): admitted and validated, never stored."""
    query = str(event.get("requestURI") or "").partition("?")[2]
    return any(part.startswith("dryRun=") for part in query.split("&"))


def by_operator(event: dict[str, Any]) -> bool:
    """An audit record of a request the operator made."""
    return bool((event.get("user") or {}).get("username") == OPERATOR_USER)


def audit_breakdown(records: Iterable[dict[str, Any]], namespaces: set[str]) -> Counter[str]:
    """Counts by "verb resource[/subresource]" for requests in `namespaces`."""
    counts: Counter[str] = Counter()
    for event in records:
        ref = event.get("objectRef") or {}
        if ref.get("namespace") not in namespaces:
            continue
        resource = ref.get("resource", "?")
        if ref.get("subresource"):
            resource += "/" + ref["subresource"]
        code = (event.get("responseStatus") or {}).get("code", 0)
        suffix = "" if 200 <= int(code or 0) < 300 else f" ({code})"
        counts[f"{event.get('verb')} {resource}{suffix}"] += 1
    return counts


#: Who writes, by user name: the test client, the operator, the cluster's components.
ACTORS = {
    IDENTITIES["admin"].user: "client",
    OPERATOR_USER: "operator",
    "system:kube-scheduler": "scheduler",
    "kwok": "kwok (pod lifecycle)",
}


def actor_of(username: str) -> str:
    """A short name for the writer; kube-controller-manager's controllers are one."""
    if username in ACTORS:
        return ACTORS[username]
    if username.startswith("system:serviceaccount:kube-system:") or username == (
        "system:kube-controller-manager"
    ):
        return "controllers"
    return username


def writes_by_actor(records: Iterable[dict[str, Any]], namespaces: set[str]) -> Counter[str]:
    """Mutating requests in `namespaces` by who made them (see `actor_of`)."""
    counts: Counter[str] = Counter()
    for event in records:
        if (event.get("objectRef") or {}).get("namespace") in namespaces:
            counts[actor_of((event.get("user") or {}).get("username", ""))] += 1
    return counts


def audit_times(records: Iterable[dict[str, Any]]) -> list[tuple[float, str]]:
    """(time, namespace) of each record, for rates."""
    out = []
    for event in records:
        stamp = event.get("stageTimestamp") or event.get("requestReceivedTimestamp")
        if not stamp:
            continue
        out.append((parse_time(stamp), (event.get("objectRef") or {}).get("namespace", "")))
    return out


def parse_time(value: str | None) -> float:
    """RFC 3339 (with or without fractions) to epoch seconds; NaN when absent."""
    if not value:
        return float("nan")
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
