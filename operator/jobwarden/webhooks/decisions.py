"""Admission decisions: pure functions of (operation, old, new, user, facts).

The kopf handlers only gather the inputs and apply the answers, so every rule here is
unit-testable without a cluster. Facts that need the API (a SubjectAccessReview, the
ScheduledJob a run refers to) are asked for by raising `Unanswered`; the caller asks
the API and calls again with the answer (see `handlers.validate_request`).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from jobwarden.api import constants as c
from jobwarden.api.enums import (
    AuditAction,
    BackfillPhase,
    Guard,
    RunPhase,
    ScheduledJobPhase,
    Trigger,
)
from jobwarden.core.conditions import format_micro_time, parse_time
from jobwarden.core.preview import rarity
from jobwarden.core.refusals import ApiRefusal, classify
from jobwarden.core.scheduling import Schedule, ScheduleError, schedule_of

#: Annotations only jobwarden writes: stamped from the request's user by the mutating
#: webhook, or set by the operator itself. A user's value is never trusted.
STAMPED: Final = (
    c.ANNOTATION_CREATED_BY,
    c.ANNOTATION_TRIGGERED_BY,
    c.ANNOTATION_SUSPEND_CHANGED_BY,
    c.ANNOTATION_CANCEL_REQUESTED_BY,
    c.ANNOTATION_CANCEL_REQUESTED_AT,
    c.ANNOTATION_OPERATOR_CANCEL,
    c.ANNOTATION_RESUME_REQUESTED_BY,
)
MANUAL_TRIGGERS: Final = frozenset({Trigger.MANUAL.value, Trigger.RERUN.value})
TERMINAL_SCHEDULED_JOB_PHASES: Final = frozenset(
    {ScheduledJobPhase.COMPLETED.value, ScheduledJobPhase.CANCELLED.value}
)
VERB_CANCEL: Final = "cancel"
VERB_CREATE: Final = "create"
#: A Backfill's `to` may be this far ahead of the webhook's clock (clocks drift).
BACKFILL_CLOCK_SKEW: Final = datetime.timedelta(seconds=60)
VERB_EXECUTE_SENSITIVE: Final = "execute-sensitive"
#: Where the custom verbs come from (named in denials, so users know what to ask for).
CANCEL_ROLES: Final = "the ClusterRole jobwarden-admin, or jobwarden-cancel bound in the namespace"
SENSITIVE_ROLES: Final = "the ClusterRole jobwarden-admin"


# ------------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class User:
    """The requesting user, as the API server authenticated it."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_userinfo(cls, info: Mapping[str, Any]) -> User:
        """From an AdmissionReview's `request.userInfo`."""
        extra = info.get("extra") or {}
        return cls(
            username=str(info.get("username") or ""),
            uid=str(info.get("uid") or ""),
            groups=tuple(str(g) for g in info.get("groups") or ()),
            extra={str(k): tuple(str(v) for v in vs or ()) for k, vs in extra.items()},
        )


@dataclass(frozen=True)
class Request:
    """One admission request for a ScheduledJob, JobRun or Export (CREATE or UPDATE)."""

    operation: str
    kind: str
    namespace: str
    name: str
    new: Mapping[str, Any]
    old: Mapping[str, Any] | None
    user: User
    #: The operator's own user name: it may set the stamped annotations itself.
    operator: str | None
    now: datetime.datetime

    @property
    def trusted(self) -> bool:
        """The request comes from the operator itself."""
        return bool(self.operator) and self.user.username == self.operator

    @property
    def plural(self) -> str:
        """The resource name RBAC uses for this kind."""
        return c.PLURALS[self.kind]

    @property
    def what(self) -> str:
        """`JobRun "nightly-1"`, for messages."""
        return f'{self.kind} "{self.name}"'


def _annotations(body: Mapping[str, Any] | None) -> dict[str, str]:
    metadata = (body or {}).get("metadata") or {}
    return {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}


def _spec(body: Mapping[str, Any] | None) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = (body or {}).get("spec") or {}
    return spec


def cancel_requested(request: Request) -> bool:
    """This request sets spec.cancel: on create, or false → true on update."""
    new = bool(_spec(request.new).get("cancel"))
    if request.operation == "CREATE":
        return new
    return new and not bool(_spec(request.old).get("cancel"))


def resume_requested(request: Request) -> bool:
    """This request sets (or changes) a ScheduledJob's resume annotation: a resume
    after a pause for failures."""
    if request.kind != c.KIND_SCHEDULED_JOB:
        return False
    new = _annotations(request.new).get(c.ANNOTATION_RESUME)
    old = _annotations(request.old).get(c.ANNOTATION_RESUME)
    return bool(new) and new != old


