"""The benchmark scenarios of issue 9; each is `async def run(ctx) -> dict`."""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.env import loadavg


@dataclass
class Context:
    """What every scenario gets: mode, scratch directory, parameters and a logger."""

    quick: bool
    workdir: Path
    overrides: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str, full: Any, quick: Any) -> Any:
        """A parameter: `full` for `make bench`, `quick` for `make bench-quick`."""
        if name in self.overrides:
            return type(full)(self.overrides[name])
        return quick if self.quick else full

    def log(self, message: str) -> None:
        load = " ".join(f"{x:.2f}" for x in loadavg())
        print(f"{time.strftime('%H:%M:%S')} [load {load}] {message}", file=sys.stderr, flush=True)


async def guarded(ctx: Context, result: dict[str, Any], key: str, work: Awaitable[Any]) -> Any:
    """Run one part of a scenario; on failure record the error under `errors` and go on."""
    try:
        return await work
    except Exception as error:
        ctx.log(f"{key} failed: {type(error).__name__}: {error}")
        result.setdefault("errors", {})[key] = f"{type(error).__name__}: {error}"
        return None
