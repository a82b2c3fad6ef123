"""The plugin's views, computed from API objects: active rows, history merge and
filters, quota use, the status page, and the objects `run` and `retry` create."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest

from jobwarden.api import constants as c
from jobwarden.cli import views
from jobwarden.client import actions, history
from jobwarden.client import objects as facts
from jobwarden.client import quota as quotas
from jobwarden.client.access import CancelRight
from jobwarden.client.text import UsageError, parse_since

UTC = datetime.UTC
NOW = datetime.datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)
JSON = dict[str, Any]


def ts(minutes_ago: float) -> str:
    """A timestamp `minutes_ago` before NOW, as the API server writes it."""
    moment = NOW - datetime.timedelta(minutes=minutes_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(
    name: str,
    phase: str | None,
    *,
    kind: str = "JobRun",
    namespace: str = "team-a",
    created: float = 10,
    status: JSON | None = None,
    spec: JSON | None = None,
    annotations: dict[str, str] | None = None,
) -> JSON:
    body: JSON = {
        "apiVersion": c.API_VERSION,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": ts(created),
            "annotations": annotations or {},
        },
        "spec": spec or {},
        "status": {**({"phase": phase} if phase else {}), **(status or {})},
    }
    return body


# -------------------------------------------------------------------- names, kinds
@pytest.mark.parametrize(
    ("alias", "kind"),
    [
        ("jobrun", "JobRun"),
        ("JobRuns", "JobRun"),
        ("jr", "JobRun"),
        ("jobruns.jobwarden.dev", "JobRun"),
        ("jobrun.jobwarden.dev", "JobRun"),
        ("exp", "Export"),
        ("sj", "ScheduledJob"),
        ("wq", "WorkerQuota"),
    ],
)
def test_kind_aliases(alias: str, kind: str) -> None:
    assert facts.kind_of(alias) == kind


def test_unknown_or_disallowed_kinds_are_refused() -> None:
    with pytest.raises(facts.UnknownKindError, match="pod"):
        facts.kind_of("pod")
    with pytest.raises(facts.UnknownKindError, match="jobrun, export"):
        facts.kind_of("sj", facts.RUN_KINDS)


def test_refs_split_into_kind_and_name() -> None:
    assert facts.split_ref("export/orders") == ("Export", "orders")
    assert facts.split_ref("jobrun.jobwarden.dev/x") == ("JobRun", "x")
    assert facts.split_ref("plain") == (None, "plain")


# ------------------------------------------------------------------------- active
def test_active_shows_only_unfinished_runs_oldest_first() -> None:
    objects = [
        run("done", "Succeeded", created=30),
        run("young", "Queued", created=1),
        run("old", "Running", created=20),
        run("fresh", None, created=0.1),
        run("cancelled", "Cancelled", created=5),
    ]
    assert [facts.name_of(o) for o in views.active_objects(objects)] == ["old", "young", "fresh"]


def test_active_rows_show_progress_elapsed_stuck_queue_and_cancel_right() -> None:
    running = run(
        "etl",
        "Running",
        created=20,
        status={
            "startTime": ts(13),
            "attempt": 2,
            "progress": {"fraction": 0.42, "percent": 42, "message": "chunk 3"},
            "conditions": [
                {"type": "Stuck", "status": "True", "reason": "NoProgress", "message": "m"}
            ],
        },
        spec={"scheduledJobRef": {"name": "nightly"}, "priority": "High"},
        annotations={c.ANNOTATION_CREATED_BY: "alice"},
    )
    queued = run(
        "orders",
        "Queued",
        kind="Export",
        created=2,
        status={
            "queue": {
                "position": 3,
                "reason": "QuotaExhausted",
                "message": "10/10",
                "estimatedStartTime": ts(-3),  # in 3 minutes
            }
        },
    )
    rights = {
        ("JobRun", "team-a", "etl"): CancelRight(True, "creator"),
        ("Export", "team-a", "orders"): CancelRight(False, "not the creator"),
    }
    headers, rows = views.active_rows([running, queued], rights, NOW)
    assert headers == list(views.ACTIVE_HEADERS)
    assert rows == [
        ["JobRun", "etl", "Running", "42%", "13m", "yes", "-", "-", "yes"],
        ["Export", "orders", "Queued", "-", "2m", "no", "3 (QuotaExhausted)", "~3m", "no"],
    ]
    headers, rows = views.active_rows([running], rights, NOW, wide=True, all_namespaces=True)
    assert headers[0] == "namespace" and headers[-5:] == [
        "priority",
        "attempt",
        "scheduledjob",
        "created-by",
        "message",
    ]
    assert rows[0][0] == "team-a" and rows[0][-5:] == ["High", "2", "nightly", "alice", "chunk 3"]


def test_percent_falls_back_to_the_fraction() -> None:
    assert facts.progress_text(run("x", "Running", status={"progress": {"fraction": 0.5}})) == "50%"
    assert facts.progress_text(run("x", "Running")) == "-"


def test_cancel_right_cells() -> None:
    assert CancelRight(True, "creator").cell() == "yes"
    assert CancelRight(False, "no RBAC patch").cell() == "no"
    assert CancelRight(False, "requested").cell() == "requested"


def test_the_creator_of_a_scheduled_run_is_the_creator_of_its_job() -> None:
    job = {"metadata": {"annotations": {c.ANNOTATION_CREATED_BY: "alice"}}}
    scheduled = run(
        "n-1",
        "Running",
        spec={"scheduledJobRef": {"name": "n"}, "trigger": "Schedule"},
        annotations={c.ANNOTATION_CREATED_BY: "system:serviceaccount:jobwarden:operator"},
    )
    manual = run(
        "n-manual",
        "Running",
        spec={"scheduledJobRef": {"name": "n"}, "trigger": "Manual"},
        annotations={c.ANNOTATION_CREATED_BY: "bob"},
    )
    assert "alice" in facts.owner_candidates(scheduled, job)
    assert facts.owner_candidates(manual, job) == ["bob"]
    assert facts.owner_candidates(run("bare", "Queued"), None) == []


# ------------------------------------------------------------------------ history
def _job() -> JSON:
    return {
        "kind": "ScheduledJob",
        "metadata": {"name": "nightly", "namespace": "team-a"},
        "status": {
            "history": [
                {
                    "name": "nightly-old",
                    "trigger": "Schedule",
                    "scheduledTime": ts(3 * 24 * 60),
                    "startTime": ts(3 * 24 * 60 - 0.1),
                    "completionTime": ts(3 * 24 * 60 - 2),
                    "phase": "Failed",
                    "durationSeconds": 114.0,
                    "reason": "Error",
                    "error": "connection refused",
                },
                {
                    "name": "nightly-ancient",
                    "trigger": "Manual",
                    "startTime": ts(30 * 24 * 60),
                    "completionTime": ts(30 * 24 * 60 - 1),
                    "phase": "Succeeded",
                    "durationSeconds": 60,
                },
                # pruned, but its object still exists: the object wins
                {"name": "nightly-live", "trigger": "Manual", "phase": "Succeeded"},
            ]
        },
    }


def _runs() -> list[JSON]:
    return [
        run(
            "nightly-live",
            "Cancelled",
            created=60,
            spec={"scheduledJobRef": {"name": "nightly"}, "trigger": "Manual"},
            status={
                "startTime": ts(59),
                "completionTime": ts(58),
                "reason": "Cancelled",
                "attempts": [
                    {"attempt": 1, "podName": "nightly-live-1", "exitCode": 143, "message": "bye"}
                ],
                "cancellation": {"requestedBy": "bob", "reason": "wrong day"},
            },
            annotations={c.ANNOTATION_TRIGGERED_BY: "alice"},
        ),
        run(
            "nightly-queued",
            "Queued",
            created=1,
            spec={"scheduledJobRef": {"name": "nightly"}, "trigger": "Rerun"},
        ),
        run("other-job-run", "Succeeded", spec={"scheduledJobRef": {"name": "other"}}),
        run("standalone", "Succeeded"),
    ]


def test_history_merges_live_runs_with_pruned_summaries_newest_first() -> None:
    records = history.history_records(_job(), _runs(), NOW)
    assert [r["name"] for r in records] == [
        "nightly-queued",
        "nightly-live",
        "nightly-old",
        "nightly-ancient",
    ]
    live = records[1]
    assert live["source"] == "JobRun" and live["phase"] == "Cancelled"
    assert live["durationSeconds"] == 60.0
    assert live["attempts"] == 1 and live["exitCode"] == 143
    assert live["cancelledBy"] == "bob" and live["cancelReason"] == "wrong day"
    assert live["triggeredBy"] == "alice" and live["error"] == "bye"
    old = records[2]
    assert old["source"] == "history" and old["phase"] == "Failed"
    assert old["durationSeconds"] == 114.0 and old["reason"] == "Error"
    assert old["attempts"] is None and old["error"] == "connection refused"
    assert records[0]["error"] is None  # no attempt yet
    public = history.public_record(old)
    assert list(public) == list(history.HISTORY_COLUMNS)


def test_history_filters_by_phase_and_since() -> None:
    records = history.history_records(_job(), _runs(), NOW)
    failed = history.filter_history(records, phases=["failed"])
    assert [r["name"] for r in failed] == ["nightly-old"]
    week = history.filter_history(records, since=parse_since("7d", NOW))
    assert [r["name"] for r in week] == ["nightly-queued", "nightly-live", "nightly-old"]
    both = history.filter_history(records, phases=["Succeeded", "Cancelled"], since=NOW)
    assert both == []
    assert len(history.filter_history(records, limit=2)) == 2


def test_history_rows() -> None:
    records = history.history_records(_job(), _runs(), NOW)
    headers, rows = views.history_rows(records)
    assert headers == list(views.HISTORY_HEADERS)
    assert rows[1] == ["nightly-live", "Manual", "Cancelled", ts(59), "1m", "-"]  # no repeat
    assert rows[2][-1] == "Error"
    assert rows[0][3] == "-"  # not started yet
    headers, rows = views.history_rows(records, wide=True)
    assert rows[1][-1] == "JobRun" and rows[2][-1] == "history"


# -------------------------------------------------------------------------- quota
def test_quota_records_from_workerquotas_and_the_default() -> None:
    quota = {
        "kind": "WorkerQuota",
        "metadata": {"name": "quota", "namespace": "team-a"},
        "spec": {"maxRunning": 3},
        "status": {"running": 3, "queued": 2, "queuedByPriority": {"high": 2}},
    }
    others = [
        run("r1", "Running", namespace="team-b"),
        run("r2", "Cancelling", namespace="team-b"),
        run("q1", "Queued", namespace="team-b", spec={"priority": "Low"}),
        run(
            "q2",
            "Queued",
            namespace="team-b",
            status={"snapshot": {"settings": {"priority": "High"}}},
        ),
        run("q3", "Queued", namespace="team-b"),
        run("d1", "Succeeded", namespace="team-b"),
        run("ignored", "Running", namespace="team-a"),  # team-a has a WorkerQuota
    ]
    records = quotas.quota_records([quota], others, ["team-c"])
    assert [(r["namespace"], r["name"]) for r in records] == [
        ("team-a", "quota"),
        ("team-b", "(default)"),
        ("team-c", "(default)"),
    ]
    assert records[0]["queuedByPriority"] == {"high": 2, "medium": 0, "low": 0}
    team_b = records[1]
    assert team_b["maxRunning"] == c.DEFAULT_MAX_RUNNING
    assert (team_b["running"], team_b["queued"]) == (2, 3)
    assert team_b["queuedByPriority"] == {"high": 1, "medium": 1, "low": 1}
    headers, rows = views.quota_rows(records, all_namespaces=True)
    assert headers == ["namespace", *views.QUOTA_HEADERS]
    assert rows[0] == ["team-a", "quota", "3", "3", "2", "2", "0", "0"]


# ------------------------------------------------------------------------- status
def test_status_page_shows_phase_attempts_cancellation_log_and_events() -> None:
    obj = run(
        "etl",
        "Cancelled",
        spec={"scheduledJobRef": {"name": "nightly"}, "trigger": "Manual", "cancel": True},
        status={
            "reason": "Cancelled",
            "message": "cancelled after 12s",
            "startTime": ts(9),
            "completionTime": ts(8),
            "attempt": 1,
            "snapshot": {"settings": {"retries": 2, "priority": "Low"}},
            "attempts": [
                {
                    "attempt": 1,
                    "podName": "etl-1",
                    "startTime": ts(9),
                    "finishTime": ts(8),
                    "exitCode": 143,
                    "reason": "Cancelled",
                }
            ],
            "cancellation": {
                "requestedBy": "bob",
                "requestedAt": ts(8.5),
                "reason": "wrong input",
                "signalledAt": ts(8.5),
                "finishedAt": ts(8),
                "gracePeriodSeconds": 30,
                "outcome": "Cancelled",
            },
            "log": [{"time": ts(9), "message": "attempt 1 started"}],
        },
        annotations={c.ANNOTATION_CREATED_BY: "alice"},
    )
    events = [
        {"type": "Normal", "reason": "Started", "message": "pod etl-1", "lastTimestamp": ts(9)},
        {"type": "Normal", "reason": "Cancelled", "message": "done", "lastTimestamp": ts(8)},
    ]
    page = views.describe_run(obj, events, NOW, right=CancelRight(False, "requested"))
    for expected in (
        r"Name:\s+etl\n",
        r"ScheduledJob:\s+nightly\n",
        r"Created by:\s+alice\n",
        r"Priority:\s+Low\n",
        r"Phase:\s+Cancelled: cancelled after 12s\n",
        r"Attempt:\s+1 of 3\n",
        r"Duration:\s+1m\n",
        r"Can cancel:\s+requested",
        r"Attempts:\n.*etl-1 .* 143 ",
        r"Cancellation:\n\s+Requested by:\s+bob\n",
        r"Reason:\s+wrong input\n",
        r"Grace period:\s+30s\n",
        r"Outcome:\s+Cancelled\n",
        r"Log:\n.*attempt 1 started",
        r"Events:\n.*Started .*pod etl-1",
    ):
        assert re.search(expected, page, re.DOTALL), f"{expected!r} missing from:\n{page}"
    assert page.index("Started ") < page.index("Cancelled   ")


def test_last_events_keeps_the_newest_in_time_order() -> None:
    events = [
        {"reason": "B", "lastTimestamp": ts(2)},
        {"reason": "A", "lastTimestamp": ts(3)},
        {"reason": "C", "eventTime": ts(1)},
    ]
    assert [e["reason"] for e in facts.last_events(events, 2)] == ["B", "C"]
    assert facts.last_events(events, 0) == []


# ------------------------------------------------------------------ run and retry
def test_manual_run_names_stay_within_the_run_name_limit() -> None:
    body = actions.manual_run("report", "team-a", "High")
    assert body["metadata"]["generateName"] == "report-manual-"
    assert body["spec"] == {
        "scheduledJobRef": {"name": "report"},
        "trigger": "Manual",
        "priority": "High",
    }
    longest = "j" * c.MAX_SCHEDULED_JOB_NAME
    prefix = actions.manual_run(longest, "team-a")["metadata"]["generateName"]
    assert len(prefix) + actions.GENERATED_CHARS <= c.MAX_RUN_NAME
    assert prefix.endswith("-manual-")


def test_rerun_of_a_scheduled_run_keeps_the_ref_and_settings() -> None:
    original = run(
        "nightly-1741600000",
        "Failed",
        spec={
            "scheduledJobRef": {"name": "nightly"},
            "trigger": "Schedule",
            "scheduledTime": ts(60),
            "timeoutSeconds": 60,
            "cancel": True,
        },
    )
    original["metadata"]["labels"] = {"team": "data", "jobwarden.dev/scheduledjob": "nightly"}
    body = actions.rerun(original)
    assert body["metadata"]["generateName"] == "nightly-rerun-"
    assert body["metadata"]["labels"] == {"team": "data"}
    assert body["spec"] == {
        "scheduledJobRef": {"name": "nightly"},
        "timeoutSeconds": 60,
        "trigger": "Rerun",
        "rerunOf": "nightly-1741600000",
    }


def test_rerun_of_a_standalone_run_and_of_an_export() -> None:
    template = {"spec": {"containers": [{"name": "main", "image": "x"}]}}
    standalone = run("fix-rerun-ab12c", "Succeeded", spec={"template": template})
    body = actions.rerun(standalone)
    assert body["metadata"]["generateName"] == "fix-rerun-"  # no -rerun-x-rerun- chains
    assert body["spec"]["template"] == template and body["spec"]["rerunOf"] == "fix-rerun-ab12c"
    export = run("orders", "Failed", kind="Export", spec={"format": "csv", "cancel": True})
    body = actions.rerun(export)
    assert body["kind"] == "Export" and body["spec"] == {"format": "csv"}
    assert body["metadata"]["generateName"] == "orders-rerun-"


def test_usage_error_is_a_value_error() -> None:
    assert issubclass(UsageError, ValueError)


def test_status_page_of_a_standalone_run_uses_the_default_retries() -> None:
    obj = run(
        "solo",
        "Retrying",
        status={"attempt": 2, "reason": "BackoffLimit", "nextAttemptTime": ts(-3)},
        spec={"template": {}},
    )
    page = views.describe_run(obj, [], NOW)
    assert re.search(rf"Attempt:\s+2 of {c.DEFAULT_RETRIES + 1}\n", page)
    assert re.search(r"Phase:\s+Retrying \(BackoffLimit\)\n", page)
    assert re.search(r"Next attempt:\s+\S+ \(in 3m\)\n", page)
    assert "Events:  <none>" in page


def test_history_orders_runs_started_within_one_second_by_their_exact_start() -> None:
    second = NOW.replace(microsecond=0) - datetime.timedelta(minutes=5)
    earlier = (second + datetime.timedelta(milliseconds=100)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    later = (second + datetime.timedelta(milliseconds=900)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    job = {
        "kind": "ScheduledJob",
        "metadata": {"name": "nightly", "namespace": "team-a"},
        "status": {"history": [{"name": "b-first", "phase": "Succeeded", "startTime": earlier}]},
    }
    live = run(
        "a-second",  # sorts before "b-first" by name: the time must decide
        "Succeeded",
        spec={"scheduledJobRef": {"name": "nightly"}},
        status={"startTime": later, "completionTime": later},
    )
    records = history.history_records(job, [live], NOW)
    assert [r["name"] for r in records] == ["a-second", "b-first"]
    assert records[0]["startTime"] == records[1]["startTime"], "shown in whole seconds"


def test_active_rows_say_what_a_starting_run_waits_for() -> None:
    starting = run("pending-1", "Starting", status={"reason": "ImagePullBackOff"})
    headers, rows = views.active_rows([starting], {}, NOW)
    assert rows[0][headers.index("phase")] == "Starting (ImagePullBackOff)"
    assert facts.phase_text(run("r", "Running", status={"reason": "Running"})) == "Running"
    assert "Starting" in facts.HOLDING_PHASES
