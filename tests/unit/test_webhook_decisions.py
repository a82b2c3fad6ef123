"""The admission rules as pure functions: stamps, cancels, sensitive runs, schedules."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping
from typing import Any

import pytest

from jobwarden.api.enums import ScheduledJobPhase
from jobwarden.core.refusals import ApiRefusal
from jobwarden.webhooks.decisions import (
    AccessReview,
    Answer,
    Facts,
    Question,
    Request,
    ScheduledJobFacts,
    ScheduledJobLookup,
    Unanswered,
    User,
    Verdict,
    WorkerPodCheck,
    audit_records,
    decide,
    expected_stamps,
    job_owner_reference,
    owner_wanted,
    stamp,
    stamp_violation,
)

NOW = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)
OPERATOR = "system:serviceaccount:jobwarden-system:jobwarden-operator"
CREATED_BY = "jobwarden.dev/created-by"
TRIGGERED_BY = "jobwarden.dev/triggered-by"
CANCEL_BY = "jobwarden.dev/cancel-requested-by"
CANCEL_AT = "jobwarden.dev/cancel-requested-at"
OPERATOR_CANCEL = "jobwarden.dev/operator-cancel"
JSON = dict[str, Any]


def obj(
    kind: str = "JobRun",
    *,
    annotations: Mapping[str, str] | None = None,
    phase: str | None = None,
    **spec: Any,
) -> JSON:
    """A stored object of `kind` in namespace team-a."""
    if kind == "JobRun" and "scheduledJobRef" not in spec:
        spec.setdefault("template", {"spec": {"containers": [{"name": "w", "image": "w"}]}})
    if kind == "ScheduledJob":
        spec.setdefault("schedule", "0 2 * * *")
    body: JSON = {
        "apiVersion": "jobwarden.dev/v1alpha1",
        "kind": kind,
        "metadata": {
            "name": "thing",
            "namespace": "team-a",
            "annotations": dict(annotations or {}),
        },
        "spec": {"cancel": False, **spec},
        "status": {"phase": phase} if phase else {},
    }
    return body


def create(body: JSON, user: str = "alice") -> Request:
    """A CREATE of `body` by `user`."""
    return _request("CREATE", body, None, user)


def update(old: JSON, user: str = "alice", **changes: Any) -> Request:
    """An UPDATE of `old` by `user`: `spec` and `annotations` are merged into a copy."""
    new = copy.deepcopy(old)
    new["spec"].update(changes.pop("spec", {}))
    for key, value in changes.pop("annotations", {}).items():
        if value is None:
            new["metadata"]["annotations"].pop(key, None)
        else:
            new["metadata"]["annotations"][key] = value
    assert not changes
    return _request("UPDATE", new, old, user)


def _request(operation: str, new: JSON, old: JSON | None, user: str) -> Request:
    groups = ("jobwarden:operators",) if user == OPERATOR else ("team-a",)
    return Request(
        operation=operation,
        kind=new["kind"],
        namespace="team-a",
        name=new["metadata"]["name"],
        new=new,
        old=old,
        user=User(user, groups=groups),
        operator=OPERATOR,
        now=NOW,
    )


def cancel(old: JSON, user: str) -> Request:
    """`kubectl patch … spec.cancel: true` by `user`, after the mutating webhook."""
    request = update(old, user, spec={"cancel": True})
    return stamped(request)


def stamped(request: Request) -> Request:
    """The request as the validating webhook sees it: after our mutating webhook."""
    new = copy.deepcopy(dict(request.new))
    annotations = new["metadata"].setdefault("annotations", {})
    for key, value in stamp(request).annotations.items():
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = value
    return Request(**{**request.__dict__, "new": new})


def ask(
    request: Request, answers: Mapping[Question, Answer] | None = None
) -> tuple[Verdict, list[Question]]:
    """Drive `decide` as the handler does; returns the verdict and the questions asked."""
    facts, asked = Facts(), list[Question]()
    answers = answers or {}
    while True:
        try:
            return decide(request, facts), asked
        except Unanswered as need:
            asked.append(need.question)
            if isinstance(need.question, WorkerPodCheck) and need.question not in answers:
                facts = facts.answered(need.question, None)  # the API server accepts the pod
                continue
            if need.question not in answers:
                raise AssertionError(f"unexpected question {need.question}") from None
            facts = facts.answered(need.question, answers[need.question])


# ------------------------------------------------------------------------ stamps
def test_create_stamps_the_creator_and_who_triggered_a_manual_run() -> None:
    assert stamp(create(obj())).annotations == {CREATED_BY: "alice", TRIGGERED_BY: "alice"}
    rerun = obj(scheduledJobRef={"name": "nightly"}, trigger="Rerun", rerunOf="nightly-1")
    assert stamp(create(rerun)).annotations[TRIGGERED_BY] == "alice"
    for kind in ("ScheduledJob", "Export"):
        assert stamp(create(obj(kind))).annotations == {CREATED_BY: "alice"}


def test_a_new_run_gets_its_filter_labels_at_creation() -> None:
    trigger, job = "jobwarden.dev/trigger", "jobwarden.dev/scheduledjob"
    assert stamp(create(obj())).labels == {trigger: "Manual"}
    rerun = obj(scheduledJobRef={"name": "nightly"}, trigger="Rerun", rerunOf="nightly-1")
    assert stamp(create(rerun)).labels == {trigger: "Rerun", job: "nightly"}
    assert stamp(create(obj("Export"))).labels == {trigger: "Manual"}
    assert stamp(create(obj("ScheduledJob"))).labels == {}
    labelled = obj(scheduledJobRef={"name": "nightly"})
    labelled["metadata"]["labels"] = {trigger: "Manual", job: "other"}
    assert stamp(create(labelled)).labels == {job: "nightly"}, "a wrong label is corrected"
    assert stamp(update(obj(), spec={"priority": "High"})).labels == {}, "only on create"


def test_forged_stamps_on_create_are_replaced_with_a_warning() -> None:
    forged = obj(annotations={CREATED_BY: "carol", CANCEL_BY: "carol", OPERATOR_CANCEL: "true"})
    result = stamp(create(forged))
    assert result.annotations == {
        CREATED_BY: "alice",
        TRIGGERED_BY: "alice",
        CANCEL_BY: None,
        OPERATOR_CANCEL: None,
    }
    assert len(result.warnings) == 3
    assert result.warnings[0] == (
        "jobwarden.dev/created-by is set by jobwarden from the requesting user, not by hand: "
        "'carol' replaced by 'alice'"
    )
    assert "'true' removed" in result.warnings[2]


def test_a_run_created_already_cancelled_records_who_cancelled_it() -> None:
    result = stamp(create(obj(cancel=True)))
    assert result.annotations[CANCEL_BY] == "alice"
    assert result.annotations[CANCEL_AT] == "2026-03-01T12:00:00.000000Z"


def test_update_puts_back_dropped_stamps_and_reverts_changed_ones() -> None:
    old = obj(annotations={CREATED_BY: "alice", TRIGGERED_BY: "alice", "team": "a"})
    dropped = stamp(update(old, "bob", annotations={CREATED_BY: None, TRIGGERED_BY: None}))
    assert dropped.annotations == {CREATED_BY: "alice", TRIGGERED_BY: "alice"}
    assert dropped.warnings == ()  # e.g. `kubectl replace` of an older manifest: silent
    changed = stamp(update(old, "bob", annotations={CREATED_BY: "bob", OPERATOR_CANCEL: "true"}))
    assert changed.annotations == {CREATED_BY: "alice", OPERATOR_CANCEL: None}
    assert len(changed.warnings) == 2
    untouched = stamp(update(old, "bob", annotations={"team": "b"}))
    assert untouched.annotations == {}


def test_a_cancel_stamps_who_and_when_once() -> None:
    old = obj(annotations={CREATED_BY: "alice"})
    first = stamp(update(old, "carol", spec={"cancel": True}, annotations={CANCEL_BY: "alice"}))
    assert first.annotations == {CANCEL_BY: "carol", CANCEL_AT: "2026-03-01T12:00:00.000000Z"}
    cancelled = obj(
        annotations={CREATED_BY: "alice", CANCEL_BY: "carol", CANCEL_AT: "2026-03-01T11:00:00Z"},
        cancel=True,
    )
    again = stamp(update(cancelled, "alice", spec={"cancel": True}))
    assert again.annotations == {}  # cancel is already true: the first request stands


def test_the_operator_may_set_the_stamps_itself() -> None:
    scheduled = obj(
        annotations={TRIGGERED_BY: "schedule"},
        scheduledJobRef={"name": "nightly"},
        trigger="Schedule",
        scheduledTime="2026-03-01T02:00:00Z",
    )
    assert stamp(create(scheduled, OPERATOR)).annotations == {CREATED_BY: OPERATOR}
    assert expected_stamps(create(scheduled, OPERATOR))[TRIGGERED_BY] == "schedule"
    run = obj(annotations={CREATED_BY: "alice"})
    replaced = update(
        run,
        OPERATOR,
        annotations={
            OPERATOR_CANCEL: "true",
            CANCEL_BY: "bob",
            CANCEL_AT: "2026-03-01T11:59:00.000000Z",
        },
    )
    assert stamp(replaced).annotations == {}
    assert stamp_violation(replaced) is None


def test_validation_catches_stamps_changed_after_the_mutating_webhook() -> None:
    old = obj(annotations={CREATED_BY: "alice"})
    assert stamp_violation(stamped(update(old, "bob", annotations={CREATED_BY: "bob"}))) is None
    tampered = update(old, "bob", annotations={CREATED_BY: "bob"})
    message = stamp_violation(tampered)
    assert message is not None
    assert "jobwarden.dev/created-by is set by jobwarden" in message
    assert "expected 'alice', got 'bob'" in message
    verdict, _ = ask(tampered)
    assert not verdict.allowed and verdict.code == 403
    fresh = cancel(old, "alice")  # its time is whatever the mutating webhook stamped
    assert stamp_violation(fresh) is None


def test_user_from_userinfo() -> None:
    info = {"username": "bob", "uid": "u1", "groups": ["team-a"], "extra": {"scopes": ["x"]}}
    assert User.from_userinfo(info) == User("bob", "u1", ("team-a",), {"scopes": ("x",)})
    assert User.from_userinfo({"username": "x"}) == User("x")


# ----------------------------------------------------------------------- cancel
RUNNING = obj(annotations={CREATED_BY: "alice"}, phase="Running")
REVIEW = AccessReview("cancel", "jobruns", "thing")


def test_the_creator_cancels_without_asking_anyone() -> None:
    verdict, asked = ask(cancel(RUNNING, "alice"))
    assert verdict.allowed and asked == []


@pytest.mark.parametrize("holds_cancel", [True, False])
def test_anyone_else_needs_the_cancel_verb(holds_cancel: bool) -> None:
    verdict, asked = ask(cancel(RUNNING, "bob"), {REVIEW: holds_cancel})
    assert asked == [REVIEW]
    assert verdict.allowed is holds_cancel
    if not holds_cancel:
        assert verdict.code == 403 and verdict.action == "cancel"
        assert verdict.message == (
            'bob may not cancel JobRun "thing": only its creator (alice) or a user with the '
            'RBAC verb "cancel" on jobruns.jobwarden.dev in namespace "team-a" may cancel '
            "it (granted by the ClusterRole jobwarden-admin, or jobwarden-cancel bound in "
            "the namespace)"
        )


def test_a_run_without_a_recorded_creator_needs_the_verb() -> None:
    verdict, _ = ask(cancel(obj(phase="Queued"), "alice"), {REVIEW: False})
    assert not verdict.allowed
    assert "only its creator (unknown)" in verdict.message


@pytest.mark.parametrize(
    ("kind", "phase"),
    [
        ("JobRun", "Succeeded"),
        ("JobRun", "Failed"),
        ("JobRun", "Cancelled"),
        ("Export", "Succeeded"),
        ("ScheduledJob", "Completed"),
    ],
)
def test_a_finished_object_is_not_in_a_cancellable_state(kind: str, phase: str) -> None:
    old = obj(kind, annotations={CREATED_BY: "alice"}, phase=phase)
    for user in ("alice", "carol"):
        verdict, asked = ask(cancel(old, user))
        assert not verdict.allowed and asked == []
        assert verdict.code == 409
        assert f"not in a cancellable state: {phase}" in verdict.message


@pytest.mark.parametrize("phase", ["Queued", "Running", "Retrying", "Cancelling", None])
def test_unfinished_runs_are_cancellable(phase: str | None) -> None:
    old = obj(annotations={CREATED_BY: "alice"}, phase=phase)
    assert ask(cancel(old, "alice"))[0].allowed


def test_a_scheduled_run_belongs_to_the_creator_of_its_job() -> None:
    run = obj(
        annotations={CREATED_BY: OPERATOR, TRIGGERED_BY: "schedule"},
        phase="Running",
        scheduledJobRef={"name": "nightly"},
        trigger="Schedule",
        scheduledTime="2026-03-01T02:00:00Z",
    )
    lookup = ScheduledJobLookup("nightly")
    job = ScheduledJobFacts(exists=True, created_by="alice")
    verdict, asked = ask(cancel(run, "alice"), {lookup: job})
    assert verdict.allowed and asked == [lookup]
    verdict, asked = ask(cancel(run, "bob"), {lookup: job, REVIEW: False})
    assert not verdict.allowed and asked == [lookup, REVIEW]
    assert f"only its creator ({OPERATOR} / alice)" in verdict.message


def test_a_manual_run_of_a_job_belongs_to_whoever_started_it() -> None:
    run = obj(annotations={CREATED_BY: "bob"}, phase="Running", scheduledJobRef={"name": "n"})
    verdict, asked = ask(cancel(run, "alice"), {REVIEW: False})
    assert not verdict.allowed and asked == [REVIEW]  # the job's creator is not asked about


def test_other_updates_are_not_checked() -> None:
    cancelled = obj(annotations={CREATED_BY: "alice"}, phase="Succeeded", cancel=True)
    verdict, asked = ask(stamped(update(cancelled, "bob", annotations={"note": "x"})))
    assert verdict.allowed and asked == []


@pytest.mark.parametrize("phase", ["Cancelled", "Succeeded", "Failed"])
@pytest.mark.parametrize("kind", ["JobRun", "Export"])
def test_cancel_set_again_on_a_finished_run_is_refused_with_its_state(
    kind: str, phase: str
) -> None:
    """`cancel: true` again (a no-op patch, or one that only brings a new reason) on a
    run that has ended: refused like any other late cancel, not a silent 200."""
    done = obj(
        kind, annotations={CREATED_BY: "alice", CANCEL_BY: "alice"}, phase=phase, cancel=True
    )
    for request in (
        update(done, "alice", spec={"cancel": True}),
        update(done, "carol", annotations={"jobwarden.dev/cancel-reason": "again"}),
    ):
        verdict, asked = ask(stamped(request))
        assert not verdict.allowed and asked == []
        assert verdict.code == 409 and verdict.action == "cancel"
        assert f'{kind} "thing" is not in a cancellable state: {phase}' in verdict.message


def test_cancel_set_again_on_an_unfinished_run_is_idempotent() -> None:
    cancelling = obj(annotations={CREATED_BY: "alice", CANCEL_BY: "alice"}, phase="Cancelling")
    cancelling["spec"]["cancel"] = True
    verdict, _ = ask(stamped(update(cancelling, "alice", spec={"cancel": True})))
    assert verdict.allowed
    job = obj("ScheduledJob", annotations={CREATED_BY: "alice"}, phase="Cancelled", cancel=True)
    verdict, _ = ask(stamped(update(job, "alice", spec={"cancel": True})))
    assert verdict.allowed, "a ScheduledJob kept in git with cancel: true re-applies cleanly"


# -------------------------------------------------------------------- new runs
JOB = ScheduledJobLookup("payroll")
EXECUTE = AccessReview("execute-sensitive", "scheduledjobs", "payroll")


def manual(trigger: str = "Manual", **spec: Any) -> JSON:
    return obj(scheduledJobRef={"name": "payroll"}, trigger=trigger, **spec)


@pytest.mark.parametrize("may", [True, False])
def test_a_manual_run_of_a_sensitive_job_needs_execute_sensitive(may: bool) -> None:
    sensitive = ScheduledJobFacts(exists=True, sensitive=True, created_by="carol")
    for trigger in ("Manual", "Rerun"):
        verdict, asked = ask(stamped(create(manual(trigger))), {JOB: sensitive, EXECUTE: may})
        assert asked == [JOB, EXECUTE]
        assert verdict.allowed is may
    if not may:
        assert verdict.code == 403 and verdict.action == "run-sensitive"
        assert verdict.message == (
            'alice may not run ScheduledJob "payroll" by hand: it is marked sensitive '
            '(spec.sensitive: true), and a manual run needs the RBAC verb "execute-sensitive" '
            'on scheduledjobs.jobwarden.dev "payroll" in namespace "team-a" (granted by the '
            "ClusterRole jobwarden-admin)"
        )


@pytest.mark.parametrize(
    ("closed", "words"),
    [
        ("Suspended", "ScheduledJob payroll is paused: resume it first"),
        ("Cancelled", "ScheduledJob payroll is cancelled: its schedule has ended"),
        ("Completed", "ScheduledJob payroll is completed: a one-time job runs once"),
    ],
)
def test_a_manual_run_of_a_job_that_cannot_run_is_refused(closed: str, words: str) -> None:
    job = ScheduledJobFacts(exists=True, sensitive=True, closed=ScheduledJobPhase(closed))
    for trigger in ("Manual", "Rerun"):
        verdict, asked = ask(stamped(create(manual(trigger, rerunOf="payroll-1"))), {JOB: job})
        assert not verdict.allowed and asked == [JOB], "refused before any access review"
        assert verdict.code == 409 and verdict.action == "run"
        assert verdict.message.startswith(words)


@pytest.mark.parametrize(
    ("spec", "phase", "closed"),
    [
        ({"suspend": True}, "Active", "Suspended"),  # paused, not yet seen by the operator
        ({}, "Suspended", None),  # just resumed, not yet seen by the operator
        ({"cancel": True}, "Active", "Cancelled"),
        ({}, "Cancelled", "Cancelled"),
        ({}, "Completed", "Completed"),
        ({"suspend": True, "cancel": True}, "Suspended", "Cancelled"),
        ({}, "Active", None),
        ({}, None, None),
        # Paused by the operator after failures (issue 22), not by its user: a manual
        # run checks a fix before the resume. Paused both ways: refused.
        ({"failurePause": True}, "Suspended", None),
        ({"failurePause": True, "suspend": True}, "Suspended", "Suspended"),
    ],
)
def test_the_state_of_a_job_that_takes_no_manual_run(
    spec: JSON, phase: str | None, closed: str | None
) -> None:
    spec = dict(spec)
    failure_pause = spec.pop("failurePause", False)
    body = obj("ScheduledJob", phase=phase, **spec)
    if failure_pause:
        body["status"]["failurePause"] = {"since": "2026-03-05T10:00:05.000000Z", "failures": 2}
    facts = ScheduledJobFacts.from_body(body)
    assert facts.closed == (ScheduledJobPhase(closed) if closed else None)


@pytest.mark.parametrize(
    "job", [ScheduledJobFacts(exists=True), ScheduledJobFacts(exists=False)], ids=str
)
def test_other_manual_runs_need_nothing_more(job: ScheduledJobFacts) -> None:
    verdict, asked = ask(stamped(create(manual())), {JOB: job})
    assert verdict.allowed and asked == [JOB]


def test_a_standalone_run_asks_only_for_a_dry_run_of_its_worker_pod() -> None:
    verdict, asked = ask(stamped(create(obj())))
    assert verdict.allowed and [type(q) for q in asked] == [WorkerPodCheck]


def test_trigger_schedule_is_the_operators_alone() -> None:
    body = manual("Schedule", scheduledTime="2026-03-01T02:00:00Z")
    verdict, _ = ask(stamped(create(body, "alice")))
    assert not verdict.allowed and verdict.code == 403
    assert "trigger Schedule is reserved" in verdict.message
    assert ask(stamped(create(body, OPERATOR)))[0].allowed


# -------------------------------------------------------------------- schedules
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"schedule": "61 * * * *"},
            'spec.schedule: invalid schedule "61 * * * *": minute must be 0-59; '
            'example of a valid one: "0 2 * * *" (daily at 02:00)',
        ),
        ({"schedule": "* * *"}, 'spec.schedule: invalid schedule "* * *": expected 5 fields'),
        ({"schedule": "@fortnightly"}, 'invalid schedule "@fortnightly": unknown macro'),
        (
            {"timeZone": "Mars/Olympus"},
            'spec.timeZone: unknown time zone "Mars/Olympus"; use an IANA name such as '
            '"Europe/Berlin" or "UTC"',
        ),
        ({"schedule": None, "timeZone": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_invalid_schedules_and_zones_are_denied(spec: JSON, message: str) -> None:
    verdict, _ = ask(stamped(create(obj("ScheduledJob", **spec))))
    assert not verdict.allowed and verdict.code == 422
    assert message in verdict.message


def test_schedules_are_checked_when_they_change_only() -> None:
    legacy = obj("ScheduledJob", annotations={CREATED_BY: "alice"}, schedule="61 * * * *")
    assert ask(stamped(update(legacy, "alice", spec={"suspend": True})))[0].allowed
    changed = stamped(update(legacy, "alice", spec={"timeZone": "Europe/Berlin"}))
    assert not ask(changed)[0].allowed
    good = obj("ScheduledJob", annotations={CREATED_BY: "alice"})
    assert ask(stamped(update(good, "alice", spec={"schedule": "@hourly"})))[0].allowed
    assert not ask(stamped(update(good, "alice", spec={"schedule": "0 25 * * *"})))[0].allowed


def test_valid_schedules_pass() -> None:
    for spec in ({"schedule": "@daily"}, {"schedule": None}, {"timeZone": "Europe/Berlin"}):
        assert ask(stamped(create(obj("ScheduledJob", **spec))))[0].allowed


def test_the_operator_is_trusted_with_everything() -> None:
    forged = obj(annotations={CREATED_BY: "carol"}, phase="Succeeded")
    assert ask(update(forged, OPERATOR, spec={"cancel": True}))[0].allowed


# ---------------------------------------------------- the worker pod's dry run
PSA = ApiRefusal(
    403,
    "Forbidden",
    'pods "thing-1" is forbidden: violates PodSecurity "restricted:latest": privileged',
)
INVALID = ApiRefusal(
    422, "Invalid", 'Pod "thing-1" is invalid: spec.containers[0].name: Invalid value: "Bad_Name"'
)
QUOTA = ApiRefusal(403, "Forbidden", "exceeded quota: q, requested: pods=1")
UNAVAILABLE = ApiRefusal(503, "ServiceUnavailable", "try again")


def pod_checks(asked: list[Question]) -> list[dict[str, Any]]:
    """The runs whose worker pods were dry-run."""
    return [q.body() for q in asked if isinstance(q, WorkerPodCheck)]


def refusing(request: Request, refusal: ApiRefusal) -> Verdict:
    """The verdict when the dry run of the request's worker pod meets `refusal`."""
    _, asked = ask(request)
    (check,) = [q for q in asked if isinstance(q, WorkerPodCheck)]
    verdict, _ = ask(request, {check: refusal})
    return verdict


