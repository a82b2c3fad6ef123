"""The run page's worker log (issue 23) with real containers on the real node (issue
16), in headless Chromium as alice, who may read pods/log in her namespace:

- a running container's log followed, its lines appearing while it still runs;
- the tail shown once the worker has ended (after a cancel, and for a finished run);
- the export worker's log;
- switching between attempts;
- the plain "cannot be read" message for a container still waiting to start (a
  Secret missing from env), and for a simulated pod (kwok serves no logs);

and the same text through `kubectl logs`, as the dashboard reads it (`pods/log`).
"""

from __future__ import annotations

import re
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from devcluster.install import OperatorProcess
from jobwarden.api.paths import resource_path
from jobwarden.dashboard.server import log_removed
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.dashboard import (
    GROUP,
    Dashboard,
    axe,
    grant,
    new_namespace,
    open_live,
    start_dashboard,
    stop_dashboard,
    wait_can,
)
from tests.support.kube import JSON, KubeError
from tests.support.realnode import RealNodeHandle, RealNodeService
from tests.support.runs import sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster

READ = ["get", "list", "watch"]
RULES: list[JSON] = [
    {
        "apiGroups": [GROUP],
        "resources": ["scheduledjobs", "jobruns", "exports"],
        "verbs": [*READ, "create", "patch"],
    },
    {"apiGroups": [GROUP], "resources": ["workerquotas"], "verbs": READ},
    {"apiGroups": [""], "resources": ["events", "pods"], "verbs": READ},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]
#: Slow enough to watch: a line every 0.3 s, a goodbye on SIGTERM.
TICKER = textwrap.dedent(
    """
    import signal, sys, time
    def bye(*_):
        print("got SIGTERM, bye", flush=True)
        sys.exit(143)
    signal.signal(signal.SIGTERM, bye)
    for i in range(1, 2001):
        print(f"tick {i}", flush=True)
        time.sleep(0.3)
    """
)
#: Attempt 1 fails, attempt 2 succeeds; each says which it is.
BY_ATTEMPT = textwrap.dedent(
    """
    import os, sys
    attempt = os.environ["JOBWARDEN_ATTEMPT"]
    print(f"this is attempt {attempt}", flush=True)
    sys.exit(1 if attempt == "1" else 0)
    """
)


class Place:
    """alice's namespace and the clients of the module."""

    def __init__(self, cluster: TestCluster, node: RealNodeHandle) -> None:
        self.cluster = cluster
        self.node = node
        self.namespace = new_namespace(cluster, "rlogs", uuid.uuid4().hex[:8])
        self.admin = cluster.kube()
        self.alice = cluster.kube("alice")

    def jobrun(self, name: str, script: str, **spec: Any) -> JSON:
        """A JobRun whose worker runs `script` in jobwarden's image on the real node."""
        container: JSON = {
            "name": "job",
            "image": self.node.image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["python", "-c", script],
        }
        body = {
            "apiVersion": runs.API,
            "kind": "JobRun",
            "metadata": {"name": name},
            "spec": {
                "template": {"spec": {**self.node.placement(), "containers": [container]}},
                **spec,
            },
        }
        return runs.create(self.alice, self.namespace, body)

    def wait(self, name: str, *phases: str, kind: str = "JobRun", timeout: float = 90) -> JSON:
        return runs.wait_phase(self.admin, self.namespace, name, phases, kind=kind, timeout=timeout)

    def url(self, dashboard: Dashboard, kind: str, name: str) -> str:
        return dashboard.page_url(f"ns/{self.namespace}/{kind}/{name}")

    def kubectl_logs(self, pod: str) -> str:
        return self.cluster.kubectl("logs", "-n", self.namespace, pod, identity="alice").stdout


@pytest.fixture(scope="module")
def place(
    cluster: TestCluster, operator: OperatorProcess, real_node_service: RealNodeService
) -> Iterator[Place]:
    node = real_node_service.ensure_running()
    where = Place(cluster, node)
    try:
        grant(cluster, where.namespace, "logs", RULES, "alice")
        wait_can(cluster, where.namespace, "alice", "get", "pods/log")
        yield where
    finally:
        where.admin.delete(f"/api/v1/namespaces/{where.namespace}")


@pytest.fixture(scope="module")
def alice(cluster: TestCluster, place: Place) -> Iterator[Dashboard]:
    dashboard = start_dashboard(cluster, "alice", place.namespace)
    yield dashboard
    stop_dashboard(dashboard)


def log_text(page: Page) -> str:
    text: str = page.locator("#log-text").inner_text()
    return text


