"""ScheduledJob on the real control plane: precise fires, one-time jobs, run now,
pause and resume, concurrency policies, missed runs, history and retention, cancel."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

import pytest

from devcluster.cluster import IDENTITIES
from devcluster.install import OperatorProcess
from jobwarden.api.paths import resource_path
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.kube import JSON, Kube
from tests.support.runs import pod_template, sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster
UTC = datetime.UTC


@pytest.fixture
def kube(cluster: TestCluster, operator: OperatorProcess) -> Kube:
    """Admin client, with the operator running."""
    return cluster.kube()


def scheduledjob(name: str, annotations: dict[str, str], **spec: Any) -> JSON:
    """A ScheduledJob whose simulated worker behaves as `annotations` say."""
    return {
        "apiVersion": runs.API,
        "kind": "ScheduledJob",
        "metadata": {"name": name},
        "spec": {"template": pod_template(annotations), **spec},
    }


def manual_run(name: str, scheduled_job: str) -> JSON:
    """A run-now JobRun of a ScheduledJob."""
    return {
        "apiVersion": runs.API,
        "kind": "JobRun",
        "metadata": {"name": name},
        "spec": {"scheduledJobRef": {"name": scheduled_job}, "trigger": "Manual"},
    }


def _time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _sj(kube: Kube, namespace: str, name: str) -> JSON:
    return runs.get(kube, namespace, name, "ScheduledJob")


def _runs_of(kube: Kube, namespace: str, name: str) -> list[JSON]:
    items: list[JSON] = kube.get(runs.path(namespace)).get("items", [])
    return [r for r in items if r["spec"].get("scheduledJobRef", {}).get("name") == name]


def _wait_sj(
    kube: Kube, namespace: str, name: str, check: Any, what: str, timeout: float = 30
) -> JSON:
    """Wait until the ScheduledJob's status passes `check`; return that status."""

    def probe() -> JSON | None:
        status: JSON = _sj(kube, namespace, name).get("status", {})
        return status if check(status) else None

    return wait_until(probe, timeout=timeout, message=f"ScheduledJob {name}: {what}")


def test_every_minute_schedule_fires_within_a_second(kube: Kube, namespace: str) -> None:
    runs.create(kube, namespace, scheduledjob("tick", sim(run_seconds=0.5), schedule="* * * * *"))
    status = _wait_sj(
        kube, namespace, "tick", lambda s: s.get("nextScheduleTime"), "nextScheduleTime"
    )
    next_fire = _time(status["nextScheduleTime"])
    assert next_fire.second == 0 and next_fire.microsecond == 0
    assert next_fire > datetime.datetime.now(UTC) - datetime.timedelta(seconds=1)

    run = wait_until(
        lambda: next(iter(_runs_of(kube, namespace, "tick")), None),
        timeout=75,
        message="the first scheduled run",
    )
    scheduled = _time(run["spec"]["scheduledTime"])
    created = _time(run["metadata"]["creationTimestamp"])  # whole seconds, rounded down
    assert scheduled == next_fire
    assert run["metadata"]["name"] == f"tick-{int(scheduled.timestamp())}"
    assert 0 <= (created - scheduled).total_seconds() <= 1, f"created {created}, due {scheduled}"
    assert run["spec"]["trigger"] == "Schedule"
    assert run["metadata"]["labels"]["jobwarden.dev/scheduledjob"] == "tick"
    assert run["metadata"]["labels"]["jobwarden.dev/trigger"] == "Schedule"
    # Stamped by the operator itself: its own creates skip the webhooks.
    annotations = run["metadata"]["annotations"]
    assert annotations["jobwarden.dev/created-by"] == IDENTITIES["operator"].user
    assert annotations["jobwarden.dev/triggered-by"] == "schedule"
    assert run["metadata"]["ownerReferences"][0]["kind"] == "ScheduledJob"
    done = runs.wait_phase(kube, namespace, run["metadata"]["name"], "Succeeded", timeout=30)
    assert done["status"]["snapshot"]["template"]["metadata"]["annotations"] == sim(run_seconds=0.5)
    status = _wait_sj(
        kube, namespace, "tick", lambda s: s.get("lastSuccessfulTime"), "lastSuccessfulTime"
    )
    assert _time(status["lastScheduleTime"]) == scheduled
    assert _time(status["nextScheduleTime"]) == scheduled + datetime.timedelta(minutes=1)
    assert status["phase"] == "Active"


