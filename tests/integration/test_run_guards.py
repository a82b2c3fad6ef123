"""Stop after repeated failures, deadlines and queue start estimates on the real
control plane (issue 22, points 4, 5 and 6): the pause is in status only (the spec's
generation never moves), with an Event, an audit line and metrics, and `kubectl
jobwarden resume` clears it with an annotation; a run not finished `deadlineSeconds`
after its fire gets DeadlineMissed (and its ScheduledJob too), a Warning Event and a
count, and goes on; queued runs show when they should start."""

from __future__ import annotations

import datetime
import re
import subprocess
import urllib.request

import pytest

from devcluster.install import OperatorProcess
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.dashboard import start_dashboard, stop_dashboard
from tests.support.kube import JSON, Kube
from tests.support.plugin import run_plugin
from tests.support.runs import sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster
METRICS_LINE = re.compile(r"metrics served on (http://[0-9.]+:\d+/metrics)")


@pytest.fixture
def kube(cluster: TestCluster, operator: OperatorProcess) -> Kube:
    return cluster.kube()


@pytest.fixture
def team(cluster: TestCluster, operator: OperatorProcess, namespace: str) -> str:
    """The test namespace, where group team-a (alice) has the chart's jobwarden-edit."""
    cluster.kube().create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
        {
            "metadata": {"name": "team-a-edit"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "jobwarden-edit",
            },
            "subjects": [
                {"kind": "Group", "name": "team-a", "apiGroup": "rbac.authorization.k8s.io"}
            ],
        },
    )

    def allowed() -> bool:
        review = cluster.kube("alice").create(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            {
                "spec": {
                    "resourceAttributes": {
                        "namespace": namespace,
                        "verb": "patch",
                        "group": "jobwarden.dev",
                        "resource": "scheduledjobs",
                    }
                }
            },
        )
        return bool(review["status"].get("allowed"))

    wait_until(allowed, timeout=30, message="alice may patch ScheduledJobs")
    return namespace


