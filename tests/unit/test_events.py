"""The Event sender: a few in flight, in emission order, stamped when emitted,
bounded, and drained on shutdown. (That Events reach the API is shown by the
integration tests; this is the queueing logic, with a fake API.)"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any, cast

from jobwarden import metrics
from jobwarden.api.enums import EventReason, EventType
from jobwarden.core.plan import Event
from jobwarden.engine.events import EventRecorder
from jobwarden.engine.port import KubeApi, KubeApiError

JSON = dict[str, Any]
T0 = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)


class GatedKube:
    """Event creates that finish only when the test lets them."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.posted: list[JSON] = []
        self.started: list[str] = []  # involved objects, in the order creates began
        self.in_flight = 0
        self.most_in_flight = 0
        self.gate = asyncio.Event()
        self.fail = fail or set()

    async def create(self, path: str, body: JSON) -> JSON:
        self.started.append(body["involvedObject"]["name"])
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        if body["involvedObject"]["name"] in self.fail:
            raise KubeApiError("POST", path, 500, "{}")
        self.posted.append(body)
        return body


def dropped() -> float:
    return metrics.REGISTRY.get_sample_value("jobwarden_events_dropped_total") or 0.0


def recorder(kube: GatedKube, **kwargs: Any) -> EventRecorder:
    return EventRecorder(cast(KubeApi, kube), **kwargs)


def emit(events: EventRecorder, name: str, reason: str = "Started") -> None:
    events.emit_for(
        "JobRun", "team-a", name, f"uid-{name}", Event(EventType.NORMAL, EventReason(reason), "m")
    )


def test_at_most_senders_in_flight_and_in_emission_order() -> None:
    async def scenario() -> GatedKube:
        kube = GatedKube()
        events = recorder(kube, senders=3)
        for i in range(20):
            emit(events, f"run-{i:02d}")
        for _ in range(5):
            await asyncio.sleep(0)  # let the senders start
        assert kube.in_flight == 3
        assert events.waiting() == 17
        kube.gate.set()
        await asyncio.wait_for(events.drain(), 5)
        return kube

    kube = asyncio.run(scenario())
    assert kube.most_in_flight == 3
    assert kube.started == [f"run-{i:02d}" for i in range(20)]  # taken in order
    assert len(kube.posted) == 20


def test_an_event_carries_the_time_it_was_emitted_not_sent() -> None:
    async def scenario() -> GatedKube:
        kube = GatedKube()
        now = [T0]
        events = recorder(kube, senders=1, clock=lambda: now[0])
        emit(events, "a")
        emit(events, "b")
        now[0] = T0 + datetime.timedelta(minutes=5)  # the API server is slow
        kube.gate.set()
        await asyncio.wait_for(events.drain(), 5)
        return kube

    kube = asyncio.run(scenario())
    assert [body["eventTime"] for body in kube.posted] == ["2026-11-22T12:00:00.000000Z"] * 2
    assert kube.posted[0]["lastTimestamp"] == "2026-11-22T12:00:00Z"


def test_beyond_the_backlog_events_are_dropped_and_counted() -> None:
    async def scenario() -> tuple[GatedKube, EventRecorder]:
        kube = GatedKube()
        events = recorder(kube, senders=1, backlog=5)
        for i in range(8):
            emit(events, f"r{i}")
        return kube, events

    before = dropped()

    async def both() -> GatedKube:
        kube, events = await scenario()
        # The sender starts on the next turn of the loop: 5 wait, 3 were dropped.
        assert events.waiting() == 5
        kube.gate.set()
        await asyncio.wait_for(events.drain(), 5)
        return kube

    kube = asyncio.run(both())
    assert dropped() == before + 3
    assert [body["involvedObject"]["name"] for body in kube.posted] == [f"r{i}" for i in range(5)]


def test_a_failed_post_does_not_stop_the_others() -> None:
    async def scenario() -> GatedKube:
        kube = GatedKube(fail={"bad"})
        kube.gate.set()
        events = recorder(kube, senders=1)
        for name in ("a", "bad", "c"):
            emit(events, name)
        await asyncio.wait_for(events.drain(), 5)
        return kube

    kube = asyncio.run(scenario())
    assert [body["involvedObject"]["name"] for body in kube.posted] == ["a", "c"]


def test_an_event_emitted_as_the_last_sender_finishes_is_still_sent() -> None:
    """The sender leaves its loop and stops counting itself in one step, so an Event
    emitted before its task's done-callback runs starts a new sender."""

    async def scenario() -> GatedKube:
        kube = GatedKube()
        kube.gate.set()
        events = recorder(kube, senders=1)
        emit(events, "first")
        for _ in range(10):  # the sender posts "first" and leaves its loop
            await asyncio.sleep(0)
            if kube.posted:
                break
        emit(events, "second")
        await asyncio.wait_for(events.drain(), 5)
        return kube

    kube = asyncio.run(scenario())
    assert [body["involvedObject"]["name"] for body in kube.posted] == ["first", "second"]


def test_drain_returns_at_once_when_nothing_was_emitted() -> None:
    async def scenario() -> None:
        await asyncio.wait_for(recorder(GatedKube()).drain(), 1)

    asyncio.run(scenario())


def test_drain_gives_up_after_its_timeout_and_says_how_many_are_left() -> None:
    async def scenario() -> int:
        kube = GatedKube()  # the gate stays closed: the API server never answers
        events = recorder(kube, senders=2)
        for i in range(5):
            emit(events, f"r{i}")
        return await events.drain(timeout=0.05)

    assert asyncio.run(scenario()) == 5  # 3 waiting, 2 in flight
