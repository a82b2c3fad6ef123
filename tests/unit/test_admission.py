"""Admission order under a namespace's quota: priority (High > Medium > Low), then age."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import pytest

from jobwarden.api.enums import Priority
from jobwarden.core.admission import Ticket, WaitingRun, rank

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
