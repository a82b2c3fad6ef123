"""The JSON audit log: one line per cancel request and outcome, admission and
final transition, on the operator's stdout."""

from __future__ import annotations

import datetime
import json
import sys
from typing import TextIO

from jobwarden.core.conditions import format_micro_time
from jobwarden.core.observed import RunView
from jobwarden.core.plan import Audit


class AuditLog:
    """Writes audit records as single JSON lines (machine-readable, greppable)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def write(self, run: RunView, record: Audit) -> None:
        """Write one record about `run`."""
        self.write_object(run.kind, run.namespace, run.name, run.uid, record)

    def write_object(self, kind: str, namespace: str, name: str, uid: str, record: Audit) -> None:
        """Write one record about any jobwarden object (a run, a ScheduledJob, a
        Backfill)."""
        line = {
            "time": format_micro_time(datetime.datetime.now(datetime.UTC)),
            "audit": True,
            "action": record.action,
            "namespace": namespace,
            "kind": kind,
            "name": name,
            "uid": uid,
            "user": record.user,
            "outcome": record.outcome,
        }
        if record.detail:
            line["detail"] = record.detail
        stream = self.stream or sys.stdout
        stream.write(json.dumps(line, sort_keys=False) + "\n")
        stream.flush()