# ------------------------------------------------------------------ follow, tail
def test_a_running_workers_log_is_followed_then_its_tail_shown_when_it_ends(
    page: Page, place: Place, alice: Dashboard
) -> None:
    place.jobrun("ticker", TICKER, retries=0, cancelGracePeriodSeconds=10)
    place.wait("ticker", "Running")
    open_live(page, place.url(alice, "jobruns", "ticker"))
    logs = page.locator("#logs")
    expect(logs).to_have_attribute("data-state", "following")
    expect(page.locator("#log-state")).to_contain_text(
        "Following the log of attempt 1 (pod ticker-1) as it is written."
    )
    expect(page.locator("#log-text")).to_contain_text("tick 1")

    # Lines keep arriving while the worker still runs (no reload).
    def newest() -> int:
        ticks = [line for line in log_text(page).splitlines() if line.startswith("tick ")]
        return int(ticks[-1].split()[1]) if ticks else 0

    seen = newest()
    wait_until(lambda: newest() >= seen + 5, timeout=30, message="5 more ticks shown")
    assert runs.phase(place.admin, place.namespace, "ticker") == "Running"
    assert logs.get_attribute("data-state") == "following"
    axe(page, "a run page following a real worker's log")

    # It ends (a cancel: SIGTERM): the stream ends with the worker's last words. The
    # page then shows the log's tail, or, once the kubelet has removed the container
    # (a cancel deletes the pod: its container goes once it stopped, and then the pod),
    # keeps the lines it followed and says the log is gone: which one depends on the
    # kubelet's timing (0.3 s from stop to removal was seen under load).
    runs.cancel(place.alice, place.namespace, "ticker")
    done = place.wait("ticker", "Cancelled", "Failed", "Succeeded")
    assert done["status"]["phase"] == "Cancelled", done["status"]
    expect(logs).to_have_attribute("data-state", re.compile("^(tail|gone)$"))
    expect(page.locator("#log-text")).to_contain_text("got SIGTERM, bye")
    if logs.get_attribute("data-state") == "tail":
        expect(page.locator("#log-state")).to_contain_text(
            "The worker of attempt 1 (pod ticker-1) has ended: its last"
        )
    else:  # its container removed, or already the pod itself (then the API says 404)
        expect(page.locator("#log-state")).to_contain_text(
            re.compile(
                "The worker of pod ticker-1 has ended and its node removed its container"
                "|The worker pod ticker-1 is gone, and its log with it"
            )
        )
        expect(page.locator("#log-state")).to_contain_text(
            "The lines above were followed while it ran."
        )
    shown = log_text(page)
    assert shown.startswith("tick 1\n"), shown[:200]
    assert "unable to retrieve container logs" not in shown, shown[-300:]

    # Once neither the pod nor its container's log can be read, the page says so
    # (never the kubelet's words as if they were the log).
    log_path = resource_path("v1", "pods", place.namespace, "ticker-1") + "/log"

    def unreadable() -> bool:
        try:
            text = place.admin.get_text(log_path)
        except KubeError:
            return True
        return log_removed(text)

    wait_until(unreadable, timeout=60, message="the cancelled worker's log gone")
    open_live(page, place.url(alice, "jobruns", "ticker"))
    expect(logs).to_have_attribute("data-state", "gone")
    expect(page.locator("#log-text")).to_have_text("")


def test_a_finished_runs_page_shows_its_tail(page: Page, place: Place, alice: Dashboard) -> None:
    place.jobrun("short", "print('\\n'.join(f'row {i}' for i in range(1, 1501)))", retries=0)
    done = place.wait("short", "Succeeded", "Failed")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    open_live(page, place.url(alice, "jobruns", "short"))
    expect(page.locator("#logs")).to_have_attribute("data-state", "tail")
    # The last 1000 lines (the dashboard's tail), ending with the last one written.
    expect(page.locator("#log-state")).to_contain_text(
        "The worker of attempt 1 (pod short-1) has ended: its last 1000 lines."
    )
    lines = log_text(page).splitlines()
    assert lines[0] == "row 501" and lines[-1] == "row 1500", (lines[:2], lines[-2:])
    assert place.kubectl_logs("short-1").splitlines()[-1] == "row 1500"


