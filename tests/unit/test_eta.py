"""Queue start estimates (core/eta.py, the Slots' record of freed slots, the
lifecycle's `status.queue.estimatedStartTime`), as named tables."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Iterable

import pytest

from jobwarden.core.conditions import format_micro_time
from jobwarden.core.eta import (
    ESTIMATE_WRITES_PER_PASS,
    SOON,
    admission_rate,
    estimate_start,
    estimate_worth_writing,
    starts_soon,
)
from jobwarden.core.lifecycle import decide, queue_update_due
from jobwarden.core.observed import Slot
from jobwarden.engine.quota import Slots
from jobwarden.engine.reconciler import Engine, EngineConfig
from jobwarden.engine.store import Store
from tests.support.fakeapi import FakeApi
from tests.unit.factories import NAMESPACE, T0, at, make_run, run_body


def every(seconds: float, count: int, start: float = 0) -> list[datetime.datetime]:
    """`count` admissions `seconds` apart from T0 + start."""
    return [at(start + i * seconds) for i in range(count)]


RATES: dict[str, tuple[list[datetime.datetime], datetime.datetime, float | None]] = {
    "one admission is no rate": ([at(0)], at(10), None),
    "four a second": (every(0.25, 41), at(10), 4.0),
    "one a minute": (every(60, 11), at(600), 1 / 60),
    "only the newest 50 count (the pace changed)": (
        every(10, 30) + every(1, 50, start=300),
        at(350),
        1.0,
    ),
    "older than an hour counts for nothing": (every(60, 10), at(4 * 3600), None),
}


@pytest.mark.parametrize("name", list(RATES), ids=list(RATES))
def test_admission_rate(name: str) -> None:
    admissions, now, rate = RATES[name]
    found = admission_rate(admissions, now)
    assert (found is None) == (rate is None)
    if rate is not None:
        assert found == pytest.approx(rate)


ESTIMATES: dict[
    str, tuple[int, list[datetime.datetime], datetime.datetime, datetime.datetime | None]
] = {
    "position 1 at four a second: a quarter second after the last admission": (
        1,
        every(0.25, 41),
        at(10),
        at(10),  # 10.25 s, cut to whole seconds
    ),
    "position 400 at four a second: 100 s": (400, every(0.25, 41), at(10), at(110)),
    "position 10 at one a minute: 10 minutes after the last admission": (
        10,
        every(60, 11),
        at(630),
        at(1200),
    ),
    "never before now": (1, every(60, 11), at(1000), None),
    "no rate: no estimate": (5, [at(0)], at(10), None),
}


@pytest.mark.parametrize("name", list(ESTIMATES), ids=list(ESTIMATES))
def test_estimate_start(name: str) -> None:
    position, admissions, now, expected = ESTIMATES[name]
    found = estimate_start(position, admissions, now)
    if name == "never before now":
        assert found == now
    else:
        assert found == expected


DRIFTS: dict[str, tuple[datetime.datetime | None, datetime.datetime | None, bool]] = {
    # stored, new (now = T0) -> rewrite?
    "the first estimate is written": (None, at(600), True),
    "an unknown estimate keeps the stored one": (at(600), None, False),
    "10 s off with 10 minutes left: kept": (at(600), at(610), False),
    "3 minutes off with 10 minutes left: rewritten": (at(600), at(780), True),
    "8 s off with 20 s left: kept (at least 10 s)": (at(20), at(28), False),
    "15 s off with 20 s left: rewritten": (at(20), at(35), True),
    "stored in the past, new in 2 minutes: rewritten": (at(-60), at(120), True),
}


@pytest.mark.parametrize("name", list(DRIFTS), ids=list(DRIFTS))
def test_estimate_worth_writing(name: str) -> None:
    stored, new, expected = DRIFTS[name]
    assert estimate_worth_writing(stored, new, T0) == expected


def test_a_rate_needs_one_turnover_of_the_quota() -> None:
    admissions = every(1, 5)
    assert admission_rate(admissions, at(5), needed=5) == pytest.approx(1.0)
    assert admission_rate(admissions, at(5), needed=6) is None
    assert estimate_start(3, admissions, at(5), needed=6) is None


def test_slots_estimate_from_the_pace_slots_are_freed() -> None:
    store = Store()
    store.put_quota(NAMESPACE, "q", 2)
    slots = Slots(store, default_limit=2)
    slots.record_release(NAMESPACE, at(0))
    assert slots.estimate_start(NAMESPACE, 5, at(1)) is None  # one turnover: 2 needed
    for second in range(4, 40, 4):  # a slot freed every 4 s
        slots.record_release(NAMESPACE, at(second))
    assert slots.estimate_start(NAMESPACE, 5, at(36)) == at(56)
    for name, created in (("a", 1), ("b", 2), ("c", 3)):
        store.put_run(run_body(name, uid=f"uid-{name}", created=at(created)))
    slot = slots.slot_for(make_run(name="c", uid="uid-c", created=at(3)), at(36))
    assert (slot.admit, slot.position) == (False, 3)
    assert slot.estimated_start == at(48)  # 3 more slots at one per 4 s after 36 s
    head = slots.slot_for(make_run(name="a", uid="uid-a", created=at(1)), at(36))
    assert head.admit and head.estimated_start is None  # admitted now: no estimate


def test_the_lifecycle_writes_the_estimate_with_the_position() -> None:
    run = make_run(spec={"template": {"spec": {}}})
    slot = Slot(admit=False, position=4, running=2, limit=2, estimated_start=at(120))
    status = decide(run, [], slot, at(1)).status or {}
    assert status["queue"]["position"] == 4
    assert status["queue"]["estimatedStartTime"] == "2025-03-01T12:02:00.000000Z"
    # Later, the estimate moved by 3 minutes with 2 minutes left: rewritten at once,
    # though the position itself would wait (same position).
    queue = status["queue"]
    assert queue_update_due(queue, 4, at(300), at(2)) == 0
    assert queue_update_due(queue, 4, at(125), at(2)) is None  # 5 s off: kept


def _kicked_by_one_pass(freed: Iterable[float]) -> list[str]:
    """The runs one pass over a queue of 30 (quota 1, now 100 s) kicks, with slots
    freed at the seconds `freed`: the run a free slot admits, and those whose shown
    queue is worth a write."""
    now = at(100)
    engine = Engine(FakeApi(clock=lambda: now), EngineConfig(), clock=lambda: now)
    store = engine.store
    store.put_quota(NAMESPACE, "q", 1)
    stamp = format_micro_time(at(90))
    for i in range(30):
        queue = {"position": i + 1, "reason": "QuotaExhausted", "since": stamp,
                 "positionTime": stamp}  # fmt: skip
        status = {"phase": "Queued", "queue": queue}
        store.put_run(run_body(f"r{i:02d}", uid=f"u{i:02d}", created=at(i), status=status))
    for second in freed:
        engine.slots.record_release(NAMESPACE, at(second))
    asyncio.run(engine._rerank(NAMESPACE))
    return sorted(str(key[-1]) for key in engine.queue._dirty if key[0] != "namespace")


def test_a_pass_over_a_long_queue_writes_a_few_estimates_head_first() -> None:
    """When the pace of a queue of 30 becomes known, every estimate is worth writing:
    one pass kicks only `ESTIMATE_WRITES_PER_PASS` of them for it, from the head
    (and the run a free slot admits); the rest wait for later passes."""
    kicked = _kicked_by_one_pass(range(-160, 100, 50))  # a slot freed every 50 s
    assert kicked == [f"r{i:02d}" for i in range(1 + ESTIMATE_WRITES_PER_PASS)]


SOONS: dict[str, tuple[int, list[datetime.datetime], datetime.datetime, bool]] = {
    # position, slots freed, now -> starts soon?
    "position 10 at four a second: 2.5 s, soon": (10, every(0.25, 41), at(10), True),
    "position 40 at four a second: 10 s, soon": (40, every(0.25, 41), at(10), True),
    "position 60 at four a second: 15 s, not soon": (60, every(0.25, 41), at(10), False),
    "position 1 at one a minute: not soon": (1, every(60, 11), at(600), False),
    "a stalled pace is never soon (no slot freed for 11 s)": (1, every(0.25, 41), at(21), False),
    "no pace: not soon": (1, [at(0)], at(1), False),
}


@pytest.mark.parametrize("name", list(SOONS), ids=list(SOONS))
def test_starts_soon(name: str) -> None:
    position, freed, now, expected = SOONS[name]
    assert starts_soon(position, freed, now) is expected


def test_a_run_starting_soon_keeps_its_shown_queue() -> None:
    """Near the head of a fast queue the shown position and estimate are not
    rewritten (the admission, seconds away, rewrites them), but looked at again after
    `eta.SOON` in case the pace stalls; a slower queue is written as before."""
    fresh = make_run(spec={"template": {"spec": {}}})
    first = Slot(admit=False, position=40, running=2, limit=2)
    run = make_run(spec={"template": {"spec": {}}}, status=decide(fresh, [], first, at(0)).status)
    queue = run.status["queue"]
    fast = Slot(admit=False, position=3, running=2, limit=2, estimated_start=at(61),
                starts_soon=True)  # fmt: skip
    plan = decide(run, [], fast, at(60))
    assert plan.status is None
    assert plan.requeue_after == pytest.approx(SOON.total_seconds())
    slow = dataclasses.replace(fast, starts_soon=False, estimated_start=at(200))
    status = decide(run, [], slow, at(60)).status or {}
    assert status["queue"]["position"] == 3
    assert queue_update_due(queue, 3, at(61), at(60), soon=True) == SOON.total_seconds()
    assert queue_update_due(queue, 40, at(61), at(60), soon=True) is None  # nothing to show


def test_a_pass_skips_estimates_of_runs_starting_soon() -> None:
    """At a fast pace the head of the queue starts within `eta.SOON`: a pass spends its
    estimate writes on the runs behind them."""
    kicked = _kicked_by_one_pass(range(0, 100, 2))  # a slot freed every 2 s, the last at 98 s
    soon = 5  # r01-r05: positions 2-6 (r00, at 1, is admitted), due by 110 s
    assert kicked == ["r00"] + [
        f"r{i:02d}" for i in range(1 + soon, 1 + soon + ESTIMATE_WRITES_PER_PASS)
    ]
