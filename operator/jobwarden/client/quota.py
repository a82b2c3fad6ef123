"""Worker quotas and their use, per namespace: each WorkerQuota as the operator
records it, and the operator-wide default where a namespace has none. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jobwarden.api import constants as c
from jobwarden.api.enums import RunPhase
from jobwarden.client.objects import (
    HOLDING_PHASES,
    JSON,
    is_terminal,
    name_of,
    namespace_of,
    phase_of,
    priority_of,
    spec_of,
    status_of,
)


def quota_records(
    quotas: Iterable[Mapping[str, Any]],
    runs: Iterable[Mapping[str, Any]],
    namespaces: Iterable[str] = (),
) -> list[JSON]:
    """One record per WorkerQuota, plus the operator-wide default for each of
    `namespaces` and each namespace with unfinished runs that has no WorkerQuota
    (usage counted from its runs)."""
    records: list[JSON] = []
    covered: set[str] = set()
    for quota in quotas:
        status = status_of(quota)
        by_priority = status.get("queuedByPriority") or {}
        covered.add(namespace_of(quota))
        records.append(
            {
                "namespace": namespace_of(quota),
                "name": name_of(quota),
                "maxRunning": spec_of(quota).get("maxRunning"),
                "running": int(status.get("running") or 0),
                "queued": int(status.get("queued") or 0),
                "queuedByPriority": {
                    "high": int(by_priority.get("high") or 0),
                    "medium": int(by_priority.get("medium") or 0),
                    "low": int(by_priority.get("low") or 0),
                },
                "default": False,
            }
        )
    usage: dict[str, JSON] = {ns: _empty_usage(ns) for ns in namespaces if ns not in covered}
    for run in runs:
        namespace = namespace_of(run)
        if namespace in covered or is_terminal(run):
            continue
        record = usage.setdefault(namespace, _empty_usage(namespace))
        phase = phase_of(run)
        if phase in HOLDING_PHASES:
            record["running"] += 1
        elif phase == RunPhase.QUEUED.value:
            record["queued"] += 1
            key = priority_of(run).lower()
            if key in record["queuedByPriority"]:
                record["queuedByPriority"][key] += 1
    records.extend(usage.values())
    return sorted(records, key=lambda r: (r["namespace"], r["default"], r["name"]))


def _empty_usage(namespace: str) -> JSON:
    return {
        "namespace": namespace,
        "name": "(default)",
        "maxRunning": c.DEFAULT_MAX_RUNNING,
        "running": 0,
        "queued": 0,
        "queuedByPriority": {"high": 0, "medium": 0, "low": 0},
        "default": True,
    }
