"""`DirectPatch` answers a mutating webhook with operations that do what kopf's diff
of the whole object would: compared on a table of cases and on random ones."""

from __future__ import annotations

import copy
import random
from typing import Any, cast

import jsonpatch
import kopf
import pytest

from jobwarden.webhooks.directpatch import DirectPatch, answer_directly, merge_patch_ops

RUN: dict[str, Any] = {
    "apiVersion": "jobwarden.dev/v1alpha1",
    "kind": "JobRun",
    "metadata": {
        "name": "nightly-1",
        "annotations": {"jobwarden.dev/created-by": "alice", "a~b": "x"},
        "labels": {"team": "a"},
        "finalizers": ["jobwarden.dev/stop-before-delete"],
    },
    "spec": {
        "cancel": True,
        "template": {"spec": {"containers": [{"name": "main", "image": "w:1"}]}},
    },
}


def _kopf_ops(body: dict[str, Any], merge: dict[str, Any]) -> list[Any]:
    patch = kopf.Patch(copy.deepcopy(merge), body=kopf.Body(cast(kopf.RawBody, body)))
    return list(patch.as_json_patch())


def _applied(body: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    result: dict[str, Any] = jsonpatch.apply_patch(copy.deepcopy(body), ops)
    return result


CASES: dict[str, dict[str, Any]] = {
    "a new annotation": {"metadata": {"annotations": {"jobwarden.dev/cancel-requested-by": "bob"}}},
    "an annotation overwritten": {"metadata": {"annotations": {"jobwarden.dev/created-by": "eve"}}},
    "an annotation set to what it is": {
        "metadata": {"annotations": {"jobwarden.dev/created-by": "alice"}}
    },
    "an annotation removed": {"metadata": {"annotations": {"jobwarden.dev/created-by": None}}},
    "an absent annotation removed": {"metadata": {"annotations": {"nope": None}}},
    "a key with ~ and /": {"metadata": {"annotations": {"a~b": "y", "c/d~e": "z"}}},
    "labels where there were none": {"metadata": {"labels": {"team": None, "x/y": "1"}}},
    "a new map": {"status": {"phase": "Queued", "queue": {"position": 1, "gone": None}}},
    "a new map of deletions only": {"status": {"queue": {"gone": None}}},
    "a list replaced": {"metadata": {"finalizers": ["a", "jobwarden.dev/stop-before-delete"]}},
    "owner references added": {
        "metadata": {"ownerReferences": [{"kind": "ScheduledJob", "name": "n"}]}
    },
    "an empty map set through a scalar": {"spec": {"cancel": {}}},
    "nothing": {},
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_object_as_kopfs_own_diff(case: str) -> None:
    merge = CASES[case]
    ours = merge_patch_ops(RUN, merge)
    assert _applied(RUN, ours) == _applied(RUN, _kopf_ops(RUN, merge)), case


def test_no_operation_for_what_changes_nothing() -> None:
    merge = {"metadata": {"annotations": {"jobwarden.dev/created-by": "alice", "nope": None}}}
    assert merge_patch_ops(RUN, merge) == []


def test_a_slash_in_a_key_is_escaped_in_the_pointer() -> None:
    ops = merge_patch_ops(RUN, {"metadata": {"annotations": {"jobwarden.dev/by": "bob"}}})
    assert ops == [{"op": "add", "path": "/metadata/annotations/jobwarden.dev~1by", "value": "bob"}]


def _random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 2 or roll < 0.4:
        return rng.choice(["a", "b", 1, 2, True, None, ["x"], ["x", "y"]])
    return {rng.choice("pqrs"): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def test_random_merge_patches_give_the_same_object_as_kopfs_diff() -> None:
    rng = random.Random(24)
    for _ in range(2000):
        body = _random_value(rng, 0)
        merge = _random_value(rng, 0)
        if not isinstance(body, dict) or not isinstance(merge, dict):
            continue
        body = {"metadata": {"name": "x"}, **body}
        try:
            theirs = _applied(body, _kopf_ops(body, merge))
        except (TypeError, AttributeError, jsonpatch.JsonPatchException):
            continue  # a patch kopf cannot apply here (a map through a scalar)
        assert _applied(body, merge_patch_ops(body, merge)) == theirs, (body, merge)


def test_the_handlers_patch_is_answered_directly_and_keeps_its_changes() -> None:
    patch = kopf.Patch(body=kopf.Body(cast(kopf.RawBody, RUN)))
    patch.metadata.annotations["jobwarden.dev/cancel-requested-by"] = "bob"
    answer_directly(patch)
    assert isinstance(patch, DirectPatch)
    assert patch.as_json_patch() == [
        {
            "op": "add",
            "path": "/metadata/annotations/jobwarden.dev~1cancel-requested-by",
            "value": "bob",
        }
    ]


def test_transformation_functions_still_go_through_kopf() -> None:
    patch = kopf.Patch(
        body=kopf.Body(cast(kopf.RawBody, RUN)),
        fns=[lambda body: body["spec"].update(cancel=False)],
    )
    answer_directly(patch)
    assert patch.as_json_patch() == [{"op": "replace", "path": "/spec/cancel", "value": False}]
