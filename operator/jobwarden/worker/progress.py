"""Progress reports of a worker into its own run's `status.progress`, throttled.

A job may call `RunContext.progress` thousands of times a second; a background
thread writes the latest value at most once per `interval` (1 s): the first report at
once, later ones at most `interval` after the previous write, so what the run shows
is never more than about two seconds old. Writes are JSON merge patches of
`{"status": {"progress": ...}}` through the `/status` subresource of the worker's own
run, so they can touch nothing else. A failed write is logged and retried with the
next one; reporting never fails the job.

Writes go to the worker's own run only: with the run's uid (JOBWARDEN_RUN_UID) they
are JSON patches whose first operation tests `/metadata/uid`, so a run deleted and
created again under the same name is never written to by the old run's worker.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobwarden.api import constants as c
from jobwarden.api.paths import object_path
from jobwarden.worker.client import JSON_PATCH, ApiClient, ApiError

logger = logging.getLogger("jobwarden.worker")

JSON = dict[str, Any]
MAX_COUNTERS = 32
MAX_MESSAGE = 1024


@dataclass(frozen=True)
class RunIdentity:
    """Which run this worker belongs to (from the env the operator sets on the pod)."""

    name: str
    namespace: str
    kind: str
    uid: str = ""
    attempt: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RunIdentity | None:
        """None when the process was not started by jobwarden (e.g. run by hand)."""
        name = environ.get("JOBWARDEN_RUN_NAME", "")
        namespace = environ.get("JOBWARDEN_RUN_NAMESPACE", "")
        kind = environ.get("JOBWARDEN_RUN_KIND", "")
        if not (name and namespace and kind in c.RUN_KINDS):
            return None
        try:
            attempt = int(environ.get("JOBWARDEN_ATTEMPT") or 0)
        except ValueError:
            attempt = 0
        return cls(name, namespace, kind, environ.get("JOBWARDEN_RUN_UID", ""), attempt)

    @property
    def status_path(self) -> str:
        """The run's `/status` subresource."""
        return object_path(self.kind, self.namespace, self.name, "status")


def now_stamp() -> str:
    """RFC 3339 with microseconds, UTC (as the operator writes its times)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def progress_document(
    *,
    fraction: float | None,
    message: str | None,
    counters: Mapping[str, int],
) -> JSON:
    """A `status.progress` value within the CRD's bounds (without its updateTime)."""
    document: JSON = {}
    if fraction is not None:
        clamped = min(1.0, max(0.0, float(fraction)))
        document["fraction"] = round(clamped, 6)
        document["percent"] = int(clamped * 100)
    if message is not None:
        document["message"] = message[:MAX_MESSAGE]
    kept = {str(k)[:63]: max(0, int(v)) for k, v in list(counters.items())[:MAX_COUNTERS]}
    document["counters"] = kept
    return document


class ProgressReporter:
    """The background writer of one worker's progress."""

    def __init__(
        self,
        client: ApiClient | None,
        identity: RunIdentity | None,
        *,
        interval: float = 1.0,
        request_timeout: float = 5.0,
    ) -> None:
        self.client = client
        self.identity = identity
        self.interval = interval
        self.request_timeout = request_timeout
        self.writes = 0
        self.failures = 0
        self._cond = threading.Condition()
        self._pending: JSON | None = None
        self._closing = False
        self._last_write = float("-inf")
        self._last_error = ""
        self._replaced = False
        self._io = threading.Lock()  # one request at a time (reporter and direct writes)
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        """Whether reports go anywhere (a run identity and API credentials exist)."""
        return self.client is not None and self.identity is not None

    def start(self) -> None:
        """Start the writer thread (no-op when disabled)."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="jobwarden-progress", daemon=True
            )
            self._thread.start()

    def update(self, progress: JSON) -> None:
        """Remember the latest progress; the thread writes it when the throttle allows."""
        if not self.enabled:
            return
        with self._cond:
            self._pending = progress
            self._cond.notify()

    def close(self, timeout: float = 3.0) -> None:
        """Write what is pending (at once, ignoring the throttle) and stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def patch_status(self, fields: JSON) -> bool:
        """Write other status fields of the run at once (e.g. an Export's artifact)."""
        if not self.enabled:
            return False
        return self._write(fields)

    # ---------------------------------------------------------------- thread
    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closing:
                    self._cond.wait()
                if self._pending is None:
                    return
                delay = self._last_write + self.interval - time.monotonic()
                if delay > 0 and not self._closing:
                    self._cond.wait(delay)
                    continue
                progress, self._pending = self._pending, None
                closing = self._closing
            ok = self._write({"progress": {**progress, "updateTime": now_stamp()}})
            self._last_write = time.monotonic()
            if not ok:
                with self._cond:
                    if self._pending is None and not closing:
                        self._pending = progress  # retried with the next write
            if closing and not ok:
                return

    def _write(self, fields: JSON) -> bool:
        assert self.client is not None and self.identity is not None
        with self._io:
            if self._replaced:
                return False
            try:
                self._send(fields)
            except ApiError as error:
                self.failures += 1
                text = str(error)
                if text != self._last_error:  # log each distinct problem once
                    logger.warning("could not report to the run's status: %s", text)
                    self._last_error = text
                return False
            self.writes += 1
            self._last_error = ""
            return True

    def _send(self, fields: JSON) -> None:
        assert self.client is not None and self.identity is not None
        path = self.identity.status_path
        uid = self.identity.uid
        if not uid:
            self.client.merge_patch(path, {"status": fields})
            return
        operations: list[JSON] = [{"op": "test", "path": "/metadata/uid", "value": uid}]
        operations += [
            {"op": "add", "path": f"/status/{key}", "value": value} for key, value in fields.items()
        ]
        try:
            self.client.request("PATCH", path, operations, content_type=JSON_PATCH)
        except ApiError as error:
            if error.status != 422:
                raise
            # Either another run by that name, or a run whose status is not written yet.
            run = self.client.get(path)
            if str((run.get("metadata") or {}).get("uid", "")) != uid:
                self._replaced = True
                logger.warning("the run was replaced by another of the same name: not reporting")
                raise
            if run.get("status"):
                raise
            self.client.merge_patch(path, {"status": fields})
