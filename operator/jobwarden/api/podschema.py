"""Vendor the Kubernetes pod template schema as a CRD-ready structural schema.

The ScheduledJob and JobRun `template` is a standard core/v1 PodTemplateSpec, exactly
as in a Job, so users paste what they already know and `kubectl explain` documents it.
The upstream OpenAPI v3 document is not a valid CRD schema (it uses `$ref`, `allOf`,
`oneOf` and extensions that CRDs reject), so this script converts it once into
`podtemplatespec.schema.json`, which `crdgen` reads without needing Go or network.

Run it after a Kubernetes version bump (source: the Go module cache, where
`devcluster/build.sh` puts the Kubernetes sources)::

    python -m jobwarden.api.podschema            # rewrite the vendored file
    python -m jobwarden.api.podschema --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

#: Keep in step with devcluster/versions.env (KUBERNETES_VERSION).
KUBERNETES_VERSION = "v1.35.4"
VENDORED = Path(__file__).with_name("podtemplatespec.schema.json")

_PREFIX = "#/components/schemas/"
_CORE = "io.k8s.api.core.v1."
#: Definitions written to the vendored file. All are parts of PodTemplateSpec; the
#: Export kind reuses them for its worker-pod overrides.
ROOTS = {
    "PodTemplateSpec": _CORE + "PodTemplateSpec",
    "Volume": _CORE + "Volume",
    "Toleration": _CORE + "Toleration",
    "ResourceRequirements": _CORE + "ResourceRequirements",
    "EnvVar": _CORE + "EnvVar",
}
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
#: The pattern controller-gen puts on resource.Quantity, so "2 Gi" fails at apply time.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
#: Extensions a CRD schema accepts; all other `x-kubernetes-*` keys are dropped.
_KEPT_EXTENSIONS = ("x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type")
_ZERO_DEFAULTS: tuple[Any, ...] = ("", 0, False, {}, [])


def openapi_path(version: str = KUBERNETES_VERSION) -> Path:
    """The core/v1 OpenAPI v3 document inside the Go module cache."""
    modcache = subprocess.run(
        ["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return (
        Path(modcache) / f"k8s.io/kubernetes@{version}" / "api/openapi-spec/v3/api__v1_openapi.json"
    )


def openapi_path_if_available(version: str = KUBERNETES_VERSION) -> Path | None:
    """The source document if Go and the Kubernetes module are here, else None."""
    try:
        path = openapi_path(version)
    except (OSError, subprocess.CalledProcessError):
        return None
    return path if path.exists() else None


class _Converter:
    """Inlines references and rewrites upstream idioms into structural-schema ones."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas

    def convert(self, name: str, stack: tuple[str, ...] = ()) -> dict[str, Any]:
        if name in stack:
            raise ValueError(f"recursive schema {' -> '.join((*stack, name))}")
        return self._node(self.schemas[name], (*stack, name))

    def _node(self, node: dict[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
        ref = _single_ref(node)
        if ref is not None:
            named = self._named(ref.removeprefix(_PREFIX), stack)
            # The referring property's own description beats the type's generic one.
            if "description" in node:
                named["description"] = node["description"]
            _copy_default(node, named)
            return named
        if node.get("format") == "int-or-string":
            return _with_description(node, {"x-kubernetes-int-or-string": True})
        out: dict[str, Any] = {}
        for key in ("description", "type", "format", "enum", "required", *_KEPT_EXTENSIONS):
            if key in node:
                out[key] = node[key]
        _copy_default(node, out)
        if "properties" in node:
            out["properties"] = {
                key: self._node(value, stack) for key, value in sorted(node["properties"].items())
            }
        if "items" in node:
            out["items"] = self._node(node["items"], stack)
            self._default_map_keys(node, out)
        additional = node.get("additionalProperties")
        if isinstance(additional, dict):
            out["additionalProperties"] = self._node(additional, stack)
        if (
            out.get("type") == "object"
            and "properties" not in out
            and "additionalProperties" not in out
        ):
            out["x-kubernetes-preserve-unknown-fields"] = True
        if "type" not in out:
            raise ValueError(f"untyped schema under {stack[-1]}: {sorted(node)}")
        return out

    def _default_map_keys(self, node: dict[str, Any], out: dict[str, Any]) -> None:
        """A list-map key must be required or defaulted in a CRD: keep its upstream
        default even when it is a zero value (imagePullSecrets[].name defaults to "")."""
        ref = _single_ref(node["items"])
        if ref is None:
            return
        upstream = self.schemas[ref.removeprefix(_PREFIX)].get("properties", {})
        items = out["items"]
        for key in out.get("x-kubernetes-list-map-keys", []):
            if key in items.get("required", []) or "default" in items["properties"][key]:
                continue
            if "default" not in upstream.get(key, {}):
                raise ValueError(f"list-map key {key} has neither a default nor is required")
            items["properties"][key]["default"] = upstream[key]["default"]

    def _named(self, name: str, stack: tuple[str, ...]) -> dict[str, Any]:
        if name == _QUANTITY:
            return _with_description(
                self.schemas[name],
                {"x-kubernetes-int-or-string": True, "pattern": QUANTITY_PATTERN},
            )
        if name == _OBJECT_META:
            return _template_metadata()
        return self.convert(name, stack)


def _single_ref(node: dict[str, Any]) -> str | None:
    if "$ref" in node:
        return str(node["$ref"])
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        return str(all_of[0]["$ref"])
    return None


def _copy_default(source: dict[str, Any], target: dict[str, Any]) -> None:
    """Keep only meaningful defaults (e.g. port protocol TCP, a list-map key).

    Upstream marks Go zero values as defaults (`""`, `0`, `{}`); in a CRD those would
    turn a forgotten required field into a silently empty one.
    """
    if "default" in source and not any(
        source["default"] == zero and type(source["default"]) is type(zero)
        for zero in _ZERO_DEFAULTS
    ):
        target["default"] = source["default"]


def _with_description(source: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    if "description" in source:
        out = {"description": source["description"], **out}
    return out


def _template_metadata() -> dict[str, Any]:
    """Pod template metadata: labels and annotations are all a worker pod can carry.

    The pod's name, namespace and owner are the operator's; anything else is rejected
    by strict field validation instead of being silently pruned.
    """
    string_map = {"type": "object", "additionalProperties": {"type": "string"}}
    return {
        "type": "object",
        "description": "Labels and annotations for the worker pod.",
        "properties": {
            "labels": {
                **string_map,
                "description": "Labels added to every worker pod (the operator adds its own).",
            },
            "annotations": {
                **string_map,
                "description": "Annotations added to every worker pod.",
            },
        },
    }


def build(openapi: dict[str, Any], source: str) -> dict[str, Any]:
    """The vendored document: each root definition, fully inlined and structural."""
    converter = _Converter(openapi["components"]["schemas"])
    return {
        "$comment": (
            "Generated by `python -m jobwarden.api.podschema` from the Kubernetes "
            f"{KUBERNETES_VERSION} OpenAPI v3 document; do not edit."
        ),
        "kubernetesVersion": KUBERNETES_VERSION,
        "source": source,
        "definitions": {name: converter.convert(full) for name, full in sorted(ROOTS.items())},
    }


def render(document: dict[str, Any]) -> str:
    """Stable text form (sorted keys, one-space indent) so diffs stay reviewable."""
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def load_vendored() -> dict[str, Any]:
    """The vendored definitions, keyed by short name (PodTemplateSpec, Volume, …)."""
    document = json.loads(VENDORED.read_text(encoding="utf-8"))
    definitions: dict[str, Any] = document["definitions"]
    return definitions


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or with --check, verify) the vendored schema file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--openapi", type=Path, help="core/v1 OpenAPI v3 JSON (default: Go cache)")
    parser.add_argument("--check", action="store_true", help="fail if the vendored file differs")
    args = parser.parse_args(argv)
    path: Path = args.openapi or openapi_path()
    source = f"k8s.io/kubernetes@{KUBERNETES_VERSION}/api/openapi-spec/v3/{path.name}"
    text = render(build(json.loads(path.read_text(encoding="utf-8")), source))
    if args.check:
        if not VENDORED.exists() or VENDORED.read_text(encoding="utf-8") != text:
            print(f"{VENDORED} is out of date: run python -m jobwarden.api.podschema")
            return 1
        return 0
    VENDORED.write_text(text, encoding="utf-8")
    print(f"wrote {VENDORED} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
