"""Export: a one-shot data export run by the built-in export worker."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from jobwarden.api.base import (
    ApiModel,
    cel,
    immutable_except,
    k8s_schema,
    map_list,
    validations,
    with_rules,
)
from jobwarden.api.common import LabelName, ObjectName, StringMap
from jobwarden.api.enums import ExportFormat
from jobwarden.api.runstatus import RunStatus
from jobwarden.api.settings import RunSettings, cancel_field, ttl_field

MAX_VOLUMES = 16
_RELATIVE_PATH_RULE = cel(
    r"!self.startsWith('/') && !self.matches('(^|/)\\.\\.(/|$)')",
    "path must be relative to the volume and must not contain '..'",
)
RelativePath = Annotated[
    str,
    Field(min_length=1, max_length=512, json_schema_extra=validations(_RELATIVE_PATH_RULE)),
]


class SecretKeyReference(ApiModel):
    """A key of a Secret in the same namespace."""

    name: ObjectName = Field(description="Name of the Secret.")
    key: str = Field(
        default="uri",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key in the Secret whose value is used (default: uri).",
    )


class PostgresSource(ApiModel):
    """A PostgreSQL database."""

    secret_ref: SecretKeyReference = Field(
        description=(
            "Secret key holding a libpq connection URI, e.g. "
            "postgresql://user:password@host:5432/db?sslmode=require. Only the worker "
            "pod reads it (as an environment variable from the Secret)."
        )
    )


class SqliteSource(ApiModel):
    """A SQLite database file on a volume."""

    volume: LabelName = Field(description="Name of a volume in spec.volumes holding the file.")
    path: RelativePath = Field(description="Path of the database file inside that volume.")


class ExportSource(ApiModel):
    """Where the data comes from: exactly one of postgres or sqlite."""

    model_config = ConfigDict(
        json_schema_extra=with_rules(
            cel(
                "has(self.postgres) != has(self.sqlite)",
                "source needs exactly one of postgres or sqlite",
            )
        )
    )

    postgres: PostgresSource | None = Field(default=None, description="Read from PostgreSQL.")
    sqlite: SqliteSource | None = Field(default=None, description="Read a SQLite file.")


class ExportDestination(ApiModel):
    """Where the file is written."""

    volume: LabelName = Field(description="Name of a volume in spec.volumes to write to.")
    path: RelativePath = Field(
        description=(
            "File path inside that volume, e.g. reports/orders.csv. The worker writes "
            "<path>.partial and renames it when complete, so readers never see half a file."
        )
    )


class ExportWorker(ApiModel):
    """Overrides for the export worker pod (the operator builds the rest)."""

    image: str | None = Field(
        default=None,
        max_length=512,
        description="Worker image; default: the operator's own image (it contains the worker).",
    )
    image_pull_policy: str | None = Field(
        default=None,
        description="Always, IfNotPresent or Never (Kubernetes default rules apply if unset).",
        json_schema_extra={"enum": ["Always", "IfNotPresent", "Never"]},
    )
    resources: dict[str, Any] | None = Field(
        default=None,
        description="CPU and memory requests and limits of the worker container.",
        json_schema_extra=k8s_schema("ResourceRequirements"),
    )
    node_selector: StringMap | None = Field(
        default=None,
        description="Node labels the worker pod must be scheduled on.",
        json_schema_extra={"maxProperties": 32},
    )
    tolerations: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=32,
        description="Tolerations of the worker pod.",
        json_schema_extra={"items": k8s_schema("Toleration")},
    )
    service_account_name: ObjectName | None = Field(
        default=None,
        description=(
            "ServiceAccount of the worker pod; default: jobwarden-worker, which may only "
            "report this run's progress."
        ),
    )
    env: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=64,
        description="Extra environment variables of the worker container (e.g. PGSSLROOTCERT).",
        json_schema_extra={"items": k8s_schema("EnvVar")},
    )
    pod_labels: StringMap | None = Field(
        default=None,
        description="Labels added to the worker pod.",
        json_schema_extra={"maxProperties": 64},
    )
    pod_annotations: StringMap | None = Field(
        default=None,
        description="Annotations added to the worker pod.",
        json_schema_extra={"maxProperties": 64},
    )


_EXPORT_RULES = (
    cel(
        "self.format != 'geojson' || has(self.geometryColumn)",
        "format geojson needs geometryColumn: the column holding the geometry (GeoJSON or WKT)",
        field_path=".geometryColumn",
    ),
    cel(
        "self.format == 'geojson' || !has(self.geometryColumn)",
        "geometryColumn is only used with format geojson",
        field_path=".geometryColumn",
    ),
    cel(
        "has(self.volumes) && self.volumes.exists(v, v.name == self.destination.volume)",
        "destination.volume must name a volume listed in spec.volumes",
        field_path=".destination.volume",
    ),
    cel(
        "!has(self.source.sqlite) || "
        "(has(self.volumes) && self.volumes.exists(v, v.name == self.source.sqlite.volume))",
        "source.sqlite.volume must name a volume listed in spec.volumes",
        field_path=".source.sqlite.volume",
    ),
)


class ExportSpec(RunSettings):
    """Desired state of an Export. Immutable once created, except `cancel`."""

    model_config = ConfigDict(
        json_schema_extra=immutable_except("Export", "cancel", extra=_EXPORT_RULES)
    )

    source: ExportSource = Field(description="Where to read from.")
    query: str = Field(
        min_length=1,
        max_length=65536,
        description="The SQL query whose result is exported (read-only; one statement).",
    )
    format: ExportFormat = Field(
        default=ExportFormat.CSV,
        description=(
            "csv (RFC 4180, with a header row), jsonl (one JSON object per row) or "
            "geojson (a FeatureCollection; needs geometryColumn)."
        ),
    )
    geometry_column: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description=(
            "format geojson: the column holding each row's geometry, as GeoJSON or WKT; "
            "the other columns become the feature's properties."
        ),
    )
    destination: ExportDestination = Field(description="Where to write the file.")
    batch_size: int = Field(
        default=5000,
        ge=1,
        le=1_000_000,
        description=(
            "Rows fetched and written per unit of work; a cancel takes effect between batches."
        ),
    )
    ttl_seconds_after_finished: int | None = ttl_field("Export")
    volumes: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=MAX_VOLUMES,
        description=(
            "Volumes of the worker pod (core/v1 Volume), referenced by name from "
            "destination.volume and source.sqlite.volume, e.g. a persistentVolumeClaim."
        ),
        json_schema_extra={"items": k8s_schema("Volume"), **map_list("name")},
    )
    worker: ExportWorker = Field(
        default_factory=ExportWorker,
        description="Overrides for the export worker pod: image, resources, placement.",
        json_schema_extra={"default": {}},
    )
    cancel: bool = cancel_field()


class Artifact(ApiModel):
    """The file an Export produced."""

    path: str = Field(max_length=1024, description="Path of the file inside its volume.")
    bytes: int = Field(ge=0, description="Size of the file in bytes.")
    rows: int = Field(ge=0, description="Rows (or features) written.")
    sha256: str = Field(
        max_length=64,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the file, lowercase hex.",
    )


class ExportStatus(RunStatus):
    """Observed state of an Export."""

    artifact: Artifact | None = Field(
        default=None, description="The file written, once the export has succeeded."
    )


class Export(ApiModel):
    """A whole Export object (metadata left as the API server's dict)."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ExportSpec
    status: ExportStatus = Field(default_factory=ExportStatus)

    def settings(self) -> RunSettings:
        """Run settings of this export (an Export has no parent to inherit from)."""
        return self.spec.settings()
