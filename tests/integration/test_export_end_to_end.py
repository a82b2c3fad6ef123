"""The worker side end to end, in real containers: Export (or JobRun) → operator → pod
on the real node (kubelet + containerd + runc, jobwarden's own image) → status. Cancel →
the kubelet's SIGTERM → cleanup → Cancelled; a worker that ignores SIGTERM → SIGKILL at
the end of the grace period → CancelTimeout with exit code 137; `kubectl logs` works."""

from __future__ import annotations

import base64
import csv
import datetime
import hashlib
import sqlite3
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from devcluster.install import OperatorProcess
from jobwarden.api.paths import resource_path
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.kube import JSON, Kube, KubeError
from tests.support.postgres import PostgresServer
from tests.support.realnode import RealNodeHandle
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster

MILLION = 1_000_000


@pytest.fixture
def kube(cluster: TestCluster, operator: OperatorProcess, real_node: RealNodeHandle) -> Kube:
    """Admin client, with the operator and the real node running."""
    return cluster.kube()


def export_body(
    node: RealNodeHandle, namespace: str, name: str, *, source: JSON, **spec: Any
) -> JSON:
    """An Export whose worker runs in a container of jobwarden's image on the real node
    and writes to a hostPath directory private to the test's namespace."""
    return {
        "apiVersion": runs.API,
        "kind": "Export",
        "metadata": {"name": name},
        "spec": {
            "source": source,
            "format": "csv",
            "destination": {"volume": "data", "path": f"out/{name}.csv"},
            "volumes": [
                {
                    "name": "data",
                    "hostPath": {
                        "path": str(node.host_dir(f"exports-{namespace}")),
                        "type": "Directory",
                    },
                }
            ],
            "worker": {**node.placement(), "image": node.image, "imagePullPolicy": "IfNotPresent"},
            **spec,
        },
    }


def describe(kube: Kube, node: RealNodeHandle, namespace: str, name: str, kind: str) -> str:
    """Status, the worker pod's state and the kubelet's log, for assertion messages."""
    try:
        status = runs.get(kube, namespace, name, kind).get("status", {})
    except KubeError as error:
        status = {"error": str(error)}
    try:
        pod = kube.get(resource_path("v1", "pods", namespace, f"{name}-1")).get("status", {})
    except KubeError as error:
        pod = {"error": str(error)}
    return f"\nstatus: {status}\nworker pod: {pod}\nkubelet log:\n{node.kubelet_log()}"


def wait_done(
    kube: Kube,
    node: RealNodeHandle,
    namespace: str,
    name: str,
    phases: tuple[str, ...],
    *,
    kind: str = "Export",
    timeout: float = 90,
) -> JSON:
    """Wait for a final phase; on timeout say what the worker and the node logged."""
    try:
        return runs.wait_phase(kube, namespace, name, phases, kind=kind, timeout=timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}{describe(kube, node, namespace, name, kind)}") from None


def postgres_secret(kube: Kube, namespace: str, uri: str) -> None:
    """The Secret the Export names; only the worker pod reads it."""
    kube.create(
        resource_path("v1", "secrets", namespace),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "source-db"},
            "data": {"uri": base64.b64encode(uri.encode()).decode()},
        },
    )