def _plugin(cluster: TestCluster, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_plugin(cluster, namespace, *args, identity="alice")


def _metric(operator: OperatorProcess, name: str, **labels: str) -> float:
    """One sample from the running operator's /metrics (0 if absent)."""
    urls = METRICS_LINE.findall(operator.log_path.read_text(errors="replace"))
    assert urls, "the operator logged no metrics address"
    with urllib.request.urlopen(urls[-1], timeout=10) as response:
        text = response.read().decode()
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{"):
            body = line[len(name) + 1 : line.index("}")]
            if ",".join(sorted(body.split(","))) == wanted:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def _events(kube: Kube, namespace: str, kind: str, name: str) -> list[JSON]:
    items: list[JSON] = kube.get(
        f"/api/v1/namespaces/{namespace}/events",
        fieldSelector=f"involvedObject.kind={kind},involvedObject.name={name}",
    )["items"]
    return items


def _manual(namespace: str, job: str, name: str) -> JSON:
    return {
        "apiVersion": runs.API,
        "kind": "JobRun",
        "metadata": {"name": name},
        "spec": {"scheduledJobRef": {"name": job}, "trigger": "Manual"},
    }


def test_repeated_failures_pause_the_job_in_status_and_resume_clears_it(
    cluster: TestCluster, kube: Kube, operator: OperatorProcess, team: str
) -> None:
    alice = cluster.kube("alice")
    runs.create(
        alice,
        team,
        runs.scheduledjob(
            "flaky",
            sim(run_seconds=0.5, exit_code=1),
            schedule="*/2 * * * *",
            retries=0,
            pauseAfterConsecutiveFailures=2,
        ),
    )
    before = _metric(operator, "jobwarden_scheduledjob_failure_pauses_total", namespace=team)
    log_offset = operator.log_size()
    for name in ("flaky-a", "flaky-b"):
        runs.create(alice, team, _manual(team, "flaky", name))
        runs.wait_phase(alice, team, name, "Failed")

    def paused() -> JSON | None:
        job = runs.get(alice, team, "flaky", "ScheduledJob")
        return job if job.get("status", {}).get("failurePause") else None

    job = wait_until(paused, timeout=30, message="the job paused after two failures")
    status = job["status"]
    assert status["phase"] == "Suspended" and status["consecutiveFailures"] == 2
    assert status["failurePause"]["failures"] == 2
    assert status["failurePause"]["lastFailedRun"] == "flaky-b"
    assert "nextScheduleTime" not in status
    suspended = {c["type"]: c for c in status["conditions"]}["Suspended"]
    assert (suspended["status"], suspended["reason"]) == ("True", "ConsecutiveFailures")
    # Never the user's spec: its generation is still the one it was created with.
    assert job["metadata"]["generation"] == 1
    assert not job["spec"].get("suspend")
    # Events are posted after the status write: wait for it.
    reasons = wait_until(
        lambda: {
            e["reason"]: e
            for e in _events(kube, team, "ScheduledJob", "flaky")
            if e["reason"] == "PausedAfterFailures"
        },
        timeout=10,
        message="the PausedAfterFailures Event",
    )
    assert reasons["PausedAfterFailures"]["type"] == "Warning"
    operator.wait_log('"action": "paused-after-failures"', after=log_offset, timeout=10)
    assert wait_until(
        lambda: (
            _metric(operator, "jobwarden_scheduledjob_failure_pauses_total", namespace=team)
            == before + 1
        ),
        timeout=10,
        message="the pause counted",
    )
    assert _metric(
        operator,
        "jobwarden_scheduledjob_paused_after_failures",
        namespace=team,
        scheduledjob="flaky",
    ) == pytest.approx(1.0)
    next_fires = _plugin(cluster, team, "next", "flaky", "--count", "1")
    assert "paused after 2 failed runs in a row" in next_fires.stdout, next_fires.stdout

    # A manual run checks a fix while the job is paused after failures (a job its user
    # paused with spec.suspend refuses it: test_webhooks); the schedule stays paused.
    runs.create(alice, team, _manual(team, "flaky", "flaky-check"))
    runs.wait_phase(alice, team, "flaky-check", "Failed")
    assert runs.get(alice, team, "flaky", "ScheduledJob")["status"]["phase"] == "Suspended"

    # Resume: an annotation naming the pause, stamped with who; spec untouched.
    resumed = _plugin(cluster, team, "resume", "flaky")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed (after a pause for failures)" in resumed.stdout

    def active() -> JSON | None:
        job = runs.get(alice, team, "flaky", "ScheduledJob")
        return job if job.get("status", {}).get("phase") == "Active" else None

    job = wait_until(active, timeout=30, message="the job active again")
    assert "failurePause" not in job["status"]
    assert job["status"]["failuresCountedSince"]
    annotations = job["metadata"]["annotations"]
    assert annotations["jobwarden.dev/resume"] == status["failurePause"]["since"]
    assert annotations["jobwarden.dev/resume-requested-by"] == "alice"
    assert job["metadata"]["generation"] == 1
    assert job["status"]["nextScheduleTime"]
    assert "ResumedAfterFailures" in {
        e["reason"] for e in _events(kube, team, "ScheduledJob", "flaky")
    }
    operator.wait_log('"action": "resumed-after-failures"', after=log_offset, timeout=10)
    # One more failure does not pause it again: the count restarted at the resume.
    runs.create(alice, team, _manual(team, "flaky", "flaky-c"))
    runs.wait_phase(alice, team, "flaky-c", "Failed")
    wait_until(
        lambda: (
            runs.get(alice, team, "flaky", "ScheduledJob")["status"].get("consecutiveFailures") == 4
        ),
        timeout=30,
        message="the fourth failure recorded",
    )
    assert runs.get(alice, team, "flaky", "ScheduledJob")["status"]["phase"] == "Active"


def test_a_run_late_for_its_deadline_is_flagged_and_goes_on(
    cluster: TestCluster, kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    before = _metric(
        operator, "jobwarden_deadline_missed_total", namespace=namespace, kind="JobRun"
    )
    runs.create(
        kube,
        namespace,
        runs.scheduledjob("report", sim(run_seconds=20), schedule="* * * * *", deadlineSeconds=8),
    )

    def fired() -> JSON | None:
        found = kube.get(runs.path(namespace), labelSelector="jobwarden.dev/scheduledjob=report")
        return found["items"][0] if found["items"] else None

    run = wait_until(fired, timeout=90, message="the first fire's run")
    name = run["metadata"]["name"]
    scheduled = datetime.datetime.fromisoformat(run["spec"]["scheduledTime"].replace("Z", "+00:00"))

    def flagged() -> JSON | None:
        body = runs.get(kube, namespace, name)
        conditions = {c["type"]: c for c in body.get("status", {}).get("conditions", [])}
        late = conditions.get("DeadlineMissed")
        return body if late and late["status"] == "True" else None

    body = wait_until(flagged, timeout=30, message=f"{name}: DeadlineMissed")
    late = {c["type"]: c for c in body["status"]["conditions"]}["DeadlineMissed"]
    flagged_at = datetime.datetime.fromisoformat(late["lastTransitionTime"].replace("Z", "+00:00"))
    assert flagged_at >= scheduled + datetime.timedelta(seconds=8)
    assert flagged_at <= scheduled + datetime.timedelta(seconds=12)
    assert "not finished 8 s after its scheduled time" in late["message"]
    assert body["status"]["phase"] == "Running"  # not stopped
    warnings = [
        e for e in _events(kube, namespace, "JobRun", name) if e["reason"] == "DeadlineMissed"
    ]
    assert warnings and warnings[0]["type"] == "Warning"

    def job_flagged() -> JSON | None:
        job = runs.get(kube, namespace, "report", "ScheduledJob")
        conditions = {c["type"]: c for c in job.get("status", {}).get("conditions", [])}
        flag = conditions.get("DeadlineMissed")
        return flag if flag and flag["status"] == "True" else None

    flag = wait_until(job_flagged, timeout=30, message="the ScheduledJob's DeadlineMissed")
    assert name in flag["message"]
    assert wait_until(
        lambda: (
            _metric(operator, "jobwarden_deadline_missed_total", namespace=namespace, kind="JobRun")
            >= before + 1
        ),
        timeout=10,
        message="jobwarden_deadline_missed_total counted",
    )
    done = runs.wait_phase(kube, namespace, name, "Succeeded", timeout=60)
    assert {c["type"]: c for c in done["status"]["conditions"]}["DeadlineMissed"][
        "status"
    ] == "True"
    assert done["metadata"]["generation"] == 1  # flagged in status only


def test_queued_runs_show_when_they_should_start(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    """`status.queue.estimatedStartTime`, in `kubectl jobwarden active` and on the
    dashboard, once the namespace has freed a quota's worth of slots."""
    runs.create(
        kube,
        namespace,
        {
            "apiVersion": runs.API,
            "kind": "WorkerQuota",
            "metadata": {"name": "quota"},
            "spec": {"maxRunning": 2},
        },
    )
    names = [f"q-{i:02d}" for i in range(16)]
    for name in names:
        runs.create(kube, namespace, runs.jobrun(name, sim(run_seconds=4)))

    def estimated() -> list[JSON]:
        items = kube.get(runs.path(namespace))["items"]
        return [
            r
            for r in items
            if r.get("status", {}).get("phase") == "Queued"
            and r["status"].get("queue", {}).get("estimatedStartTime")
        ]

    queued = wait_until(estimated, timeout=90, message="queued runs with a start estimate")
    for run in queued:
        queue = run["status"]["queue"]
        since = datetime.datetime.fromisoformat(queue["since"].replace("Z", "+00:00"))
        expected = datetime.datetime.fromisoformat(
            queue["estimatedStartTime"].replace("Z", "+00:00")
        )
        assert expected > since, queue

    def active_with_starts() -> list[list[str]] | None:
        done = run_plugin(cluster, namespace, "active")
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        if not lines or "STARTS" not in lines[0].split():
            return None
        cuts = [m.start() for m in re.finditer(r"\S+", lines[0])] + [None]
        heads = lines[0].split()
        rows = [
            {heads[i]: line[cuts[i] : cuts[i + 1]].strip() for i in range(len(heads))}
            for line in lines[1:]
        ]
        starts = [row for row in rows if row["STARTS"].startswith("~")]
        return [[row["NAME"], row["PHASE"], row["STARTS"]] for row in starts] or None

    rows = wait_until(active_with_starts, timeout=60, message="active shows a start estimate")
    assert all(row[1] == "Queued" for row in rows), rows

    dashboard = start_dashboard(cluster, "admin", namespace)
    try:

        def page() -> str | None:
            with urllib.request.urlopen(dashboard.page_url("runs"), timeout=10) as response:
                text = str(response.read().decode())
            return text if "starts ≈" in text else None

        html = wait_until(page, timeout=60, message="the runs page with a start estimate")
    finally:
        stop_dashboard(dashboard)
    assert "QuotaExhausted" in html
    for name in names:
        runs.wait_phase(kube, namespace, name, "Succeeded", timeout=180)
