"""The operator's metrics: naming conventions checked over every family, and the
engine callbacks fed with real decisions (`decide`) to show each updates the right
series. Every test uses its own namespace: the registry is process-wide."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import re
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Metric

from devcluster.process import free_port
from jobwarden import __version__, metrics
from jobwarden.api import constants as c
from jobwarden.api.enums import AuditAction, AuditOutcome
from jobwarden.core.conditions import format_micro_time
from jobwarden.core.lifecycle import decide
from jobwarden.core.observed import PodView, RunView, Slot
from jobwarden.core.plan import Audit, Plan
from jobwarden.core.refusals import ApiRefusal, Refusal
from jobwarden.core.scheduledjob import ScheduledJobPlan, ScheduledJobView
from jobwarden.engine.kube import Kube
from jobwarden.engine.reconciler import Engine, EngineConfig
from jobwarden.settings import OperatorConfig
from tests.unit.factories import (
    ADMIT,
    T0,
    apply_status,
    at,
    full,
    make_pod,
    make_run,
    make_scheduled_job,
    request_cancel,
    run_body,
)

REPO = Path(__file__).resolve().parents[2]
#: Label names that would carry an object's name (unbounded: one series per run).
FORBIDDEN_LABEL = re.compile(
    r"(?:^|_)(?:name|pod|run|jobrun|export|uid|attempt)(?:_|$)|podname|runname|jobname"
)
#: Every label any jobwarden series may carry: bounded sets only.
ALLOWED_LABELS = {
    "namespace",
    "kind",
    "priority",
    "phase",
    "result",
    "reason",
    "outcome",
    "stage",
    "scheduledjob",
    "version",
    "python_version",
    "kopf_version",
    "le",
}
#: The per-ScheduledJob gauges that may carry the ScheduledJob's name (kube-state-metrics).
PER_SCHEDULED_JOB = {
    "jobwarden_scheduledjob_next_schedule_timestamp_seconds",
    "jobwarden_scheduledjob_last_schedule_timestamp_seconds",
    "jobwarden_scheduledjob_last_success_timestamp_seconds",
    "jobwarden_scheduledjob_consecutive_failures",
    "jobwarden_scheduledjob_paused_after_failures",
}
#: Families the client library adds for operator health (CPU, memory, Python).
LIBRARY_FAMILIES = re.compile(r"^(process_|python_)")


def value(name: str, **labels: str) -> float:
    """The sample's value, 0 if the series does not exist."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def fresh_namespace() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


def step(run: RunView, pods: list[PodView], slot: Slot, now: datetime.datetime) -> RunView:
    """Decide, observe as the engine does after the status write, and apply the status."""
    plan = decide(run, pods, slot, now)
    if plan.status is not None:
        metrics.observe_plan(run, plan, now)
    return apply_status(run, plan)


def admitted(namespace: str, **spec: Any) -> RunView:
    """A run of `namespace` admitted at T0 (attempt 1 on pod nightly-1)."""
    return step(make_run(namespace=namespace, spec=spec or None), [], ADMIT, T0)


@pytest.fixture
def engine() -> Iterator[Engine]:
    """An engine (never started) whose store the state collector reads."""
    engine = Engine(Kube(), EngineConfig(default_max_running=3))
    metrics.watch_state(engine.state)
    yield engine
    metrics.STATE.source = None
    metrics.STATE.is_leader = lambda: True


def families() -> list[Metric]:
    """Every family the registry exposes now."""
    return list(metrics.REGISTRY.collect())


def populated_families(engine: Engine) -> list[Metric]:
    """All families, with the state gauges populated (a run, a quota, a ScheduledJob)."""
    namespace = fresh_namespace()
    engine.store.put_run(run_body(namespace=namespace))
    engine.store.put_quota(namespace, "q", 2)
    engine.store.put_scheduled_job(
        {
            "metadata": {"namespace": namespace, "name": "nightly", "uid": "u"},
            "spec": {"schedule": "0 3 * * *"},
            "status": {
                "nextScheduleTime": "2025-03-02T03:00:00Z",
                "lastScheduleTime": "2025-03-01T03:00:00Z",
                "lastSuccessfulTime": "2025-03-01T03:01:00Z",
            },
        }
    )
    return families()


