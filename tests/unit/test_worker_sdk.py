"""The worker SDK with real processes and real signals: units of work, SIGTERM,
cleanup callbacks, exit codes, the termination message, throttled progress."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from jobwarden.worker import CancellationToken, Cancelled, RunContext, run
from jobwarden.worker.client import map_path, resolve_path
from jobwarden.worker.context import one_line
from tests.support.wait import wait_until

JOB = textwrap.dedent(
    """
    import os, pathlib, sys, time
    from jobwarden.worker import run_job

    events = pathlib.Path(os.environ["EVENTS"])
    mode = os.environ.get("MODE", "")
    units = int(os.environ.get("UNITS", "50"))
    unit_seconds = float(os.environ.get("UNIT_SECONDS", "0.3"))

    def note(text):
        with events.open("a") as handle:
            handle.write(text + "\\n")

    def failing_cleanup():
        note("cleanup boom")
        raise OSError("disk gone")

    def main(ctx):
        ctx.on_cleanup(note, "cleanup 1")
        if mode == "cleanup-fails":
            ctx.on_cleanup(failing_cleanup)
        ctx.on_cleanup(note, "cleanup 2")
        ctx.on_cleanup(lambda: note(f"cleanup 3 sees {ctx.outcome.value}"))
        note("ready")
        if mode == "ignore-token":  # never looks at the token: finishes its work
            for i in range(units):
                note(f"start {i}")
                time.sleep(unit_seconds)
                note(f"end {i}")
            return "finished anyway"
        for i in ctx.units(range(units)):
            note(f"start {i}")
            if mode == "fail" and i == 2:
                raise RuntimeError("boom\\nsecond line of the message")
            time.sleep(unit_seconds)
            note(f"end {i}")
            ctx.progress(done=i + 1, total=units, unit="items", message=f"item {i + 1}")
        return f"all {units} done"

    run_job(main)
    """
)


class Job:
    """A job process started from JOB, and what it wrote."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.events = tmp_path / "events.log"
        self.termination = tmp_path / "termination-log"
        script = tmp_path / "job.py"
        script.write_text(JOB)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, str(script)],
            env={
                **os.environ,
                "EVENTS": str(self.events),
                "JOBWARDEN_TERMINATION_LOG": str(self.termination),
                **env,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def lines(self) -> list[str]:
        return self.events.read_text().splitlines() if self.events.exists() else []

    def wait_for(self, line: str) -> None:
        wait_until(lambda: line in self.lines(), timeout=20, message=f"{line!r} in {self.events}")

    def finish(self, timeout: float = 30) -> int:
        try:
            self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        return int(self.process.returncode)

    def output(self) -> str:
        return self.process.stdout.read() if self.process.stdout else ""

    def message(self) -> str:
        return self.termination.read_text()


def test_sigterm_between_units_stops_after_the_current_unit(tmp_path: Path) -> None:
    job = Job(tmp_path)
    job.wait_for("start 2")  # unit 2 runs for 0.3 s: the signal lands inside it
    job.process.send_signal(signal.SIGTERM)
    code = job.finish()
    lines = job.lines()
    assert code == 143, job.output()
    # Unit 2 was finished; unit 3 never started; cleanups in reverse order after it.
    assert lines[lines.index("start 2") :] == [
        "start 2",
        "end 2",
        "cleanup 3 sees Cancelled",
        "cleanup 2",
        "cleanup 1",
    ]
    message = job.message()
    assert message.count("\n") == 1 and message.endswith("\n")
    assert message.startswith("cancelled: SIGTERM received: stopped after 3 units of work")
    assert "items 3/50 (6%)" in message
    assert "SIGTERM: stopping after the current unit of work" in job.output()


def test_success_exits_0_with_the_returned_message_and_runs_cleanups(tmp_path: Path) -> None:
    job = Job(tmp_path, UNITS="3", UNIT_SECONDS="0.01")
    assert job.finish() == 0
    assert job.message() == "all 3 done\n"
    assert job.lines()[-3:] == ["cleanup 3 sees Succeeded", "cleanup 2", "cleanup 1"]
    assert "end 2" in job.lines()


def test_failure_exits_1_with_a_one_line_message_and_runs_cleanups(tmp_path: Path) -> None:
    job = Job(tmp_path, MODE="fail", UNIT_SECONDS="0.01")
    assert job.finish() == 1
    assert job.message() == "failed: RuntimeError: boom\n"
    assert job.lines()[-4:] == ["start 2", "cleanup 3 sees Failed", "cleanup 2", "cleanup 1"]
    assert "Traceback" in job.output()  # the log keeps the whole story


def test_a_failing_cleanup_does_not_stop_the_others(tmp_path: Path) -> None:
    job = Job(tmp_path, MODE="cleanup-fails", UNITS="2", UNIT_SECONDS="0.01")
    assert job.finish() == 0  # the work was done; the message tells about the cleanup
    assert job.lines()[-4:] == [
        "cleanup 3 sees Succeeded",
        "cleanup 2",
        "cleanup boom",
        "cleanup 1",
    ]
    assert job.message().startswith("all 2 done; cleanup failed: failing_cleanup: OSError")


def test_a_job_that_finishes_despite_sigterm_exits_0(tmp_path: Path) -> None:
    job = Job(tmp_path, MODE="ignore-token", UNITS="4", UNIT_SECONDS="0.2")
    job.wait_for("start 1")
    job.process.send_signal(signal.SIGTERM)
    assert job.finish() == 0  # the operator records Succeeded: finished before the cancel
    assert "end 3" in job.lines()
    assert job.message() == "finished anyway\n"


def test_sigterm_is_honoured_within_a_second_with_short_units(tmp_path: Path) -> None:
    job = Job(tmp_path, UNITS="100000", UNIT_SECONDS="0.01")
    job.wait_for("start 20")
    signalled = time.monotonic()
    job.process.send_signal(signal.SIGTERM)
    assert job.finish() == 143
    assert time.monotonic() - signalled < 1.0


def test_sigterm_before_the_first_unit(tmp_path: Path) -> None:
    job = Job(tmp_path, UNITS="5", UNIT_SECONDS="0.01", MODE="")
    job.process.send_signal(signal.SIGTERM)  # most likely while Python is still starting
    code = job.finish()
    # Before the handler is installed, SIGTERM kills the process (-15): like any
    # process, and the kubelet reports 143 for both.
    assert code in (143, -signal.SIGTERM), job.output()


# ------------------------------------------------------------ in-process API
def test_interrupting_turns_an_aborted_blocking_call_into_cancelled() -> None:
    token = CancellationToken()
    blocked = threading.Event()
    released = threading.Event()

    def blocking_call() -> None:
        blocked.set()
        if released.wait(10):
            raise ConnectionError("query cancelled")

    threading.Timer(0.1, token.cancel, args=("test",)).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="test"), token.interrupting(released.set):
        blocking_call()
    assert blocked.is_set() and time.monotonic() - started < 2
    with pytest.raises(Cancelled), token.interrupting(released.set):  # refuses to start
        pass


