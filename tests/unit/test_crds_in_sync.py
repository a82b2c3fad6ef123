"""crds/ is exactly what the models generate, and what they generate is a CRD the API
server and its users can live with (structural, documented, bounded, small enough)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobwarden.api import crdgen, podschema
from jobwarden.api.resources import RESOURCES

GENERATED = crdgen.generate()
#: Subtrees that are vendored Kubernetes schemas (checked upstream, not by our rules).
VENDORED = {
    "spec.template",
    "spec.volumes[]",
    "spec.worker.resources",
    "spec.worker.tolerations[]",
    "spec.worker.env[]",
    "status.snapshot.template",
}
#: kubectl apply (client-side) stores the whole object in an annotation of at most
#: 256 KiB; leave room for the rest of the metadata.
MAX_CRD_JSON_BYTES = 250_000


def test_committed_crds_match_the_models() -> None:
    problems = crdgen.check(crdgen.CRDS_DIR, GENERATED)
    assert not problems, (
        "\n\n".join(problems)
        + "\n\ncrds/ is out of date: run `python -m jobwarden.api.crdgen` and commit the result."
    )


def test_generation_is_deterministic() -> None:
    assert crdgen.generate() == GENERATED


def test_check_reports_drift(tmp_path: Path) -> None:
    for name, text in GENERATED.items():
        (tmp_path / name).write_text(text)
    first = next(iter(GENERATED))
    (tmp_path / first).write_text(GENERATED[first].replace("maxLength: 64", "maxLength: 65"))
    (tmp_path / "stale.jobwarden.dev.yaml").write_text("---\n")
    problems = crdgen.check(tmp_path, GENERATED)
    assert any("maxLength: 65" in problem for problem in problems)
    assert any("stale.jobwarden.dev.yaml is not generated" in problem for problem in problems)
    assert crdgen.main(["--check", "--output-dir", str(tmp_path)]) == 1


def test_vendored_pod_schema_is_current() -> None:
    source = podschema.openapi_path_if_available()
    if source is None:
        pytest.skip("the Kubernetes OpenAPI source is not in the Go module cache here")
    assert podschema.main(["--check", "--openapi", str(source)]) == 0


def _crds() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, text in GENERATED.items():
        yield name, yaml.safe_load(text)


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}" if path else name)
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def _own_fields(crd: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for part in ("spec", "status"):
        for path, node in _walk(root["properties"][part], part):
            if not any(
                path == v or path.startswith(v + ".") or path.startswith(v + "[") for v in VENDORED
            ):
                yield path, node


@pytest.mark.parametrize("name", list(GENERATED))
def test_crd_shape(name: str) -> None:
    crd = yaml.safe_load(GENERATED[name])
    spec = crd["spec"]
    assert spec["group"] == "jobwarden.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["categories"] == ["jobwarden"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert {r.crd_name for r in RESOURCES} == {n.removesuffix(".yaml") for n in GENERATED}


@pytest.mark.parametrize("name", list(GENERATED))
def test_schema_is_structural(name: str) -> None:
    crd = yaml.safe_load(GENERATED[name])
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    text = json.dumps(root)
    for forbidden in ('"$ref"', '"anyOf"', '"oneOf"', '"allOf"', '"nullable"', '"title"'):
        assert forbidden not in text, f"{forbidden} in {name}"
    for path, node in _walk(root, ""):
        typed = "type" in node or node.get("x-kubernetes-int-or-string")
        assert typed, f"{name}: {path} has no type"


@pytest.mark.parametrize("name", list(GENERATED))
def test_own_fields_are_documented_and_bounded(name: str) -> None:
    crd = yaml.safe_load(GENERATED[name])
    for path, node in _own_fields(crd):
        if path.endswith(("[]", "{}")):
            continue
        assert node.get("description"), f"{name}: {path} has no description"
        if node.get("type") == "string":
            bounded = "maxLength" in node or "enum" in node or node.get("format") == "date-time"
            assert bounded, f"{name}: {path} is an unbounded string"
        if node.get("type") == "array":
            assert "maxItems" in node, f"{name}: {path} is an unbounded list"


@pytest.mark.parametrize("name", list(GENERATED))
def test_crd_fits_client_side_apply(name: str) -> None:
    size = len(json.dumps(yaml.safe_load(GENERATED[name]), separators=(",", ":")))
    assert size < MAX_CRD_JSON_BYTES, f"{name} is {size} bytes of JSON"


def test_conditions_are_a_map_list_keyed_by_type() -> None:
    for name, crd in _crds():
        status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
        conditions = status["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map", name
        assert conditions["x-kubernetes-list-map-keys"] == ["type"], name
        assert set(conditions["items"]["required"]) >= {"type", "status", "reason"}, name


def test_pod_template_only_allows_restart_policy_never() -> None:
    crd = yaml.safe_load(GENERATED["scheduledjobs.jobwarden.dev.yaml"])
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    pod = spec["properties"]["template"]["properties"]["spec"]["properties"]
    assert pod["restartPolicy"]["enum"] == ["Never"]
    assert "ephemeralContainers" not in pod
    assert pod["containers"]["x-kubernetes-list-map-keys"] == ["name"]


def test_the_chart_ships_the_same_crds() -> None:
    """charts/jobwarden/files/crds/ is a copy of crds/ (`make crds` refreshes both)."""
    chart = crdgen.CRDS_DIR.parent / "charts" / "jobwarden" / "files" / "crds"
    ours = {p.name: p.read_text() for p in sorted(crdgen.CRDS_DIR.glob("*.yaml"))}
    shipped = {p.name: p.read_text() for p in sorted(chart.glob("*.yaml"))}
    assert shipped == ours, "the chart's CRDs differ from crds/: run `make crds` and commit"
