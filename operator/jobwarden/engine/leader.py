"""Leader election on a coordination.k8s.io Lease, as client-go does it.

Every replica watches and serves webhooks; only the Lease holder runs the engine.
A record is considered expired when it has not changed for `lease_seconds` as
observed by this replica's own monotonic clock, so clock skew between nodes does
not matter. A replica that stops cleanly releases the Lease for an instant handover.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from jobwarden.api.paths import resource_path
from jobwarden.core.conditions import format_micro_time
from jobwarden.engine.port import JSON, KubeApi, KubeApiError

logger = logging.getLogger("jobwarden.leader")


class LeaderElector:
    """Runs `lead()` while this replica holds the Lease; cancels it when it loses it."""

    def __init__(
        self,
        kube: KubeApi,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_seconds: float = 15,
        renew_seconds: float = 5,
        retry_seconds: float = 2,
    ) -> None:
        self.kube = kube
        self.path = resource_path("coordination.k8s.io/v1", "leases", namespace, name)
        self.collection = resource_path("coordination.k8s.io/v1", "leases", namespace)
        self.name = name
        self.identity = identity
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.retry_seconds = retry_seconds
        self.is_leader = False
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0

    def _record(self, lease: JSON | None, *, release: bool = False) -> JSON:
        now = format_micro_time(datetime.datetime.now(datetime.UTC))
        spec: dict[str, Any] = dict((lease or {}).get("spec") or {})
        holder = spec.get("holderIdentity")
        spec.update(
            {
                "holderIdentity": "" if release else self.identity,
                "leaseDurationSeconds": int(self.lease_seconds),
                "renewTime": now,
            }
        )
        if holder != self.identity and not release:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        body: JSON = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name},
            "spec": spec,
        }
        if lease is not None:
            body["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
        return body

    async def try_acquire_or_renew(self) -> bool:
        """One round: take a free or expired Lease, or renew ours. True if we hold it."""
        try:
            lease: JSON | None = await self.kube.get(self.path)
        except KubeApiError as error:
            if not error.not_found:
                raise
            lease = None
        if lease is None:
            try:
                await self.kube.create(self.collection, self._record(None))
            except KubeApiError as error:
                if error.conflict:
                    return False
                raise
            return True
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        observed = (holder, str(spec.get("renewTime") or ""))
        if observed != self._observed:
            self._observed, self._observed_at = observed, time.monotonic()
        expired = time.monotonic() - self._observed_at > float(
            spec.get("leaseDurationSeconds") or self.lease_seconds
        )
        if holder and holder != self.identity and not expired:
            return False
        try:
            await self.kube.replace(self.path, self._record(lease))
        except KubeApiError as error:
            if error.conflict:
                return False
            raise
        return True

    async def release(self) -> None:
        """Give the Lease up (clean shutdown): the standby takes over at once."""
        # No `is_leader` guard: `run()` clears it as soon as its task is cancelled, before
        # we get here. The holderIdentity check releases only a Lease that is ours.
        with contextlib.suppress(KubeApiError, OSError):
            lease = await self.kube.get(self.path)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                await self.kube.replace(self.path, self._record(lease, release=True))
                logger.info("released the lease %s (%s)", self.path, self.identity)
        self.is_leader = False

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Campaign forever; run `lead()` during each term of leadership."""
        logger.info("campaigning for the lease %s as %s", self.path, self.identity)
        while True:
            try:
                acquired = await self.try_acquire_or_renew()
            except (KubeApiError, OSError) as error:
                logger.warning("leader election: %s", error)
                acquired = False
            if not acquired:
                await asyncio.sleep(self.retry_seconds)
                continue
            logger.info("became the leader (%s)", self.identity)
            self.is_leader = True
            task = asyncio.create_task(lead())
            try:
                await self._keep(task)
            finally:
                self.is_leader = False
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                logger.info("stopped leading (%s)", self.identity)

    async def _keep(self, task: asyncio.Task[None]) -> None:
        """Renew until a renewal fails for longer than the lease allows, or `task` ends."""
        last_renewed = time.monotonic()
        while not task.done():
            await asyncio.wait({task}, timeout=self.renew_seconds)
            if task.done():
                return
            try:
                if await self.try_acquire_or_renew():
                    last_renewed = time.monotonic()
                    continue
                logger.warning("lost the lease to another replica")
                return
            except (KubeApiError, OSError) as error:
                logger.warning("renewing the lease failed: %s", error)
            if time.monotonic() - last_renewed > self.lease_seconds - self.retry_seconds:
                logger.warning("could not renew the lease in time: stepping down")
                return
