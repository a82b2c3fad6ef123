"""The operator's JSON audit lines, read from its log as an auditor would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def audit_records(log: str | Path, name: str | None = None) -> list[dict[str, Any]]:
    """The audit lines in `log` (its text, or the file), oldest first; only those about
    objects named `name` if given."""
    text = log.read_text(errors="replace") if isinstance(log, Path) else log
    records = []
    for raw in text.splitlines():
        if raw.startswith("{") and '"audit": true' in raw:
            record: dict[str, Any] = json.loads(raw)
            if name is None or record.get("name") == name:
                records.append(record)
    return records
