"""Spreading jobs: `H` in cron fields and `spec.jitterSeconds` (core/spread.py,
core/scheduling.py), as named tables.

The hashed values are pinned: a change of the hash would move every job's schedule on
upgrade, so it must show up here as a failing row, never silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from jobwarden.api.enums import MissedRunPolicy
from jobwarden.core.scheduling import DstNote, due_fires, parse_schedule
from jobwarden.core.spread import hashed, seed_of
from tests.unit.test_cronjob_conformance import ACCEPT


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# ------------------------------------------------------------------ what H means
@dataclass(frozen=True)
class Hashed:
    seed: str
    expression: str
    values: str  # the five fields as the schedule fires them


HASHED: dict[str, Hashed] = {
    "H alone is one minute of its own": Hashed("team-a/nightly", "H * * * *", "53 * * * *"),
    "another job, another minute": Hashed("team-b/nightly", "H * * * *", "30 * * * *"),
    "the same name in another namespace differs": Hashed(
        "team-a/weekly", "H * * * *", "17 * * * *"
    ),
    "each field has its own hash": Hashed("team-a/nightly", "H H * * *", "53 9 * * *"),
    "H(first-last) stays in its range": Hashed("team-a/nightly", "H(0-29) * * * *", "23 * * * *"),
    "H/step: a hashed start below the step, then every step": Hashed(
        "team-a/nightly", "H/15 * * * *", "8,23,38,53 * * * *"
    ),
    "H(first-last)/step: from first + a hashed start, every step, up to last": Hashed(
        "team-a/nightly", "H(0-29)/10 * * * *", "3,13,23 * * * *"
    ),
    "hours: H/6 is four times a day": Hashed("team-a/nightly", "0 H/6 * * *", "0 3,9,15,21 * * *"),
    "night window: H(1-5) hours": Hashed("team-a/nightly", "0 H(1-5) * * *", "0 4 * * *"),
    "day-of-month H is 1-28 (every month has it)": Hashed(
        "team-a/nightly", "0 0 H * *", "0 0 10 * *"
    ),
    "day-of-week H is 0-6": Hashed("team-b/nightly", "0 0 * * H", "0 0 * * 3"),
    "day-of-week H(5-7): 7 is Sunday": Hashed("team-a/nightly", "0 0 * * H(5-7)", "0 0 * * 0"),
    "month H": Hashed("team-a/nightly", "0 0 1 H *", "0 0 1 4 *"),
    "names in a hashed range": Hashed("team-b/nightly", "0 0 * * H(MON-FRI)", "0 0 * * 1"),
    "H items mix with plain ones": Hashed("team-a/nightly", "H,30 * * * *", "30,53 * * * *"),
    "no seed is a seed too (a preview before the name is typed)": Hashed(
        "", "H H * * *", "38 11 * * *"
    ),
}


@pytest.mark.parametrize("name", list(HASHED), ids=list(HASHED))
def test_hashed_fields(name: str) -> None:
    row = HASHED[name]
    assert parse_schedule(row.expression, "UTC", seed=row.seed).values == row.values


def test_the_hash_is_sha256_of_seed_and_field_not_pythons_hash() -> None:
    assert hashed("team-a/nightly", "minute", 60) == 53
    assert hashed("team-a/nightly", "jitter@1711846800", 301) == 144
    assert seed_of("team-a", "nightly") == "team-a/nightly"


def test_hashed_values_are_the_same_in_every_process() -> None:
    """Replicas and restarts: another interpreter with another hash seed agrees."""
    child = textwrap.dedent(
        """
        import json, sys
        from jobwarden.core.scheduling import parse_schedule
        rows = json.loads(sys.argv[1])
        print(json.dumps([parse_schedule(e, "UTC", seed=s).values for s, e in rows]))
        """
    )
    rows = [(row.seed, row.expression) for row in HASHED.values()]
    for hash_seed in ("0", "12345"):
        done = subprocess.run(
            [sys.executable, "-c", child, json.dumps(rows)],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert json.loads(done.stdout) == [row.values for row in HASHED.values()]


def test_h_spreads_a_thousand_jobs_over_the_hour() -> None:
    """The point of H: a thousand `H * * * *` jobs do not all start at minute 0. Every
    minute gets some, none gets more than three times its share."""
    minutes = Counter(
        int(parse_schedule("H * * * *", seed=f"team/job-{i}").values.split()[0])
        for i in range(1000)
    )
    assert set(minutes) == set(range(60))
    assert max(minutes.values()) < 3 * 1000 / 60


@pytest.mark.parametrize(
    "name", [n for n, row in ACCEPT.items() if row.jobwarden is not False and row.cronjob]
)
def test_a_cronjob_expression_does_not_depend_on_the_seed(name: str) -> None:
    """Without H, the seed changes nothing: a CronJob's schedule means what it meant."""
    row = ACCEPT[name]
    try:
        plain = parse_schedule(row.expression, row.time_zone)
    except ValueError:
        return  # refused either way (a documented difference): nothing to compare
    seeded = parse_schedule(row.expression, row.time_zone, seed="team-a/nightly")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert seeded.values == plain.values
    assert seeded.fires_between(start, start + timedelta(days=40), 50) == plain.fires_between(
        start, start + timedelta(days=40), 50
    )


