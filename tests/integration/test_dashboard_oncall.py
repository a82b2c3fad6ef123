"""The dashboard an on-call engineer needs (issue 23), in headless Chromium against
the local cluster, as the test identities: actions where the rows are (Re-run, Run
now / Pause / Resume, Cancel selected and Cancel all matching with per-object
results, buttons only where RBAC and the webhook allow), the worker's log, the charts
(runs finished per minute, a run's timeline, a job's durations), the New scheduled job
form (server-side dry run, next 5 fires, YAML), times in the browser's and the job's
zone, state badges, paging; and axe-core on every new page.

Namespaces: `oc-*` (alice and bob edit, carol also holds execute-sensitive; one
worker), `bulk-*` for the cancels of many, `view-*` where bob may only read, `logs-*`
where alice may read pods/log, `pages-*` with more runs than a page.

The log tests here cover what needs no kubelet: the local cluster's kwok nodes serve
no logs (the API server would look the kwok node's name up in DNS to ask its kubelet,
which the tests must not cause), so no test reads the log of a pod on a kwok node.
"""

from __future__ import annotations

import datetime
import re
import uuid
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from playwright.sync_api import BrowserContext, Locator, Page, expect

from devcluster.install import OperatorProcess
from jobwarden.api.paths import resource_path
from jobwarden.core.scheduling import parse_schedule
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.dashboard import (
    GROUP,
    Dashboard,
    axe,
    grant,
    new_namespace,
    open_live,
    shot,
    start_dashboard,
    stop_dashboard,
    wait_can,
)
from tests.support.kube import JSON, Kube
from tests.support.runs import jobrun, pod_template, sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster

READ = ["get", "list", "watch"]
EDIT_RULES: list[JSON] = [
    {
        "apiGroups": [GROUP],
        "resources": ["scheduledjobs", "jobruns", "exports"],
        "verbs": [*READ, "create", "patch"],
    },
    {"apiGroups": [GROUP], "resources": ["workerquotas"], "verbs": READ},
    {"apiGroups": [""], "resources": ["events", "pods"], "verbs": READ},
]
VIEW_RULES: list[JSON] = [
    {
        "apiGroups": [GROUP],
        "resources": ["scheduledjobs", "jobruns", "exports", "workerquotas"],
        "verbs": READ,
    },
]
SENSITIVE_RULES: list[JSON] = [
    {"apiGroups": [GROUP], "resources": ["scheduledjobs"], "verbs": ["execute-sensitive"]},
]
LOG_RULES: list[JSON] = [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]
RELATIVE = re.compile(r"\((now|in \d+ (s|min|h|d)|\d+ (s|min|h|d) ago)\)$")
UTC = datetime.UTC


def _long(name: str, **spec: Any) -> JSON:
    """A run that works for ten minutes and exits at once on SIGTERM."""
    return jobrun(name, sim(run_seconds=600, sigterm_exit_seconds=0.2), **spec)


def _job(name: str, **spec: Any) -> JSON:
    body: JSON = {
        "apiVersion": runs.API,
        "kind": "ScheduledJob",
        "metadata": {"name": name},
        "spec": {"schedule": "0 0 1 1 *", "template": pod_template(sim(run_seconds=0.2))},
    }
    body["spec"].update(spec)
    return body


def _manual(name: str, job: str) -> JSON:
    return {
        "apiVersion": runs.API,
        "kind": "JobRun",
        "metadata": {"name": name},
        "spec": {"scheduledJobRef": {"name": job}, "trigger": "Manual"},
    }


def _quota(admin: Kube, namespace: str, workers: int) -> None:
    admin.create(
        resource_path(runs.API, "workerquotas", namespace),
        {
            "apiVersion": runs.API,
            "kind": "WorkerQuota",
            "metadata": {"name": "quota"},
            "spec": {"maxRunning": workers},
        },
    )
    wait_until(
        lambda: (
            admin.get(resource_path(runs.API, "workerquotas", namespace, "quota"))
            .get("status", {})
            .get("observedGeneration")
            == 1
        ),
        timeout=30,
        message="the operator observed the WorkerQuota",
    )