@pytest.mark.parametrize(
    ("refusal", "allowed", "code", "words"),
    [
        pytest.param(PSA, False, 403, 'violates PodSecurity "restricted:latest"', id="PodSecurity"),
        pytest.param(INVALID, False, 422, 'Invalid value: "Bad_Name"', id="invalid template"),
        pytest.param(QUOTA, True, 200, "exceeded quota", id="exceeded quota: allowed, warned"),
        pytest.param(UNAVAILABLE, True, 200, "try again", id="5xx: allowed, warned"),
    ],
)
def test_a_refused_worker_pod_refuses_the_run_only_when_permanent(
    refusal: ApiRefusal, allowed: bool, code: int, words: str
) -> None:
    verdict = refusing(stamped(create(obj())), refusal)
    assert (verdict.allowed, verdict.code) == (allowed, code)
    if allowed:
        assert len(verdict.warnings) == 1 and words in verdict.warnings[0]
    else:
        assert verdict.message.startswith(
            "spec.template: the API server would refuse the worker pod of this JobRun: "
        )
        assert words in verdict.message


def test_the_dry_run_is_of_the_run_as_created() -> None:
    body = obj(cancelGracePeriodSeconds=5)
    body["metadata"]["labels"] = {"team": "a"}
    _, asked = ask(stamped(create(body)))
    (run,) = pod_checks(asked)
    assert run["kind"] == "JobRun"
    assert run["metadata"] == {"name": "thing", "namespace": "team-a", "labels": {"team": "a"}}
    assert run["spec"]["template"] == body["spec"]["template"]
    assert run["spec"]["cancelGracePeriodSeconds"] == 5


