"""Scenario 8 — the dashboard with many runs in one namespace (issue 23): is the runs
page still responsive with 10,000 runs?

`count` JobRuns are created in one namespace and given statuses (no operator running,
so nothing changes them but this scenario): most finished over the last day, some
running. Then `python -m jobwarden.dashboard` watches the namespace as the admin, and:

- server render: the time to answer GET /runs (first page, a later page, a phase
  filter, a text search), the overview (its per-minute chart counts every run) and
  the scheduled-jobs list, measured on the client, 20 times each after a warm-up;
- browser (Debian's Chromium, headless, driven by Playwright as in the tests): the
  time from navigation to a live page; and the update time, from a status patch of a
  run on the first page to its new phase on screen (the watch event, the server-sent
  event, the page's fetch and swap), alone and while `churn` other runs' statuses
  change per second; during the churn, the page's long tasks (main thread busy
  > 50 ms) are summed;
- the dashboard process's resident memory with every run in its store.

No timing is asserted anywhere: the numbers go to the results and docs/performance.md.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.client import Client, gather_limited
from bench.cluster import BenchCluster
from bench.env import ProcessSampler, loadavg
from bench.objects import jobrun, path, sim
from bench.scenarios import Context

NAMESPACE = "bench-dashboard"
CONCURRENCY = 16
REPEATS = 20
CHROMIUM = Path(os.environ.get("JOBWARDEN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
#: Phases given to the runs, in proportion (the rest finished long ago).
MIX = (("Succeeded", 70), ("Failed", 15), ("Cancelled", 10), ("Running", 5))


async def run(ctx: Context) -> dict[str, Any]:
    count = ctx.param("dashboard_runs", 10_000, 2_000)
    churn = ctx.param("dashboard_churn_per_s", 50, 20)
    result: dict[str, Any] = {
        "parameters": {"runs": count, "churn_per_s": churn, "repeats": REPEATS}
    }
    async with BenchCluster(ctx.workdir / "dashboard", nodes=1, start_operator=False) as cluster:
        client = cluster.client
        assert client is not None
        result["loadavg_before"] = loadavg()
        began = time.monotonic()
        names = await _populate(client, count)
        result["populate_seconds"] = round(time.monotonic() - began, 1)
        ctx.log(f"dashboard: {count} runs in {result['populate_seconds']} s")
        dashboard, url = await asyncio.to_thread(_start_dashboard, cluster.local.kubeconfig())
        try:
            result["server_render_ms"] = await asyncio.to_thread(_server_render, url)
            ctx.log(f"dashboard: server render {result['server_render_ms']}")
            result["browser"] = await _browser(client, url, names, churn)
            ctx.log(f"dashboard: browser {result['browser']}")
            sampler = ProcessSampler(dashboard.pid)
            result["dashboard_rss_mib"] = sampler.rss_mib()
            result["dashboard_peak_rss_mib"] = sampler.peak_rss_mib()
        finally:
            dashboard.terminate()
            dashboard.wait(timeout=10)
        result["loadavg_after"] = loadavg()
    return result


# ------------------------------------------------------------------ the runs
def _phase(index: int) -> str:
    """A phase drawn by MIX's shares (the same for the same index)."""
    roll = random.Random(index).randrange(100)
    for phase, share in MIX:
        if roll < share:
            return phase
        roll -= share
    return MIX[0][0]


def _status(index: int, now: datetime.datetime) -> dict[str, Any]:
    phase = _phase(index)
    started = now - datetime.timedelta(seconds=random.Random(-index).randrange(86_400))
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    status: dict[str, Any] = {"phase": phase, "startTime": started.strftime(stamp), "attempt": 1}
    if phase != "Running":
        finished = started + datetime.timedelta(seconds=5 + index % 600)
        status["completionTime"] = min(finished, now).strftime(stamp)
    return status


async def _populate(client: Client, count: int) -> list[str]:
    await client.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}}, exist_ok=True)
    names = [f"run-{i:05d}" for i in range(count)]
    base = path("jobruns", NAMESPACE)
    await gather_limited(CONCURRENCY, [client.create(base, jobrun(n, sim(60))) for n in names])
    now = datetime.datetime.now(datetime.UTC)
    await gather_limited(
        CONCURRENCY,
        [
            client.merge_patch(f"{base}/{n}/status", {"status": _status(i, now)})
            for i, n in enumerate(names)
        ],
    )
    return names


# ------------------------------------------------------------- the dashboard
def _start_dashboard(kubeconfig: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jobwarden.dashboard",
            "--kubeconfig",
            str(kubeconfig),
            "-n",
            NAMESPACE,
            "--no-browser",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
    first = lines.get(timeout=120)
    url = next(word for word in first.split() if word.startswith("http://"))
    return process, url


def _get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        size = len(response.read())
    return (time.perf_counter() - started) * 1000, size


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered), 1),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "max": round(ordered[-1], 1),
    }


