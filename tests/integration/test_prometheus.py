"""A real Prometheus (Debian's) scrapes the session's operator while a workload runs
in a namespace: runs that succeed, one that fails, one that is cancelled (and stuck
before that), a ScheduledJob that fires and one that waits, under a quota that makes
runs queue. Then every dashboard panel query and every alert expression is evaluated
through Prometheus' HTTP API: all must parse and run, and the core panels must return
numbers for the namespace.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.install import OperatorProcess
from devcluster.process import free_port, kill_with_parent, log_tail
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.kube import JSON, Kube
from tests.support.runs import jobrun, pod_template, sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
RULE_FILE = REPO / "charts" / "jobwarden" / "files" / "prometheusrule.yaml"
DASHBOARD = REPO / "charts" / "jobwarden" / "files" / "dashboard.json"
METRICS_LINE = re.compile(rb"metrics served on http://([0-9.]+):(\d+)/metrics")
#: Panels that must show numbers for the workload's namespace (the others must parse
#: and run; some are empty by nature in a short test, e.g. retries).
CORE_PANELS = (
    "Replicas up",
    "Leader",
    "Work queue depth",
    "Operator memory",
    "Workers running vs quota",
    "Queue depth by priority",
    "Active runs by phase",
    "Queue wait p95",
    "Stuck runs",
    "Runs by result (24 h)",
    "Runs finished",
    "Failures by reason (24 h)",
    "Run duration p95",
    "Cancel latency p95",
    "Cancellations by outcome (24 h)",
    "Schedule lag",
    "Missed schedules (24 h)",
    "ScheduledJobs by phase",
    "ScheduledJobs",
)


class Prometheus:
    """A Prometheus server on a free 127.0.0.1 port with its storage in `root`."""

    def __init__(self, root: Path, target: str, rules: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "prometheus.log"
        self.config = root / "prometheus.yml"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": "jobwarden", "static_configs": [{"targets": [target]}]}
            ],
        }
        self.config.write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, binary: str) -> None:
        """Start and wait until it is ready."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=kill_with_parent,  # noqa: PLW1509  (only prctl before exec)
            )
        wait_until(self._ready, timeout=60, message=self._describe("Prometheus ready"))

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"Prometheus exited: {log_tail(self.log_path)}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _describe(self, what: str) -> Any:
        return lambda: f"{what}\n  Prometheus log: {self.log_path}\n{log_tail(self.log_path)}"

    def stop(self) -> None:
        """Terminate (then kill) the server."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the `data` of a successful answer, else AssertionError."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result, as a list of samples (scalars become one sample)."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def number(self, expr: str) -> float | None:
        """The value of a query that returns one sample, None if empty."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def kube(cluster: TestCluster, operator: OperatorProcess) -> Kube:
    """Admin client, with the operator running."""
    return cluster.kube()


def metrics_target(operator: OperatorProcess) -> str:
    """host:port of the operator's metrics endpoint, from its latest start in its log."""
    found = METRICS_LINE.findall(operator.log_path.read_bytes())
    assert found, f"the operator did not log its metrics address\n{log_tail(operator.log_path)}"
    host, port = found[-1]
    return f"{host.decode()}:{port.decode()}"


@pytest.fixture
def prometheus(operator: OperatorProcess, tmp_path: Path) -> Iterator[Prometheus]:
    """Debian's Prometheus scraping the operator every second, with the alert rules."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "prometheus not found: install Debian's prometheus package "
            "(apt-get install -y prometheus; .ci/run does)",
            pytrace=False,
        )
    rules = tmp_path / "jobwarden-rules.yaml"
    rules.write_text(yaml.safe_dump(yaml.safe_load(RULE_FILE.read_text())["spec"]))
    server = Prometheus(tmp_path, metrics_target(operator), rules)
    server.start(binary)
    try:
        yield server
    finally:
        server.stop()


def scheduledjob(name: str, annotations: dict[str, str], **spec: Any) -> JSON:
    """A ScheduledJob whose simulated worker behaves as `annotations` say."""
    return {
        "apiVersion": runs.API,
        "kind": "ScheduledJob",
        "metadata": {"name": name},
        "spec": {"template": pod_template(annotations), **spec},
    }


def grafana_expr(expr: str, namespace: str) -> str:
    """A panel's query as Grafana sends it: variables replaced (namespace: ours only)."""
    for variable, replacement in (
        ("$__rate_interval", "5m"),
        ("$__interval", "5s"),
        ("$__range", "1h"),
        ("$namespace", namespace),  # a DNS label: no regex metacharacters
    ):
        expr = expr.replace(variable, replacement)
    assert "$" not in expr, f"unresolved Grafana variable in {expr!r}"
    return expr


