"""Kubernetes Events on runs, emitted on transitions only (never kopf's chatter)."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import uuid

from jobwarden.api import constants as c
from jobwarden.core.conditions import format_micro_time, format_time
from jobwarden.core.observed import RunView
from jobwarden.core.plan import Event
from jobwarden.engine.kube import Kube, KubeApiError, resource_path

logger = logging.getLogger("jobwarden.events")

COMPONENT = "jobwarden-operator"


class EventRecorder:
    """Posts core/v1 Events without blocking the reconcile that caused them."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.instance = os.environ.get("POD_NAME") or os.uname().nodename
        self._pending: set[asyncio.Task[None]] = set()

    def emit(self, run: RunView, event: Event) -> None:
        """Post one Event about a run in the background."""
        self.emit_for(run.kind, run.namespace, run.name, run.uid, event)

    def emit_for(self, kind: str, namespace: str, name: str, uid: str, event: Event) -> None:
        """Post one Event about any jobwarden object in the background."""
        task = asyncio.create_task(self._post(kind, namespace, name, uid, event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for Events still being posted (tests, shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _post(self, kind: str, namespace: str, name: str, uid: str, event: Event) -> None:
        now = datetime.datetime.now(datetime.UTC)
        body = {
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
        try:
            await self.kube.create(resource_path("v1", "events", namespace), body)
        except (KubeApiError, OSError) as error:
            logger.warning(
                "could not post Event %s on %s/%s: %s", event.reason, namespace, name, error
            )