def test_one_time_job_runs_once_and_completes(kube: Kube, namespace: str) -> None:
    runs.create(kube, namespace, scheduledjob("once", sim(run_seconds=0.5)))
    status = _wait_sj(kube, namespace, "once", lambda s: s.get("phase") == "Completed", "Completed")
    created = _runs_of(kube, namespace, "once")
    assert len(created) == 1
    assert created[0]["status"]["phase"] == "Succeeded"
    assert not status.get("nextScheduleTime")


def test_run_now_snapshots_the_template_and_inherits_settings(kube: Kube, namespace: str) -> None:
    body = scheduledjob(
        "report", sim(run_seconds=1), schedule="0 0 1 1 *", priority="High", timeoutSeconds=77
    )
    runs.create(kube, namespace, body)
    runs.create(kube, namespace, manual_run("report-now", "report"))
    running = runs.wait_phase(kube, namespace, "report-now", ("Running", "Succeeded"))
    snapshot = running["status"]["snapshot"]
    assert snapshot["template"]["metadata"]["annotations"] == sim(run_seconds=1)
    assert snapshot["settings"]["priority"] == "High"
    assert snapshot["settings"]["timeoutSeconds"] == 77

    kube.merge_patch(
        runs.path(namespace, "report", "ScheduledJob"),
        {"spec": {"template": pod_template(sim(run_seconds=300))}},
    )
    done = runs.wait_phase(kube, namespace, "report-now", "Succeeded", timeout=30)
    assert done["status"]["snapshot"] == snapshot, "an edit of the job changed a started run"
    selector = "jobwarden.dev/scheduledjob=report,jobwarden.dev/trigger=Manual"
    found = kube.get(
        runs.path(namespace), labelSelector=selector, fieldSelector="status.phase=Succeeded"
    )["items"]
    assert [r["metadata"]["name"] for r in found] == ["report-now"], "filter labels at creation"


def test_pause_and_resume(kube: Kube, namespace: str) -> None:
    runs.create(
        kube,
        namespace,
        scheduledjob("pausable", sim(), schedule="0 3 * * *", timeZone="Europe/Berlin"),
    )
    before = _wait_sj(kube, namespace, "pausable", lambda s: s.get("nextScheduleTime"), "next fire")
    next_fire = _time(before["nextScheduleTime"])
    berlin = next_fire.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert (berlin.hour, berlin.minute) == (3, 0)

    kube.merge_patch(runs.path(namespace, "pausable", "ScheduledJob"), {"spec": {"suspend": True}})
    paused = _wait_sj(
        kube, namespace, "pausable", lambda s: s.get("phase") == "Suspended", "Suspended"
    )
    assert not paused.get("nextScheduleTime")
    assert any(c["type"] == "Suspended" and c["status"] == "True" for c in paused["conditions"])

    kube.merge_patch(runs.path(namespace, "pausable", "ScheduledJob"), {"spec": {"suspend": False}})
    resumed = _wait_sj(kube, namespace, "pausable", lambda s: s.get("phase") == "Active", "Active")
    assert _time(resumed["nextScheduleTime"]) == next_fire
    messages = [e["message"] for e in resumed["log"]]
    assert any(m.startswith("suspended") for m in messages)
    assert any(m.startswith("resumed") for m in messages)


def _next_wall_time(now: datetime.datetime, hour: int, minute: int) -> datetime.datetime:
    """The first hour:minute (UTC) strictly after now."""
    candidate = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return candidate if candidate > now else candidate + datetime.timedelta(days=1)


def test_a_single_value_range_fires_at_that_value_only(kube: Kube, namespace: str) -> None:
    """`M-M H-H * * *` is H:M once a day, as in a CronJob (croniter alone would read
    each equal range as its whole field: every minute of every hour)."""
    now = datetime.datetime.now(UTC)
    later = now + datetime.timedelta(hours=2, minutes=30)  # never the next minute or hour
    hour, minute = later.hour, later.minute
    schedule = f"{minute}-{minute} {hour}-{hour} * * *"
    runs.create(kube, namespace, scheduledjob("single", sim(), schedule=schedule))
    status = _wait_sj(kube, namespace, "single", lambda s: s.get("nextScheduleTime"), "next fire")
    assert _time(status["nextScheduleTime"]) == _next_wall_time(now, hour, minute)
    assert _sj(kube, namespace, "single")["spec"]["schedule"] == schedule