def test_on_cancel_callbacks_can_be_unregistered() -> None:
    token = CancellationToken()
    calls: list[str] = []
    remove = token.on_cancel(lambda: calls.append("a"))
    token.on_cancel(lambda: calls.append("b"))
    remove()
    token.cancel()
    wait_until(lambda: calls == ["b"], timeout=5, message="callback b only")
    token.on_cancel(lambda: calls.append("late"))  # after the cancel: called at once
    assert calls == ["b", "late"]


def test_enter_passes_the_exception_to_the_context_manager(tmp_path: Path) -> None:
    seen: list[Any] = []

    class Resource:
        def __enter__(self) -> str:
            return "resource"

        def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
            seen.append(kind)

    def main(ctx: RunContext) -> None:
        assert ctx.enter(Resource()) == "resource"
        raise ValueError("bad row")

    termination = tmp_path / "t"
    ctx = RunContext(environ={"JOBWARDEN_TERMINATION_LOG": str(termination)})
    assert run(main, ctx) == 1
    assert seen == [ValueError]
    assert termination.read_text() == "failed: ValueError: bad row\n"


def test_one_line_messages_fit_the_kubelet_limit() -> None:
    assert one_line("a\nb\t c") == "a b c"
    long = one_line("é" * 5000)
    assert len(long.encode()) <= 4096 and long.endswith("...")