# ------------------------------------------------------- H and DST (wall times)
@dataclass(frozen=True)
class HashedDst:
    seed: str
    expression: str
    zone: str
    after: str
    fires: tuple[str, ...]  # local wall times, with offsets
    notes: tuple[DstNote | None, ...]


#: team-a/job-23's `H H * * *` is 02:05: a wall time, so it follows the wall-clock rule.
HASHED_DST: dict[str, HashedDst] = {
    "H lands in the spring-forward gap: fires once, at its end": HashedDst(
        "team-a/job-23",
        "H H * * *",
        "Europe/Berlin",
        "2024-03-30T00:00:00+00:00",
        ("2024-03-30T02:05:00+01:00", "2024-03-31T03:00:00+02:00", "2024-04-01T02:05:00+02:00"),
        (None, DstNote.MOVED_BY_GAP, None),
    ),
    "H lands in the repeated hour: fires once, at the first": HashedDst(
        "team-a/job-23",
        "H H * * *",
        "Europe/Berlin",
        "2024-10-26T00:00:00+00:00",
        ("2024-10-26T02:05:00+02:00", "2024-10-27T02:05:00+02:00", "2024-10-28T02:05:00+01:00"),
        (None, DstNote.REPEATED_ONCE, None),
    ),
    "H minute of every hour follows real time: both passes": HashedDst(
        "team-a/job-23",
        "H * * * *",
        "Europe/Berlin",
        "2024-10-26T23:30:00+00:00",
        ("2024-10-27T02:05:00+02:00", "2024-10-27T02:05:00+01:00", "2024-10-27T03:05:00+01:00"),
        (DstNote.BOTH_PASSES, DstNote.BOTH_PASSES, None),
    ),
    "H/6 hours keep their wall times across the gap": HashedDst(
        "team-a/nightly",
        "0 H/6 * * *",
        "America/New_York",
        "2024-03-10T00:00:00-05:00",
        ("2024-03-10T03:00:00-04:00", "2024-03-10T09:00:00-04:00", "2024-03-10T15:00:00-04:00"),
        (None, None, None),
    ),
}


@pytest.mark.parametrize("name", list(HASHED_DST), ids=list(HASHED_DST))
def test_hashed_schedules_follow_the_dst_rules(name: str) -> None:
    row = HASHED_DST[name]
    schedule = parse_schedule(row.expression, row.zone, seed=row.seed)
    fires = schedule.fires_between(at(row.after), at(row.after) + timedelta(days=3), 3)
    assert [f.astimezone(schedule.zone).isoformat() for f in fires] == list(row.fires)
    assert [schedule.dst_note(f)[0] for f in fires] == list(row.notes)


# --------------------------------------------------------------------- jitter
@dataclass(frozen=True)
class Jitter:
    expression: str
    zone: str
    jitter: int
    after: str
    delays: tuple[int, ...]  # seconds, of the next fires in order


JITTER: dict[str, Jitter] = {
    "daily, up to 10 minutes: a delay of its own per fire": Jitter(
        "0 2 * * *", "Europe/Berlin", 600, "2024-03-28T00:00:00+00:00", (101, 133, 450, 341)
    ),
    "every minute: the delay ends before the next fire, whatever the bound": Jitter(
        "* * * * *", "UTC", 3600, "2024-03-28T00:00:00+00:00", (6, 59, 43, 51, 38)
    ),
    "H in the gap: the delay is real time after the moved fire": Jitter(
        "H H * * *", "Europe/Berlin", 300, "2024-03-30T00:00:00+00:00", (180, 57)
    ),
}