def test_the_export_workers_log(page: Page, place: Place, alice: Dashboard) -> None:
    place.admin.create(
        resource_path("v1", "configmaps", place.namespace),
        {"metadata": {"name": "empty-db"}, "data": {"db.sqlite": ""}},
    )
    export = {
        "apiVersion": runs.API,
        "kind": "Export",
        "metadata": {"name": "numbers"},
        "spec": {
            "source": {"sqlite": {"volume": "db", "path": "db.sqlite"}},
            "query": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            "WHERE i < 250) SELECT i FROM n",
            "format": "csv",
            "destination": {"volume": "out", "path": "numbers.csv"},
            "volumes": [
                {"name": "db", "configMap": {"name": "empty-db"}},
                {"name": "out", "emptyDir": {}},
            ],
            "worker": {
                **place.node.placement(),
                "image": place.node.image,
                "imagePullPolicy": "IfNotPresent",
            },
        },
    }
    runs.create(place.alice, place.namespace, export)
    done = place.wait("numbers", "Succeeded", "Failed", "Cancelled", kind="Export")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    open_live(page, place.url(alice, "exports", "numbers"))
    expect(page.locator("#logs")).to_have_attribute("data-state", "tail")
    expect(page.locator("#log-text")).to_contain_text("artifact: ")
    expect(page.locator("#log-text")).to_contain_text('"rows": 250')
    assert '"rows": 250' in place.kubectl_logs("numbers-1")


# ------------------------------------------------------------------ attempts
def test_switching_between_attempts(page: Page, place: Place, alice: Dashboard) -> None:
    place.jobrun(
        "twice",
        BY_ATTEMPT,
        retries=1,
        retryBackoff={"initialSeconds": 1, "factor": 1, "maxSeconds": 1},
    )
    done = place.wait("twice", "Succeeded", "Failed")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert [a["podName"] for a in done["status"]["attempts"]] == ["twice-1", "twice-2"]
    open_live(page, place.url(alice, "jobruns", "twice"))
    select = page.get_by_label("Attempt", exact=True)
    expect(select).to_have_value("2")  # the latest first
    expect(page.locator("#log-text")).to_have_text("this is attempt 2")
    select.select_option("1")
    expect(page.locator("#log-state")).to_contain_text("attempt 1 (pod twice-1) has ended")
    expect(page.locator("#log-text")).to_have_text("this is attempt 1")
    select.select_option("2")
    expect(page.locator("#log-text")).to_have_text("this is attempt 2")


# ---------------------------------------------------------------- cannot be read
def test_a_log_that_cannot_be_read_says_why(
    page: Page, place: Place, alice: Dashboard, cluster: TestCluster
) -> None:
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "token"}}}]
    container: JSON = {
        "name": "job",
        "image": place.node.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-c", "print('never')"],
        "env": env,
    }
    body = {
        "apiVersion": runs.API,
        "kind": "JobRun",
        "metadata": {"name": "waiting"},
        "spec": {"template": {"spec": {**place.node.placement(), "containers": [container]}}},
    }
    runs.create(place.alice, place.namespace, body)

    def config_error() -> JSON | None:
        status = runs.get(place.admin, place.namespace, "waiting").get("status") or {}
        return status if status.get("reason") == "CreateContainerConfigError" else None

    wait_until(config_error, timeout=60, message="waiting shows CreateContainerConfigError")
    open_live(page, place.url(alice, "jobruns", "waiting"))
    logs = page.locator("#logs")
    expect(logs).to_have_attribute("data-state", "unavailable")
    state = page.locator("#log-state")
    expect(state).to_contain_text("The log of waiting-1 cannot be read: ")
    expect(state).to_contain_text('container "job" in pod "waiting-1" is waiting to start')
    axe(page, "a run page whose worker's log cannot be read")
    shown = cluster.kubectl(
        "logs", "-n", place.namespace, "waiting-1", identity="alice", check=False
    )
    assert shown.returncode != 0 and "is waiting to start" in shown.stderr, shown.stderr
    runs.cancel(place.alice, place.namespace, "waiting")

    # A simulated pod: kwok's own answer, from this machine (no DNS lookup).
    runs.create(place.alice, place.namespace, runs.jobrun("simulated", sim(run_seconds=600)))
    place.wait("simulated", "Running")
    open_live(page, place.url(alice, "jobruns", "simulated"))
    expect(logs).to_have_attribute("data-state", "unavailable")
    expect(state).to_contain_text("The log of simulated-1 cannot be read: ")
    expect(state).to_contain_text('no logs found for container "main"')
    runs.cancel(place.alice, place.namespace, "simulated")


def test_kubectl_and_the_dashboard_read_through_the_same_rights(
    place: Place, cluster: TestCluster
) -> None:
    """bob may not read pods/log in alice's namespace: kubectl says so, as the page
    does (test_dashboard_oncall's forbidden state)."""
    # RBAC answers before the pod is looked up: any name is refused the same way.
    denied = cluster.kubectl("logs", "-n", place.namespace, "any-1", identity="bob", check=False)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr, denied.stderr
