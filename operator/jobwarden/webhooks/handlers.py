"""kopf admission handlers for ScheduledJob, JobRun, Export and Backfill.

- `identity.<plural>` (mutating) stamps who created, triggered and cancelled, and
  overwrites whatever a request says in those annotations;
- `policy.<plural>` (validating) checks cancels, manual runs of sensitive jobs and
  schedules, and re-checks the stamps in case another webhook changed them.

Both see CREATE and UPDATE; the validating one also DELETE (an unfinished run may
be deleted only by who may cancel it, and is stopped first) and WorkerQuota writes
(audited). A status write never waits for the operator. Their answers depend on
reads, SubjectAccessReviews and server-side dry runs only; what they write (audit
lines, and the cancel annotations of an allowed delete that stops runs) is skipped
for server-side dry-run requests, which are answered exactly as the real request.

kopf fixes a webhook's failurePolicy when the handler is registered, at import: it is
read from JOBWARDEN_WEBHOOK_FAILURE_POLICY like the rest of OperatorConfig.

`configure_admission`, called from the operator's startup, sets up the runtime the
handlers share (`runtime.AdmissionRuntime`) and keeps it in kopf's memo, where every
handler finds it: this module uses the runtime, the runtime knows nothing of it.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import kopf

from jobwarden.api import constants as c
from jobwarden.settings import OperatorConfig
from jobwarden.webhooks import decisions, directpatch, selfskip
from jobwarden.webhooks.runtime import (
    CONFIGURATION_NAME,
    AdmissionRuntime,
    AdmissionServer,
    request_from,
)

logger = logging.getLogger("jobwarden.webhooks")

PLURALS: Final = (
    c.PLURAL_SCHEDULED_JOBS,
    c.PLURAL_JOB_RUNS,
    c.PLURAL_EXPORTS,
    c.PLURAL_BACKFILLS,
)
OPERATIONS: Final = ("CREATE", "UPDATE")
#: The validating webhook also sees deletes of ScheduledJobs and every change of a
#: WorkerQuota, for the audit log.
VALIDATED_OPERATIONS: Final = {
    c.PLURAL_SCHEDULED_JOBS: ("CREATE", "UPDATE", "DELETE"),
    c.PLURAL_JOB_RUNS: ("CREATE", "UPDATE", "DELETE"),
    c.PLURAL_EXPORTS: ("CREATE", "UPDATE", "DELETE"),
    c.PLURAL_WORKER_QUOTAS: ("CREATE", "UPDATE", "DELETE"),
}
FAILURE_POLICY: Final = OperatorConfig.from_env().webhook_failure_policy
#: Where the runtime is kept in kopf's memo (the operator's, copied to every object's).
MEMO_KEY: Final = "admission"


def check_failure_policy(config: OperatorConfig) -> None:
    """The configuration must match what the handlers were registered with."""
    if config.webhook_failure_policy != FAILURE_POLICY:
        raise ValueError(
            f"webhook failure policy {config.webhook_failure_policy} was configured after "
            f"the handlers were registered with {FAILURE_POLICY}: set "
            "JOBWARDEN_WEBHOOK_FAILURE_POLICY in the environment before the start"
        )


def configure_admission(
    settings: kopf.OperatorSettings, config: OperatorConfig, memo: kopf.Memo
) -> None:
    """Serve the webhooks with our certificates; let kopf create and keep the
    webhook configurations for jobwarden's resources (ScheduledJob, JobRun, Export)."""
    check_failure_policy(config)
    runtime = AdmissionRuntime(config)
    memo[MEMO_KEY] = runtime
    settings.admission.server = AdmissionServer(runtime)
    settings.admission.managed = CONFIGURATION_NAME
    selfskip.install(lambda: runtime.operator)


def runtime_of(memo: kopf.Memo) -> AdmissionRuntime:
    """The runtime `configure_admission` set up (the handlers' shared state)."""
    runtime = memo.get(MEMO_KEY)
    if not isinstance(runtime, AdmissionRuntime):
        raise RuntimeError("admission webhooks are not configured (configure_admission)")
    return runtime