def test_a_run_created_with_generate_name_is_checked_under_that_prefix() -> None:
    body = obj()
    body["metadata"]["name"] = ""
    body["metadata"]["generateName"] = "reindex-"
    (run,) = pod_checks(ask(stamped(create(body)))[1])
    assert run["metadata"]["name"] == "reindex"


def test_an_export_is_checked_with_its_export_worker() -> None:
    verdict = refusing(stamped(create(obj("Export", query="select 1"))), PSA)
    assert not verdict.allowed
    assert verdict.message.startswith("spec (the export worker): ")
    (run,) = pod_checks(ask(stamped(create(obj("Export", query="select 1"))))[1])
    assert run["kind"] == "Export" and run["spec"]["query"] == "select 1"


@pytest.mark.parametrize("kind", ["JobRun", "Export"])
def test_a_cancel_is_never_refused_for_its_worker_pod(kind: str) -> None:
    old = obj(kind, annotations={CREATED_BY: "alice"}, phase="Running")
    verdict, asked = ask(cancel(old, "alice"))
    assert verdict.allowed and pod_checks(asked) == []


def test_a_scheduled_job_is_checked_when_created_and_when_its_template_changes() -> None:
    job = obj("ScheduledJob", template={"spec": {"containers": [{"name": "w", "image": "w"}]}})
    (run,) = pod_checks(ask(stamped(create(job)))[1])
    assert run["kind"] == "JobRun" and run["spec"]["template"] == job["spec"]["template"]
    job["metadata"]["annotations"] = {CREATED_BY: "alice"}
    suspend = stamped(update(job, spec={"suspend": True}))
    assert pod_checks(ask(suspend)[1]) == [], "an edit of other fields is not re-checked"
    privileged = {"spec": {"containers": [{"name": "w", "image": "w", "securityContext": {
        "privileged": True}}]}}  # fmt: skip
    changed = stamped(update(job, spec={"template": privileged}))
    (run,) = pod_checks(ask(changed)[1])
    assert run["spec"]["template"] == privileged
    assert not refusing(changed, PSA).allowed


