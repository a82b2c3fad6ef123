"""Slot accounting over the store: correct tickets, and a queue updated run by run
(only the runs that changed are looked at again) that always agrees with a ranking
made afresh."""

from __future__ import annotations

import datetime
import random
from typing import Any

from jobwarden.api import constants as c
from jobwarden.core.admission import Ticket
from jobwarden.core.conditions import format_time
from jobwarden.engine.quota import Slots
from jobwarden.engine.store import Store
from tests.unit.factories import NAMESPACE, T0, at, pod_body, run_body, scheduled_job_body

JOB_RUN = c.KIND_JOB_RUN


def body(name: str, seconds: float = 0, *, rv: int = 1, **kwargs: Any) -> dict[str, Any]:
    """A JobRun created `seconds` after T0, at resourceVersion `rv`."""
    created = T0 + datetime.timedelta(seconds=seconds)
    return run_body(name, uid=f"uid-{name}", created=created, resource_version=str(rv), **kwargs)


def pod(run: str, *, rv: int = 1, **kwargs: Any) -> dict[str, Any]:
    """The first attempt's pod of the JobRun `run`, at resourceVersion `rv`."""
    labels = {c.LABEL_RUN: run, c.LABEL_RUN_KIND: JOB_RUN, c.LABEL_ATTEMPT: "1"}
    return pod_body(1, run=run, labels=labels, resource_version=str(rv), **kwargs)


def slots_with(*runs: dict[str, Any], limit: int = 2) -> tuple[Store, Slots]:
    store = Store()
    store.put_quota(NAMESPACE, "q", limit)
    for run in runs:
        store.put_run(run)
    return store, Slots(store, default_limit=limit)


def ranked(slots: Slots, now: datetime.datetime) -> tuple[dict[tuple[str, str], Ticket], int, int]:
    queue = slots.queue(NAMESPACE, now)
    return queue.tickets(), queue.holders, queue.limit


def test_the_oldest_waiting_runs_take_the_free_slots() -> None:
    _, slots = slots_with(body("a", 1), body("b", 2), body("c", 3))
    tickets, holders, limit = ranked(slots, at(10))
    assert (holders, limit) == (0, 2)
    assert [(n, t.position, t.admit) for (_, n), t in sorted(tickets.items())] == [
        ("a", 1, True),
        ("b", 2, True),
        ("c", 3, False),
    ]


def test_high_priority_goes_first() -> None:
    _, slots = slots_with(body("old", 1), body("urgent", 5, spec={"priority": "High"}), limit=1)
    tickets, _, _ = ranked(slots, at(10))
    assert tickets[JOB_RUN, "urgent"].admit and not tickets[JOB_RUN, "old"].admit


def test_only_the_runs_that_changed_are_looked_at_again() -> None:
    store, slots = slots_with(*(body(f"r{i:03d}", i) for i in range(200)))
    ranked(slots, at(500))
    built = slots.classified
    assert built == 200
    # A status write that moves nothing a ranking reads (the queue position shown).
    store.put_run(body("r150", 150, rv=2, status={"phase": "Queued", "queue": {"position": 3}}))
    assert ranked(slots, at(501))[0][JOB_RUN, "r150"].position == 151
    assert slots.classified == built
    slots.reserve((JOB_RUN, NAMESPACE, "r000"))
    tickets, holders, _ = ranked(slots, at(502))
    assert slots.classified == built + 1
    assert holders == 1 and (JOB_RUN, "r000") not in tickets
    assert tickets[JOB_RUN, "r001"] == Ticket(position=1, admit=True)
    assert tickets[JOB_RUN, "r002"] == Ticket(position=2, admit=False)


def test_a_reservation_given_back_frees_the_slot() -> None:
    _, slots = slots_with(body("a", 1), body("b", 2), limit=1)
    slots.reserve((JOB_RUN, NAMESPACE, "a"))
    assert not ranked(slots, at(10))[0][JOB_RUN, "b"].admit
    slots.unreserve((JOB_RUN, NAMESPACE, "a"))
    assert ranked(slots, at(10))[0][JOB_RUN, "b"].position == 2


def test_a_finished_run_holds_its_slot_until_its_pod_has_stopped() -> None:
    done = body("a", 1, status={"phase": "Failed"})
    store, slots = slots_with(done, body("b", 2), limit=1)
    store.put_pod(pod("a", phase="Running"))
    tickets, holders, _ = ranked(slots, at(10))
    assert holders == 1 and not tickets[JOB_RUN, "b"].admit
    store.put_pod(pod("a", rv=2, exit_code=143))
    tickets, holders, _ = ranked(slots, at(11))
    assert holders == 0 and tickets[JOB_RUN, "b"].admit
    store.remove_pod(pod("a", rv=3, exit_code=143))
    assert [v.name for v in store.live_runs(NAMESPACE)] == ["b"]


def test_a_run_in_backoff_waits_only_once_its_next_attempt_is_due() -> None:
    later = {"phase": "Queued", "nextAttemptTime": "2025-03-01T12:01:00Z"}
    _, slots = slots_with(body("retrying", 1, status=later), limit=1)
    assert ranked(slots, at(30))[0] == {}
    assert ranked(slots, at(60))[0][JOB_RUN, "retrying"].admit


