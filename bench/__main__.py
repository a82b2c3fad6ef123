"""`python -m bench [--quick] [--only NAMES] [--name NAME]`: run the scenarios, write
bench/results/<date>-<name>.json and render docs/performance.md from it."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench import render
from bench.env import REPO, loadavg, machine_facts, source_fingerprint
from bench.scenarios import (
    Context,
    admission,
    apicost,
    cancel,
    dashboard,
    dryrun,
    eta,
    export,
    footprint,
    schedule,
    writecost,
)

SCENARIOS = {
    "cancel": cancel.run,
    "schedule": schedule.run,
    "admission": admission.run,
    "footprint": footprint.run,
    "apicost": apicost.run,
    "export": export.run,
    "writecost": writecost.run,
    "dryrun": dryrun.run,
    "dashboard": dashboard.run,
    "eta": eta.run,
}
#: Run only when named with --only (the default set is what `make bench` reports on).
ON_REQUEST = frozenset({"dashboard", "eta"})
RESULTS = REPO / "bench" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (under 5 minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(SCENARIOS)}")
    parser.add_argument("--name", default="", help="results name (default: full or quick)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="PARAM=VALUE", help="override a parameter"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument(
        "--memprobe", default=None, metavar="DIR", help="tracemalloc the operator (into DIR)"
    )
    parser.add_argument(
        "--merge", action="store_true", help="add to today's results file of that name"
    )
    parser.add_argument(
        "--profile", default=None, metavar="DIR", help="py-spy the operator (stacks into DIR)"
    )
    parser.add_argument(
        "--render", default=None, metavar="RESULTS.json", help="only render docs from results"
    )
    parser.add_argument(
        "--results",
        default=str(RESULTS),
        metavar="DIR",
        help="where the results file goes (default: bench/results)",
    )
    parser.add_argument(
        "--docs",
        default=None,
        help=(
            "where to render (default: docs/performance.md for a whole full run or a "
            "--merge into one; none for --quick or --only)"
        ),
    )
    args = parser.parse_args(argv)
    if args.render:
        data = json.loads(Path(args.render).read_text())
        render.write(
            data,
            Path(args.docs or REPO / "docs" / "performance.md"),
            results_file=Path(args.render),
        )
        return 0
    if args.memprobe:
        os.environ["BENCH_MEMPROBE_DIR"] = str(Path(args.memprobe).resolve())
    if args.profile:
        os.environ["BENCH_PROFILE_DIR"] = str(Path(args.profile).resolve())
    chosen = [s for s in args.only.split(",") if s] or [s for s in SCENARIOS if s not in ON_REQUEST]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    overrides = dict(item.split("=", 1) for item in args.set)
    name = args.name or ("quick" if args.quick else "full")
    scratch = Path(tempfile.mkdtemp(prefix="jobwarden-bench-"))
    data: dict[str, Any] = {
        "name": name,
        "mode": "quick" if args.quick else "full",
        "machine": machine_facts(),
        "scenarios": {},
    }
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / f"{time.strftime('%Y-%m-%d')}-{name}.json"
    if args.merge and out.exists():
        previous = json.loads(out.read_text())
        previous.setdefault("merged_runs", []).append(data["machine"])
        data = previous
    started = time.monotonic()
    failed = False
    for scenario in chosen:
        ctx = Context(quick=args.quick, workdir=scratch / scenario, overrides=overrides)
        ctx.log(f"scenario {scenario}: start")
        began = time.monotonic()
        try:
            result = asyncio.run(SCENARIOS[scenario](ctx))
        except Exception as error:  # record, keep going with the other scenarios
            failed = True
            traceback.print_exc()
            result = {"error": f"{type(error).__name__}: {error}"}
        result["duration_seconds"] = round(time.monotonic() - began, 1)
        result["operator_source"] = source_fingerprint()
        result.setdefault("loadavg_after", loadavg())
        known = data["scenarios"].get(scenario)
        if args.merge and isinstance(known, dict) and "runs" in known and "runs" in result:
            known["runs"].update(result["runs"])  # e.g. more schedule sizes
        else:
            data["scenarios"][scenario] = result
        ctx.log(f"scenario {scenario}: done in {result['duration_seconds']} s")
        out.write_text(json.dumps(data, indent=1) + "\n")
    if not args.merge:
        data["duration_seconds"] = round(time.monotonic() - started, 1)
        data["machine"]["loadavg_at_end"] = loadavg()
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"results: {out}", file=sys.stderr)
    # The page is the record of a whole run: a selection (--only) renders it only into
    # a results file that has every scenario (--merge), or where --docs says.
    whole = not args.only or args.merge
    default = None if args.quick or not whole else str(REPO / "docs" / "performance.md")
    docs = args.docs or default
    if docs:
        render.write(data, Path(docs), results_file=out)
        print(f"rendered: {docs}", file=sys.stderr)
    else:
        print(render.tables(data), file=sys.stdout)
    if args.keep:
        print(f"scratch kept: {scratch}", file=sys.stderr)
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
