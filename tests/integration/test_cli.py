"""`kubectl jobwarden` on the real control plane, run as a subprocess with the test
identities' kubeconfigs, as users run it.

In each test namespace alice and bob (group team-a) may create and edit jobwarden
objects (a plain Role, so these tests do not depend on the chart's ClusterRoles);
carol holds the RBAC verb `cancel` there; a user given only the view Role cannot
patch at all. The admission webhook decides who may cancel what.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devcluster.install import OperatorProcess
from jobwarden.api.paths import resource_path
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.kube import JSON, Kube
from tests.support.runs import export, jobrun, pod_template, sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster

PLUGIN = Path(sys.executable).parent / "kubectl-jobwarden"
RBAC = "rbac.authorization.k8s.io/v1"
GROUP = "jobwarden.dev"
RUN_RESOURCES = ["scheduledjobs", "jobruns", "exports"]
READ = ["get", "list", "watch"]
EDIT_RULES: list[JSON] = [
    {"apiGroups": [GROUP], "resources": RUN_RESOURCES, "verbs": [*READ, "create", "patch"]},
    {"apiGroups": [GROUP], "resources": ["workerquotas"], "verbs": READ},
    {"apiGroups": [""], "resources": ["events"], "verbs": READ},
]
VIEW_RULES: list[JSON] = [
    {"apiGroups": [GROUP], "resources": [*RUN_RESOURCES, "workerquotas"], "verbs": READ},
]
CANCEL_RULES: list[JSON] = [
    {"apiGroups": [GROUP], "resources": RUN_RESOURCES, "verbs": [*READ, "patch", "cancel"]},
]


# ------------------------------------------------------------------------ helpers
def jw(
    cluster: TestCluster,
    identity: str,
    *args: str,
    namespace: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the plugin as `identity`, stdin not a terminal (as in scripts and CI)."""
    command = [str(PLUGIN), "--kubeconfig", str(cluster.kubeconfig(identity)), *args]
    if namespace:
        command += ["-n", namespace]
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        env=env,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a run that must have succeeded."""
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n{result.stderr}{result.stdout}"
    )
    return result.stdout


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of a kubectl-style table, by header, cut at the header's column starts."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    rows = []
    for line in lines[1:]:
        cells = [
            line[start : starts[i + 1] if i + 1 < len(starts) else None].strip()
            for i, start in enumerate(starts)
        ]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


def by_name(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["NAME"]: row for row in rows}


def _role(cluster: TestCluster, namespace: str, name: str, rules: list[JSON]) -> None:
    cluster.kube().create(
        resource_path(RBAC, "roles", namespace), {"metadata": {"name": name}, "rules": rules}
    )


def _bind(cluster: TestCluster, namespace: str, role: str, *users: str) -> None:
    cluster.kube().create(
        resource_path(RBAC, "rolebindings", namespace),
        {
            "metadata": {"name": f"{role}-{'-'.join(users)}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [
                {"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}
                for user in users
            ],
        },
    )


def _wait_can(cluster: TestCluster, user: str, verb: str, resource: str, namespace: str) -> None:
    def allowed() -> bool:
        result = cluster.kubectl(
            "auth", "can-i", verb, resource, "-n", namespace, identity=user, check=False
        )
        return result.stdout.strip() == "yes"

    wait_until(allowed, timeout=15, message=f"{user} may {verb} {resource} in {namespace}")


def grant(
    cluster: TestCluster,
    namespace: str,
    *,
    edit: tuple[str, ...] = (),
    view: tuple[str, ...] = (),
    cancel: tuple[str, ...] = (),
) -> None:
    """Give users the edit, view or cancel Role in `namespace`, and wait until it holds."""
    for role, rules, users, probe in (
        ("cli-edit", EDIT_RULES, edit, "create"),
        ("cli-view", VIEW_RULES, view, "list"),
        ("cli-cancel", CANCEL_RULES, cancel, "cancel"),
    ):
        if users:
            _role(cluster, namespace, role, rules)
            _bind(cluster, namespace, role, *users)
            for user in users:
                _wait_can(cluster, user, probe, f"jobruns.{GROUP}", namespace)


@pytest.fixture
def team(cluster: TestCluster, operator: OperatorProcess, namespace: str) -> str:
    """The test namespace: alice and bob edit, carol may cancel anything."""
    grant(cluster, namespace, edit=("alice", "bob"), cancel=("carol",))
    return namespace


def _quota(kube: Kube, namespace: str, max_running: int) -> None:
    kube.create(
        resource_path(runs.API, "workerquotas", namespace),
        {
            "apiVersion": runs.API,
            "kind": "WorkerQuota",
            "metadata": {"name": "quota"},
            "spec": {"maxRunning": max_running},
        },
    )


def _labelled(body: JSON, **labels: str) -> JSON:
    body["metadata"]["labels"] = labels
    return body


def _long(name: str, **spec: Any) -> JSON:
    """A run that works for ten minutes and stops within a second of SIGTERM."""
    return jobrun(name, sim(run_seconds=600, sigterm_exit_seconds=0.5), **spec)


def _scheduledjob(name: str, annotations: dict[str, str], **spec: Any) -> JSON:
    """A ScheduledJob that fires once a year: only manual runs during a test."""
    return {
        "apiVersion": runs.API,
        "kind": "ScheduledJob",
        "metadata": {"name": name, "labels": {"team": "data"}},
        "spec": {"schedule": "0 0 1 1 *", "template": pod_template(annotations), **spec},
    }


def _cancel_flag(kube: Kube, namespace: str, name: str, kind: str = "JobRun") -> bool:
    return bool(runs.get(kube, namespace, name, kind)["spec"].get("cancel"))


# ------------------------------------------------------------------ active, status
def test_active_and_status_show_runs_as_each_user_sees_them(
    cluster: TestCluster, team: str
) -> None:
    alice, bob, admin = cluster.kube("alice"), cluster.kube("bob"), cluster.kube()
    runs.create(alice, team, jobrun("finished", sim(run_seconds=0.2)))
    runs.wait_phase(alice, team, "finished", "Succeeded", timeout=30)
    _quota(admin, team, 1)
    runs.create(alice, team, _long("blocker"))
    runs.wait_phase(alice, team, "blocker", "Running")
    runs.create(alice, team, _long("urgent", priority="High"))
    runs.create(bob, team, _long("bobs", priority="Low"))
    runs.create(alice, team, export("orders", sim(run_seconds=600)))
    runs.wait_phase(alice, team, "bobs", "Queued")
    runs.wait_phase(alice, team, "orders", "Queued", kind="Export")
    wait_until(
        lambda: runs.get(alice, team, "urgent")["status"].get("queue", {}).get("position") == 1,
        timeout=15,
        message="urgent first in the queue",
    )
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    admin.merge_patch(
        resource_path(runs.API, "jobruns", team, "blocker", "status"),
        {"status": {"progress": {"fraction": 0.42, "percent": 42, "updateTime": now}}},
    )

    table = by_name(parse_table(ok(jw(cluster, "alice", "active", namespace=team))))
    assert set(table) == {"blocker", "urgent", "bobs", "orders"}  # not the finished one
    assert table["blocker"]["KIND"] == "JobRun" and table["orders"]["KIND"] == "Export"
    assert table["blocker"]["PHASE"] == "Running" and table["blocker"]["QUEUE"] == "-"
    assert table["blocker"]["PROGRESS"] == "42%"
    assert re.fullmatch(r"\d+s|\d+m\d*s?", table["blocker"]["ELAPSED"])
    assert table["urgent"]["PHASE"] == "Queued"
    assert table["urgent"]["QUEUE"] == "1 (QuotaExhausted)"
    assert table["bobs"]["QUEUE"].endswith("(QuotaExhausted)")
    assert {row["STUCK"] for row in table.values()} == {"no"}
    # The webhook's rule, answered per user: the creator, or the verb cancel.
    assert {n: r["CANCEL"] for n, r in table.items()} == {
        "blocker": "yes",
        "urgent": "yes",
        "bobs": "no",
        "orders": "yes",
    }
    bobs_view = by_name(parse_table(ok(jw(cluster, "bob", "active", namespace=team))))
    assert {n: r["CANCEL"] for n, r in bobs_view.items()} == {
        "blocker": "no",
        "urgent": "no",
        "bobs": "yes",
        "orders": "no",
    }
    carols_view = by_name(parse_table(ok(jw(cluster, "carol", "active", namespace=team))))
    assert {r["CANCEL"] for r in carols_view.values()} == {"yes"}

    wide = by_name(parse_table(ok(jw(cluster, "alice", "active", "-o", "wide", namespace=team))))
    assert wide["urgent"]["PRIORITY"] == "High" and wide["bobs"]["CREATED-BY"] == "bob"
    mine = parse_table(ok(jw(cluster, "bob", "active", "--mine", namespace=team)))
    assert [row["NAME"] for row in mine] == ["bobs"]
    names = ok(jw(cluster, "alice", "active", "-o", "name", "-k", "export", namespace=team))
    assert names.split() == ["export.jobwarden.dev/orders"]
    listed = json.loads(ok(jw(cluster, "alice", "active", "-o", "json", namespace=team)))
    assert listed["kind"] == "List"
    assert {item["metadata"]["name"] for item in listed["items"]} == set(table)
    everywhere = parse_table(ok(jw(cluster, "admin", "active", "-A")))
    assert {(r["NAMESPACE"], r["NAME"]) for r in everywhere} >= {(team, n) for n in table}

    page = ok(jw(cluster, "alice", "status", "urgent", namespace=team))
    assert re.search(r"Phase:\s+Queued \(QuotaExhausted\)", page)
    assert re.search(r"Queue:\s+position 1, QuotaExhausted", page)
    assert re.search(r"Created by:\s+alice", page)
    assert re.search(r"Priority:\s+High", page)
    assert re.search(r"Can cancel:\s+yes \(creator\)", page)
    assert re.search(r"Events:\n.*Queued", page, re.DOTALL)
    page = ok(jw(cluster, "alice", "status", "blocker", namespace=team))
    assert re.search(r"Attempts:\n.*blocker-1", page, re.DOTALL)
    assert re.search(r"Progress:\s+42%", page)
    assert re.search(r"Log:\n", page)
    page = ok(jw(cluster, "bob", "status", "export/orders", namespace=team))
    assert re.search(r"Kind:\s+Export", page) and re.search(r"Can cancel:\s+no", page)
    as_yaml = ok(jw(cluster, "alice", "status", "orders", "-o", "yaml", namespace=team))
    assert "kind: Export" in as_yaml
    missing = jw(cluster, "alice", "status", "nope", namespace=team)
    assert missing.returncode == 1
    assert 'no JobRun or Export named "nope"' in missing.stderr

    for name, kind in (("blocker", "JobRun"), ("orders", "Export")):
        runs.cancel(alice, team, name, kind)
    runs.cancel(alice, team, "urgent")
    runs.cancel(bob, team, "bobs")


def test_active_flags_a_stuck_run(cluster: TestCluster, team: str) -> None:
    alice = cluster.kube("alice")
    runs.create(alice, team, _long("silent", stuckAfterSeconds=2))
    runs.wait_phase(alice, team, "silent", "Running")

    def flagged() -> bool:
        table = by_name(parse_table(ok(jw(cluster, "alice", "active", namespace=team))))
        return table["silent"]["STUCK"] == "yes"

    try:
        wait_until(flagged, timeout=20, message="the silent run flagged as stuck")
        page = ok(jw(cluster, "alice", "status", "silent", namespace=team))
        assert re.search(r"Stuck:\s+yes, for", page)
    finally:
        runs.cancel(alice, team, "silent")


# ------------------------------------------------------------------------- cancel
def test_cancel_by_name_with_a_reason(cluster: TestCluster, team: str) -> None:
    alice = cluster.kube("alice")
    runs.create(alice, team, _long("mistake"))
    runs.wait_phase(alice, team, "mistake", "Running")

    result = jw(
        cluster, "alice", "cancel", "mistake", "--reason", "wrong input file", namespace=team
    )
    assert ok(result).strip() == "jobrun.jobwarden.dev/mistake cancel requested (was Running)"
    done = runs.wait_phase(alice, team, "mistake", "Cancelled", timeout=30)
    cancellation = done["status"]["cancellation"]
    assert cancellation["reason"] == "wrong input file"
    assert cancellation["requestedBy"] == "alice"
    page = ok(jw(cluster, "alice", "status", "mistake", namespace=team))
    assert re.search(r"Cancellation:\n\s+Requested by:\s+alice\n", page)
    assert re.search(r"Reason:\s+wrong input file", page)
    assert re.search(r"Outcome:\s+Cancelled", page)

    again = jw(cluster, "alice", "cancel", "mistake", namespace=team)
    assert again.returncode == 1
    assert "not cancellable: not in a cancellable state: Cancelled" in again.stderr


def test_cancel_by_selector_reports_each_object_and_denials(
    cluster: TestCluster, team: str
) -> None:
    alice, bob = cluster.kube("alice"), cluster.kube("bob")
    for name in ("a1", "a2"):
        runs.create(alice, team, _labelled(_long(name), team="data"))
    runs.create(alice, team, _long("a3"))
    runs.create(bob, team, _labelled(_long("b1"), team="data"))
    for name in ("a1", "a2", "a3", "b1"):
        runs.wait_phase(alice, team, name, "Running")

    refused = jw(cluster, "alice", "cancel", "-l", "team=data", namespace=team)
    assert refused.returncode == 2
    assert "needs -y (--yes) when not run on a terminal" in refused.stderr
    assert not any(_cancel_flag(alice, team, n) for n in ("a1", "a2", "b1"))

    result = jw(cluster, "alice", "cancel", "-l", "team=data", "-y", namespace=team)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "jobrun.jobwarden.dev/a1 cancel requested (was Running)",
        "jobrun.jobwarden.dev/a2 cancel requested (was Running)",
    ]
    assert "error: jobrun.jobwarden.dev/b1 denied: Error from server (Forbidden)" in result.stderr
    assert 'alice may not cancel JobRun "b1": only its creator (bob)' in result.stderr
    assert "error: 1 of 3 could not be cancelled" in result.stderr
    assert _cancel_flag(alice, team, "a1") and _cancel_flag(alice, team, "a2")
    assert not _cancel_flag(alice, team, "b1") and not _cancel_flag(alice, team, "a3")

    mine = jw(cluster, "bob", "cancel", "--all", "--mine", "-y", "-o", "json", namespace=team)
    assert json.loads(ok(mine)) == [
        {
            "kind": "JobRun",
            "namespace": team,
            "name": "b1",
            "result": "requested",
            "message": "was Running",
        }
    ]
    assert not _cancel_flag(alice, team, "a3")

    rest = jw(cluster, "alice", "cancel", "--all", "-y", namespace=team)
    assert ok(rest).strip() == "jobrun.jobwarden.dev/a3 cancel requested (was Running)"
    for name in ("a1", "a2", "a3", "b1"):
        runs.wait_phase(alice, team, name, "Cancelled", timeout=30)
    nothing = jw(cluster, "alice", "cancel", "--all", "-y", namespace=team)
    assert nothing.returncode == 0 and "No unfinished runs to cancel" in nothing.stderr


def test_a_cancel_denied_by_the_webhook_exits_non_zero(cluster: TestCluster, team: str) -> None:
    alice = cluster.kube("alice")
    runs.create(alice, team, _long("alices"))
    runs.wait_phase(alice, team, "alices", "Running")

    denied = jw(cluster, "bob", "cancel", "alices", namespace=team)
    assert denied.returncode == 1
    assert denied.stdout == ""
    assert denied.stderr.startswith("error: jobrun.jobwarden.dev/alices denied: ")
    assert 'admission webhook "policy.jobruns.jobwarden.dev" denied the request' in denied.stderr
    assert 'bob may not cancel JobRun "alices"' in denied.stderr
    assert not _cancel_flag(alice, team, "alices")

    # carol holds the verb cancel in this namespace
    ok(jw(cluster, "carol", "cancel", "alices", namespace=team))
    done = runs.wait_phase(alice, team, "alices", "Cancelled", timeout=30)
    assert done["status"]["cancellation"]["requestedBy"] == "carol"


def test_a_cancel_without_patch_rights_is_reported_with_rbacs_answer(
    cluster: TestCluster, operator: OperatorProcess, namespace: str
) -> None:
    grant(cluster, namespace, edit=("alice",), view=("bob",))
    alice = cluster.kube("alice")
    runs.create(alice, namespace, _long("guarded"))
    runs.wait_phase(alice, namespace, "guarded", "Running")

    table = by_name(parse_table(ok(jw(cluster, "bob", "active", namespace=namespace))))
    assert table["guarded"]["CANCEL"] == "no"
    page = ok(jw(cluster, "bob", "status", "guarded", namespace=namespace))
    assert re.search(r"Can cancel:\s+no \(no RBAC patch on jobruns\)", page)
    denied = jw(cluster, "bob", "cancel", "guarded", namespace=namespace)
    assert denied.returncode == 1
    assert "Error from server (Forbidden)" in denied.stderr
    assert 'User "bob" cannot patch resource "jobruns"' in denied.stderr
    assert not _cancel_flag(alice, namespace, "guarded")
    runs.cancel(alice, namespace, "guarded")


def test_dry_runs_change_nothing(cluster: TestCluster, team: str) -> None:
    alice = cluster.kube("alice")
    runs.create(alice, team, _long("keep"))
    runs.create(cluster.kube("bob"), team, _long("bobs"))
    runs.wait_phase(alice, team, "keep", "Running")

    client = jw(cluster, "alice", "cancel", "--all", "--dry-run", namespace=team)  # no -y needed
    assert client.returncode == 1  # bob's would be denied
    assert "jobrun.jobwarden.dev/keep would be cancelled (Running; allowed as creator)" in (
        client.stdout
    )
    assert "jobrun.jobwarden.dev/bobs would be denied: you may not cancel it" in client.stderr
    server = jw(
        cluster, "alice", "cancel", "keep", "--reason", "x", "--dry-run=server", namespace=team
    )
    assert "cancel requested (server dry run; was Running)" in ok(server)
    mine = jw(
        cluster, "alice", "cancel", "--all", "--mine", "--dry-run", "-o", "json", namespace=team
    )
    assert [o["result"] for o in json.loads(ok(mine))] == ["would-cancel"]

    stored = runs.get(alice, team, "keep")
    assert stored["spec"]["cancel"] is False
    assert "jobwarden.dev/cancel-reason" not in (stored["metadata"].get("annotations") or {})
    assert "cancellation" not in stored["status"]
    assert runs.phase(alice, team, "keep") == "Running"
    runs.cancel(alice, team, "keep")
    runs.cancel(cluster.kube("bob"), team, "bobs")


def _on_a_terminal(command: list[str], answer: bytes) -> tuple[int, str]:
    """Run `command` with a pseudo-terminal as stdin, answer the prompt, return the
    exit status and what it wrote to stderr."""
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    process = subprocess.Popen(
        command, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    os.close(terminal)
    try:
        assert process.stderr is not None
        seen = b""
        deadline = time.monotonic() + 30
        while b"[y/N]" not in seen and time.monotonic() < deadline:
            chunk = process.stderr.read1(1024)  # type: ignore[attr-defined]
            if not chunk:
                break
            seen += chunk
        os.write(controller, answer)
        _out, rest = process.communicate(timeout=30)
        return process.returncode, (seen + rest).decode()
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()


def test_on_a_terminal_cancel_asks_first(cluster: TestCluster, team: str) -> None:
    alice = cluster.kube("alice")
    runs.create(alice, team, _long("precious"))
    runs.wait_phase(alice, team, "precious", "Running")
    command = [str(PLUGIN), "--kubeconfig", str(cluster.kubeconfig("alice")), "-n", team]

    status, err = _on_a_terminal([*command, "cancel", "--all"], b"n\n")
    assert "jobrun.jobwarden.dev/precious  (Running" in err
    assert "This action cannot be undone. Cancel 1 object? [y/N]" in err
    assert status == 1 and "Nothing was cancelled." in err
    assert not _cancel_flag(alice, team, "precious")

    status, err = _on_a_terminal([*command, "cancel", "precious"], b"y\n")
    assert status == 0, err
    assert _cancel_flag(alice, team, "precious")


# -------------------------------------------------------- run, pause, resume, retry
def test_run_pause_resume_and_retry(cluster: TestCluster, team: str) -> None:
    alice = cluster.kube("alice")
    runs.create(
        alice, team, _scheduledjob("report", sim(run_seconds=0.3), concurrencyPolicy="Allow")
    )
    runs.create(alice, team, _scheduledjob("cleanup", sim(run_seconds=0.3)))

    created = ok(jw(cluster, "alice", "run", "report", "-o", "name", namespace=team)).strip()
    assert created.startswith("jobrun.jobwarden.dev/report-manual-")
    name = created.split("/", 1)[1]
    body = runs.get(alice, team, name)
    assert body["spec"]["scheduledJobRef"] == {"name": "report"}
    assert body["spec"]["trigger"] == "Manual"
    assert body["metadata"]["annotations"]["jobwarden.dev/triggered-by"] == "alice"
    runs.wait_phase(alice, team, name, "Succeeded", timeout=30)
    missing = jw(cluster, "alice", "run", "nope", namespace=team)
    assert missing.returncode == 1 and '"nope" not found' in missing.stderr

    paused = ok(jw(cluster, "alice", "pause", "report", namespace=team))
    assert paused.strip() == "scheduledjob.jobwarden.dev/report paused"
    job = runs.get(alice, team, "report", "ScheduledJob")
    assert job["spec"]["suspend"] is True
    wait_until(
        lambda: runs.phase(alice, team, "report", "ScheduledJob") == "Suspended",
        timeout=15,
        message="report Suspended",
    )
    by_label = ok(jw(cluster, "alice", "pause", "-l", "team=data", namespace=team))
    assert by_label.splitlines() == [
        "scheduledjob.jobwarden.dev/cleanup paused",
        "scheduledjob.jobwarden.dev/report unchanged (already paused)",
    ]
    resumed = ok(jw(cluster, "alice", "resume", "-l", "team=data", namespace=team))
    assert "scheduledjob.jobwarden.dev/report resumed" in resumed
    for job_name in ("report", "cleanup"):
        assert runs.get(alice, team, job_name, "ScheduledJob")["spec"]["suspend"] is False
    partly = jw(cluster, "alice", "resume", "report", "ghost", namespace=team)
    assert partly.returncode == 1
    assert "report unchanged (already resumed)" in partly.stdout
    assert "scheduledjob.jobwarden.dev/ghost not found" in partly.stderr

    again = ok(jw(cluster, "alice", "retry", name, "-o", "json", namespace=team))
    rerun = json.loads(again)
    assert rerun["metadata"]["name"].startswith("report-rerun-")
    assert rerun["spec"]["trigger"] == "Rerun" and rerun["spec"]["rerunOf"] == name
    assert rerun["spec"]["scheduledJobRef"] == {"name": "report"}
    runs.wait_phase(alice, team, rerun["metadata"]["name"], "Succeeded", timeout=30)

    runs.create(alice, team, _long("busy"))
    runs.wait_phase(alice, team, "busy", "Running")
    refused = jw(cluster, "alice", "retry", "busy", namespace=team)
    assert refused.returncode == 1 and "only a finished run can be retried" in refused.stderr
    runs.cancel(alice, team, "busy")
    runs.wait_phase(alice, team, "busy", "Cancelled", timeout=30)
    standalone = ok(jw(cluster, "alice", "retry", "busy", "-o", "name", namespace=team)).strip()
    copy = runs.get(alice, team, standalone.split("/", 1)[1])
    assert copy["spec"]["template"] == runs.get(alice, team, "busy")["spec"]["template"]
    assert copy["spec"]["cancel"] is False and copy["spec"]["rerunOf"] == "busy"
    runs.cancel(alice, team, copy["metadata"]["name"])


# ------------------------------------------------------------------------ history
def test_history_merges_runs_and_summaries_and_exports_csv(cluster: TestCluster, team: str) -> None:
    alice, admin = cluster.kube("alice"), cluster.kube()
    job = _scheduledjob(
        "nightly",
        sim(run_seconds=0.3),
        concurrencyPolicy="Allow",
        successfulRunsHistoryLimit=1,
        failedRunsHistoryLimit=5,
        retries=0,
    )
    runs.create(alice, team, job)
    wait_until(
        lambda: runs.phase(alice, team, "nightly", "ScheduledJob") == "Active",
        timeout=15,
        message="nightly Active",
    )
    # A run from ten days ago, already pruned (as an older operator would have left it).
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=10)
    stamp = old.strftime("%Y-%m-%dT%H:%M:%SZ")
    admin.merge_patch(
        resource_path(runs.API, "scheduledjobs", team, "nightly", "status"),
        {
            "status": {
                "history": [
                    {
                        "name": "nightly-1700000000",
                        "trigger": "Schedule",
                        "scheduledTime": stamp,
                        "startTime": stamp,
                        "completionTime": stamp,
                        "phase": "Failed",
                        "durationSeconds": 12.5,
                        "reason": "DeadlineExceeded",
                    }
                ]
            }
        },
    )
    # One cancelled run: queued behind a blocker, cancelled there.
    _quota(admin, team, 1)
    runs.create(alice, team, _long("blocker"))
    runs.wait_phase(alice, team, "blocker", "Running")
    queued = ok(jw(cluster, "alice", "run", "nightly", "-o", "name", namespace=team))
    cancelled = queued.strip().split("/", 1)[1]
    runs.wait_phase(alice, team, cancelled, "Queued")
    ok(jw(cluster, "alice", "cancel", cancelled, "--reason", "not today", namespace=team))
    runs.wait_phase(alice, team, cancelled, "Cancelled", timeout=30)
    runs.cancel(alice, team, "blocker")
    runs.wait_phase(alice, team, "blocker", "Cancelled", timeout=30)
    # Two successes: the older one is pruned into status.history (limit 1).
    succeeded = []
    for _ in range(2):
        made = ok(jw(cluster, "alice", "run", "nightly", "-o", "name", namespace=team))
        succeeded.append(made.strip().split("/", 1)[1])
        runs.wait_phase(alice, team, succeeded[-1], "Succeeded", timeout=30)
    wait_until(
        lambda: not admin.exists(runs.path(team, succeeded[0])),
        timeout=30,
        message="the older success pruned",
    )

    def history(*args: str) -> list[dict[str, str]]:
        text = ok(jw(cluster, "alice", "history", "nightly", "-o", "csv", *args, namespace=team))
        reader = csv.DictReader(io.StringIO(text, newline=""))
        assert reader.fieldnames is not None and reader.fieldnames[:5] == [
            "name",
            "namespace",
            "scheduledJob",
            "trigger",
            "phase",
        ]
        return list(reader)

    rows = history()
    assert [r["name"] for r in rows] == [*reversed(succeeded), cancelled, "nightly-1700000000"]
    newest, pruned, gone, oldest = rows
    assert (newest["source"], newest["phase"], newest["trigger"]) == (
        "JobRun",
        "Succeeded",
        "Manual",
    )
    assert newest["triggeredBy"] == "alice" and newest["attempts"] == "1"
    assert newest["exitCode"] == "0" and float(newest["durationSeconds"]) >= 0
    assert (pruned["source"], pruned["phase"]) == ("history", "Succeeded")
    assert pruned["startTime"] and pruned["completionTime"]
    assert (gone["phase"], gone["cancelledBy"], gone["cancelReason"]) == (
        "Cancelled",
        "alice",
        "not today",
    )
    assert gone["attempts"] == "0" and gone["startTime"] == ""
    assert (oldest["phase"], oldest["reason"], oldest["durationSeconds"]) == (
        "Failed",
        "DeadlineExceeded",
        "12.5",
    )
    assert oldest["startTime"] == stamp and oldest["namespace"] == team

    assert [r["name"] for r in history("--status", "Failed")] == ["nightly-1700000000"]
    assert [r["name"] for r in history("--status", "Cancelled,Failed")] == [
        cancelled,
        "nightly-1700000000",
    ]
    assert [r["name"] for r in history("--since", "7d")] == [*reversed(succeeded), cancelled]
    assert history("--status", "Failed", "--since", "7d") == []
    assert [r["name"] for r in history("--since", "7d", "--status", "Succeeded")] == list(
        reversed(succeeded)
    )
    assert len(history("--limit", "2")) == 2

    table = parse_table(ok(jw(cluster, "alice", "history", "nightly", namespace=team)))
    assert [r["NAME"] for r in table] == [r["name"] for r in rows]
    assert table[-1]["PHASE"] == "Failed" and table[-1]["DURATION"] == "12s"
    wide = parse_table(ok(jw(cluster, "alice", "history", "nightly", "-o", "wide", namespace=team)))
    assert [r["SOURCE"] for r in wide] == ["JobRun", "history", "JobRun", "history"]
    as_json = json.loads(
        ok(jw(cluster, "alice", "history", "nightly", "-o", "json", namespace=team))
    )
    assert as_json[0]["durationSeconds"] is not None and as_json[-1]["attempts"] is None
    missing = jw(cluster, "alice", "history", "nope", namespace=team)
    assert missing.returncode == 1 and '"nope" not found' in missing.stderr


# -------------------------------------------------------------------------- quota
def test_quota_per_namespace_and_everywhere(
    cluster: TestCluster, operator: OperatorProcess, namespace: str
) -> None:
    admin = cluster.kube()
    _quota(admin, namespace, 2)
    for name in ("q1", "q2", "q3"):
        runs.create(admin, namespace, _long(name, priority="High" if name == "q3" else "Low"))
    wait_until(
        lambda: runs.get(admin, namespace, "q3")["status"].get("phase") == "Queued",
        timeout=15,
        message="q3 queued",
    )
    quota_path = resource_path(runs.API, "workerquotas", namespace, "quota")
    wait_until(
        lambda: admin.get(quota_path).get("status", {}).get("queued") == 1,
        timeout=15,
        message="the quota's status counting 2 running, 1 queued",
    )

    rows = parse_table(ok(jw(cluster, "admin", "quota", namespace=namespace)))
    assert rows == [
        {
            "NAME": "quota",
            "MAX": "2",
            "RUNNING": "2",
            "QUEUED": "1",
            "HIGH": "1",
            "MEDIUM": "0",
            "LOW": "0",
        }
    ]
    everywhere = parse_table(ok(jw(cluster, "admin", "quota", "-A")))
    assert {"NAMESPACE": namespace, **rows[0]} in everywhere
    records = json.loads(ok(jw(cluster, "admin", "quota", "-A", "-o", "json")))
    assert any(r["namespace"] == namespace and r["maxRunning"] == 2 for r in records)

    default = parse_table(ok(jw(cluster, "admin", "quota", "-n", "default")))
    assert default[0]["NAME"] == "(default)" and default[0]["MAX"] == "10"
    for name in ("q1", "q2", "q3"):
        runs.cancel(admin, namespace, name)
