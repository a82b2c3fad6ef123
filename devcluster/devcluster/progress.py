"""Progress lines for waits a user sits through (`make up`): say what is awaited, then
the elapsed time every few seconds while it lasts, so a slow start never looks hung.
The shell side (build.sh) has the same in devcluster/progress.sh."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


def format_elapsed(seconds: float) -> str:
    """45s, 2m05s, 1h02m (as build.sh prints them)."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class Progress:
    """Writes `devcluster: <what> …` when a step starts and `… <elapsed>` every
    `every` seconds until it ends."""

    def __init__(self, out: TextIO, *, every: float = 10.0, prefix: str = "devcluster") -> None:
        self.out = out
        self.every = every
        self.prefix = prefix
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        """One line, flushed at once (the output may be a pipe)."""
        self.out.write(f"{self.prefix}: {text}\n")
        self.out.flush()

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Announce `what`, and tick while the body runs."""
        self.say(f"{what} …")
        start = time.monotonic()
        done = threading.Event()

        def tick() -> None:
            while not done.wait(self.every):
                self.say(f"{what} … {format_elapsed(time.monotonic() - start)}")

        ticker = threading.Thread(target=tick, name="progress", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()
