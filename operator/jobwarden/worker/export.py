"""The built-in export worker: `python -m jobwarden.worker.export`.

It runs in the worker pod the operator builds for an Export (see
`jobwarden.core.podspec.export_template`) and reads its job from the environment:

| variable                  | what                                                        |
| ------------------------- | ----------------------------------------------------------- |
| `JOBWARDEN_EXPORT_SPEC`   | the Export's spec, as JSON                                  |
| `JOBWARDEN_VOLUME_ROOT`   | where spec.volumes are mounted (`<root>/<volume name>`)     |
| `JOBWARDEN_SOURCE_URI`    | PostgreSQL: the libpq URI, from spec.source.postgres.secretRef |
| `JOBWARDEN_RUN_*`         | the run's identity (progress and artifact go to its status) |

It streams the query in batches of `batchSize` rows (one unit of work each) into
`<destination>.partial`, then fsyncs and renames it, so readers never see half a
file; the artifact (path, bytes, rows, sha256) goes into `status.artifact`. On a
cancel (SIGTERM) it stops after the current batch; on cancel or failure it removes
the partial file and closes the database connection, and exits 143 or 1.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from jobwarden.worker.context import RunContext, run_job
from jobwarden.worker.formats import make_formatter
from jobwarden.worker.sources import PostgresSource, Source, SqliteSource

logger = logging.getLogger("jobwarden.worker.export")

SPEC_ENV = "JOBWARDEN_EXPORT_SPEC"
VOLUME_ROOT_ENV = "JOBWARDEN_VOLUME_ROOT"
SOURCE_URI_ENV = "JOBWARDEN_SOURCE_URI"
DEFAULT_VOLUME_ROOT = "/jobwarden/volumes"
DEFAULT_BATCH_SIZE = 5000
#: Counting the query's rows first (for the fraction done) may take this long at most.
COUNT_TIMEOUT_SECONDS = 5.0
FORMATS = ("csv", "jsonl", "geojson")


class ExportError(Exception):
    """The export cannot run as specified."""


def _relative(path: object, what: str) -> str:
    text = str(path or "")
    pure = PurePosixPath(text)
    if not text or pure.is_absolute() or ".." in pure.parts:
        raise ExportError(f"{what} must be a relative path without '..', not {text!r}")
    return text


@dataclass(frozen=True)
class ExportJob:
    """What to export, from the Export's spec."""

    source_kind: str  # "postgres" | "sqlite"
    sqlite_volume: str
    sqlite_path: str
    query: str
    format: str
    geometry_column: str | None
    destination_volume: str
    destination_path: str
    batch_size: int

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> ExportJob:
        """Read the spec (as the API server stored it), checking what the worker needs."""
        source = spec.get("source") or {}
        destination = spec.get("destination") or {}
        if bool(source.get("postgres")) == bool(source.get("sqlite")):
            raise ExportError("spec.source needs exactly one of postgres or sqlite")
        sqlite = source.get("sqlite") or {}
        format_name = str(spec.get("format") or "csv")
        if format_name not in FORMATS:
            raise ExportError(f"spec.format {format_name!r} is not one of {', '.join(FORMATS)}")
        query = str(spec.get("query") or "").strip()
        if not query:
            raise ExportError("spec.query is empty")
        try:
            raw_batch = spec.get("batchSize")
            batch_size = DEFAULT_BATCH_SIZE if raw_batch is None else int(raw_batch)
        except (TypeError, ValueError):
            raise ExportError("spec.batchSize must be an integer") from None
        if batch_size < 1:
            raise ExportError("spec.batchSize must be at least 1")
        if not destination.get("volume"):
            raise ExportError("spec.destination.volume is missing")
        return cls(
            source_kind="postgres" if source.get("postgres") else "sqlite",
            sqlite_volume=str(sqlite.get("volume") or ""),
            sqlite_path=_relative(sqlite.get("path"), "spec.source.sqlite.path") if sqlite else "",
            query=query,
            format=format_name,
            geometry_column=spec.get("geometryColumn") or None,
            destination_volume=str(destination["volume"]),
            destination_path=_relative(destination.get("path"), "spec.destination.path"),
            batch_size=batch_size,
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> ExportJob:
        """The job described by $JOBWARDEN_EXPORT_SPEC."""
        raw = environ.get(SPEC_ENV)
        if not raw:
            raise ExportError(f"${SPEC_ENV} is not set: this worker runs in an Export's pod")
        try:
            spec = json.loads(raw)
        except ValueError as error:
            raise ExportError(f"${SPEC_ENV} is not JSON: {error}") from None
        if not isinstance(spec, dict):
            raise ExportError(f"${SPEC_ENV} must be a JSON object")
        return cls.from_spec(spec)


class PartialFile:
    """`<path>.partial`, hashed while written; `commit()` makes it `<path>` atomically."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.partial = final.with_name(final.name + ".partial")
        self.bytes = 0
        self.committed = False
        self._sha = hashlib.sha256()
        final.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = self.partial.open("wb", buffering=1 << 20)

    def write(self, text: str) -> None:
        """Append text (UTF-8)."""
        if not text:
            return
        data = text.encode()
        self._file.write(data)
        self._sha.update(data)
        self.bytes += len(data)

    @property
    def sha256(self) -> str:
        """Lowercase hex digest of what was written."""
        return self._sha.hexdigest()

    def commit(self) -> None:
        """Flush, fsync, rename to the final name, fsync the directory."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.partial, self.final)
        self.committed = True
        directory = os.open(self.final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def discard(self) -> None:
        """Remove the partial file unless committed (a cleanup callback)."""
        if self.committed:
            return
        self._file.close()
        self.partial.unlink(missing_ok=True)
        logger.info("removed the partial file %s", self.partial)


def human_bytes(size: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def open_source(job: ExportJob, ctx: RunContext, volume_root: str) -> Source:
    """Connect to the source; its close is registered as a cleanup callback."""
    source: Source
    if job.source_kind == "postgres":
        uri = ctx.environ.get(SOURCE_URI_ENV, "")
        if not uri:
            raise ExportError(
                f"${SOURCE_URI_ENV} is not set: the pod gets it from the Secret named in "
                "spec.source.postgres.secretRef"
            )
        identity = ctx.identity
        name = f"{identity.namespace}/{identity.name}" if identity else "local"
        source = PostgresSource(uri, job.query, ctx.token, application_name=f"jobwarden:{name}")
    else:
        path = ctx.path(f"{volume_root}/{job.sqlite_volume}/{job.sqlite_path}")
        source = SqliteSource(path, job.query, ctx.token)
    ctx.on_cleanup(source.close)
    return source


def export(ctx: RunContext) -> str:
    """The export, as a job of the worker SDK; returns the termination message."""
    job = ExportJob.from_environment(ctx.environ)
    volume_root = ctx.environ.get(VOLUME_ROOT_ENV) or DEFAULT_VOLUME_ROOT
    destination = ctx.path(f"{volume_root}/{job.destination_volume}/{job.destination_path}")
    logger.info(
        "exporting from %s as %s to %s (batches of %d rows)",
        job.source_kind,
        job.format,
        destination,
        job.batch_size,
    )
    source = open_source(job, ctx, volume_root)
    ctx.progress(message="counting the rows to export")
    total = source.count(COUNT_TIMEOUT_SECONDS)
    source.open()
    formatter = make_formatter(job.format, source.columns, job.geometry_column)
    output = PartialFile(destination)
    ctx.on_cleanup(output.discard)
    output.write(formatter.begin())
    rows = 0
    of_total = f" of {total}" if total is not None else ""
    ctx.progress(done=0, total=total, unit="rows", message=f"exporting{of_total} rows")
    for batch in ctx.units(source.batches(job.batch_size)):
        output.write(formatter.rows(batch))
        rows += len(batch)
        ctx.progress(
            done=rows,
            total=total,
            unit="rows",
            message=f"{rows}{of_total} rows written",
            counters={"bytes": output.bytes},
        )
    output.write(formatter.end())
    output.commit()
    artifact = {
        "path": job.destination_path,
        "bytes": output.bytes,
        "rows": rows,
        "sha256": output.sha256,
    }
    ctx.progress(
        done=rows,
        total=rows,
        unit="rows",
        message=f"{rows} rows written",
        counters={"bytes": output.bytes},
    )
    published = ctx.identity is not None and ctx.identity.kind == "Export"
    if published and not ctx.publish_status({"artifact": artifact}):
        logger.warning("the artifact could not be recorded in the run's status")
    logger.info("artifact: %s", json.dumps(artifact))
    return (
        f"exported {rows} rows ({human_bytes(output.bytes)}) to {job.destination_volume}:"
        f"{job.destination_path}, sha256 {output.sha256}"
    )


def main() -> None:
    """Entry point of `python -m jobwarden.worker.export`."""
    run_job(export)


if __name__ == "__main__":
    main()
