"""Geometry values to GeoJSON geometry objects (RFC 7946), without GIS libraries.

Accepted column values:
- GeoJSON: a dict (a json/jsonb column) or a string holding a JSON object, a geometry
  (or a Feature, whose geometry is taken);
- WKT and PostGIS EWKT (`SRID=4326;POINT(1 2)`), with Z, M and ZM;
- WKB and PostGIS EWKB, as bytes (`ST_AsBinary`, a SQLite blob) or as hex text (what
  a PostGIS `geometry` column returns when selected as it is);
- NULL, which becomes a Feature without geometry (`"geometry": null`).

Coordinates are written as stored: no reprojection (RFC 7946 expects WGS 84: use
`ST_Transform(geom, 4326)` in the query). M values are dropped.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]

GEOMETRY_TYPES = (
    "Point",
    "LineString",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)
_BY_UPPER = {name.upper(): name for name in GEOMETRY_TYPES}
_WKB_TYPES = dict(enumerate(GEOMETRY_TYPES, start=1))
_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
_TOKEN = re.compile(
    r"\s*(?:(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf))"
    r"|(?P<word>[A-Za-z]+)|(?P<punct>[(),;=]))",
    re.IGNORECASE,
)


class GeometryError(ValueError):
    """A value that is not a geometry in a supported encoding."""


def to_geojson(value: object) -> JSON | None:
    """The GeoJSON geometry of a column value (None for NULL)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return _checked_geojson(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return parse_wkb(bytes(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.startswith("{"):
            try:
                loaded = json.loads(text)
            except ValueError as error:
                raise GeometryError(f"invalid GeoJSON: {error}") from None
            if not isinstance(loaded, dict):
                raise GeometryError("GeoJSON geometry must be an object")
            return _checked_geojson(loaded)
        if len(text) >= 10 and text[:2] in ("00", "01") and _HEX.match(text):
            return parse_wkb(bytes.fromhex(text))
        return parse_wkt(text)
    raise GeometryError(f"a {type(value).__name__} is not a geometry (GeoJSON, WKT or WKB)")


def _checked_geojson(value: JSON) -> JSON:
    kind = value.get("type")
    if kind == "Feature":
        geometry = value.get("geometry")
        return _checked_geojson(geometry) if isinstance(geometry, dict) else None  # type: ignore[return-value]
    if kind not in GEOMETRY_TYPES:
        raise GeometryError(f"not a GeoJSON geometry type: {kind!r}")
    member = "geometries" if kind == "GeometryCollection" else "coordinates"
    if not isinstance(value.get(member), list):
        raise GeometryError(f"GeoJSON {kind} without {member}")
    return value


# -------------------------------------------------------------------------- WKT
class _WktParser:
    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise GeometryError(f"invalid WKT near {text[position : position + 20]!r}")
            self.tokens.append(match.group().strip())
            position = match.end()
            while position < len(text) and text[position].isspace():
                position += 1
        self.index = 0

    def peek(self) -> str:
        return self.tokens[self.index].upper() if self.index < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        if self.index >= len(self.tokens):
            raise GeometryError("WKT ends too early")
        token = self.tokens[self.index]
        if expected is not None and token.upper() != expected:
            raise GeometryError(f"WKT: expected {expected!r}, found {token!r}")
        self.index += 1
        return token

    def geometry(self) -> JSON:
        word = self.take().upper()
        if word == "SRID":  # EWKT: SRID=4326;POINT(...)
            self.take("=")
            self.take()
            self.take(";")
            word = self.take().upper()
        kind = _BY_UPPER.get(word)
        if kind is None:
            raise GeometryError(f"WKT: unknown geometry type {word!r}")
        dims = ""
        if self.peek() in ("Z", "M", "ZM"):
            dims = self.take().upper()
        if self.peek() == "EMPTY":
            self.take()
            member = "geometries" if kind == "GeometryCollection" else "coordinates"
            return {"type": kind, member: []}
        if kind == "GeometryCollection":
            return {"type": kind, "geometries": self.list_of(self.geometry)}
        return {"type": kind, "coordinates": self.body(kind, dims)}

    def list_of(self, item: Callable[[], Any]) -> list[Any]:
        self.take("(")
        items = [item()]
        while self.peek() == ",":
            self.take()
            items.append(item())
        self.take(")")
        return items

    def coordinate(self, dims: str) -> list[float]:
        numbers: list[float] = []
        while self.peek() not in ("", ",", ")", "("):
            token = self.take()
            try:
                numbers.append(float(token))
            except ValueError:
                raise GeometryError(f"WKT: not a number: {token!r}") from None
        if len(numbers) < 2:
            raise GeometryError("WKT: a coordinate needs at least x and y")
        return numbers[:2] if dims == "M" else numbers[:3]

    def body(self, kind: str, dims: str) -> Any:
        def point() -> list[float]:
            if self.peek() == "(":  # MULTIPOINT((1 2),(3 4))
                self.take("(")
                value = self.coordinate(dims)
                self.take(")")
                return value
            return self.coordinate(dims)

        def line() -> list[list[float]]:
            return self.list_of(lambda: self.coordinate(dims))

        def polygon() -> list[list[list[float]]]:
            return self.list_of(line)

        parsers: dict[str, Callable[[], Any]] = {
            "Point": lambda: self.list_of(lambda: self.coordinate(dims))[0],
            "LineString": line,
            "Polygon": polygon,
            "MultiPoint": lambda: self.list_of(point),
            "MultiLineString": lambda: self.list_of(line),
            "MultiPolygon": lambda: self.list_of(polygon),
        }
        return parsers[kind]()


def parse_wkt(text: str) -> JSON:
    """GeoJSON geometry of a WKT or EWKT string."""
    parser = _WktParser(text)
    geometry = parser.geometry()
    if parser.index != len(parser.tokens):
        raise GeometryError(f"WKT: unexpected {parser.tokens[parser.index]!r} after the geometry")
    return geometry


# -------------------------------------------------------------------------- WKB
class _WkbReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise GeometryError("WKB ends too early")
        values = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += size
        return values

    def geometry(self) -> JSON:
        (order,) = self.unpack("B")
        if order not in (0, 1):
            raise GeometryError(f"WKB: invalid byte order {order}")
        endian = "<" if order == 1 else ">"
        (code,) = self.unpack(endian + "I")
        has_z = bool(code & 0x80000000)
        has_m = bool(code & 0x40000000)
        if code & 0x20000000:  # EWKB SRID
            self.unpack(endian + "I")
        code &= 0x0FFFFFFF
        iso_dims, base = divmod(code, 1000)
        has_z = has_z or iso_dims in (1, 3)
        has_m = has_m or iso_dims in (2, 3)
        kind = _WKB_TYPES.get(base)
        if kind is None:
            raise GeometryError(f"WKB: unsupported geometry type {base}")
        width = 2 + has_z + has_m
        point_fmt = endian + "d" * width

        def point() -> list[float]:
            values = self.unpack(point_fmt)
            return [values[0], values[1], values[2]] if has_z else [values[0], values[1]]

        def count() -> int:
            (n,) = self.unpack(endian + "I")
            if n > len(self.data):
                raise GeometryError("WKB: impossible element count")
            return int(n)

        def line() -> list[list[float]]:
            return [point() for _ in range(count())]

        if kind == "Point":
            coordinates = point()
            if all(math.isnan(v) for v in coordinates):
                return {"type": kind, "coordinates": []}
            return {"type": kind, "coordinates": coordinates}
        if kind == "LineString":
            return {"type": kind, "coordinates": line()}
        if kind == "Polygon":
            return {"type": kind, "coordinates": [line() for _ in range(count())]}
        parts = [self.geometry() for _ in range(count())]
        if kind == "GeometryCollection":
            return {"type": kind, "geometries": parts}
        return {"type": kind, "coordinates": [part["coordinates"] for part in parts]}


def parse_wkb(data: bytes) -> JSON:
    """GeoJSON geometry of WKB or EWKB bytes."""
    reader = _WkbReader(data)
    geometry = reader.geometry()
    if reader.offset != len(data):
        raise GeometryError(f"WKB: {len(data) - reader.offset} bytes after the geometry")
    return geometry