# ------------------------------------------------------------------ conventions
def test_every_family_follows_the_naming_conventions(engine: Engine) -> None:
    ours = [f for f in populated_families(engine) if not LIBRARY_FAMILIES.match(f.name)]
    assert len(ours) >= 20
    for family in ours:
        assert family.name.startswith(metrics.PREFIX), family.name
        assert family.documentation.strip(), f"{family.name} has no help text"
        sample_names = {s.name for s in family.samples}
        if family.type == "counter":
            assert sample_names <= {f"{family.name}_total"}, sample_names
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), f"{family.name}: durations in seconds"
        if "timestamp" in family.name:
            assert family.name.endswith("_timestamp_seconds"), family.name
        assert not re.search(r"milli|minutes|hours|_ms$", family.name), family.name


def test_no_label_carries_a_run_or_pod_name(engine: Engine) -> None:
    for family in populated_families(engine):
        for sample in family.samples:
            for label in sample.labels:
                assert not FORBIDDEN_LABEL.search(label), f"{family.name}: label {label}"
                if not LIBRARY_FAMILIES.match(family.name):
                    assert label in ALLOWED_LABELS, f"{family.name}: label {label}"
                if label == "scheduledjob":
                    assert family.name in PER_SCHEDULED_JOB, f"{family.name}: {label}"


@pytest.mark.parametrize("label", ["name", "pod", "run", "run_name", "pod_name", "uid", "jobname"])
def test_the_label_check_catches_object_names(label: str) -> None:
    assert FORBIDDEN_LABEL.search(label)


@pytest.mark.parametrize("label", ["namespace", "kind", "priority", "reason", "scheduledjob"])
def test_the_label_check_lets_bounded_labels_pass(label: str) -> None:
    assert not FORBIDDEN_LABEL.search(label)


def test_every_metric_is_documented(engine: Engine) -> None:
    documented = (REPO / "docs" / "metrics.md").read_text()
    for family in populated_families(engine):
        if LIBRARY_FAMILIES.match(family.name):
            continue
        name = f"{family.name}_total" if family.type == "counter" else family.name
        assert f"`{name}`" in documented, f"{name} is missing from docs/metrics.md"


def _exposed_names(engine: Engine) -> set[str]:
    names: set[str] = set()
    for family in populated_families(engine):
        names.add(family.name)
        names |= {s.name for s in family.samples}
        if family.type == "histogram":
            names |= {f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count")}
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def test_rules_and_dashboard_use_only_metrics_that_exist(engine: Engine) -> None:
    exposed = _exposed_names(engine)
    rules = (REPO / "charts" / "jobwarden" / "files" / "prometheusrule.yaml").read_text()
    dashboard = (REPO / "charts" / "jobwarden" / "files" / "dashboard.json").read_text()
    used = set(re.findall(r"\b(?:jobwarden|process|python)_[a-z_]+", rules + dashboard))
    used -= {"jobwarden_overview"}  # not a metric: the dashboard's uid is jobwarden-overview
    assert used, "no metric found in the rules and the dashboard"
    unknown = sorted(n for n in used if n not in exposed)
    assert not unknown, f"not exposed by the operator: {unknown}"


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = json.loads((REPO / "charts" / "jobwarden" / "files" / "dashboard.json").read_text())
    assert dashboard["uid"] == "jobwarden-overview"
    assert "__inputs" not in dashboard  # provisioned by the sidecar, not imported by hand
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "namespace"}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = {p["title"] for p in dashboard["panels"]}
    for wanted in (
        "Workers running vs quota",
        "Queue depth by priority",
        "Runs by result (24 h)",
        "Run duration p95",
        "Cancel latency p95",
        "Schedule lag",
        "Stuck runs",
        "Missed schedules (24 h)",
        "Replicas up",
        "Leader",
    ):
        assert wanted in titles
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]


