"""The dashboard's new pieces of HTML (issue 23): actions where the rows are and
whether they are offered, times as <time> elements, state badges, paging."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from jobwarden.client.access import Right
from jobwarden.dashboard import render
from jobwarden.dashboard.render import JobRights, Page, RunFilter

NOW = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.UTC)
PAGE = Page(base="/tok", user="alice", context=None, now=NOW, namespaces=("team-a",))
YES, NO = Right(True, "creator"), Right(False, "no RBAC create on jobruns")
JSON = dict[str, Any]


def run(name: str, phase: str | None, **spec: Any) -> JSON:
    minute = int(name[-2:])  # r00 … r59: created a minute apart
    return {
        "kind": "JobRun",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "creationTimestamp": f"2026-03-10T11:{minute:02d}:00Z",
        },
        "spec": spec,
        "status": {"phase": phase} if phase else {},
    }


def job(name: str, phase: str = "Active", **spec: Any) -> JSON:
    return {
        "kind": "ScheduledJob",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"schedule": "0 2 * * *", "timeZone": "Europe/Berlin", **spec},
        "status": {"phase": phase, "nextScheduleTime": "2026-03-11T01:00:00Z"},
    }


@pytest.mark.parametrize(
    ("phase", "rerun"), [("Failed", True), ("Cancelled", True), ("Succeeded", False)]
)
def test_rerun_is_offered_after_a_failure_or_a_cancel(phase: str, rerun: bool) -> None:
    html = render.run_row(PAGE, run("r01", phase), None, show_namespace=False, rerun=YES)
    assert ('aria-label="Re-run r01"' in html) is rerun
    assert "data-cancel" not in html


def test_a_rerun_the_user_may_not_do_is_disabled_and_says_why() -> None:
    html = render.run_row(PAGE, run("r01", "Failed"), None, show_namespace=False, rerun=NO)
    assert " disabled " in html and "You may not re-run it: no RBAC create on jobruns" in html


def test_only_rows_the_user_may_cancel_can_be_ticked() -> None:
    open_run = run("r01", "Queued")
    assert 'data-select="JobRun/team-a/r01"' in render.select_box(open_run, YES)
    assert render.select_box(open_run, NO) == ""
    assert render.select_box(run("r01", "Running", cancel=True), YES) == ""


def test_cancel_all_matching_counts_what_is_open_and_follows_rbac() -> None:
    assert "Cancel all matching this filter (3)" in render.bulk_bar(3, YES)
    assert "disabled" not in render.bulk_bar(3, YES).split('id="cancel-matching"')[1][:40]
    refused = render.bulk_bar(3, Right(False, "no RBAC patch on these runs"))
    assert 'disabled title="You may not cancel these: no RBAC patch on these runs"' in refused
    assert 'title="Nothing to cancel: no unfinished run matches"' in render.bulk_bar(0, YES)


def test_the_runs_page_shows_one_page_and_the_pager() -> None:
    runs = [run(f"r{i:02d}", "Succeeded") for i in range(55)]
    first = render.runs_page(PAGE, runs, {}, RunFilter(namespace="team-a"))
    assert first.count("<tr id=") == 50
    assert "Showing 1 to 50 of 55 runs." in first
    assert 'href="/tok/runs?namespace=team-a&amp;page=2" rel="next"' in first
    second = render.runs_page(PAGE, runs, {}, RunFilter(namespace="team-a"), number=2)
    assert second.count("<tr id=") == 5 and "Showing 51 to 55 of 55 runs." in second
    assert 'rel="prev"' in second and 'rel="next"' not in second


@pytest.mark.parametrize(("number", "shown"), [(0, 1), (1, 1), (3, 3), (99, 3)])
def test_page_numbers_are_clamped(number: int, shown: int) -> None:
    _items, page, pages = render.paginate(list(range(120)), number)
    assert (page, pages) == (shown, 3)


def test_times_are_utc_time_elements_shown_in_a_zone_by_the_script() -> None:
    html = render.when("2026-03-10T11:00:00Z")
    assert html == (
        '<time datetime="2026-03-10T11:00:00Z" title="2026-03-10T11:00:00Z (UTC)" data-when>'
        "2026-03-10 11:00:00 UTC</time>"
    )
    berlin = render.when("2026-03-10T11:00:00Z", "Europe/Berlin")
    assert 'data-zone="Europe/Berlin"' in berlin and ">2026-03-10 12:00:00 CET</time>" in berlin
    assert "-" in render.when(None)


@pytest.mark.parametrize(
    ("spec", "phase", "badge", "buttons"),
    [
        ({}, "Active", "Active", ("Run now", "Pause")),
        ({"suspend": True}, "Suspended", "Paused", ("Run now", "Resume")),
        ({}, "Completed", "Completed", ()),
        ({"cancel": True}, "Cancelled", "Cancelled", ()),
    ],
)
def test_the_jobs_list_has_a_badge_and_the_actions_of_each_state(
    spec: JSON, phase: str, badge: str, buttons: tuple[str, ...]
) -> None:
    rights = {"ScheduledJob/team-a/j": JobRights(run=YES, suspend=YES)}
    html = render.jobs_page(PAGE, [job("j", phase, **spec)], "", rights=rights)
    assert f'class="badge state-{badge.lower()}">{badge}</span>' in html
    for label in ("Run now", "Pause", "Resume"):
        assert (f'aria-label="{label} j"' in html) is (label in buttons)
    assert 'data-zone="Europe/Berlin"' in html  # next run on the job's clock


def test_a_sensitive_job_the_user_may_not_run_has_run_now_disabled() -> None:
    rights = JobRights(
        run=Right(False, "j is sensitive: no RBAC verb execute-sensitive"), suspend=YES
    )
    html = render.job_buttons(job("j"), rights, named=True)
    assert "You may not run it now: j is sensitive: no RBAC verb execute-sensitive" in html
    assert 'aria-label="Run now j (not allowed)"' in html


def test_the_jobs_list_and_a_jobs_history_are_paged() -> None:
    jobs = [job(f"j{i:02d}") for i in range(60)]
    second = render.jobs_page(PAGE, jobs, "", number=2)
    assert second.count('<tr id="row-scheduledjob-') == 10
    assert "Showing 51 to 60 of 60 scheduled jobs." in second
    records = [{"name": f"r{i:03d}", "phase": "Succeeded", "source": "JobRun"} for i in range(120)]
    html = render.job_page(
        PAGE, job("j"), records, status_filter="", days="7", csv_url="/x.csv", number=3
    )
    assert "Showing 101 to 120 of 120 runs." in html
    assert "(120 runs)" in html  # the CSV holds them all
    assert 'href="/tok/ns/team-a/scheduledjobs/j?days=7&amp;page=2" rel="prev"' in html
