"""Kubernetes Events on runs, emitted on transitions only (never kopf's chatter).

Events are posted in the background by a few senders, in the order they were
emitted, like client-go's broadcaster (one goroutine, a bounded queue): a burst of
transitions (200 cancels at once) must not put hundreds of Event creates at the API
server ahead of the status writes and pod deletes that make the transitions happen.
Each Event carries the time of its transition, not the time it was sent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import logging
import os
import uuid
from collections.abc import Callable
from typing import Final

from jobwarden import metrics
from jobwarden.api import constants as c
from jobwarden.api.paths import resource_path
from jobwarden.core.conditions import format_micro_time, format_time
from jobwarden.core.observed import RunView
from jobwarden.core.plan import Event
from jobwarden.engine.port import JSON, KubeApi, KubeApiError

logger = logging.getLogger("jobwarden.events")

COMPONENT = "jobwarden-operator"
#: Event creates in flight at once (client-go's recorder sends one at a time).
SENDERS: Final = 4
#: Events waiting beyond this are dropped (and counted): the run's status.log and the
#: audit log keep the record; an API server that cannot take Events must not also
#: grow the operator's memory without bound (client-go drops beyond 1,000).
BACKLOG: Final = 10_000


class EventRecorder:
    """Posts core/v1 Events without blocking the reconcile that caused them."""

    def __init__(
        self,
        kube: KubeApi,
        *,
        senders: int = SENDERS,
        backlog: int = BACKLOG,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.kube = kube
        self.instance = os.environ.get("POD_NAME") or os.uname().nodename
        self.senders = senders
        self.backlog = backlog
        self.clock = clock
        self._waiting: collections.deque[JSON] = collections.deque()  # Event bodies
        self._senders: set[asyncio.Task[None]] = set()
        self._active = 0  # senders still looping (a finished task may await its callback)
        self._idle = asyncio.Event()
        self._idle.set()

    def emit(self, run: RunView, event: Event) -> None:
        """Post one Event about a run in the background."""
        self.emit_for(run.kind, run.namespace, run.name, run.uid, event)

    def emit_for(self, kind: str, namespace: str, name: str, uid: str, event: Event) -> None:
        """Post one Event about any jobwarden object in the background."""
        if len(self._waiting) >= self.backlog:
            metrics.EVENTS_DROPPED.inc()
            logger.warning(
                "dropped Event %s on %s/%s: %d Events are waiting to be posted",
                event.reason,
                namespace,
                name,
                len(self._waiting),
            )
            return
        self._waiting.append(self._body(kind, namespace, name, uid, event))
        self._idle.clear()
        if self._active < self.senders:
            self._active += 1
            task = asyncio.create_task(self._send())
            self._senders.add(task)
            task.add_done_callback(self._senders.discard)

    def waiting(self) -> int:
        """Events emitted and not yet posted."""
        return len(self._waiting)

    async def drain(self, timeout: float | None = None) -> int:
        """Wait until every Event emitted so far has been posted, or `timeout` seconds
        (shutdown must not outlast the pod's grace period); return how many are left."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return len(self._waiting) + self._active

    async def _send(self) -> None:
        try:
            while self._waiting:
                body = self._waiting.popleft()
                namespace = body["metadata"]["namespace"]
                try:
                    await self.kube.create(resource_path("v1", "events", namespace), body)
                except (KubeApiError, OSError) as error:
                    logger.warning(
                        "could not post Event %s on %s/%s: %s",
                        body["reason"],
                        namespace,
                        body["involvedObject"]["name"],
                        error,
                    )
        finally:
            # No await between the empty queue and this: an Event emitted from now on
            # starts a sender of its own.
            self._active -= 1
            if not self._active:
                self._idle.set()

    def _body(self, kind: str, namespace: str, name: str, uid: str, event: Event) -> JSON:
        now = self.clock()
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{name}.{uuid.uuid4().hex[:16]}",
                "namespace": namespace,
            },
            "involvedObject": {
                "apiVersion": c.API_VERSION,
                "kind": kind,
                "name": name,
                "namespace": namespace,
                "uid": uid,
            },
            "type": event.type,
            "reason": event.reason,
            "message": event.message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": f"{c.GROUP}/operator",
            "reportingInstance": self.instance[:128],
            "firstTimestamp": format_time(now),
            "lastTimestamp": format_time(now),
            "eventTime": format_micro_time(now),
            "action": event.reason,
            "count": 1,
        }