class Place:
    """A namespace of the module and its clients."""

    def __init__(self, cluster: TestCluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.admin = cluster.kube()
        self.alice = cluster.kube("alice")
        self.bob = cluster.kube("bob")

    def create(self, body: JSON, kube: Kube | None = None) -> JSON:
        return runs.create(kube or self.alice, self.namespace, body)

    def get(self, name: str, kind: str = "JobRun") -> JSON:
        return runs.get(self.admin, self.namespace, name, kind)

    def wait(self, name: str, *phases: str, kind: str = "JobRun", timeout: float = 60) -> JSON:
        return runs.wait_phase(self.admin, self.namespace, name, phases, kind=kind, timeout=timeout)

    def all_runs(self) -> list[JSON]:
        items: list[JSON] = self.admin.get(runs.path(self.namespace))["items"]
        return items


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def oc(cluster: TestCluster, operator: OperatorProcess) -> Iterator[Place]:
    """alice's and bob's team: one worker; `nightly` (Europe/Berlin) with two finished
    manual runs, `secret` (sensitive), `broken` Failed, `flaky` (fails once, then
    succeeds after a one-second backoff), `stopped` cancelled while it ran, `busy`
    Running, `waiting` Queued."""
    namespace = new_namespace(cluster, "oc", uuid.uuid4().hex[:8])
    place = Place(cluster, namespace)
    try:
        grant(cluster, namespace, "edit", EDIT_RULES, "alice", "bob", "carol")
        grant(cluster, namespace, "sensitive", SENSITIVE_RULES, "carol")
        for user in ("alice", "bob", "carol"):
            wait_can(cluster, namespace, user, "patch", f"jobruns.{GROUP}")
        _quota(place.admin, namespace, 1)
        place.create(_job("nightly", timeZone="Europe/Berlin"))
        place.create(_job("secret", sensitive=True))
        for name in ("nightly-manual-1", "nightly-manual-2"):
            place.create(_manual(name, "nightly"))
            place.wait(name, "Succeeded")
        place.create(jobrun("broken", sim(run_seconds=0.2, exit_code=3), retries=0))
        place.wait("broken", "Failed")
        place.create(
            jobrun(
                "flaky",
                sim(run_seconds=0.5, exit_codes="1,0"),
                retries=1,
                retryBackoff={"initialSeconds": 1, "factor": 1, "maxSeconds": 1},
            )
        )
        place.wait("flaky", "Succeeded", timeout=90)
        place.create(_long("stopped", cancelGracePeriodSeconds=10))
        place.wait("stopped", "Running")
        runs.cancel(place.alice, namespace, "stopped")
        place.wait("stopped", "Cancelled")
        place.create(_long("busy"))
        place.wait("busy", "Running")
        place.create(_long("waiting"))
        place.wait("waiting", "Queued")
        yield place
    finally:
        place.admin.delete(f"/api/v1/namespaces/{namespace}")


@pytest.fixture(scope="module")
def alice(cluster: TestCluster, oc: Place) -> Iterator[Dashboard]:
    dashboard = start_dashboard(cluster, "alice", oc.namespace)
    yield dashboard
    stop_dashboard(dashboard)


def _url(dashboard: Dashboard, place: Place, path: str) -> str:
    joiner = "&" if "?" in path else "?"
    if path.split("?", maxsplit=1)[0] in ("", "runs", "scheduledjobs", "new"):
        return dashboard.page_url(f"{path}{joiner}namespace={place.namespace}")
    return dashboard.page_url(f"ns/{place.namespace}/{path}")


def _row(page: Page, key: str) -> Locator:
    return page.locator(f"tr[data-key='{key}']")


# ----------------------------------------------------- 1. actions where the rows are
def test_rerun_on_a_failed_row_creates_a_rerun_jobrun(
    page: Page, oc: Place, alice: Dashboard
) -> None:
    open_live(page, _url(alice, oc, "runs"))
    row = _row(page, f"JobRun/{oc.namespace}/broken")
    expect(row.locator(".badge")).to_have_text("Failed")
    row.get_by_role("button", name="Re-run broken").click()
    notice = page.locator("#notice")
    expect(notice).to_contain_text("Started broken-rerun-")
    name = notice.inner_text().split("Started ", 1)[1].split(".", 1)[0]
    created = oc.get(name)
    assert created["spec"]["trigger"] == "Rerun"
    assert created["spec"]["rerunOf"] == "broken"
    assert created["metadata"]["annotations"]["jobwarden.dev/created-by"] == "alice"
    # The new run appears in the table without a reload, and its link opens it.
    expect(_row(page, f"JobRun/{oc.namespace}/{name}")).to_be_visible()
    notice.get_by_role("link", name=f"Open {name}").click()
    expect(page.get_by_role("heading", name=f"JobRun {name}")).to_be_visible()


def test_run_now_pause_and_resume_from_the_scheduled_jobs_list(
    page: Page, oc: Place, alice: Dashboard
) -> None:
    open_live(page, _url(alice, oc, "scheduledjobs"))
    row = _row(page, f"ScheduledJob/{oc.namespace}/nightly")
    expect(row.locator(".badge")).to_have_text("Active")
    row.get_by_role("button", name="Pause nightly").click()
    expect(row.locator(".badge")).to_have_text("Paused")
    assert oc.get("nightly", "ScheduledJob")["spec"]["suspend"] is True
    row.get_by_role("button", name="Resume nightly").click()
    expect(row.locator(".badge")).to_have_text("Active")
    assert oc.get("nightly", "ScheduledJob")["spec"]["suspend"] is False
    before = {r["metadata"]["name"] for r in oc.all_runs()}
    row.get_by_role("button", name="Run now nightly").click()
    expect(page.locator("#notice")).to_contain_text("Started nightly-manual-")
    new = [r for r in oc.all_runs() if r["metadata"]["name"] not in before]
    assert [r["spec"]["trigger"] for r in new] == ["Manual"]
    assert new[0]["spec"]["scheduledJobRef"] == {"name": "nightly"}


def test_buttons_appear_only_where_rbac_and_the_webhook_allow(
    cluster: TestCluster, browser: BrowserContext, oc: Place, alice: Dashboard
) -> None:
    # A sensitive job: alice may create runs but lacks execute-sensitive, carol has it.
    tab = browser.new_page()
    open_live(tab, _url(alice, oc, "scheduledjobs"))
    secret = _row(tab, f"ScheduledJob/{oc.namespace}/secret")
    run_now = secret.locator("button[data-action='run']")
    expect(run_now).to_be_disabled()
    expect(run_now).to_have_attribute("title", re.compile("sensitive.*execute-sensitive"))
    expect(secret.get_by_role("button", name="Pause secret")).to_be_enabled()
    # Forced anyway: the webhook refuses it, in plain words.
    run_now.evaluate("b => b.removeAttribute('disabled')")
    run_now.click()
    expect(tab.get_by_role("alert")).to_contain_text("Could not start a run of secret")
    expect(tab.get_by_role("alert")).to_contain_text("execute-sensitive")
    assert all(r["spec"].get("scheduledJobRef") != {"name": "secret"} for r in oc.all_runs())
    tab.close()
    carol = start_dashboard(cluster, "carol", oc.namespace)
    try:
        tab = browser.new_page()
        open_live(tab, _url(carol, oc, "scheduledjobs"))
        expect(
            _row(tab, f"ScheduledJob/{oc.namespace}/secret").get_by_role(
                "button", name="Run now secret"
            )
        ).to_be_enabled()
        tab.close()
    finally:
        stop_dashboard(carol)
    # Where bob may only read: every action is there but disabled, saying why.
    view = Place(cluster, new_namespace(cluster, "view", uuid.uuid4().hex[:8]))
    bob = None
    try:
        grant(cluster, view.namespace, "view", VIEW_RULES, "bob")
        wait_can(cluster, view.namespace, "bob", "list", f"jobruns.{GROUP}")
        view.create(_job("report"), view.admin)
        view.create(jobrun("failed", sim(run_seconds=0.1, exit_code=1), retries=0), view.admin)
        view.create(_long("long"), view.admin)
        view.wait("failed", "Failed")
        view.wait("long", "Running")
        bob = start_dashboard(cluster, "bob", view.namespace)
        tab = browser.new_page()
        open_live(tab, _url(bob, view, "scheduledjobs"))
        report = _row(tab, f"ScheduledJob/{view.namespace}/report")
        for action, why in (("run", "no RBAC create"), ("pause", "no RBAC patch")):
            button = report.locator(f"button[data-action='{action}']")
            expect(button).to_be_disabled()
            expect(button).to_have_attribute("title", re.compile(why))
        open_live(tab, _url(bob, view, "runs"))
        expect(
            _row(tab, f"JobRun/{view.namespace}/failed").locator("button[data-action='rerun']")
        ).to_be_disabled()
        expect(
            _row(tab, f"JobRun/{view.namespace}/long").locator("button[data-cancel]")
        ).to_be_disabled()
        expect(
            _row(tab, f"JobRun/{view.namespace}/long").locator("input[data-select]")
        ).to_have_count(0)
        expect(tab.locator("#cancel-matching")).to_be_disabled()
        expect(tab.locator("#cancel-matching")).to_have_attribute(
            "title", re.compile("no RBAC patch")
        )
        tab.close()
    finally:
        if bob is not None:
            stop_dashboard(bob)
        view.admin.delete(f"/api/v1/namespaces/{view.namespace}")


@pytest.fixture(scope="module")
def bulk(cluster: TestCluster, operator: OperatorProcess) -> Iterator[Place]:
    """One worker; `batch-finishing` runs for a few seconds, `batch-a1`…`a6` (alice's)
    and `batch-b1` (bob's) wait behind it; `other` (alice's) does not match the filter."""
    namespace = new_namespace(cluster, "bulk", uuid.uuid4().hex[:8])
    place = Place(cluster, namespace)
    try:
        grant(cluster, namespace, "edit", EDIT_RULES, "alice", "bob")
        wait_can(cluster, namespace, "alice", "patch", f"jobruns.{GROUP}")
        wait_can(cluster, namespace, "bob", "patch", f"jobruns.{GROUP}")
        _quota(place.admin, namespace, 1)
        place.create(jobrun("batch-finishing", sim(run_seconds=30)))
        place.wait("batch-finishing", "Running")
        for index in range(1, 7):
            place.create(_long(f"batch-a{index}"))
        place.create(_long("batch-b1"), place.bob)
        place.create(_long("other"))
        for name in ("batch-a6", "batch-b1", "other"):
            place.wait(name, "Queued")
        yield place
    finally:
        place.admin.delete(f"/api/v1/namespaces/{namespace}")


def test_cancel_selected_and_cancel_all_matching_report_each_object(
    cluster: TestCluster, page: Page, bulk: Place
) -> None:
    dashboard = start_dashboard(cluster, "alice", bulk.namespace)
    try:
        _cancel_many(page, dashboard, bulk)
    finally:
        stop_dashboard(dashboard)


def _cancel_many(page: Page, dashboard: Dashboard, bulk: Place) -> None:
    ns = bulk.namespace
    # Cancel selected: tick two rows; the dialog names them; only they are cancelled.
    open_live(page, _url(dashboard, bulk, "runs"))
    selected = page.locator("#cancel-selected")
    expect(selected).to_be_disabled()
    for name in ("batch-a5", "batch-a6"):
        _row(page, f"JobRun/{ns}/{name}").get_by_role("checkbox", name=f"Select {name}").check()
    expect(selected).to_have_text("Cancel selected (2)")
    selected.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Cancel 2 jobs?")
    expect(dialog.locator("#bulk-list li")).to_have_count(2)
    dialog.get_by_role("button", name="Confirm").click()
    results = page.locator("#bulk-results")
    expect(results).to_contain_text("2 cancelled, 0 refused, 0 already finished.")
    for name in ("batch-a5", "batch-a6"):
        bulk.wait(name, "Cancelled")
    assert not bulk.get("batch-a4")["spec"].get("cancel")
    # Cancel all matching this filter: "batch" matches 6 open runs (a1-a4, b1, finishing).
    open_live(page, _url(dashboard, bulk, "runs?q=batch"))
    matching = page.locator("#cancel-matching")
    expect(matching).to_have_text("Cancel all matching this filter (6)")
    matching.click()
    expect(dialog).to_contain_text("Cancel 6 jobs?")
    items = dialog.locator("#bulk-list li")
    expect(items).to_have_count(6)  # the first five by name, then "…and 1 more"
    expect(items.last).to_have_text("…and 1 more")
    expect(dialog).to_contain_text(f"JobRun {ns}/batch-a1")
    shot(page, "bulk-cancel-dialog")
    axe(page, "the bulk cancel dialog")
    # While the dialog is open, batch-finishing ends: it reads "already finished".
    bulk.wait("batch-finishing", "Succeeded", timeout=90)
    dialog.get_by_label("Reason (optional)").fill("stop the batch")
    dialog.get_by_role("button", name="Confirm").click()
    expect(results).to_contain_text("4 cancelled, 1 refused, 1 already finished.")
    said = {
        li.get_attribute("data-key"): li.get_attribute("data-result")
        for li in results.locator("li").all()
    }
    assert said == {
        **{f"JobRun/{ns}/batch-a{i}": "cancelled" for i in range(1, 5)},
        f"JobRun/{ns}/batch-b1": "refused",
        f"JobRun/{ns}/batch-finishing": "already finished",
    }
    refused = results.locator(f"li[data-key='JobRun/{ns}/batch-b1']")
    expect(refused).to_contain_text("alice may not cancel")  # the webhook's why, plainly
    shot(page, "bulk-cancel-results")
    axe(page, "the bulk cancel results")
    for index in range(1, 5):
        body = bulk.wait(f"batch-a{index}", "Cancelled", "Cancelling")
        assert body["metadata"]["annotations"]["jobwarden.dev/cancel-reason"] == "stop the batch"
    assert not bulk.get("batch-b1")["spec"].get("cancel")
    assert not bulk.get("other")["spec"].get("cancel")
    assert bulk.get("batch-finishing")["status"]["phase"] == "Succeeded"


# ----------------------------------------------------------------------- 2. logs
def test_the_log_section_says_why_there_is_no_log(
    cluster: TestCluster, page: Page, oc: Place, alice: Dashboard
) -> None:
    # No worker yet.
    open_live(page, _url(alice, oc, "jobruns/waiting"))
    expect(page.locator("#log-state")).to_have_text(
        "No worker has started yet: the log appears when the run's first pod starts."
    )
    expect(page.locator("#log-controls")).to_be_hidden()
    # alice may not read pods/log here: RBAC refuses, and the page says so (the API
    # server answers 403 before it would ask any kubelet).
    open_live(page, _url(alice, oc, "jobruns/broken"))
    logs = page.locator("#logs")
    expect(logs).to_have_attribute("data-state", "forbidden")
    expect(page.locator("#log-state")).to_contain_text(
        f'You may not read this log: it needs RBAC "get" on pods/log in namespace {oc.namespace}'
    )
    # Where alice may read logs, a pod that was deleted reads as gone, with its log.
    place = Place(cluster, new_namespace(cluster, "logs", uuid.uuid4().hex[:8]))
    dashboard = None
    try:
        grant(cluster, place.namespace, "edit", EDIT_RULES + LOG_RULES, "alice")
        wait_can(cluster, place.namespace, "alice", "get", "pods/log")
        place.create(jobrun("done", sim(run_seconds=0.2)))
        done = place.wait("done", "Succeeded")
        pod = done["status"]["attempts"][-1]["podName"]
        place.admin.delete(resource_path("v1", "pods", place.namespace, pod))
        wait_until(
            lambda: not place.admin.exists(resource_path("v1", "pods", place.namespace, pod)),
            timeout=30,
            message=f"pod {pod} deleted",
        )
        dashboard = start_dashboard(cluster, "alice", place.namespace)
        open_live(page, _url(dashboard, place, "jobruns/done"))
        expect(page.locator("#logs")).to_have_attribute("data-state", "gone")
        expect(page.locator("#log-state")).to_contain_text(
            f"The worker pod {pod} is gone, and its log with it"
        )
        expect(page.get_by_label("Attempt", exact=True)).to_have_value("1")
        axe(page, "a run page whose worker pod is gone")
    finally:
        if dashboard is not None:
            stop_dashboard(dashboard)
        place.admin.delete(f"/api/v1/namespaces/{place.namespace}")


# --------------------------------------------------------------------- 3. pictures
def _finished_in_last_hour(place: Place, now: datetime.datetime) -> dict[str, int]:
    counts = {"Succeeded": 0, "Failed": 0, "Cancelled": 0}
    start = now.replace(second=0, microsecond=0) - datetime.timedelta(minutes=59)
    for run in place.all_runs():
        status = run.get("status", {})
        done = status.get("completionTime")
        if status.get("phase") in counts and done:
            moment = datetime.datetime.fromisoformat(done.replace("Z", "+00:00"))
            if moment >= start:
                counts[status["phase"]] += 1
    return counts


def test_the_overview_charts_runs_finished_per_minute_live(
    page: Page, oc: Place, alice: Dashboard
) -> None:
    open_live(page, _url(alice, oc, ""))
    summary = page.locator("#finished-chart-summary")
    counts = _finished_in_last_hour(oc, datetime.datetime.now(UTC))
    said = ", ".join(f"{counts[p]} {p.lower()}" for p in ("Succeeded", "Failed", "Cancelled"))
    expect(summary).to_contain_text(said)
    chart = page.get_by_role("img", name=re.compile("In the last 60 minutes"))
    expect(chart).to_be_visible()
    # The numbers as a table, for those who would rather read.
    page.get_by_text("The numbers as a table").click()
    table = page.locator("#chart-live table")
    rows = table.locator("tbody tr")
    total = sum(counts.values())
    cells = [int(x) for r in rows.all() for x in r.locator("td").all_inner_texts()]
    assert sum(cells) == total
    # Live: one more result shows without a reload (a run cancelled as it is created
    # ends at once, while the only worker is busy).
    page.evaluate("() => { window.notReloaded = true; }")
    oc.create(jobrun(f"quick-{uuid.uuid4().hex[:5]}", sim(run_seconds=0.1), cancel=True))
    expect(summary).to_contain_text(f"{counts['Cancelled'] + 1} cancelled", timeout=30_000)
    assert page.evaluate("() => window.notReloaded === true")
    expect(page.locator("#finished-chart-table")).to_have_attribute("open", "")  # kept open
    shot(page, "overview")
    axe(page, "the overview with its chart")


def test_the_run_page_draws_a_timeline_of_attempts_with_the_backoff(
    page: Page, oc: Place, alice: Dashboard
) -> None:
    open_live(page, _url(alice, oc, "jobruns/flaky"))
    expect(page.get_by_role("img", name=re.compile("^Timeline: "))).to_be_visible()
    page.get_by_text("The timeline as a table").click()
    rows = page.locator("#run-live figure table tbody tr")
    stages = [
        (r.locator("th").inner_text(), r.locator("td").first.inner_text()) for r in rows.all()
    ]
    running = [s for s in stages if s[0] in ("Starting", "Running", "Backoff")]
    assert [s for s in running if s[0] != "Starting"] == [
        ("Running", "1"),
        ("Backoff", "1"),
        ("Running", "2"),
    ], stages
    status = oc.get("flaky")["status"]
    first, second = status["attempts"]
    gap = datetime.datetime.fromisoformat(second["startTime"].replace("Z", "+00:00")) - (
        datetime.datetime.fromisoformat(first["finishTime"].replace("Z", "+00:00"))
    )
    assert gap.total_seconds() >= 1  # the backoff the run asked for
    shot(page, "run")
    axe(page, "a run page with its timeline")
    # A run cancelled while it ran shows the time it took to stop.
    open_live(page, _url(alice, oc, "jobruns/stopped"))
    page.get_by_text("The timeline as a table").click()
    names = page.locator("#run-live figure table tbody th").all_inner_texts()
    assert "Cancelling" in names and names.index("Cancelling") > names.index("Running")


def test_the_scheduled_job_page_charts_recent_durations(
    page: Page, oc: Place, alice: Dashboard
) -> None:
    open_live(page, _url(alice, oc, "scheduledjobs/nightly"))
    finished = [
        r
        for r in oc.all_runs()
        if r["spec"].get("scheduledJobRef") == {"name": "nightly"}
        and r.get("status", {}).get("phase") in ("Succeeded", "Failed", "Cancelled")
    ]
    summary = page.locator("#duration-chart-summary")
    expect(summary).to_contain_text(f"The last {len(finished)} runs took")
    expect(page.locator("svg#duration-chart g rect")).to_have_count(len(finished))
    page.get_by_text("The durations as a table").click()
    names = page.locator("#durations-live table tbody th").all_inner_texts()
    assert sorted(names) == sorted(r["metadata"]["name"] for r in finished)
    shot(page, "scheduledjob")
    axe(page, "a ScheduledJob page with its durations")


# --------------------------------------------------------- 4. create with preview
def _fires(schedule: str, zone: str) -> list[str]:
    fires = parse_schedule(schedule, zone).fires_after(datetime.datetime.now(UTC))
    return [next(fires).strftime("%Y-%m-%dT%H:%M:%SZ") for _ in range(5)]


def test_new_scheduled_job_previews_then_creates_as_the_user(
    page: Page, oc: Place, alice: Dashboard
) -> None:
    open_live(page, _url(alice, oc, "new"))
    create = page.get_by_role("button", name="Create scheduled job")
    page.get_by_label("Name", exact=True).fill("made-here")
    page.get_by_label("Container image").fill("registry.invalid/report:1")
    page.get_by_label("Command (optional)").fill("python -m report --day 'to day'")
    # A preset fills the cron field; a bad expression is refused with why.
    page.get_by_label("Common schedules").select_option("0 9 * * 1-5")
    expect(page.get_by_label("Schedule (cron)")).to_have_value("0 9 * * 1-5")
    page.get_by_label("Schedule (cron)").fill("61 * * * *")
    problem = page.locator("#nj-schedule-problem")
    expect(problem).to_contain_text("example of a valid one")
    expect(page.get_by_label("Schedule (cron)")).to_have_attribute("aria-invalid", "true")
    expect(create).to_be_disabled()
    # A bad zone too.
    page.get_by_label("Schedule (cron)").fill("30 9 * * *")
    page.get_by_label("Time zone").fill("Mars/Olympus")
    expect(page.locator("#nj-zone-problem")).to_contain_text("Mars/Olympus")
    expect(create).to_be_disabled()
    # Valid: the server-side dry run accepts it; the next 5 fires are the operator's.
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_label("Retries").fill("2")
    expect(page.locator("#nj-check")).to_have_text(
        "The API server accepts it (server-side dry run)."
    )
    expect(problem).to_be_empty()
    fires = page.locator("#nj-fires time")
    expect(fires).to_have_count(5)
    assert [f.get_attribute("datetime") for f in fires.all()] == _fires(
        "30 9 * * *", "Europe/Berlin"
    )
    for fire in fires.all():
        expect(fire).to_have_attribute("data-zone", "Europe/Berlin")
        expect(fire).to_contain_text(" 09:30:00 ")  # 09:30 on the job's own clock
    expect(create).to_be_enabled()
    manifest = yaml.safe_load(page.locator("#nj-yaml").inner_text())
    assert manifest["kind"] == "ScheduledJob"
    assert manifest["metadata"] == {"name": "made-here", "namespace": oc.namespace}
    assert manifest["spec"]["schedule"] == "30 9 * * *"
    assert manifest["spec"]["timeZone"] == "Europe/Berlin"
    assert manifest["spec"]["retries"] == 2
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "report", "--day", "to day"]
    assert not oc.admin.exists(runs.path(oc.namespace, "made-here", "ScheduledJob"))
    shot(page, "new-job")
    axe(page, "the New scheduled job form")
    create.click()
    expect(page.locator("#notice")).to_contain_text("Created ScheduledJob made-here.")
    stored = oc.get("made-here", "ScheduledJob")
    assert stored["metadata"]["annotations"]["jobwarden.dev/created-by"] == "alice"
    assert {k: stored["spec"][k] for k in manifest["spec"] if k != "template"} == {
        k: v for k, v in manifest["spec"].items() if k != "template"
    }
    # The same name again: the API server refuses, and the form says so.
    expect(page.locator("#nj-form-problem")).to_contain_text("already exists")


