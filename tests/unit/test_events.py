"""The Event sender: a few in flight, in emission order, stamped when emitted,
bounded, and drained on shutdown. (That Events reach the API is shown by the
integration tests; this is the queueing logic, with a fake API.)"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from jobwarden import metrics
from jobwarden.api.enums import EventReason, EventType
from jobwarden.core.plan import Event
from jobwarden.engine.events import EventRecorder
from tests.support.fakeapi import FakeApi, api_error

JSON = dict[str, Any]
T0 = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)


EVENTS = "/api/v1/namespaces/team-a/events"


def gated(fail: frozenset[str] = frozenset()) -> tuple[FakeApi, asyncio.Event]:
    """The API, whose Event creates finish only when the test opens the gate (and
    fail for the involved objects named in `fail`)."""
    kube = FakeApi()
    gate = kube.hold("POST", EVENTS)
    if fail:
        kube.fail(
            "POST",
            EVENTS,
            lambda: api_error("POST", EVENTS, 500, "InternalError"),
            times=len(fail),
            when=lambda body: body["involvedObject"]["name"] in fail,
        )
    return kube, gate


def started(kube: FakeApi) -> list[str]:
    """The involved objects, in the order the Event creates began."""
    return [call.body["involvedObject"]["name"] for call in kube.calls]


def posted(kube: FakeApi) -> list[JSON]:
    """The Events the API stored, in order."""
    return [change.object for change in kube.changes if change.type == "ADDED"]


def dropped() -> float:
    return metrics.REGISTRY.get_sample_value("jobwarden_events_dropped_total") or 0.0


def recorder(kube: FakeApi, **kwargs: Any) -> EventRecorder:
    return EventRecorder(kube, **kwargs)


def emit(events: EventRecorder, name: str, reason: str = "Started") -> None:
    events.emit_for(
        "JobRun", "team-a", name, f"uid-{name}", Event(EventType.NORMAL, EventReason(reason), "m")
    )


def test_at_most_senders_in_flight_and_in_emission_order() -> None:
    async def scenario() -> FakeApi:
        kube, gate = gated()
        events = recorder(kube, senders=3)
        for i in range(20):
            emit(events, f"run-{i:02d}")
        for _ in range(5):
            await asyncio.sleep(0)  # let the senders start
        assert kube.in_flight == 3
        assert events.waiting() == 17
        gate.set()
        await asyncio.wait_for(events.drain(), 5)
        return kube

    kube = asyncio.run(scenario())
    assert kube.most_in_flight == 3
    assert started(kube) == [f"run-{i:02d}" for i in range(20)]  # taken in order
    assert len(posted(kube)) == 20


def test_an_event_carries_the_time_it_was_emitted_not_sent() -> None:
    async def scenario() -> FakeApi:
        kube, gate = gated()
        now = [T0]
        events = recorder(kube, senders=1, clock=lambda: now[0])
        emit(events, "a")
        emit(events, "b")
        now[0] = T0 + datetime.timedelta(minutes=5)  # the API server is slow
        gate.set()
        await asyncio.wait_for(events.drain(), 5)
        return kube

    kube = asyncio.run(scenario())
    assert [body["eventTime"] for body in posted(kube)] == ["2026-11-22T12:00:00.000000Z"] * 2
    assert posted(kube)[0]["lastTimestamp"] == "2026-11-22T12:00:00Z"


def test_beyond_the_backlog_events_are_dropped_and_counted() -> None:
    async def scenario() -> tuple[FakeApi, asyncio.Event, EventRecorder]:
        kube, gate = gated()
        events = recorder(kube, senders=1, backlog=5)
        for i in range(8):
            emit(events, f"r{i}")
        return kube, gate, events

    before = dropped()

    async def both() -> FakeApi:
        kube, gate, events = await scenario()
        # The sender starts on the next turn of the loop: 5 wait, 3 were dropped.
        assert events.waiting() == 5
        gate.set()
        await asyncio.wait_for(events.drain(), 5)
        return kube

    kube = asyncio.run(both())
    assert dropped() == before + 3
    assert [body["involvedObject"]["name"] for body in posted(kube)] == [f"r{i}" for i in range(5)]


def test_a_failed_post_does_not_stop_the_others() -> None:
    async def scenario() -> FakeApi:
        kube, gate = gated(fail=frozenset({"bad"}))
        gate.set()
        events = recorder(kube, senders=1)
        for name in ("a", "bad", "c"):
            emit(events, name)
        await asyncio.wait_for(events.drain(), 5)
        return kube

    kube = asyncio.run(scenario())
    assert [body["involvedObject"]["name"] for body in posted(kube)] == ["a", "c"]


def test_an_event_emitted_as_the_last_sender_finishes_is_still_sent() -> None:
    """The sender leaves its loop and stops counting itself in one step, so an Event
    emitted before its task's done-callback runs starts a new sender."""

    async def scenario() -> FakeApi:
        kube, gate = gated()
        gate.set()
        events = recorder(kube, senders=1)
        emit(events, "first")
        for _ in range(10):  # the sender posts "first" and leaves its loop
            await asyncio.sleep(0)
            if posted(kube):
                break
        emit(events, "second")
        await asyncio.wait_for(events.drain(), 5)
        return kube

    kube = asyncio.run(scenario())
    assert [body["involvedObject"]["name"] for body in posted(kube)] == ["first", "second"]


def test_drain_returns_at_once_when_nothing_was_emitted() -> None:
    async def scenario() -> None:
        await asyncio.wait_for(recorder(gated()[0]).drain(), 1)

    asyncio.run(scenario())


def test_drain_gives_up_after_its_timeout_and_says_how_many_are_left() -> None:
    async def scenario() -> int:
        kube, _ = gated()  # the gate stays closed: the API server never answers
        events = recorder(kube, senders=2)
        for i in range(5):
            emit(events, f"r{i}")
        return await events.drain(timeout=0.05)

    assert asyncio.run(scenario()) == 5  # 3 waiting, 2 in flight