def test_a_manual_run_of_a_job_is_checked_with_the_jobs_template() -> None:
    template = {"spec": {"containers": [{"name": "w", "image": "w"}]}}
    facts = ScheduledJobFacts.from_body(
        obj("ScheduledJob", template=template, cancelGracePeriodSeconds=60)
    )
    lookup = ScheduledJobLookup("payroll")
    _, asked = ask(stamped(create(manual(cancelGracePeriodSeconds=5))), {lookup: facts})
    (run,) = pod_checks(asked)
    assert run["spec"]["template"] == template
    assert run["spec"]["cancelGracePeriodSeconds"] == 5, "the run's own setting wins"


def test_a_manual_run_of_a_missing_job_has_nothing_to_check() -> None:
    lookup = ScheduledJobLookup("payroll")
    verdict, asked = ask(stamped(create(manual())), {lookup: ScheduledJobFacts(exists=False)})
    assert verdict.allowed and pod_checks(asked) == []


def test_the_operators_own_runs_are_not_dry_run() -> None:
    verdict, asked = ask(create(obj(), OPERATOR))
    assert verdict.allowed and asked == []


# ------------------------------------------------------------------ audit records
def _quota(max_running: int | None) -> JSON:
    spec = {} if max_running is None else {"maxRunning": max_running}
    return {"kind": "WorkerQuota", "metadata": {"name": "quota", "namespace": "team-a"},
            "spec": spec}  # fmt: skip


