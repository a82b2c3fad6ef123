"""Output formats of the export worker: CSV (RFC 4180), JSON Lines, GeoJSON.

A formatter turns a batch of rows (tuples, in the order of `columns`) into text; the
worker writes `begin()`, then `rows(batch)` for every batch, then `end()`.

Values:

| value                 | CSV                              | JSON (Lines, GeoJSON properties) |
| --------------------- | -------------------------------- | -------------------------------- |
| NULL                  | empty field                      | null                             |
| '' (empty string)     | `""` (so it differs from NULL)   | ""                               |
| boolean               | true / false                     | true / false                     |
| integer, decimal      | as is (decimals exactly)         | a number (decimals exactly)      |
| float NaN / ±Infinity | NaN / Infinity / -Infinity       | "NaN" / "Infinity" / "-Infinity" |
| date, time, timestamp | ISO 8601                         | ISO 8601 string                  |
| bytes                 | `\\x` + hex (PostgreSQL style)   | base64 string                    |
| json, arrays          | JSON text                        | JSON                             |
| anything else         | its text                         | its text, as a string            |

CSV has a header row, CRLF line ends, and fields quoted when they contain a comma, a
double quote, CR or LF (quotes doubled). JSON Lines has one object per row, keys in
column order; a repeated column name gets a suffix (`id`, `id_2`).
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
import re
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from jobwarden.worker.geometry import GeometryError, to_geojson

_NEEDS_QUOTES = re.compile(r'[",\r\n]')
Row = Sequence[Any]


class FormatError(ValueError):
    """A row that cannot be written in the chosen format."""


class Formatter(Protocol):
    """Text of one output file, batch by batch."""

    def begin(self) -> str:
        """Text before the first row."""
        ...

    def rows(self, rows: Sequence[Row]) -> str:
        """Text of a batch of rows."""
        ...

    def end(self) -> str:
        """Text after the last row."""
        ...


# ------------------------------------------------------------------------ values
def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _decimal_text(value: decimal.Decimal) -> str:
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "Infinity" if value > 0 else "-Infinity"
    return str(value)


def csv_text(value: Any) -> str:
    """The text of a CSV field, before quoting (None is handled by the caller)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, decimal.Decimal):
        return _decimal_text(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict | list | tuple):
        return json_text(value)
    return str(value)


def csv_field(value: Any) -> str:
    """One CSV field, quoted per RFC 4180 when needed; NULL is an empty field."""
    if value is None:
        return ""
    text = csv_text(value)
    if text == "":
        return '""'
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def json_text(value: Any) -> str:
    """The JSON text of a value (decimals exact, non-finite numbers as strings)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else _string(_float_text(value))
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else _string(_decimal_text(value))
    if isinstance(value, datetime.date | datetime.time):
        return _string(value.isoformat())
    if isinstance(value, bytes | bytearray | memoryview):
        return _string(base64.b64encode(bytes(value)).decode())
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string(str(k))}:{json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    if isinstance(value, uuid.UUID | datetime.timedelta):
        return _string(str(value))
    return _string(str(value))


def unique_names(columns: Sequence[str]) -> list[str]:
    """Column names made unique for JSON keys: a repeated name gets _2, _3…"""
    seen: set[str] = set()
    names: list[str] = []
    for column in columns:
        name, n = column, 1
        while name in seen:
            n += 1
            name = f"{column}_{n}"
        seen.add(name)
        names.append(name)
    return names


# ---------------------------------------------------------------------- formats
class CsvFormatter:
    """RFC 4180: a header row, CRLF line ends, minimal quoting."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)

    def begin(self) -> str:
        return ",".join(csv_field(c) for c in self.columns) + "\r\n"

    def rows(self, rows: Sequence[Row]) -> str:
        field = csv_field
        return "".join(",".join([field(v) for v in row]) + "\r\n" for row in rows)

    def end(self) -> str:
        return ""


class JsonLinesFormatter:
    """One JSON object per line, keys in column order."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.keys = [_string(name) + ":" for name in unique_names(columns)]

    def begin(self) -> str:
        return ""

    def rows(self, rows: Sequence[Row]) -> str:
        keys = self.keys
        return "".join(
            "{" + ",".join([k + json_text(v) for k, v in zip(keys, row, strict=True)]) + "}\n"
            for row in rows
        )

    def end(self) -> str:
        return ""


class GeoJsonFormatter:
    """A FeatureCollection: one Feature per row; the geometry column becomes the
    geometry, the other columns the properties."""

    def __init__(self, columns: Sequence[str], geometry_column: str) -> None:
        if geometry_column not in columns:
            raise FormatError(
                f"geometryColumn {geometry_column!r} is not a column of the query's result "
                f"(columns: {', '.join(columns) or 'none'})"
            )
        self.geometry_index = list(columns).index(geometry_column)
        names = unique_names(columns)
        self.properties = [
            (i, _string(name) + ":") for i, name in enumerate(names) if i != self.geometry_index
        ]
        self.geometry_column = geometry_column
        self.written = 0

    def begin(self) -> str:
        return '{"type":"FeatureCollection","features":[\n'

    def rows(self, rows: Sequence[Row]) -> str:
        parts: list[str] = []
        for row in rows:
            try:
                geometry = to_geojson(row[self.geometry_index])
            except GeometryError as error:
                raise FormatError(
                    f"row {self.written + 1}: column {self.geometry_column!r}: {error}"
                ) from None
            properties = ",".join(key + json_text(row[i]) for i, key in self.properties)
            separator = ",\n" if self.written else ""
            parts.append(
                f'{separator}{{"type":"Feature","geometry":{json_text(geometry)},'
                f'"properties":{{{properties}}}}}'
            )
            self.written += 1
        return "".join(parts)

    def end(self) -> str:
        return "\n]}\n"


def make_formatter(
    format_name: str, columns: Sequence[str], geometry_column: str | None = None
) -> Formatter:
    """The formatter for `format_name` (csv, jsonl, geojson)."""
    if format_name == "csv":
        return CsvFormatter(columns)
    if format_name == "jsonl":
        return JsonLinesFormatter(columns)
    if format_name == "geojson":
        if not geometry_column:
            raise FormatError("format geojson needs geometryColumn")
        return GeoJsonFormatter(columns, geometry_column)
    raise FormatError(f"unknown format {format_name!r} (csv, jsonl or geojson)")
