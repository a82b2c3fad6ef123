"""The krew manifest (plugins/jobwarden.yaml), rendered for a release by
plugins/krew.py from the wheel, passes krew's own validation (validate-krew-manifest,
built from sigs.k8s.io/krew by devcluster/build.sh), and krew installs the plugin from
the release archive: `kubectl jobwarden` then runs against the cluster on a Python that
has nothing installed but the standard library."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import jobwarden
from devcluster.binaries import DEVCLUSTER_DIR, cache_dir, pinned_versions
from tests.support.cluster import TestCluster
from tests.support.dist import ROOT, Dists

KREW_TOOL = ROOT / "plugins" / "krew.py"
#: What krew's validate-krew-manifest accepts as the plugin's license (its own list).
LICENSE_FILES = {"license", "license.txt", "license.md", "licenses", "copying"}


@dataclass(frozen=True)
class Release:
    """What plugins/krew.py made: the archive (release asset) and the manifest."""

    archive: Path
    manifest: Path


def krew_binary(name: str) -> Path:
    path = cache_dir() / "bin" / f"krew-{pinned_versions()['KREW_VERSION']}" / name
    assert os.access(path, os.X_OK), (
        f"{path} is missing: build it with `bash {DEVCLUSTER_DIR / 'build.sh'}`"
    )
    return path


def validate(manifest: Path) -> subprocess.CompletedProcess[str]:
    """krew's validation: structure, platforms, overlaps (the install step, which
    downloads the archive, is what test_krew_installs_… does offline)."""
    return subprocess.run(
        [str(krew_binary("validate-krew-manifest")), "-manifest", str(manifest), "-skip-install"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture(scope="module")
def release(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Release:
    out = tmp_path_factory.mktemp("release")
    result = subprocess.run(
        [sys.executable, str(KREW_TOOL), "--wheel", str(dists.wheel), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tag = f"v{jobwarden.__version__}"
    return Release(out / f"kubectl-jobwarden-{tag}.tar.gz", out / "jobwarden.yaml")


def test_the_rendered_manifest_passes_krews_validation(release: Release) -> None:
    result = validate(release.manifest)
    assert result.returncode == 0, result.stderr
    assert "structural validation OK" in result.stderr
    assert "no overlapping spec.platform[].selector" in result.stderr
    plugin = yaml.safe_load(release.manifest.read_text())
    assert plugin["spec"]["version"] == f"v{jobwarden.__version__}"
    (platform,) = plugin["spec"]["platforms"]
    assert platform["uri"].endswith(f"/v{jobwarden.__version__}/{release.archive.name}")
    assert platform["bin"] == "kubectl-jobwarden"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("shortDescription: Run", "shortDescription: |\n    Run\n    two lines"), "line breaks"),
        (("version: v", "version: "), "failed to parse plugin version"),
        (("values: [linux, darwin]", "values: [plan9]"), "doesn't match any supported platforms"),
    ],
)
def test_krews_validation_refuses_a_broken_manifest(
    release: Release, tmp_path: Path, change: tuple[str, str], complaint: str
) -> None:
    """The validator is krew's real one: it fails what krew's index would refuse."""
    text = release.manifest.read_text()
    assert change[0] in text
    broken = tmp_path / "jobwarden.yaml"
    broken.write_text(text.replace(change[0], change[1], 1))
    result = validate(broken)
    assert result.returncode != 0
    assert complaint in result.stderr, result.stderr


@pytest.mark.cluster
def test_krew_installs_the_plugin_from_the_release_archive(
    release: Release, cluster: TestCluster, crds_installed: None, namespace: str, tmp_path: Path
) -> None:
    krew_root = tmp_path / "krew"
    # A Python with the standard library only: the archive must carry the rest.
    bare = tmp_path / "python"
    venv.EnvBuilder(with_pip=False).create(bare)
    path = os.pathsep.join(
        [str(krew_root / "bin"), str(bare / "bin"), str(Path(cluster.kubectl_path).parent)]
        + [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    )
    env = {
        "HOME": str(tmp_path),
        "PATH": path,
        "KREW_ROOT": str(krew_root),
        "KREW_NO_UPGRADE_CHECK": "1",
        "KUBECONFIG": str(cluster.kubeconfig()),
    }
    installed = subprocess.run(
        [
            str(krew_binary("krew")),
            "install",
            f"--manifest={release.manifest}",
            f"--archive={release.archive}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert installed.returncode == 0, installed.stderr
    assert "Installed plugin: jobwarden" in installed.stderr
    store = krew_root / "store" / "jobwarden" / f"v{jobwarden.__version__}"
    assert {p.name.lower() for p in store.iterdir()} & LICENSE_FILES  # krew-index requires it
    assert (krew_root / "bin" / "kubectl-jobwarden").resolve() == store / "kubectl-jobwarden"

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
        )

    version = kubectl("jobwarden", "--version")
    assert version.stdout == f"kubectl-jobwarden {jobwarden.__version__}\n", version.stderr
    listed = kubectl("jobwarden", "active", "-n", namespace)  # lists JobRuns and Exports
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == f'No active runs in namespace "{namespace}".\n', listed.stderr