def is_manual_run(request: Request) -> bool:
    """A JobRun created by hand (trigger Manual or Rerun), not by a schedule."""
    trigger = str(_spec(request.new).get("trigger") or Trigger.MANUAL.value)
    return request.kind == c.KIND_JOB_RUN and trigger in MANUAL_TRIGGERS


def scheduled_job_ref(body: Mapping[str, Any] | None) -> str | None:
    """The name in spec.scheduledJobRef, if any."""
    ref = _spec(body).get("scheduledJobRef") or {}
    return str(ref["name"]) if ref.get("name") else None


# ---------------------------------------------------------------------- stamping
@dataclass(frozen=True)
class Stamps:
    """What the mutating webhook changes: annotation → value (None: remove)."""

    annotations: dict[str, str | None]
    warnings: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)  # filter labels of a new run
    #: The new run's finalizers, when ours must be added (None: leave them).
    finalizers: list[str] | None = None


def expected_stamps(request: Request) -> dict[str, str]:
    """The stamped annotations the stored object must carry after this request.

    Create: who created it (and who triggered a manual run). Update: what it had
    before. A cancel adds who asked for it, and when. The operator's own values win,
    so it can record e.g. `triggered-by: schedule` or cancel on a user's behalf.
    """
    if request.operation == "CREATE":
        stamps = {c.ANNOTATION_CREATED_BY: request.user.username}
        if is_manual_run(request):
            stamps[c.ANNOTATION_TRIGGERED_BY] = request.user.username
    else:
        old = _annotations(request.old)
        stamps = {key: old[key] for key in STAMPED if key in old}
    if cancel_requested(request):
        stamps[c.ANNOTATION_CANCEL_REQUESTED_BY] = request.user.username
        stamps[c.ANNOTATION_CANCEL_REQUESTED_AT] = format_micro_time(request.now)
    if suspend_changed(request):
        stamps[c.ANNOTATION_SUSPEND_CHANGED_BY] = request.user.username
    if resume_requested(request):
        stamps[c.ANNOTATION_RESUME_REQUESTED_BY] = request.user.username
    if request.trusted:
        new = _annotations(request.new)
        stamps.update({key: new[key] for key in STAMPED if key in new})
    return stamps


def suspend_changed(request: Request) -> bool:
    """A ScheduledJob paused or resumed by this request (or created paused)."""
    if request.kind != c.KIND_SCHEDULED_JOB or request.operation not in ("CREATE", "UPDATE"):
        return False
    before = bool(_spec(request.old).get("suspend")) if request.operation == "UPDATE" else False
    return bool(_spec(request.new).get("suspend")) != before


# -------------------------------------------------------------------- audit
@dataclass(frozen=True)
class AuditRecord:
    """One audit line about a user's request the webhooks let through."""

    action: AuditAction
    detail: str = ""


def request_identity(request: Request, uid: str) -> tuple[str, ...]:
    """What tells one user request from another, and a retry of it (the API server
    admits an update again after a conflict: the old object's resourceVersion moves,
    its generation does not) from a new request."""

    def generation(body: Mapping[str, Any] | None) -> str:
        return str(((body or {}).get("metadata") or {}).get("generation") or "")

    return (
        uid,
        request.operation,
        request.user.username,
        generation(request.old),
        generation(request.new),
        json.dumps(_spec(request.new), sort_keys=True),
    )