@pytest.mark.parametrize("name", list(JITTER), ids=list(JITTER))
def test_jitter_delays_are_fixed_per_fire_and_bounded(name: str) -> None:
    row = JITTER[name]
    seed = "team-a/job-23" if row.expression.startswith("H") else "team-a/nightly"
    schedule = parse_schedule(row.expression, row.zone, seed=seed, jitter_seconds=row.jitter)
    fires = schedule.fires_between(
        at(row.after), at(row.after) + timedelta(days=9), len(row.delays)
    )
    delays = [int(schedule.delay(f).total_seconds()) for f in fires]
    assert delays == list(row.delays)
    for fire, delay in zip(fires, delays, strict=True):
        assert 0 <= delay <= row.jitter
        assert schedule.effective(fire) < schedule.next_after(fire)  # runs keep their order
    again = parse_schedule(row.expression, row.zone, seed=seed, jitter_seconds=row.jitter)
    assert [again.delay(f) for f in fires] == [schedule.delay(f) for f in fires]


def test_without_jitter_there_is_no_delay() -> None:
    schedule = parse_schedule("0 2 * * *", "UTC", seed="team-a/nightly")
    fire = schedule.next_after(at("2024-03-28T00:00:00+00:00"))
    assert schedule.delay(fire) == timedelta(0) and schedule.effective(fire) == fire


# ------------------------------------------------------ due fires with jitter
DAILY = parse_schedule("0 2 * * *", "UTC", seed="team-a/nightly", jitter_seconds=600)
FIRE = at("2024-03-29T02:00:00+00:00")  # its delay is 120 s; the next one's 123 s
CREATED = at("2024-03-01T00:00:00+00:00")


@dataclass(frozen=True)
class JitterDue:
    last: datetime | None
    now: datetime
    deadline: int | None
    to_run: tuple[datetime, ...]
    next_fire: datetime
    wake: float
    missed: int = 0
    policy: MissedRunPolicy = MissedRunPolicy.RUN_ONCE


JITTER_DUE: dict[str, JitterDue] = {
    "the fire came, its delay has not passed: nothing yet, wake at the delay": JitterDue(
        at("2024-03-28T02:00:00+00:00"), FIRE + timedelta(seconds=30), None, (), FIRE, 90.0
    ),
    "the delay has passed: the fire runs, on time": JitterDue(
        at("2024-03-28T02:00:00+00:00"),
        FIRE + timedelta(seconds=120),
        None,
        (FIRE,),
        at("2024-03-30T02:00:00+00:00"),
        123.0 + 86400 - 120,
    ),
    "on time is measured from the delayed start (Skip would skip a late fire)": JitterDue(
        at("2024-03-28T02:00:00+00:00"),
        FIRE + timedelta(seconds=120 + 59),
        None,
        (FIRE,),
        at("2024-03-30T02:00:00+00:00"),
        123.0 + 86400 - 120 - 59,
        policy=MissedRunPolicy.SKIP,
    ),
    "startingDeadlineSeconds is measured from the delayed start": JitterDue(
        at("2024-03-28T02:00:00+00:00"),
        FIRE + timedelta(seconds=120 + 100),
        90,
        (),
        at("2024-03-30T02:00:00+00:00"),
        123.0 + 86400 - 220,
        missed=1,
    ),
    "after an outage the latest fire runs once (RunOnce)": JitterDue(
        at("2024-03-26T02:00:00+00:00"),
        FIRE + timedelta(hours=5),
        None,
        (FIRE,),
        at("2024-03-30T02:00:00+00:00"),
        123.0 + 86400 - 5 * 3600,
        missed=2,
    ),
}


@pytest.mark.parametrize("name", list(JITTER_DUE), ids=list(JITTER_DUE))
def test_due_fires_with_jitter(name: str) -> None:
    row = JITTER_DUE[name]
    due = due_fires(
        DAILY,
        row.last,
        CREATED,
        row.now,
        starting_deadline_seconds=row.deadline,
        policy=row.policy,
        max_runs=10,
    )
    assert due.to_run == row.to_run
    assert due.next_fire == row.next_fire
    assert due.wake_after_seconds == pytest.approx(row.wake)
    assert due.missed_count == row.missed


def test_a_long_outage_with_jitter_counts_late_fires_by_their_delayed_start() -> None:
    """Beyond scan_cap the fires are counted, not walked: those whose delayed start is
    older than the deadline are MissedStartingDeadline, exactly as when walked."""
    every = parse_schedule("*/5 * * * *", "UTC", seed="team-a/nightly", jitter_seconds=3600)
    last = at("2024-03-01T00:00:00+00:00")
    now = at("2024-03-03T00:00:00+00:00")
    kwargs = {"starting_deadline_seconds": 7200, "policy": MissedRunPolicy.SKIP, "max_runs": 10}
    counted = due_fires(every, last, CREATED, now, scan_cap=100, **kwargs)  # type: ignore[arg-type]
    walked = due_fires(every, last, CREATED, now, scan_cap=10_000, **kwargs)  # type: ignore[arg-type]
    assert counted.missed_by_reason == walked.missed_by_reason
    assert counted.missed_count == 2 * 288 - 1
