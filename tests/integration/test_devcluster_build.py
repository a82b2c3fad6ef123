"""devcluster/build.sh tells a first-time user what it builds and how far it is. Run
for real on a scratch cache in which every component but one small Go wrapper (Flux's
kstatus) is already present (linked from the machine's cache), so it builds that one
only: the plan, the step count, the expectation and the elapsed time are printed; a
second run finds everything cached. Needs Go and the machine's binary cache."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from devcluster.binaries import DEVCLUSTER_DIR, Binaries, cache_dir

BUILD = DEVCLUSTER_DIR / "build.sh"


def build(cache: Path) -> str:
    result = subprocess.run(
        ["bash", str(BUILD)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, "JOBWARDEN_CACHE": str(cache)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.timeout(900)
def test_a_build_says_what_it_builds_and_how_far_it_is(tmp_path: Path) -> None:
    kstatus = Binaries.locate().kstatus.parent.name  # also: the real cache is complete
    (tmp_path / "bin").mkdir()
    for entry in (cache_dir() / "bin").iterdir():
        if entry.name != kstatus and not entry.name.endswith(".tmp"):
            (tmp_path / "bin" / entry.name).symlink_to(entry)

    lines = build(tmp_path).splitlines()
    assert lines[0].startswith("devcluster build: 1 component(s) to build from source with go")
    assert lines[0].endswith(": kstatus")
    assert re.fullmatch(
        r"devcluster build: building kstatus \(1/1\): Flux's kstatus v[\d.]+ \(the GitOps "
        r"tests\); usually under a minute",
        lines[1],
    )
    assert "kubernetes" not in "\n".join(lines)  # cached: not mentioned, not counted
    assert [
        line
        for line in lines
        if re.fullmatch(r"devcluster build: kstatus done in \d+s \(1/1\)", line)
    ]
    assert re.fullmatch(
        r"devcluster build: 1 component\(s\) built in \d+s; binaries ready under .*", lines[-1]
    )
    assert os.access(tmp_path / "bin" / kstatus / "kstatus", os.X_OK)

    again = build(tmp_path).splitlines()
    assert again == [f"devcluster build: binaries ready under {tmp_path / 'bin'} (all cached)"]
