"""The run lifecycle (`decide`), table-driven in the manner of the CronJob controller tests.

Inputs are built from raw API dicts (`RunView.from_body`, `PodView.from_body`); the clock
is fixed. A `Story` feeds each plan back the way the engine and the API server would:
the status is merge-patched and stored through the CRD schema, pod actions change the
pods, the kubelet's part is played by the test (`pod_starts`, `pod_exits`). Every
decision is checked against the invariants in `check_invariants` as well.

Times are seconds after T0; the runs here use timeoutSeconds 600 and the default
grace (30 s), margin (10 s), retries (3) and backoff (60 s * 2^(n-1)) unless a case says
otherwise.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from jobwarden.api import constants as c
from jobwarden.api.enums import EventReason, RunPhase
from jobwarden.api.runstatus import RunStatus
from jobwarden.core.conditions import Condition, copy_conditions, format_micro_time
from jobwarden.core.lifecycle import (
    DEFAULT_EXIT_MARGIN_SECONDS,
    POD_APPEAR_SECONDS,
    decide,
    derive_phase,
    format_duration,
    pod_name,
    position_update_due,
)
from jobwarden.core.observed import PodView, RunView, Slot
from jobwarden.core.plan import Action, CreatePod, DeletePod, Plan, ReleasePod
from tests.unit.factories import (
    ADMIT,
    RUN,
    T0,
    apply_pod_actions,
    apply_status,
    at,
    full,
    make_pod,
    make_run,
    request_cancel,
)

TIMEOUT = 600
GRACE = 30  # the default cancelGracePeriodSeconds
MARGIN = DEFAULT_EXIT_MARGIN_SECONDS
QUEUED, RUNNING, RETRYING = RunPhase.QUEUED, RunPhase.RUNNING, RunPhase.RETRYING
STARTING = RunPhase.STARTING
CANCELLING, SUCCEEDED = RunPhase.CANCELLING, RunPhase.SUCCEEDED
FAILED, CANCELLED = RunPhase.FAILED, RunPhase.CANCELLED
CAMEL_CASE = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def stamp(seconds: float) -> str:
    """How the lifecycle writes the time T0 + seconds."""
    return format_micro_time(at(seconds))


def uid(attempt: int) -> str:
    """The uid the factories give the pod of an attempt."""
    return f"pod-uid-{RUN}-{attempt}"


# -------------------------------------------------------------------- invariants
def check_invariants(run: RunView, pods: Sequence[PodView], plan: Plan) -> None:
    """What must hold for every decision, whatever the inputs."""
    names = {p.name: p for p in pods}
    for action in plan.pre_actions:
        assert not isinstance(action, ReleasePod), "a finalizer is removed only after the write"
        if isinstance(action, DeletePod):
            assert action.name in names and names[action.name].uid == action.uid
            assert action.grace_period_seconds >= 0
    for action in plan.post_actions:
        assert isinstance(action, ReleasePod), f"{action} must run before the status write"
        assert action.name in names and names[action.name].uid == action.uid
        assert names[action.name].tracked
    creates = [a for a in plan.pre_actions if isinstance(a, CreatePod)]
    assert len(creates) <= 1
    for create in creates:
        assert create.name == pod_name(run.name, create.attempt)
        assert create.name not in names, "a pod is never created twice"
        assert not run.settings.cancel, "no pod is ever created for a cancelled run"
        assert plan.holds_slot
    assert not (plan.holds_slot and plan.wants_slot)
    if run.deleting:
        assert plan.status is None and not plan.events and not plan.pre_actions
    for event in plan.events:
        assert event.type in ("Normal", "Warning")
        assert event.reason in set(EventReason)
        assert event.message
    if plan.requeue_after is not None:
        assert plan.requeue_after >= 0
    if plan.status is None:
        return

    status = plan.status
    assert status != dict(run.status), "an unchanged status is not written"
    conditions = copy_conditions(status["conditions"])
    types = [k["type"] for k in conditions]
    assert len(types) == len(set(types)), f"one condition per type: {types}"
    for condition in conditions:
        assert CAMEL_CASE.match(condition["reason"]), condition
        assert condition["status"] in ("True", "False")
        assert condition["observedGeneration"] == run.generation
    phase = RunPhase(status["phase"])
    assert derive_phase(conditions) is phase, "the phase is derived from the conditions"
    assert status["observedGeneration"] == run.generation
    assert kstatus(conditions) == {
        "Ready": phase is SUCCEEDED,
        "Reconciling": not phase.terminal,
        "Stalled": phase in (FAILED, CANCELLED),
    }
    if phase.terminal:
        assert not plan.holds_slot and not plan.wants_slot
        assert not plan.requeue_after
    assert len(status.get("log") or []) <= c.MAX_LOG_ENTRIES
    assert CAMEL_CASE.match(str(status.get("reason"))), status.get("reason")
    # The API's own model of the status accepts it (the CRD is generated from it).
    RunStatus.model_validate(_without_nulls(status))


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def kstatus(conditions: Sequence[Condition]) -> dict[str, bool]:
    wanted = ("Ready", "Reconciling", "Stalled")
    return {k["type"]: k["status"] == "True" for k in conditions if k["type"] in wanted}


# ------------------------------------------------------------------------ stories
@dataclass
class Story:
    """One run, its pods and the clock, moved on by decisions and by the world."""

    run: RunView
    pods: list[PodView] = field(default_factory=list)
    now: datetime.datetime = T0
    #: Feed plan.status back exactly as returned (no merge patch, no schema).
    verbatim: bool = field(default_factory=lambda: Story.VERBATIM)
    VERBATIM: ClassVar[bool] = False
    plans: list[Plan] = field(default_factory=list)  # every decision so far

    # -- the operator
    def decide(self, slot: Slot = ADMIT, *, when: float | None = None) -> Plan:
        if when is not None:
            self.now = at(when)
        plan = decide(self.run, self.pods, slot, self.now)
        check_invariants(self.run, self.pods, plan)
        self.run = apply_status(self.run, plan, verbatim=self.verbatim)
        self.pods = apply_pod_actions(self.pods, plan, self.now)
        self.plans.append(plan)
        return plan

    # -- the user
    def cancel(self, by: str | None = "alice", when: float | None = None) -> None:
        self.run = request_cancel(self.run, by=by, at_time=at(when) if when is not None else None)

    # -- the kubelet
    def pod(self, attempt: int | None = None) -> PodView:
        name = pod_name(RUN, attempt or self.run.attempt)
        return next(p for p in self.pods if p.name == name)

    def _replace(self, old: PodView, **kwargs: Any) -> None:
        grace = (
            int((old.deletion_deadline - old.deletion_requested).total_seconds())
            if old.deletion_deadline is not None and old.deletion_requested is not None
            else None
        )
        new = make_pod(
            old.attempt,
            uid=old.uid,
            created=old.created,
            tracked=old.tracked,
            deletion_timestamp=old.deletion_deadline,
            deletion_grace=grace,
            **kwargs,
        )
        self.pods = [new if p.name == old.name else p for p in self.pods]

    def pod_starts(self, when: float, attempt: int | None = None) -> None:
        self._replace(self.pod(attempt), phase="Running", running_since=at(when))

    def pod_exits(
        self, code: int, when: float, attempt: int | None = None, message: str | None = None
    ) -> None:
        old = self.pod(attempt)
        self._replace(
            old,
            exit_code=code,
            running_since=old.running_since,
            finished_at=at(when),
            message=message,
        )

    def pod_vanishes(self, attempt: int | None = None) -> None:
        name = self.pod(attempt).name
        self.pods = [p for p in self.pods if p.name != name]

    # -- reading
    @property
    def status(self) -> dict[str, Any]:
        return dict(self.run.status)

    @property
    def phase(self) -> str:
        return str(self.run.status.get("phase"))

    @property
    def conditions(self) -> list[Condition]:
        return copy_conditions(self.run.status.get("conditions"))

    def log(self) -> list[str]:
        return [entry["message"] for entry in self.run.status.get("log") or []]


SPEC: dict[str, Any] = {"timeoutSeconds": TIMEOUT}


def new(kind: str = c.KIND_JOB_RUN, **spec: Any) -> Story:
    """A run just created (at T0 - 5 s), never reconciled."""
    return Story(make_run(kind=kind, created=at(-5), spec={**SPEC, **spec}))


def queued(position: int = 3, **spec: Any) -> Story:
    """Waiting since T0 at `position`, the quota full."""
    story = new(**spec)
    story.decide(full(position), when=0)
    return story


def starting(started: float = 0, **spec: Any) -> Story:
    """Admitted at `started`: phase Starting, its pod created (Pending)."""
    story = new(**spec)
    story.decide(ADMIT, when=started)
    return story


def running(started: float = 0, **spec: Any) -> Story:
    """Admitted at `started`; its pod runs from `started` + 2 s, seen at once (Running)."""
    story = starting(started, **spec)
    story.pod_starts(started + 2)
    story.decide(when=started + 2)
    return story


def retrying(**spec: Any) -> Story:
    """Attempt 1 exited 1 at 100 s: Retrying, attempt 2 due at 160 s."""
    story = running(**spec)
    story.pod_exits(1, when=100)
    story.decide(when=100)
    return story


def cancelling(**spec: Any) -> Story:
    """alice cancelled at 100 s while attempt 1 ran: SIGTERM sent at 100 s."""
    story = running(**spec)
    story.cancel(when=100)
    story.decide(when=100)
    return story


def timed_out(**spec: Any) -> Story:
    """Attempt 1 ran into its timeout at 600 s: SIGTERM sent."""
    story = running(**spec)
    story.decide(when=TIMEOUT)
    return story


def succeeded(**spec: Any) -> Story:
    """Attempt 1 exited 0 at 100 s."""
    story = running(**spec)
    story.pod_exits(0, when=100)
    story.decide(when=100)
    return story


def failed(**spec: Any) -> Story:
    """retries 0; attempt 1 exited 1 at 100 s."""
    story = running(retries=0, **spec)
    story.pod_exits(1, when=100)
    story.decide(when=100)
    return story


def cancelled_while_queued(**spec: Any) -> Story:
    story = queued(**spec)
    story.cancel(when=50)
    story.decide(full(3), when=50)
    return story


def cancelled_while_running(**spec: Any) -> Story:
    story = cancelling(**spec)
    story.pod_exits(143, when=102)
    story.decide(when=102)
    return story


def cancel_timed_out(**spec: Any) -> Story:
    story = cancelling(**spec)
    story.decide(when=100 + GRACE + MARGIN)
    return story


def cancel_ignored(**spec: Any) -> Story:
    """Succeeded at 100 s; alice's cancel at 200 s was ignored."""
    story = succeeded(**spec)
    story.cancel(when=200)
    story.decide(when=200)
    return story