def test_blanks_between_fields_are_accepted_and_kept_as_written(kube: Kube, namespace: str) -> None:
    """Tabs and runs of blanks, as CronJob accepts them; nobody rewrites the spec."""
    schedule = "30\t4 *   *\t\t*\n"
    created = runs.create(
        kube,
        namespace,
        scheduledjob("blanks", sim(), schedule=schedule, timeZone="Europe/Berlin"),
    )
    assert created["spec"]["schedule"] == schedule
    status = _wait_sj(kube, namespace, "blanks", lambda s: s.get("nextScheduleTime"), "next fire")
    berlin = _time(status["nextScheduleTime"]).astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert (berlin.hour, berlin.minute) == (4, 30)
    stored = _sj(kube, namespace, "blanks")
    assert stored["spec"]["schedule"] == schedule
    assert stored["metadata"]["generation"] == 1, "the spec was written after creation"


def _set_last_fire(kube: Kube, namespace: str, name: str, last: datetime.datetime) -> None:
    """Make the job's last fire `last`: the state an operator outage leaves behind."""
    kube.merge_patch(
        resource_path(runs.API, "scheduledjobs", namespace, name, "status"),
        {"status": {"lastScheduleTime": last.strftime("%Y-%m-%dT%H:%M:%SZ")}},
    )


def _minute_ago() -> datetime.datetime:
    return datetime.datetime.now(UTC) - datetime.timedelta(seconds=61)


def test_forbid_skips_a_fire_while_a_run_is_active(kube: Kube, namespace: str) -> None:
    runs.create(
        kube,
        namespace,
        scheduledjob(
            "forbid", sim(run_seconds=600), schedule="* * * * *", concurrencyPolicy="Forbid"
        ),
    )
    _wait_sj(kube, namespace, "forbid", lambda s: s.get("nextScheduleTime"), "next fire")
    runs.create(kube, namespace, manual_run("forbid-manual", "forbid"))
    runs.wait_phase(kube, namespace, "forbid-manual", "Running")
    _set_last_fire(kube, namespace, "forbid", _minute_ago())
    status = _wait_sj(
        kube, namespace, "forbid", lambda s: s.get("missedRuns", 0) >= 1, "a missed fire"
    )
    assert [r["metadata"]["name"] for r in _runs_of(kube, namespace, "forbid")] == ["forbid-manual"]
    assert any("ConcurrencyPolicy" in e["message"] for e in status["log"])
    runs.wait_events(kube, namespace, "forbid", "MissedSchedule")


def test_replace_cancels_the_active_run_then_starts_the_new_one(kube: Kube, namespace: str) -> None:
    runs.create(
        kube,
        namespace,
        scheduledjob(
            "replace",
            sim(run_seconds=600, sigterm_exit_seconds=1),
            schedule="* * * * *",
            concurrencyPolicy="Replace",
        ),
    )
    _wait_sj(kube, namespace, "replace", lambda s: s.get("nextScheduleTime"), "next fire")
    runs.create(kube, namespace, manual_run("replace-manual", "replace"))
    runs.wait_phase(kube, namespace, "replace-manual", "Running")
    _set_last_fire(kube, namespace, "replace", _minute_ago())
    cancelled = runs.wait_phase(kube, namespace, "replace-manual", "Cancelled", timeout=30)
    record = cancelled["status"]["cancellation"]
    assert "replaced by replace-" in record["reason"]
    scheduled = wait_until(
        lambda: [
            r for r in _runs_of(kube, namespace, "replace") if r["spec"]["trigger"] == "Schedule"
        ],
        timeout=15,
        message="the replacing run",
    )
    new = runs.wait_phase(kube, namespace, scheduled[0]["metadata"]["name"], "Running", timeout=30)
    started = _time(new["status"]["attempts"][0]["startTime"])
    assert started >= _time(record["finishedAt"]), "the new run started before the old one ended"


