"""The base model and schema helpers every API model uses.

Models parse what the API server stored (`Spec.model_validate(body["spec"])`) and
serialise what the operator writes (`status.to_k8s()`); the CRD generator turns their
JSON schema into the CRDs, so field names, bounds and defaults live here only once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

#: Marks a field whose CRD schema is a vendored Kubernetes definition (see podschema).
K8S_SCHEMA: Final = "x-jobwarden-k8s-schema"
VALIDATIONS: Final = "x-kubernetes-validations"

JsonSchema = dict[str, Any]


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are ignored.

    Ignoring (not forbidding) unknown fields lets an older operator read objects
    written under a newer CRD; the API server already rejects unknown fields.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
    )

    def to_k8s(self) -> dict[str, Any]:
        """The JSON form the API server stores: camelCase keys, unset fields omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def cel(
    rule: str, message: str, *, reason: str | None = None, field_path: str | None = None
) -> JsonSchema:
    """One `x-kubernetes-validations` entry."""
    entry: JsonSchema = {"rule": rule, "message": message}
    if reason is not None:
        entry["reason"] = reason
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: JsonSchema) -> JsonSchema:
    """`json_schema_extra` carrying CEL rules for a field or a model."""
    return {VALIDATIONS: list(rules)}


def k8s_schema(name: str) -> JsonSchema:
    """`json_schema_extra` that swaps a field's schema for a vendored Kubernetes one."""
    return {K8S_SCHEMA: name}


def map_list(*keys: str) -> JsonSchema:
    """`json_schema_extra` for a list merged by key (server-side apply, conditions)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


def add_rules(schema: JsonSchema, rules: Iterable[JsonSchema]) -> None:
    """Append CEL rules to a (field or object) JSON schema in place."""
    existing: list[JsonSchema] = schema.setdefault(VALIDATIONS, [])
    existing.extend(rules)


def immutable_except(
    kind: str, *mutable: str, extra: Iterable[JsonSchema] = ()
) -> Callable[[JsonSchema], None]:
    """Model-level `json_schema_extra`: every spec field but `mutable` ones is frozen.

    Each field gets a transition rule `self == oldSelf` (cheap for the CEL cost
    estimator even on the pod template: object equality is estimated per object, not
    per nested byte). Transition rules only run when the field exists before and
    after, so fields without a default also get a rule on the parent comparing
    `has()` before and after: adding or removing them is an edit too.
    """

    def apply(schema: JsonSchema) -> None:
        properties: dict[str, JsonSchema] = schema.get("properties", {})
        required = set(schema.get("required", []))
        presence: list[JsonSchema] = []
        for name, prop in properties.items():
            if name in mutable:
                continue
            add_rules(
                prop,
                [
                    cel(
                        "self == oldSelf",
                        f"{name} is immutable: a {kind} cannot be edited once created "
                        f"(only cancel may change); create a new {kind} instead",
                    )
                ],
            )
            if name not in required and prop.get("default") is None:
                presence.append(
                    cel(
                        f"has(self.{name}) == has(oldSelf.{name})",
                        f"{name} cannot be added or removed: a {kind} is immutable once "
                        "created (only cancel may change)",
                        field_path=f".{name}",
                    )
                )
        add_rules(schema, [*presence, *extra])

    return apply


def with_rules(*rules: JsonSchema) -> Callable[[JsonSchema], None]:
    """Model-level `json_schema_extra` adding object-level CEL rules."""

    def apply(schema: JsonSchema) -> None:
        add_rules(schema, rules)

    return apply


def chain(*steps: Callable[[JsonSchema], None]) -> Callable[[JsonSchema], None]:
    """Combine several model-level schema hooks."""

    def apply(schema: JsonSchema) -> None:
        for step in steps:
            step(schema)

    return apply