def _server_render(url: str) -> dict[str, Any]:
    pages = {
        "runs, first page": f"runs?namespace={NAMESPACE}",
        "runs, page 100": f"runs?namespace={NAMESPACE}&page=100",
        "runs, phase Failed": f"runs?namespace={NAMESPACE}&phase=Failed",
        "runs, text search": f"runs?namespace={NAMESPACE}&q=run-0999",
        "overview (with the chart)": f"?namespace={NAMESPACE}",
        "scheduled jobs": f"scheduledjobs?namespace={NAMESPACE}",
    }
    _get(url + pages["runs, first page"])  # the store's first lists
    measured: dict[str, Any] = {}
    for label, page in pages.items():
        samples, size = [], 0
        for _ in range(REPEATS):
            took, size = _get(url + page)
            samples.append(took)
        measured[label] = {**_summary(samples), "kib": round(size / 1024, 1)}
    return measured


# --------------------------------------------------------------- the browser
async def _browser(client: Client, url: str, names: list[str], churn: int) -> dict[str, Any]:
    """Chromium in a thread (Playwright's sync API), status patches from here."""
    loop = asyncio.get_running_loop()
    churning = asyncio.Event()

    def patch(name: str, phase: str) -> None:
        done = threading.Event()

        async def send() -> None:
            await client.merge_patch(
                f"{path('jobruns', NAMESPACE)}/{name}/status", {"status": {"phase": phase}}
            )
            done.set()

        asyncio.run_coroutine_threadsafe(send(), loop)
        done.wait(30)

    def set_churn(on: bool) -> None:
        loop.call_soon_threadsafe(churning.set if on else churning.clear)

    async def churner() -> None:
        others = names[len(names) // 2 :]
        index = 0
        while True:
            await churning.wait()
            started = time.monotonic()
            batch = []
            for _ in range(churn):
                name = others[index % len(others)]
                phase = ("Running", "Succeeded")[index // len(others) % 2]
                batch.append(
                    client.merge_patch(
                        f"{path('jobruns', NAMESPACE)}/{name}/status", {"status": {"phase": phase}}
                    )
                )
                index += 1
            await gather_limited(CONCURRENCY, batch)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    task = asyncio.create_task(churner())
    try:
        return await asyncio.to_thread(_drive, url, names, patch, set_churn)
    finally:
        task.cancel()


def _drive(url: str, names: list[str], patch: Any, set_churn: Any) -> dict[str, Any]:
    import tempfile  # noqa: PLC0415

    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    out: dict[str, Any] = {}
    newest = sorted(names)[-1]  # created last: on the first page (newest first)
    with (
        tempfile.TemporaryDirectory(prefix="jobwarden-bench-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        page = context.new_page()
        loads = []
        for _ in range(5):
            started = time.perf_counter()
            page.goto(f"{url}runs?namespace={NAMESPACE}")
            page.wait_for_selector("#live[data-state='live']", timeout=120_000)
            loads.append((time.perf_counter() - started) * 1000)
        out["load_to_live_ms"] = _summary(loads)
        row = f"tr[data-key='JobRun/{NAMESPACE}/{newest}'] .badge"
        _show(page, row, newest, "Queued", patch)  # a known phase to change from
        out["update_ms"] = _updates(page, row, newest, patch)
        page.evaluate(
            """() => {
              window.longTasks = [];
              new PerformanceObserver((list) => {
                for (const e of list.getEntries()) window.longTasks.push(e.duration);
              }).observe({type: 'longtask', buffered: false});
            }"""
        )
        set_churn(True)
        started = time.perf_counter()
        out["update_under_churn_ms"] = _updates(page, row, newest, patch)
        seconds = time.perf_counter() - started
        set_churn(False)
        tasks: list[float] = page.evaluate("() => window.longTasks")
        out["churn_window_s"] = round(seconds, 1)
        out["long_tasks"] = len(tasks)
        out["longest_task_ms"] = round(max(tasks, default=0.0), 1)
        out["blocked_ms_per_s"] = round(sum(t - 50 for t in tasks) / seconds, 1)
        context.close()
    return out


def _show(page: Any, row: str, name: str, phase: str, patch: Any) -> float:
    """Patch the run's phase; milliseconds until the page shows it (checked on every
    animation frame)."""
    started = time.perf_counter()
    patch(name, phase)
    page.wait_for_function(
        "([sel, want]) => { const b = document.querySelector(sel); "
        "return b !== null && b.textContent === want; }",
        arg=[row, phase],
        polling="raf",
        timeout=60_000,
    )
    return (time.perf_counter() - started) * 1000


def _updates(page: Any, row: str, name: str, patch: Any) -> dict[str, float]:
    """REPEATS phase changes of one run (Failed and Succeeded in turn), each timed."""
    return _summary(
        [_show(page, row, name, ("Failed", "Succeeded")[i % 2], patch) for i in range(REPEATS)]
    )