def test_the_prometheus_rule_is_a_prometheus_rule() -> None:
    rule = yaml.safe_load((REPO / "charts/jobwarden/files/prometheusrule.yaml").read_text())
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"]


# ------------------------------------------------------------------ run metrics
def exists(name: str, **labels: str) -> bool:
    """Whether the series is exposed (at whatever value)."""
    return metrics.REGISTRY.get_sample_value(name, labels) is not None


def test_ensure_namespace_starts_every_known_series_at_zero() -> None:
    ns = fresh_namespace()
    assert not exists("jobwarden_schedule_lag_seconds_count", namespace=ns)
    metrics.ensure_namespace(ns)
    for kind in metrics.RUN_KINDS:
        for result, reason in metrics.COMMON_ENDINGS:
            labels = {"namespace": ns, "kind": kind, "result": result, "reason": reason}
            assert metrics.REGISTRY.get_sample_value("jobwarden_runs_finished_total", labels) == 0
        for outcome in ("Cancelled", "Succeeded", "CancelTimeout", "Ignored"):
            assert exists("jobwarden_cancellations_total", namespace=ns, kind=kind, outcome=outcome)
    for priority in ("High", "Medium", "Low"):
        assert exists("jobwarden_run_queue_wait_seconds_count", namespace=ns, priority=priority)
    for result in ("Succeeded", "Failed", "Cancelled"):
        assert exists("jobwarden_run_duration_seconds_count", namespace=ns, result=result)
    for stage in ("cancelling", "terminal"):
        assert exists("jobwarden_cancel_latency_seconds_count", namespace=ns, stage=stage)
    assert exists("jobwarden_schedule_lag_seconds_count", namespace=ns)
    assert exists("jobwarden_scheduledjob_missed_schedules_total", namespace=ns)
    assert value("jobwarden_schedule_lag_seconds_count", namespace=ns) == 0


def test_admission_observes_the_queue_wait_by_priority() -> None:
    ns = fresh_namespace()
    run = make_run(namespace=ns, spec={"priority": "High"})
    run = step(run, [], full(position=1, running=3, limit=3), at(5))  # queued: no admission
    assert value("jobwarden_run_queue_wait_seconds_count", namespace=ns, priority="High") == 0
    step(run, [], ADMIT, at(42))
    assert value("jobwarden_run_queue_wait_seconds_count", namespace=ns, priority="High") == 1
    assert value("jobwarden_run_queue_wait_seconds_sum", namespace=ns, priority="High") == 42
    bucket = {"namespace": ns, "priority": "High", "le": "30.0"}
    assert value("jobwarden_run_queue_wait_seconds_bucket", **bucket) == 0
    bucket["le"] = "60.0"
    assert value("jobwarden_run_queue_wait_seconds_bucket", **bucket) == 1


def test_success_counts_the_run_and_its_duration_once() -> None:
    ns = fresh_namespace()
    run = admitted(ns)
    done = step(run, [make_pod(1, exit_code=0, finished_at=at(125))], ADMIT, at(125))
    finished = {"namespace": ns, "kind": "JobRun", "result": "Succeeded", "reason": "Succeeded"}
    assert value("jobwarden_runs_finished_total", **finished) == 1
    assert value("jobwarden_run_duration_seconds_count", namespace=ns, result="Succeeded") == 1
    assert value("jobwarden_run_duration_seconds_sum", namespace=ns, result="Succeeded") == 125
    # The next decision about the finished run does not count it again.
    step(done, [make_pod(1, exit_code=0, finished_at=at(125))], ADMIT, at(130))
    assert value("jobwarden_runs_finished_total", **finished) == 1


