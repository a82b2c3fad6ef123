"""Scheduling beyond CronJob on the real control plane (issue 22, points 1 and 2): the
preview (`kubectl jobwarden next`, the dashboard's job page), the admission webhook's
refusal and warning for schedules that never or seldom fire, `H` fields and
`spec.jitterSeconds`, and that a restarted operator fires at the same delayed time."""

from __future__ import annotations

import datetime
import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devcluster.install import OperatorProcess
from jobwarden.core.scheduling import DstNote, parse_schedule
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.dashboard import start_dashboard, stop_dashboard
from tests.support.kube import JSON, Kube
from tests.support.plugin import run_plugin
from tests.support.runs import sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster
UTC = datetime.UTC


@pytest.fixture
def kube(cluster: TestCluster, operator: OperatorProcess) -> Kube:
    return cluster.kube()


def _time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _plugin(cluster: TestCluster, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_plugin(cluster, namespace, *args)


def _status(kube: Kube, namespace: str, name: str, key: str) -> Any:
    def probe() -> Any:
        return runs.get(kube, namespace, name, "ScheduledJob").get("status", {}).get(key)

    return wait_until(probe, timeout=30, message=f"ScheduledJob {name}: status.{key}")


# ------------------------------------------------------------------ the preview
def test_next_lists_the_fires_the_operator_runs_with_dst_marks(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    runs.create(
        kube,
        namespace,
        runs.scheduledjob("nightly", schedule="30 2 * * *", timeZone="Europe/Berlin"),
    )
    next_schedule = _status(kube, namespace, "nightly", "nextScheduleTime")
    result = _plugin(cluster, namespace, "next", "nightly", "--count", "400", "-o", "json")
    assert result.returncode == 0, result.stderr
    fires = json.loads(result.stdout)
    assert len(fires) == 400
    # The first fire is the operator's next fire.
    assert _time(fires[0]["scheduledTime"]) == _time(next_schedule)
    # Within 400 days Berlin springs forward once and falls back once.
    moved = [f for f in fires if f["dst"] == DstNote.MOVED_BY_GAP.value]
    repeated = [f for f in fires if f["dst"] == DstNote.REPEATED_ONCE.value]
    assert len(moved) == 1 and len(repeated) == 1, [f for f in fires if f["dst"]]
    assert datetime.datetime.fromisoformat(moved[0]["localTime"]).strftime("%H:%M") == "03:00"
    assert "02:30 does not exist that day" in moved[0]["note"]
    local = datetime.datetime.fromisoformat(repeated[0]["localTime"])
    assert local.strftime("%H:%M") == "02:30" and local.utcoffset() == datetime.timedelta(hours=2)
    # One fire per local day: no day skipped, none twice.
    days = [datetime.datetime.fromisoformat(f["localTime"]).date() for f in fires]
    assert len(set(days)) == 400 and (days[-1] - days[0]).days == 399

    table = _plugin(cluster, namespace, "next", "nightly", "--count", "3")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == f'ScheduledJob nightly ({namespace}): "30 2 * * *" in Europe/Berlin'
    assert lines[1].split() == ["#", "LOCAL", "UTC", "DST"]
    assert lines[2].split()[4] == fires[0]["scheduledTime"]


def test_the_dashboard_shows_the_next_runs(
    cluster: TestCluster, kube: Kube, namespace: str
) -> None:
    runs.create(
        kube,
        namespace,
        runs.scheduledjob(
            "spread", schedule="H H(1-5) * * *", timeZone="America/New_York", jitterSeconds=900
        ),
    )
    next_schedule = _status(kube, namespace, "spread", "nextScheduleTime")
    schedule = parse_schedule(
        "H H(1-5) * * *", "America/New_York", seed=f"{namespace}/spread", jitter_seconds=900
    )
    dashboard = start_dashboard(cluster, "admin", namespace)
    try:
        url = dashboard.page_url(f"ns/{namespace}/scheduledjobs/spread")

        def page() -> str | None:
            with urllib.request.urlopen(url, timeout=10) as response:
                text = str(response.read().decode())
            return text if "next-runs-table" in text else None

        html = wait_until(page, timeout=30, message="the job page with its next runs")
    finally:
        stop_dashboard(dashboard)
    first = _time(next_schedule)
    assert first.strftime("%Y-%m-%dT%H:%M:%SZ") in html
    assert "Starts (jitter)" in html
    effective = schedule.effective(first).astimezone(schedule.zone)
    assert effective.strftime("%Y-%m-%d %H:%M:%S %Z") in html


# ------------------------------------------------------------- admission checks
def test_a_never_firing_schedule_is_refused_and_a_rare_one_warned(
    cluster: TestCluster, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    def apply(name: str, schedule: str) -> subprocess.CompletedProcess[str]:
        manifest = tmp_path / f"{name}.json"
        manifest.write_text(json.dumps(runs.scheduledjob(name, schedule=schedule)))
        return cluster.kubectl("apply", "-n", namespace, "-f", str(manifest), check=False)

    never = apply("never", "0 0 30 2 *")
    assert never.returncode != 0
    assert 'invalid schedule "0 0 30 2 *": it never fires' in never.stderr
    assert not kube.exists(runs.path(namespace, "never", "ScheduledJob"))

    leap = apply("leap", "0 0 29 2 *")
    assert leap.returncode == 0, leap.stderr
    assert (
        'Warning: spec.schedule "0 0 29 2 *" fires less than once a year: on 97 days in '
        "400 years; its next run is 2028-02-29 00:00 UTC (UTC)"
    ) in leap.stderr
    assert kube.exists(runs.path(namespace, "leap", "ScheduledJob"))
    daily = apply("daily", "0 2 * * *")
    assert daily.returncode == 0 and "Warning" not in daily.stderr, daily.stderr


# ----------------------------------------------------------------- H and jitter
def test_h_fields_are_hashed_from_namespace_and_name(kube: Kube, namespace: str) -> None:
    expected = {}
    for name in ("alpha", "beta", "gamma"):
        runs.create(kube, namespace, runs.scheduledjob(name, schedule="H(0-29) H * * *"))
        schedule = parse_schedule("H(0-29) H * * *", seed=f"{namespace}/{name}")
        expected[name] = schedule.next_after(datetime.datetime.now(UTC))
    for name, fire in expected.items():
        assert _time(_status(kube, namespace, name, "nextScheduleTime")) == fire
    stored = runs.get(kube, namespace, "alpha", "ScheduledJob")
    assert stored["spec"]["schedule"] == "H(0-29) H * * *"  # kept as written


def test_jitter_delays_each_fire_the_same_way_after_a_restart(
    cluster: TestCluster, kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    """A run is created at its fire plus its own delay; an operator restarted between
    the decision and the fire computes the same delay (the hash, not a random draw)."""
    runs.create(
        kube,
        namespace,
        runs.scheduledjob("herd", sim(run_seconds=0.5), schedule="* * * * *", jitterSeconds=45),
    )
    next_schedule = _time(_status(kube, namespace, "herd", "nextScheduleTime"))
    schedule = parse_schedule("* * * * *", seed=f"{namespace}/herd", jitter_seconds=45)
    operator.stop()
    operator.start()
    name = f"herd-{int(next_schedule.timestamp())}"

    def created() -> JSON | None:
        path = runs.path(namespace, name)
        return runs.get(kube, namespace, name) if kube.exists(path) else None

    run = wait_until(created, timeout=150, message=f"run {name} of the first fire")
    created_at = _time(run["metadata"]["creationTimestamp"])
    effective = schedule.effective(next_schedule)
    assert _time(run["spec"]["scheduledTime"]) == next_schedule
    # creationTimestamp has whole seconds: created within 3 s after the delayed time.
    assert (
        effective - datetime.timedelta(seconds=1)
        <= created_at
        <= effective + datetime.timedelta(seconds=3)
    ), (created_at, effective, schedule.delay(next_schedule))
