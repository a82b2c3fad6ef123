"""Output formats and geometry parsing of the export worker (each output parsed back)."""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import json
import struct
import uuid
from typing import Any

import pytest

from jobwarden.worker.export import ExportError, ExportJob
from jobwarden.worker.formats import (
    FormatError,
    csv_field,
    json_text,
    make_formatter,
    unique_names,
)
from jobwarden.worker.geometry import GeometryError, parse_wkb, parse_wkt, to_geojson

D = decimal.Decimal


@pytest.mark.parametrize(
    ("value", "field"),
    [
        pytest.param(None, "", id="NULL is an empty field"),
        pytest.param("", '""', id="empty string is quoted"),
        pytest.param("plain", "plain", id="plain"),
        pytest.param("a,b", '"a,b"', id="comma"),
        pytest.param('say "hi"', '"say ""hi"""', id="quotes doubled"),
        pytest.param("two\nlines", '"two\nlines"', id="newline"),
        pytest.param(" padded ", " padded ", id="spaces kept unquoted"),
        pytest.param(True, "true", id="bool"),
        pytest.param(42, "42", id="int"),
        pytest.param(1.5, "1.5", id="float"),
        pytest.param(float("nan"), "NaN", id="nan"),
        pytest.param(float("-inf"), "-Infinity", id="-inf"),
        pytest.param(D("12345678901234567890.000001"), "12345678901234567890.000001", id="decimal"),
        pytest.param(datetime.date(2025, 3, 1), "2025-03-01", id="date"),
        pytest.param(
            datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC),
            "2025-03-01T12:00:00+00:00",
            id="timestamptz",
        ),
        pytest.param(b"\x00\xff", "\\x00ff", id="bytes as PostgreSQL hex"),
        pytest.param({"a": [1, 2]}, '"{""a"":[1,2]}"', id="json"),
    ],
)
def test_csv_fields(value: Any, field: str) -> None:
    assert csv_field(value) == field


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(None, "null", id="null"),
        pytest.param('é"\n', '"é\\"\\n"', id="string"),
        pytest.param(False, "false", id="bool"),
        pytest.param(D("0.10"), "0.10", id="decimal exact"),
        pytest.param(D("NaN"), '"NaN"', id="decimal NaN"),
        pytest.param(float("inf"), '"Infinity"', id="float inf"),
        pytest.param(b"hi", '"aGk="', id="bytes base64"),
        pytest.param([1, None, "x"], '[1,null,"x"]', id="array"),
        pytest.param({"k": D("1.5")}, '{"k":1.5}', id="object"),
        pytest.param(uuid.UUID(int=1), '"00000000-0000-0000-0000-000000000001"', id="uuid"),
        pytest.param(datetime.time(1, 2, 3), '"01:02:03"', id="time"),
    ],
)
def test_json_values(value: Any, text: str) -> None:
    assert json_text(value) == text
    json.loads(text)  # always valid JSON


ROWS: list[tuple[Any, ...]] = [
    (1, "plain", None, D("1.10")),
    (2, 'quote " and, comma', "", D("-0.5")),
    (3, "multi\nline", "x", D("1E+3")),
]
COLUMNS = ["id", "name", "note", "amount"]


def render(
    format_name: str, columns: list[str], rows: list[Any], geometry: str | None = None
) -> str:
    formatter = make_formatter(format_name, columns, geometry)
    half = len(rows) // 2
    return (
        formatter.begin()
        + formatter.rows(rows[:half])
        + formatter.rows(rows[half:])
        + formatter.end()
    )


def test_csv_parses_back_with_crlf_and_header() -> None:
    text = render("csv", COLUMNS, ROWS)
    assert text.startswith("id,name,note,amount\r\n")
    assert text.count("\r\n") == 4
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed == [
        COLUMNS,
        ["1", "plain", "", "1.10"],
        ["2", 'quote " and, comma', "", "-0.5"],
        ["3", "multi\nline", "x", "1E+3"],
    ]


