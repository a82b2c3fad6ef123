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


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as error:
        raise ValueError(f"{name}={raw!r}: expected a number of seconds") from error


@dataclass(frozen=True)
class OperatorConfig:
    """What an operator process is told by its environment."""

    namespace: str = "jobwarden-system"
    lease_name: str = "jobwarden-operator"
    default_max_running: int = c.DEFAULT_MAX_RUNNING
    worker_image: str = f"ghcr.io/jobwarden/jobwarden:{__version__}"
    exit_margin_seconds: float = 10.0
    workers: int = 16

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
        )
