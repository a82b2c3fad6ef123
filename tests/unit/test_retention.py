"""When a finished standalone run is deleted (core.retention): its own
ttlSecondsAfterFinished, else the operator's runRetentionDays; never a run of a
ScheduledJob (its job prunes it), never before it is due."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest

from jobwarden.core.conditions import format_micro_time
from jobwarden.core.observed import RunView
from jobwarden.core.retention import DEFAULT_RETENTION_SECONDS, decide_retention
from jobwarden.settings import OperatorConfig
from tests.unit.factories import T0, make_run

DONE = T0 + datetime.timedelta(minutes=10)
DAY = 86400.0


def finished(phase: str = "Succeeded", *, ttl: int | None = None, job: bool = False) -> RunView:
    spec: dict[str, Any] = {"scheduledJobRef": {"name": "nightly"}} if job else {"template": {}}
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    status = {"phase": phase, "completionTime": format_micro_time(DONE)}
    return make_run(name="r", uid="uid-r", created=T0, spec=spec, status=status)


RUNNING = make_run(
    name="r", uid="u", created=T0, spec={"template": {}, "ttlSecondsAfterFinished": 0},
    status={"phase": "Running"},
)  # fmt: skip


@dataclass(frozen=True)
class Case:
    run: RunView
    after: float  # seconds after DONE
    default: float | None
    delete: bool
    wake_after: float | None


CASES = {
    "own ttl, not yet due: wakes when due": Case(finished(ttl=60), 59, DAY, False, 1),
    "own ttl, due: deleted": Case(finished(ttl=60), 60, DAY, True, None),
    "ttl 0: deleted as soon as finished": Case(finished(ttl=0), 0, DAY, True, None),
    "failed and cancelled runs too": Case(finished("Failed", ttl=5), 6, None, True, None),
    "cancelled": Case(finished("Cancelled", ttl=5), 4, None, False, 1),
    "own ttl wins over the default": Case(finished(ttl=3600), 2 * DAY, 30 * DAY, True, None),
    "no ttl: the operator default": Case(finished(), 89 * DAY, 90 * DAY, False, DAY),
    "no ttl, default passed": Case(finished(), 90 * DAY, 90 * DAY, True, None),
    "no ttl, no default: kept for ever": Case(finished(), 999 * DAY, None, False, None),
    "no ttl, default 0: kept for ever": Case(finished(), 999 * DAY, 0, False, None),
    "a run of a ScheduledJob: its job prunes it": Case(
        finished(job=True), 999 * DAY, DAY, False, None
    ),
    "still running: nothing": Case(RUNNING, 10, DAY, False, None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_retention(case: Case) -> None:
    now = DONE + datetime.timedelta(seconds=case.after)
    verdict = decide_retention(case.run, now, case.default)
    assert verdict.delete is case.delete
    assert verdict.wake_after == (pytest.approx(case.wake_after) if case.wake_after else None)


def test_a_run_without_completion_time_counts_from_its_creation() -> None:
    spec = {"template": {}, "ttlSecondsAfterFinished": 5}
    run = make_run(name="r", uid="u", created=T0, spec=spec, status={"phase": "Failed"})
    assert decide_retention(run, T0 + datetime.timedelta(seconds=5), None).delete
    assert not decide_retention(run, T0 + datetime.timedelta(seconds=4), None).delete


def test_the_default_is_ninety_days() -> None:
    assert DEFAULT_RETENTION_SECONDS == 90 * DAY


def test_the_operator_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOBWARDEN_RUN_RETENTION_DAYS", raising=False)
    assert OperatorConfig.from_env().run_retention_days == 90
    monkeypatch.setenv("JOBWARDEN_RUN_RETENTION_DAYS", "0.5")
    assert OperatorConfig.from_env().run_retention_days == 0.5
    for bad in ("-1", "soon"):
        monkeypatch.setenv("JOBWARDEN_RUN_RETENTION_DAYS", bad)
        with pytest.raises(ValueError, match="JOBWARDEN_RUN_RETENTION_DAYS"):
            OperatorConfig.from_env()