def test_jsonl_parses_back_line_by_line() -> None:
    text = render("jsonl", COLUMNS, ROWS)
    parsed = [json.loads(line, parse_float=D) for line in text.splitlines()]
    assert parsed == [
        {"id": 1, "name": "plain", "note": None, "amount": D("1.10")},
        {"id": 2, "name": 'quote " and, comma', "note": "", "amount": D("-0.5")},
        {"id": 3, "name": "multi\nline", "note": "x", "amount": D("1E+3")},
    ]


def test_repeated_column_names_get_suffixes_in_json() -> None:
    assert unique_names(["id", "id", "id_2", "x"]) == ["id", "id_2", "id_2_2", "x"]
    text = render("jsonl", ["id", "id"], [(1, 2)])
    assert json.loads(text) == {"id": 1, "id_2": 2}


def test_geojson_feature_collection_parses_back() -> None:
    rows = [
        (1, "POINT (10 20)", "a"),
        (2, '{"type": "LineString", "coordinates": [[0, 0], [1, 1]]}', "b"),
        (3, None, "c"),
        (4, "0101000000000000000000F03F0000000000000040", "d"),  # WKB hex: POINT(1 2)
    ]
    text = render("geojson", ["id", "geom", "name"], rows, "geom")
    collection = json.loads(text)
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert [f["geometry"] for f in features] == [
        {"type": "Point", "coordinates": [10.0, 20.0]},
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
        None,
        {"type": "Point", "coordinates": [1.0, 2.0]},
    ]
    assert features[0] == {
        "type": "Feature",
        "geometry": features[0]["geometry"],
        "properties": {"id": 1, "name": "a"},
    }


def test_geojson_of_no_rows_is_an_empty_collection() -> None:
    assert json.loads(render("geojson", ["geom"], [], "geom")) == {
        "type": "FeatureCollection",
        "features": [],
    }


def test_geojson_errors_name_the_row_and_the_column() -> None:
    with pytest.raises(FormatError, match="'shape' is not a column"):
        make_formatter("geojson", ["id", "geom"], "shape")
    formatter = make_formatter("geojson", ["id", "geom"], "geom")
    formatter.rows([(1, "POINT(1 2)")])
    with pytest.raises(FormatError, match="row 2: column 'geom'"):
        formatter.rows([(2, "NOT A SHAPE (1)")])


def g(kind: str, coordinates: Any) -> dict[str, Any]:
    """A GeoJSON geometry."""
    return {"type": kind, "coordinates": coordinates}


SQUARE = [[0, 0], [4, 0], [4, 4], [0, 0]]
HOLE = [[1, 1], [2, 1], [2, 2], [1, 1]]
WKT_CASES = [
    ("POINT(1 2)", g("Point", [1, 2])),
    ("point z (1 2 3)", g("Point", [1, 2, 3])),
    ("POINT M (1 2 9)", g("Point", [1, 2])),
    ("POINT ZM (1 2 3 9)", g("Point", [1, 2, 3])),
    ("SRID=4326;POINT(-71.06 42.36)", g("Point", [-71.06, 42.36])),
    ("POINT EMPTY", g("Point", [])),
    ("LINESTRING(0 0, 1 1.5, 2 -2e1)", g("LineString", [[0, 0], [1, 1.5], [2, -20]])),
    ("POLYGON((0 0, 4 0, 4 4, 0 0), (1 1, 2 1, 2 2, 1 1))", g("Polygon", [SQUARE, HOLE])),
    ("MULTIPOINT((1 2), (3 4))", g("MultiPoint", [[1, 2], [3, 4]])),
    ("MULTIPOINT(1 2, 3 4)", g("MultiPoint", [[1, 2], [3, 4]])),
    (
        "MULTILINESTRING((0 0, 1 1), (2 2, 3 3))",
        g("MultiLineString", [[[0, 0], [1, 1]], [[2, 2], [3, 3]]]),
    ),
    ("MULTIPOLYGON(((0 0, 4 0, 4 4, 0 0)))", g("MultiPolygon", [[SQUARE]])),
    (
        "GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1))",
        {
            "type": "GeometryCollection",
            "geometries": [g("Point", [1, 2]), g("LineString", [[0, 0], [1, 1]])],
        },
    ),
    ("GEOMETRYCOLLECTION EMPTY", {"type": "GeometryCollection", "geometries": []}),
]


