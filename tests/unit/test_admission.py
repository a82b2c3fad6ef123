"""Admission order under a namespace's quota: priority (High > Medium > Low), then age."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest

from jobwarden.api.enums import Priority, QueueReason
from jobwarden.core.admission import (
    Standing,
    Ticket,
    WaitingRun,
    answer,
    blocking_run,
    classify,
    holds_slot,
    rank,
)
from jobwarden.core.conditions import format_micro_time
from jobwarden.core.observed import RunView, Slot
from tests.unit.factories import make_run

T0 = datetime.datetime(2025, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)
HIGH, MEDIUM, LOW = Priority.HIGH, Priority.MEDIUM, Priority.LOW


def waiting(
    name: str, priority: Priority = MEDIUM, age: int = 0, kind: str = "JobRun"
) -> WaitingRun:
    """A run created `age` seconds before T0 (older runs have larger ages)."""
    return WaitingRun.of(priority, T0 - datetime.timedelta(seconds=age), kind, name)


@dataclass(frozen=True)
class Case:
    waiting: list[WaitingRun]
    holders: int
    limit: int
    order: list[str]  # names by queue position
    admitted: set[str]


CASES = [
    pytest.param(Case([], 0, 10, [], set()), id="nobody waits"),
    pytest.param(
        Case([waiting("a")], 0, 10, ["a"], {"a"}),
        id="one run, free quota: admitted",
    ),
    pytest.param(
        Case([waiting("a")], 10, 10, ["a"], set()),
        id="quota full: position 1, not admitted",
    ),
    pytest.param(
        Case([waiting("a")], 12, 10, ["a"], set()),
        id="over quota (quota lowered): nobody admitted",
    ),
    pytest.param(
        Case([waiting("a")], 0, 0, ["a"], set()),
        id="quota zero: nobody admitted",
    ),
    pytest.param(
        Case([waiting("low", LOW, 300), waiting("high", HIGH, 0), waiting("med", MEDIUM, 100)],
             0, 10, ["high", "med", "low"], {"high", "med", "low"}),
        id="priority first, whatever the age",
    ),
    pytest.param(
        Case([waiting("young", age=10), waiting("old", age=300), waiting("mid", age=100)],
             0, 10, ["old", "mid", "young"], {"old", "mid", "young"}),
        id="same priority: oldest first",
    ),
    pytest.param(
        Case([waiting("b"), waiting("a"), waiting("c")], 0, 10, ["a", "b", "c"],
             {"a", "b", "c"}),
        id="same priority and age: by name (deterministic)",
    ),
    pytest.param(
        Case([waiting("low", LOW, 300), waiting("high", HIGH, 0), waiting("med", MEDIUM, 100)],
             8, 10, ["high", "med", "low"], {"high", "med"}),
        id="two free slots: the two first admitted",
    ),
    pytest.param(
        Case([waiting("l1", LOW, 50), waiting("h1", HIGH, 10), waiting("h2", HIGH, 20),
              waiting("m1", MEDIUM, 99)],
             9, 10, ["h2", "h1", "m1", "l1"], {"h2"}),
        id="one free slot: oldest High",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_rank(case: Case) -> None:
    tickets = rank(case.waiting, case.holders, case.limit)
    order = sorted(tickets, key=lambda key: tickets[key].position)
    assert [name for _, name in order] == case.order
    assert {name for (_, name), t in tickets.items() if t.admit} == case.admitted
    assert sorted(t.position for t in tickets.values()) == list(range(1, len(case.waiting) + 1))


def test_rank_never_admits_more_than_the_free_slots() -> None:
    runs = [waiting(f"r{i}", [HIGH, MEDIUM, LOW][i % 3], i) for i in range(40)]
    for holders in range(0, 5):
        tickets = rank(runs, holders, 3)
        assert sum(t.admit for t in tickets.values()) == max(0, 3 - holders)


def test_rank_keys_by_kind_and_name() -> None:
    tickets = rank(
        [waiting("same", age=10, kind="JobRun"), waiting("same", age=20, kind="Export")], 0, 1
    )
    assert tickets == {
        ("Export", "same"): Ticket(position=1, admit=True),
        ("JobRun", "same"): Ticket(position=2, admit=False),
    }


def test_admitted_are_exactly_the_head_of_the_queue() -> None:
    runs = [waiting(f"r{i}", [LOW, HIGH, MEDIUM][i % 3], 100 - i) for i in range(12)]
    tickets = rank(runs, 6, 10)
    assert all(t.admit == (t.position <= 4) for t in tickets.values())


# ------------------------------------------------------------------ the rules
NOW = T0 + datetime.timedelta(minutes=5)
JOB = {"scheduledJobRef": {"name": "nightly"}}


def _run(
    name: str = "r", *, phase: str | None = None, spec: dict[str, Any] | None = None, **kw: Any
) -> RunView:
    status = {"phase": phase} if phase else None
    return make_run(name=name, spec=spec or {}, status=status, created=T0, **kw)


@pytest.mark.parametrize(
    ("phase", "reserved", "pod_alive", "holds"),
    [
        pytest.param(None, False, False, False, id="queued: no slot"),
        pytest.param(None, True, False, True, id="just admitted (reserved): holds"),
        pytest.param("Starting", False, False, True, id="Starting: holds"),
        pytest.param("Running", False, False, True, id="Running: holds"),
        pytest.param("Cancelling", False, False, True, id="Cancelling: holds"),
        pytest.param("Retrying", False, False, False, id="Retrying, its pod gone: no slot"),
        pytest.param("Retrying", False, True, True, id="Retrying, a pod still alive: holds"),
        pytest.param("Failed", False, True, True, id="finished, a pod still alive: holds"),
        pytest.param("Succeeded", False, False, False, id="finished: no slot"),
    ],
)  # fmt: skip
def test_who_holds_a_slot(phase: str | None, reserved: bool, pod_alive: bool, holds: bool) -> None:
    assert holds_slot(_run(phase=phase), reserved=reserved, pod_alive=pod_alive) is holds


@pytest.mark.parametrize(
    ("policy", "sibling_phase", "sibling_holds", "blocked"),
    [
        pytest.param("Forbid", "Running", True, True, id="Forbid: a running sibling blocks"),
        pytest.param("Replace", "Running", True, True, id="Replace: the old run ends first"),
        pytest.param(None, "Running", True, True, id="job not known: as Forbid"),
        pytest.param("Allow", "Running", True, False, id="Allow: runs side by side"),
        pytest.param("Forbid", None, False, False, id="a queued sibling does not block"),
        pytest.param("Forbid", "Succeeded", True, False, id="a finished sibling does not block"),
    ],
)  # fmt: skip
def test_a_run_of_a_job_waits_for_its_sibling(
    policy: str | None, sibling_phase: str | None, sibling_holds: bool, blocked: bool
) -> None:
    run, sibling = _run("new", spec=JOB), _run("old", phase=sibling_phase, spec=JOB)
    found = blocking_run(run, policy, [run, sibling], lambda r: r is sibling and sibling_holds)
    assert (found is sibling) is blocked


BACKFILLED = {**JOB, "trigger": "Backfill"}


@pytest.mark.parametrize(
    ("run_spec", "sibling_spec", "blocked"),
    [
        pytest.param(BACKFILLED, JOB, False,
                     id="a Backfill's run is not blocked by the job's running run"),
        pytest.param(JOB, BACKFILLED, False,
                     id="the job's run is not blocked by a running Backfill run"),
        pytest.param(BACKFILLED, BACKFILLED, False,
                     id="a Backfill's runs do not block each other (its cap does)"),
        pytest.param(JOB, JOB, True, id="the job's own runs still block each other"),
    ],
)  # fmt: skip
def test_a_backfills_runs_are_outside_the_concurrency_policy(
    run_spec: dict[str, Any], sibling_spec: dict[str, Any], blocked: bool
) -> None:
    run, sibling = _run("new", spec=run_spec), _run("old", phase="Running", spec=sibling_spec)
    found = blocking_run(run, "Forbid", [run, sibling], lambda r: r is sibling)
    assert (found is sibling) is blocked


def test_a_standalone_run_is_never_blocked() -> None:
    other = _run("other", phase="Running")
    assert blocking_run(_run(), "Forbid", [other], lambda _: True) is None


@pytest.mark.parametrize(
    ("run", "holds", "blocked", "standing"),
    [
        pytest.param(_run(), False, False, Standing.WAITING, id="queued: waits"),
        pytest.param(_run(), True, False, Standing.HOLDS, id="admitted: holds"),
        pytest.param(_run(phase="Running"), True, True, Standing.HOLDS,
                     id="holding wins over a blocker"),
        pytest.param(_run(spec=JOB), False, True, Standing.BLOCKED, id="blocked by a sibling"),
        pytest.param(_run(spec={"cancel": True}), False, False, Standing.OUT,
                     id="cancelled: wants no slot"),
        pytest.param(_run(phase="Failed"), False, False, Standing.OUT, id="finished: out"),
        pytest.param(_run(deleting=True), False, False, Standing.OUT, id="being deleted: out"),
    ],
)  # fmt: skip
def test_classify(run: RunView, holds: bool, blocked: bool, standing: Standing) -> None:
    blocker = _run("old", phase="Running", spec=JOB) if blocked else None
    placement = classify(run, holds=holds, blocker=blocker, now=NOW)
    assert placement.standing is standing
    assert (placement.sort_key is not None) is (standing is Standing.WAITING)


def test_classify_defers_a_retry_until_its_next_attempt() -> None:
    later = NOW + datetime.timedelta(seconds=30)
    run = make_run(status={"phase": "Retrying", "nextAttemptTime": format_micro_time(later)})
    deferred = classify(run, holds=False, blocker=None, now=NOW)
    assert (deferred.standing, deferred.until) == (Standing.DEFERRED, later)
    due = classify(run, holds=False, blocker=None, now=later)
    assert due.standing is Standing.WAITING


def test_classify_orders_waiting_runs_as_rank_does() -> None:
    runs = [_run("b"), _run("a", spec={"priority": "Low"}), _run("c", spec={"priority": "High"})]
    keys = sorted(
        (classify(r, holds=False, blocker=None, now=NOW).sort_key or (9,), r.name) for r in runs
    )
    tickets = rank(
        [WaitingRun.of(r.settings.priority, r.created, r.kind, r.name) for r in runs], 0, 3
    )
    by_position = sorted(tickets, key=lambda k: tickets[k].position)
    assert [name for _, name in keys] == [name for _, name in by_position] == ["c", "b", "a"]


@pytest.mark.parametrize(
    ("holds", "blocked", "ticket", "slot"),
    [
        pytest.param(True, False, None, Slot(False, 0, 3, 5), id="holds: nothing to admit"),
        pytest.param(False, False, Ticket(1, True), Slot(True, 1, 3, 5), id="admitted"),
        pytest.param(False, False, Ticket(4, False), Slot(False, 4, 3, 5), id="waits 4th"),
        pytest.param(False, False, None, Slot(False, 0, 3, 5), id="not in the queue"),
        pytest.param(False, True, Ticket(1, True),
                     Slot(False, 1, 3, 5, QueueReason.CONCURRENCY_POLICY,
                          "waiting for run old of the same ScheduledJob to finish"),
                     id="blocked: waits for its sibling whatever its ticket"),
    ],
)  # fmt: skip
def test_answer(holds: bool, blocked: bool, ticket: Ticket | None, slot: Slot) -> None:
    blocker = _run("old", phase="Running", spec=JOB) if blocked else None
    assert answer(holds=holds, blocker=blocker, ticket=ticket, holders=3, limit=5) == slot


ETA = NOW + datetime.timedelta(minutes=3)


@pytest.mark.parametrize(
    ("blocked", "ticket", "estimated"),
    [
        pytest.param(False, Ticket(4, False), ETA, id="waits for the quota: told when"),
        pytest.param(False, Ticket(1, True), None, id="admitted: no estimate"),
        pytest.param(True, Ticket(4, False), None, id="blocked by its sibling: no estimate"),
        pytest.param(False, None, None, id="not in the queue: no estimate"),
    ],
)  # fmt: skip
def test_answer_estimates_the_start_of_a_run_waiting_for_the_quota(
    blocked: bool, ticket: Ticket | None, estimated: datetime.datetime | None
) -> None:
    blocker = _run("old", phase="Running", spec=JOB) if blocked else None
    asked: list[int] = []

    def estimate(position: int) -> datetime.datetime:
        asked.append(position)
        return ETA

    slot = answer(
        holds=False, blocker=blocker, ticket=ticket, holders=3, limit=5, estimate=estimate
    )
    assert slot.estimated_start == estimated
    assert asked == ([4] if estimated else [])