def test_a_failed_attempt_is_a_retry_then_a_failure() -> None:
    ns = fresh_namespace()
    run = admitted(ns, retries=1)
    run = step(run, [make_pod(1, exit_code=2, finished_at=at(10))], ADMIT, at(10))
    assert run.phase.value == "Retrying"
    assert value("jobwarden_run_retries_total", namespace=ns, kind="JobRun", reason="Error") == 1
    run = step(run, [], ADMIT, at(80))  # backoff (60 s) over: attempt 2
    assert run.attempt == 2
    # The second admission is an attempt, not a queue wait.
    assert value("jobwarden_run_queue_wait_seconds_count", namespace=ns, priority="Medium") == 1
    step(run, [make_pod(2, exit_code=1, finished_at=at(90))], ADMIT, at(90))
    failed = {"namespace": ns, "kind": "JobRun", "result": "Failed", "reason": "RetriesExhausted"}
    assert value("jobwarden_runs_finished_total", **failed) == 1
    assert value("jobwarden_run_duration_seconds_sum", namespace=ns, result="Failed") == 90


def test_cancel_of_a_running_run_observes_both_latencies() -> None:
    ns = fresh_namespace()
    run = step(admitted(ns), [make_pod(1)], ADMIT, at(1))
    run = request_cancel(run, at_time=at(10))
    run = step(run, [make_pod(1)], ADMIT, at(12))
    assert run.phase.value == "Cancelling"
    assert value("jobwarden_cancel_latency_seconds_sum", namespace=ns, stage="cancelling") == 2
    assert value("jobwarden_cancel_latency_seconds_count", namespace=ns, stage="terminal") == 0
    exited = make_pod(1, exit_code=143, finished_at=at(15))
    step(run, [exited], ADMIT, at(15))
    assert value("jobwarden_cancel_latency_seconds_sum", namespace=ns, stage="terminal") == 5
    outcome = {"namespace": ns, "kind": "JobRun", "outcome": "Cancelled"}
    assert value("jobwarden_cancellations_total", **outcome) == 1
    finished = {"namespace": ns, "kind": "JobRun", "result": "Cancelled", "reason": "Cancelled"}
    assert value("jobwarden_runs_finished_total", **finished) == 1


def test_cancel_timeout_is_a_failure_and_a_cancel_outcome() -> None:
    ns = fresh_namespace()
    run = step(admitted(ns), [make_pod(1)], ADMIT, at(1))
    run = step(request_cancel(run, at_time=at(10)), [make_pod(1)], ADMIT, at(10))
    step(run, [make_pod(1, exit_code=137, finished_at=at(40))], ADMIT, at(40))
    outcome = {"namespace": ns, "kind": "JobRun", "outcome": "CancelTimeout"}
    assert value("jobwarden_cancellations_total", **outcome) == 1
    failed = {"namespace": ns, "kind": "JobRun", "result": "Failed", "reason": "CancelTimeout"}
    assert value("jobwarden_runs_finished_total", **failed) == 1


def test_cancel_of_a_queued_run_has_no_duration() -> None:
    ns = fresh_namespace()
    run = step(make_run(namespace=ns, kind=c.KIND_EXPORT), [], full(), at(1))
    step(request_cancel(run, at_time=at(3)), [], full(), at(4))
    for stage in ("cancelling", "terminal"):
        assert value("jobwarden_cancel_latency_seconds_sum", namespace=ns, stage=stage) == 1
    outcome = {"namespace": ns, "kind": "Export", "outcome": "Cancelled"}
    assert value("jobwarden_cancellations_total", **outcome) == 1
    assert value("jobwarden_run_duration_seconds_count", namespace=ns, result="Cancelled") == 0


def test_cancel_of_a_finished_run_is_ignored() -> None:
    ns = fresh_namespace()
    done = step(admitted(ns), [make_pod(1, exit_code=0, finished_at=at(5))], ADMIT, at(5))
    step(request_cancel(done, at_time=at(9)), [], ADMIT, at(9))
    outcome = {"namespace": ns, "kind": "JobRun", "outcome": "Ignored"}
    assert value("jobwarden_cancellations_total", **outcome) == 1
    assert value("jobwarden_cancel_latency_seconds_count", namespace=ns, stage="cancelling") == 0


def test_a_decision_that_changes_nothing_counts_nothing() -> None:
    ns = fresh_namespace()
    run = make_run(namespace=ns)
    metrics.observe_plan(run, Plan(), at(1))
    assert not [
        s for f in families() for s in f.samples if s.labels.get("namespace") == ns and s.value != 0
    ]


