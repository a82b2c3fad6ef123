"""The dashboard's pages, rendered from API objects: what is shown, which Cancel
buttons exist, filters, the overview's numbers, escaping."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest

from jobwarden.client.access import CancelRight
from jobwarden.client.kube import KubeError
from jobwarden.dashboard import render
from jobwarden.dashboard.render import CONFIRM_TEXT, Page, RunFilter
from jobwarden.dashboard.server import log_removed, plain_message

UTC = datetime.UTC
NOW = datetime.datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)
JSON = dict[str, Any]
PAGE = Page(base="/tok", user="alice", context="dev", now=NOW, namespaces=("team-a",))
YES = CancelRight(True, "creator")
NO = CancelRight(False, "not the creator, no RBAC verb cancel")


def ts(minutes_ago: float) -> str:
    return (NOW - datetime.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(
    name: str,
    phase: str | None,
    *,
    kind: str = "JobRun",
    namespace: str = "team-a",
    cancel: bool = False,
    status: JSON | None = None,
    creator: str = "alice",
) -> JSON:
    body: JSON = {
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": ts(30),
            "annotations": {"jobwarden.dev/created-by": creator},
        },
        "spec": {"cancel": True} if cancel else {},
        "status": {**({"phase": phase} if phase else {}), **(status or {})},
    }
    return body


@pytest.mark.parametrize("phase", ["Queued", "Starting", "Running", "Retrying", None])
def test_an_unfinished_run_gets_a_labelled_cancel_button(phase: str | None) -> None:
    html = render.cancel_button(run("r1", phase), YES)
    assert 'aria-label="Cancel job r1"' in html
    assert 'title="Cancel job"' in html
    assert "disabled" not in html
    assert 'data-key="JobRun/team-a/r1"' in html


@pytest.mark.parametrize("phase", ["Succeeded", "Failed", "Cancelled", "Cancelling"])
def test_a_run_that_cannot_be_cancelled_has_no_button(phase: str) -> None:
    assert render.cancel_button(run("r1", phase), YES) == ""


def test_no_button_once_a_cancel_was_asked_for_and_the_phase_says_cancelling() -> None:
    requested = run("r1", "Running", cancel=True)
    assert render.cancel_button(requested, YES) == ""
    assert render.phase_label(requested) == "Cancelling…"
    assert render.phase_label(run("r1", "Cancelled", cancel=True)) == "Cancelled"


def test_without_the_right_the_button_is_disabled_and_says_why() -> None:
    html = render.cancel_button(run("r1", "Running"), NO)
    assert " disabled " in html
    assert "not the creator" in html
    assert render.cancel_button(run("r1", "Running"), None).count("disabled") == 1


def test_the_runs_table_shows_each_column_and_only_matching_runs() -> None:
    items = [
        run("a-running", "Running", status={"progress": {"percent": 42}, "startTime": ts(5)}),
        run(
            "b-queued",
            "Queued",
            status={"queue": {"position": 2, "reason": "QuotaExhausted"}},
            creator="bob",
        ),
        run("c-done", "Succeeded", kind="Export"),
    ]
    rights = {"JobRun/team-a/a-running": YES, "JobRun/team-a/b-queued": NO}
    html = render.runs_page(PAGE, items, rights, RunFilter())
    assert html.count("<tr id=") == 3
    assert '<progress max="100" value="42"' in html
    assert "2 (QuotaExhausted)" in html
    assert ">bob<" in html
    assert '<span class="elapsed" data-start=' in html
    assert 'href="/tok/ns/team-a/exports/c-done"' in html
    only = render.runs_page(PAGE, items, rights, RunFilter(phase="active"))
    assert only.count("<tr id=") == 2
    assert render.runs_page(PAGE, items, rights, RunFilter(text="BOB")).count("<tr id=") == 1
    assert render.runs_page(PAGE, items, rights, RunFilter(kind="Export")).count("<tr id=") == 1
    assert "No runs match." in render.runs_page(PAGE, items, rights, RunFilter(namespace="x"))


def test_the_cancelling_filter_follows_the_shown_phase() -> None:
    flt = RunFilter(phase="Cancelling")
    assert flt.matches(run("r", "Running", cancel=True))
    assert not flt.matches(run("r", "Running"))
    assert not RunFilter(phase="Running").matches(run("r", "Running", cancel=True))


def test_the_layout_has_the_dialog_landmarks_and_the_identity() -> None:
    html = render.layout(PAGE, "Runs", "<p>x</p>", current="/runs")
    assert CONFIRM_TEXT in html
    assert '<dialog id="cancel-dialog" aria-labelledby="cancel-title"' in html
    assert '<html lang="en">' in html
    assert 'href="/tok/runs" aria-current="page"' in html
    assert 'role="alert"' in html
    assert "<strong>alice" in html
    assert 'src="/tok/static/dashboard.js"' in html
    assert "<script>" not in html  # no inline script: the CSP forbids it


def test_everything_from_the_api_is_escaped() -> None:
    evil = run(
        "r1",
        "Failed",
        status={"message": "<script>alert(1)</script>", "log": [{"message": '"><img src=x>'}]},
    )
    html = render.run_page(PAGE, evil, [], None)
    assert "<script>alert" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


def test_the_run_page_shows_attempts_cancellation_log_and_events() -> None:
    obj = run(
        "r1",
        "Cancelled",
        cancel=True,
        status={
            "attempts": [{"attempt": 1, "podName": "r1-1", "exitCode": 143}],
            "cancellation": {"requestedBy": "alice", "outcome": "Cancelled", "reason": "oops"},
            "log": [{"time": ts(1), "message": "cancelled by alice"}],
        },
    )
    events = [{"type": "Normal", "reason": "Cancelled", "message": "done", "eventTime": ts(1)}]
    html = render.run_page(PAGE, obj, events, None)
    for text in (
        "r1-1",
        "143",
        "oops",
        "cancelled by alice",
        "Recent Events",
        'data-state="requested"',
    ):
        assert text in html


def test_the_overview_counts_results_of_the_last_day_and_stuck_runs() -> None:
    items = [
        run("s1", "Succeeded", status={"completionTime": ts(60)}),
        run("s2", "Succeeded", status={"completionTime": ts(60 * 30)}),  # too old
        run("f1", "Failed", status={"completionTime": ts(5)}),
        run(
            "stuck",
            "Running",
            status={"conditions": [{"type": "Stuck", "status": "True", "message": "silent 10m"}]},
        ),
    ]
    job = {
        "kind": "ScheduledJob",
        "metadata": {"name": "nightly", "namespace": "team-a"},
        "status": {
            "history": [
                {"name": "gone", "phase": "Cancelled", "completionTime": ts(10)},
                {"name": "s1", "phase": "Succeeded", "completionTime": ts(60)},  # counted once
            ]
        },
    }
    quota = {
        "namespace": "team-a",
        "name": "q",
        "maxRunning": 4,
        "running": 1,
        "queued": 3,
        "queuedByPriority": {"high": 1, "medium": 2, "low": 0},
        "default": False,
    }
    html = render.overview_page(PAGE, [quota], items, [job])
    row = re.search(r'<tr id="ov-team-a">.*?</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(0), re.S)
    assert "1 of 4" in cells[0]
    numbers = [re.sub(r"<[^>]+>", "", cell) for cell in cells[1:]]
    assert numbers == ["3", "1", "2", "0", "1", "1", "1", "1"]
    assert "silent 10m" in html


def test_a_scheduled_job_page_offers_run_now_resume_and_csv() -> None:
    job = {
        "kind": "ScheduledJob",
        "metadata": {"name": "nightly", "namespace": "team-a"},
        "spec": {"schedule": "0 2 * * *", "timeZone": "Europe/Paris", "suspend": True},
        "status": {"phase": "Suspended"},
    }
    records = [{"name": "nightly-1", "phase": "Succeeded", "source": "JobRun"}]
    html = render.job_page(PAGE, job, records, status_filter="", days="7", csv_url="/tok/x.csv")
    assert "Europe/Paris" in html and "Paused" in html
    assert ">Resume</button>" in html and ">Run now</button>" in html
    assert 'href="/tok/x.csv" download=' in html
    assert '<option value="7" selected>' in html
    assert 'href="/tok/ns/team-a/jobruns/nightly-1"' in html


def test_a_webhook_denial_reads_in_plain_words() -> None:
    body = (
        '{"kind":"Status","reason":"Forbidden","message":"admission webhook '
        '\\"validate.jobwarden.dev\\" denied the request: bob may not cancel JobRun x"}'
    )
    error = KubeError("PATCH", "/x", 403, body)
    assert plain_message(error) == "bob may not cancel JobRun x"
    assert plain_message(KubeError("PATCH", "/x", 403, "")) == "HTTP 403"


@pytest.mark.parametrize(
    ("text", "removed"),
    [
        ("unable to retrieve container logs for containerd://3204a1\n", True),
        (
            'failed to try resolving symlinks in path "/var/log/pods/ns_p_u/job/0.log": '
            'lstat "/var/log/pods/ns_p_u/job/0.log": no such file or directory',
            True,
        ),
        ("tick 1\nunable to retrieve container logs for containerd://3204a1\n", False),
        ("unable to retrieve container logs for my report\n", False),
        ("", False),
    ],
)
def test_the_kubelets_words_for_a_removed_container_are_not_a_log(text: str, removed: bool) -> None:
    """The kubelet answers 200 with these words once it removed a deleted pod's
    container: the page says the log is gone instead of showing them as its text."""
    assert log_removed(text) is removed


def test_a_starting_run_shows_what_it_waits_for() -> None:
    words = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    starting = run("r1", "Starting", status={"reason": "Unschedulable", "message": words})
    cell = render.phase_cell(starting)
    assert 'class="badge phase-starting"' in cell
    assert ">Unschedulable</span>" in cell
    assert "didn&#x27;t match Pod&#x27;s node affinity" in cell
    assert render.phase_cell(run("r2", "Running", status={"reason": "Running"})) == render.badge(
        run("r2", "Running")
    )
    assert RunFilter(phase="Starting").matches(starting)
    assert not RunFilter(phase="Running").matches(starting)