def finite(result: list[dict[str, Any]]) -> list[float]:
    """The finite values of a query result (histogram_quantile of nothing is NaN)."""
    values = [float(sample["value"][1]) for sample in result]
    return [v for v in values if math.isfinite(v)]


def run_workload(kube: Kube, prometheus: Prometheus, namespace: str) -> None:
    """Queue, run, fail, cancel and fire in `namespace`, waiting (with deadlines) for
    Prometheus to have seen each step that only lasts a moment. (A namespace is a DNS
    label: literal as a PromQL regex.)"""
    kube.create(
        runs.path(namespace, kind="ScheduledJob").replace("scheduledjobs", "workerquotas"),
        {
            "apiVersion": runs.API,
            "kind": "WorkerQuota",
            "metadata": {"name": "quota"},
            "spec": {"maxRunning": 2},
        },
    )
    # Waits all year: its next fire time is a gauge at once.
    runs.create(kube, namespace, scheduledjob("yearly", sim(), schedule="0 0 1 1 *"))
    # The namespace's counters and histograms start at zero before anything happens,
    # so that rate() and increase() see the first run of each outcome.
    wait_until(
        lambda: prometheus.query(
            f'jobwarden_run_queue_wait_seconds_count{{namespace=~"{namespace}"}}'
        ),
        timeout=30,
        message=f"Prometheus to scrape the zero series of {namespace}",
    )

    # One slot stays taken by a worker that reports progress once, then is silent:
    # stuck 1 s after its report.
    runs.create(
        kube,
        namespace,
        jobrun(
            "silent",
            sim(run_seconds=600, sigterm_exit_seconds=1),
            priority="High",
            stuckAfterSeconds=1,
            cancelGracePeriodSeconds=10,
        ),
    )
    runs.wait_phase(kube, namespace, "silent", "Running")
    runs.report_progress(kube, namespace, "silent")
    # The others share the other slot, so they queue.
    for name in ("ok-1", "ok-2", "ok-3"):
        runs.create(kube, namespace, jobrun(name, sim(run_seconds=2)))
    runs.create(kube, namespace, jobrun("broken", sim(run_seconds=1, exit_code=3), retries=0))
    runs.create(kube, namespace, scheduledjob("once", sim(run_seconds=1)))  # one-time: fires now

    # Each lasts seconds: ask whether Prometheus saw it at any moment of the last minutes.
    for what, series in (
        ("a stuck run", "jobwarden_runs_stuck"),
        ("queued runs", "jobwarden_runs_queued"),
        ("the quota used up (2)", "jobwarden_worker_quota_used"),
    ):
        expr = f'max_over_time(sum({series}{{namespace=~"{namespace}"}})[5m:1s])'
        minimum = 2 if series == "jobwarden_worker_quota_used" else 1

        def seen(expr: str = expr, minimum: int = minimum) -> bool:
            return (prometheus.number(expr) or 0) >= minimum

        wait_until(seen, timeout=30, message=f"Prometheus to see {what}")

    runs.cancel(kube, namespace, "silent")
    runs.wait_phase(kube, namespace, "silent", "Cancelled", timeout=30)
    for name in ("ok-1", "ok-2", "ok-3"):
        runs.wait_phase(kube, namespace, name, "Succeeded", timeout=60)
    runs.wait_phase(kube, namespace, "broken", "Failed", timeout=60)
    wait_until(
        lambda: (runs.get(kube, namespace, "once", "ScheduledJob").get("status") or {}).get(
            "lastSuccessfulTime"
        ),
        timeout=60,
        message="the one-time ScheduledJob's run to succeed",
    )
    # Everything ended: wait for Prometheus to have scraped the last of it.
    finished = f'sum(jobwarden_runs_finished_total{{namespace=~"{namespace}"}})'
    wait_until(
        lambda: (prometheus.number(finished) or 0) >= 6,
        timeout=30,
        message=lambda: f"Prometheus to see 6 finished runs (has {prometheus.number(finished)})",
    )
    wait_until(
        lambda: prometheus.query(
            f'jobwarden_scheduledjob_last_success_timestamp_seconds{{namespace=~"{namespace}"}}'
        ),
        timeout=30,
        message="Prometheus to see the ScheduledJob's last success",
    )


