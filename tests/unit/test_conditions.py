"""metav1.Condition helpers: setters report a change; lastTransitionTime moves only on flips."""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass
from typing import Any

import pytest

from jobwarden.api.enums import ConditionType, Reason
from jobwarden.core.conditions import (
    Condition,
    copy_conditions,
    find_condition,
    format_micro_time,
    format_time,
    is_true,
    parse_time,
    set_condition,
)

T0 = datetime.datetime(2025, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)
LATER = T0 + datetime.timedelta(minutes=5)


def cond(
    type_: str = "Admitted",
    status: str = "False",
    reason: str = "QuotaExhausted",
    *,
    message: str = "quota 10/10 running",
    when: datetime.datetime = T0,
    generation: int = 1,
) -> Condition:
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        lastTransitionTime=format_time(when),
        observedGeneration=generation,
    )


@dataclass(frozen=True)
class SetCase:
    existing: list[Condition]
    status: bool | str
    reason: str
    message: str
    generation: int
    changed: bool
    want: Condition


SET_CASES = [
    pytest.param(
        SetCase([], False, "QuotaExhausted", "quota 10/10 running", 1, True, cond(when=LATER)),
        id="absent: appended with now as transition time",
    ),
    pytest.param(
        SetCase([cond()], False, "QuotaExhausted", "quota 10/10 running", 1, False, cond()),
        id="identical: unchanged",
    ),
    pytest.param(
        SetCase(
            [cond()], True, "Admitted", "attempt 1", 1, True,
            cond(status="True", reason="Admitted", message="attempt 1", when=LATER),
        ),
        id="status flips: transition time moves",
    ),
    pytest.param(
        SetCase([cond()], "True", "Admitted", "attempt 1", 1, True,
                cond(status="True", reason="Admitted", message="attempt 1", when=LATER)),
        id="status given as text",
    ),
    pytest.param(
        SetCase([cond()], False, "Backoff", "quota 10/10 running", 1, True,
                cond(reason="Backoff")),
        id="reason only: changed, transition time kept",
    ),
    pytest.param(
        SetCase([cond()], False, "QuotaExhausted", "quota 9/10 running", 1, True,
                cond(message="quota 9/10 running")),
        id="message only: changed, transition time kept",
    ),
    pytest.param(
        SetCase([cond()], False, "QuotaExhausted", "quota 10/10 running", 2, True,
                cond(generation=2)),
        id="generation only: changed, transition time kept",
    ),
    pytest.param(
        SetCase([cond(status="Unknown")], "Unknown", "QuotaExhausted", "quota 10/10 running",
                1, False, cond(status="Unknown")),
        id="Unknown kept as Unknown",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", SET_CASES)
def test_set_condition(case: SetCase) -> None:
    other = cond(type_="Other", status="True", reason="X")
    conditions = [other, *copy.deepcopy(case.existing)]
    changed = set_condition(
        conditions,
        "Admitted",
        case.status,
        case.reason,
        case.message,
        now=LATER,
        generation=case.generation,
    )
    assert changed is case.changed
    assert conditions == [other, case.want]


def test_set_condition_accepts_enums_and_stores_plain_strings() -> None:
    conditions: list[Condition] = []
    set_condition(
        conditions, ConditionType.FINISHED, True, Reason.SUCCEEDED, "done", now=T0, generation=3
    )
    assert conditions == [
        cond("Finished", "True", "Succeeded", message="done", when=T0, generation=3)
    ]
    assert type(conditions[0]["type"]) is str
    assert type(conditions[0]["reason"]) is str


def test_set_condition_refuses_an_empty_reason() -> None:
    with pytest.raises(ValueError, match="reason must not be empty"):
        set_condition([], "Ready", True, "", "msg", now=T0, generation=1)


def test_set_condition_twice_is_a_no_op_the_second_time() -> None:
    conditions: list[Condition] = []
    assert set_condition(conditions, "Ready", False, "Queued", "m", now=T0, generation=1)
    assert not set_condition(conditions, "Ready", False, "Queued", "m", now=LATER, generation=1)
    assert conditions[0]["lastTransitionTime"] == format_time(T0)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        pytest.param(None, [], id="none"),
        pytest.param([], [], id="empty"),
        pytest.param(
            [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Succeeded",
                    "message": "ok",
                    "lastTransitionTime": "2025-03-01T12:00:00Z",
                    "observedGeneration": 4,
                }
            ],
            [cond("Ready", "True", "Succeeded", message="ok", generation=4)],
            id="complete",
        ),
        pytest.param(
            [{"type": "Ready"}],
            [
                Condition(
                    type="Ready",
                    status="Unknown",
                    reason="",
                    message="",
                    lastTransitionTime="",
                    observedGeneration=0,
                )
            ],
            id="missing fields get neutral defaults",
        ),
        pytest.param(
            [{"type": "Ready", "status": "True", "observedGeneration": None}],
            [
                Condition(
                    type="Ready",
                    status="True",
                    reason="",
                    message="",
                    lastTransitionTime="",
                    observedGeneration=0,
                )
            ],
            id="null observedGeneration",
        ),
    ],
)
def test_copy_conditions(raw: list[dict[str, Any]] | None, want: list[Condition]) -> None:
    assert copy_conditions(raw) == want


def test_copy_conditions_is_a_copy() -> None:
    raw = [dict(cond())]
    copied = copy_conditions(raw)
    copied[0]["status"] = "True"
    assert raw[0]["status"] == "False"


@pytest.mark.parametrize(
    ("conditions", "type_", "found", "true"),
    [
        pytest.param([], "Ready", False, False, id="absent"),
        pytest.param([cond("Ready", "True")], "Ready", True, True, id="true"),
        pytest.param([cond("Ready", "False")], "Ready", True, False, id="false"),
        pytest.param([cond("Ready", "Unknown")], "Ready", True, False, id="unknown"),
        pytest.param([cond("Stalled", "True")], "Ready", False, False, id="other type only"),
    ],
)
def test_find_and_is_true(conditions: list[Condition], type_: str, found: bool, true: bool) -> None:
    assert (find_condition(conditions, type_) is not None) is found
    assert is_true(conditions, type_) is true


@pytest.mark.parametrize(
    ("value", "want"),
    [
        pytest.param(None, None, id="none"),
        pytest.param("", None, id="empty"),
        pytest.param("2025-03-01T12:00:00Z", T0, id="Z"),
        pytest.param("2025-03-01T13:00:00+01:00", T0, id="offset"),
        pytest.param(
            "2025-03-01T12:00:00.250000Z",
            T0 + datetime.timedelta(milliseconds=250),
            id="micro",
        ),
    ],
)
def test_parse_time(value: str | None, want: datetime.datetime | None) -> None:
    parsed = parse_time(value)
    assert parsed == want
    if parsed is not None:
        assert parsed.tzinfo is not None


@pytest.mark.parametrize(
    ("moment", "seconds", "micro"),
    [
        pytest.param(T0, "2025-03-01T12:00:00Z", "2025-03-01T12:00:00.000000Z", id="utc"),
        pytest.param(
            datetime.datetime(2025, 3, 1, 14, 0, 0, 999_999, tzinfo=datetime.timezone(
                datetime.timedelta(hours=2))),
            "2025-03-01T12:00:00Z",
            "2025-03-01T12:00:00.999999Z",
            id="offset converted to UTC, seconds truncated",
        ),
    ],
)  # fmt: skip
def test_format_time(moment: datetime.datetime, seconds: str, micro: str) -> None:
    assert format_time(moment) == seconds
    assert format_micro_time(moment) == micro
    assert parse_time(micro) == moment
