"""Slot accounting over the store: correct tickets, and rankings reused only while
nothing they read has changed (the cache that keeps admission O(n) per wave)."""

from __future__ import annotations

import datetime
from typing import Any

from jobwarden.api import constants as c
from jobwarden.engine.quota import Slots
from jobwarden.engine.store import Store
from tests.unit.factories import NAMESPACE, T0, at, pod_body, run_body

JOB_RUN = c.KIND_JOB_RUN


def body(name: str, seconds: float = 0, *, rv: int = 1, **kwargs: Any) -> dict[str, Any]:
    created = T0 + datetime.timedelta(seconds=seconds)
    run = run_body(name, uid=f"uid-{name}", created=created, **kwargs)
    run["kind"] = JOB_RUN
    run["metadata"]["resourceVersion"] = str(rv)
    return run


def pod(run: str, *, rv: int = 1, **kwargs: Any) -> dict[str, Any]:
    labels = {c.LABEL_RUN: run, c.LABEL_RUN_KIND: JOB_RUN, c.LABEL_ATTEMPT: "1"}
    manifest = pod_body(1, run=run, labels=labels, **kwargs)
    manifest["metadata"]["resourceVersion"] = str(rv)
    return manifest


def slots_with(*runs: dict[str, Any], limit: int = 2) -> tuple[Store, Slots]:
    store = Store()
    store.put_quota(NAMESPACE, "q", limit)
    for run in runs:
        store.put_run(run)
    return store, Slots(store, default_limit=limit)


def test_the_oldest_waiting_runs_take_the_free_slots() -> None:
    _, slots = slots_with(body("a", 1), body("b", 2), body("c", 3))
    tickets, holders, limit = slots.tickets(NAMESPACE, at(10))
    assert (holders, limit) == (0, 2)
    assert [(n, t.position, t.admit) for (_, n), t in sorted(tickets.items())] == [
        ("a", 1, True),
        ("b", 2, True),
        ("c", 3, False),
    ]


def test_high_priority_goes_first() -> None:
    _, slots = slots_with(body("old", 1), body("urgent", 5, spec={"priority": "High"}), limit=1)
    tickets, _, _ = slots.tickets(NAMESPACE, at(10))
    assert tickets[JOB_RUN, "urgent"].admit and not tickets[JOB_RUN, "old"].admit


def test_ranking_is_reused_until_something_it_reads_changes() -> None:
    store, slots = slots_with(body("a", 1), body("b", 2), body("c", 3))
    first, _, _ = slots.tickets(NAMESPACE, at(10))
    assert slots.tickets(NAMESPACE, at(11))[0] is first
    # A status write that moves nothing a ranking reads (the queue position shown).
    store.put_run(body("c", 3, rv=2, status={"phase": "Queued", "queue": {"position": 3}}))
    assert slots.tickets(NAMESPACE, at(12))[0] is first
    slots.reserve((JOB_RUN, NAMESPACE, "a"))
    tickets, holders, _ = slots.tickets(NAMESPACE, at(12))
    assert tickets is not first
    assert holders == 1 and (JOB_RUN, "a") not in tickets
    assert tickets[JOB_RUN, "b"].admit and not tickets[JOB_RUN, "c"].admit


def test_a_reservation_given_back_frees_the_slot() -> None:
    _, slots = slots_with(body("a", 1), body("b", 2), limit=1)
    slots.reserve((JOB_RUN, NAMESPACE, "a"))
    assert not slots.tickets(NAMESPACE, at(10))[0][JOB_RUN, "b"].admit
    slots.unreserve((JOB_RUN, NAMESPACE, "a"))
    assert slots.tickets(NAMESPACE, at(10))[0][JOB_RUN, "b"].position == 2


def test_a_finished_run_holds_its_slot_until_its_pod_has_stopped() -> None:
    done = body("a", 1, status={"phase": "Failed"})
    store, slots = slots_with(done, body("b", 2), limit=1)
    store.put_pod(pod("a", phase="Running"))
    tickets, holders, _ = slots.tickets(NAMESPACE, at(10))
    assert holders == 1 and not tickets[JOB_RUN, "b"].admit
    store.put_pod(pod("a", rv=2, exit_code=143))
    tickets, holders, _ = slots.tickets(NAMESPACE, at(11))
    assert holders == 0 and tickets[JOB_RUN, "b"].admit
    store.remove_pod(pod("a", rv=3, exit_code=143))
    assert [v.name for v in store.live_runs(NAMESPACE)] == ["b"]


def test_a_run_in_backoff_waits_only_once_its_next_attempt_is_due() -> None:
    later = {"phase": "Queued", "nextAttemptTime": "2025-03-01T12:01:00Z"}
    _, slots = slots_with(body("retrying", 1, status=later), limit=1)
    assert slots.tickets(NAMESPACE, at(30))[0] == {}
    assert slots.tickets(NAMESPACE, at(60))[0][JOB_RUN, "retrying"].admit


def test_finished_runs_drop_out_of_the_live_set() -> None:
    finished = [body(f"done-{i}", i, status={"phase": "Succeeded"}) for i in range(50)]
    store, slots = slots_with(*finished, body("next", 99))
    assert [v.name for v in store.live_runs(NAMESPACE)] == ["next"]
    store.put_run(body("next", 99, rv=2, status={"phase": "Succeeded"}))
    assert list(store.live_runs(NAMESPACE)) == []
    assert slots.tickets(NAMESPACE, at(100)) == ({}, 0, 2)


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
    assert (JOB_RUN, "n-2") not in slots.tickets(NAMESPACE, at(10))[0]  # Forbid: blocked
    sj["spec"]["concurrencyPolicy"] = "Allow"
    sj["metadata"]["resourceVersion"] = "2"
    store.put_scheduled_job(sj)
    assert slots.tickets(NAMESPACE, at(10))[0][JOB_RUN, "n-2"].admit