def test_an_unknown_reason_becomes_other() -> None:
    ns = fresh_namespace()
    run = admitted(ns)
    plan = Plan(status={**run.status, "phase": "Failed", "reason": "Made up by hand"})
    metrics.observe_plan(run, plan, at(3))
    other = {"namespace": ns, "kind": "JobRun", "result": "Failed", "reason": "Other"}
    assert value("jobwarden_runs_finished_total", **other) == 1


# ---------------------------------------------------------- schedules and errors
def _scheduled_job(namespace: str, status: dict[str, Any]) -> ScheduledJobView:
    return make_scheduled_job(namespace=namespace, spec={"schedule": "0 3 * * *"}, status=status)


def test_fires_observe_the_schedule_lag() -> None:
    ns = fresh_namespace()
    metrics.observe_fire(0.02, ns)
    metrics.observe_fire(7200.0, ns)  # caught up after an outage
    assert value("jobwarden_schedule_lag_seconds_count", namespace=ns) == 2
    assert value("jobwarden_schedule_lag_seconds_bucket", namespace=ns, le="0.025") == 1
    assert value("jobwarden_schedule_lag_seconds_bucket", namespace=ns, le="3600.0") == 1
    assert value("jobwarden_schedule_lag_seconds_bucket", namespace=ns, le="+Inf") == 2


def test_missed_fires_are_counted_from_the_status_delta() -> None:
    ns = fresh_namespace()
    sj = _scheduled_job(ns, {"missedRuns": 2})
    metrics.observe_scheduled_job(sj, ScheduledJobPlan(status={"missedRuns": 5}))
    metrics.observe_scheduled_job(sj, ScheduledJobPlan(status=None))
    metrics.observe_scheduled_job(sj, ScheduledJobPlan(status={"missedRuns": 2}))
    assert value("jobwarden_scheduledjob_missed_schedules_total", namespace=ns) == 3


def test_reconcile_errors_are_counted_by_kind() -> None:
    before = value("jobwarden_reconcile_errors_total", kind="Namespace")
    metrics.reconcile_error(("namespace", "team-a"))
    assert value("jobwarden_reconcile_errors_total", kind="Namespace") == before + 1
    before = value("jobwarden_reconcile_errors_total", kind="ScheduledJob")
    metrics.reconcile_error(("ScheduledJob", "team-a", "nightly"))
    assert value("jobwarden_reconcile_errors_total", kind="ScheduledJob") == before + 1


# ---------------------------------------------------------------- state gauges
def test_state_gauges_come_from_the_store(engine: Engine) -> None:
    ns = fresh_namespace()
    store = engine.store
    for name, priority, status in (
        ("a", "High", {"phase": "Running", "attempt": 1}),
        ("b", "Medium", {"phase": "Cancelling", "attempt": 1}),
        ("c", "Low", {"phase": "Queued"}),
        ("d", "Low", {"phase": "Queued"}),
        ("e", "Medium", {"phase": "Retrying", "attempt": 1}),
        ("f", "Medium", {"phase": "Succeeded"}),
    ):
        store.put_run(
            run_body(name, namespace=ns, uid=name, spec={"priority": priority}, status=status)
        )
    store.put_quota(ns, "quota", 2)
    families()  # the first scrape creates the namespace's counters at zero
    assert value("jobwarden_runs_active", namespace=ns, priority="High", phase="Running") == 1
    assert value("jobwarden_runs_active", namespace=ns, priority="Medium", phase="Cancelling") == 1
    assert value("jobwarden_runs_active", namespace=ns, priority="Medium", phase="Retrying") == 1
    assert value("jobwarden_runs_queued", namespace=ns, priority="Low") == 2
    assert exists("jobwarden_runs_queued", namespace=ns, priority="High")  # zeros too
    assert value("jobwarden_worker_quota_limit", namespace=ns) == 2
    assert value("jobwarden_worker_quota_used", namespace=ns) == 2  # Running + Cancelling
    assert value("jobwarden_runs_stuck", namespace=ns) == 0
    assert exists(
        "jobwarden_runs_finished_total",
        namespace=ns,
        kind="JobRun",
        result="Failed",
        reason="PodLost",
    )


