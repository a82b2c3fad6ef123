"""One version: `jobwarden.__version__` is the package's (pyproject reads it), and the
plugin's `--version`, the operator's `jobwarden_build_info`, the chart's appVersion
and the changelog all say the same."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import yaml

import jobwarden
from jobwarden import metrics

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_distribution_has_the_packages_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", jobwarden.__version__)
    assert metadata.version("jobwarden") == jobwarden.__version__


def test_kubectl_jobwarden_version_prints_it() -> None:
    script = Path(sys.executable).parent / "kubectl-jobwarden"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout == f"kubectl-jobwarden {metadata.version('jobwarden')}\n"


def test_build_info_carries_it() -> None:
    (sample,) = [
        s
        for family in metrics.REGISTRY.collect()
        if family.name == "jobwarden_build_info"
        for s in family.samples
    ]
    assert sample.labels["version"] == metadata.version("jobwarden")


def test_the_chart_and_the_changelog_name_it() -> None:
    chart = yaml.safe_load((ROOT / "charts/jobwarden/Chart.yaml").read_text())
    assert chart["appVersion"] == jobwarden.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert jobwarden.__version__ in headings
    assert f"\n[{jobwarden.__version__}]: " in changelog  # its link reference