def _delete(old: JSON, user: str = "alice") -> Request:
    """A DELETE: kopf passes the old object as the body."""
    return _request("DELETE", old, old, user)


A_JOB = obj("ScheduledJob")
AUDITED = {
    "job created": (create(A_JOB), [("scheduledjob-created", "schedule 0 2 * * *")]),
    "job created paused": (
        create(obj("ScheduledJob", suspend=True)),
        [("scheduledjob-created", "schedule 0 2 * * *"), ("paused", "created paused")],
    ),
    "job paused": (update(A_JOB, spec={"suspend": True}), [("paused", "")]),
    "job resumed": (update(obj("ScheduledJob", suspend=True), spec={"suspend": False}),
                    [("resumed", "")]),
    "job changed": (update(A_JOB, spec={"schedule": "0 3 * * *", "retries": 2}),
                    [("scheduledjob-changed", "changed retries, schedule")]),
    "job paused and changed at once": (
        update(A_JOB, spec={"suspend": True, "timeZone": "Europe/Berlin"}),
        [("paused", ""), ("scheduledjob-changed", "changed timeZone")],
    ),
    "job cancelled, with its reason": (
        update(A_JOB, spec={"cancel": True},
               annotations={"jobwarden.dev/cancel-reason": "retired"}),
        [("scheduledjob-cancelled", "retired")],
    ),
    "job deleted": (_delete(A_JOB), [("scheduledjob-deleted", "")]),
    "only metadata changed: nothing": (update(A_JOB, annotations={"note": "x"}), []),
    # A resume after failures is metadata: the operator audits it (resumed-after-failures,
    # once it has ended the pause), the webhook does not audit it a second time.
    "resume after failures (annotation): the operator's line only": (
        update(A_JOB, annotations={"jobwarden.dev/resume": "2026-03-05T10:00:05.000000Z"}), []
    ),
    "resume of a job paused both ways: resumed for spec.suspend only": (
        update(obj("ScheduledJob", suspend=True), spec={"suspend": False},
               annotations={"jobwarden.dev/resume": "2026-03-05T10:00:05.000000Z"}),
        [("resumed", "")],
    ),
    "run now": (create(obj(scheduledJobRef={"name": "nightly"}, trigger="Manual")),
                [("run-now", "run now of ScheduledJob nightly")]),
    "rerun": (create(obj(scheduledJobRef={"name": "nightly"}, trigger="Rerun", rerunOf="n-1")),
              [("rerun", "rerun of n-1")]),
    "a standalone run: its admitted line says who": (create(obj()), []),
    "quota created": (create(_quota(5)), [("quota-changed", "maxRunning default -> 5")]),
    "quota changed": (
        _request("UPDATE", _quota(10), _quota(5), "admin"),
        [("quota-changed", "maxRunning 5 -> 10")],
    ),
    "quota unchanged: nothing": (_request("UPDATE", _quota(5), _quota(5), "admin"), []),
    "quota deleted": (_delete(_quota(5)), [("quota-changed", "maxRunning 5 -> default (deleted)")]),
    "the operator's own writes: nothing": (create(A_JOB, user=OPERATOR), []),
}  # fmt: skip