def test_a_namespace_without_quota_reports_the_default(engine: Engine) -> None:
    ns = fresh_namespace()
    engine.store.put_run(run_body(namespace=ns))
    assert value("jobwarden_worker_quota_limit", namespace=ns) == 3  # EngineConfig default
    assert value("jobwarden_worker_quota_used", namespace=ns) == 0


def test_stuck_runs_are_running_runs_flagged_stuck(engine: Engine) -> None:
    ns = fresh_namespace()
    stuck = [{"type": "Stuck", "status": "True", "reason": "NoProgress"}]
    fine = [{"type": "Stuck", "status": "False", "reason": "ProgressReported"}]
    for name, status in (
        ("silent", {"phase": "Running", "conditions": stuck}),
        ("also-silent", {"phase": "Running", "conditions": stuck}),
        ("reporting", {"phase": "Running", "conditions": fine}),
        ("unwatched", {"phase": "Running"}),
        ("stopping", {"phase": "Cancelling", "conditions": stuck}),  # stale flag
    ):
        engine.store.put_run(run_body(name, namespace=ns, uid=name, status=status))
    assert value("jobwarden_runs_stuck", namespace=ns) == 2


def test_the_lifecycle_flag_is_what_the_gauge_counts() -> None:
    """A real decision about a worker silent since its report sets the condition the
    gauge reads."""
    ns = fresh_namespace()
    run = admitted(ns, stuckAfterSeconds=60)
    run = step(run, [make_pod(1)], ADMIT, at(1))
    progress = {"fraction": 0.1, "updateTime": format_micro_time(at(2))}
    run = dataclasses.replace(run, status={**run.status, "progress": progress})
    run = step(run, [make_pod(1)], ADMIT, at(3))
    assert not metrics.is_stuck(run)
    run = step(run, [make_pod(1)], ADMIT, at(62))
    assert metrics.is_stuck(run)


def test_scheduled_job_gauges_carry_its_name(engine: Engine) -> None:
    ns = fresh_namespace()
    status = {
        "phase": "Active",
        "nextScheduleTime": "2025-03-02T03:00:00Z",
        "lastScheduleTime": "2025-03-01T03:00:00Z",
        "lastSuccessfulTime": "2025-03-01T03:01:30Z",
        "consecutiveFailures": 4,
    }
    body = {"metadata": {"namespace": ns, "name": "nightly", "uid": "u"}, "status": status}
    engine.store.put_scheduled_job(body)
    engine.store.put_scheduled_job(
        {
            "metadata": {"namespace": ns, "name": "paused", "uid": "v"},
            "status": {"phase": "Suspended"},
        }
    )
    labels = {"namespace": ns, "scheduledjob": "nightly"}
    next_fire = datetime.datetime(2025, 3, 2, 3, tzinfo=datetime.UTC).timestamp()
    assert value("jobwarden_scheduledjob_next_schedule_timestamp_seconds", **labels) == next_fire
    assert (
        value("jobwarden_scheduledjob_last_success_timestamp_seconds", **labels)
        == next_fire - 86400 + 90
    )
    assert value("jobwarden_scheduledjob_consecutive_failures", **labels) == 4
    assert not exists(
        "jobwarden_scheduledjob_next_schedule_timestamp_seconds",
        namespace=ns,
        scheduledjob="paused",
    )
    assert value("jobwarden_scheduledjobs", namespace=ns, phase="Active") == 1
    assert value("jobwarden_scheduledjobs", namespace=ns, phase="Suspended") == 1


