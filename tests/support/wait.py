"""Waiting for a condition with a deadline: the only way tests wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ConditionTimeoutError(AssertionError):
    """The awaited condition did not hold before the deadline."""


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.1,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Call `probe` until it returns something truthy, and return that.

    Exceptions raised by the probe count as "not yet"; the last one is shown if
    the deadline passes, with `message` saying what was awaited.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    last_value: T | None = None
    while True:
        try:
            last_value = probe()
            if last_value:
                return last_value
        except Exception as error:
            last_error = error
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            detail = (
                f"; last error: {last_error!r}" if last_error else f"; last value: {last_value!r}"
            )
            raise ConditionTimeoutError(f"timed out after {timeout} s waiting for {text}{detail}")
        time.sleep(interval)


def assert_holds(
    probe: Callable[[], bool], *, duration: float, interval: float = 0.1, message: str
) -> None:
    """Assert `probe` stays true for `duration` seconds, checking every `interval`.

    For the few behaviours that are about something *not* happening for a while
    (a pod that must stay Terminating through its grace period).
    """
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if not probe():
            raise AssertionError(f"{message} stopped holding before {duration} s passed")
        time.sleep(interval)