async def stamp_identity(
    *,
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    patch: kopf.Patch,
    warnings: list[str],
    memo: kopf.Memo,
    operation: str = "",
    old: kopf.Body | None = None,
    **_: Any,
) -> None:
    """Stamp created-by, triggered-by and cancel-requested-by/-at from the user."""
    directpatch.answer_directly(patch)  # the JSON Patch from the stamps, not a diff
    request = request_from(
        operation=operation,
        body=dict(body),
        old=dict(old) if old is not None else None,
        userinfo=userinfo,
        operator=runtime_of(memo).operator,
    )
    stamps = decisions.stamp(request)
    for key, value in stamps.annotations.items():
        patch.metadata.annotations[key] = value
    for key, value in stamps.labels.items():
        patch.metadata.labels[key] = value
    if stamps.finalizers is not None:
        patch.metadata["finalizers"] = stamps.finalizers
    warnings.extend(stamps.warnings)
    job = decisions.owner_wanted(request)
    if job is not None:
        runtime = runtime_of(memo)
        facts = await runtime.answer(request, decisions.ScheduledJobLookup(job))
        if isinstance(facts, decisions.ScheduledJobFacts) and facts.uid:
            owners = list((body.get("metadata") or {}).get("ownerReferences") or [])
            owners.append(decisions.job_owner_reference(job, facts.uid))
            patch.metadata["ownerReferences"] = owners


async def check_policy(
    *,
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    dryrun: bool,
    warnings: list[str],
    memo: kopf.Memo,
    operation: str = "",
    old: kopf.Body | None = None,
    **_: Any,
) -> None:
    """Allow or deny with a message that says why and what would allow it."""
    runtime = runtime_of(memo)
    request = request_from(
        operation=operation,
        body=dict(body),
        old=dict(old) if old is not None else None,
        userinfo=userinfo,
        operator=runtime.operator,
    )
    try:
        verdict = await runtime.decide(request)
    except Exception as error:  # fail closed, and say so
        logger.warning("admission check of %s failed: %s", request.what, error)
        raise kopf.AdmissionError(
            f"jobwarden could not check this request ({error}); try again", code=503
        ) from error
    if verdict.allowed:
        warnings.extend(verdict.warnings)
        if not dryrun:
            runtime.audit_allowed(request, _uid(body, old))
            if request.operation == "DELETE" and decisions.stops_on_delete(request):
                try:
                    await runtime.stop_before_delete(request)
                except Exception as error:  # the delete must not bypass the cancel path
                    logger.warning("could not record the delete of %s: %s", request.what, error)
                    raise kopf.AdmissionError(
                        f"jobwarden could not stop {request.what} before deleting it "
                        f"({error}); try again",
                        code=503,
                    ) from error
        return
    if not dryrun:
        uid = str(old.metadata.uid or "") if old is not None else ""
        logger.info("denied %s of %s: %s", operation, request.what, verdict.message)
        if verdict.action:
            runtime.audit_denial(request, verdict, uid)
    raise kopf.AdmissionError(verdict.message, code=verdict.code)


def _uid(body: kopf.Body, old: kopf.Body | None) -> str:
    """The object's uid: a validating webhook sees it on CREATE too (the API server
    assigns it before validation)."""
    uid = body.metadata.uid or (old.metadata.uid if old is not None else None)
    return str(uid or "")


for _plural in (*PLURALS, c.PLURAL_WORKER_QUOTAS):
    _options: dict[str, Any] = {
        "operations": VALIDATED_OPERATIONS.get(_plural, OPERATIONS),
        "persistent": True,  # kept when a replica stops: the others still serve them
        # NoneOnDryRun: every validating webhook may write (audit lines of what it lets
        # through or refuses, a Backfill's refusals included; the cancel of a delete).
        "side_effects": True,
        "ignore_failures": FAILURE_POLICY == "Ignore",
    }
    if _plural in PLURALS:
        kopf.on.mutate(
            c.GROUP,
            c.VERSION,
            _plural,
            id=f"identity.{_plural}",
            **{**_options, "operations": OPERATIONS, "side_effects": False},
        )(stamp_identity)
    kopf.on.validate(c.GROUP, c.VERSION, _plural, id=f"policy.{_plural}", **_options)(check_policy)


@kopf.on.cleanup()
async def close_admission(memo: kopf.Memo, **_: Any) -> None:
    """Stop certificate checks and close the webhooks' API client."""
    runtime = memo.pop(MEMO_KEY, None)
    if isinstance(runtime, AdmissionRuntime):
        await runtime.stop()
