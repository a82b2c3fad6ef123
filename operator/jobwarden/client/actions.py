"""The user's actions on jobwarden objects, shared by the kubectl plugin and the
dashboard so both do exactly the same: cancel (one bound on the reason, the
operator's), run a ScheduledJob now, pause and resume it, re-run a finished run,
backfill a past range.

Each action is one ordinary API request as the caller's kubeconfig identity: RBAC and
jobwarden's admission webhook decide, never this module. `dry_run` is "none",
"client" (nothing is sent) or "server" (sent with dryRun=All: RBAC and the webhook
answer, nothing is stored).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jobwarden.api import constants as c
from jobwarden.api.enums import Trigger
from jobwarden.client.access import Access, cancel_right
from jobwarden.client.kube import JSON, Kube, KubeError, resource_path
from jobwarden.client.objects import (
    PLURALS,
    cancel_requested,
    failure_pause,
    is_finished,
    is_terminal,
    metadata,
    name_of,
    namespace_of,
    phase_of,
    scheduled_job_of,
    spec_of,
)
from jobwarden.client.text import format_timestamp

#: The cancel reason is cut where the operator cuts it for status.cancellation.reason
#: (the CRD's bound on messages; core.lifecycle.MAX_REASON_CHARS, checked equal by
#: tests/unit/test_client_actions.py).
MAX_REASON_CHARS = c.MAX_MESSAGE_CHARS
NO_DRY_RUN = "none"
CLIENT_DRY_RUN = "client"
SERVER_DRY_RUN = "server"


class Result(StrEnum):
    """What an action did to one object."""

    REQUESTED = "requested"
    UNCHANGED = "unchanged"
    WOULD_CANCEL = "would-cancel"
    WOULD_BE_DENIED = "would-be-denied"
    NOT_CANCELLABLE = "not-cancellable"
    DENIED = "denied"
    NOT_FOUND = "not-found"
    FAILED = "failed"
    PAUSED = "paused"
    RESUMED = "resumed"


#: The results that count as done (or already done, or that would be done).
DONE = frozenset(
    {Result.REQUESTED, Result.UNCHANGED, Result.WOULD_CANCEL, Result.PAUSED, Result.RESUMED}
)
#: How an API error status reads as a result.
_ERRORS = {403: Result.DENIED, 404: Result.NOT_FOUND, 409: Result.NOT_CANCELLABLE}


@dataclass
class Outcome:
    """What happened to one object."""

    kind: str
    namespace: str
    name: str
    result: Result
    message: str = ""

    @property
    def ok(self) -> bool:
        """The object is done (or would be, or already was)."""
        return self.result in DONE

    def record(self) -> JSON:
        """As printed with -o json/yaml, and as the dashboard reports it."""
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "result": str(self.result),
            "message": self.message,
        }


def error_result(error: KubeError) -> Result:
    """The result an API error stands for: denied (403: RBAC or the webhook), not
    found, not cancellable (409), else failed."""
    return _ERRORS.get(error.status, Result.FAILED)


def _query(dry_run: str) -> dict[str, str]:
    return {"dryRun": "All"} if dry_run == SERVER_DRY_RUN else {}


# ------------------------------------------------------------------------ cancel
def bounded_reason(reason: str | None) -> str | None:
    """The cancel reason as it will be recorded: trimmed, and cut to the length the
    operator keeps in `status.cancellation.reason` (None when empty)."""
    text = (reason or "").strip()
    return text[:MAX_REASON_CHARS] or None


def cancel_patch(reason: str | None = None) -> JSON:
    """The merge patch of a cancel: `spec.cancel: true`, and the reason as the
    annotation the operator copies into `status.cancellation.reason`."""
    patch: JSON = {"spec": {"cancel": True}}
    bounded = bounded_reason(reason)
    if bounded:
        patch["metadata"] = {"annotations": {c.ANNOTATION_CANCEL_REASON: bounded}}
    return patch


def request_cancel(
    kube: Kube,
    kind: str,
    namespace: str,
    name: str,
    reason: str | None = None,
    *,
    dry_run: str = NO_DRY_RUN,
) -> JSON:
    """Send the cancel of one object; the updated object (KubeError if refused)."""
    path = resource_path(PLURALS[kind], namespace, name)
    return kube.merge_patch(path, cancel_patch(reason), **_query(dry_run))


def open_to_cancel(objects: Iterable[Mapping[str, Any]]) -> list[JSON]:
    """What "cancel all" selects: the objects not finished and with no cancel asked
    for yet, by namespace, kind and name."""
    live = [dict(o) for o in objects if not is_finished(o) and not cancel_requested(o)]
    return sorted(live, key=lambda o: (namespace_of(o), str(o.get("kind")), name_of(o)))


def cancel(
    kube: Kube,
    obj: Mapping[str, Any],
    *,
    reason: str | None = None,
    dry_run: str = NO_DRY_RUN,
    me: str | None = None,
    access: Access | None = None,
    job: Mapping[str, Any] | None = None,
) -> Outcome:
    """Cancel `obj` and say what happened: nothing is sent for an object that has
    ended (not cancellable, as the webhook would answer 409) or whose cancel was
    already asked for (unchanged). A client dry run asks the access reviews instead."""
    kind, namespace, name = str(obj["kind"]), namespace_of(obj), name_of(obj)

    def outcome(result: Result, message: str = "") -> Outcome:
        return Outcome(kind, namespace, name, result, message)

    if is_finished(obj):
        return outcome(
            Result.NOT_CANCELLABLE,
            f"not in a cancellable state: {phase_of(obj)} (nothing to cancel)",
        )
    if cancel_requested(obj):
        return outcome(Result.UNCHANGED, f"cancel already requested ({phase_of(obj)})")
    if dry_run == CLIENT_DRY_RUN:
        right = cancel_right(obj, me, access or Access(kube), job)
        if right.allowed:
            return outcome(Result.WOULD_CANCEL, f"{phase_of(obj)}; allowed as {right.why}")
        return outcome(Result.WOULD_BE_DENIED, f"you may not cancel it: {right.why}")
    try:
        request_cancel(kube, kind, namespace, name, reason, dry_run=dry_run)
    except KubeError as error:
        return outcome(error_result(error), error.describe())
    return outcome(Result.REQUESTED, f"was {phase_of(obj)}")


# ------------------------------------------------------------------ pause/resume
def request_suspend(
    kube: Kube, namespace: str, name: str, suspend: bool, *, dry_run: str = NO_DRY_RUN
) -> JSON:
    """Set a ScheduledJob's `spec.suspend`; the updated object (KubeError if refused)."""
    path = resource_path(c.PLURAL_SCHEDULED_JOBS, namespace, name)
    return kube.merge_patch(path, {"spec": {"suspend": suspend}}, **_query(dry_run))


