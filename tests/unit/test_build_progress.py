"""Progress on long waits: devcluster/progress.sh for build.sh (the elapsed-time
format, the ticker that speaks while a slow command runs) and devcluster.progress for
`make up` (the same format, steps that tick, waits that say what they wait for)."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path
from typing import IO

import pytest

from devcluster.process import wait_for
from devcluster.progress import Progress, format_elapsed
from tests.support.wait import wait_until

PROGRESS = Path(__file__).resolve().parents[2] / "devcluster" / "progress.sh"


def bash(script: str, *, tick: int = 10, stdout: IO[str] | None = None) -> str:
    """Run `script` in bash with progress.sh sourced; returns what it printed."""
    result = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; source "{PROGRESS}"; {script}'],
        stdout=stdout or subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "JOBWARDEN_TICK_SECONDS": str(tick)},
    )
    return result.stdout or ""


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (9, "9s"),
        (59, "59s"),
        (60, "1m00s"),
        (130, "2m10s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (3720, "1h02m"),
    ],
)
def test_elapsed_times_read_like_a_clock(seconds: int, text: str) -> None:
    assert bash(f"format_elapsed {seconds}") == text


def test_the_ticker_speaks_while_the_command_runs(tmp_path: Path) -> None:
    """The command ends only once a tick line is out (or after 60 s, failing the
    test): the line must come while it runs, not after."""
    out = tmp_path / "out"
    child = (
        f'for _ in $(seq 600); do grep -q "compiling …" "{out}" && break; sleep 0.1; done; '
        "echo COMMAND-END"
    )
    with out.open("w") as handle:
        bash(f"with_ticker compiling bash -c '{child}'; echo AFTER", tick=1, stdout=handle)
    lines = out.read_text().splitlines()
    ticks = [i for i, line in enumerate(lines) if re.fullmatch(r"compiling … \d+s", line)]
    assert ticks, lines
    assert ticks[0] < lines.index("COMMAND-END") < lines.index("AFTER")


def test_the_ticker_returns_the_commands_status() -> None:
    assert bash("status=0; with_ticker x bash -c 'exit 3' || status=$?; echo $status") == "3\n"
    assert bash("with_ticker x true; echo ok") == "ok\n"


def test_a_quick_command_gets_no_tick() -> None:
    assert bash("with_ticker compiling echo done") == "done\n"


# ------------------------------------------------------------- `make up` (Python)
@pytest.mark.parametrize("seconds", [0, 1, 59, 60, 61, 599, 3599, 3600, 3661, 86399])
def test_python_and_shell_format_elapsed_times_alike(seconds: int) -> None:
    assert format_elapsed(seconds) == bash(f"format_elapsed {seconds}")


def test_a_step_ticks_while_its_body_runs() -> None:
    out = io.StringIO()
    progress = Progress(out, every=0.05)
    with progress.step("starting the operator"):
        wait_until(
            lambda: "starting the operator … 0s" in out.getvalue(),
            timeout=30,
            message="a tick while the step runs",
        )
        out.write("BODY-END\n")
    lines = out.getvalue().splitlines()
    assert lines[0] == "devcluster: starting the operator …"
    assert lines[1] == "devcluster: starting the operator … 0s"
    assert lines.index("BODY-END") > 1


def test_wait_for_says_what_it_waits_for(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    answers = iter([False, False, True])
    wait_for("etcd /health", lambda: next(answers), [], 30, progress=Progress(out))
    assert out.getvalue() == "devcluster: waiting for etcd /health (at most 30 s) …\n"
    wait_for("etcd /health", lambda: True, [], 30)  # the tests' clusters start silently
    assert capsys.readouterr() == ("", "")
