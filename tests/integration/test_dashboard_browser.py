"""The web dashboard in a real browser: Debian's Chromium, headless, driven by
Playwright (the Python package, pointed at /usr/bin/chromium: nothing downloaded),
against `python -m jobwarden.dashboard` (what `kubectl jobwarden dashboard` runs) on
the local cluster, as the test identities alice and bob.

One namespace for the module: alice and bob (group team-a) may create, patch and
watch jobwarden objects there (a plain Role); a WorkerQuota of one worker keeps one
run Running and the later ones Queued. axe-core from npm (tests/browser) is injected
into every page. Screenshots of the main pages go to docs/images/.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from devcluster.install import OperatorProcess
from jobwarden.api.paths import resource_path
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.dashboard import (
    Dashboard,
    start_dashboard,
    stop_dashboard,
)
from tests.support.dashboard import axe as _axe
from tests.support.dashboard import open_live as _open
from tests.support.dashboard import shot as _shot
from tests.support.kube import JSON, Kube
from tests.support.runs import jobrun, pod_template, sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster

CONFIRM_TEXT = "Are you sure you want to cancel this job? This action cannot be undone."
RBAC = "rbac.authorization.k8s.io/v1"
GROUP = "jobwarden.dev"
EDIT_RULES: list[JSON] = [
    {
        "apiGroups": [GROUP],
        "resources": ["scheduledjobs", "jobruns", "exports"],
        "verbs": ["get", "list", "watch", "create", "patch"],
    },
    {"apiGroups": [GROUP], "resources": ["workerquotas"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
]
GRACE_SECONDS = 10


# ------------------------------------------------------------------ the cluster
def _long(name: str) -> JSON:
    """A run that works for ten minutes and exits half a second after SIGTERM."""
    return jobrun(
        name,
        sim(run_seconds=600, sigterm_exit_seconds=0.5),
        cancelGracePeriodSeconds=GRACE_SECONDS,
    )


class Team:
    """The module's namespace and the runs made in it."""

    def __init__(self, cluster: TestCluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.alice = cluster.kube("alice")
        self.admin = cluster.kube()

    def create(self, body: JSON, kube: Kube | None = None) -> JSON:
        return runs.create(kube or self.alice, self.namespace, body)

    def phase(self, name: str) -> str:
        return runs.phase(self.admin, self.namespace, name)

    def wait(self, name: str, *phases: str, timeout: float = 60) -> JSON:
        return runs.wait_phase(self.admin, self.namespace, name, phases, timeout=timeout)

    def cancel_flag(self, name: str) -> bool:
        return bool(runs.get(self.admin, self.namespace, name)["spec"].get("cancel"))


def _grant(cluster: TestCluster, namespace: str, *users: str) -> None:
    admin = cluster.kube()
    admin.create(
        resource_path(RBAC, "roles", namespace),
        {"metadata": {"name": "dashboard-edit"}, "rules": EDIT_RULES},
    )
    admin.create(
        resource_path(RBAC, "rolebindings", namespace),
        {
            "metadata": {"name": "dashboard-edit"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "dashboard-edit",
            },
            "subjects": [
                {"kind": "User", "name": u, "apiGroup": "rbac.authorization.k8s.io"} for u in users
            ],
        },
    )
    for user in users:
        wait_until(
            lambda user=user: (
                cluster.kubectl(  # type: ignore[misc]
                    "auth",
                    "can-i",
                    "patch",
                    f"jobruns.{GROUP}",
                    "-n",
                    namespace,
                    identity=user,
                    check=False,
                ).stdout.strip()
                == "yes"
            ),
            timeout=15,
            message=f"{user} may patch jobruns in {namespace}",
        )


@pytest.fixture(scope="module")
def team(cluster: TestCluster, operator: OperatorProcess) -> Iterator[Team]:
    """A namespace with a one-worker quota and runs in every phase, made by alice:
    `ok` Succeeded, `broken` Failed, `dropped` Cancelled, `busy` Running, `waiting`
    and `for-bob` Queued; a ScheduledJob `nightly` with two finished manual runs."""
    namespace = f"t-dash-{uuid.uuid4().hex[:8]}"
    admin = cluster.kube()
    admin.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    try:
        wait_until(
            lambda: admin.exists(f"/api/v1/namespaces/{namespace}/serviceaccounts/default"),
            timeout=30,
            message=f"the default ServiceAccount in {namespace}",
        )
        _grant(cluster, namespace, "alice", "bob")
        admin.create(
            resource_path(runs.API, "workerquotas", namespace),
            {
                "apiVersion": runs.API,
                "kind": "WorkerQuota",
                "metadata": {"name": "quota"},
                "spec": {"maxRunning": 1},
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
        t = Team(cluster, namespace)
        t.create(
            {
                "apiVersion": runs.API,
                "kind": "ScheduledJob",
                "metadata": {"name": "nightly"},
                "spec": {
                    "schedule": "0 0 1 1 *",
                    "template": pod_template(sim(run_seconds=0.2)),
                },
            }
        )
        for name in ("nightly-manual-1", "nightly-manual-2"):
            t.create(
                {
                    "apiVersion": runs.API,
                    "kind": "JobRun",
                    "metadata": {"name": name},
                    "spec": {"scheduledJobRef": {"name": "nightly"}, "trigger": "Manual"},
                }
            )
            t.wait(name, "Succeeded")
        t.create(jobrun("ok", sim(run_seconds=0.2)))
        t.wait("ok", "Succeeded")
        t.create(jobrun("broken", sim(run_seconds=0.2, exit_code=3), retries=0))
        t.wait("broken", "Failed")
        t.create(_long("busy"))
        t.wait("busy", "Running")
        for name in ("waiting", "dropped", "for-bob"):
            t.create(_long(name))
            t.wait(name, "Queued")
        runs.cancel(t.alice, namespace, "dropped")
        t.wait("dropped", "Cancelled")
        yield t
    finally:
        admin.delete(f"/api/v1/namespaces/{namespace}")


# ------------------------------------------------------------------ the dashboard
@pytest.fixture(scope="module")
def as_alice(cluster: TestCluster, team: Team) -> Iterator[Dashboard]:
    dashboard = start_dashboard(cluster, "alice", team.namespace)
    yield dashboard
    stop_dashboard(dashboard)


@pytest.fixture(scope="module")
def as_bob(cluster: TestCluster, team: Team) -> Iterator[Dashboard]:
    dashboard = start_dashboard(cluster, "bob", team.namespace)
    yield dashboard
    stop_dashboard(dashboard)


def _runs_url(dashboard: Dashboard, team: Team) -> str:
    return dashboard.page_url(f"runs?namespace={team.namespace}")


def _run_row(page: Page, team: Team, name: str) -> Locator:
    return page.locator(f"tr[data-key='JobRun/{team.namespace}/{name}']")


def _cancel_posts(page: Page) -> list[str]:
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/api/cancel") else None)
    return sent


# ------------------------------------------------------------------------ tests
def test_cancel_is_offered_only_while_a_run_can_be_cancelled(
    page: Page, team: Team, as_alice: Dashboard
) -> None:
    _open(page, _runs_url(as_alice, team))
    for name in ("busy", "waiting"):
        button = _run_row(page, team, name).get_by_role("button", name=f"Cancel job {name}")
        expect(button).to_be_enabled()
        expect(button).to_have_attribute("title", "Cancel job")
        expect(button).to_have_attribute("aria-label", f"Cancel job {name}")
    expect(_run_row(page, team, "busy").locator(".badge")).to_have_text("Running")
    expect(_run_row(page, team, "waiting").locator(".badge")).to_have_text("Queued")
    for name, phase in (("ok", "Succeeded"), ("broken", "Failed"), ("dropped", "Cancelled")):
        row = _run_row(page, team, name)
        expect(row.locator(".badge")).to_have_text(phase)
        expect(row.locator("button[data-cancel]")).to_have_count(0)
        # Issue 23: a failed or cancelled run offers Re-run instead; a success nothing.
        reruns = 0 if phase == "Succeeded" else 1
        expect(row.get_by_role("button", name=f"Re-run {name}")).to_have_count(reruns)
    _shot(page, "runs")
    _axe(page, "the runs page")


def test_the_dialog_traps_focus_and_escape_or_cancel_close_it_with_nothing_sent(
    page: Page, team: Team, as_alice: Dashboard
) -> None:
    sent = _cancel_posts(page)
    _open(page, _runs_url(as_alice, team))
    button = _run_row(page, team, "busy").get_by_role("button", name="Cancel job busy")
    dialog = page.get_by_role("dialog")
    button.click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(CONFIRM_TEXT)
    _shot(page, "cancel-dialog")
    _axe(page, "the cancel dialog")
    # Focus stays inside the dialog both ways round.
    inside = "() => document.getElementById('cancel-dialog').contains(document.activeElement)"
    seen: set[str] = set()
    for key in ["Tab"] * 7 + ["Shift+Tab"] * 7:
        page.keyboard.press(key)
        assert page.evaluate(inside), f"{key} left the dialog"
        seen.add(page.evaluate("() => document.activeElement.id"))
    assert seen == {"cancel-reason", "cancel-dismiss", "cancel-confirm"}
    # Its Cancel button closes it, focus returns to the row's button; nothing sent.
    dialog.get_by_role("button", name="Cancel", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()
    # Escape closes it too.
    button.click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert sent == []
    assert not team.cancel_flag("busy")
    assert team.phase("busy") == "Running"


def test_confirm_shows_cancelling_at_once_then_the_final_phase(
    page: Page, team: Team, as_alice: Dashboard
) -> None:
    _open(page, _runs_url(as_alice, team))
    row = _run_row(page, team, "busy")
    row.get_by_role("button", name="Cancel job busy").click()
    page.get_by_role("dialog").get_by_label("Reason (optional)").fill("wrong input file")
    confirm = page.get_by_role("button", name="Confirm")
    started = time.monotonic()
    confirm.click()
    expect(row.locator(".badge")).to_have_text("Cancelling…", timeout=500)
    assert time.monotonic() - started < 0.5 + 0.25  # the click itself, plus half a second
    expect(row.locator(".badge")).to_have_text("Cancelled", timeout=GRACE_SECONDS * 1000)
    expect(row.locator("button[data-cancel]")).to_have_count(0)
    body = runs.get(team.admin, team.namespace, "busy")
    assert body["status"]["cancellation"]["requestedBy"] == "alice"
    assert body["status"]["cancellation"]["reason"] == "wrong input file"
    # The run page shows the cancellation record, the log and Events.
    page.get_by_role("link", name="busy", exact=True).click()
    expect(page.get_by_role("heading", name="Cancellation")).to_be_visible()
    expect(page.locator("#run-live")).to_contain_text("alice")
    expect(page.locator("#run-live")).to_contain_text("wrong input file")
    _shot(page, "run")
    _axe(page, "a run page")


def test_as_bob_alices_run_cannot_be_cancelled_and_a_forced_request_is_refused(
    page: Page, team: Team, as_bob: Dashboard
) -> None:
    _open(page, _runs_url(as_bob, team))
    row = _run_row(page, team, "for-bob")
    unfinished = re.compile(r"^(Queued|Running)$")
    expect(row.locator(".badge")).to_have_text(unfinished)
    button = row.locator("button[data-cancel]")
    expect(button).to_be_disabled()
    assert row.get_by_role("button", disabled=False).count() == 0
    # Force it: enable the button by hand and go through the dialog.
    button.evaluate("b => b.removeAttribute('disabled')")
    button.click()
    page.get_by_role("button", name="Confirm").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Could not cancel for-bob")
    expect(alert).to_contain_text("bob")
    expect(row.locator(".badge")).to_have_text(unfinished)
    assert not team.cancel_flag("for-bob")
    # A request sent straight to the dashboard is refused the same way.
    answer = page.evaluate(
        """async ([base, ns]) => {
            const r = await fetch(base + '/api/cancel', {method: 'POST',
              headers: {'Content-Type': 'application/json'},
              body: JSON.stringify({kind: 'JobRun', namespace: ns, name: 'for-bob'})});
            return {status: r.status, body: await r.json()};
        }""",
        [page.evaluate("document.body.dataset.base"), team.namespace],
    )
    assert answer["status"] == 403, answer
    assert "admission webhook" not in answer["body"]["error"]
    assert not team.cancel_flag("for-bob")


def test_a_run_created_with_kubectl_appears_without_a_reload(
    page: Page, team: Team, as_alice: Dashboard
) -> None:
    _open(page, _runs_url(as_alice, team))
    page.evaluate("() => { window.notReloaded = true; }")
    name = f"from-kubectl-{uuid.uuid4().hex[:5]}"
    body = {**_long(name), "metadata": {"name": name, "namespace": team.namespace}}
    team.cluster.kubectl("create", "-f", "-", input=json.dumps(body), identity="alice")
    row = _run_row(page, team, name)
    expect(row).to_be_visible(timeout=10_000)
    expect(row.get_by_role("button", name=f"Cancel job {name}")).to_be_enabled()
    assert page.evaluate("() => window.notReloaded === true")


def test_history_filters_and_csv_download_parse_back(
    page: Page, team: Team, as_alice: Dashboard
) -> None:
    _open(page, as_alice.page_url(f"ns/{team.namespace}/scheduledjobs/nightly"))
    expect(page.get_by_role("heading", name="Scheduled job nightly")).to_be_visible()
    expect(page.locator("#job-live")).to_contain_text("0 0 1 1 *")
    page.get_by_label("Status").select_option("Succeeded")
    page.get_by_label("Period").select_option("7")
    expect(page.locator("#history-download")).to_contain_text("(2 runs)")
    _shot(page, "scheduledjob")
    _axe(page, "a ScheduledJob page")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    download = info.value
    text = Path(download.path()).read_text()
    records = list(csv.DictReader(io.StringIO(text)))
    assert {r["name"] for r in records} == {"nightly-manual-1", "nightly-manual-2"}
    assert all(r["phase"] == "Succeeded" and r["scheduledJob"] == "nightly" for r in records)
    assert list(records[0])[:5] == ["name", "namespace", "scheduledJob", "trigger", "phase"]
    page.get_by_label("Status").select_option("Failed")
    expect(page.locator("#history-download")).to_contain_text("(0 runs)")


def test_pause_resume_and_run_now(page: Page, team: Team, as_alice: Dashboard) -> None:
    _open(page, as_alice.page_url(f"ns/{team.namespace}/scheduledjobs/nightly"))
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    assert runs.get(team.admin, team.namespace, "nightly", "ScheduledJob")["spec"]["suspend"]
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status").first).to_contain_text("Started nightly-manual-")


def test_overview_and_every_page_pass_axe_and_are_reachable_by_tab(
    page: Page, team: Team, as_alice: Dashboard
) -> None:
    pages = {
        "overview": as_alice.page_url(""),
        "runs": _runs_url(as_alice, team),
        "scheduledjobs": as_alice.page_url("scheduledjobs"),
        "scheduledjob": as_alice.page_url(f"ns/{team.namespace}/scheduledjobs/nightly"),
        "run": as_alice.page_url(f"ns/{team.namespace}/jobruns/waiting"),
    }
    for label, url in pages.items():
        _open(page, url)
        if label == "overview":
            overview = page.locator(f"#ov-{team.namespace}")
            expect(overview).to_contain_text("of 1")
            _shot(page, "overview")
        _axe(page, f"the {label} page")
        _all_reachable_by_tab(page, label)


#: A control's name that survives a live region being re-rendered (a watch event can
#: swap it mid-walk): a link by its href, another control by its id, name or label.
_CONTROL_NAME = """(el) => [
  el.tagName,
  el.getAttribute('href') || el.id || el.getAttribute('name') ||
    el.getAttribute('aria-label') || el.textContent.trim(),
].join(' ')"""


def _all_reachable_by_tab(page: Page, label: str) -> None:
    """Tab from the top visits every visible, enabled control of the page."""
    wanted: list[str] = page.evaluate(
        f"""() => Array.from(document.querySelectorAll(
              'a[href], button:not([disabled]), input:not([disabled]), select, [tabindex="0"]'))
            .filter((el) => !el.closest('dialog') && el.getClientRects().length)
            .map({_CONTROL_NAME})"""
    )
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    reached: set[str] = set()
    for _ in range(3 * len(wanted) + 5):  # a swap may send focus back to the top
        page.keyboard.press("Tab")
        name = page.evaluate(
            f"""() => {{
              const el = document.activeElement;
              return el && el !== document.body ? ({_CONTROL_NAME})(el) : '';
            }}"""
        )
        if name:
            reached.add(name)
        if reached >= set(wanted):
            break
    missing = set(wanted) - reached
    assert not missing, f"on the {label} page, Tab never reaches {sorted(missing)}"


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("no-token", 403),
        ("wrong-host", 421),
        ("foreign-origin", 403),
        ("post-without-origin", 403),
        ("form-post", 415),
    ],
)
def test_requests_without_the_secret_or_from_elsewhere_are_refused(
    as_alice: Dashboard, team: Team, how: str, expected: int
) -> None:
    base = as_alice.url.rstrip("/")
    origin = base.rsplit("/", 1)[0]
    body = json.dumps({"kind": "JobRun", "namespace": team.namespace, "name": "waiting"})
    cases: dict[str, Callable[[], urllib.request.Request]] = {
        "no-token": lambda: urllib.request.Request(origin + "/runs"),
        "wrong-host": lambda: urllib.request.Request(
            base + "/runs", headers={"Host": "attacker.example:80"}
        ),
        "foreign-origin": lambda: urllib.request.Request(
            base + "/api/cancel",
            data=body.encode(),
            method="POST",
            headers={"Origin": "http://attacker.example", "Content-Type": "application/json"},
        ),
        "post-without-origin": lambda: urllib.request.Request(
            base + "/api/cancel",
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        ),
        "form-post": lambda: urllib.request.Request(
            base + "/api/cancel",
            data=b"kind=JobRun",
            method="POST",
            headers={"Origin": origin, "Content-Type": "application/x-www-form-urlencoded"},
        ),
    }
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(cases[how](), timeout=10)
    assert refused.value.code == expected
    assert not team.cancel_flag("waiting")