def test_the_form_says_when_the_user_may_not_create(cluster: TestCluster, page: Page) -> None:
    place = Place(cluster, new_namespace(cluster, "view", uuid.uuid4().hex[:8]))
    bob = None
    try:
        grant(cluster, place.namespace, "view", VIEW_RULES, "bob")
        wait_can(cluster, place.namespace, "bob", "list", f"scheduledjobs.{GROUP}")
        bob = start_dashboard(cluster, "bob", place.namespace)
        open_live(page, _url(bob, place, "new"))
        expect(page.locator("#create-refused")).to_contain_text(
            f"You may not create ScheduledJobs in {place.namespace}"
        )
        page.get_by_label("Name", exact=True).fill("not-mine")
        page.get_by_label("Container image").fill("registry.invalid/x:1")
        # The preview still shows the fires; the dry run is refused by RBAC, as bob.
        expect(page.locator("#nj-fires time")).to_have_count(5)
        expect(page.locator("#nj-form-problem")).to_contain_text("forbidden")
        expect(page.get_by_role("button", name="Create scheduled job")).to_be_disabled()
        assert not place.admin.exists(runs.path(place.namespace, "not-mine", "ScheduledJob"))
    finally:
        if bob is not None:
            stop_dashboard(bob)
        place.admin.delete(f"/api/v1/namespaces/{place.namespace}")