def changed_fields(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[str]:
    """The spec fields an update changed, by name (added, removed or edited)."""
    before, after = _spec(old), _spec(new)
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def audit_records(request: Request) -> list[AuditRecord]:
    """What a user's admitted request puts in the audit log: a ScheduledJob created,
    changed, paused, resumed, cancelled or deleted; a run now or re-run; a WorkerQuota
    created, changed or deleted. Status writes and the operator's own requests: none."""
    kind, operation, spec = request.kind, request.operation, _spec(request.new)
    if request.trusted:
        return []
    if kind == c.KIND_SCHEDULED_JOB:
        return _scheduled_job_records(request)
    if kind == c.KIND_JOB_RUN and operation == "CREATE":
        ref = scheduled_job_ref(request.new)
        if spec.get("trigger") == Trigger.RERUN.value:
            return [AuditRecord(AuditAction.RERUN, f"rerun of {spec.get('rerunOf')}")]
        if ref:
            return [AuditRecord(AuditAction.RUN_NOW, f"run now of ScheduledJob {ref}")]
        return []
    if kind == c.KIND_WORKER_QUOTA:
        before = _spec(request.old).get("maxRunning") if request.old is not None else None
        after = spec.get("maxRunning") if operation != "DELETE" else None
        if operation == "UPDATE" and before == after:
            return []
        shown = {None: "default"}
        detail = f"maxRunning {shown.get(before, before)} -> {shown.get(after, after)}"
        if operation == "DELETE":
            detail += " (deleted)"
        return [AuditRecord(AuditAction.QUOTA_CHANGED, detail)]
    return []


def _scheduled_job_records(request: Request) -> list[AuditRecord]:
    spec = _spec(request.new)
    if request.operation == "CREATE":
        schedule = spec.get("schedule") or "none (one-time)"
        records = [AuditRecord(AuditAction.SCHEDULED_JOB_CREATED, f"schedule {schedule}")]
        if spec.get("suspend"):
            records.append(AuditRecord(AuditAction.PAUSED, "created paused"))
        return records
    if request.operation == "DELETE":
        return [AuditRecord(AuditAction.SCHEDULED_JOB_DELETED)]
    fields = changed_fields(request.old, request.new)
    records = []
    if "suspend" in fields:
        paused = bool(spec.get("suspend"))
        records.append(AuditRecord(AuditAction.PAUSED if paused else AuditAction.RESUMED))
    if "cancel" in fields and spec.get("cancel"):
        reason = _annotations(request.new).get(c.ANNOTATION_CANCEL_REASON) or ""
        records.append(AuditRecord(AuditAction.SCHEDULED_JOB_CANCELLED, reason))
    rest = [f for f in fields if f not in ("suspend", "cancel")]
    if rest:
        records.append(AuditRecord(AuditAction.SCHEDULED_JOB_CHANGED, "changed " + ", ".join(rest)))
    return records


def stamp(request: Request) -> Stamps:
    """Overwrite whatever the request says in the stamped annotations.

    A value the user wrote that differs is replaced, with a warning kubectl shows;
    an annotation the request dropped (e.g. `kubectl replace` of an old manifest) is
    put back silently.
    """
    expected = expected_stamps(request)
    given = _annotations(request.new)
    changes: dict[str, str | None] = {}
    warnings: list[str] = []
    for key in STAMPED:
        want, have = expected.get(key), given.get(key)
        if want == have:
            continue
        changes[key] = want
        if have is not None:
            now = f"replaced by {want!r}" if want is not None else "removed"
            warnings.append(
                f"{key} is set by jobwarden from the requesting user, not by hand: {have!r} {now}"
            )
    return Stamps(changes, tuple(warnings), filter_labels(request), run_finalizers(request))


def run_finalizers(request: Request) -> list[str] | None:
    """A new JobRun or Export carries the stop-before-delete finalizer: deleting it
    before it has finished then stops it through the cancel path first."""
    if request.operation != "CREATE" or request.kind not in c.RUN_KINDS:
        return None
    have = [str(f) for f in (request.new.get("metadata") or {}).get("finalizers") or []]
    if c.FINALIZER_STOP_BEFORE_DELETE in have:
        return None
    return [*have, c.FINALIZER_STOP_BEFORE_DELETE]


def owner_wanted(request: Request) -> str | None:
    """The ScheduledJob a new run-now or re-run JobRun is to be owned by, None if none
    or it already is: owned, it goes with its job, as `kubectl create job
    --from=cronjob/…` does (deleting the job stops it first: its finalizer), and is
    never left behind with no job's history limits to prune it."""
    if request.operation != "CREATE" or request.kind != c.KIND_JOB_RUN:
        return None
    name = scheduled_job_ref(request.new)
    owners = (request.new.get("metadata") or {}).get("ownerReferences") or []
    if name is None or any(
        o.get("kind") == c.KIND_SCHEDULED_JOB and o.get("name") == name for o in owners
    ):
        return None
    return name


def job_owner_reference(name: str, uid: str) -> dict[str, Any]:
    """A run's ownerReference to its ScheduledJob. blockOwnerDeletion stays off: where
    OwnerReferencesPermissionEnforcement is on it would need the user's delete right
    on the job, and the job's delete already waits for nothing of its runs."""
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_SCHEDULED_JOB,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }


def filter_labels(request: Request) -> dict[str, str]:
    """The filter labels a new run lacks: trigger and ScheduledJob, set at creation so
    that `-l jobwarden.dev/trigger=Manual` works at once and no later write is needed."""
    if request.operation != "CREATE" or request.kind not in (c.KIND_JOB_RUN, c.KIND_EXPORT):
        return {}
    wanted = {c.LABEL_TRIGGER: str(_spec(request.new).get("trigger") or Trigger.MANUAL.value)}
    ref = scheduled_job_ref(request.new)
    if ref:
        wanted[c.LABEL_SCHEDULED_JOB] = ref
    labels = (request.new.get("metadata") or {}).get("labels") or {}
    return {key: value for key, value in wanted.items() if labels.get(key) != value}