def test_dashboard_and_alerts_evaluate_on_a_real_prometheus(
    kube: Kube, namespace: str, prometheus: Prometheus
) -> None:
    wait_until(
        lambda: prometheus.number('up{job="jobwarden"}') == 1,
        timeout=30,
        message=lambda: (
            "Prometheus to scrape the operator: "
            + json.dumps(prometheus.api("targets")["activeTargets"])
        ),
    )
    run_workload(kube, prometheus, namespace)

    # What the workload did, as Prometheus saw it.
    by_result = {
        sample["metric"]["result"]: float(sample["value"][1])
        for sample in prometheus.query(
            f'sum by (result) (jobwarden_runs_finished_total{{namespace=~"{namespace}"}})'
        )
    }
    assert by_result == {"Succeeded": 4, "Failed": 1, "Cancelled": 1}
    cancelled = f'jobwarden_cancellations_total{{namespace=~"{namespace}",outcome="Cancelled"}}'
    assert prometheus.number(f"sum({cancelled})") == 1
    assert (
        prometheus.number(f'sum(jobwarden_schedule_lag_seconds_count{{namespace=~"{namespace}"}})')
        == 1
    )
    next_fire = prometheus.number(
        f'jobwarden_scheduledjob_next_schedule_timestamp_seconds{{namespace=~"{namespace}",'
        f'scheduledjob="yearly"}}'
    )
    assert next_fire is not None and next_fire > time.time()
    peak_used = prometheus.number(
        f'max_over_time(sum(jobwarden_worker_quota_used{{namespace=~"{namespace}"}})[10m:1s])'
    )
    assert peak_used == 2, "the quota of 2 was never exceeded, and was used up"

    # Every panel query parses and runs; the core panels show numbers.
    dashboard = json.loads(DASHBOARD.read_text())
    empty: list[str] = []
    evaluated = 0
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = grafana_expr(target["expr"], namespace)
            result = prometheus.query(expr)  # raises on a parse or evaluation error
            now = time.time()  # and as a graph over the last 5 minutes
            prometheus.api("query_range", query=expr, start=str(now - 300), end=str(now), step="15")
            evaluated += 1
            if panel["title"] in CORE_PANELS and not finite(result):
                empty.append(f"{panel['title']} [{target['refId']}]: {expr}")
    assert evaluated >= 25
    assert not empty, "core panels without data:\n" + "\n".join(empty)
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        found = re.fullmatch(r"label_values\((\w+), *(\w+)\)", variable["query"]["query"])
        assert found, variable["query"]
        values = prometheus.api(f"label/{found[2]}/values", **{"match[]": found[1]})
        assert namespace in values, f"variable {variable['name']} does not offer {namespace}"

    # Every alert expression parses and runs; Prometheus evaluates the loaded rules.
    rules = yaml.safe_load(RULE_FILE.read_text())["spec"]["groups"]
    for group in rules:
        for rule in group["rules"]:
            prometheus.query(rule["expr"])
    assert prometheus.query("absent(jobwarden_build_info)") == []  # the operator is present
    assert prometheus.number("sum(jobwarden_leader)") == 1

    def rules_evaluated() -> list[dict[str, Any]] | None:
        loaded = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
        if len(loaded) < sum(len(g["rules"]) for g in rules):
            return None
        if any(r.get("lastEvaluation", "").startswith("0001") for r in loaded):
            return None
        return loaded

    loaded = wait_until(rules_evaluated, timeout=30, message="Prometheus to evaluate the rules")
    unhealthy = [(r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"]
    assert not unhealthy, unhealthy
