"""A stopping replica steps down before kopf stops: the engine ends, the Lease is
released, and only then is kopf's stop flag set (`controller.on_signal`)."""

from __future__ import annotations

import asyncio
import os
import signal

import kopf
import pytest

from jobwarden import controller
from jobwarden.engine.leader import LeaderElector
from tests.support.fakeapi import FakeApi

LEASE = "/apis/coordination.k8s.io/v1/namespaces/jobwarden-system/leases/jobwarden-operator"


async def _leading(api: FakeApi) -> tuple[kopf.Memo, asyncio.Event, list[str]]:
    """A memo as `configure` leaves it, with this replica leading; `steps` records when
    the engine ended and when the stop flag was set (with the Lease holder then)."""
    steps: list[str] = []
    stop = asyncio.Event()
    elector = LeaderElector(api, "jobwarden-system", "jobwarden-operator", "me", renew_seconds=0.05)

    async def lead() -> None:
        steps.append("engine started")
        try:
            await asyncio.Event().wait()
        finally:
            steps.append("engine stopped")

    memo = kopf.Memo(stop_flag=stop, elector=elector)
    memo["campaign"] = asyncio.create_task(elector.run(lead))

    async def watch_stop() -> None:
        await stop.wait()
        holder = ((api.get_object(LEASE) or {}).get("spec") or {}).get("holderIdentity")
        steps.append(f"stop flag set, holder {holder!r}")

    memo["watcher"] = asyncio.create_task(watch_stop())
    while not elector.is_leader:
        await asyncio.sleep(0.01)
    return memo, stop, steps


def test_sigterm_ends_the_engine_and_releases_the_lease_before_kopf_stops() -> None:
    async def story() -> list[str]:
        api = FakeApi()
        memo, stop, steps = await _leading(api)
        controller.on_signal(memo, stop, signal.SIGTERM)
        assert not stop.is_set(), "kopf is stopped only after the step-down"
        await asyncio.wait_for(memo["watcher"], 5)
        return steps

    assert asyncio.run(story()) == ["engine started", "engine stopped", "stop flag set, holder ''"]


def test_a_second_signal_stops_at_once_while_the_release_hangs() -> None:
    async def story() -> tuple[bool, bool]:
        api = FakeApi()
        memo, stop, _ = await _leading(api)
        gate = api.hold("PUT", LEASE)  # the release never gets its answer
        controller.on_signal(memo, stop, signal.SIGTERM)
        await api.settle()
        first = stop.is_set()
        controller.on_signal(memo, stop, signal.SIGTERM)
        second = stop.is_set()
        gate.set()
        await asyncio.wait_for(memo["stepping_down"], 5)
        return first, second

    assert asyncio.run(story()) == (False, True)


def test_a_step_down_that_hangs_stops_kopf_after_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(controller, "STEP_DOWN_SECONDS", 0.2)

    async def story() -> bool:
        api = FakeApi()
        memo, stop, _ = await _leading(api)
        api.hold("PUT", LEASE)  # never answered
        controller.on_signal(memo, stop, signal.SIGTERM)
        await asyncio.wait_for(stop.wait(), 5)
        return stop.is_set()

    assert asyncio.run(story())


def test_sigterm_reaches_our_handler_once_installed() -> None:
    """A real SIGTERM to this process, after a stand-in for kopf's handler: ours must
    have replaced it (the stand-in records, rather than kills, if it did not)."""

    async def story() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        kopfs = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, kopfs.set)
        stop = asyncio.Event()
        controller.install_stop_signals(kopf.Memo(stop_flag=stop))
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(stop.wait(), 5)
        return stop.is_set(), kopfs.is_set()

    assert asyncio.run(story()) == (True, False)