def stamp_violation(request: Request) -> str | None:
    """Why the stamped annotations of a request are not what the webhook stamps.

    Only reachable if the mutating webhook was bypassed (another mutating webhook
    changed them after ours, or ours failed open): the validating one denies then.
    """
    if request.trusted:
        return None
    expected = expected_stamps(request)
    given = _annotations(request.new)
    for key in STAMPED:
        want, have = expected.get(key), given.get(key)
        if want == have:
            continue
        fresh_time = (
            key == c.ANNOTATION_CANCEL_REQUESTED_AT and cancel_requested(request) and _parses(have)
        )
        if fresh_time:  # stamped a moment ago by the mutating webhook
            continue
        return (
            f"{key} is set by jobwarden from the requesting user and cannot be set, "
            f"changed or removed by hand (expected {want!r}, got {have!r})"
        )
    return None


def _parses(value: str | None) -> bool:
    try:
        return parse_time(value) is not None
    except ValueError:
        return False


# -------------------------------------------------------------------- validation
@dataclass(frozen=True)
class AccessReview:
    """Does the user hold `verb` on `plural`/`name` in the request's namespace?"""

    verb: str
    plural: str
    name: str


@dataclass(frozen=True)
class ScheduledJobLookup:
    """What is the ScheduledJob `name` in the request's namespace?"""

    name: str


@dataclass(frozen=True)
class WorkerPodCheck:
    """Would the API server create the worker pod of this run? (a server-side dry run
    of the pod the engine would create, built from `run`: a JobRun or Export body as
    JSON, hashable so the answer can be kept with the question)."""

    run: str

    def body(self) -> dict[str, Any]:
        """The run to build the worker pod from."""
        body: dict[str, Any] = json.loads(self.run)
        return body


Question = AccessReview | ScheduledJobLookup | WorkerPodCheck


@dataclass(frozen=True)
class ScheduledJobFacts:
    """The parts of a ScheduledJob the rules need."""

    exists: bool
    sensitive: bool = False
    created_by: str | None = None
    #: What a manual run of the job executes (its dry run is checked): the template and
    #: the grace period its pods get. As JSON, to keep the facts hashable and frozen.
    run_spec: str | None = None
    #: Why the job takes no manual run now (paused, cancelled, completed), else None.
    closed: ScheduledJobPhase | None = None
    #: Its uid: a manual run is owned by it (`job_owner_reference`).
    uid: str | None = None
    #: Its schedule and time zone (a Backfill counts the fires in its range).
    schedule: str | None = None
    time_zone: str = c.DEFAULT_TIME_ZONE

    @classmethod
    def from_body(cls, body: Mapping[str, Any] | None) -> ScheduledJobFacts:
        """From the object as read (None: not found)."""
        if body is None:
            return cls(exists=False)
        spec = _spec(body)
        run_spec = {k: spec[k] for k in ("template", "cancelGracePeriodSeconds") if k in spec}
        return cls(
            exists=True,
            sensitive=bool(spec.get("sensitive")),
            created_by=_annotations(body).get(c.ANNOTATION_CREATED_BY),
            run_spec=json.dumps(run_spec, sort_keys=True) if spec.get("template") else None,
            closed=closed_state(body),
            uid=str((body.get("metadata") or {}).get("uid") or "") or None,
            schedule=str(spec["schedule"]) if spec.get("schedule") else None,
            time_zone=str(spec.get("timeZone") or c.DEFAULT_TIME_ZONE),
        )


def closed_state(body: Mapping[str, Any]) -> ScheduledJobPhase | None:
    """Why a ScheduledJob runs nothing by hand now: cancelled (spec.cancel, or phase
    Cancelled), completed (a one-time job whose run ended) or paused by its user
    (spec.suspend); None when it may run.

    Phase Suspended alone does not refuse: either the user has just resumed it (the
    operator has not seen it yet), or the operator paused it after failed runs in a row
    (status.failurePause), and such a job still takes a manual run: that is how a fix is
    checked before the resume (docs/runbooks.md); its schedule stays paused."""
    spec = _spec(body)
    status = body.get("status") or {}
    phase = str(status.get("phase") or "")
    if spec.get("cancel") or phase == ScheduledJobPhase.CANCELLED:
        return ScheduledJobPhase.CANCELLED
    if phase == ScheduledJobPhase.COMPLETED:
        return ScheduledJobPhase.COMPLETED
    if spec.get("suspend"):
        return ScheduledJobPhase.SUSPENDED
    return None


#: What a denied manual run of a closed ScheduledJob is told, by the job's state.
_CLOSED_HINTS: Final = {
    ScheduledJobPhase.SUSPENDED: (
        "is paused: resume it first (kubectl jobwarden resume {name}, or spec.suspend: false)"
    ),
    ScheduledJobPhase.CANCELLED: (
        "is cancelled: its schedule has ended and it runs no more (create a standalone "
        "JobRun with its template, or a new ScheduledJob)"
    ),
    ScheduledJobPhase.COMPLETED: (
        "is completed: a one-time job runs once (create a new ScheduledJob, or a "
        "standalone JobRun, to run it again)"
    ),
}


