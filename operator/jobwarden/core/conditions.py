"""Conditions in the metav1.Condition shape, with setters that report a change.

Modelled on Kueue's `pkg/workload` helpers: a setter returns whether anything
changed, and `lastTransitionTime` moves only when `status` flips.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from jobwarden.api.enums import ConditionStatus
from jobwarden.api.shapes import ConditionDict

#: metav1.Condition, as stored in `status.conditions`.
Condition = ConditionDict


def format_time(moment: datetime.datetime) -> str:
    """RFC 3339 in UTC with a `Z`, at second precision as metav1.Time stores it."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(moment: datetime.datetime) -> str:
    """RFC 3339 with microseconds, for timestamps measured in fractions of a second."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> datetime.datetime | None:
    """Parse an RFC 3339 timestamp from the API (`Z` or offset); None stays None."""
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def copy_conditions(raw: Iterable[Mapping[str, Any]] | None) -> list[Condition]:
    """A mutable copy of stored conditions, tolerating missing fields."""
    result: list[Condition] = []
    for item in raw or []:
        result.append(
            Condition(
                type=str(item.get("type", "")),
                status=str(item.get("status", ConditionStatus.UNKNOWN)),
                reason=str(item.get("reason", "")),
                message=str(item.get("message", "")),
                lastTransitionTime=str(item.get("lastTransitionTime", "")),
                observedGeneration=int(item.get("observedGeneration", 0) or 0),
            )
        )
    return result


def find_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    """The condition of a type, if present."""
    for condition in conditions:
        if condition["type"] == type_:
            return condition
    return None


def is_true(conditions: Iterable[Condition], type_: str) -> bool:
    """Whether a condition is present with status True."""
    condition = find_condition(conditions, type_)
    return condition is not None and condition["status"] == ConditionStatus.TRUE


def set_condition(
    conditions: list[Condition],
    type_: StrEnum | str,
    status: bool | str,
    reason: StrEnum | str,
    message: str,
    *,
    now: datetime.datetime,
    generation: int,
) -> bool:
    """Set a condition in place; return whether anything changed."""
    status_text = (
        status
        if isinstance(status, str)
        else str(ConditionStatus.TRUE if status else ConditionStatus.FALSE)
    )
    type_text, reason_text = str(type_), str(reason)
    if not reason_text:
        raise ValueError(f"condition {type_text}: reason must not be empty")
    existing = find_condition(conditions, type_text)
    if existing is None:
        conditions.append(
            Condition(
                type=type_text,
                status=status_text,
                reason=reason_text,
                message=message,
                lastTransitionTime=format_time(now),
                observedGeneration=generation,
            )
        )
        return True
    changed = False
    if existing["status"] != status_text:
        existing["status"] = status_text
        existing["lastTransitionTime"] = format_time(now)
        changed = True
    for key, value in (("reason", reason_text), ("message", message)):
        if existing[key] != value:  # type: ignore[literal-required]
            existing[key] = value  # type: ignore[literal-required]
            changed = True
    if existing["observedGeneration"] != generation:
        existing["observedGeneration"] = generation
        changed = True
    return changed
