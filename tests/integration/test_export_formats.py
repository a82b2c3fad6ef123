"""The export worker as a process, against a real PostgreSQL (with PostGIS) and SQLite:
every format written and parsed back; cancel and failure leave nothing behind."""

from __future__ import annotations

import csv
import datetime
import decimal
import hashlib
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.postgres import PostgresServer
from tests.support.wait import wait_until

D = decimal.Decimal


@dataclass
class Result:
    code: int
    message: str
    output: Path
    log: str

    def text(self) -> str:
        return self.output.read_text()


def export_env(tmp_path: Path, spec: dict[str, Any], uri: str = "") -> dict[str, str]:
    """The environment the operator's pod gives the worker, with the volumes of the
    spec mapped to directories under tmp_path (as a hostPath volume would be)."""
    volumes = tmp_path / "volumes"
    volumes.mkdir(exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "JOBWARDEN_"))},
        "JOBWARDEN_EXPORT_SPEC": json.dumps(spec),
        "JOBWARDEN_VOLUME_ROOT": "/jobwarden/volumes",
        "JOBWARDEN_PATH_MAP": json.dumps({"/jobwarden/volumes": str(volumes)}),
        "JOBWARDEN_TERMINATION_LOG": str(tmp_path / "termination-log"),
    }
    if uri:
        env["JOBWARDEN_SOURCE_URI"] = uri
    return env


def run_export(tmp_path: Path, spec: dict[str, Any], uri: str = "") -> Result:
    process = subprocess.run(
        [sys.executable, "-m", "jobwarden.worker.export"],
        env=export_env(tmp_path, spec, uri),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    destination = spec["destination"]
    output = tmp_path / "volumes" / destination["volume"] / destination["path"]
    termination = tmp_path / "termination-log"
    message = termination.read_text() if termination.exists() else ""
    return Result(process.returncode, message, output, process.stderr)


def pg_spec(query: str, fmt: str = "csv", **extra: Any) -> dict[str, Any]:
    return {
        "source": {"postgres": {"secretRef": {"name": "db"}}},
        "query": query,
        "format": fmt,
        "destination": {"volume": "out", "path": f"export.{fmt}"},
        **extra,
    }


def sqlite_spec(query: str, fmt: str = "csv", **extra: Any) -> dict[str, Any]:
    return {
        "source": {"sqlite": {"volume": "data", "path": "db.sqlite"}},
        "query": query,
        "format": fmt,
        "destination": {"volume": "out", "path": f"sub/dir/export.{fmt}"},
        **extra,
    }


@pytest.fixture
def typed_db(postgres: PostgresServer) -> str:
    """A database with one row per interesting value."""
    database = postgres.create_database()
    with postgres.connect(database) as conn:
        conn.execute(
            """
            CREATE TABLE typed (
                id int, label text, amount numeric(20, 6), ratio float8, ok boolean,
                at timestamptz, day date, raw bytea, doc jsonb, tags int[], ident uuid
            );
            INSERT INTO typed VALUES
              (1, 'plain', 1.5, 0.25, true, '2025-03-01 12:00:00+00', '2025-03-01',
               '\\x00ff', '{"a": [1, 2]}', '{1,2,3}', '00000000-0000-0000-0000-000000000001'),
              (2, 'comma, "quote"' || chr(10) || 'newline é', -0.000001, 'NaN', false,
               NULL, NULL, NULL, 'null', '{}', NULL),
              (3, '', 12345678901234.5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
              (4, NULL, NULL, '-Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL);
            """
        )
    return database


def test_postgres_to_csv(tmp_path: Path, postgres: PostgresServer, typed_db: str) -> None:
    result = run_export(
        tmp_path, pg_spec("SELECT * FROM typed ORDER BY id;"), postgres.uri(typed_db)
    )
    assert result.code == 0, result.log
    raw = result.output.read_bytes()
    assert raw.count(b"\r\n") == 5  # header + 4 rows (the embedded newline is LF only)
    with result.output.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "id", "label", "amount", "ratio", "ok", "at", "day", "raw", "doc", "tags", "ident",
    ]  # fmt: skip
    assert rows[1] == [
        "1", "plain", "1.500000", "0.25", "true", "2025-03-01T12:00:00+00:00", "2025-03-01",
        "\\x00ff", '{"a":[1,2]}', "[1,2,3]", "00000000-0000-0000-0000-000000000001",
    ]  # fmt: skip
    assert rows[2][1] == 'comma, "quote"\nnewline é'
    assert rows[2][2:5] == ["-0.000001", "NaN", "false"]
    assert rows[2][8:10] == ["", "[]"]  # a JSON null is NULL to the driver
    assert rows[3][1] == ""  # empty string: quoted "" in the file
    assert b'\r\n3,"",12345678901234.500000,' in raw
    assert b"\r\n4,,,-Infinity," in raw  # NULL: nothing at all
    assert result.message.startswith("exported 4 rows")
    digest = hashlib.sha256(raw).hexdigest()
    assert f"sha256 {digest}" in result.message
    assert not result.output.with_name("export.csv.partial").exists()


