"""Names shared by the CRDs, the operator, the webhooks and the CLI.

Kept in one place so a label or annotation key is never spelled two ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

GROUP: Final = "jobwarden.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
CATEGORY: Final = "jobwarden"

KIND_SCHEDULED_JOB: Final = "ScheduledJob"
KIND_JOB_RUN: Final = "JobRun"
KIND_EXPORT: Final = "Export"
KIND_WORKER_QUOTA: Final = "WorkerQuota"
KIND_BACKFILL: Final = "Backfill"

PLURAL_SCHEDULED_JOBS: Final = "scheduledjobs"
PLURAL_JOB_RUNS: Final = "jobruns"
PLURAL_EXPORTS: Final = "exports"
PLURAL_WORKER_QUOTAS: Final = "workerquotas"
PLURAL_BACKFILLS: Final = "backfills"
#: The one map from a kind to its plural (the REST paths' resource name).
PLURALS: Final[Mapping[str, str]] = MappingProxyType(
    {
        KIND_SCHEDULED_JOB: PLURAL_SCHEDULED_JOBS,
        KIND_JOB_RUN: PLURAL_JOB_RUNS,
        KIND_EXPORT: PLURAL_EXPORTS,
        KIND_WORKER_QUOTA: PLURAL_WORKER_QUOTAS,
        KIND_BACKFILL: PLURAL_BACKFILLS,
    }
)
#: The kinds one engine runs (same lifecycle, same status).
RUN_KINDS: Final = (KIND_JOB_RUN, KIND_EXPORT)

# Annotations stamped by the admission webhook from the request's user; users cannot
# forge them (the webhook overwrites whatever a request carries).
ANNOTATION_CREATED_BY: Final = f"{GROUP}/created-by"
ANNOTATION_CANCEL_REQUESTED_BY: Final = f"{GROUP}/cancel-requested-by"
ANNOTATION_CANCEL_REQUESTED_AT: Final = f"{GROUP}/cancel-requested-at"
ANNOTATION_TRIGGERED_BY: Final = f"{GROUP}/triggered-by"
#: On every JobRun and Export: a delete of an unfinished run waits until the operator
#: has stopped it through the cancel path (SIGTERM, grace, status.cancellation).
FINALIZER_STOP_BEFORE_DELETE: Final = f"{GROUP}/stop-before-delete"
#: The cancel reason recorded when a run is stopped because it was deleted.
DELETED_REASON: Final = "deleted"
#: Who last paused or resumed a ScheduledJob (spec.suspend), stamped by the webhook.
ANNOTATION_SUSPEND_CHANGED_BY: Final = f"{GROUP}/suspend-changed-by"
# Free text a user (or `kubectl jobwarden cancel --reason`) may set next to
# `spec.cancel: true`; copied into `status.cancellation.reason`.
ANNOTATION_CANCEL_REASON: Final = f"{GROUP}/cancel-reason"
# Set by the operator itself (never by users) on a run it cancels: concurrencyPolicy
# Replace, or a cancelled ScheduledJob. The operator never writes a user's spec.
ANNOTATION_OPERATOR_CANCEL: Final = f"{GROUP}/operator-cancel"
# Resume of a ScheduledJob paused after failures (`status.failurePause`): set to the
# pause's `since` (what `kubectl jobwarden resume` does). Metadata, not spec: GitOps
# tools see no spec diff; the operator never writes a user's spec.
ANNOTATION_RESUME: Final = f"{GROUP}/resume"
# Stamped by the admission webhook: who set `jobwarden.dev/resume` (for the audit).
ANNOTATION_RESUME_REQUESTED_BY: Final = f"{GROUP}/resume-requested-by"

# Labels the operator puts on the objects it creates, for selection and filtering.
LABEL_SCHEDULED_JOB: Final = f"{GROUP}/scheduledjob"
LABEL_RUN: Final = f"{GROUP}/run"
LABEL_RUN_KIND: Final = f"{GROUP}/run-kind"
LABEL_ATTEMPT: Final = f"{GROUP}/attempt"
LABEL_TRIGGER: Final = f"{GROUP}/trigger"
LABEL_TENANT: Final = f"{GROUP}/tenant"
#: On the runs a Backfill creates: the Backfill's name.
LABEL_BACKFILL: Final = f"{GROUP}/backfill"

# Name limits, enforced by the CRDs' root CEL rules. A scheduled run is named
# `<scheduledjob>-<unix seconds, 10 digits>`, and a worker pod `<run>-<attempt>`;
# pod names become label values (63 characters at most), so:
MAX_SCHEDULED_JOB_NAME: Final = 40  # 40 + 1 + 10 = 51 <= MAX_RUN_NAME
MAX_RUN_NAME: Final = 52  # 52 + 1 + len("14") = 55 <= 63 (attempts stay below 100)
MAX_LABEL_VALUE: Final = 63

# Bounds of the run settings, shared by the models and the tests.
MIN_TIMEOUT_SECONDS: Final = 1
MAX_TIMEOUT_SECONDS: Final = 14400
DEFAULT_TIMEOUT_SECONDS: Final = 1800
MAX_RETRIES: Final = 10
DEFAULT_RETRIES: Final = 3
#: Attempts ended by a disruption (eviction, preemption, a deletion outside jobwarden, a
#: lost node) are retried without spending a retry, at most this many times per run.
MAX_DISRUPTIONS: Final = 3
MAX_ATTEMPTS: Final = MAX_RETRIES + 1 + MAX_DISRUPTIONS
#: Bounds of `startTimeoutSeconds`: how long an attempt may take from its first pod
#: create to a started worker container (scheduling, image pull, container creation).
MIN_START_TIMEOUT_SECONDS: Final = 10
MAX_START_TIMEOUT_SECONDS: Final = 3600
DEFAULT_START_TIMEOUT_SECONDS: Final = 600
MAX_CANCEL_GRACE_PERIOD_SECONDS: Final = 600
DEFAULT_CANCEL_GRACE_PERIOD_SECONDS: Final = 30
#: Silence after a progress report that flags a running worker Stuck (0 turns it off).
DEFAULT_STUCK_AFTER_SECONDS: Final = 300
MAX_STUCK_AFTER_SECONDS: Final = 86400
#: The longest `deadlineSeconds` (7 days from the scheduled time).
MAX_DEADLINE_SECONDS: Final = 7 * 86400
DEFAULT_RETRY_INITIAL_SECONDS: Final = 60
DEFAULT_RETRY_FACTOR: Final = 2.0
DEFAULT_RETRY_MAX_SECONDS: Final = 3600

#: The most failed runs in a row `pauseAfterConsecutiveFailures` may wait for.
MAX_PAUSE_AFTER_FAILURES: Final = 100
#: The most a ScheduledJob's `jitterSeconds` may delay a fire (one hour); each fire's
#: delay also ends before the next fire.
MAX_JITTER_SECONDS: Final = 3600

#: The most fires one Backfill may cover (a longer range is several Backfills).
MAX_BACKFILL_FIRES: Final = 1000
#: The most runs one Backfill keeps active at once (its own cap, under the quota).
MAX_BACKFILL_CONCURRENT_RUNS: Final = 100
#: A Backfill's maxConcurrentRuns when unset.
DEFAULT_BACKFILL_CONCURRENT_RUNS: Final = 1
#: Skipped fires a Backfill lists in its status (all are counted).
MAX_BACKFILL_SKIPPED_LISTED: Final = 50

# Bounded status lists (newest last); the operator trims the oldest entries.
MAX_LOG_ENTRIES: Final = 50
MAX_HISTORY_ENTRIES: Final = 100
MAX_ACTIVE_LISTED: Final = 50
MAX_CONDITIONS: Final = 16
#: The longest free text the CRDs keep (`Message` in common.py), e.g.
#: `status.cancellation.reason`: a longer cancel reason is cut to it.
MAX_MESSAGE_CHARS: Final = 1024
#: A pruned run's error in `status.history` (100 summaries: kept short).
MAX_SUMMARY_ERROR_CHARS: Final = 512

# Defaults of a ScheduledJob's spec, shared by the model and the decisions.
DEFAULT_TIME_ZONE: Final = "UTC"
DEFAULT_MISSED_RUNS_MAX: Final = 10  # missedRunPolicy.maxRuns (RunAll)
DEFAULT_SUCCESSFUL_RUNS_HISTORY_LIMIT: Final = 10
DEFAULT_FAILED_RUNS_HISTORY_LIMIT: Final = 10
DEFAULT_RUN_RETENTION_DAYS: Final = 90
#: The longest ttlSecondsAfterFinished (ten years).
MAX_TTL_SECONDS_AFTER_FINISHED: Final = 315_360_000

#: The operator-wide quota for namespaces without a WorkerQuota.
DEFAULT_MAX_RUNNING: Final = 10