@dataclass(frozen=True)
class Facts:
    """Answers to the questions asked so far."""

    scheduled_jobs: Mapping[str, ScheduledJobFacts] = field(default_factory=dict)
    access: Mapping[AccessReview, bool] = field(default_factory=dict)
    #: Dry runs of worker pods: None = the API server would create it.
    pods: Mapping[WorkerPodCheck, ApiRefusal | None] = field(default_factory=dict)

    def answered(self, question: Question, answer: Answer) -> Facts:
        """A copy with one more answer."""
        if isinstance(question, ScheduledJobLookup):
            assert isinstance(answer, ScheduledJobFacts)
            return replace(self, scheduled_jobs={**self.scheduled_jobs, question.name: answer})
        if isinstance(question, WorkerPodCheck):
            assert answer is None or isinstance(answer, ApiRefusal)
            return replace(self, pods={**self.pods, question: answer})
        assert isinstance(answer, bool)
        return replace(self, access={**self.access, question: answer})

    def pod_refusal(self, check: WorkerPodCheck) -> ApiRefusal | None:
        """The dry run's refusal (None: accepted), or raise Unanswered to have it run."""
        if check not in self.pods:
            raise Unanswered(check)
        return self.pods[check]

    def scheduled_job(self, name: str) -> ScheduledJobFacts:
        """The answer, or raise Unanswered to have it looked up."""
        if name not in self.scheduled_jobs:
            raise Unanswered(ScheduledJobLookup(name))
        return self.scheduled_jobs[name]

    def allowed(self, review: AccessReview) -> bool:
        """The answer, or raise Unanswered to have it reviewed."""
        if review not in self.access:
            raise Unanswered(review)
        return self.access[review]


Answer = ScheduledJobFacts | bool | ApiRefusal | None


class Unanswered(Exception):  # noqa: N818 - a request for input, not an error
    """`decide` needs the answer to `question` first."""

    def __init__(self, question: Question) -> None:
        super().__init__(question)
        self.question = question


@dataclass(frozen=True)
class Verdict:
    """The validating webhook's answer."""

    allowed: bool
    message: str = ""
    code: int = 200
    #: For denials worth an audit line: what was attempted ("cancel", "run", …).
    action: Guard | None = None  # what was refused, for the audit line
    #: Shown by kubectl when allowed (e.g. a worker pod refused for now: exceeded quota).
    warnings: tuple[str, ...] = ()


ALLOW: Final = Verdict(True)


def _deny(code: int, message: str, action: Guard | None = None) -> Verdict:
    return Verdict(False, message, code, action)


def decide(request: Request, facts: Facts) -> Verdict:
    """Allow or deny; raises Unanswered when it needs an API answer first."""
    if request.trusted:
        return ALLOW
    verdict = _decide(request, facts)
    if verdict.allowed and request.operation != "DELETE":
        extra = schedule_warnings(request)
        if extra:
            verdict = replace(verdict, warnings=(*verdict.warnings, *extra))
    return verdict


def _decide(request: Request, facts: Facts) -> Verdict:
    if request.operation == "DELETE":
        return _decide_delete(request, facts)
    if request.kind == c.KIND_WORKER_QUOTA:
        return ALLOW  # seen for the audit log only
    violation = stamp_violation(request)
    if violation:
        return _deny(403, violation, Guard.STAMP)
    if request.kind == c.KIND_SCHEDULED_JOB:
        problem = schedule_problem(request)
        if problem:
            return _deny(422, problem)
    if request.kind == c.KIND_JOB_RUN and request.operation == "CREATE":
        verdict = _decide_new_run(request, facts)
        if not verdict.allowed:
            return verdict
    if request.kind == c.KIND_BACKFILL and request.operation == "CREATE":
        verdict = _decide_new_backfill(request, facts)
        if not verdict.allowed:
            return verdict
    if request.operation == "UPDATE" and cancel_requested(request):
        return _decide_cancel(request, facts)
    if cancel_repeated(request):
        phase = terminal_phase(request.kind, request.old)
        if phase is not None:
            return _not_cancellable(request, phase)
    return _check_worker_pod(request, facts)


