"""The status a decision is building, shared by the run and the ScheduledJob decisions.

A draft starts as a copy of the stored status; the decision sets conditions (which
move `lastTransitionTime` only when their status flips), appends to the bounded log
and plans Events, and the caller keeps the draft's status only if it changed.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping
from typing import Any

from jobwarden.api import constants as c
from jobwarden.api.enums import ConditionType, EventReason, EventType, Reason
from jobwarden.core.conditions import Condition, copy_conditions, format_micro_time, set_condition
from jobwarden.core.plan import Event

#: `status.message` and a log entry's message are bounded by the CRD.
MAX_MESSAGE_CHARS = 1024


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to `limit` characters (with an ellipsis), as the CRD bounds it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StatusDraft:
    """A status being built at `now` for an object of `generation`, with the Events
    it plans (`events`: the plan's list, appended to)."""

    def __init__(
        self,
        status: Mapping[str, Any],
        now: datetime.datetime,
        generation: int,
        events: list[Event],
    ) -> None:
        self.now = now
        self.generation = generation
        self.status: dict[str, Any] = copy.deepcopy(dict(status))
        self.conditions: list[Condition] = copy_conditions(self.status.get("conditions"))
        self._events = events

    @property
    def stamp(self) -> str:
        """`now`, as the status writes times."""
        return format_micro_time(self.now)

    def log(self, message: str) -> None:
        """Append to `status.log` (bounded: the oldest entries drop out)."""
        entries = list(self.status.get("log") or [])
        entries.append({"time": self.stamp, "message": clip(message)})
        self.status["log"] = entries[-c.MAX_LOG_ENTRIES :]

    def condition(
        self, type_: ConditionType, status: bool, reason: Reason | str, message: str
    ) -> None:
        """Set a condition (observed at this draft's generation)."""
        set_condition(
            self.conditions,
            type_,
            status,
            reason,
            message,
            now=self.now,
            generation=self.generation,
        )

    def event(self, warning: bool, reason: EventReason, message: str) -> None:
        """Plan an Event (posted after the status write)."""
        type_ = EventType.WARNING if warning else EventType.NORMAL
        self._events.append(Event(type_, reason, message))
