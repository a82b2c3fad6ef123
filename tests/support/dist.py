"""Building jobwarden's wheel and sdist as a release would, and installing them into
fresh virtualenvs, for the packaging and plugin-install tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Distributions only the operator and the export worker need (the `operator` extra,
#: and what those pull in), and the kubernetes client (which requires aiohttp and
#: pydantic): a plugin-only install must bring none of them.
OPERATOR_ONLY_DISTRIBUTIONS = frozenset(
    {
        "kubernetes",
        "kopf",
        "aiohttp",
        "pydantic",
        "pydantic-core",
        "prometheus-client",
        "psycopg",
        "psycopg-binary",
    }
)
#: Top-level modules of those distributions (and cryptography, which the operator's
#: webhooks use), and jobwarden's own operator layers: the plugin's process must import
#: none of them.
OPERATOR_ONLY_MODULES = frozenset(
    {
        "kubernetes",
        "kopf",
        "aiohttp",
        "pydantic",
        "pydantic_core",
        "prometheus_client",
        "psycopg",
        "psycopg_binary",
        "cryptography",
        "jobwarden.__main__",
        "jobwarden.controller",
        "jobwarden.core",
        "jobwarden.engine",
        "jobwarden.webhooks",
        "jobwarden.metrics",
        "jobwarden.incluster",
        "jobwarden.settings",
        "jobwarden.api.base",
        "jobwarden.worker.export",
        "jobwarden.worker.sources",
    }
)
#: The parts of jobwarden.core the plugin imports on purpose (the pyproject's import
#: contract allows them): the cron reading and its preview, pure, for `kubectl
#: jobwarden next` and the dashboard.
PLUGIN_SHARED_MODULES = frozenset(
    {
        "jobwarden.core",
        "jobwarden.core.scheduling",
        "jobwarden.core.spread",
        "jobwarden.core.preview",
    }
)
#: A line of `python -X importtime` (PYTHONPROFILEIMPORTTIME=1): one per module imported.
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(?P<module>[\w.]+)\s*$")
#: What a clean install or build must never print.
_NOISE = re.compile(r"warning|deprecat|!!", re.IGNORECASE)


@dataclass(frozen=True)
class Dists:
    """The built wheel and sdist, and what `python -m build` printed."""

    wheel: Path
    sdist: Path
    output: str


def build_dists(outdir: Path) -> Dists:
    """`python -m build` of the repository: the sdist, then the wheel built from it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"python -m build failed:\n{output[-4000:]}"
    wheels, sdists = sorted(outdir.glob("*.whl")), sorted(outdir.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in outdir.iterdir())
    return Dists(wheels[0], sdists[0], output)


def noise(output: str) -> list[str]:
    """The lines of a build's or pip's output that are warnings or deprecations."""
    return [line for line in output.splitlines() if _NOISE.search(line)]


def quiet_env() -> dict[str, str]:
    """The environment for pip in a fresh venv: no version-check notice, no
    interpreter-wide settings of the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def new_venv(path: Path) -> Path:
    """A fresh virtualenv with the newest pip (as `make venv` and pipx have; older pips
    hide what build backends print); returns its bin directory."""
    venv.EnvBuilder(with_pip=True, clear=True, upgrade_deps=True).create(path)
    return path / "bin"


def pip(bin_dir: Path, *args: str, timeout: float = 600) -> str:
    """Run the venv's pip; returns what it printed (asserting it succeeded)."""
    result = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=quiet_env(),
        cwd=bin_dir.parent,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"pip {' '.join(args)} failed:\n{output[-4000:]}"
    return output


def imported_modules(importtime_stderr: str) -> set[str]:
    """Every module a process imported, from its PYTHONPROFILEIMPORTTIME=1 stderr."""
    found = set()
    for line in importtime_stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            found.add(match["module"])
    return found


def operator_only(modules: set[str]) -> list[str]:
    """The modules in `modules` that belong to the operator, not to the plugin (which
    shares the pure cron reading: PLUGIN_SHARED_MODULES)."""
    return sorted(
        m
        for m in modules - PLUGIN_SHARED_MODULES
        if any(m == o or m.startswith(o + ".") for o in OPERATOR_ONLY_MODULES)
    )
