"""The JSON audit log: one line per cancel request and outcome, admission, final
transition and refused request, on the operator's stdout.

The engine writes the lines of its decisions (`write`), the admission webhooks those
of the requests they refuse (`write_line`): one format for both.
"""

from __future__ import annotations

import datetime
import json
import sys
from typing import Any, TextIO

from jobwarden.api.enums import AuditAction
from jobwarden.core.conditions import format_micro_time
from jobwarden.core.observed import RunView
from jobwarden.core.plan import Audit, AuditOutcomeValue


class AuditLog:
    """Writes audit records as single JSON lines (machine-readable, greppable)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def write(self, run: RunView, record: Audit) -> None:
        """Write one record of a decision about `run`."""
        self.write_object(run.kind, run.namespace, run.name, run.uid, record)

    def write_object(self, kind: str, namespace: str, name: str, uid: str, record: Audit) -> None:
        """Write one record of a decision about any jobwarden object (a run, a
        ScheduledJob, a Backfill)."""
        self.write_line(
            record.action,
            record.outcome,
            namespace=namespace,
            kind=kind,
            name=name,
            uid=uid,
            user=record.user,
            detail=record.detail,
        )

    def write_line(
        self,
        action: AuditAction,
        outcome: AuditOutcomeValue,
        *,
        namespace: str,
        kind: str,
        name: str,
        uid: str,
        user: str,
        detail: str = "",
    ) -> None:
        """Write one line about an object (`detail` only when there is one)."""
        line: dict[str, Any] = {
            "time": format_micro_time(datetime.datetime.now(datetime.UTC)),
            "audit": True,
            "action": action,
            "namespace": namespace,
            "kind": kind,
            "name": name,
            "uid": uid,
            "user": user,
            "outcome": outcome,
        }
        if detail:
            line["detail"] = detail
        stream = self.stream or sys.stdout
        stream.write(json.dumps(line, sort_keys=False) + "\n")
        stream.flush()
