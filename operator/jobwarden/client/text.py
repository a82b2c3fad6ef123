"""Pure text helpers of the kubectl plugin: times, durations, tables, CSV.

Nothing here talks to the API server, so all of it is unit-tested directly.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

UTC = datetime.UTC
#: What a table cell shows for "no value", as kubectl does.
NONE = "<none>"
#: A cell that does not apply (e.g. the queue position of a running run).
DASH = "-"

_SINCE_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_SINCE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class UsageError(ValueError):
    """A command-line value that cannot be understood (exit code 2)."""


# ------------------------------------------------------------------------- times
def parse_time(value: object) -> datetime.datetime | None:
    """An RFC 3339 time as the API server writes it (`...Z`), or None."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_timestamp(value: datetime.datetime | None) -> str:
    """`2025-03-01T12:00:00Z` (whole seconds, UTC), or empty."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_since(text: str, now: datetime.datetime) -> datetime.datetime:
    """The cutoff of `--since`: a duration back from `now` (`7d`, `12h`, `1h30m`,
    `2w`, `90s`, `1.5d`) or an absolute date or time (`2025-03-01`,
    `2025-03-01T12:00:00Z`, taken as UTC without a zone)."""
    value = text.strip()
    lowered = value.lower()
    if not value:
        raise UsageError("--since needs a duration such as 7d, 12h or 30m, or a date")
    if _SINCE_PART.sub("", lowered) == "" and _SINCE_PART.search(lowered):
        seconds = sum(
            float(number) * _SINCE_UNITS[unit] for number, unit in _SINCE_PART.findall(lowered)
        )
        return now - datetime.timedelta(seconds=seconds)
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {text!r}: use a duration such as 7d, 12h, 30m or 1h30m "
            "(units s, m, h, d, w), or a date such as 2025-03-01"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_when(
    text: str, now: datetime.datetime, zone: str, *, option: str, end_of_day: bool = False
) -> datetime.datetime:
    """A point in time given on the command line (`--from`, `--to`): a duration back
    from `now` (`7d`, `12h`), a date (`2026-03-01`: midnight on the job's clock, or with
    `end_of_day` the last second of that day), or a date and time (RFC 3339; without an
    offset, on the job's clock)."""
    value = text.strip()
    lowered = value.lower()
    if value and _SINCE_PART.sub("", lowered) == "" and _SINCE_PART.search(lowered):
        return parse_since(value, now)
    tz = zoneinfo.ZoneInfo(zone)
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: use a date (2026-03-01), a date and time "
            "(2026-03-01T02:00:00Z) or a duration back from now (7d, 12h)"
        ) from None
    if _DATE_ONLY.match(value) and end_of_day:
        moment += datetime.timedelta(days=1)
        return moment.replace(tzinfo=tz).astimezone(UTC) - datetime.timedelta(seconds=1)
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def human_duration(seconds: float | None) -> str:
    """A duration the way kubectl prints ages: `45s`, `2m13s`, `17m`, `3h5m`, `4d2h`."""
    if seconds is None:
        return ""
    total = max(int(seconds), 0)
    minutes, hours, days = total // 60, total // 3600, total // 86400
    if total < 120:
        return f"{total}s"
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def exact_duration(seconds: float | None) -> str:
    """A run time without rounding away detail: `850ms`, `42s`, `2m13s`, `1h2m3s`."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return "".join(parts)


def age(moment: datetime.datetime | None, now: datetime.datetime) -> str:
    """How long ago `moment` was, kubectl-style (`<unknown>` without one)."""
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())


def seconds_between(start: datetime.datetime | None, end: datetime.datetime | None) -> float | None:
    """`end - start` in seconds, or None when either is missing."""
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


# ------------------------------------------------------------------------ tables
def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A kubectl-style table: upper-case headers, columns three spaces apart, no
    trailing blanks. Empty cells are left empty; newlines in cells become spaces."""
    cells = [[_cell(value) for value in row] for row in rows]
    heads = [h.upper() for h in headers]
    widths = [len(h) for h in heads]
    for row in cells:
        for index, value in enumerate(row):
            widths[index] = max(widths[index], len(value))
    lines = []
    for row in [heads, *cells]:
        padded = [value.ljust(widths[i]) for i, value in enumerate(row)]
        lines.append("   ".join(padded).rstrip())
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(str(value).split())


def truncate(text: str, width: int) -> str:
    """`text` cut to `width` characters, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)] + "…"


def key_values(pairs: Sequence[tuple[str, object]], indent: int = 0) -> str:
    """`Key:  value` lines with the values aligned, as `kubectl describe` prints."""
    shown = [(k, v) for k, v in pairs if v not in (None, "")]
    if not shown:
        return ""
    width = max(len(k) for k, _ in shown) + 3  # the longest key: colon and two spaces
    pad = " " * indent
    return "".join(f"{pad}{(k + ':').ljust(width)}{v}\n" for k, v in shown)


def indent_block(text: str, spaces: int = 2) -> str:
    """Every non-empty line of `text` indented."""
    pad = " " * spaces
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


# ----------------------------------------------------------------- machine output
def to_csv(columns: Sequence[str], records: Iterable[Mapping[str, Any]]) -> str:
    """RFC 4180 CSV with a header row; None becomes an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow(["" if record.get(c) is None else record.get(c) for c in columns])
    return buffer.getvalue()


def to_json(data: object) -> str:
    """Indented JSON, as `kubectl get -o json` prints it."""
    return json.dumps(data, indent=4, ensure_ascii=False, default=str) + "\n"


def to_yaml(data: object) -> str:
    """Block-style YAML with keys in their given order."""
    import yaml  # noqa: PLC0415 - only when asked for YAML

    dumped: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    return dumped


def kubectl_list(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`kind: List` around `items`, as `kubectl get -o json` wraps several objects."""
    return {"apiVersion": "v1", "kind": "List", "items": list(items), "metadata": {}}
