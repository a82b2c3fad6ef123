"""The plugin's pure text helpers: times, `--since`, durations, tables, CSV."""

from __future__ import annotations

import csv
import datetime
import io

import pytest

from jobwarden.client.text import (
    UsageError,
    age,
    exact_duration,
    format_timestamp,
    human_duration,
    key_values,
    parse_since,
    parse_time,
    table,
    to_csv,
    truncate,
)

UTC = datetime.UTC
NOW = datetime.datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("7d", datetime.timedelta(days=7)),
        ("12h", datetime.timedelta(hours=12)),
        ("30m", datetime.timedelta(minutes=30)),
        ("90s", datetime.timedelta(seconds=90)),
        ("2w", datetime.timedelta(weeks=2)),
        ("1h30m", datetime.timedelta(hours=1, minutes=30)),
        ("1d12h", datetime.timedelta(days=1, hours=12)),
        ("1.5d", datetime.timedelta(hours=36)),
        (" 7D ", datetime.timedelta(days=7)),
    ],
)
def test_since_durations_count_back_from_now(text: str, back: datetime.timedelta) -> None:
    assert parse_since(text, NOW) == NOW - back


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2025-03-01", datetime.datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03-01T06:30:00Z", datetime.datetime(2025, 3, 1, 6, 30, tzinfo=UTC)),
        (
            "2025-03-01T08:30:00+02:00",
            datetime.datetime(2025, 3, 1, 6, 30, tzinfo=UTC),
        ),
    ],
)
def test_since_accepts_dates_and_times(text: str, moment: datetime.datetime) -> None:
    assert parse_since(text, NOW) == moment


@pytest.mark.parametrize("text", ["", "7", "7x", "d7", "yesterday", "7d garbage", "-7d"])
def test_since_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(UsageError, match="since"):
        parse_since(text, NOW)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (133, "2m13s"),
        (17 * 60 + 5, "17m"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (8 * 3600, "8h"),
        (30 * 3600, "30h"),
        (4 * 86400 + 2 * 3600, "4d2h"),
        (40 * 86400, "40d"),
        (800 * 86400, "2y"),
        (-5, "0s"),
        (None, ""),
    ],
)
def test_human_duration_reads_like_kubectl_ages(seconds: float | None, shown: str) -> None:
    assert human_duration(seconds) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.25, "250ms"),
        (1.04, "1s"),
        (42, "42s"),
        (133, "2m13s"),
        (3600, "1h"),
        (3723, "1h2m3s"),
        (None, ""),
    ],
)
def test_exact_duration_keeps_the_detail(seconds: float | None, shown: str) -> None:
    assert exact_duration(seconds) == shown


def test_times_parse_and_print_in_utc() -> None:
    moment = parse_time("2025-03-01T12:00:00.123456Z")
    assert moment == datetime.datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert format_timestamp(moment) == "2025-03-01T12:00:00Z"
    assert parse_time("not a time") is None
    assert parse_time(None) is None
    assert format_timestamp(None) == ""
    assert age(NOW - datetime.timedelta(minutes=5), NOW) == "5m"
    assert age(None, NOW) == "<unknown>"


def test_table_aligns_columns_like_kubectl() -> None:
    text = table(["name", "phase"], [["a-long-name", "Running"], ["b", None], ["c\nd", True]])
    assert text.splitlines() == [
        "NAME          PHASE",
        "a-long-name   Running",
        "b",
        "c d           yes",
    ]


def test_truncate_and_key_values() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("a much longer message", 10) == "a much lo…"
    assert key_values([("Name", "x"), ("Empty", ""), ("Longer key", 3)]) == (
        "Name:        x\nLonger key:  3\n"
    )


def test_csv_round_trips_through_the_csv_module() -> None:
    records: list[dict[str, object]] = [
        {"name": "a", "note": 'comma, "quote"', "n": 1},
        {"name": "b", "note": None, "n": 0},
    ]
    text = to_csv(["name", "note", "n"], records)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["name", "note", "n"], ["a", 'comma, "quote"', "1"], ["b", "", "0"]]
    assert text.endswith("\r\n")
