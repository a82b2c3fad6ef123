"""The benchmark harness's own logic: percentiles, censored lags, the verdicts against
the issue's targets, who wrote what, and a re-render that keeps the hand-written
analysis. (The measurements themselves need a cluster: `make bench`.)"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import render
from bench.cluster import actor_of, audit_breakdown, is_dry_run, writes_by_actor
from bench.scenarios import cancel
from bench.stats import percentile, summary

REPO = Path(__file__).resolve().parents[2]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, q) for q in (0.5, 0.9, 0.99, 1.0)] == [50, 90, 99, 100]
    assert percentile([1.0, 2.0, 3.0], 0.99) == 3  # never interpolated past a sample
    assert percentile([7.0], 0.5) == 7
    assert math.isnan(percentile([], 0.5))


def test_summary_skips_missing_samples() -> None:
    assert summary([None, float("nan")]) == {"count": 0}
    stats = summary([3.0, None, 1.0, 2.0])
    assert stats["count"] == 3
    assert (stats["p50"], stats["max"], stats["min"], stats["mean"]) == (2.0, 3.0, 1.0, 2.0)


def test_objects_never_created_count_as_infinitely_late() -> None:
    lags = render._censored([1.0, 2.0, None], missing=2)
    assert lags["count"] == 4  # the None sample is neither a lag nor missing
    assert lags["p50"] == 2.0
    assert lags["p90"] == math.inf
    assert render._censored([1.0, 2.0], missing=0)["p99"] == 2.0


def _schedule(ours: list[float], our_missing: int, theirs: list[float], their_missing: int) -> Any:
    return {
        "samples": {"jobrun_created": ours, "job_created": theirs},
        "jobruns_missing": our_missing,
        "jobs_missing": their_missing,
        "expected_per_kind": len(ours) + our_missing,
    }


def _results(**scenarios: Any) -> dict[str, Any]:
    return {"scenarios": scenarios}


def _row(page: str, starts: str) -> str:
    rows = [line for line in page.splitlines() if line.startswith(f"| {starts}")]
    assert len(rows) == 1, (starts, rows)
    return rows[0]


@pytest.mark.parametrize(
    ("ours", "our_missing", "theirs", "their_missing", "verdict"),
    [
        ([1.0] * 10, 0, [5.0] * 10, 0, "| met |"),  # sooner, nothing skipped
        ([1.0] * 9, 1, [5.0] * 10, 0, "| **missed** |"),  # sooner, but a fire more skipped
        ([6.0] * 10, 0, [5.0] * 10, 0, "| **missed** |"),  # later
        ([1.0] * 7, 3, [5.0] * 6, 4, "| met |"),  # fewer skipped and sooner
    ],
)
def test_no_worse_than_cronjob_needs_both_the_lag_and_the_fires(
    ours: list[float], our_missing: int, theirs: list[float], their_missing: int, verdict: str
) -> None:
    data = _results(schedule={"runs": {"10": _schedule(ours, our_missing, theirs, their_missing)}})
    row = _row(render.headline(data), "schedule lag no worse than CronJob (10)")
    assert row.endswith(verdict)


def test_the_headline_judges_each_target() -> None:
    def burst(p99: float) -> dict[str, Any]:
        return {
            "summary": {
                "request_to_cancelling": {"p99": p99},
                "request_to_signalled_operator": {"p99": p99},
                "request_to_pod_deletion_seen": {"p99": p99},
                "request_to_terminal": {"p99": p99 + 1.0},
            }
        }

    def variant(title: str, throughput: float) -> dict[str, Any]:
        return {"title": title, "throughput_overall": throughput}

    data = _results(
        cancel={"serial": burst(0.5), "burst": burst(0.51)},
        admission={
            "variants": {
                "native": variant("native", 30.0),
                "fast": variant("fast", 30.0),
                "slow": variant("slow", 29.9),
            }
        },
        footprint={"peak_rss_mib": 200.1, "parameters": {"scheduledjobs": 10}},
        apicost={"cases": {"succeeded": {"mean_per_run_without_events": 4.0}}},
    )
    page = render.headline(data)
    assert _row(page, "cancel (one by one): request → Cancelling").endswith("| met |")
    assert _row(page, "cancel (at once): request → Cancelling p99 ≤ 1 s").endswith("| met |")
    assert _row(page, "cancel (at once): request → pod deletion").endswith("| **missed** |")
    assert _row(page, "cancel (one by one): request → Cancelled").endswith("| met |")  # 1.5
    assert _row(page, "admission ≥ native Jobs (fast)").endswith("| met |")
    assert _row(page, "admission ≥ native Jobs (slow)").endswith("| **missed** |")
    assert _row(page, "operator RSS ≤ 200 MiB").endswith("| **missed** |")
    assert _row(page, "≤ 4 mutating requests per succeeded run").endswith("| met |")


def test_the_burst_targets_of_issue_24_set_beside_the_native_suspend() -> None:
    burst = {
        "summary": {
            "patch_response": {"p99": 0.31},
            "request_to_cancelling": {"p99": 1.0},
            "request_to_terminal": {"p99": 2.01},
        },
        "cpu": {"machine_busy_percent": 97.0},
    }
    native = {
        "summary": {
            "patch_response": {"p99": 0.05},
            "request_to_suspended_condition": {"p99": 0.4},
            "request_to_stopped": {"p99": 1.9},
        }
    }
    page = render.headline(_results(cancel={"burst": burst, "native_burst": native}))
    patch = _row(page, "cancel (at once): cancel PATCH round trip p99 ≤ 0.3 s")
    assert "native suspend PATCH 0.05 s; machine 97 % busy" in patch
    assert patch.endswith("| **missed** |")
    assert _row(page, "cancel (at once): request → Cancelling p99 ≤ 1 s").endswith("| met |")
    cancelled = _row(page, "cancel (at once): request → Cancelled ≤ worker exit (0.5 s) + 1.5")
    assert "native: pods gone 1.90 s" in cancelled and cancelled.endswith("| **missed** |")


def test_a_suspended_job_is_stopped_only_once_no_pod_is_active_or_terminating() -> None:
    def job(suspended: bool, active: int, terminating: int = 0) -> dict[str, Any]:
        conditions = [{"type": "Suspended", "status": "True"}] if suspended else []
        status = {"active": active, "terminating": terminating, "conditions": conditions}
        return {"status": status}

    assert [
        cancel._job_phase(job(False, 0)),
        cancel._job_phase(job(False, 1)),
        cancel._job_phase(job(True, 1)),
        cancel._job_phase(job(True, 0, terminating=1)),
        cancel._job_phase(job(True, 0)),
    ] == ["", "Running", "Suspending", "Suspending", "Stopped"]


def test_the_cpu_line_names_the_busiest_process_first() -> None:
    cpu = {
        "seconds": 9.5,
        "cores": 2,
        "machine_busy_percent": 98.4,
        "percent_of_a_core": {"operator": 40.0, "kube-apiserver": 120.4, "etcd": 12.0},
    }
    (line, _) = render._cpu_line(cpu)
    assert "the machine (2 cores) 98 % busy" in line
    assert line.index("kube-apiserver 120 %") < line.index("operator 40 %") < line.index("etcd")


def _record(user: str, namespace: str, verb: str = "patch", **ref: str) -> dict[str, Any]:
    return {
        "user": {"username": user},
        "verb": verb,
        "objectRef": {"namespace": namespace, **ref},
        "responseStatus": {"code": 200},
    }


def test_writes_are_counted_by_writer_in_the_namespaces_asked_for() -> None:
    records = [
        _record("jobwarden-operator", "a", resource="jobruns", subresource="status"),
        _record("jobwarden-operator", "a", "create", resource="pods"),
        _record("system:serviceaccount:kube-system:job-controller", "a", resource="jobs"),
        _record("system:kube-scheduler", "a", "create", resource="pods", subresource="binding"),
        _record("kwok", "a", resource="pods", subresource="status"),
        _record("jobwarden-admin", "a", "create", resource="jobruns"),
        _record("jobwarden-operator", "elsewhere", resource="jobruns"),
    ]
    assert dict(writes_by_actor(records, {"a"})) == {
        "operator": 2,
        "controllers": 1,
        "scheduler": 1,
        "kwok (pod lifecycle)": 1,
        "client": 1,
    }
    assert actor_of("system:kube-controller-manager") == "controllers"
    assert actor_of("someone") == "someone"
    counts = audit_breakdown(records[:2], {"a"})
    assert dict(counts) == {"patch jobruns/status": 1, "create pods": 1}


def test_dry_runs_are_not_writes() -> None:
    uri = "/api/v1/namespaces/a/pods"
    assert is_dry_run({"requestURI": f"{uri}?dryRun=All"})
    assert is_dry_run({"requestURI": f"{uri}?fieldManager=x&dryRun=All"})
    assert not is_dry_run({"requestURI": uri})
    assert not is_dry_run({"requestURI": f"{uri}?fieldManager=dryRun"})
    assert not is_dry_run({})


def test_a_re_render_keeps_the_hand_written_analysis(tmp_path: Path) -> None:
    results = REPO / "bench" / "results" / "2026-11-22-full.json"
    data = json.loads(results.read_text())
    page = tmp_path / "performance.md"
    page.write_text(f"old tables\n{render.START}\n## Why\nwritten by hand\n{render.END}\nold\n")
    render.write(data, page, results_file=results)
    text = page.read_text()
    assert "written by hand" in text
    assert "old tables" not in text
    assert "## Results against the targets" in text
    assert "## 3. Admission throughput" in text
    assert "`bench/results/2026-11-22-full.json`" in text


def test_the_dashboard_section_renders_the_recorded_results() -> None:
    recorded = json.loads((REPO / "bench" / "results" / "2026-12-06-dashboard.json").read_text())
    section = render._dashboard(recorded["scenarios"]["dashboard"])
    assert section.startswith("10,000 JobRuns in one namespace")
    first = recorded["scenarios"]["dashboard"]["server_render_ms"]["runs, first page"]
    assert _row(section, "runs, first page") == (
        f"| runs, first page | {first['median']:.2f} | {first['p95']:.2f} | {first['max']:.2f} "
        f"| {first['kib']:.2f} |"
    )
    assert "status patch → new phase on screen" in section
    assert render._dashboard({"error": "boom"}) == "Failed: `boom`"
