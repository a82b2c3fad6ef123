"""Benchmark of the export worker: rows/s to CSV from PostgreSQL and SQLite, and how
fast it stops on SIGTERM in the middle of a one-million-row export.

    .venv/bin/python bench/export_worker.py [--rows 1000000] [--batch-size 5000] [--json FILE]

It starts a throw-away PostgreSQL (Debian's, as the tests do), runs
`python -m jobwarden.worker.export` as the worker pod would (same environment
variables, volumes mapped to a temporary directory) and measures:

- throughput: rows per second for a full export to CSV;
- SIGTERM → exit: time from the signal to the process's exit (exit code 143), with
  the partial file removed and, for PostgreSQL, no session left. The issue's target is
  under 1 s with the default batch size.

A script, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.postgres import PostgresServer, running_postgres  # noqa: E402

QUERY = "SELECT id, customer, total, created_at FROM orders ORDER BY id"


def worker_env(
    workdir: Path, source: dict[str, Any], batch_size: int, uri: str = ""
) -> dict[str, str]:
    spec = {
        "source": source,
        "query": QUERY,
        "format": "csv",
        "batchSize": batch_size,
        "destination": {"volume": "out", "path": "orders.csv"},
    }
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "JOBWARDEN_"))},
        "JOBWARDEN_EXPORT_SPEC": json.dumps(spec),
        "JOBWARDEN_VOLUME_ROOT": "/jobwarden/volumes",
        "JOBWARDEN_PATH_MAP": json.dumps({"/jobwarden/volumes": str(workdir)}),
        "JOBWARDEN_TERMINATION_LOG": str(workdir / "termination-log"),
    }
    if uri:
        env["JOBWARDEN_SOURCE_URI"] = uri
    return env


def full_export(env: dict[str, str], rows: int) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "jobwarden.worker.export"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"export failed ({result.returncode}):\n{result.stderr}")
    return rows / elapsed


def sigterm_exit(env: dict[str, str], partial: Path, after_bytes: int) -> float:
    process = subprocess.Popen(
        [sys.executable, "-m", "jobwarden.worker.export"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not (partial.exists() and partial.stat().st_size > after_bytes):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit("the export did not get under way")
        time.sleep(0.005)
    signalled = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    elapsed = time.perf_counter() - signalled
    if code != 143 or partial.exists():
        raise SystemExit(f"exit {code}, partial left: {partial.exists()}")
    return elapsed


def make_postgres_table(server: PostgresServer, rows: int) -> str:
    database = server.create_database("bench")
    with server.connect(database) as conn:
        conn.execute(
            "CREATE TABLE orders AS SELECT g AS id, 'customer ' || (g % 1000) AS customer, "
            "(g * 1.37)::numeric(12, 2) AS total, "
            "timestamptz '2025-01-01' + g * interval '1 minute' AS created_at "
            f"FROM generate_series(1, {rows}) AS g"
        )
    return database


def make_sqlite_table(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE orders AS WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
            f"FROM g WHERE i < {rows}) SELECT i AS id, 'customer ' || (i % 1000) AS customer, "
            "round(i * 1.37, 2) AS total, datetime('2025-01-01', '+' || i || ' minutes') "
            "AS created_at FROM g"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="SIGTERM measurements per source")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    results: dict[str, Any] = {"rows": args.rows, "batch_size": args.batch_size}

    with tempfile.TemporaryDirectory(prefix="jobwarden-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "out").mkdir()
        (workdir / "data").mkdir()
        partial = workdir / "out" / "orders.csv.partial"

        with running_postgres() as server:
            database = make_postgres_table(server, args.rows)
            env = worker_env(
                workdir,
                {"postgres": {"secretRef": {"name": "db"}}},
                args.batch_size,
                server.uri(database),
            )
            results["postgres_rows_per_s"] = full_export(env, args.rows)
            stops = [sigterm_exit(env, partial, 5_000_000) for _ in range(args.repeat)]
            time.sleep(0.2)
            results["postgres_sigterm_exit_s"] = stops
            results["postgres_sessions_left"] = len(server.backends(database))

        make_sqlite_table(workdir / "data" / "shop.sqlite", args.rows)
        env = worker_env(
            workdir, {"sqlite": {"volume": "data", "path": "shop.sqlite"}}, args.batch_size
        )
        results["sqlite_rows_per_s"] = full_export(env, args.rows)
        results["sqlite_sigterm_exit_s"] = [
            sigterm_exit(env, partial, 5_000_000) for _ in range(args.repeat)
        ]

    print(f"export worker, {args.rows} rows to CSV, batches of {args.batch_size}")
    for source in ("postgres", "sqlite"):
        stops = results[f"{source}_sigterm_exit_s"]
        print(
            f"  {source:<9} {results[f'{source}_rows_per_s']:>10,.0f} rows/s   "
            f"SIGTERM -> exit 143: median {statistics.median(stops) * 1000:.0f} ms, "
            f"max {max(stops) * 1000:.0f} ms (target < 1000 ms)"
        )
    print(f"  PostgreSQL sessions left after the cancels: {results['postgres_sessions_left']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    worst = max(results["postgres_sigterm_exit_s"] + results["sqlite_sigterm_exit_s"])
    return 0 if worst < 1.0 and results["postgres_sessions_left"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
