# ruff: noqa: RUF001  (en dashes and minus signs belong in the rendered page)
"""Render docs/performance.md (tables, and PNG plots beside it) from a results file.

The hand-written part of the page (between the `analysis` markers) is kept when the
page is rendered again.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

START = "<!-- analysis:start (hand-written, kept when the page is re-rendered) -->"
END = "<!-- analysis:end -->"
PLOTS_DIR = "performance"


def _s(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(_s(c) for c in cells) + " |"


def _pct_table(title: str, rows: list[tuple[str, dict[str, Any]]], unit: str = "s") -> str:
    lines = [
        f"| {title} | n | p50 ({unit}) | p90 | p99 | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, stats in rows:
        if not stats or not stats.get("count"):
            lines.append(_row([label, 0, None, None, None, None]))
            continue
        lines.append(
            _row([label, stats["count"], stats["p50"], stats["p90"], stats["p99"], stats["max"]])
        )
    return "\n".join(lines)


def _load(values: Any) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "–"


# ------------------------------------------------------------------- sections
def _cancel(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"Failed: `{result['error']}`"
    p = result["parameters"]
    out = [
        f"{p['runs']} runs per case; worker exits {p['sigterm_exit_seconds']} s after SIGTERM; "
        f"grace period {p['cancel_grace_period_seconds']} s. Load average (1/5/15 min) before "
        f"{_load(result.get('loadavg_before'))}, after {_load(result.get('loadavg_after'))}.",
        "",
    ]
    names = [
        ("request_to_cancelling", "request → Cancelling seen (client watch)"),
        ("request_to_signalled_operator", "request → pod deletion issued (operator `signalledAt`)"),
        ("request_to_pod_deletion_seen", "request → pod deletion seen (client pod watch)"),
        ("request_to_terminal", "request → terminal phase seen (client watch)"),
        ("terminal_minus_worker_exit", "terminal seen − worker exit (operator's share)"),
        ("patch_response", "cancel PATCH round trip (webhooks included)"),
    ]
    for part, title in (
        ("serial", "Running runs, cancelled one by one"),
        ("burst", "Running runs, cancelled all at once"),
        ("queued", "Queued runs, cancelled all at once"),
    ):
        data = result.get(part)
        if not data:
            continue
        outcomes = ", ".join(f"{k} {v}" for k, v in data["outcomes"].items())
        extra = f"; pods created: {data['pods_created']}" if "pods_created" in data else ""
        out += [
            f"**{title}** (outcomes: {outcomes}; cancels sent within "
            f"{data['send_window_seconds']} s{extra})",
            "",
            _pct_table(
                "interval",
                [(t, data["summary"][n]) for n, t in names if n in data["summary"]],
            ),
            "",
            *_cpu_line(data.get("cpu")),
        ]
    native = result.get("native_burst")
    if native:
        native_names = [
            ("request_to_suspended_condition", "request → Suspended condition seen (client watch)"),
            ("request_to_pod_deletion_seen", "request → pod deletion seen (client pod watch)"),
            ("request_to_stopped", "request → no pod active or terminating (client watch)"),
            (
                "stopped_minus_worker_exit",
                "stopped seen − worker exit (the Job controller's share)",
            ),
            ("patch_response", "suspend PATCH round trip (no webhooks)"),
        ]
        out += [
            f"**Native: running Jobs suspended all at once** (`spec.suspend: true`, the same "
            f"pods and simulated exit; the Job controller deletes the pods; sent within "
            f"{native['send_window_seconds']} s)",
            "",
            _pct_table("interval", [(t, native["summary"][n]) for n, t in native_names]),
            "",
            *_cpu_line(native.get("cpu")),
        ]
    return "\n".join(out)


def _cpu_line(cpu: dict[str, Any] | None, when: str = "") -> list[str]:
    """Who used the CPU over a window (a burst: first request → last one done)."""
    if not cpu:
        return []
    top = sorted(cpu["percent_of_a_core"].items(), key=lambda kv: -kv[1])
    parts = ", ".join(f"{name} {value:.0f} %" for name, value in top)
    return [
        f"CPU over those {cpu['seconds']} s{' ' + when if when else ''}: the machine "
        f"({cpu['cores']} cores) "
        f"{cpu['machine_busy_percent']:.0f} % busy; per process, % of one core: {parts}.",
        "",
    ]


def _censored(samples: list[float | None], missing: int) -> dict[str, Any]:
    """Percentiles counting objects never created as infinitely late."""
    from bench.stats import percentile  # noqa: PLC0415

    values = sorted(float(v) for v in samples if v is not None) + [math.inf] * max(0, missing)
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        **{f"p{int(q * 100)}": percentile(values, q) for q in (0.5, 0.9, 0.99)},
        "max": values[-1],
    }


def _schedule(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"Failed: `{result['error']}`"
    out = []
    for size, run in result["runs"].items():
        s = run["summary"]
        loads = "; ".join(f"{_load(v)}" for v in run["loadavg_at_fire"].values())
        out += [
            f"**{size} ScheduledJobs and {size} CronJobs** on `{result['parameters']['schedule']}`"
            f", fires {', '.join(run['fires'])} UTC ({run['namespaces_each']} namespaces each, "
            f"{run['nodes']} kwok nodes); load average at each fire: {loads}. Operator CPU "
            f"{run['operator_cpu_percent']} % of a core over the window, RSS "
            f"{run['operator_rss_mib']} MiB. Missing at the end: {run['jobruns_missing']} JobRuns, "
            f"{run['jobs_missing']} Jobs of {run['expected_per_kind']} each.",
            "",
            _pct_table(
                "fire → …",
                [
                    (
                        "JobRun created (client watch; never created = ∞)",
                        _censored(run["samples"]["jobrun_created"], run["jobruns_missing"]),
                    ),
                    (
                        "native: Job created (client watch; never created = ∞)",
                        _censored(run["samples"]["job_created"], run["jobs_missing"]),
                    ),
                    ("JobRun created (client watch)", s["jobrun_created"]),
                    ("JobRun created (operator's log line)", s["jobrun_created_operator_log"]),
                    ("JobRun's worker pod created (client watch)", s["jobrun_pod_created"]),
                    ("native: Job created (client watch)", s["job_created"]),
                    ("native: Job's pod created (client watch)", s["job_pod_created"]),
                ],
            ),
            "",
            "Ratio jobwarden / CronJob (JobRun vs Job created): "
            + ", ".join(f"{k} {_s(v)}" for k, v in run["ratio_jobwarden_to_cronjob"].items())
            + ".",
            "",
            "Operator writes per fire per ScheduledJob (partly incomplete: runs still going "
            "at the end): "
            + ", ".join(f"{k} {v}" for k, v in run["operator_requests_per_fire"].items())
            + ".",
            "",
            *_cpu_line(run.get("cpu"), "from the first fire to the end"),
        ]
    return "\n".join(out)


def _admission_cost(result: dict[str, Any]) -> list[str]:
    """What each finished run cost the control plane, by writer (all users audited)."""
    variants = [v for v in result["variants"].values() if "writes_per_run_by_actor" in v]
    if not variants:
        return []
    actors = sorted({a for v in variants for a in v["writes_per_run_by_actor"]})
    out = [
        "",
        "What each run cost the control plane (every user's writes in the variant's "
        "namespaces from the audit log, and the CPU the API server and etcd used while the "
        "variant ran, both divided by the runs):",
        "",
        "| variant | "
        + " | ".join(f"writes: {a}" for a in actors)
        + " | writes, all | API server CPU per run (ms) | etcd CPU per run (ms) |",
        "| --- | " + " | ".join("---:" for _ in actors) + " | ---: | ---: | ---: |",
    ]
    for v in variants:
        writes = v["writes_per_run_by_actor"]
        plane = v.get("control_plane_cpu_ms_per_run") or {}
        out.append(
            _row(
                [
                    v["title"],
                    *[writes.get(a, 0) for a in actors],
                    round(sum(writes.values()), 2),
                    plane.get("kube-apiserver"),
                    plane.get("etcd"),
                ]
            )
        )
    return out


def _admission(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"Failed: `{result['error']}`"
    p = result["parameters"]
    out = [
        f"{p['runs']} runs per variant, pods complete {p['run_seconds']} s after start, created "
        f"by the client with {p['client_concurrency']} requests in flight.",
        "",
        "| variant | finished/s (overall) | finished/s (middle 80 %) | ideal | makespan (s) "
        "| queue wait p50 | p90 | p99 | max | max pods alive | operator CPU % | load before "
        "→ after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for v in result["variants"].values():
        w = v["summary"]["queue_wait"]
        alive = max(v["max_alive_pods"].values()) if v["max_alive_pods"] else None
        if len(v["max_alive_pods"]) > 1:
            alive = f"{alive} (per ns), {sum(v['max_alive_pods'].values())} (sum)"
        out.append(
            _row(
                [
                    v["title"],
                    v["throughput_overall"],
                    v["throughput_steady"],
                    v["ideal_throughput"],
                    v["makespan_seconds"],
                    w.get("p50"),
                    w.get("p90"),
                    w.get("p99"),
                    w.get("max"),
                    alive,
                    v["operator_cpu_percent"],
                    f"{_load(v['loadavg_before'])} → {_load(v['loadavg_after'])}",
                ]
            )
        )
    out += _admission_cost(result)
    for v in result["variants"].values():
        line = _cpu_line(v.get("cpu"), "while it ran")
        if line:
            out += ["", f"{v['title']}: {line[0]}"]
    out += [
        "",
        "Queue wait: jobwarden — admission stamp (`status.attempts[0].startTime`) minus the "
        "client's receipt of the create response; native — the Job's pod ADDED at the client "
        "minus the same. Ratio to native Jobs (overall throughput): "
        + ", ".join(f"{k} {_s(v)}" for k, v in result["ratio_to_native"].items())
        + ".",
        "",
    ]
    return "\n".join(out)


def _footprint(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"Failed: `{result['error']}`"
    p = result["parameters"]
    out = [
        f"{p['scheduledjobs']} ScheduledJobs (yearly schedule) and {p['finished_jobruns']} "
        f"finished JobRuns in {p['namespaces']} namespaces (created in "
        f"{result['create_seconds']} s, before the operator's first start).",
        "",
        "| start-up | to engine started (s) | to webhooks + engine ready (s) | to a new run's "
        "first reconcile (Running) (s) | busy after (s) | RSS when ready (MiB) | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for key, title, settle in (
        ("first_start", "first start", "after_first_start"),
        ("restart", "restart", "after_restart"),
    ):
        s = result[key]
        out.append(
            _row(
                [
                    title,
                    s["to_engine_started_seconds"],
                    s["to_ready_seconds"],
                    s["to_probe_running_seconds"],
                    result[settle]["busy_seconds_after_ready"],
                    s["rss_mib_when_ready"],
                    _load(s["loadavg"]),
                ]
            )
        )
    out += [
        "",
        "| state | seconds | RSS p50 (MiB) | RSS max (MiB) | CPU mean (% of a core) | CPU p90 "
        "| CPU max | load before → after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for key, title in (
        ("idle", "idle"),
        ("load", f"under load ({p['load_runs']} runs, quota {p['load_quota']})"),
        ("after_load_idle", "idle again"),
    ):
        s = result[key]
        out.append(
            _row(
                [
                    title,
                    s["seconds"],
                    s["rss_mib"].get("p50"),
                    s["rss_mib"].get("max"),
                    s["cpu_percent_mean"],
                    s["cpu_percent"].get("p90"),
                    s["cpu_percent"].get("max"),
                    f"{_load(s['loadavg_before'])} → {_load(s['loadavg_after'])}",
                ]
            )
        )
    load = result["load"]
    if "runs_finished" in load:
        out += [
            "",
            f"Load phase: {load.get('runs_admitted')} of {p['load_runs']} runs admitted and "
            f"{load['runs_finished']} finished within {load['seconds']} s "
            f"(limit {p.get('load_timeout_seconds')} s).",
        ]
    for key, title in (("after_first_start", "first start"), ("after_restart", "restart")):
        if result[key].get("settled") is False:
            out.append(
                f"After the {title} the operator had not gone quiet after "
                f"{p.get('settle_timeout_seconds')} s (CPU still in use every second)."
            )
    out += ["", f"Peak RSS (VmHWM) over the scenario: {result['peak_rss_mib']} MiB.", ""]
    return "\n".join(out)


def _apicost(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"Failed: `{result['error']}`"
    out = [
        f"{result['parameters']['runs_per_case']} runs per case. Load before "
        f"{_load(result.get('loadavg_before'))}, after {_load(result.get('loadavg_after'))}.",
        "",
        "| case | per run, mean | p50 | max | without Events, mean | p50 | max | by request "
        "(mean per run) | namespace-level (total) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for title, c in result["cases"].items():
        by = ", ".join(f"{k} {_s(v)}" for k, v in c["by_request"].items())
        ns = ", ".join(f"{k} {v}" for k, v in c["namespace_level_total"].items())
        out.append(
            _row(
                [
                    title,
                    c["mean_per_run"],
                    c["per_run"].get("p50"),
                    c["per_run"].get("max"),
                    c["mean_per_run_without_events"],
                    c["per_run_without_events"].get("p50"),
                    c["per_run_without_events"].get("max"),
                    by,
                    ns or "–",
                ]
            )
        )
    return "\n".join(out) + "\n"


def _export(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return (
            "**Placeholder — not measured yet.** "
            f"{result['skipped']}: once the export worker's benchmark script is in, "
            "`python -m bench --only export --merge` adds its numbers here."
        )
    if "results" not in result:
        return f"Failed: `{result.get('error')}`\n\n```\n{result.get('output', '')}\n```"
    r = result["results"]
    out = [
        f"`bench/export_worker.py --rows {r.get('rows')} --batch-size {r.get('batch_size')}` "
        "(the worker as a local process, PostgreSQL from Debian's packages, as in the tests). "
        f"Load before {_load(result.get('loadavg_before'))}, after "
        f"{_load(result.get('loadavg_after'))}.",
        "",
        "| source | rows/s to CSV | SIGTERM → exit (s), each try | sessions left |",
        "| --- | ---: | --- | ---: |",
    ]
    for source, title in (("postgres", "PostgreSQL"), ("sqlite", "SQLite")):
        if f"{source}_rows_per_s" not in r:
            continue
        stops = ", ".join(_s(x, 3) for x in r.get(f"{source}_sigterm_exit_s", []))
        left = r.get("postgres_sessions_left") if source == "postgres" else "–"
        out.append(_row([title, f"{r[f'{source}_rows_per_s']:,.0f}", stops, left]))
    return "\n".join(out) + "\n"


def _writecost(result: dict[str, Any]) -> str:
    if "variants" not in result:
        return f"Failed: `{result.get('error')}`"
    p = result["parameters"]
    out = [
        f"{p['objects']} objects per variant, {p['in_flight']} requests in flight, no operator "
        "running; CPU seconds of the kube-apiserver process per request (from /proc), "
        "status patch averaged over three. Load before "
        f"{_load(result.get('loadavg_before'))}, after {_load(result.get('loadavg_after'))}.",
        "",
        "| object | create: API server CPU (ms) | wall (ms) | status patch: API server CPU (ms) "
        "| wall (ms) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for title, v in result["variants"].items():
        create, patch = v["create"], v["status_patch"]
        out.append(
            _row([title, create["cpu_ms"], create["wall_ms"], patch["cpu_ms"], patch["wall_ms"]])
        )
    return "\n".join(out) + "\n"


def _dashboard(result: dict[str, Any]) -> str:
    if "server_render_ms" not in result:
        return f"Failed: `{result.get('error')}`"
    p, b = result["parameters"], result.get("browser") or {}
    out = [
        f"{p['runs']:,} JobRuns in one namespace (most finished over the last day), watched "
        "by `kubectl jobwarden dashboard` as the admin; no operator running. Each figure: "
        f"{p['repeats']} tries, median / p95 / max in ms. Load before "
        f"{_load(result.get('loadavg_before'))}, after {_load(result.get('loadavg_after'))}; "
        f"dashboard RSS {result.get('dashboard_rss_mib')} MiB "
        f"(peak {result.get('dashboard_peak_rss_mib')} MiB).",
        "",
        "| server render (GET, on the client) | median | p95 | max | page size (KiB) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, m in result["server_render_ms"].items():
        out.append(_row([label, m["median"], m["p95"], m["max"], m["kib"]]))
    out += ["", "| in Chromium (headless) | median | p95 | max |", "| --- | ---: | ---: | ---: |"]
    for key, label in (
        ("load_to_live_ms", "navigation to a live runs page"),
        ("update_ms", "status patch → new phase on screen"),
        (
            "update_under_churn_ms",
            f"the same, while {p['churn_per_s']} other runs change per second",
        ),
    ):
        if key in b:
            m = b[key]
            out.append(_row([label, m["median"], m["p95"], m["max"]]))
    if "long_tasks" in b:
        out += [
            "",
            f"During the churn ({b['churn_window_s']} s): {b['long_tasks']} long tasks on the "
            f"page's main thread, the longest {b['longest_task_ms']} ms, "
            f"{b['blocked_ms_per_s']} ms blocked (beyond 50 ms) per second.",
        ]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- headline
def _dryrun(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"failed: {result['error']}"
    variants = result.get("variants") or {}
    titles = {
        "with": "JobRun create (dry run), webhook dry-runs the worker pod",
        "cached": "the same pod each time, as shipped: dry-run once, then remembered (10 s)",
        "without": "JobRun create (dry run), JOBWARDEN_WEBHOOK_POD_DRY_RUN=false",
    }

    def ms(stats: dict[str, Any]) -> dict[str, Any]:
        return {k: v if k == "count" else round(v * 1000, 2) for k, v in stats.items()}

    rows = [(titles[k], ms(v["latency_seconds"])) for k, v in variants.items() if k in titles]
    first = result.get("first_runs_of_a_namespace")
    if first:
        label = "the same, before the namespace's first run (no worker ServiceAccount yet)"
        rows.insert(1, (label, ms(first["latency_seconds"])))
    alone = result.get("pod_dry_run_alone")
    if alone:
        label = "the worker pod's dry run alone (client → API server)"
        rows.append((label, ms(alone["latency_seconds"])))
    out = [
        f"{result['parameters']['requests']} sequential requests per row, after "
        f"{result['parameters']['warmup']} warm-up requests; each row on a fresh control plane.",
        "",
        _pct_table("Latency", rows, unit="ms"),
        "",
        "| | API server CPU ms / request | operator CPU ms / request |",
        "| --- | --- | --- |",
    ]
    for key, title in titles.items():
        cpu = (variants.get(key) or {}).get("cpu_ms_per_request") or {}
        out.append(_row([title, _s(cpu.get("kube-apiserver")), _s(cpu.get("operator"))]))
    added = result.get("added_per_admission")
    if added:
        cpu = added["cpu_ms"]
        out += [
            "",
            f"**Added per admission:** {_s(added['latency_p50_ms'])} ms at p50, "
            f"{_s(added['latency_p90_ms'])} ms at p90; "
            f"{_s(cpu.get('kube-apiserver'))} ms of API-server CPU and "
            f"{_s(cpu.get('operator'))} ms of operator CPU.",
        ]
    return "\n".join(out)


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _verdict(value: Any, limit: float, *, lower_is_better: bool = True) -> str:
    if value is None:
        return "not measured"
    ok = value <= limit if lower_is_better else value >= limit
    return "met" if ok else "**missed**"


def _aside(*notes: str) -> str:
    """` (a; b)` of the notes given, or nothing."""
    given = [n for n in notes if n]
    return f" ({'; '.join(given)})" if given else ""


def headline(data: dict[str, Any]) -> str:
    sc = data["scenarios"]
    rows = []

    def add(target: str, measured: Any, verdict: str) -> None:
        rows.append(f"| {target} | {measured} | {verdict} |")

    for part, label in (("serial", "one by one"), ("burst", "at once")):
        if "cancel" not in sc:
            break
        v = _get(sc, "cancel", part, "summary", "request_to_cancelling", "p99")
        if part == "serial":  # the burst's targets are issue 24's, below
            add(
                f"cancel ({label}): request → Cancelling p99 ≤ 0.5 s",
                f"{_s(v)} s",
                _verdict(v, 0.5),
            )
        v = _get(sc, "cancel", part, "summary", "request_to_signalled_operator", "p99")
        w = _get(sc, "cancel", part, "summary", "request_to_pod_deletion_seen", "p99")
        add(
            f"cancel ({label}): request → pod deletion issued p99 ≤ 0.5 s",
            f"{_s(v)} s (operator stamp); {_s(w)} s (seen by a client)",
            _verdict(v, 0.5),
        )
        v = _get(sc, "cancel", part, "summary", "request_to_terminal", "p99")
        if part == "serial":
            add(
                f"cancel ({label}): request → Cancelled ≤ worker exit (0.5 s) + 1 s, p99",
                f"{_s(v)} s",
                _verdict(v, 1.5),
            )
    burst = _get(sc, "cancel", "burst", "summary") or {}
    native = _get(sc, "cancel", "native_burst", "summary") or {}
    if burst:
        busy = _get(sc, "cancel", "burst", "cpu", "machine_busy_percent")
        load = f"machine {busy:.0f} % busy" if busy is not None else ""
        for target, our_key, native_key, native_title, limit, extra in (
            ("cancel PATCH round trip p99 ≤ 0.3 s", "patch_response", "patch_response",
             "native suspend PATCH", 0.3, load),
            ("request → Cancelling p99 ≤ 1 s", "request_to_cancelling",
             "request_to_suspended_condition", "native: Suspended condition", 1.0, ""),
            ("request → Cancelled ≤ worker exit (0.5 s) + 1.5 s, p99", "request_to_terminal",
             "request_to_stopped", "native: pods gone", 2.0, ""),
        ):  # fmt: skip
            mine = _get(burst, our_key, "p99")
            native_p99 = _get(native, native_key, "p99")
            beside = f"{native_title} {_s(native_p99)} s" if native_p99 else ""
            add(
                f"cancel (at once): {target} (issue 24)",
                f"{_s(mine)} s" + _aside(beside, extra),
                _verdict(mine, limit),
            )
    v = _get(sc, "cancel", "queued", "summary", "request_to_terminal", "p99")
    if v is not None:
        add("cancel (queued, at once): request → Cancelled p99", f"{_s(v)} s", "no target")
    for size, run in (_get(sc, "schedule", "runs") or {}).items():
        ours = _censored(run["samples"]["jobrun_created"], run["jobruns_missing"]).get("p99")
        theirs = _censored(run["samples"]["job_created"], run["jobs_missing"]).get("p99")
        if str(size) == "1000":
            add(
                "schedule (1000): fire → JobRun created p99 ≤ 10 s (issue 24)",
                f"{_s(ours)} s (CronJob → Job: {_s(theirs)} s)",
                _verdict(ours, 10.0),
            )
        add(
            f"schedule lag p99 ≤ 1 s ({size} ScheduledJobs)",
            f"{_s(ours)} s (CronJob: {_s(theirs)} s)",
            _verdict(ours, 1.0),
        )
        if ours is not None and theirs is not None:
            expected = run["expected_per_kind"] or 1
            our_missed = run["jobruns_missing"] / expected
            their_missed = run["jobs_missing"] / expected
            our_p50 = _censored(run["samples"]["jobrun_created"], run["jobruns_missing"])["p50"]
            their_p50 = _censored(run["samples"]["job_created"], run["jobs_missing"])["p50"]
            add(
                f"schedule lag no worse than CronJob ({size})",
                f"p50 {_s(our_p50)} s vs {_s(their_p50)} s; fires never run: "
                f"{100 * our_missed:.0f} % vs {100 * their_missed:.0f} %",
                "met" if our_p50 <= their_p50 and our_missed <= their_missed else "**missed**",
            )
    variants = _get(sc, "admission", "variants") or {}
    native = _get(variants, "native", "throughput_overall")
    for tag, v in variants.items():
        if tag == "native":
            continue
        add(
            f"admission ≥ native Jobs ({v['title']})",
            f"{_s(v['throughput_overall'])}/s vs {_s(native)}/s",
            _verdict(v["throughput_overall"], native or 0, lower_is_better=False),
        )
        ours = _get(v, "control_plane_cpu_ms_per_run", "kube-apiserver")
        theirs = _get(variants, "native", "control_plane_cpu_ms_per_run", "kube-apiserver")
        if ours is not None and theirs is not None:
            add(
                f"API-server CPU per run ≤ a Job's ({v['title']}) (issue 24)",
                f"{_s(ours, 1)} ms vs {_s(theirs, 1)} ms",
                _verdict(ours, theirs),
            )
    fp = sc.get("footprint") or {}
    peaks = [fp.get("peak_rss_mib")] + [
        (fp.get(k) or {}).get("rss_mib") for k in ("after_first_start", "after_restart")
    ]
    peak = max((x for x in peaks if isinstance(x, (int, float))), default=None)
    objs = _get(sc, "footprint", "parameters", "scheduledjobs")
    add(
        f"operator RSS ≤ 200 MiB ({objs} + {objs} objects)",
        f"{_s(peak)} MiB peak",
        _verdict(peak, 200),
    )
    stops = [
        x
        for key in ("postgres_sigterm_exit_s", "sqlite_sigterm_exit_s")
        for x in (_get(sc, "export", "results", key) or [])
    ]
    if stops:
        add(
            "export worker: SIGTERM → exit < 1 s on 1M rows (worker contract)",
            f"{_s(max(stops), 3)} s worst of {len(stops)}",
            _verdict(max(stops), 1.0),
        )
    for case, limit in (("succeeded", 4), ("cancelled while running", 6)):
        if "apicost" not in sc:
            break
        v = _get(sc, "apicost", "cases", case, "mean_per_run_without_events")
        w = _get(sc, "apicost", "cases", case, "mean_per_run")
        add(
            f"≤ {limit} mutating requests per {case} run",
            f"{_s(v)} without Events, {_s(w)} with",
            _verdict(v, limit),
        )
    return "\n".join(["| target | measured | |", "| --- | --- | --- |", *rows])


def machine(data: dict[str, Any]) -> str:
    m = data["machine"]
    cp = ", ".join(f"{k.split('_')[0].lower()} {v}" for k, v in m["control_plane"].items())
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    return (
        f"- Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux "
        f"{m['kernel']}; shared with other engineers' test suites (load average recorded "
        f"with every result: {_load(m['loadavg_at_start'])} at the start, "
        f"{_load(m.get('loadavg_at_end'))} at the end).\n"
        f"- Control plane: {cp} (kwok-simulated pods, one control plane per scenario).\n"
        f"- Python {m['python']}; {pk}; jobwarden at {m['jobwarden_commit']}.\n"
        f"- Run: `{data['mode']}` started {m['started']}"
        + (
            f", re-runs merged in at {', '.join(r['started'] for r in data['merged_runs'])}"
            if data.get("merged_runs")
            else ""
        )
        + "; scenario durations: "
        + ", ".join(
            f"{k} {_s(v.get('duration_seconds'), 0)} s "
            f"(operator sources {v.get('operator_source', 'not recorded')})"
            for k, v in data["scenarios"].items()
        )
        + ".\n"
    )


def _eta(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"failed: {result['error']}"
    p = result["parameters"]
    out = [
        f"{p['runs']} runs created at once under a WorkerQuota of {p['quota']}; workers "
        f"take {p['run_seconds']} s. {result['with_estimate']} of {result['runs']} runs "
        f"showed an estimate before they started ({result['estimates_per_run']} estimates "
        f"per run on average); the queue drained in {_s(result['wall_seconds'], 1)} s.",
        "",
        _pct_table(
            "Estimated vs actual start",
            [
                ("first estimate shown: error", result["first_error_seconds"]),
                ("first estimate shown: made this long ahead", result["first_ahead_seconds"]),
                ("estimate in effect at the start: error", result["last_error_seconds"]),
                ("every estimate shown: error", result["all_error_seconds"]),
            ],
        ),
    ]
    bias = result.get("first_bias_seconds") or {}
    if bias.get("count"):
        out += [
            "",
            f"Bias of the first estimate (actual - estimated; positive: later than "
            f"estimated): p50 {_s(bias['p50'])} s, mean {_s(bias['mean'])} s.",
        ]
    return "\n".join(out)


def tables(data: dict[str, Any]) -> str:
    """The measured part of the page (also printed by `make bench-quick`)."""
    sc = data["scenarios"]
    parts = [
        "## Results against the targets",
        "",
        headline(data),
        "",
        "## Machine, versions, parameters",
        "",
        machine(data),
    ]
    for key, title, fn in (
        ("cancel", "1. Cancel latency", _cancel),
        ("schedule", "2. Schedule precision", _schedule),
        ("admission", "3. Admission throughput", _admission),
        ("footprint", "4. Footprint", _footprint),
        (
            "apicost",
            "5. API cost (mutating requests by the operator, from the audit log)",
            _apicost,
        ),
        ("export", "6. Export worker", _export),
        ("writecost", "7. What one write costs the API server", _writecost),
        ("dryrun", "8. The admission webhook's dry run of the worker pod", _dryrun),
        ("dashboard", "9. The dashboard with many runs", _dashboard),
        ("eta", "10. Queue start estimates", _eta),
    ):
        if key in sc:
            parts += [f"## {title}", "", fn(sc[key]), ""]
        elif key == "export":
            parts += [
                f"## {title}",
                "",
                _export({"skipped": "the export scenario was not run"}),
                "",
            ]
    return "\n".join(parts)


# -------------------------------------------------------------------- plots
def plots(data: dict[str, Any], directory: Path) -> list[tuple[str, str]]:
    """PNG plots; returns (file name, caption). Needs matplotlib (dev extras)."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, str]] = []
    sc = data["scenarios"]

    def cdf(ax: Any, values: list[float | None], label: str, total: int | None = None) -> None:
        """Cumulative fraction; with `total`, of all expected (those never seen stay out)."""
        clean = sorted(v for v in values if v is not None)
        if clean:
            n = max(total or len(clean), len(clean))
            ax.plot(clean, [(i + 1) / n for i in range(len(clean))], label=label)

    runs = _get(sc, "schedule", "runs") or {}
    if runs:
        fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), squeeze=False)
        for ax, (size, run) in zip(axes[0], runs.items(), strict=True):
            s = run["samples"]
            total = run["expected_per_kind"]
            cdf(ax, s["jobrun_created"], "jobwarden: JobRun created", total)
            cdf(ax, s["jobrun_pod_created"], "jobwarden: worker pod created", total)
            cdf(ax, s["job_created"], "CronJob: Job created", total)
            cdf(ax, s["job_pod_created"], "CronJob: pod created", total)
            ax.set_ylim(0, 1.02)
            ax.set_title(f"{size} ScheduledJobs + {size} CronJobs, * * * * *")
            ax.set_xlabel("seconds after the fire instant")
            ax.set_ylabel("fraction of all fires")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(directory / "schedule-lag.png", dpi=90)
        plt.close(fig)
        made.append(("schedule-lag.png", "Schedule lag, cumulative distribution"))

    variants = _get(sc, "admission", "variants") or {}
    if variants:
        fig, ax = plt.subplots(figsize=(7, 4))
        for v in variants.values():
            times = v["finished_over_time"]
            ax.plot(times, range(1, len(times) + 1), label=v["title"])
        ax.set_xlabel("seconds after the first create")
        ax.set_ylabel("runs / Jobs finished")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(directory / "admission.png", dpi=90)
        plt.close(fig)
        made.append(("admission.png", "Admission: runs finished over time"))

    cancel = sc.get("cancel") or {}
    if "serial" in cancel:
        fig, ax = plt.subplots(figsize=(7, 4))
        for part, label in (("serial", "one by one"), ("burst", "at once")):
            s = cancel[part]["samples"]
            cdf(ax, s["request_to_cancelling"], f"{label}: → Cancelling")
            cdf(ax, s["request_to_terminal"], f"{label}: → Cancelled")
        ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.axvline(1.5, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("seconds after the cancel request")
        ax.set_ylabel("fraction")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(directory / "cancel.png", dpi=90)
        plt.close(fig)
        made.append(("cancel.png", "Cancel latency (dotted: the targets, 0.5 s and 1.5 s)"))
    return made


# --------------------------------------------------------------------- page
def write(data: dict[str, Any], path: Path, results_file: Path | None = None) -> None:
    """Write the page; keep its hand-written analysis section."""
    analysis = f"{START}\n\n(no analysis yet)\n\n{END}"
    if path.exists():
        text = path.read_text()
        if START in text and END in text:
            analysis = text[text.index(START) : text.index(END) + len(END)]
    made = plots(data, path.parent / PLOTS_DIR)
    figures = "\n".join(f"![{caption}]({PLOTS_DIR}/{name})\n" for name, caption in made)
    repo = Path(__file__).resolve().parent.parent
    if results_file is None:
        source = "the results"
    elif results_file.resolve().is_relative_to(repo):
        source = f"`{results_file.resolve().relative_to(repo)}`"
    else:
        source = f"`{results_file}`"
    page = [
        "# jobwarden performance",
        "",
        "jobwarden against Kubernetes' own CronJob and Job controllers, on the local control "
        "plane (`devcluster/`, kwok-simulated pods), each pair measured on the same control "
        "plane in the same run (issue 9). Generated by `make bench` from "
        f"{source} (raw samples are in that file); `make bench-quick` runs the same "
        "scenarios small, in under 5 minutes, and prints these tables. Everything between the "
        "analysis markers below is written by hand and kept when the page is re-rendered "
        "(`python -m bench --render bench/results/FILE.json`).",
        "",
        "Clocks: every latency is a difference of wall-clock times on one machine. "
        '"Seen by the client" means the arrival of the watch event at the benchmark\'s own '
        "watch stream (creationTimestamp has whole seconds only); the operator's stamps "
        "(`status.cancellation.*`, `status.attempts[].startTime`, its log line for fires) "
        "carry microseconds.",
        "",
        tables(data),
        "## Plots",
        "",
        figures or "(matplotlib not installed: no plots)",
        "",
        analysis,
        "",
    ]
    path.write_text("\n".join(page))