def test_finished_runs_drop_out_of_the_live_set() -> None:
    finished = [body(f"done-{i}", i, status={"phase": "Succeeded"}) for i in range(50)]
    store, slots = slots_with(*finished, body("next", 99))
    assert [v.name for v in store.live_runs(NAMESPACE)] == ["next"]
    store.put_run(body("next", 99, rv=2, status={"phase": "Succeeded"}))
    assert list(store.live_runs(NAMESPACE)) == []
    assert ranked(slots, at(100)) == ({}, 0, 2)


def test_concurrency_policy_change_re_ranks() -> None:
    sj: dict[str, Any] = {
        "metadata": {"namespace": NAMESPACE, "name": "nightly", "uid": "sj", "generation": 1},
        "spec": {"schedule": "0 * * * *", "concurrencyPolicy": "Forbid"},
        "status": {},
    }
    labels = {c.LABEL_SCHEDULED_JOB: "nightly"}
    first = body("n-1", 1, spec={"scheduledJobRef": {"name": "nightly"}}, labels=labels)
    first["status"] = {"phase": "Running"}
    second = body("n-2", 2, spec={"scheduledJobRef": {"name": "nightly"}}, labels=labels)
    store, slots = slots_with(first, second, limit=5)
    store.put_scheduled_job(sj)
    assert (JOB_RUN, "n-2") not in ranked(slots, at(10))[0]  # Forbid: blocked
    sj["spec"]["concurrencyPolicy"] = "Allow"
    sj["metadata"]["resourceVersion"] = "2"
    store.put_scheduled_job(sj)
    assert ranked(slots, at(10))[0][JOB_RUN, "n-2"].admit


def test_the_queue_kept_run_by_run_agrees_with_a_fresh_ranking() -> None:
    """Random changes of every kind the queue reads; after each, the incremental
    queue must equal one ranked from scratch over the same store."""
    rng = random.Random(20261122)
    jobs: tuple[str, ...] = ("nightly", "hourly")
    store, slots = slots_with(limit=3)
    for job_name in jobs:
        store.put_scheduled_job(_scheduled_job(job_name, "Forbid", rv=1))
    versions: dict[str, int] = {}
    now = 100.0
    for step in range(1500):
        name = f"r{rng.randrange(40):02d}"
        rv = versions[name] = versions.get(name, 0) + 1
        job: str | None = jobs[int(name[1:]) % 3] if int(name[1:]) % 3 < 2 else None
        spec: dict[str, Any] = {"priority": rng.choice(["High", "Medium", "Low"])}
        labels = None
        if job:
            spec["scheduledJobRef"] = {"name": job}
            labels = {c.LABEL_SCHEDULED_JOB: job}
        action = rng.random()
        key = (JOB_RUN, NAMESPACE, name)
        if action < 0.45:
            status: dict[str, Any] = {"phase": rng.choice(PHASES)}
            if rng.random() < 0.2:
                status["nextAttemptTime"] = format_time(at(now + rng.choice([-5, 5, 30])))
            spec["cancel"] = rng.random() < 0.1
            store.put_run(body(name, int(name[1:]), rv=rv, spec=spec, labels=labels, status=status))
        elif action < 0.6:
            store.put_pod(pod(name, rv=rv, phase="Running"))
        elif action < 0.7:
            store.put_pod(pod(name, rv=rv, exit_code=rng.choice([0, 1])))
        elif action < 0.75:
            store.remove_pod(pod(name, rv=rv))
        elif action < 0.85:
            (slots.reserve if rng.random() < 0.5 else slots.unreserve)(key)
        elif action < 0.9:
            store.remove_run(key)
        elif action < 0.95:
            job_name = rng.choice(jobs)
            policy = rng.choice(["Forbid", "Allow", "Replace"])
            store.put_scheduled_job(_scheduled_job(job_name, policy, rv=step + 2))
        else:
            now += rng.choice([1, 10, 40])
        if rng.random() < 0.3:  # the engine does not look after every change
            continue
        got = slots.queue(NAMESPACE, at(now))
        fresh = Slots(store, default_limit=3)
        fresh.reserved = set(slots.reserved)
        want = fresh.queue(NAMESPACE, at(now))
        assert (got.tickets(), got.holders, got.limit, got.queued_by_priority()) == (
            want.tickets(),
            want.holders,
            want.limit,
            want.queued_by_priority(),
        ), f"step {step}"
        for view in store.live_runs(NAMESPACE):
            assert slots.slot_for(view, at(now)) == fresh.slot_for(view, at(now)), f"step {step}"


PHASES = ("Queued", "Running", "Retrying", "Cancelling", "Succeeded", "Failed", "Cancelled")


def _scheduled_job(name: str, policy: str, *, rv: int) -> dict[str, Any]:
    spec = {"schedule": "0 * * * *", "concurrencyPolicy": policy}
    return scheduled_job_body(name, uid=f"sj-{name}", spec=spec, resource_version=str(rv))


def test_the_head_of_the_queue_and_the_counts_by_priority() -> None:
    high = {"priority": "High"}
    store, slots = slots_with(
        body("a", 1), body("b", 2, spec=high), body("c", 3, spec={"priority": "Low"}), limit=2
    )
    queue = slots.queue(NAMESPACE, at(10))
    assert [key[2] for key in queue.admitted()] == ["b", "a"]
    assert queue.queued_by_priority() == {"high": 1, "medium": 1, "low": 1}
    slots.reserve((JOB_RUN, NAMESPACE, "b"))
    store.put_run(body("a", 1, rv=2, status={"phase": "Running"}))
    queue = slots.queue(NAMESPACE, at(11))
    assert list(queue.admitted()) == []
    assert queue.queued_by_priority() == {"high": 0, "medium": 0, "low": 1}