def resume_patch(job: Mapping[str, Any]) -> JSON | None:
    """What resuming `job` takes (None: it is not paused): `spec.suspend: false` if
    the user paused it, and, if the operator paused it after failed runs, the
    annotation jobwarden.dev/resume naming that pause (status.failurePause.since):
    metadata, never spec, so a GitOps tool sees no drift."""
    patch: JSON = {}
    if spec_of(job).get("suspend"):
        patch["spec"] = {"suspend": False}
    pause = failure_pause(job)
    if pause is not None:
        patch["metadata"] = {"annotations": {c.ANNOTATION_RESUME: str(pause.get("since"))}}
    return patch or None


def request_resume(kube: Kube, job: Mapping[str, Any], *, dry_run: str = NO_DRY_RUN) -> JSON:
    """Resume a ScheduledJob (see `resume_patch`); the updated object, or `job` itself
    when it is not paused (KubeError if refused)."""
    patch = resume_patch(job)
    if patch is None:
        return dict(job)
    path = resource_path(c.PLURAL_SCHEDULED_JOBS, namespace_of(job), name_of(job))
    return kube.merge_patch(path, patch, **_query(dry_run))


def suspend(
    kube: Kube, job: Mapping[str, Any], suspend: bool, *, dry_run: str = NO_DRY_RUN
) -> Outcome:
    """Pause (`suspend`) or resume a ScheduledJob and say what happened; nothing is
    sent when it already is as wanted (unchanged) or for a client dry run. Resume also
    ends a pause after failed runs (status.failurePause)."""
    namespace, name = namespace_of(job), name_of(job)
    done = Result.PAUSED if suspend else Result.RESUMED

    def outcome(result: Result, message: str = "") -> Outcome:
        return Outcome(c.KIND_SCHEDULED_JOB, namespace, name, result, message)

    if suspend and bool(spec_of(job).get("suspend")):
        return outcome(Result.UNCHANGED, f"already {done}")
    if not suspend and resume_patch(job) is None:
        return outcome(Result.UNCHANGED, f"already {done}")
    note = "" if suspend or failure_pause(job) is None else "after a pause for failures"
    if dry_run == CLIENT_DRY_RUN:
        return outcome(done, "would be" + (f" ({note})" if note else ""))
    try:
        if suspend:
            request_suspend(kube, namespace, name, True, dry_run=dry_run)
        else:
            request_resume(kube, job, dry_run=dry_run)
    except KubeError as error:
        return outcome(Result.DENIED if error.status == 403 else Result.FAILED, error.describe())
    return outcome(done, note)


# ------------------------------------------------------------- run now / re-run
def create(kube: Kube, body: Mapping[str, Any], *, dry_run: str = NO_DRY_RUN) -> JSON:
    """Create a run (a body from `manual_run` or `rerun`) as the caller; the object
    the API server made, with its kind."""
    kind = str(body["kind"])
    namespace = str(metadata(body).get("namespace") or "")
    created = kube.create(resource_path(PLURALS[kind], namespace), dict(body), **_query(dry_run))
    created.setdefault("kind", kind)
    return created


