"""Give freed memory back to the operating system.

After a burst (the start-up listing of tens of thousands of objects, a wave of
thousands of runs) Python frees its objects, but glibc's allocator keeps the pages:
the resident size a platform team sees, and the memory limit it is held to, stay at
the peak. `malloc_trim(0)` returns the free pages; it takes milliseconds and is a
no-op where glibc is absent (musl, macOS).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

logger = logging.getLogger("jobwarden.memory")

TRIM_INTERVAL_SECONDS = 30.0


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def trim() -> bool:
    """Return free heap pages to the OS; False where that is not possible."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


async def trim_periodically(interval: float = TRIM_INTERVAL_SECONDS) -> None:
    """Trim every `interval` seconds until cancelled."""
    if _MALLOC_TRIM is None:
        logger.debug("malloc_trim is not available: freed memory stays with the process")
        return
    while True:
        await asyncio.sleep(interval)
        trim()