# ------------------------------------------------------------ the worker pod
def worker_run(request: Request, facts: Facts) -> dict[str, Any] | None:
    """The run whose worker pod this request decides, or None when nothing changes it.

    A JobRun or Export: its own spec, at creation (the spec is immutable after). A
    manual run of a ScheduledJob: the job's template. A ScheduledJob: its template,
    when created or changed (an edit such as suspend or cancel is not refused because
    the namespace's policy changed since).
    """
    new = request.new
    if request.kind == c.KIND_BACKFILL:
        return None  # its runs are the ScheduledJob's: checked when the job was applied
    metadata = new.get("metadata") or {}
    name = str(metadata.get("name") or metadata.get("generateName") or "run").rstrip("-")
    run_meta = {"name": name, "namespace": request.namespace}
    if metadata.get("labels"):
        run_meta["labels"] = metadata["labels"]
    spec = _spec(new)
    if request.kind == c.KIND_SCHEDULED_JOB:
        if request.operation != "CREATE" and spec.get("template") == _spec(request.old).get(
            "template"
        ):
            return None
        run_spec = {k: spec[k] for k in ("template", "cancelGracePeriodSeconds") if k in spec}
        return {"kind": c.KIND_JOB_RUN, "metadata": run_meta, "spec": run_spec}
    if request.operation != "CREATE":
        return None
    if request.kind == c.KIND_EXPORT or spec.get("template"):
        return {"kind": request.kind, "metadata": run_meta, "spec": dict(spec)}
    ref = scheduled_job_ref(new)
    if ref is None:
        return None
    job = facts.scheduled_job(ref)
    if not job.exists or job.run_spec is None:
        return None  # nothing to run (yet): the run fails visibly if it stays so
    return {
        "kind": c.KIND_JOB_RUN,
        "metadata": run_meta,
        "spec": {**json.loads(job.run_spec), **{k: v for k, v in spec.items() if k != "template"}},
    }


def _check_worker_pod(request: Request, facts: Facts) -> Verdict:
    """Refuse a run whose worker pod the API server would refuse for good (an invalid
    template, a PodSecurity violation, …), with its own message; allow, with a warning,
    one it refuses only for now (exceeded quota, a missing ServiceAccount)."""
    run = worker_run(request, facts)
    if run is None:
        return ALLOW
    refusal = facts.pod_refusal(WorkerPodCheck(json.dumps(run, sort_keys=True)))
    if refusal is None:
        return ALLOW
    where = "spec.template" if request.kind != c.KIND_EXPORT else "spec (the export worker)"
    verdict = classify(refusal)
    if verdict.permanent:
        code = refusal.status if 400 <= refusal.status < 500 else 422
        return _deny(
            code,
            f"{where}: the API server would refuse the worker pod of this {request.kind}: "
            f"{refusal.message or refusal.reason}",
        )
    return Verdict(
        True,
        warnings=(
            f"the worker pod of this {request.kind} cannot be created right now "
            f"({verdict.cause}): {refusal.message or refusal.reason}; jobwarden will keep "
            "trying until startTimeoutSeconds",
        ),
    )


def _schedule_changed(request: Request) -> bool:
    """A ScheduledJob created, or its schedule or time zone changed."""
    if request.kind != c.KIND_SCHEDULED_JOB:
        return False
    new, old = _spec(request.new), _spec(request.old)
    return request.operation == "CREATE" or (
        new.get("schedule") != old.get("schedule")
        or str(new.get("timeZone") or c.DEFAULT_TIME_ZONE)
        != str(old.get("timeZone") or c.DEFAULT_TIME_ZONE)
    )


def _parsed(request: Request) -> Schedule:
    """The request's schedule as it would fire (`@daily` for a one-time job: only its
    zone is checked); raises ScheduleError."""
    spec = dict(_spec(request.new))
    spec.setdefault("schedule", "@daily")
    spec["schedule"] = spec["schedule"] or "@daily"
    return schedule_of(request.namespace, request.name, spec)


def schedule_problem(request: Request) -> str | None:
    """An invalid schedule or time zone, when created or changed (else None).

    Unchanged values are not re-checked: an edit such as suspend or cancel must not
    be refused because a rule became stricter after the job was created.
    """
    if not _schedule_changed(request):
        return None
    try:
        _parsed(request)
    except ScheduleError as error:
        return f"spec.{error.field}: {error.message}"
    return None


def schedule_warnings(request: Request) -> tuple[str, ...]:
    """Warnings kubectl prints for a schedule that is valid but surprising, when
    created or changed: one that fires less than once a year (`0 0 29 2 *`)."""
    if not _schedule_changed(request) or not _spec(request.new).get("schedule"):
        return ()
    try:
        schedule = _parsed(request)
    except ScheduleError:
        return ()
    rare = rarity(schedule, request.now)
    return (rare.warning(schedule),) if rare is not None else ()