# --------------------------------------------------------- 5. times, states, pages
def test_times_show_in_the_browsers_zone_and_schedules_in_the_jobs(
    browser: BrowserContext, oc: Place, alice: Dashboard
) -> None:
    tab = browser.new_page()
    try:
        # The browser's zone: India (no daylight saving time).
        browser.new_cdp_session(tab).send(
            "Emulation.setTimezoneOverride", {"timezoneId": "Asia/Kolkata"}
        )
        open_live(tab, _url(alice, oc, "jobruns/broken"))
        created = tab.locator("#run-live dd time").first
        utc = created.get_attribute("datetime")
        assert utc is not None
        expect(created).to_have_attribute("title", f"{utc} (UTC)")
        moment = datetime.datetime.fromisoformat(utc.replace("Z", "+00:00"))
        local = moment.astimezone(zoneinfo.ZoneInfo("Asia/Kolkata")).strftime("%Y-%m-%d %H:%M:%S")
        expect(created).to_contain_text(local)
        expect(created).to_have_text(RELATIVE)
        expect(created).to_contain_text(" ago)")
        # The relative wording.
        assert tab.evaluate("() => window.jobwardenRelative(42)") == "in 42 s"
        assert tab.evaluate("() => window.jobwardenRelative(-180)") == "3 min ago"
        assert tab.evaluate("() => window.jobwardenRelative(-7200)") == "2 h ago"
        # A schedule's times are on the job's own clock (Europe/Berlin), in the future.
        open_live(tab, _url(alice, oc, "scheduledjobs/nightly"))
        next_run = tab.locator("#job-live dd time").first
        utc = next_run.get_attribute("datetime")
        assert utc is not None
        expect(next_run).to_have_attribute("data-zone", "Europe/Berlin")
        moment = datetime.datetime.fromisoformat(utc.replace("Z", "+00:00"))
        berlin = moment.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
        assert berlin.strftime("%H:%M") == "00:00"  # "0 0 1 1 *" in Berlin
        expect(next_run).to_contain_text(berlin.strftime("%Y-%m-%d %H:%M:%S"))
        expect(next_run).to_contain_text("(in ")
    finally:
        tab.close()


