"""Scenario 6 — the export worker: rows per second to CSV from PostgreSQL and SQLite,
and SIGTERM → exit on a large export. Runs `bench/export_worker.py` (owned by the export
worker's author) and keeps its JSON; skipped, and said so, when that script is absent."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from bench.env import REPO, loadavg
from bench.scenarios import Context

SCRIPT = REPO / "bench" / "export_worker.py"


async def run(ctx: Context) -> dict[str, Any]:
    if not SCRIPT.exists():
        return {"skipped": f"{SCRIPT.relative_to(REPO)} does not exist yet"}
    rows = ctx.param("export_rows", 1_000_000, 1_000_000)  # fewer finish before SIGTERM
    repeat = ctx.param("export_repeat", 3, 1)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    out = Path(ctx.workdir) / "export.json"
    before = loadavg()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--rows",
        str(rows),
        "--repeat",
        str(repeat),
        "--json",
        str(out),
        cwd=str(REPO),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    result: dict[str, Any] = {
        "parameters": {"rows": rows, "repeat": repeat},
        "loadavg_before": before,
        "loadavg_after": loadavg(),
        "exit_code": process.returncode,
        "output": output.decode(errors="replace")[-3000:],
    }
    if out.exists():
        result["results"] = json.loads(out.read_text())
    else:
        result["error"] = f"export_worker.py wrote no results (exit {process.returncode})"
    return result