def test_postgres_to_jsonl(tmp_path: Path, postgres: PostgresServer, typed_db: str) -> None:
    result = run_export(
        tmp_path, pg_spec("SELECT * FROM typed ORDER BY id", "jsonl"), postgres.uri(typed_db)
    )
    assert result.code == 0, result.log
    rows = [json.loads(line, parse_float=D) for line in result.text().splitlines()]
    assert rows[0] == {
        "id": 1,
        "label": "plain",
        "amount": D("1.500000"),
        "ratio": D("0.25"),
        "ok": True,
        "at": "2025-03-01T12:00:00+00:00",
        "day": "2025-03-01",
        "raw": "AP8=",
        "doc": {"a": [1, 2]},
        "tags": [1, 2, 3],
        "ident": "00000000-0000-0000-0000-000000000001",
    }
    assert rows[1]["label"] == 'comma, "quote"\nnewline é'
    assert rows[1]["ratio"] == "NaN" and rows[1]["doc"] is None and rows[1]["tags"] == []
    assert rows[2]["label"] == "" and rows[2]["amount"] == D("12345678901234.500000")
    assert rows[3]["label"] is None and rows[3]["ratio"] == "-Infinity"


def test_postgis_geometries_to_geojson(tmp_path: Path, postgres: PostgresServer) -> None:
    assert postgres.has_postgis(), "PostGIS is not installed (.ci/run installs it)"
    database = postgres.create_database()
    with postgres.connect(database) as conn:
        conn.execute("CREATE EXTENSION postgis")
        conn.execute(
            """
            CREATE TABLE places (id int, name text, geom geometry);
            INSERT INTO places VALUES
              (1, 'point', ST_GeomFromText('POINT(13.4 52.5)', 4326)),
              (2, 'square', ST_GeomFromText('POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))', 4326)),
              (3, 'line z', ST_GeomFromEWKT('SRID=4326;LINESTRING(0 0 1, 1 1 2)')),
              (4, 'nothing', NULL);
            """
        )
    expected = [
        {"type": "Point", "coordinates": [13.4, 52.5]},
        {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]},
        {"type": "LineString", "coordinates": [[0, 0, 1], [1, 1, 2]]},
        None,
    ]
    for column, select in [
        ("geom", "geom"),  # the column as it is: EWKB hex
        ("wkt", "ST_AsEWKT(geom) AS wkt"),
        ("gj", "ST_AsGeoJSON(geom)::json AS gj"),
    ]:
        spec = pg_spec(
            f"SELECT id, name, {select} FROM places ORDER BY id",
            "geojson",
            geometryColumn=column,
            batchSize=2,
        )
        out = tmp_path / column
        out.mkdir()
        result = run_export(out, spec, postgres.uri(database))
        assert result.code == 0, (column, result.log)
        collection = json.loads(result.text())
        assert collection["type"] == "FeatureCollection"
        assert [f["geometry"] for f in collection["features"]] == expected, column
        assert collection["features"][0]["properties"] == {"id": 1, "name": "point"}


def point_json(x: float, y: float) -> str:
    return json.dumps({"type": "Point", "coordinates": [x, y]})


def wkb_point(x: float, y: float) -> bytes:
    return struct.pack("<BIdd", 1, 1, x, y)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "volumes" / "data" / "db.sqlite"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE shops (id INTEGER, name TEXT, wkt TEXT, gj TEXT, wkb BLOB)")
        db.executemany(
            "INSERT INTO shops VALUES (?, ?, ?, ?, ?)",
            [
                (
                    i,
                    f"shop, {i}",
                    f"POINT({i} {i / 2})",
                    json.dumps({"type": "Point", "coordinates": [i, i / 2]}),
                    wkb_point(i, i / 2),
                )
                for i in range(1, 1001)
            ],
        )
    return path