def test_scheduled_job_states_get_coloured_badges_with_text(
    cluster: TestCluster, page: Page, operator: OperatorProcess
) -> None:
    oc = Place(cluster, new_namespace(cluster, "states", uuid.uuid4().hex[:8]))
    alice = None
    try:
        grant(cluster, oc.namespace, "edit", EDIT_RULES, "alice")
        wait_can(cluster, oc.namespace, "alice", "create", f"scheduledjobs.{GROUP}")
        alice = start_dashboard(cluster, "alice", oc.namespace)
        _badges(page, oc, alice)
    finally:
        if alice is not None:
            stop_dashboard(alice)
        oc.admin.delete(f"/api/v1/namespaces/{oc.namespace}")


def _badges(page: Page, oc: Place, alice: Dashboard) -> None:
    oc.create(_job("nightly"))
    oc.create(_job("held", suspend=True))
    oc.create(_job("once", schedule=None))
    oc.create(_job("ended"))
    runs.cancel(oc.alice, oc.namespace, "ended", "ScheduledJob")
    oc.create(_job("failing", template=pod_template(sim(run_seconds=0.1, exit_code=1)), retries=0))
    oc.create(_manual("failing-manual-1", "failing"))
    wait_until(
        lambda: oc.get("failing", "ScheduledJob").get("status", {}).get("consecutiveFailures"),
        timeout=90,
        message="failing has a failed run",
    )
    oc.wait("once", "Completed", kind="ScheduledJob", timeout=90)
    oc.wait("ended", "Cancelled", kind="ScheduledJob")
    open_live(page, _url(alice, oc, "scheduledjobs"))
    for name, state in (
        ("nightly", "Active"),
        ("held", "Paused"),
        ("failing", "Failing"),
        ("once", "Completed"),
        ("ended", "Cancelled"),
    ):
        badge = _row(page, f"ScheduledJob/{oc.namespace}/{name}").locator(".badge")
        expect(badge).to_have_text(state)
        expect(badge).to_have_class(re.compile(f"state-{state.lower()}"))
    # Over: no actions.
    for name in ("once", "ended"):
        expect(_row(page, f"ScheduledJob/{oc.namespace}/{name}").locator("button")).to_have_count(0)
    shot(page, "scheduledjobs")
    axe(page, "the scheduled jobs list with badges and actions")


