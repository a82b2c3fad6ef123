"""The package a release publishes: `python -m build` makes an sdist and a wheel (the
wheel built from the sdist) without warnings, `twine check` passes, the wheel holds
`jobwarden` only, its metadata is PEP 639 (SPDX license), and the base install is the
plugin while the operator is an extra. No cluster needed; PyPI (or pip's cache) is."""

from __future__ import annotations

import email.parser
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import jobwarden
from tests.support.dist import ROOT, Dists, new_venv, noise, pip

PLUGIN_REQUIREMENTS = {"pyyaml", "urllib3", "croniter", "tzdata"}
OPERATOR_REQUIREMENTS = {
    "kopf",
    "aiohttp",
    "pydantic",
    "prometheus-client",
    "cryptography",
    "psycopg",
}


def metadata(dists: Dists) -> email.message.Message:
    with zipfile.ZipFile(dists.wheel) as wheel:
        text = wheel.read(f"jobwarden-{jobwarden.__version__}.dist-info/METADATA").decode()
    return email.parser.Parser().parsestr(text)


def requirement_name(requirement: str) -> str:
    return canonicalize_name(Requirement(requirement).name)


def test_build_prints_no_warning(dists: Dists) -> None:
    assert "Successfully built" in dists.output
    assert noise(dists.output) == [], "\n".join(noise(dists.output))


def test_twine_check_passes(dists: Dists) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dists.sdist), str(dists.wheel)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_the_wheel_holds_jobwarden_only(dists: Dists) -> None:
    assert dists.wheel.name == f"jobwarden-{jobwarden.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(dists.wheel) as wheel:
        names = wheel.namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"jobwarden", f"jobwarden-{jobwarden.__version__}.dist-info"}, top
    # What the plugin and the operator read at run time comes along.
    for needed in (
        "jobwarden/py.typed",
        "jobwarden/dashboard/static/dashboard.js",
        "jobwarden/dashboard/static/dashboard.css",
        "jobwarden/cli/__init__.py",
        "jobwarden/worker/export.py",
        f"jobwarden-{jobwarden.__version__}.dist-info/licenses/LICENSE",
    ):
        assert needed in names, needed
    assert not [n for n in names if "devcluster" in n or n.startswith("tests/")]


def test_the_sdist_builds_the_same_package(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for needed in ("pyproject.toml", "README.md", "LICENSE", "operator/jobwarden/__init__.py"):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("devcluster", "tests/", "bench/"))]


def test_metadata_is_spdx_and_the_plugin_is_the_base_install(dists: Dists) -> None:
    meta = metadata(dists)
    assert meta["Metadata-Version"] == "2.4"
    assert meta["Version"] == jobwarden.__version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["License"] is None  # the deprecated free-text field
    assert not [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    requirements = meta.get_all("Requires-Dist") or []
    base = {requirement_name(r) for r in requirements if "extra ==" not in r}
    assert base == PLUGIN_REQUIREMENTS
    extra = {requirement_name(r) for r in requirements if 'extra == "operator"' in r}
    assert extra == OPERATOR_REQUIREMENTS
    assert {"operator", "dev"} <= set(meta.get_all("Provides-Extra") or [])


def test_the_console_script_is_the_plugin(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as wheel:
        entry_points = wheel.read(
            f"jobwarden-{jobwarden.__version__}.dist-info/entry_points.txt"
        ).decode()
    assert entry_points.split() == [
        "[console_scripts]",
        *("kubectl-jobwarden", "=", "jobwarden.plugin:main"),
    ]


def test_pyproject_declares_no_deprecated_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"  # an SPDX expression, not a table
    assert project["dynamic"] == ["version"]  # from jobwarden.__version__ only
    assert "version" not in project
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    assert build["requires"] == ["setuptools>=77"]


@pytest.mark.timeout(900)
def test_the_development_install_prints_no_warning(tmp_path: Path) -> None:
    """What `make venv` runs (jobwarden and devcluster in editable mode), without the
    dependencies: the build backends' output only."""
    bin_dir = new_venv(tmp_path / "venv")
    output = pip(bin_dir, "install", "--no-deps", "-e", str(ROOT / "devcluster"), "-e", str(ROOT))
    assert noise(output) == [], "\n".join(noise(output))
    probe = subprocess.run(
        [str(bin_dir / "python"), "-c", "import devcluster, jobwarden; print(devcluster.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert Path(probe.stdout.strip()).is_relative_to(ROOT / "devcluster" / "devcluster")
