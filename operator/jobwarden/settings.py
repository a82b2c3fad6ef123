"""Operator-wide configuration, from environment variables (set by the Helm chart)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from jobwarden import __version__
from jobwarden.api import constants as c


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ValueError(f"{name}={raw!r}: expected an integer") from error
    if value < minimum:
        raise ValueError(f"{name}={raw!r}: must be at least {minimum}")
    return value


def _float(name: str, default: float, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise ValueError(f"{name}={raw!r}: expected a number of seconds") from error
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={raw!r}: must be at least {minimum:g}")
    return value


def _days(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise ValueError(f"{name}={raw!r}: expected a number of days") from error
    if value < 0:
        raise ValueError(f"{name}={raw!r}: must be at least 0 (0 keeps runs for ever)")
    return value


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise ValueError(f"{name}={raw!r}: expected one of {', '.join(choices)}")
    return raw


@dataclass(frozen=True)
class OperatorConfig:
    """What an operator process is told by its environment."""

    namespace: str = "jobwarden-system"
    lease_name: str = "jobwarden-operator"
    default_max_running: int = c.DEFAULT_MAX_RUNNING
    worker_image: str = f"ghcr.io/jobwarden/jobwarden:{__version__}"
    exit_margin_seconds: float = 10.0
    workers: int = 16
    #: Days a finished standalone JobRun or Export without ttlSecondsAfterFinished is
    #: kept (as a ScheduledJob's runRetentionDays); 0: for ever.
    run_retention_days: float = c.DEFAULT_RUN_RETENTION_DAYS
    metrics_port: int = 8080  # Prometheus /metrics (docs/metrics.md); 0: disabled
    metrics_address: str = "0.0.0.0"
    # Admission webhooks (see docs/access.md). Every replica serves them.
    webhook_address: str = "0.0.0.0"  # where to listen
    webhook_port: int = 9443
    #: Host name or IP the API server calls, in a URL (e.g. 127.0.0.1 locally); empty:
    #: the Service if webhook_service is set, else the listening address.
    webhook_host: str = ""
    #: Service in `namespace` in front of the replicas (in-cluster): the webhook
    #: configurations then name the Service instead of a URL.
    webhook_service: str = ""
    #: "secret": the operator creates and rotates a CA and serving certificate, kept in
    #: the Secret webhook_cert_secret so every replica serves the same one; "files":
    #: tls.crt, tls.key and ca.crt are provided in webhook_cert_dir (cert-manager).
    webhook_cert_source: str = "secret"
    webhook_cert_secret: str = "jobwarden-webhook-tls"
    webhook_cert_dir: str = ""  # empty: a private temporary directory
    #: Fail: while no replica answers, writes to jobwarden resources are refused;
    #: Ignore: they are allowed unchecked (identity stamps missing, no cancel checks).
    webhook_failure_policy: str = "Fail"
    #: Dry-run the worker pod of each new run (and ScheduledJob template) at admission,
    #: so a pod the API server refuses for good refuses the run at `kubectl apply`; off:
    #: such a run is accepted and fails with reason PodRejected when it starts.
    webhook_pod_dry_run: bool = True
    #: For this long a worker pod the dry run accepted is taken as accepted again for
    #: another run with the same pod (a burst from one template is dry-run once;
    #: refusals are never kept); 0: every run is dry-run.
    webhook_pod_dry_run_cache_seconds: float = 10.0
    #: The operator's own user name (trusted to set the stamped annotations); empty:
    #: asked from the API server at start (SelfSubjectReview).
    operator_username: str = ""

    @classmethod
    def from_env(cls) -> OperatorConfig:
        """Read JOBWARDEN_* variables; bad values fail the start with their name."""
        return cls(
            namespace=os.environ.get("JOBWARDEN_NAMESPACE") or cls.namespace,
            lease_name=os.environ.get("JOBWARDEN_LEASE_NAME") or cls.lease_name,
            default_max_running=_int(
                "JOBWARDEN_DEFAULT_MAX_RUNNING", c.DEFAULT_MAX_RUNNING, minimum=1
            ),
            worker_image=os.environ.get("JOBWARDEN_WORKER_IMAGE") or cls.worker_image,
            exit_margin_seconds=_float("JOBWARDEN_EXIT_MARGIN_SECONDS", 10.0),
            workers=_int("JOBWARDEN_RECONCILE_WORKERS", 16, minimum=1),
            run_retention_days=_days("JOBWARDEN_RUN_RETENTION_DAYS", c.DEFAULT_RUN_RETENTION_DAYS),
            metrics_port=_int("JOBWARDEN_METRICS_PORT", cls.metrics_port),
            metrics_address=os.environ.get("JOBWARDEN_METRICS_ADDRESS") or cls.metrics_address,
            webhook_address=os.environ.get("JOBWARDEN_WEBHOOK_ADDRESS") or cls.webhook_address,
            webhook_port=_int("JOBWARDEN_WEBHOOK_PORT", cls.webhook_port, minimum=1),
            webhook_host=os.environ.get("JOBWARDEN_WEBHOOK_HOST", ""),
            webhook_service=os.environ.get("JOBWARDEN_WEBHOOK_SERVICE", ""),
            webhook_cert_source=_choice(
                "JOBWARDEN_WEBHOOK_CERT_SOURCE", cls.webhook_cert_source, ("secret", "files")
            ),
            webhook_cert_secret=os.environ.get("JOBWARDEN_WEBHOOK_CERT_SECRET")
            or cls.webhook_cert_secret,
            webhook_cert_dir=os.environ.get("JOBWARDEN_WEBHOOK_CERT_DIR", ""),
            webhook_failure_policy=_choice(
                "JOBWARDEN_WEBHOOK_FAILURE_POLICY", cls.webhook_failure_policy, ("Fail", "Ignore")
            ),
            operator_username=os.environ.get("JOBWARDEN_OPERATOR_USERNAME", ""),
            webhook_pod_dry_run=_choice("JOBWARDEN_WEBHOOK_POD_DRY_RUN", "true", ("true", "false"))
            == "true",
            webhook_pod_dry_run_cache_seconds=_float(
                "JOBWARDEN_WEBHOOK_POD_DRY_RUN_CACHE_SECONDS", 10.0, minimum=0
            ),
        )