def test_long_lists_are_paged(cluster: TestCluster, page: Page, operator: OperatorProcess) -> None:
    place = Place(cluster, new_namespace(cluster, "pages", uuid.uuid4().hex[:8]))
    dashboard = None
    try:
        grant(cluster, place.namespace, "edit", EDIT_RULES, "alice")
        wait_can(cluster, place.namespace, "alice", "create", f"jobruns.{GROUP}")
        for index in range(60):  # cancelled at creation: no pod, done at once
            place.create(jobrun(f"r{index:02d}", sim(run_seconds=1), cancel=True))
        wait_until(
            lambda: (
                sum(r.get("status", {}).get("phase") == "Cancelled" for r in place.all_runs()) == 60
            ),
            timeout=120,
            message="60 cancelled runs",
        )
        dashboard = start_dashboard(cluster, "alice", place.namespace)
        open_live(page, _url(dashboard, place, "runs"))
        expect(page.locator(".pager-count")).to_have_text("Showing 1 to 50 of 60 runs.")
        first = page.locator("#runs-body tr").all()
        assert len(first) == 50
        names = {r.get_attribute("data-key") for r in first}
        page.get_by_role("navigation", name="Pages of runs").get_by_role(
            "link", name="Next"
        ).click()
        expect(page.locator(".pager-count")).to_have_text("Showing 51 to 60 of 60 runs.")
        rest = {r.get_attribute("data-key") for r in page.locator("#runs-body tr").all()}
        assert len(rest) == 10 and not names & rest
        assert names | rest == {f"JobRun/{place.namespace}/r{i:02d}" for i in range(60)}
        axe(page, "the second page of runs")
    finally:
        if dashboard is not None:
            stop_dashboard(dashboard)
        place.admin.delete(f"/api/v1/namespaces/{place.namespace}")


def test_every_page_passes_axe_and_shows_the_new_pieces(
    page: Page, oc: Place, alice: Dashboard
) -> None:
    pages = {
        "runs": _url(alice, oc, "runs"),
        "a running run": _url(alice, oc, "jobruns/busy"),
        "a cancelled run": _url(alice, oc, "jobruns/stopped"),
        "the new-job form": _url(alice, oc, "new"),
    }
    for label, url in pages.items():
        open_live(page, url)
        axe(page, label)
    open_live(page, _url(alice, oc, "runs"))
    shot(page, "runs")