def _decide_new_run(request: Request, facts: Facts) -> Verdict:
    trigger = str(_spec(request.new).get("trigger") or Trigger.MANUAL.value)
    if trigger not in MANUAL_TRIGGERS:
        return _deny(
            403,
            f"trigger {trigger} is reserved for the runs jobwarden creates from a "
            "ScheduledJob's schedule; use trigger Manual to run a job now",
            Guard.RUN,
        )
    ref = scheduled_job_ref(request.new)
    if ref is None:
        return ALLOW
    job = facts.scheduled_job(ref)
    if job.closed is not None:
        hint = _CLOSED_HINTS[job.closed].format(name=ref)
        return _deny(409, f"ScheduledJob {ref} {hint}", Guard.RUN)
    if not job.sensitive:
        return ALLOW  # includes a job that does not exist (yet): nothing to protect
    if facts.allowed(AccessReview(VERB_EXECUTE_SENSITIVE, c.PLURAL_SCHEDULED_JOBS, ref)):
        return ALLOW
    return _deny(
        403,
        f'{request.user.username} may not run ScheduledJob "{ref}" by hand: it is '
        f"marked sensitive (spec.sensitive: true), and a manual run needs the RBAC verb "
        f'"{VERB_EXECUTE_SENSITIVE}" on {c.PLURAL_SCHEDULED_JOBS}.{c.GROUP} "{ref}" in '
        f'namespace "{request.namespace}" (granted by {SENSITIVE_ROLES})',
        Guard.RUN_SENSITIVE,
    )


def _decide_new_backfill(request: Request, facts: Facts) -> Verdict:
    """A Backfill covers past fires only, at most MAX_BACKFILL_FIRES of them; it runs
    its job as its creator would by hand: it needs the right to create JobRuns, and
    for a sensitive job the verb execute-sensitive."""
    spec = _spec(request.new)
    ref = scheduled_job_ref(request.new) or ""
    start, end = parse_time(spec.get("from")), parse_time(spec.get("to"))
    if start is None or end is None:
        return ALLOW  # the CRD's schema requires both: not reached
    if end > request.now + BACKFILL_CLOCK_SKEW:
        return _deny(
            422,
            f"spec.to: {format_micro_time(end)} is in the future; a Backfill runs past fires "
            "only (the schedule runs the coming ones): set to no later than now",
        )
    if not facts.allowed(AccessReview(VERB_CREATE, c.PLURAL_JOB_RUNS, "")):
        return _deny(
            403,
            f'{request.user.username} may not backfill ScheduledJob "{ref}": a Backfill '
            f"creates JobRuns, and the RBAC verb create on {c.PLURAL_JOB_RUNS}.{c.GROUP} in "
            f'namespace "{request.namespace}" is needed for that',
            Guard.BACKFILL,
        )
    job = facts.scheduled_job(ref)
    if not job.exists:
        return ALLOW  # applied before its job (one kubectl apply): it waits, Pending
    if job.closed == ScheduledJobPhase.CANCELLED:
        # Its runs would be cancelled as they are created. A paused job is backfilled:
        # that is how the fires its pause skipped are run (docs/scheduling.md).
        hint = _CLOSED_HINTS[job.closed].format(name=ref)
        return _deny(409, f"ScheduledJob {ref} {hint}: there is nothing to backfill")
    if job.sensitive and not facts.allowed(
        AccessReview(VERB_EXECUTE_SENSITIVE, c.PLURAL_SCHEDULED_JOBS, ref)
    ):
        return _deny(
            403,
            f'{request.user.username} may not backfill ScheduledJob "{ref}": it is marked '
            f"sensitive (spec.sensitive: true), and its runs need the RBAC verb "
            f'"{VERB_EXECUTE_SENSITIVE}" on {c.PLURAL_SCHEDULED_JOBS}.{c.GROUP} "{ref}" in '
            f'namespace "{request.namespace}" (granted by {SENSITIVE_ROLES})',
            Guard.BACKFILL_SENSITIVE,
        )
    if job.schedule is None:
        return _deny(
            422,
            f'spec.scheduledJobRef: ScheduledJob "{ref}" is a one-time job (no schedule): it '
            "has no fires to backfill",
        )
    try:
        schedule = schedule_of(
            request.namespace, ref, {"schedule": job.schedule, "timeZone": job.time_zone}
        )
    except ScheduleError:
        return ALLOW  # the operator reports the job's invalid schedule
    fires = schedule.count_between(start - datetime.timedelta(microseconds=1), end)
    if fires > c.MAX_BACKFILL_FIRES:
        return _deny(
            422,
            f"spec: the range holds {fires} fires of {schedule}, more than "
            f"{c.MAX_BACKFILL_FIRES}: split it into several Backfills",
        )
    if fires == 0:
        return Verdict(
            True, warnings=(f"the range holds no fire of {schedule}: nothing to backfill",)
        )
    return ALLOW


def terminal_phase(kind: str, body: Mapping[str, Any] | None) -> str | None:
    """The object's phase if it is final (nothing left to cancel), else None."""
    phase = str(((body or {}).get("status") or {}).get("phase") or "")
    if kind == c.KIND_SCHEDULED_JOB:
        return phase if phase in TERMINAL_SCHEDULED_JOB_PHASES else None
    if kind == c.KIND_BACKFILL:
        try:
            return phase if BackfillPhase(phase).terminal else None
        except ValueError:
            return None
    try:
        return phase if RunPhase(phase).terminal else None
    except ValueError:
        return None


