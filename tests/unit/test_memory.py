"""The operator hands freed heap pages back to the OS (glibc's malloc_trim)."""

from __future__ import annotations

import gc
import platform

import pytest

from jobwarden.engine import memory


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_returns_freed_pages_to_the_os() -> None:
    blocks = [bytes(2000) + str(i).encode() for i in range(100_000)]  # ~200 MiB via malloc
    blocks_rss = _rss_mib()
    keep = blocks[-1]  # the last block pins the top of the heap, as live objects do
    del blocks
    gc.collect()
    before_trim = _rss_mib()
    assert memory.trim()
    after_trim = _rss_mib()
    assert keep
    assert before_trim > after_trim + 100, (blocks_rss, before_trim, after_trim)