def million_row_table(postgres: PostgresServer) -> str:
    """A fresh database with `orders`, one million rows."""
    database = postgres.create_database()
    with postgres.connect(database) as conn:
        conn.execute(
            "CREATE TABLE orders AS SELECT g AS id, 'customer ' || (g % 1000) AS customer, "
            "(g * 1.37)::numeric(12, 2) AS total, "
            "timestamptz '2025-01-01' + g * interval '1 minute' AS created_at "
            "FROM generate_series(1, 1000000) AS g"
        )
    return database


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------- success
def test_sqlite_export_to_csv_succeeds_with_artifact(
    kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    directory = real_node.host_dir(f"exports-{namespace}")
    directory.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(directory / "shop.sqlite") as db:
        db.execute("CREATE TABLE items (id INTEGER, name TEXT, note TEXT)")
        db.executemany(
            "INSERT INTO items VALUES (?, ?, ?)",
            [(i, f"item {i}", 'say "hi", twice' if i % 2 else None) for i in range(1, 2501)],
        )
    body = export_body(
        real_node,
        namespace,
        "items",
        source={"sqlite": {"volume": "data", "path": "shop.sqlite"}},
        query="SELECT id, name, note FROM items ORDER BY id",
        batchSize=1000,
    )
    runs.create(kube, namespace, body)
    done = wait_done(kube, real_node, namespace, "items", ("Succeeded", "Failed", "Cancelled"))
    details = describe(kube, real_node, namespace, "items", "Export")
    assert done["status"]["phase"] == "Succeeded", details

    output = directory / "out" / "items.csv"
    assert output.exists(), details
    assert not (directory / "out" / "items.csv.partial").exists()
    artifact = done["status"]["artifact"]
    assert artifact == {
        "path": "out/items.csv",
        "bytes": output.stat().st_size,
        "rows": 2500,
        "sha256": sha256(output),
    }
    with output.open(newline="") as handle:
        parsed = list(csv.reader(handle))
    assert parsed[0] == ["id", "name", "note"]
    assert parsed[1] == ["1", "item 1", 'say "hi", twice']
    assert parsed[2] == ["2", "item 2", ""]
    assert len(parsed) == 2501

    progress = done["status"]["progress"]
    assert progress["fraction"] == 1.0 and progress["percent"] == 100
    assert progress["counters"]["rows"] == 2500
    assert progress["updateTime"]
    attempt = done["status"]["attempts"][0]
    assert attempt["exitCode"] == 0
    assert "exported 2500 rows" in attempt["message"]
    pod = kube.get(resource_path("v1", "pods", namespace, "items-1"))
    assert pod["spec"]["serviceAccountName"] == "jobwarden-worker"
    assert pod["spec"]["nodeName"] == real_node.name


def test_postgres_export_succeeds_reading_the_secret(
    kube: Kube, real_node: RealNodeHandle, namespace: str, postgres: PostgresServer
) -> None:
    database = postgres.create_database()
    with postgres.connect(database) as conn:
        conn.execute(
            "CREATE TABLE t AS SELECT g AS id, g * 2 AS twice FROM generate_series(1, 12345) g"
        )
    postgres_secret(kube, namespace, postgres.uri(database))
    body = export_body(
        real_node,
        namespace,
        "pg-jsonl",
        source={"postgres": {"secretRef": {"name": "source-db"}}},
        query="SELECT id, twice FROM t ORDER BY id",
        format="jsonl",
        destination={"volume": "data", "path": "out/t.jsonl"},
        batchSize=1000,
    )
    runs.create(kube, namespace, body)
    done = wait_done(kube, real_node, namespace, "pg-jsonl", ("Succeeded", "Failed", "Cancelled"))
    assert done["status"]["phase"] == "Succeeded", describe(
        kube, real_node, namespace, "pg-jsonl", "Export"
    )
    output = real_node.host_dir(f"exports-{namespace}") / "out" / "t.jsonl"
    lines = output.read_text().splitlines()
    assert len(lines) == 12345 and lines[0] == '{"id":1,"twice":2}'
    assert done["status"]["artifact"]["rows"] == 12345
    assert done["status"]["artifact"]["sha256"] == sha256(output)
    wait_until(lambda: not postgres.backends(database), timeout=10, message="no session left")


# ---------------------------------------------------------------------- cancel
def test_cancel_halfway_through_a_million_rows(
    kube: Kube, real_node: RealNodeHandle, namespace: str, postgres: PostgresServer
) -> None:
    database = million_row_table(postgres)
    postgres_secret(kube, namespace, postgres.uri(database))
    body = export_body(
        real_node,
        namespace,
        "orders",
        source={"postgres": {"secretRef": {"name": "source-db", "key": "uri"}}},
        query="SELECT id, customer, total, created_at FROM orders ORDER BY id",
        cancelGracePeriodSeconds=20,
    )
    runs.create(kube, namespace, body)

    def exporting() -> JSON | None:
        run = runs.get(kube, namespace, "orders", "Export")
        counters = ((run.get("status") or {}).get("progress") or {}).get("counters") or {}
        return run if 0 < int(counters.get("rows", 0)) < MILLION else None

    wait_until(
        exporting,
        timeout=60,
        interval=0.05,
        message=lambda: (
            "progress under way" + describe(kube, real_node, namespace, "orders", "Export")
        ),
    )
    backends = postgres.backends(database)
    assert [b for b in backends if b[1].startswith(f"jobwarden:{namespace}/orders")], backends
    runs.cancel(kube, namespace, "orders", "Export")
    done = wait_done(kube, real_node, namespace, "orders", ("Succeeded", "Failed", "Cancelled"))
    details = describe(kube, real_node, namespace, "orders", "Export")
    status = done["status"]
    assert status["phase"] == "Cancelled", details
    assert status["cancellation"]["outcome"] == "Cancelled"
    attempt = status["attempts"][0]
    assert attempt["exitCode"] == 143, details
    assert attempt["message"].startswith("cancelled"), attempt
    # Where it stopped: a whole number of batches, short of the end.
    rows = status["progress"]["counters"]["rows"]
    assert 0 < rows < MILLION and rows % 5000 == 0, status["progress"]
    assert status["progress"]["counters"]["total"] == MILLION
    assert status["progress"]["message"].startswith("cancelled"), status["progress"]
    assert f"rows {rows}/{MILLION}" in attempt["message"]
    assert "artifact" not in status or status["artifact"] is None
    # Cleanup: no partial file, no file, no session left in PostgreSQL.
    out = real_node.host_dir(f"exports-{namespace}") / "out"
    assert not list(out.glob("*")), list(out.glob("*"))
    wait_until(
        lambda: not postgres.backends(database),
        timeout=5,
        message=lambda: f"no session left in pg_stat_activity: {postgres.backends(database)}",
    )
    wait_until(lambda: runs.no_pods_left(kube, namespace), timeout=30, message="pod released")


# --------------------------------------------------------------------- failure
def test_query_error_fails_with_the_database_message(
    kube: Kube, real_node: RealNodeHandle, namespace: str, postgres: PostgresServer
) -> None:
    database = postgres.create_database()
    postgres_secret(kube, namespace, postgres.uri(database))
    body = export_body(
        real_node,
        namespace,
        "broken",
        source={"postgres": {"secretRef": {"name": "source-db"}}},
        query="SELECT * FROM no_such_table",
        retries=0,
    )
    runs.create(kube, namespace, body)
    done = wait_done(kube, real_node, namespace, "broken", ("Succeeded", "Failed", "Cancelled"))
    status = done["status"]
    assert status["phase"] == "Failed", describe(kube, real_node, namespace, "broken", "Export")
    attempt = status["attempts"][0]
    assert attempt["exitCode"] == 1
    assert 'relation "no_such_table" does not exist' in attempt["message"], attempt
    assert "42P01" in attempt["message"]
    assert 'relation "no_such_table" does not exist' in status["progress"]["message"]
    assert not list(real_node.host_dir(f"exports-{namespace}").rglob("*.partial"))
    wait_until(lambda: not postgres.backends(database), timeout=5, message="no session left")


# ------------------------------------------------------------ the SDK, for real
SDK_JOB = textwrap.dedent(
    """
    import pathlib, sys
    from jobwarden.worker import RunContext, run_job

    def main(ctx: RunContext) -> str:
        marker = ctx.path("/work/cleaned-up")
        ctx.on_cleanup(marker.write_text, "yes")
        for i in ctx.units(range(10_000)):
            ctx.token.wait(0.2)  # a unit of work that takes 0.2 s
            ctx.progress(done=i + 1, total=10_000, unit="items", message=f"item {i + 1}")
        return "all done"

    run_job(main)
    """
)


def sdk_jobrun(node: RealNodeHandle, namespace: str, name: str, script: str, **spec: Any) -> JSON:
    """A JobRun whose worker is a Python script in a container of jobwarden's image on
    the real node, with a hostPath directory at /work."""
    return {
        "apiVersion": runs.API,
        "kind": "JobRun",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    **node.placement(),
                    "containers": [
                        {
                            "name": "job",
                            "image": node.image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python", "-c", script],
                            "volumeMounts": [{"name": "work", "mountPath": "/work"}],
                        }
                    ],
                    "volumes": [node.work_volume(f"work-{namespace}-{name}")],
                }
            },
            **spec,
        },
    }


