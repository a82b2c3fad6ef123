"""The run context of a worker: cancellation, units of work, cleanup, exit codes.

    from jobwarden.worker import RunContext, run_job

    def main(ctx: RunContext) -> str:
        conn = ctx.enter(connect())                 # closed whatever happens
        for batch in ctx.units(batches(conn)):      # stops between units once cancelled
            write(batch)
            ctx.progress(done=..., total=..., unit="rows")
        return "exported 1000 rows"                 # the termination message

    run_job(main)                                   # exits 0, 143 or 1

SIGTERM (the kubelet's signal when the pod is deleted, i.e. the run is cancelled or
timed out) only sets the cancellation token: the current unit of work finishes, then
`units()` raises `Cancelled` before the next one starts. Cleanup callbacks run in
reverse order of registration on success, failure and cancel. The outcome becomes the
exit code (0 succeeded, 143 stopped cleanly on cancel, 1 failed) and a one-line
summary in the termination-message file, which Kubernetes copies into the pod's status
and the operator into the run's `status.attempts[].message`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

from jobwarden.worker.client import ApiClient, resolve_path
from jobwarden.worker.progress import ProgressReporter, RunIdentity, progress_document

logger = logging.getLogger("jobwarden.worker")

T = TypeVar("T")

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # Ctrl-C when run by hand
EXIT_CANCELLED = 143  # 128 + SIGTERM: stopped cleanly on cancel
EXIT_KILLED = 137  # 128 + SIGKILL: what the kubelet reports after the grace period

#: Overrides where the termination message is written (tests, local runs).
TERMINATION_LOG_ENV = "JOBWARDEN_TERMINATION_LOG"
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
#: Kubernetes keeps at most 4096 bytes of a container's termination message.
MAX_TERMINATION_MESSAGE_BYTES = 4096


class Outcome(StrEnum):
    """How a job ended."""

    SUCCEEDED = "Succeeded"
    CANCELLED = "Cancelled"
    FAILED = "Failed"


class Cancelled(Exception):  # noqa: N818 (a signal to stop, not an error)
    """Raised inside the job to stop it because a cancel was requested."""


class CancellationToken:
    """Set once when the run is cancelled (SIGTERM); never unset.

    `cancel()` may be called from a signal handler or any thread: it only sets a flag
    and hands the registered interrupt callbacks to a helper thread.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.RLock()
        self._callbacks: dict[int, Callable[[], object]] = {}
        self._next_id = 0
        self.reason = ""
        self.requested_at: float | None = None  # time.monotonic()

    @property
    def cancelled(self) -> bool:
        """Whether a cancel was requested."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until cancelled or `timeout` passed; True if cancelled."""
        return self._event.wait(timeout)

    def raise_if_cancelled(self) -> None:
        """Raise `Cancelled` if a cancel was requested."""
        if self._event.is_set():
            raise Cancelled(self.reason or "cancel requested")

    def cancel(self, reason: str = "cancel requested") -> None:
        """Request the cancel (idempotent)."""
        if self._event.is_set():
            return
        self.reason = reason
        self.requested_at = time.monotonic()
        self._event.set()
        with self._lock:
            callbacks = list(self._callbacks.values())
        if callbacks:
            threading.Thread(
                target=_call_all, args=(callbacks,), name="jobwarden-cancel", daemon=True
            ).start()

    def on_cancel(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Call `callback` (in a helper thread) when cancelled; returns an unregister
        function. If already cancelled, it is called at once, in this thread."""
        if self._event.is_set():
            _call_all([callback])
            return lambda: None
        with self._lock:
            key = self._next_id
            self._next_id += 1
            self._callbacks[key] = callback

        def remove() -> None:
            with self._lock:
                self._callbacks.pop(key, None)

        return remove

    @contextlib.contextmanager
    def interrupting(self, interrupt: Callable[[], object]) -> Iterator[None]:
        """Run a blocking call that a cancel may abort (e.g. a database fetch).

        While the block runs, a cancel calls `interrupt` (which should make the call
        fail, e.g. by cancelling the query); an exception escaping the block after a
        cancel becomes `Cancelled`. Raises `Cancelled` at once if already cancelled.
        """
        self.raise_if_cancelled()
        remove = self.on_cancel(interrupt)
        try:
            yield
        except Cancelled:
            raise
        except Exception as error:
            if self._event.is_set():
                raise Cancelled(self.reason or "cancel requested") from error
            raise
        finally:
            remove()


def _call_all(callbacks: Iterable[Callable[[], object]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:
            logger.exception("a cancel callback failed")


def one_line(text: str, limit: int = MAX_TERMINATION_MESSAGE_BYTES) -> str:
    """`text` on one line, at most `limit` bytes of UTF-8."""
    line = " ".join(text.split())
    encoded = line.encode()
    if len(encoded) <= limit:
        return line
    return encoded[: limit - 3].decode(errors="ignore") + "..."


def describe_error(error: BaseException) -> str:
    """`Type: first line of the message`, for termination messages."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    name = type(error).__name__
    return f"{name}: {first}" if first else name


class RunContext:
    """What a job sees of its run. Create it with `from_environment()`."""

    def __init__(
        self,
        *,
        identity: RunIdentity | None = None,
        client: ApiClient | None = None,
        environ: Mapping[str, str] | None = None,
        progress_interval: float = 1.0,
    ) -> None:
        self.environ: Mapping[str, str] = environ if environ is not None else os.environ
        self.identity = identity
        self.token = CancellationToken()
        self.reporter = ProgressReporter(client, identity, interval=progress_interval)
        self.outcome: Outcome | None = None  # set before the cleanup callbacks run
        self.units_done = 0
        self.last_progress: dict[str, Any] = {}
        self._counters: dict[str, int] = {}
        self._cleanups: list[tuple[str, Callable[[BaseException | None], object]]] = []

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RunContext:
        """The run identity from JOBWARDEN_RUN_* and API credentials (in-cluster or
        $KUBECONFIG); without them progress is only logged."""
        env = environ if environ is not None else os.environ
        identity = RunIdentity.from_env(env)
        client = None
        if identity is not None:
            try:
                client = ApiClient.discover(env)
            except (OSError, ValueError) as error:
                logger.warning("no API credentials (%s): progress will not be reported", error)
            if client is None:
                logger.warning("no API credentials found: progress will not be reported")
        return cls(identity=identity, client=client, environ=env)

    # ---------------------------------------------------------- cancellation
    @property
    def cancelled(self) -> bool:
        """Whether a cancel was requested (SIGTERM)."""
        return self.token.cancelled

    def units(self, work: Iterable[T]) -> Iterator[T]:
        """Iterate units of work; once cancelled, raise `Cancelled` before the next.

        The current unit always finishes: the check happens before the next item is
        even fetched from `work` (so no new batch is read after a cancel).
        """
        iterator = iter(work)
        while True:
            if self.token.cancelled:
                raise Cancelled(
                    f"{self.token.reason or 'cancel requested'}: stopped after "
                    f"{self.units_done} units of work"
                )
            try:
                item = next(iterator)
            except StopIteration:
                return
            yield item
            self.units_done += 1

    # --------------------------------------------------------------- cleanup
    def on_cleanup(self, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Run `callback(*args, **kwargs)` when the job ends, whatever the outcome.

        Callbacks run in reverse order of registration; one that fails is logged and
        the others still run. `self.outcome` tells them how the job ended.
        """
        name = getattr(callback, "__qualname__", repr(callback))
        self._cleanups.append((name, lambda _error: callback(*args, **kwargs)))

    def enter(self, manager: AbstractContextManager[T]) -> T:
        """Enter a context manager now and exit it when the job ends (with the
        job's exception, if any, as `with` would)."""
        value = manager.__enter__()

        def exit_(error: BaseException | None) -> object:
            if error is None:
                return manager.__exit__(None, None, None)
            return manager.__exit__(type(error), error, error.__traceback__)

        self._cleanups.append((type(manager).__name__, exit_))
        return value

    def run_cleanups(self, error: BaseException | None) -> list[str]:
        """Run and forget every cleanup callback (LIFO); return the failures."""
        failures: list[str] = []
        while self._cleanups:
            name, callback = self._cleanups.pop()
            try:
                callback(error)
            except Exception as cleanup_error:
                logger.exception("cleanup %s failed", name)
                failures.append(f"{name}: {describe_error(cleanup_error)}")
        return failures

    # -------------------------------------------------------------- progress
    def progress(
        self,
        done: int | None = None,
        total: int | None = None,
        *,
        unit: str = "done",
        fraction: float | None = None,
        message: str | None = None,
        counters: Mapping[str, int] | None = None,
    ) -> None:
        """Report progress (cheap: call it as often as you like; writes are throttled).

        `done` and `total` become the counters `<unit>` and `total` and, unless
        `fraction` is given, the fraction done. It is also the run's heartbeat.
        """
        if counters:
            self._counters.update(counters)
        if done is not None:
            self._counters[unit] = done
        if total is not None:
            self._counters["total"] = total
        if fraction is None and done is not None and total:
            fraction = done / total
        document = progress_document(fraction=fraction, message=message, counters=self._counters)
        self.last_progress = document
        self.reporter.update(document)

    def heartbeat(self, message: str | None = None) -> None:
        """Report that the worker is alive without new numbers."""
        self.progress(
            fraction=self.last_progress.get("fraction"),
            message=message if message is not None else self.last_progress.get("message"),
        )

    def progress_summary(self) -> str:
        """The last progress as text, e.g. 'rows 5000/20000 (25%)'."""
        counters = dict(self._counters)
        total = counters.pop("total", None)
        parts = []
        for name, value in counters.items():
            parts.append(f"{name} {value}/{total}" if total is not None else f"{name} {value}")
            total = None  # only the first counter is "of the total"
        percent = self.last_progress.get("percent")
        if percent is not None:
            parts.append(f"({percent}%)")
        return " ".join(parts)

    def publish_status(self, fields: Mapping[str, Any]) -> bool:
        """Write other status fields of the run now (the export worker's artifact)."""
        return self.reporter.patch_status(dict(fields))

    # ------------------------------------------------------------------ misc
    def path(self, container_path: str | os.PathLike[str]) -> Path:
        """Where a path of the container (a volume mount) is for this process."""
        return resolve_path(container_path, self.environ)

    def termination_log_path(self) -> Path | None:
        """Where the termination message goes: $JOBWARDEN_TERMINATION_LOG, else
        /dev/termination-log if it exists (the kubelet creates it)."""
        override = self.environ.get(TERMINATION_LOG_ENV)
        if override:
            return Path(override)
        path = self.path(DEFAULT_TERMINATION_LOG)
        return path if path.exists() else None


# --------------------------------------------------------------------- running
def _install_signal_handlers(token: CancellationToken) -> dict[int, Any]:
    previous: dict[int, Any] = {}

    def on_sigterm(signum: int, _frame: FrameType | None) -> None:
        # Only async-signal-tolerant work here: a flag, a raw write, a thread start.
        first = not token.cancelled
        token.cancel("SIGTERM received")
        if first:
            os.write(2, b"jobwarden-worker: SIGTERM: stopping after the current unit of work\n")

    if threading.current_thread() is threading.main_thread():
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, on_sigterm)
    return previous


def _restore_signal_handlers(previous: Mapping[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def write_termination_message(context: RunContext, message: str) -> None:
    """Write the one-line summary where the kubelet reads it (best effort)."""
    path = context.termination_log_path()
    if path is None:
        return
    try:
        path.write_text(message + "\n")
    except OSError as error:
        logger.warning("could not write the termination message to %s: %s", path, error)


def run(
    main: Callable[[RunContext], object],
    context: RunContext | None = None,
) -> int:
    """Run `main` under the worker contract and return the exit code (no exit).

    0 when `main` returns (its return value, if a string, is the termination message),
    143 when it stopped on `Cancelled` after SIGTERM, 1 when it raised anything else.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    ctx = context or RunContext.from_environment()
    previous = _install_signal_handlers(ctx.token)
    ctx.reporter.start()
    ctx.progress(message="started")
    error: BaseException | None = None
    code = EXIT_SUCCEEDED
    result: object = None
    try:
        result = main(ctx)
    except Cancelled as cancelled:
        error = cancelled
        ctx.outcome = Outcome.CANCELLED
        code = EXIT_CANCELLED
    except KeyboardInterrupt as interrupted:
        error = interrupted
        ctx.outcome = Outcome.CANCELLED
        code = EXIT_INTERRUPTED
    except SystemExit as exiting:
        error = exiting if exiting.code not in (None, 0) else None
        code = exiting.code if isinstance(exiting.code, int) else (0 if not exiting.code else 1)
        if isinstance(exiting.code, str):
            result = exiting.code
        ctx.outcome = Outcome.SUCCEEDED if code == 0 else Outcome.FAILED
    except BaseException as failure:
        error = failure
        ctx.outcome = Outcome.FAILED
        code = EXIT_FAILED
        logger.error("the job failed", exc_info=failure)
    else:
        ctx.outcome = Outcome.SUCCEEDED
    cleanup_failures = ctx.run_cleanups(error)

    if ctx.outcome == Outcome.SUCCEEDED:
        message = result if isinstance(result, str) and result else "succeeded"
        ctx.progress(
            fraction=1.0 if ctx.last_progress.get("fraction") is not None else None,
            message=one_line(message, 1024),
        )
    elif ctx.outcome == Outcome.CANCELLED:
        stopped = str(error) if error is not None and str(error) else "cancel requested"
        summary = ctx.progress_summary()
        message = f"cancelled: {stopped}" + (f"; progress: {summary}" if summary else "")
        ctx.progress(fraction=ctx.last_progress.get("fraction"), message=message[:1024])
    else:
        assert error is not None or isinstance(result, str)
        detail = str(result) if error is None else describe_error(error)
        if isinstance(error, SystemExit):
            detail = f"exit code {code}"
        message = f"failed: {detail}"
        ctx.progress(fraction=ctx.last_progress.get("fraction"), message=one_line(message, 1024))
    if cleanup_failures:
        message += "; cleanup failed: " + ", ".join(cleanup_failures)
    message = one_line(message)
    ctx.reporter.close()
    write_termination_message(ctx, message)
    print(f"jobwarden-worker: exit {code}: {message}", file=sys.stderr, flush=True)
    _restore_signal_handlers(previous)
    return code


def run_job(main: Callable[[RunContext], object], context: RunContext | None = None) -> NoReturn:
    """Run `main` under the worker contract and exit with its exit code."""
    code = run(main, context)
    sys.stdout.flush()
    sys.exit(code)


__all__ = [
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_KILLED",
    "EXIT_SUCCEEDED",
    "CancellationToken",
    "Cancelled",
    "Outcome",
    "RunContext",
    "run",
    "run_job",
]
