"""Machine facts, versions and load, recorded with every result."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        match = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        if match:
            return round(int(match.group(1)) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _versions_env() -> dict[str, str]:
    versions: dict[str, str] = {}
    path = REPO / "devcluster" / "versions.env"
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            versions[key.strip()] = value.strip()
    return versions


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_facts() -> dict[str, Any]:
    """What the results were measured on."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "control_plane": _versions_env(),
        "packages": {p: _package(p) for p in ("kopf", "aiohttp", "kubernetes", "pydantic")},
        "jobwarden_commit": _git_commit(),
        "loadavg_at_start": loadavg(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


class ProcessSampler:
    """Samples a process's RSS and CPU time from /proc (Linux)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._ticks = os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        text = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", text)
        return round(int(match.group(1)) / 1024, 1) if match else 0.0

    def peak_rss_mib(self) -> float:
        text = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", text)
        return round(int(match.group(1)) / 1024, 1) if match else 0.0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # fields[11], fields[12]: utime, stime (after the ")"-terminated comm field)
        return (int(fields[11]) + int(fields[12])) / self._ticks


def source_fingerprint() -> str:
    """A hash of the operator's Python sources (others edit them while benchmarks run)."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "operator" / "jobwarden").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


class CpuWindow:
    """CPU used over a window, by the whole machine and by named processes: whether
    the machine was saturated while a burst ran, and who used it (issue 24)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.samplers = {name: ProcessSampler(pid) for name, pid in pids.items()}
        self._start: dict[str, float] = {}
        self._machine: tuple[int, int] = (0, 0)
        self._began = 0.0

    def start(self) -> CpuWindow:
        self._start = {n: s.cpu_seconds() for n, s in self.samplers.items()}
        self._machine = _machine_ticks()
        self._began = time.monotonic()
        return self

    def stop(self) -> dict[str, Any]:
        """Percent of one core per process, and of all cores for the machine."""
        wall = max(time.monotonic() - self._began, 1e-6)
        busy, total = _machine_ticks()
        spent = {n: s.cpu_seconds() - self._start[n] for n, s in self.samplers.items()}
        return {
            "seconds": round(wall, 2),
            "machine_busy_percent": round(
                100 * (busy - self._machine[0]) / max(total - self._machine[1], 1), 1
            ),
            "cores": os.cpu_count(),
            "percent_of_a_core": {n: round(100 * v / wall, 1) for n, v in spent.items()},
        }
