"""The status a decision is building, shared by the run and the ScheduledJob decisions.

A draft starts as a copy of the stored status; the decision sets conditions (which
move `lastTransitionTime` only when their status flips), appends to the bounded log
and plans Events, and the caller keeps the draft's status only if it changed.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping
from typing import Any, Generic, TypeVar, cast

from jobwarden.api import constants as c
from jobwarden.api.enums import ConditionType, EventReason, EventType, Reason
from jobwarden.api.shapes import LogEntryDict, StatusDict
from jobwarden.core.conditions import Condition, copy_conditions, format_micro_time, set_condition
from jobwarden.core.plan import Event

#: `status.message` and a log entry's message are bounded by the CRD.
MAX_MESSAGE_CHARS = 1024


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to `limit` characters (with an ellipsis), as the CRD bounds it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


S = TypeVar("S", bound=StatusDict)


class StatusDraft(Generic[S]):
    """A status (of shape `S`) being built at `now` for an object of `generation`, from
    a copy of `stored`, with the Events it plans (`events`: the plan's list)."""

    def __init__(
        self,
        stored: Mapping[str, Any],
        now: datetime.datetime,
        generation: int,
        events: list[Event],
    ) -> None:
        self.now = now
        self.generation = generation
        self.status = cast(S, copy.deepcopy(dict(stored)))
        self.conditions: list[Condition] = copy_conditions(self.common.get("conditions"))
        self._events = events

    def written(self) -> dict[str, Any]:
        """The status as the JSON a plan writes."""
        return cast(dict[str, Any], self.status)

    @property
    def common(self) -> StatusDict:
        """The status, as every kind's has it."""
        return self.status

    @property
    def stamp(self) -> str:
        """`now`, as the status writes times."""
        return format_micro_time(self.now)

    def log(self, message: str) -> None:
        """Append to `status.log` (bounded: the oldest entries drop out)."""
        entries = list(self.common.get("log") or [])
        entries.append(LogEntryDict(time=self.stamp, message=clip(message)))
        self.common["log"] = entries[-c.MAX_LOG_ENTRIES :]

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