def run_now(
    kube: Kube,
    namespace: str,
    job: str,
    *,
    priority: str | None = None,
    dry_run: str = NO_DRY_RUN,
) -> JSON:
    """Create a Manual JobRun of the ScheduledJob `job`."""
    return create(kube, manual_run(job, namespace, priority), dry_run=dry_run)


# ------------------------------------------------------------------ new objects
_GENERATED_SUFFIX = re.compile(r"-(manual|rerun)-[a-z0-9]{5}$")
#: Characters the API server appends to a generateName.
GENERATED_CHARS = 5


def generate_name(base: str, word: str) -> str:
    """`<base>-<word>-` for metadata.generateName, shortened so the generated name
    stays within the run name limit."""
    room = c.MAX_RUN_NAME - GENERATED_CHARS - len(word) - 2
    return f"{base[:room].rstrip('-.')}-{word}-"


def manual_run(job: str, namespace: str, priority: str | None = None) -> JSON:
    """A run-now JobRun of the ScheduledJob `job`."""
    spec: JSON = {"scheduledJobRef": {"name": job}, "trigger": Trigger.MANUAL.value}
    if priority:
        spec["priority"] = priority
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_JOB_RUN,
        "metadata": {"generateName": generate_name(job, "manual"), "namespace": namespace},
        "spec": spec,
    }


def backfill(
    job: str,
    namespace: str,
    start: datetime.datetime,
    end: datetime.datetime,
    max_concurrent_runs: int | None = None,
) -> JSON:
    """A Backfill of the ScheduledJob `job`: the runs of its fires in [start, end]."""
    spec: JSON = {
        "scheduledJobRef": {"name": job},
        "from": format_timestamp(start),
        "to": format_timestamp(end),
    }
    if max_concurrent_runs is not None:
        spec["maxConcurrentRuns"] = max_concurrent_runs
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_BACKFILL,
        "metadata": {"generateName": generate_name(job, "backfill"), "namespace": namespace},
        "spec": spec,
    }


class FireAction(StrEnum):
    """What a Backfill would do with one fire (its dry run)."""

    CREATE = "create"
    SKIP = "skip"


@dataclass(frozen=True)
class PlannedFire:
    """One fire of a Backfill's range, and what the operator would do with it."""

    fire: datetime.datetime
    name: str
    action: FireAction
    why: str = ""

    def record(self) -> JSON:
        """As printed with -o json/yaml."""
        return {
            "scheduledTime": format_timestamp(self.fire),
            "run": self.name,
            "action": str(self.action),
            "why": self.why,
        }


def backfill_plan(
    fires: Iterable[tuple[datetime.datetime, str]],
    runs: Iterable[Mapping[str, Any]],
    job: Mapping[str, Any],
) -> list[PlannedFire]:
    """What a Backfill would do with each fire, as the operator decides it: a fire
    whose run exists (or is in the job's status.history) is skipped, the others get
    a run."""
    existing = {name_of(run): phase_of(run) for run in runs}
    history = {str(h.get("name")): str(h.get("phase")) for h in _history(job)}
    planned = []
    for fire, name in fires:
        if name in existing:
            planned.append(
                PlannedFire(fire, name, FireAction.SKIP, f"run exists ({existing[name]})")
            )
        elif name in history:
            planned.append(PlannedFire(fire, name, FireAction.SKIP, f"ran ({history[name]})"))
        else:
            planned.append(PlannedFire(fire, name, FireAction.CREATE))
    return planned


def _history(job: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = (job.get("status") or {}).get("history") or []
    return [entry for entry in entries if isinstance(entry, Mapping)]


def _user_labels(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = metadata(obj).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items() if not str(k).startswith(f"{c.GROUP}/")}


class NotFinishedError(ValueError):
    """Only a finished run can be run again."""


def rerun(obj: Mapping[str, Any]) -> JSON:
    """A new run repeating the finished run `obj`: a JobRun with the same
    scheduledJobRef or template and settings, trigger Rerun and rerunOf; an Export
    with the same spec. NotFinishedError if `obj` has not ended."""
    kind, name = str(obj.get("kind")), name_of(obj)
    if not is_terminal(obj):
        raise NotFinishedError(f"{kind} {name} is {phase_of(obj)}: only a finished run is re-run")
    spec = {k: v for k, v in spec_of(obj).items() if k != "cancel"}
    if kind == c.KIND_JOB_RUN:
        for key in ("trigger", "rerunOf", "scheduledTime"):
            spec.pop(key, None)
        spec["trigger"] = Trigger.RERUN.value
        spec["rerunOf"] = name
    base = scheduled_job_of(obj) or _GENERATED_SUFFIX.sub("", name)
    body: JSON = {
        "apiVersion": c.API_VERSION,
        "kind": kind,
        "metadata": {"generateName": generate_name(base, "rerun"), "namespace": namespace_of(obj)},
        "spec": spec,
    }
    labels = _user_labels(obj)
    if labels:
        body["metadata"]["labels"] = labels
    return body