PLAIN_JOB = textwrap.dedent(
    """
    import importlib.util, os, shutil
    print("hello from a real container", os.getuid(), flush=True)
    # The kubelet's environment: the API server where the local cluster has it.
    print("api", os.environ["KUBERNETES_SERVICE_HOST"], flush=True)
    # What the image carries: no test launcher, no build tools.
    print("devcluster", importlib.util.find_spec("devcluster") is not None, flush=True)
    print("tools", [t for t in ("gcc", "cc", "make", "go", "git") if shutil.which(t)], flush=True)
    """
)


def test_jobrun_worker_runs_to_succeeded_in_a_real_container_and_kubectl_logs_shows_it(
    cluster: TestCluster, kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    runs.create(kube, namespace, sdk_jobrun(real_node, namespace, "plain", PLAIN_JOB, retries=0))
    done = wait_done(
        kube, real_node, namespace, "plain", ("Succeeded", "Failed", "Cancelled"), kind="JobRun"
    )
    details = describe(kube, real_node, namespace, "plain", "JobRun")
    assert done["status"]["phase"] == "Succeeded", details
    assert done["status"]["attempts"][0]["exitCode"] == 0, details
    pod = kube.get(resource_path("v1", "pods", namespace, "plain-1"))
    if real_node.name is not None:
        assert pod["spec"]["nodeName"] == real_node.name
        assert pod["spec"]["hostNetwork"] is True  # the local cluster's policy, not ours
    (container,) = pod["status"]["containerStatuses"]
    assert container["imageID"], container  # a real runtime reports the image it ran
    assert container["containerID"].startswith("containerd://"), container
    assert container["state"]["terminated"]["exitCode"] == 0
    logs = cluster.kubectl("logs", "-n", namespace, "plain-1").stdout
    assert "hello from a real container 65532" in logs, logs
    if real_node.name is not None:
        assert "api 127.0.0.1" in logs, logs
    assert "devcluster False" in logs and "tools []" in logs, logs


SDK_QUICK_JOB = textwrap.dedent(
    """
    from jobwarden.worker import RunContext, run_job

    def main(ctx: RunContext) -> str:
        for i in ctx.units(range(5)):
            ctx.progress(done=i + 1, total=5, unit="items")
        return "five items"

    run_job(main)
    """
)


def test_sdk_job_runs_to_succeeded_in_a_real_container(
    kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    runs.create(kube, namespace, sdk_jobrun(real_node, namespace, "quick", SDK_QUICK_JOB))
    done = wait_done(
        kube, real_node, namespace, "quick", ("Succeeded", "Failed", "Cancelled"), kind="JobRun"
    )
    status = done["status"]
    assert status["phase"] == "Succeeded", describe(kube, real_node, namespace, "quick", "JobRun")
    assert status["attempts"][0]["exitCode"] == 0
    assert "five items" in status["attempts"][0]["message"]  # the termination message
    assert status["progress"]["counters"]["items"] == 5


EXITS_3_ON_SIGTERM = textwrap.dedent(
    """
    import signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    print("waiting for SIGTERM", flush=True)
    while True:
        time.sleep(0.1)
    """
)


def test_worker_exiting_on_sigterm_ends_cancelled_with_its_exit_code(
    kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    body = sdk_jobrun(real_node, namespace, "polite", EXITS_3_ON_SIGTERM, retries=0)
    runs.create(kube, namespace, body)
    wait_until(
        lambda: "waiting for SIGTERM" in _logs(kube, namespace, "polite-1"),
        timeout=60,
        message=lambda: (
            "the worker running" + describe(kube, real_node, namespace, "polite", "JobRun")
        ),
    )
    runs.cancel(kube, namespace, "polite")
    done = wait_done(
        kube, real_node, namespace, "polite", ("Succeeded", "Failed", "Cancelled"), kind="JobRun"
    )
    status = done["status"]
    assert status["phase"] == "Cancelled", describe(kube, real_node, namespace, "polite", "JobRun")
    assert status["cancellation"]["outcome"] == "Cancelled"
    assert status["attempts"][0]["exitCode"] == 3


def _logs(kube: Kube, namespace: str, pod: str) -> str:
    """The container log through the API server and the kubelet ('' until it runs)."""
    try:
        return kube.get_text(resource_path("v1", "pods", namespace, pod) + "/log")
    except KubeError:
        return ""


def test_sdk_job_reports_progress_and_stops_cleanly_on_cancel(
    kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    runs.create(kube, namespace, sdk_jobrun(real_node, namespace, "sdk", SDK_JOB, retries=0))

    def progressing() -> JSON | None:
        run = runs.get(kube, namespace, "sdk")
        counters = ((run.get("status") or {}).get("progress") or {}).get("counters") or {}
        return run if int(counters.get("items", 0)) >= 3 else None

    started = time.monotonic()
    wait_until(
        progressing,
        timeout=60,
        message=lambda: "progress" + describe(kube, real_node, namespace, "sdk", "JobRun"),
    )
    first = runs.get(kube, namespace, "sdk")["status"]["progress"]
    # Progress is visible within ~2 s and refreshed about once a second.
    time.sleep(2.5)
    later = runs.get(kube, namespace, "sdk")["status"]["progress"]
    assert later["counters"]["items"] > first["counters"]["items"], (first, later)
    assert later["updateTime"] > first["updateTime"]
    assert time.monotonic() - started < 60

    runs.cancel(kube, namespace, "sdk")
    done = wait_done(
        kube, real_node, namespace, "sdk", ("Succeeded", "Failed", "Cancelled"), kind="JobRun"
    )
    status = done["status"]
    assert status["phase"] == "Cancelled", describe(kube, real_node, namespace, "sdk", "JobRun")
    assert status["attempts"][0]["exitCode"] == 143
    assert "cancelled" in status["attempts"][0]["message"]
    assert (real_node.host_dir(f"work-{namespace}-sdk") / "cleaned-up").read_text() == "yes"
    cancellation = status["cancellation"]
    assert cancellation["outcome"] == "Cancelled"
    print(f"cancel path: {_latencies(cancellation)}")  # measured, not asserted (bench/)


def _latencies(cancellation: JSON) -> str:
    """requested → signalled → finished, in seconds, from status.cancellation."""
    times = [
        datetime.datetime.fromisoformat(str(cancellation[key]).replace("Z", "+00:00"))
        for key in ("requestedAt", "signalledAt", "finishedAt")
    ]
    return (
        f"signalled {(times[1] - times[0]).total_seconds():.3f} s after the request, "
        f"finished {(times[2] - times[1]).total_seconds():.3f} s after the signal"
    )


IGNORES_SIGTERM = textwrap.dedent(
    """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ignoring SIGTERM", flush=True)
    time.sleep(600)
    """
)


def test_job_ignoring_sigterm_is_killed_and_reported_as_cancel_timeout(
    kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    body = sdk_jobrun(real_node, namespace, "stubborn", IGNORES_SIGTERM, cancelGracePeriodSeconds=2)
    runs.create(kube, namespace, body)

    def running() -> bool:
        pod = kube.get(resource_path("v1", "pods", namespace, "stubborn-1"))
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return bool(statuses and statuses[0]["state"].get("running"))

    wait_until(running, timeout=60, message="the worker container running")
    wait_until(
        lambda: "ignoring SIGTERM" in _logs(kube, namespace, "stubborn-1"),
        timeout=30,
        message="the worker to have installed its SIG_IGN",
    )
    runs.cancel(kube, namespace, "stubborn")
    done = wait_done(
        kube,
        real_node,
        namespace,
        "stubborn",
        ("Failed", "Cancelled", "Succeeded"),
        kind="JobRun",
        timeout=60,
    )
    status = done["status"]
    assert status["phase"] == "Failed", describe(kube, real_node, namespace, "stubborn", "JobRun")
    assert status["reason"] == "CancelTimeout"
    assert status["cancellation"]["outcome"] == "CancelTimeout"
    assert status["attempts"][0]["exitCode"] == 137
    assert any("cancellation attempt timed out" in m for m in runs.log_messages(done))
    wait_until(lambda: runs.no_pods_left(kube, namespace), timeout=30, message="pod released")


# ---------------------------------------------------------- least privilege
WORKER_RIGHTS = {
    ("patch", "jobruns.jobwarden.dev/status"): "yes",
    ("patch", "exports.jobwarden.dev/status"): "yes",
    ("get", "exports.jobwarden.dev"): "yes",
    ("patch", "exports.jobwarden.dev"): "no",  # never the spec
    ("delete", "jobruns.jobwarden.dev"): "no",
    ("list", "jobruns.jobwarden.dev"): "no",
    ("get", "secrets"): "no",
    ("create", "pods"): "no",
}


def test_worker_identity_may_only_read_runs_and_report_to_them(
    cluster: TestCluster, kube: Kube, real_node: RealNodeHandle, namespace: str
) -> None:
    directory = real_node.host_dir(f"exports-{namespace}")
    directory.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(directory / "one.sqlite") as db:
        db.execute("CREATE TABLE t (x INTEGER)")
    body = export_body(
        real_node,
        namespace,
        "tiny",
        source={"sqlite": {"volume": "data", "path": "one.sqlite"}},
        query="SELECT x FROM t",
    )
    runs.create(kube, namespace, body)
    done = wait_done(kube, real_node, namespace, "tiny", ("Succeeded", "Failed", "Cancelled"))
    assert done["status"]["phase"] == "Succeeded"
    assert done["status"]["artifact"]["rows"] == 0
    account = f"system:serviceaccount:{namespace}:jobwarden-worker"
    answers = {}
    for verb, resource in WORKER_RIGHTS:
        name, _, subresource = resource.partition("/")
        args = ["auth", "can-i", verb, name, "-n", namespace, f"--as={account}"]
        if subresource:
            args.append(f"--subresource={subresource}")
        answers[verb, resource] = cluster.kubectl(*args, check=False).stdout.strip()
    assert answers == WORKER_RIGHTS
