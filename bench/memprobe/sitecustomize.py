"""Memory attribution for the operator, without touching its code: put this directory
on the operator's PYTHONPATH with BENCH_TRACEMALLOC_OUT=FILE set, and every SIGUSR1
appends tracemalloc's top allocation sites (grouped by file) to FILE.

Used by `python -m bench --memprobe` (footprint scenario); tracemalloc slows the
process down and adds its own memory, so those runs attribute memory, never measure it.
"""

from __future__ import annotations

import os
import signal
import time
import tracemalloc

_OUT = os.environ.get("BENCH_TRACEMALLOC_OUT")


def _dump(signum: int, frame: object) -> None:
    snapshot = tracemalloc.take_snapshot()
    current, peak = tracemalloc.get_traced_memory()
    lines = [
        f"== {time.strftime('%H:%M:%S')} traced {current / 2**20:.1f} MiB (peak {peak / 2**20:.1f})"
    ]
    for group in ("filename", "lineno"):
        lines.append(f"-- by {group}")
        for stat in snapshot.statistics(group)[:25]:
            lines.append(f"{stat.size / 2**20:8.1f} MiB {stat.count:9d}  {stat.traceback}")
    with open(_OUT or os.devnull, "a") as out:
        out.write("\n".join(lines) + "\n")


if _OUT:
    tracemalloc.start(1)
    signal.signal(signal.SIGUSR1, _dump)