def test_a_standby_reports_no_state(engine: Engine) -> None:
    ns = fresh_namespace()
    engine.store.put_run(run_body(namespace=ns, status={"phase": "Running"}))
    metrics.STATE.is_leader = lambda: False
    assert value("jobwarden_leader") == 0
    assert not exists("jobwarden_worker_quota_limit", namespace=ns)
    assert exists("jobwarden_workqueue_depth")
    metrics.STATE.is_leader = lambda: True
    assert value("jobwarden_leader") == 1
    assert exists("jobwarden_worker_quota_limit", namespace=ns)


def test_build_info_names_the_versions() -> None:
    (sample,) = [s for f in families() if f.name == "jobwarden_build_info" for s in f.samples]
    assert sample.value == 1
    assert sample.labels["version"] == __version__
    assert set(sample.labels) == {"version", "python_version", "kopf_version"}


# ---------------------------------------------------------------------- server
def test_the_server_serves_the_registry_in_both_formats() -> None:
    port = free_port()

    async def scrape() -> list[tuple[str, str]]:
        runner = await metrics.start_metrics_server(port, "127.0.0.1")
        assert runner is not None
        try:
            loop = asyncio.get_running_loop()
            results = []
            for accept in ("", "application/openmetrics-text; version=1.0.0"):
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/metrics", headers={"Accept": accept}
                )

                def fetch(request: urllib.request.Request = request) -> tuple[str, str]:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        return response.headers["Content-Type"], response.read().decode()

                results.append(await loop.run_in_executor(None, fetch))
            return results
        finally:
            await runner.cleanup()

    (text_type, text), (open_type, openmetrics) = asyncio.run(scrape())
    assert text_type.startswith("text/plain")
    assert "jobwarden_build_info{" in text
    assert "process_resident_memory_bytes" in text
    assert open_type.startswith("application/openmetrics-text")
    assert openmetrics.rstrip().endswith("# EOF")


def test_port_zero_disables_the_server() -> None:
    assert asyncio.run(metrics.start_metrics_server(0)) is None


def test_a_port_taken_by_another_program_fails_the_start() -> None:
    """Another jobwarden replica may share the port (SO_REUSEPORT, test_metrics_server);
    a program that did not ask to share it keeps it, and the start fails."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]

        async def start() -> None:
            with pytest.raises(OSError):
                await metrics.start_metrics_server(port, "127.0.0.1")

        asyncio.run(start())


def test_the_port_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOBWARDEN_METRICS_PORT", raising=False)
    assert OperatorConfig.from_env().metrics_port == 8080
    monkeypatch.setenv("JOBWARDEN_METRICS_PORT", "0")
    assert OperatorConfig.from_env().metrics_port == 0
    monkeypatch.setenv("JOBWARDEN_METRICS_PORT", "9100")
    assert OperatorConfig.from_env().metrics_port == 9100
    monkeypatch.setenv("JOBWARDEN_METRICS_PORT", "http")
    with pytest.raises(ValueError, match="JOBWARDEN_METRICS_PORT"):
        OperatorConfig.from_env()


def test_refused_creates_and_disruptions_are_counted() -> None:
    ns = fresh_namespace()
    run = make_run(namespace=ns)
    transient = decide(run, [], ADMIT, T0, refusal=Refusal(1, ApiRefusal(429, "TooManyRequests")))
    metrics.observe_plan(run, transient, T0)
    permanent = decide(run, [], ADMIT, T0, refusal=Refusal(1, ApiRefusal(422, "Invalid", "bad")))
    metrics.observe_plan(run, permanent, T0)
    labels = {"namespace": ns, "kind": "JobRun"}
    assert value("jobwarden_pod_create_refusals_total", **labels, reason="TooManyRequests",
                 outcome="retried") == 1  # fmt: skip
    assert value("jobwarden_pod_create_refusals_total", **labels, reason="Invalid",
                 outcome="rejected") == 1  # fmt: skip
    assert value("jobwarden_runs_finished_total", **labels, result="Failed",
                 reason="PodRejected") == 1  # fmt: skip
    disrupted = Plan(audit=[Audit(AuditAction.DISRUPTED, AuditOutcome.RETRIED)])
    metrics.observe_plan(run, disrupted, T0)
    assert value("jobwarden_run_disruptions_total", **labels) == 1