@pytest.mark.parametrize(("wkt", "geometry"), WKT_CASES, ids=[c[0][:40] for c in WKT_CASES])
def test_wkt(wkt: str, geometry: dict[str, Any]) -> None:
    assert parse_wkt(wkt) == geometry


@pytest.mark.parametrize(
    "bad", ["POINT(1)", "POINT(1 2", "CIRCLE(1 2)", "POINT(1 2) extra", "LINESTRING(a b)"]
)
def test_invalid_wkt(bad: str) -> None:
    with pytest.raises(GeometryError):
        parse_wkt(bad)


def wkb_point(x: float, y: float, *, little: bool = True, srid: int | None = None) -> bytes:
    order = "<" if little else ">"
    code = 1 | (0x20000000 if srid is not None else 0)
    data = struct.pack(order + "BI", 1 if little else 0, code)
    if srid is not None:
        data += struct.pack(order + "I", srid)
    return data + struct.pack(order + "dd", x, y)


def test_wkb_and_ewkb() -> None:
    assert parse_wkb(wkb_point(1, 2)) == {"type": "Point", "coordinates": [1, 2]}
    assert parse_wkb(wkb_point(1, 2, little=False)) == {"type": "Point", "coordinates": [1, 2]}
    assert parse_wkb(wkb_point(3, 4, srid=4326)) == {"type": "Point", "coordinates": [3, 4]}
    # ISO WKB LineString Z (type 1002)
    line = struct.pack("<BII", 1, 1002, 2) + struct.pack("<6d", 0, 0, 5, 1, 1, 6)
    assert parse_wkb(line) == {"type": "LineString", "coordinates": [[0, 0, 5], [1, 1, 6]]}
    # MultiPoint of two EWKB points; the hex text a PostGIS column returns
    multi = struct.pack("<BII", 1, 4, 2) + wkb_point(1, 2) + wkb_point(3, 4)
    expected = {"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]}
    assert parse_wkb(multi) == expected
    assert to_geojson(multi.hex().upper()) == expected
    assert to_geojson(memoryview(multi)) == expected
    with pytest.raises(GeometryError):
        parse_wkb(multi[:-3])


def test_geojson_values() -> None:
    point = {"type": "Point", "coordinates": [1, 2]}
    assert to_geojson(point) == point
    assert to_geojson(json.dumps(point)) == point
    assert to_geojson({"type": "Feature", "geometry": point, "properties": {}}) == point
    assert to_geojson(None) is None
    assert to_geojson("  ") is None
    for bad in ({"type": "Circle"}, '{"type": "Point"}', "{nope", 42):
        with pytest.raises(GeometryError):
            to_geojson(bad)


# ------------------------------------------------------------------- the spec
SPEC: dict[str, Any] = {
    "source": {"sqlite": {"volume": "data", "path": "db/shop.sqlite"}},
    "query": "SELECT 1",
    "destination": {"volume": "out", "path": "x/y.csv"},
}


def test_export_job_from_spec_with_defaults() -> None:
    job = ExportJob.from_spec(SPEC)
    assert (job.source_kind, job.format, job.batch_size) == ("sqlite", "csv", 5000)
    assert (job.sqlite_volume, job.sqlite_path) == ("data", "db/shop.sqlite")
    assert (job.destination_volume, job.destination_path) == ("out", "x/y.csv")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"source": {}}, "exactly one of", id="no source"),
        pytest.param({"format": "xml"}, "not one of", id="format"),
        pytest.param({"query": " "}, "query is empty", id="query"),
        pytest.param({"batchSize": 0}, "at least 1", id="batch size"),
        pytest.param({"destination": {"volume": "out", "path": "../etc/x"}}, "'..'", id="escape"),
        pytest.param({"destination": {"volume": "out", "path": "/abs"}}, "relative", id="absolute"),
    ],
)
def test_export_job_rejects_bad_specs(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ExportError, match=message):
        ExportJob.from_spec({**SPEC, **change})