def _not_cancellable(request: Request, phase: str) -> Verdict:
    return _deny(
        409,
        f"{request.what} is not in a cancellable state: {phase} (it has already "
        "finished; there is nothing to cancel)",
        Guard.CANCEL,
    )


#: What a repeated cancel may change besides nothing: its free-text reason.
_REPEAT_MAY_CHANGE: Final = frozenset({c.ANNOTATION_CANCEL_REASON})


def cancel_repeated(request: Request) -> bool:
    """An UPDATE of a JobRun or Export whose cancel was asked for before, that sets
    `cancel: true` again and changes nothing else (perhaps the cancel reason): e.g.
    `kubectl patch … '{"spec":{"cancel":true}}'` on a run already cancelled."""
    if request.operation != "UPDATE" or request.kind not in c.RUN_KINDS:
        return False
    if not (_spec(request.old).get("cancel") and _spec(request.new).get("cancel")):
        return False
    return _essence(request.old) == _essence(request.new)


def _essence(body: Mapping[str, Any] | None) -> tuple[str, ...]:
    """What a user's update can change of an object, as comparable JSON."""
    metadata = (body or {}).get("metadata") or {}
    annotations = {k: v for k, v in _annotations(body).items() if k not in _REPEAT_MAY_CHANGE}
    return tuple(
        json.dumps(part, sort_keys=True)
        for part in (
            _spec(body),
            metadata.get("labels") or {},
            annotations,
            metadata.get("finalizers") or [],
            metadata.get("ownerReferences") or [],
        )
    )


#: Who deletes on behalf of a decision already taken: the garbage collector (the owner,
#: e.g. a ScheduledJob, was deleted) and the namespace controller (its namespace was).
#: Their deletes are let through; the finalizer still stops the run first.
SYSTEM_DELETERS: Final = frozenset(
    {
        "system:serviceaccount:kube-system:generic-garbage-collector",
        "system:serviceaccount:kube-system:namespace-controller",
    }
)


def stops_on_delete(request: Request) -> bool:
    """A delete that stops something: a run not finished yet, or a ScheduledJob with
    active runs (it is not being deleted already)."""
    old = request.old or request.new
    if ((old.get("metadata") or {}).get("deletionTimestamp")) is not None:
        return False
    if request.kind in c.RUN_KINDS:
        return terminal_phase(request.kind, old) is None
    if request.kind == c.KIND_SCHEDULED_JOB:
        return int(((old.get("status") or {}).get("activeCount")) or 0) > 0
    return False


def _decide_delete(request: Request, facts: Facts) -> Verdict:
    """Deleting a run that has not finished stops it: only those who may cancel it
    (its creator, or the verb cancel) may. The same for a ScheduledJob with active runs."""
    if not stops_on_delete(request) or request.user.username in SYSTEM_DELETERS:
        return ALLOW
    as_cancel = dataclasses.replace(request, old=request.old or request.new)
    verdict = _decide_cancel(as_cancel, facts)
    if verdict.allowed:
        return ALLOW
    what = "it has active runs" if request.kind == c.KIND_SCHEDULED_JOB else "it has not finished"
    message = verdict.message.replace("may not cancel", "may not delete", 1)
    return _deny(
        403,
        f"{message}. Deleting {request.what} while {what} stops it as a cancel does, so "
        "it takes the same right: wait until it has finished, or ask one of them",
        Guard.DELETE,
    )


def _decide_cancel(request: Request, facts: Facts) -> Verdict:
    phase = terminal_phase(request.kind, request.old)
    if phase is not None:
        return _not_cancellable(request, phase)
    user = request.user.username
    creators = [_annotations(request.old).get(c.ANNOTATION_CREATED_BY)]
    if creators[0] == user:
        return ALLOW
    ref = scheduled_job_ref(request.old)
    if request.kind == c.KIND_JOB_RUN and ref and creators[0] == request.operator:
        # A run the operator created for a schedule belongs to the job's creator.
        job = facts.scheduled_job(ref)
        creators.append(job.created_by)
        if job.created_by == user:
            return ALLOW
    if facts.allowed(AccessReview(VERB_CANCEL, request.plural, request.name)):
        return ALLOW
    known = [name for name in creators if name]
    creator = " / ".join(known) if known else "unknown"
    return _deny(
        403,
        f"{user} may not cancel {request.what}: only its creator ({creator}) or a user "
        f'with the RBAC verb "{VERB_CANCEL}" on {request.plural}.{c.GROUP} in namespace '
        f'"{request.namespace}" may cancel it (granted by {CANCEL_ROLES})',
        Guard.CANCEL,
    )