def test_paths_through_the_node_path_map() -> None:
    mapping = {"/jobwarden/volumes/data": "/tmp/n/data", "/jobwarden/volumes": "/tmp/n/all"}
    assert map_path("/jobwarden/volumes/data/x.csv", mapping) == "/tmp/n/data/x.csv"
    assert map_path("/jobwarden/volumes/other/y", mapping) == "/tmp/n/all/other/y"
    assert map_path("/jobwarden/volumes/database", mapping) == "/tmp/n/all/database"
    assert map_path("/etc/hosts", mapping) == "/etc/hosts"
    env = {"JOBWARDEN_PATH_MAP": json.dumps(mapping)}
    assert resolve_path("/jobwarden/volumes/data", env) == Path("/tmp/n/data")
    assert resolve_path("/jobwarden/volumes/data", {}) == Path("/jobwarden/volumes/data")


# ----------------------------------------------------------------- progress
class FakeApiServer:
    """Records the requests of a worker's progress reporter; answers like the API."""

    def __init__(self, *, uid: str = "run-uid", patch_status: int = 200) -> None:
        self.requests: list[tuple[float, str, str, Any]] = []
        self.uid = uid
        self.patch_status = patch_status
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PATCH(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                server.requests.append((time.monotonic(), "PATCH", self.path, body))
                self._answer(server.patch_status, {"kind": "Status", "reason": "Invalid"})

            def do_GET(self) -> None:
                server.requests.append((time.monotonic(), "GET", self.path, None))
                self._answer(200, {"metadata": {"uid": server.uid}, "status": {"phase": "x"}})

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": self.url}}],
            "users": [{"name": "u", "user": {"token": "secret-token"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
        path.write_text(json.dumps(config))
        return path


PROGRESS_JOB = textwrap.dedent(
    """
    import time
    from jobwarden.worker import run_job

    def main(ctx):
        started, i = time.monotonic(), 0
        while time.monotonic() - started < 3.2:  # a hot loop: ~100 000 reports
            i += 1
            ctx.progress(done=i, message=f"row {i}", unit="rows")
        return f"{i} rows"

    run_job(main)
    """
)


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


def run_progress_job(tmp_path: Path, api: FakeApiServer) -> tuple[float, int]:
    script = tmp_path / "progress.py"
    script.write_text(PROGRESS_JOB)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")},
        "KUBECONFIG": str(api.kubeconfig(tmp_path / "kubeconfig")),
        "JOBWARDEN_RUN_NAME": "nightly",
        "JOBWARDEN_RUN_NAMESPACE": "team-a",
        "JOBWARDEN_RUN_KIND": "Export",
        "JOBWARDEN_RUN_UID": "run-uid",
        "JOBWARDEN_TERMINATION_LOG": str(tmp_path / "t"),
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return started, result.returncode


def test_progress_is_throttled_to_about_one_write_per_second(
    tmp_path: Path, api: FakeApiServer
) -> None:
    started, code = run_progress_job(tmp_path, api)
    assert code == 0
    patches = [r for r in api.requests if r[1] == "PATCH"]
    assert patches[0][0] - started < 2.0, "the first report is not visible within 2 s"
    # 3.2 s of reports: the first at once, then at most one a second, plus the last.
    assert 3 <= len(patches) <= 6, [round(p[0] - started, 2) for p in patches]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(patches[:-1])]
    assert all(gap >= 0.9 for gap in gaps), gaps
    for _, _, path, body in patches:
        assert path == "/apis/jobwarden.dev/v1alpha1/namespaces/team-a/exports/nightly/status"
        assert body[0] == {"op": "test", "path": "/metadata/uid", "value": "run-uid"}
        assert [op["path"] for op in body[1:]] == ["/status/progress"]
        assert body[1]["value"]["updateTime"].endswith("Z")
    last = patches[-1][3][1]["value"]
    assert last["message"].endswith(" rows") and last["counters"]["rows"] > 1000


def test_progress_stops_when_the_run_was_replaced(tmp_path: Path) -> None:
    with FakeApiServer(uid="someone-else", patch_status=422) as api:
        _, code = run_progress_job(tmp_path, api)
    assert code == 0, "reporting never fails the job"
    assert [r[1] for r in api.requests] == ["PATCH", "GET"]
