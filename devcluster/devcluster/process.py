"""Starting, watching and stopping the control plane's processes.

Every component runs in its own process group with its output in a log file, so a
failure can always name the component, its command line and the log to read.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devcluster.binaries import ClusterError
from devcluster.progress import Progress

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kill_with_parent() -> None:
    """Ask Linux to SIGKILL the child when its parent dies (a killed pytest)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def log_tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Component:
    """One process of the local cluster."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self, *, die_with_parent: bool, pass_fds: tuple[int, ...] = ()) -> None:
        """Start the process detached in its own session, output to the log file
        (`pass_fds`: descriptors it inherits, such as a lock it must hold)."""
        env = {**os.environ, **self.env}
        with self.log_path.open("ab") as log:
            try:
                self.process = subprocess.Popen(
                    list(self.argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    pass_fds=pass_fds,
                    # Only prctl runs between fork and exec: safe despite threads.
                    preexec_fn=kill_with_parent if die_with_parent else None,  # noqa: PLW1509
                )
            except OSError as error:
                raise self.failure(f"could not be started: {error}") from error

    @property
    def pid(self) -> int:
        """The process id; the component must have been started."""
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def failure(self, what: str) -> ClusterError:
        """An error naming this component, its command and its log."""
        return ClusterError(
            f"{self.name} {what}\n  command: {shlex.join(self.argv)}\n  log: {self.log_path}\n"
            f"  last lines of the log:\n{log_tail(self.log_path)}"
        )

    def check_alive(self) -> None:
        """Raise if the process has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise self.failure(f"exited with code {self.process.returncode}")


def wait_for(
    what: str,
    ready: Callable[[], bool],
    watched: Sequence[Component],
    timeout: float,
    *,
    blame: Component | None = None,
    progress: Progress | None = None,
) -> None:
    """Poll `ready` until true; fail early if a watched process dies.

    On timeout the error blames `blame` (the component expected to make `ready`
    true) so the message points at the right log. With `progress`, the wait is
    announced (and ticks while it lasts).
    """
    if progress is not None:
        with progress.step(f"waiting for {what} (at most {timeout:.0f} s)"):
            wait_for(what, ready, watched, timeout, blame=blame)
        return
    deadline = time.monotonic() + timeout
    while True:
        for component in watched:
            component.check_alive()
        with contextlib.suppress(Exception):
            if ready():
                return
        if time.monotonic() > deadline:
            if blame is not None:
                raise blame.failure(f"did not become ready within {timeout:.0f} s ({what})")
            raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def stop_pids(pids: dict[str, tuple[int, str]], timeout: float = 10.0) -> None:
    """Stop recorded processes (name → (pid, program)) and their process groups.

    A pid is only signalled while its command line still names the program we
    started, so a recycled pid is never killed.
    """
    alive = {
        name: pid for name, (pid, program) in pids.items() if program and program in _cmdline(pid)
    }
    for pid in alive.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive and time.monotonic() < deadline:
        alive = {name: pid for name, pid in alive.items() if _is_running(pid)}
        time.sleep(0.1)
    for pid in alive.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _is_running(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap our own child so it does not linger as a zombie
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