@pytest.mark.parametrize(
    ("policy", "expected_runs", "expected_missed"),
    [("Skip", 0, 3), ("RunOnce", 1, 2), ("RunAll", 3, 0)],
    ids=["skip", "run-once", "run-all"],
)
def test_missed_fires_while_the_operator_was_down(
    operator: OperatorProcess,
    kube: Kube,
    namespace: str,
    policy: str,
    expected_runs: int,
    expected_missed: int,
) -> None:
    """Hourly at a minute half an hour away from now; the operator is down while the
    job's last fire is 3 h 5 min in the past: 3 fires were missed."""
    minute = (datetime.datetime.now(UTC).minute + 30) % 60
    body = scheduledjob(
        "hourly",
        sim(run_seconds=0.3),
        schedule=f"{minute} * * * *",
        missedRunPolicy={"policy": policy, "maxRuns": 10},
        concurrencyPolicy="Allow",
    )
    runs.create(kube, namespace, body)
    _wait_sj(kube, namespace, "hourly", lambda s: s.get("nextScheduleTime"), "next fire")
    operator.stop()
    try:
        last_fire = datetime.datetime.now(UTC).replace(minute=minute, second=0, microsecond=0)
        while last_fire > datetime.datetime.now(UTC):
            last_fire -= datetime.timedelta(hours=1)
        _set_last_fire(kube, namespace, "hourly", last_fire - datetime.timedelta(hours=3))
    finally:
        operator.start()
    status = _wait_sj(
        kube,
        namespace,
        "hourly",
        lambda s: _time(s.get("lastScheduleTime", "1970-01-01T00:00:00Z")) >= last_fire,
        "the missed fires to be handled",
    )
    created = _runs_of(kube, namespace, "hourly")
    assert len(created) == expected_runs, [r["metadata"]["name"] for r in created]
    assert status.get("missedRuns", 0) == expected_missed
    fires = sorted(_time(r["spec"]["scheduledTime"]) for r in created)
    if policy == "RunOnce":
        assert fires == [last_fire]
    if policy == "RunAll":
        assert fires == [last_fire - datetime.timedelta(hours=h) for h in (2, 1, 0)]
    if expected_missed:
        runs.wait_events(kube, namespace, "hourly", "MissedSchedule")


def test_history_limits_keep_the_newest_and_record_the_rest(kube: Kube, namespace: str) -> None:
    runs.create(
        kube,
        namespace,
        scheduledjob(
            "limited",
            sim(run_seconds=0.2, exit_codes="0"),
            schedule="0 0 1 1 *",
            successfulRunsHistoryLimit=2,
            failedRunsHistoryLimit=1,
            concurrencyPolicy="Allow",
            retries=0,
        ),
    )
    names = [f"limited-m{i}" for i in range(5)]
    for name in names:
        runs.create(kube, namespace, manual_run(name, "limited"))
        runs.wait_phase(kube, namespace, name, "Succeeded", timeout=30)
    status = _wait_sj(
        kube, namespace, "limited", lambda s: len(s.get("history", [])) >= 3, "3 pruned summaries"
    )
    remaining = sorted(r["metadata"]["name"] for r in _runs_of(kube, namespace, "limited"))
    wait_until(
        lambda: (
            sorted(r["metadata"]["name"] for r in _runs_of(kube, namespace, "limited")) == names[3:]
        ),
        timeout=15,
        message=f"only the 2 newest runs left (now {remaining})",
    )
    summaries = status["history"]
    assert [h["name"] for h in summaries] == names[:3]
    for summary in summaries:
        assert summary["phase"] == "Succeeded" and summary["trigger"] == "Manual"
        assert summary["startTime"] and summary["completionTime"]
        assert summary["durationSeconds"] >= 0


def test_retention_deletes_old_runs(kube: Kube, namespace: str) -> None:
    runs.create(
        kube,
        namespace,
        scheduledjob(
            "retained", sim(run_seconds=0.2), schedule="0 0 1 1 *", runRetentionDays=0.0001
        ),
    )
    runs.create(kube, namespace, manual_run("retained-1", "retained"))
    runs.wait_phase(kube, namespace, "retained-1", "Succeeded", timeout=30)
    wait_until(
        lambda: not _runs_of(kube, namespace, "retained"),
        timeout=40,
        message="the run older than the retention (8.6 s) to be deleted",
    )


def test_cancel_ends_the_schedule_and_cancels_active_runs(kube: Kube, namespace: str) -> None:
    runs.create(
        kube,
        namespace,
        scheduledjob(
            "ending", sim(run_seconds=600, sigterm_exit_seconds=0.5), schedule="*/5 * * * *"
        ),
    )
    _wait_sj(kube, namespace, "ending", lambda s: s.get("nextScheduleTime"), "next fire")
    runs.create(kube, namespace, manual_run("ending-now", "ending"))
    runs.wait_phase(kube, namespace, "ending-now", "Running")
    runs.cancel(kube, namespace, "ending", kind="ScheduledJob")
    status = _wait_sj(
        kube, namespace, "ending", lambda s: s.get("phase") == "Cancelled", "Cancelled"
    )
    assert not status.get("nextScheduleTime")
    done = runs.wait_phase(kube, namespace, "ending-now", "Cancelled", timeout=30)
    assert "was cancelled" in done["status"]["cancellation"]["reason"]