@pytest.mark.parametrize("case", list(AUDITED), ids=list(AUDITED))
def test_audit_records_of_admitted_requests(case: str) -> None:
    request, expected = AUDITED[case]
    assert [(r.action.value, r.detail) for r in audit_records(request)] == expected


def test_pause_and_resume_are_stamped_with_who() -> None:
    paused = stamp(update(A_JOB, "bob", spec={"suspend": True}))
    assert paused.annotations["jobwarden.dev/suspend-changed-by"] == "bob"
    edited = stamp(update(A_JOB, "carol", spec={"retries": 3}))
    assert "jobwarden.dev/suspend-changed-by" not in edited.annotations
    forged = update(A_JOB, "carol", annotations={"jobwarden.dev/suspend-changed-by": "bob"})
    assert stamp(forged).annotations == {"jobwarden.dev/suspend-changed-by": None}


def test_deletes_and_quotas_are_let_through_for_the_audit_log() -> None:
    assert decide(_delete(A_JOB), Facts()).allowed
    assert decide(create(_quota(3)), Facts()).allowed


# ------------------------------------------------------------------ deletes
GC = "system:serviceaccount:kube-system:generic-garbage-collector"
Answers = dict[Question, Answer]
ALICES = obj(annotations={CREATED_BY: "alice"}, phase="Running")
DELETES: dict[str, tuple[Request, Answers, bool]] = {
    "the creator deletes her running run": (_delete(ALICES, "alice"), {}, True),
    "another user without cancel: refused": (_delete(ALICES, "bob"), {REVIEW: False}, False),
    "another user with the verb cancel": (_delete(ALICES, "carol"), {REVIEW: True}, True),
    "a finished run: anyone who may delete": (
        _delete(obj(annotations={CREATED_BY: "alice"}, phase="Succeeded"), "bob"), {}, True
    ),
    "a queued run is not finished": (
        _delete(obj(annotations={CREATED_BY: "alice"}, phase="Queued"), "bob"),
        {REVIEW: False},
        False,
    ),
    "the garbage collector (its job was deleted)": (_delete(ALICES, GC), {}, True),
    "a job without active runs": (_delete(obj("ScheduledJob"), "bob"), {}, True),
}  # fmt: skip