@pytest.mark.parametrize("column", ["wkt", "gj", "wkb"])
def test_sqlite_to_geojson(tmp_path: Path, sqlite_db: Path, column: str) -> None:
    spec = sqlite_spec(
        f"SELECT id, name, {column} FROM shops ORDER BY id", "geojson", geometryColumn=column
    )
    result = run_export(tmp_path, spec)
    assert result.code == 0, result.log
    features = json.loads(result.text())["features"]
    assert len(features) == 1000
    assert features[9] == {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [10, 5]},
        "properties": {"id": 10, "name": "shop, 10"},
    }


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_sqlite_to_csv_and_jsonl(tmp_path: Path, sqlite_db: Path, fmt: str) -> None:
    result = run_export(
        tmp_path, sqlite_spec("SELECT id, name FROM shops ORDER BY id", fmt, batchSize=7)
    )
    assert result.code == 0, result.log
    if fmt == "csv":
        with result.output.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows[0] == {"id": "1", "name": "shop, 1"}
    else:
        rows = [json.loads(line) for line in result.text().splitlines()]
        assert rows[0] == {"id": 1, "name": "shop, 1"}
    assert len(rows) == 1000
    assert result.message.startswith("exported 1000 rows")


def test_sqlite_cancel_midway_removes_the_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "volumes" / "data" / "db.sqlite"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE big AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
            "SELECT i + 1 FROM n WHERE i < 1000000) SELECT i, 'row ' || i AS label FROM n"
        )
    spec = sqlite_spec("SELECT i, label FROM big", batchSize=5000)
    process = subprocess.Popen(
        [sys.executable, "-m", "jobwarden.worker.export"],
        env=export_env(tmp_path, spec),
        stderr=subprocess.PIPE,
        text=True,
    )
    partial = tmp_path / "volumes" / "out" / "sub" / "dir" / "export.csv.partial"
    wait_until(
        lambda: partial.exists() and partial.stat().st_size > 1_000_000,
        timeout=30,
        interval=0.01,
        message="the export under way",
    )
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 143
    assert time.monotonic() - signalled < 1.0, "SIGTERM must be honoured within 1 s"
    assert not partial.exists()
    assert not partial.with_name("export.csv").exists()
    message = (tmp_path / "termination-log").read_text()
    assert message.startswith("cancelled: SIGTERM received: stopped after")
    assert "rows " in message and "/1000000" in message


def test_query_errors_fail_with_the_database_message(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    database = postgres.create_database()
    result = run_export(tmp_path, pg_spec("SELECT nope FROM nowhere"), postgres.uri(database))
    assert result.code == 1
    assert result.message.startswith(
        'failed: SourceError: query failed: relation "nowhere" does not exist'
    )
    assert "[SQLSTATE 42P01]" in result.message
    assert not list((tmp_path / "volumes").rglob("*.partial"))
    wait_until(lambda: not postgres.backends(database), timeout=5, message="no session left")


def test_sqlite_errors_and_a_missing_uri(tmp_path: Path, sqlite_db: Path) -> None:
    result = run_export(tmp_path, sqlite_spec("SELECT * FROM missing"))
    assert result.code == 1
    assert "no such table: missing" in result.message
    no_uri = run_export(tmp_path, pg_spec("SELECT 1"))
    assert no_uri.code == 1
    assert "JOBWARDEN_SOURCE_URI is not set" in no_uri.message


def test_statements_other_than_one_query_are_refused(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    database = postgres.create_database()
    with postgres.connect(database) as conn:
        conn.execute("CREATE TABLE t (x int)")
    uri = postgres.uri(database)
    deleting = run_export(tmp_path, pg_spec("DELETE FROM t RETURNING x"), uri)
    assert deleting.code == 1, deleting.log  # not a SELECT: no cursor for it
    two = run_export(tmp_path, pg_spec("SELECT 1; DROP TABLE t"), uri)
    assert two.code == 1
    with postgres.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_dates_stay_exact(tmp_path: Path, postgres: PostgresServer) -> None:
    database = postgres.create_database()
    result = run_export(
        tmp_path,
        pg_spec(
            "SELECT timestamp '2025-01-02 03:04:05.123456' AS t, 10::numeric / 4 AS q", "jsonl"
        ),
        postgres.uri(database),
    )
    assert result.code == 0, result.log
    row = json.loads(result.text(), parse_float=D)
    assert row == {"t": "2025-01-02T03:04:05.123456", "q": D("2.5000000000000000")}
    assert datetime.datetime.fromisoformat(row["t"]).microsecond == 123456