def waiting_after_backoff() -> Story:
    """Retrying, then the backoff elapsed with the quota full."""
    story = retrying()
    story.decide(full(1), when=160)
    return story


def adopted() -> Story:
    """Status said Queued, pod <run>-1 existed: adopted at 61 s."""
    story = queued()
    story.pods = [make_pod(1, created=at(60), running_since=at(60))]
    story.decide(ADMIT, when=61)
    return story


# --------------------------------------------------------------- one transition
@dataclass(frozen=True)
class Expect:
    """Everything one decision yields. Unset fields mean "none"."""

    phase: RunPhase | None = None  # the new status.phase; None: no status write
    pre: tuple[Action, ...] = ()
    post: tuple[Action, ...] = ()
    events: tuple[str, ...] = ()  # "Type/Reason", in order
    requeue_after: float | None = None
    holds_slot: bool = False
    wants_slot: bool = False
    status: dict[str, Any] = field(default_factory=dict)  # status fields, as stored


@dataclass(frozen=True)
class Case:
    given: Callable[[], Story]  # the story up to the decision under test
    when: float  # seconds after T0
    expect: Expect
    slot: Slot = ADMIT
    world: Callable[[Story], None] | None = None  # what changed meanwhile


def exits(code: int, when: float, message: str | None = None) -> Callable[[Story], None]:
    return lambda story: story.pod_exits(code, when=when, message=message)


def cancels(when: float, by: str | None = "alice") -> Callable[[Story], None]:
    return lambda story: story.cancel(by=by, when=when)


def exits_then_cancel(code: int) -> Callable[[Story], None]:
    """The worker exits at 98 s, alice cancels at 99 s; the operator sees both at once."""

    def world(story: Story) -> None:
        story.pod_exits(code, when=98)
        story.cancel(when=99)

    return world


def attempt_record(attempt: int, start: float, **fields: Any) -> dict[str, Any]:
    return {
        "attempt": attempt,
        "podName": pod_name(RUN, attempt),
        "startTime": stamp(start),
        **fields,
    }