@pytest.mark.parametrize("case", list(DELETES), ids=list(DELETES))
def test_deleting_an_unfinished_run_takes_the_right_to_cancel_it(case: str) -> None:
    request, answers, allowed = DELETES[case]
    verdict, _ = ask(request, answers)
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.code == 403 and verdict.action is not None
        assert verdict.action.denied.value == "delete-denied"
        assert 'bob may not delete JobRun "thing"' in verdict.message
        assert "stops it as a cancel does" in verdict.message


def test_a_job_with_active_runs_is_deleted_only_by_who_may_cancel_it() -> None:
    job = obj("ScheduledJob", annotations={CREATED_BY: "alice"})
    job["status"] = {"activeCount": 2}
    verdict, _ = ask(_delete(job, "bob"), {AccessReview("cancel", "scheduledjobs", "thing"): False})
    assert not verdict.allowed and "active runs" in verdict.message
    assert ask(_delete(job, "alice"))[0].allowed


def test_a_new_run_gets_the_stop_before_delete_finalizer() -> None:
    assert stamp(create(obj())).finalizers == ["jobwarden.dev/stop-before-delete"]
    mine = obj()
    mine["metadata"]["finalizers"] = ["example.com/keep"]
    assert stamp(create(mine)).finalizers == [
        "example.com/keep",
        "jobwarden.dev/stop-before-delete",
    ]
    assert stamp(create(obj("ScheduledJob"))).finalizers is None


def _owned_by(name: str) -> JSON:
    run = obj(scheduledJobRef={"name": name}, trigger="Manual")
    run["metadata"]["ownerReferences"] = [job_owner_reference(name, "uid-1")]
    return run


@pytest.mark.parametrize(
    ("request_", "job"),
    [
        pytest.param(create(obj(scheduledJobRef={"name": "nightly"}, trigger="Manual")),
                     "nightly", id="run now: owned by its job"),
        pytest.param(create(obj(scheduledJobRef={"name": "nightly"}, trigger="Rerun")),
                     "nightly", id="re-run: owned by its job"),
        pytest.param(create(_owned_by("nightly")), None, id="already owned by it"),
        pytest.param(create(obj()), None, id="a standalone run: no owner"),
        pytest.param(create(obj("Export")), None, id="an Export: no owner"),
        pytest.param(create(obj("ScheduledJob")), None, id="a job: no owner"),
        pytest.param(update(obj(scheduledJobRef={"name": "nightly"}, trigger="Manual"),
                            spec={"cancel": True}), None, id="an update: never"),
    ],
)  # fmt: skip
def test_a_manual_run_is_owned_by_its_scheduledjob(request_: Request, job: str | None) -> None:
    """Owned, a run-now or re-run goes with its job (stopped first by its finalizer)
    instead of staying with no history limit to prune it."""
    assert owner_wanted(request_) == job


def test_the_owner_reference_never_blocks_the_jobs_deletion() -> None:
    reference = job_owner_reference("nightly", "uid-1")
    assert reference == {
        "apiVersion": "jobwarden.dev/v1alpha1",
        "kind": "ScheduledJob",
        "name": "nightly",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": False,
    }
    assert ScheduledJobFacts.from_body({"metadata": {"uid": "u-9"}, "spec": {}}).uid == "u-9"


def _backfill_of(job: str) -> JSON:
    body = obj("Backfill", annotations={CREATED_BY: "alice"}, scheduledJobRef={"name": job})
    body["spec"].update({"from": "2026-02-20T00:00:00Z", "to": "2026-02-22T00:00:00Z"})
    return body


@pytest.mark.parametrize(
    ("job_state", "allowed"),
    [
        pytest.param({}, True, id="a running job"),
        pytest.param({"spec": {"suspend": True}}, True, id="paused: how skipped fires are run"),
        pytest.param({"status": {"failurePause": {"failures": 3}}}, True,
                     id="paused after failures"),
        pytest.param({"spec": {"cancel": True}}, False, id="cancelled: its runs would be too"),
        pytest.param({"status": {"phase": "Cancelled"}}, False, id="phase Cancelled"),
    ],
)  # fmt: skip
def test_a_backfill_of_a_cancelled_job_is_refused(job_state: JSON, allowed: bool) -> None:
    job = obj("ScheduledJob")
    job["spec"].update(job_state.get("spec", {}))
    job["status"] = job_state.get("status", {})
    answers: dict[Question, Answer] = {
        AccessReview("create", "jobruns", ""): True,
        ScheduledJobLookup("thing"): ScheduledJobFacts.from_body(job),
    }
    verdict, _ = ask(create(_backfill_of("thing")), answers)
    assert verdict.allowed is allowed, verdict.message
    if not allowed:
        assert verdict.code == 409
        assert verdict.message.startswith("ScheduledJob thing is cancelled: ")
        assert verdict.message.endswith("there is nothing to backfill")