TRANSITIONS = [
    # ------------------------------------------------------------------ admission
    pytest.param(
        Case(new, 0, Expect(
            phase=STARTING, pre=(CreatePod("nightly-1", 1),),
            events=("Normal/Started",),
            requeue_after=TIMEOUT, holds_slot=True,
            status={"attempt": 1, "attempts": [attempt_record(1, 0)], "startTime": stamp(0),
                    "reason": "PodCreating", "message": "creating pod nightly-1"},
        )),
        id="new run, slot free: admitted, pod <run>-1 created",
    ),
    pytest.param(
        Case(new, 0, Expect(
            phase=QUEUED, events=("Normal/Queued",), wants_slot=True,
            status={"attempt": 0, "reason": "QuotaExhausted",
                    "queue": {"position": 3, "reason": "QuotaExhausted",
                              "message": "quota of 10 reached", "since": stamp(0),
                              "positionTime": stamp(0)}},
        ), slot=full(3)),
        id="new run, quota full: Queued at position 3",
    ),
    pytest.param(
        Case(queued, 30, Expect(wants_slot=True), slot=full(3)),
        id="queued, nothing moved: no write, no second Queued event",
    ),
    pytest.param(
        Case(queued, 30, Expect(
            phase=QUEUED, wants_slot=True,
            status={"queue": {"position": 2, "reason": "QuotaExhausted",
                              "message": "quota of 10 reached", "since": stamp(0),
                              "positionTime": stamp(30)}},
        ), slot=full(2)),
        id="queued, moved up: position written, no event",
    ),
    pytest.param(
        Case(queued, 4, Expect(wants_slot=True, requeue_after=26.0), slot=full(2)),
        id="queued, moved up 4 s after its position was written: refreshed at 30 s",
    ),
    pytest.param(
        Case(queued, 60, Expect(
            phase=STARTING, pre=(CreatePod("nightly-1", 1),),
            events=("Normal/Started",), requeue_after=TIMEOUT,
            holds_slot=True, status={"attempts": [attempt_record(1, 60)], "startTime": stamp(60)},
        )),
        id="queued, slot frees: admitted",
    ),
    # -------------------------------------------------------------------- running
    pytest.param(
        Case(running, 300, Expect(requeue_after=TIMEOUT - 300, holds_slot=True)),
        id="running before the timeout: wait for it",
    ),
    pytest.param(
        Case(running, TIMEOUT, Expect(
            phase=RUNNING, pre=(DeletePod("nightly-1", uid(1), GRACE),),
            events=("Warning/DeadlineExceeded",), requeue_after=GRACE + MARGIN,
            holds_slot=True,
            status={"attempts": [attempt_record(1, 0, reason="DeadlineExceeded")]},
        )),
        id="running at the timeout: SIGTERM with the grace period, DeadlineExceeded",
    ),
    pytest.param(
        Case(timed_out, TIMEOUT + 5, Expect(requeue_after=GRACE + MARGIN - 5, holds_slot=True)),
        id="timed out, pod still terminating: wait for its exit",
    ),
    pytest.param(
        Case(timed_out, TIMEOUT + 5, Expect(
            phase=RETRYING, post=(ReleasePod("nightly-1", uid(1)),),
            events=("Warning/Retrying",), requeue_after=60,
            status={"reason": "DeadlineExceeded", "nextAttemptTime": stamp(TIMEOUT + 65),
                    "attempts": [attempt_record(1, 0, reason="DeadlineExceeded",
                                                finishTime=stamp(TIMEOUT + 5), exitCode=143)]},
        ), world=exits(143, TIMEOUT + 5)),
        id="timed out, worker exits 143: Retrying (a timeout is a failed attempt)",
    ),
    pytest.param(
        Case(timed_out, TIMEOUT + GRACE + MARGIN, Expect(
            phase=RETRYING, pre=(DeletePod("nightly-1", uid(1), 0),),
            post=(ReleasePod("nightly-1", uid(1)),), events=("Warning/Retrying",),
            requeue_after=60,
            status={"reason": "DeadlineExceeded",
                    "attempts": [attempt_record(1, 0, reason="DeadlineExceeded",
                                                finishTime=stamp(TIMEOUT + GRACE + MARGIN))]},
        )),
        id="timed out, no exit within grace + margin: force-deleted, Retrying",
    ),
    pytest.param(
        Case(lambda: timed_out(retries=0), TIMEOUT + 5, Expect(
            phase=FAILED, post=(ReleasePod("nightly-1", uid(1)),), events=("Warning/Failed",),
            status={"reason": "DeadlineExceeded", "completionTime": stamp(TIMEOUT + 5),
                    "duration": "10m05s"},
        ), world=exits(143, TIMEOUT + 5)),
        id="timeout on the last attempt: Failed DeadlineExceeded",
    ),
    pytest.param(
        Case(running, 100, Expect(
            phase=SUCCEEDED, post=(ReleasePod("nightly-1", uid(1)),),
            events=("Normal/Succeeded",),
            status={"reason": "Succeeded", "completionTime": stamp(100), "duration": "1m40s",
                    "attempts": [attempt_record(1, 0, finishTime=stamp(100), exitCode=0,
                                                reason="Completed", message="42 rows")]},
        ), world=exits(0, 100, message="42 rows\n")),
        id="exit 0: Succeeded, termination message kept, finalizer released after the write",
    ),
    pytest.param(
        Case(running, 100, Expect(
            phase=RETRYING, post=(ReleasePod("nightly-1", uid(1)),),
            events=("Warning/Retrying",), requeue_after=60,
            status={"reason": "Error", "message": "attempt 1 exited with code 1",
                    "nextAttemptTime": stamp(160),
                    "attempts": [attempt_record(1, 0, finishTime=stamp(100), exitCode=1,
                                                reason="Error")]},
        ), world=exits(1, 100)),
        id="exit 1, retries left: Retrying after 60 s, no pod created or deleted",
    ),
    pytest.param(
        Case(lambda: running(retryBackoff={"initialSeconds": 7, "factor": 3, "maxSeconds": 100}),
             100, Expect(
            phase=RETRYING, post=(ReleasePod("nightly-1", uid(1)),),
            events=("Warning/Retrying",), requeue_after=7, status={"nextAttemptTime": stamp(107)},
        ), world=exits(2, 100)),
        id="exit 2 with a custom backoff: next attempt after its initial delay",
    ),
    pytest.param(
        Case(lambda: running(retries=0), 100, Expect(
            phase=FAILED, post=(ReleasePod("nightly-1", uid(1)),), events=("Warning/Failed",),
            status={"reason": "RetriesExhausted", "nextAttemptTime": None},
        ), world=exits(1, 100)),
        id="exit 1, retries 0: Failed RetriesExhausted",
    ),
    # ------------------------------------------------------------------- retrying
    pytest.param(
        Case(retrying, 130, Expect(requeue_after=30)),
        id="retrying, backoff not elapsed: wait, no pod, no write",
    ),
    pytest.param(
        Case(retrying, 160, Expect(
            phase=STARTING, pre=(CreatePod("nightly-2", 2),),
            events=("Normal/Started",), requeue_after=TIMEOUT,
            holds_slot=True, status={"attempt": 2, "reason": "PodCreating", "startTime": stamp(0)},
        )),
        id="retrying, backoff elapsed, slot free: attempt 2 on pod <run>-2",
    ),
    pytest.param(
        Case(retrying, 160, Expect(
            phase=QUEUED, events=("Normal/Queued",), wants_slot=True,
            status={"queue": {"position": 1, "reason": "QuotaExhausted",
                              "message": "quota of 10 reached", "since": stamp(160),
                              "positionTime": stamp(160)}},
        ), slot=full(1)),
        id="retrying, backoff elapsed, quota full: Queued for attempt 2",
    ),
    # --------------------------------------------------------------------- cancel
    pytest.param(
        Case(queued, 50, Expect(
            phase=CANCELLED, events=("Normal/CancelRequested", "Normal/Cancelled"),
            status={"reason": "Cancelled", "completionTime": stamp(50),
                    "cancellation": {"requestedBy": "alice", "requestedAt": stamp(50),
                                     "finishedAt": stamp(50), "outcome": "Cancelled"}},
        ), slot=full(3), world=cancels(50)),
        id="cancel while Queued: Cancelled at once",
    ),
    pytest.param(
        Case(queued, 50, Expect(
            phase=CANCELLED, events=("Normal/CancelRequested", "Normal/Cancelled"),
        ), slot=ADMIT, world=cancels(50)),
        id="cancel while Queued, a slot just freed: still no pod",
    ),
    pytest.param(
        Case(queued, 50, Expect(
            phase=CANCELLED, events=("Normal/CancelRequested", "Normal/Cancelled"),
            status={"cancellation": {"requestedBy": "unknown", "requestedAt": stamp(50),
                                     "finishedAt": stamp(50), "outcome": "Cancelled"}},
        ), slot=full(3), world=cancels(50, by=None)),
        id="cancel without the webhook's annotation: requestedBy unknown",
    ),
    pytest.param(
        Case(new, 0, Expect(
            phase=CANCELLED, events=("Normal/CancelRequested", "Normal/Cancelled"),
        ), slot=ADMIT, world=cancels(-1)),
        id="created with cancel true: Cancelled, never admitted",
    ),
    pytest.param(
        Case(retrying, 130, Expect(
            phase=CANCELLED, events=("Normal/CancelRequested", "Normal/Cancelled"),
            status={"reason": "Cancelled", "nextAttemptTime": None,
                    "cancellation": {"requestedBy": "alice", "requestedAt": stamp(130),
                                     "finishedAt": stamp(130), "outcome": "Cancelled"}},
        ), world=cancels(130)),
        id="cancel while Retrying: Cancelled, no attempt 2",
    ),
    pytest.param(
        Case(retrying, 500, Expect(
            phase=CANCELLED, events=("Normal/CancelRequested", "Normal/Cancelled"),
        ), world=cancels(500)),
        id="cancel after the backoff elapsed, slot free: Cancelled, no attempt 2",
    ),
    pytest.param(
        Case(lambda: running(cancelGracePeriodSeconds=20), 100, Expect(
            phase=CANCELLING, pre=(DeletePod("nightly-1", uid(1), 20),),
            events=("Normal/CancelRequested",), requeue_after=20 + MARGIN, holds_slot=True,
            status={"cancellation": {"requestedBy": "alice", "requestedAt": stamp(100),
                                     "signalledAt": stamp(100), "gracePeriodSeconds": 20,
                                     "outcome": "Pending"}},
        ), world=cancels(100)),
        id="cancel while Running: Cancelling, pod deleted with the run's grace period",
    ),
    pytest.param(
        Case(cancelling, 110, Expect(requeue_after=GRACE + MARGIN - 10, holds_slot=True)),
        id="cancelling, within the grace period: wait",
    ),
    pytest.param(
        Case(cancelling, 102, Expect(
            phase=CANCELLED, post=(ReleasePod("nightly-1", uid(1)),),
            events=("Normal/Cancelled",),
            status={"reason": "Cancelled",
                    "attempts": [attempt_record(1, 0, finishTime=stamp(102), exitCode=143,
                                                reason="Cancelled")],
                    "cancellation": {"requestedBy": "alice", "requestedAt": stamp(100),
                                     "signalledAt": stamp(100), "gracePeriodSeconds": GRACE,
                                     "finishedAt": stamp(102), "outcome": "Cancelled"}},
        ), world=exits(143, 102)),
        id="cancelling, exit 143: Cancelled, exit code kept",
    ),
    pytest.param(
        Case(cancelling, 102, Expect(
            phase=CANCELLED, post=(ReleasePod("nightly-1", uid(1)),),
            events=("Normal/Cancelled",), status={"reason": "Cancelled"},
        ), world=exits(3, 102)),
        id="cancelling, exit 3 within grace: Cancelled (not retried)",
    ),
    pytest.param(
        Case(cancelling, 102, Expect(
            phase=SUCCEEDED, post=(ReleasePod("nightly-1", uid(1)),),
            events=("Normal/Succeeded",),
            status={"reason": "Succeeded",
                    "attempts": [attempt_record(1, 0, finishTime=stamp(102), exitCode=0,
                                                reason="Completed")]},
        ), world=exits(0, 102)),
        id="cancelling, exit 0: Succeeded, it finished before it honoured the cancel",
    ),
    pytest.param(
        Case(cancelling, 100 + GRACE, Expect(
            phase=FAILED, post=(ReleasePod("nightly-1", uid(1)),),
            events=("Warning/CancelTimeout",),
            status={"reason": "CancelTimeout",
                    "attempts": [attempt_record(1, 0, finishTime=stamp(100 + GRACE),
                                                exitCode=137, reason="CancelTimeout")]},
        ), world=exits(137, 100 + GRACE)),
        id="cancelling, killed at the end of grace (137): Failed CancelTimeout",
    ),
    pytest.param(
        Case(cancelling, 100 + GRACE + MARGIN, Expect(
            phase=FAILED, pre=(DeletePod("nightly-1", uid(1), 0),),
            post=(ReleasePod("nightly-1", uid(1)),), events=("Warning/CancelTimeout",),
            status={"reason": "CancelTimeout",
                    "attempts": [attempt_record(1, 0, finishTime=stamp(100 + GRACE + MARGIN),
                                                reason="CancelTimeout")]},
        )),
        id="cancelling, no exit by grace + margin: force-deleted, Failed CancelTimeout",
    ),
    pytest.param(
        Case(running, 100, Expect(
            phase=SUCCEEDED, post=(ReleasePod("nightly-1", uid(1)),),
            events=("Normal/CancelRequested", "Normal/Succeeded"),
            status={"cancellation": {"requestedBy": "alice", "requestedAt": stamp(99),
                                     "finishedAt": stamp(100), "outcome": "Succeeded"}},
        ), world=exits_then_cancel(0)),
        id="cancel seen together with an exit 0: Succeeded, outcome Succeeded",
    ),
    pytest.param(
        Case(running, 100, Expect(
            phase=CANCELLED, post=(ReleasePod("nightly-1", uid(1)),),
            events=("Normal/CancelRequested", "Normal/Cancelled"),
            status={"attempts": [attempt_record(1, 0, finishTime=stamp(100), exitCode=1,
                                                reason="Cancelled")]},
        ), world=exits_then_cancel(1)),
        id="cancel seen together with an exit 1: Cancelled, not retried",
    ),
    pytest.param(
        Case(timed_out, TIMEOUT + 5, Expect(
            phase=CANCELLING, events=("Normal/CancelRequested",),
            requeue_after=GRACE + MARGIN, holds_slot=True,
            status={"cancellation": {"requestedBy": "alice", "requestedAt": stamp(TIMEOUT + 5),
                                     "signalledAt": stamp(TIMEOUT + 5),
                                     "gracePeriodSeconds": GRACE, "outcome": "Pending"}},
        ), world=cancels(TIMEOUT + 5)),
        id="cancel while a timed-out pod terminates: Cancelling, no second delete",
    ),
    # --------------------------------------------------------- cancel on terminal
    pytest.param(
        Case(succeeded, 200, Expect(
            phase=SUCCEEDED, events=("Warning/CancelIgnored",),
            status={"reason": "Succeeded",
                    "cancellation": {"requestedBy": "alice", "requestedAt": stamp(200),
                                     "finishedAt": stamp(200), "outcome": "Ignored"}},
        ), world=cancels(200)),
        id="cancel on a Succeeded run: ignored, recorded, CancelIgnored",
    ),
    pytest.param(
        Case(failed, 200, Expect(
            phase=FAILED, events=("Warning/CancelIgnored",),
            status={"reason": "RetriesExhausted",
                    "cancellation": {"requestedBy": "alice", "requestedAt": stamp(200),
                                     "finishedAt": stamp(200), "outcome": "Ignored"}},
        ), world=cancels(200)),
        id="cancel on a Failed run: ignored",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", TRANSITIONS)
def test_transition(case: Case) -> None:
    story = case.given()
    if case.world is not None:
        case.world(story)
    before = story.status
    plan = story.decide(case.slot, when=case.when)
    expect = case.expect

    assert plan.pre_actions == list(expect.pre)
    assert plan.post_actions == list(expect.post)
    assert [f"{e.type}/{e.reason}" for e in plan.events] == list(expect.events)
    assert plan.requeue_after == (
        pytest.approx(expect.requeue_after) if expect.requeue_after is not None else None
    )
    assert plan.holds_slot is expect.holds_slot
    assert plan.wants_slot is expect.wants_slot
    if expect.phase is None:
        assert plan.status is None
        assert story.status == before
        return
    assert plan.status is not None
    assert story.phase == expect.phase
    for key, value in expect.status.items():
        assert story.status.get(key) == value, key


# ----------------------------------------------------------------- steady states
STEADY: list[Any] = [
    pytest.param(queued, full(3), id="Queued"),
    pytest.param(running, ADMIT, id="Running"),
    pytest.param(timed_out, ADMIT, id="Running, timed out, SIGTERM sent"),
    pytest.param(retrying, ADMIT, id="Retrying, in backoff"),
    pytest.param(cancelling, ADMIT, id="Cancelling"),
    pytest.param(succeeded, ADMIT, id="Succeeded"),
    pytest.param(failed, ADMIT, id="Failed"),
    pytest.param(cancelled_while_queued, full(3), id="Cancelled while queued"),
    pytest.param(cancelled_while_running, ADMIT, id="Cancelled while running"),
    pytest.param(cancel_timed_out, ADMIT, id="Failed CancelTimeout"),
    pytest.param(cancel_ignored, ADMIT, id="Succeeded, cancel ignored"),
    pytest.param(waiting_after_backoff, full(1), id="Queued for attempt 2"),
    pytest.param(adopted, ADMIT, id="Running on an adopted pod"),
]


@pytest.mark.parametrize("mode", ["stored", "verbatim"])
@pytest.mark.parametrize(("builder", "slot"), STEADY)
def test_steady_state_writes_nothing(
    builder: Callable[[], Story], slot: Slot, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feeding a plan's status back with the same observations: no write, no action,
    no Event, no audit record (the reconcile loop settles). "stored": as the API
    server returns it after the merge patch; "verbatim": exactly as `decide` returned it."""
    monkeypatch.setattr(Story, "VERBATIM", mode == "verbatim")
    story = builder()
    plan = story.decide(slot)
    assert plan.status is None
    assert plan.pre_actions == [] and plan.post_actions == []
    assert plan.events == [] and plan.audit == []


@pytest.mark.parametrize(
    ("builder", "slot", "later"),
    [
        pytest.param(queued, full(3), 3000, id="Queued"),
        pytest.param(running, ADMIT, TIMEOUT - 3, id="Running"),  # running() ends at 2 s
        pytest.param(retrying, ADMIT, 59, id="Retrying"),
        pytest.param(cancelling, ADMIT, GRACE + MARGIN - 1, id="Cancelling"),
        pytest.param(timed_out, ADMIT, GRACE + MARGIN - 1, id="timed out"),
        pytest.param(succeeded, ADMIT, 86400, id="Succeeded"),
        pytest.param(cancelled_while_running, ADMIT, 86400, id="Cancelled"),
    ],
)
def test_time_passing_without_news_writes_nothing(
    builder: Callable[[], Story], slot: Slot, later: float
) -> None:
    story = builder()
    story.now += datetime.timedelta(seconds=later)
    plan = story.decide(slot)
    assert plan.status is None and not plan.events and not plan.pre_actions


# ------------------------------------------------------------------------ stories
def test_story_queued_then_admitted() -> None:
    story = new()
    plan = story.decide(full(3), when=0)
    assert [e.reason for e in plan.events] == ["Queued"]
    assert story.log() == ["queued (position 3: quota of 10 reached)"]
    assert story.status["message"] == "quota of 10 reached"

    # (time, actual position, shown position, wake-up): shown positions are refreshed
    # at most every 30 s; a skipped refresh asks to be woken when it is due.
    for when, actual, shown, wake in (
        (10, 3, 3, None),
        (20, 2, 3, 10.0),
        (30, 2, 2, None),
        (40, 1, 2, 20.0),
        (60, 1, 1, None),
    ):
        plan = story.decide(full(actual), when=when)
        assert plan.events == [], "Queued is emitted once"
        assert story.status["queue"]["position"] == shown, when
        assert story.status["queue"]["since"] == stamp(0)
        assert plan.requeue_after == wake, when

    plan = story.decide(ADMIT, when=70)
    assert plan.pre_actions == [CreatePod("nightly-1", 1)]
    assert "queue" not in story.status
    assert story.phase == STARTING
    assert story.log()[-1] == "attempt 1 started on pod nightly-1 (quota 1/10 running)"
    assert [(a.action, a.outcome) for a in plan.audit] == [("admitted", "started")]


def test_story_retries_with_backoff_then_success() -> None:
    """Exit codes 1, 1, 0: Succeeded on attempt 3 after 60 s and 120 s of backoff."""
    story = running()
    story.pod_exits(1, when=100)
    story.decide(when=100)
    assert story.status["nextAttemptTime"] == stamp(160)

    plan = story.decide(when=159)
    assert plan.requeue_after == pytest.approx(1) and plan.pre_actions == []
    plan = story.decide(when=160)
    assert plan.pre_actions == [CreatePod("nightly-2", 2)]
    story.pod_starts(162)
    story.pod_exits(1, when=200)
    plan = story.decide(when=200)
    assert story.phase == RETRYING
    assert story.status["nextAttemptTime"] == stamp(320)
    assert plan.requeue_after == pytest.approx(120)
    assert plan.post_actions == [ReleasePod("nightly-2", uid(2))]

    plan = story.decide(when=320)
    assert plan.pre_actions == [CreatePod("nightly-3", 3)]
    story.pod_starts(321)
    story.pod_exits(0, when=400)
    plan = story.decide(when=400)

    assert story.phase == SUCCEEDED
    assert [
        (a["attempt"], a.get("exitCode"), a.get("reason")) for a in story.status["attempts"]
    ] == [
        (1, 1, "Error"),
        (2, 1, "Error"),
        (3, 0, "Completed"),
    ]
    assert [a["podName"] for a in story.status["attempts"]] == [
        "nightly-1",
        "nightly-2",
        "nightly-3",
    ]
    assert story.status["startTime"] == stamp(0)
    assert story.status["duration"] == "6m40s"
    assert "nextAttemptTime" not in story.status
    # The backoff delays can be measured from the status timestamps.
    attempts = story.status["attempts"]
    gaps = [
        (datetime.datetime.fromisoformat(attempts[i + 1]["startTime"])
         - datetime.datetime.fromisoformat(attempts[i]["finishTime"])).total_seconds()
        for i in range(2)
    ]  # fmt: skip
    assert gaps == [60, 120]


def test_story_retries_exhausted() -> None:
    story = running(retries=2)
    moments = [(100, 160), (200, 320), (400, None)]
    for attempt, (fails_at, next_at) in enumerate(moments, start=1):
        story.pod_exits(1, when=fails_at)
        plan = story.decide(when=fails_at)
        if next_at is None:
            break
        assert story.phase == RETRYING
        assert story.decide(when=next_at).pre_actions == [
            CreatePod(f"nightly-{attempt + 1}", attempt + 1)
        ]
        story.pod_starts(next_at + 1)
    assert story.phase == FAILED
    assert story.status["reason"] == "RetriesExhausted"
    assert story.status["attempt"] == 3
    assert [e.reason for e in plan.events] == ["Failed"]
    finished = next(k for k in story.conditions if k["type"] == "Finished")
    assert (finished["status"], finished["reason"]) == ("True", "RetriesExhausted")
    stalled = next(k for k in story.conditions if k["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "RetriesExhausted")


def test_story_timeout_then_retry_then_timeout_on_the_last_attempt() -> None:
    story = running(retries=1)
    plan = story.decide(when=TIMEOUT)
    assert plan.pre_actions == [DeletePod("nightly-1", uid(1), GRACE)]
    assert story.log()[-1] == "attempt 1 ran longer than 600s; SIGTERM sent to pod nightly-1"
    story.pod_exits(143, when=TIMEOUT + 3)
    story.decide(when=TIMEOUT + 3)
    assert story.phase == RETRYING
    assert story.status["reason"] == "DeadlineExceeded"

    story.decide(when=TIMEOUT + 63)
    story.pod_starts(TIMEOUT + 64)
    plan = story.decide(when=TIMEOUT + 63 + TIMEOUT)
    assert plan.pre_actions == [DeletePod("nightly-2", uid(2), GRACE)]
    assert [e.reason for e in plan.events] == ["DeadlineExceeded"]
    story.pod_exits(143, when=2 * TIMEOUT + 70)
    plan = story.decide(when=2 * TIMEOUT + 70)
    assert story.phase == FAILED
    assert story.status["reason"] == "DeadlineExceeded"
    assert [e.reason for e in plan.events] == ["Failed"]


def test_story_cancel_while_queued_never_creates_a_pod() -> None:
    story = queued()
    story.cancel(when=50)
    creates: list[Action] = []
    for when, slot in ((50, full(3)), (51, ADMIT), (52, ADMIT), (3600, ADMIT)):
        plan = story.decide(slot, when=when)
        creates += [a for a in plan.pre_actions if isinstance(a, CreatePod)]
    assert creates == []
    assert story.phase == CANCELLED
    assert story.pods == []
    assert story.log()[-2:] == [
        "cancel requested by alice",
        "cancelled after 0ms (no worker was running)",
    ]


def test_story_cancel_while_running_exits_cleanly() -> None:
    story = running(cancelGracePeriodSeconds=20)
    story.cancel(when=100)
    plan = story.decide(when=100.5)
    assert story.phase == CANCELLING
    assert plan.pre_actions == [DeletePod("nightly-1", uid(1), 20)]
    assert [(a.action, a.outcome, a.user) for a in plan.audit] == [
        ("cancel-requested", "accepted", "alice")
    ]
    assert story.pod().deletion_requested == at(100.5)

    story.pod_exits(143, when=102.6)
    plan = story.decide(when=102.6)
    assert story.phase == CANCELLED
    assert story.status["cancellation"] == {
        "requestedBy": "alice",
        "requestedAt": stamp(100),
        "signalledAt": stamp(100.5),
        "gracePeriodSeconds": 20,
        "finishedAt": stamp(102.6),
        "outcome": "Cancelled",
    }
    assert story.status["attempts"][0]["exitCode"] == 143
    assert story.log()[-1] == "cancelled after 2.6s (worker exited with code 143)"
    assert [(a.action, a.outcome) for a in plan.audit] == [("cancel-finished", "Cancelled")]
    assert story.status["message"] == "cancelled by alice (exit code 143)"


def test_story_cancel_times_out() -> None:
    story = cancelling()
    plan = story.decide(when=100 + GRACE + MARGIN - 0.5)
    assert plan.status is None and plan.requeue_after == pytest.approx(0.5)
    plan = story.decide(when=100 + GRACE + MARGIN)
    assert story.phase == FAILED
    assert story.status["reason"] == "CancelTimeout"
    assert any("cancellation attempt timed out" in line for line in story.log())
    assert story.status["cancellation"]["outcome"] == "CancelTimeout"
    assert plan.pre_actions == [DeletePod("nightly-1", uid(1), 0)]
    assert plan.post_actions == [ReleasePod("nightly-1", uid(1))]


def test_story_worker_killed_at_the_end_of_grace() -> None:
    story = cancelling()
    story.pod_exits(137, when=100 + GRACE)
    plan = story.decide(when=100 + GRACE)
    assert story.phase == FAILED
    assert story.status["reason"] == "CancelTimeout"
    assert story.status["cancellation"]["outcome"] == "CancelTimeout"
    assert story.status["attempts"][0]["exitCode"] == 137
    assert "cancellation attempt timed out" in story.log()[-1]
    assert "cancellation attempt timed out" in story.status["message"]
    assert plan.pre_actions == [], "the pod already exited: nothing to force"
    assert [e.type for e in plan.events] == ["Warning"]


def test_story_cancel_on_a_succeeded_run_changes_nothing_else() -> None:
    story = succeeded()
    before = story.status
    story.cancel(when=200)
    plan = story.decide(when=200)
    after = story.status
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", "CancelIgnored")]
    assert plan.events[0].message == "not in a cancellable state: Succeeded"
    assert after["cancellation"]["outcome"] == "Ignored"
    assert after["log"][:-1] == before["log"]
    assert after["log"][-1]["message"] == (
        "cancel requested by alice ignored: the run had already succeeded"
    )
    unchanged = {k: v for k, v in after.items() if k not in ("cancellation", "log")}
    before_rest = {k: v for k, v in before.items() if k not in ("cancellation", "log")}
    # Only the generation the conditions were observed at moves with the spec.
    assert _strip_generation(unchanged) == _strip_generation(before_rest)
    assert not plan.pre_actions and not plan.post_actions

    again = story.decide(when=300)
    assert again.status is None and again.events == [] and again.audit == []


def _strip_generation(status: dict[str, Any]) -> dict[str, Any]:
    result = {k: v for k, v in status.items() if k != "observedGeneration"}
    result["conditions"] = [
        {k: v for k, v in cond.items() if k != "observedGeneration"}
        for cond in status.get("conditions") or []
    ]
    return result


def test_cancel_requested_at_comes_from_the_annotation() -> None:
    story = queued()
    story.cancel(when=42.0)  # stamped by the webhook at 42 s
    story.decide(full(3), when=45)  # seen by the operator at 45 s
    record = story.status["cancellation"]
    assert record["requestedAt"] == stamp(42)
    assert record["finishedAt"] == stamp(45)


def test_cancel_reason_comes_from_the_annotation() -> None:
    story = queued()
    story.run = request_cancel(story.run, by="bob", reason="wrong parameters")
    story.decide(full(3), when=45)
    assert story.status["cancellation"]["reason"] == "wrong parameters"
    assert story.status["cancellation"]["requestedBy"] == "bob"


def test_cancel_generation_is_observed() -> None:
    story = running()
    story.cancel(when=100)
    assert story.run.generation == 2
    story.decide(when=100)
    assert story.status["observedGeneration"] == 2
    assert {k["observedGeneration"] for k in story.conditions} == {2}


# ------------------------------------------------------------------ crash safety
def test_crash_after_pod_creation_adopts_the_pod() -> None:
    """Status still says Queued, but pod <run>-1 exists: the operator died between
    creating it and writing the status."""
    story = queued()
    story.pods = [make_pod(1, created=at(60), phase="Pending")]
    plan = story.decide(ADMIT, when=61)
    assert plan.pre_actions == []
    assert story.phase == STARTING  # its container has not started yet
    assert story.status["attempt"] == 1
    assert story.status["attempts"] == [attempt_record(1, 60)]
    assert "queue" not in story.status
    assert plan.holds_slot
    # and it settles
    assert story.decide(ADMIT, when=62).status is None


def test_crash_after_pod_creation_then_exit() -> None:
    story = new()
    story.pods = [make_pod(1, created=at(1), exit_code=0, finished_at=at(20))]
    plan = story.decide(full(1), when=30)
    assert plan.pre_actions == []
    assert plan.post_actions == [ReleasePod("nightly-1", uid(1))]
    assert story.phase == SUCCEEDED


def test_crash_after_creating_the_next_attempt_adopts_it() -> None:
    story = retrying()
    story.pods.append(make_pod(2, created=at(160), phase="Pending"))
    plan = story.decide(ADMIT, when=165)
    assert plan.pre_actions == []
    assert story.phase == STARTING
    assert story.status["attempt"] == 2
    assert "nextAttemptTime" not in story.status
    assert [a["podName"] for a in story.status["attempts"]] == ["nightly-1", "nightly-2"]


def test_crash_with_a_cancel_and_an_unrecorded_pod_signals_it() -> None:
    story = queued()
    story.pods = [make_pod(1, created=at(60), running_since=at(61))]
    story.cancel(when=62)
    plan = story.decide(ADMIT, when=63)
    assert story.phase == CANCELLING
    assert plan.pre_actions == [DeletePod("nightly-1", uid(1), GRACE)]


def test_crash_mid_cancel_pod_already_deleting() -> None:
    """The pod was deleted but the status write (signalledAt) was lost."""
    story = running()
    story.cancel(when=100)
    story.pods = [
        dataclasses.replace(
            story.pod(1), deletion_requested=at(100), deletion_deadline=at(100 + GRACE)
        )
    ]
    plan = story.decide(when=101)
    assert plan.pre_actions == [], "no second delete"
    assert story.phase == CANCELLING
    assert story.status["cancellation"]["signalledAt"] == stamp(101)


def test_restart_long_after_a_cancel_times_out_at_once() -> None:
    story = cancelling()
    plan = story.decide(when=3600)
    assert story.phase == FAILED
    assert story.status["reason"] == "CancelTimeout"
    assert plan.pre_actions == [DeletePod("nightly-1", uid(1), 0)]


def test_pod_missing_shortly_after_creation_waits() -> None:
    story = new()
    story.decide(ADMIT, when=0)
    story.pods = []  # the watch has not shown our pod yet
    plan = story.decide(ADMIT, when=POD_APPEAR_SECONDS - 1)
    assert plan.status is None
    assert plan.pre_actions == [], "never created twice"
    assert plan.requeue_after == pytest.approx(1.0)
    assert plan.holds_slot


@pytest.mark.parametrize(
    ("retries", "phase", "events"),
    [
        pytest.param(3, RETRYING, ["Retrying"], id="retries left: retried"),
        pytest.param(0, FAILED, ["Failed"], id="no retries: Failed"),
    ],
)
def test_pod_missing_long_after_creation_is_lost(
    retries: int, phase: RunPhase, events: list[str]
) -> None:
    story = new(retries=retries)
    story.decide(ADMIT, when=0)
    story.pods = []
    plan = story.decide(ADMIT, when=POD_APPEAR_SECONDS)
    assert story.phase == phase
    assert story.status["reason"] == "PodLost"
    assert story.status["attempts"][0]["reason"] == "PodLost"
    assert plan.pre_actions == [] and plan.post_actions == []
    assert [e.reason for e in plan.events] == events
    assert not plan.holds_slot


def test_status_write_lost_after_success_releases_the_pod_again() -> None:
    story = succeeded()
    story.pods = [dataclasses.replace(p, tracked=True) for p in story.pods]
    plan = story.decide(when=200)
    assert plan.status is None
    assert plan.post_actions == [ReleasePod("nightly-1", uid(1))]


def test_terminal_run_with_a_live_pod_deletes_it() -> None:
    story = succeeded()
    story.pods.append(make_pod(2, created=at(150), running_since=at(151)))
    plan = story.decide(when=200)
    assert plan.pre_actions == [DeletePod("nightly-2", uid(2), GRACE)]
    assert plan.status is None


@pytest.mark.parametrize(
    "builder",
    [pytest.param(running, id="running"), pytest.param(succeeded, id="succeeded"),
     pytest.param(cancelling, id="cancelling"), pytest.param(queued, id="queued")],
)  # fmt: skip
def test_deleting_run_releases_tracked_pods(builder: Callable[[], Story]) -> None:
    story = builder()
    story.pods = [dataclasses.replace(p, tracked=True) for p in story.pods]
    story.run = dataclasses.replace(story.run, deleting=True)
    plan = decide(story.run, story.pods, ADMIT, at(3600))
    check_invariants(story.run, story.pods, plan)
    assert plan.post_actions == [ReleasePod(p.name, p.uid) for p in story.pods]
    assert plan.status is None and plan.pre_actions == [] and plan.events == []
    assert not plan.holds_slot and not plan.wants_slot


# --------------------------------------------------------------- phase, kstatus
def cond(type_: str, status: bool, reason: str) -> Condition:
    return Condition(
        type=type_,
        status="True" if status else "False",
        reason=reason,
        message="",
        lastTransitionTime="2025-03-01T12:00:00Z",
        observedGeneration=1,
    )


@pytest.mark.parametrize(
    ("conditions", "phase"),
    [
        pytest.param([], QUEUED, id="none: Queued"),
        pytest.param([cond("Admitted", False, "QuotaExhausted")], QUEUED, id="waiting"),
        pytest.param([cond("Admitted", True, "Admitted")], RUNNING, id="admitted"),
        pytest.param([cond("Admitted", False, "Backoff")], RETRYING, id="backoff"),
        pytest.param([cond("Admitted", True, "Admitted"), cond("CancelRequested", True,
                      "CancelRequested")], CANCELLING, id="cancel requested"),
        pytest.param([cond("CancelRequested", False, "NotRequested"),
                      cond("Admitted", True, "Admitted")], RUNNING, id="cancel not requested"),
        pytest.param([cond("Finished", True, "Succeeded")], SUCCEEDED, id="succeeded"),
        pytest.param([cond("Finished", True, "Cancelled"),
                      cond("CancelRequested", True, "CancelRequested")], CANCELLED,
                     id="cancelled wins over cancel requested"),
        pytest.param([cond("Finished", True, "CancelTimeout")], FAILED, id="cancel timeout"),
        pytest.param([cond("Finished", True, "DeadlineExceeded")], FAILED, id="deadline"),
        pytest.param([cond("Finished", True, "RetriesExhausted")], FAILED, id="retries"),
        pytest.param([cond("Finished", True, "PodLost")], FAILED, id="pod lost"),
        pytest.param([cond("Finished", False, "InProgress"), cond("Admitted", True,
                      "Admitted")], RUNNING, id="finished false"),
    ],
)  # fmt: skip
def test_derive_phase(conditions: list[Condition], phase: RunPhase) -> None:
    assert derive_phase(conditions) is phase


KSTATUS_STATES: list[Any] = [
    pytest.param(queued, QUEUED, id="Queued"),
    pytest.param(running, RUNNING, id="Running"),
    pytest.param(retrying, RETRYING, id="Retrying"),
    pytest.param(cancelling, CANCELLING, id="Cancelling"),
    pytest.param(succeeded, SUCCEEDED, id="Succeeded"),
    pytest.param(failed, FAILED, id="Failed"),
    pytest.param(cancelled_while_running, CANCELLED, id="Cancelled"),
    pytest.param(cancel_timed_out, FAILED, id="Failed CancelTimeout"),
]


@pytest.mark.parametrize(("builder", "phase"), KSTATUS_STATES)
def test_kstatus_conditions(builder: Callable[[], Story], phase: RunPhase) -> None:
    story = builder()
    assert story.phase == phase
    assert derive_phase(story.conditions) is phase
    assert kstatus(story.conditions) == {
        "Ready": phase is SUCCEEDED,
        "Reconciling": phase in (QUEUED, RUNNING, RETRYING, CANCELLING),
        "Stalled": phase in (FAILED, CANCELLED),
    }


# ------------------------------------------------------------------------ misc
def test_export_runs_the_same_lifecycle() -> None:
    story = new(kind=c.KIND_EXPORT)
    plan = story.decide(ADMIT, when=0)
    assert plan.pre_actions == [CreatePod("nightly-1", 1)]
    story.pod_starts(1)
    story.cancel(when=10)
    story.decide(when=10)
    assert story.phase == CANCELLING
    story.pod_exits(143, when=11)
    story.decide(when=11)
    assert story.phase == CANCELLED


def test_the_log_is_bounded_newest_last() -> None:
    run = make_run(
        spec=SPEC,
        status={"log": [{"time": stamp(-i), "message": f"old {i}"} for i in range(50, 0, -1)]},
    )
    story = Story(run)
    story.decide(full(1), when=0)
    log = story.log()
    assert len(log) == c.MAX_LOG_ENTRIES
    assert log[-1].startswith("queued")
    assert log[0] == "old 49"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0, "0ms", id="zero"),
        pytest.param(0.85, "850ms", id="ms"),
        pytest.param(4.25, "4.2s", id="seconds"),
        pytest.param(59.9, "59.9s", id="just under a minute"),
        pytest.param(133, "2m13s", id="minutes"),
        pytest.param(3720, "1h02m", id="hours"),
        pytest.param(90000, "25h00m", id="a day"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_pod_names_are_deterministic() -> None:
    assert pod_name("nightly", 1) == "nightly-1"
    assert pod_name("nightly", 11) == "nightly-11"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("yesterday", id="not a time"),
        pytest.param("", id="empty"),
        pytest.param("2025-13-45T99:00:00Z", id="out of range"),
    ],
)
def test_a_malformed_cancel_requested_at_annotation_falls_back_to_now(value: str) -> None:
    """The webhook stamps the annotation, but the core must not be stuck on a bad one
    (a cluster without the webhook, or a hand edit): one exception per reconcile would
    keep the run from ever being cancelled."""
    story = queued()
    story.cancel(when=40)
    story.run = dataclasses.replace(
        story.run, annotations={**story.run.annotations, c.ANNOTATION_CANCEL_REQUESTED_AT: value}
    )
    story.decide(full(3), when=45)
    assert story.phase == CANCELLED
    assert story.status["cancellation"]["requestedAt"] == stamp(45)


REASONS: list[Any] = [
    pytest.param(queued, QUEUED, "QuotaExhausted", "quota of 10 reached", id="Queued"),
    pytest.param(running, RUNNING, "Running", "attempt 1 on pod nightly-1", id="Running"),
    pytest.param(retrying, RETRYING, "Error", "attempt 1 exited with code 1", id="Retrying"),
    pytest.param(cancelling, CANCELLING, "Cancelling",
                 "cancel requested by alice; waiting for the worker to exit", id="Cancelling"),
    pytest.param(succeeded, SUCCEEDED, "Succeeded", "attempt 1 succeeded", id="Succeeded"),
    pytest.param(failed, FAILED, "RetriesExhausted",
                 "attempt 1 exited with code 1; no retries left (0 allowed)", id="Failed"),
    pytest.param(cancelled_while_queued, CANCELLED, "Cancelled",
                 "cancelled by alice before a worker ran", id="Cancelled while queued"),
    pytest.param(cancelled_while_running, CANCELLED, "Cancelled",
                 "cancelled by alice (exit code 143)", id="Cancelled while running"),
]  # fmt: skip


@pytest.mark.parametrize(("builder", "phase", "reason", "message"), REASONS)
def test_status_reason_says_why_the_run_is_in_its_phase(
    builder: Callable[[], Story], phase: RunPhase, reason: str, message: str
) -> None:
    story = builder()
    assert (story.phase, story.status["reason"], story.status["message"]) == (
        phase,
        reason,
        message,
    )


@pytest.mark.parametrize(
    ("stored", "actual", "written"),
    [
        pytest.param(3, 2, True, id="near the head: exact"),
        pytest.param(11, 10, True, id="into the first ten: exact"),
        pytest.param(40, 39, False, id="far back, moved up by one: not worth a write"),
        pytest.param(40, 20, True, id="far back, halved: written"),
        pytest.param(20, 25, True, id="moved back: written"),
    ],
)
def test_queue_position_writes_are_coarse_far_back(stored: int, actual: int, written: bool) -> None:
    story = queued(position=stored)
    plan = story.decide(full(actual), when=120)  # a refresh is due (every 30 s per 10 places)
    assert (plan.status is not None) is written
    assert story.status["queue"]["position"] == (actual if written else stored)
    assert plan.events == []


@pytest.mark.parametrize(
    ("actual", "elapsed", "due"),
    [
        pytest.param(3, 10, 20.0, id="head: every 30 s"),
        pytest.param(3, 30, 0.0, id="head: due after 30 s"),
        pytest.param(15, 30, 30.0, id="11-20: every 60 s"),
        pytest.param(95, 100, 200.0, id="91-100: every 5 min"),
        pytest.param(1000, 600, 2400.0, id="far back: rarely"),
    ],
)
def test_queue_positions_are_refreshed_less_often_further_back(
    actual: int, elapsed: float, due: float
) -> None:
    queue = {"position": actual * 4, "positionTime": stamp(0)}
    assert position_update_due(queue, actual, at(elapsed)) == due
    assert (
        position_update_due({"position": actual, "positionTime": stamp(0)}, actual, at(1)) is None
    )


TRAILS: list[Any] = [
    pytest.param(
        succeeded,
        ["Normal/Started", "Normal/Succeeded"],
        [("admitted", "started"), ("finished", "Succeeded")],
        id="Succeeded",
    ),
    pytest.param(
        failed,
        ["Normal/Started", "Warning/Failed"],
        [("admitted", "started"), ("finished", "Failed")],
        id="Failed",
    ),
    pytest.param(
        lambda: running(retries=1),
        ["Normal/Started"],
        [("admitted", "started")],
        id="Running",
    ),
    pytest.param(
        cancelled_while_queued,
        ["Normal/Queued", "Normal/CancelRequested", "Normal/Cancelled"],
        [("cancel-requested", "accepted"), ("cancel-finished", "Cancelled")],
        id="Cancelled while queued",
    ),
    pytest.param(
        cancelled_while_running,
        ["Normal/Started", "Normal/CancelRequested", "Normal/Cancelled"],
        [("admitted", "started"), ("cancel-requested", "accepted"),
         ("cancel-finished", "Cancelled")],
        id="Cancelled while running",
    ),
    pytest.param(
        cancel_timed_out,
        ["Normal/Started", "Normal/CancelRequested", "Warning/CancelTimeout"],
        [("admitted", "started"), ("cancel-requested", "accepted"),
         ("cancel-finished", "CancelTimeout")],
        id="Failed CancelTimeout",
    ),
    pytest.param(
        cancel_ignored,
        ["Normal/Started", "Normal/Succeeded", "Warning/CancelIgnored"],
        [("admitted", "started"), ("finished", "Succeeded"), ("cancel-requested", "ignored")],
        id="Succeeded, cancel ignored",
    ),
    pytest.param(
        lambda: timed_out(retries=0),
        ["Normal/Started", "Warning/DeadlineExceeded"],
        [("admitted", "started")],
        id="timed out",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("builder", "events", "audit"), TRAILS)
def test_events_and_audit_records_on_transitions_only(
    builder: Callable[[], Story], events: list[str], audit: list[tuple[str, str]]
) -> None:
    """The whole story's Events and audit lines: one per transition, none repeated."""
    story = builder()
    for _ in range(3):  # reconciles without news add nothing
        story.decide(full(3))
    assert [f"{e.type}/{e.reason}" for p in story.plans for e in p.events] == events
    assert [(a.action, a.outcome) for p in story.plans for a in p.audit] == audit
    users = {a.user for p in story.plans for a in p.audit if a.action.startswith("cancel")}
    assert users <= {"alice"}


# A service account's user name: "system:serviceaccount:" + namespace (63) + ":" + name (253).
LONG_USER = f"system:serviceaccount:{'n' * 63}:{'s' * 253}"


@pytest.mark.parametrize(
    "builder",
    [pytest.param(queued, id="queued"), pytest.param(running, id="running"),
     pytest.param(succeeded, id="terminal")],
)  # fmt: skip
def test_long_user_names_and_reasons_still_fit_the_status(builder: Callable[[], Story]) -> None:
    """The status the API server would reject (422) would leave the run stuck: the
    webhook's user and the user's free-text reason are bounded before they are stored."""
    story = builder()
    story.run = request_cancel(story.run, by=LONG_USER, reason="because " * 500)
    story.decide(full(3), when=200)  # check_invariants validates against the API model
    record = story.status["cancellation"]
    assert LONG_USER.startswith(record["requestedBy"])
    assert len(record["requestedBy"]) <= 256
    assert len(record["reason"]) <= 1024


def test_long_termination_messages_keep_their_tail() -> None:
    story = running()
    story.pod_exits(1, when=100, message="x" * 10_000 + "the end")
    story.decide(when=100)
    message = story.status["attempts"][0]["message"]
    assert len(message) == 4096
    assert message.endswith("the end")
