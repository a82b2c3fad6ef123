"""The mutating webhook's answer as a JSON Patch built from its few stamps alone.

kopf turns a handler's merge patch into the JSON Patch an admission response needs by
deep-copying the whole object, applying the merge patch and diffing the two copies
(`jsonpatch.JsonPatch.from_diff`): half of the operator's time per webhook call in a
burst of cancels, for a patch of one or two annotations (docs/performance.md, item
24). `DirectPatch` walks the merge patch instead and compares only the values it
names; applied to the object, its operations give what kopf's would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf


def _pointer(path: str, key: str) -> str:
    """RFC 6901: `~` and `/` in a key are escaped (annotation keys have a `/`)."""
    return f"{path}/{key.replace('~', '~0').replace('/', '~1')}"


_GONE: Any = object()  # a key the patch leaves absent


def _has_leaf(patch: Mapping[str, Any]) -> bool:
    """Whether a merge patch sets or deletes anything (`{"a": {}}` does neither)."""
    return any(not isinstance(v, Mapping) or _has_leaf(v) for v in patch.values())


def _merged(current: Any, patch: Mapping[str, Any]) -> tuple[Any, bool]:
    """What kopf makes of the map `current` (None: absent) under a merge patch, and
    whether the patch deleted anything in it. As `kopf._cogs.structs.dicts`: missing
    maps are created only for a value set in them, and a map left empty by a
    deletion in it is removed (`_GONE`), as are its parents left empty in turn."""
    result = dict(current) if isinstance(current, Mapping) else {}
    deleted = False
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
            deleted = True
        elif isinstance(value, Mapping):
            if not _has_leaf(value):
                continue  # nothing set or deleted: not even a missing map is created
            inner, gone = _merged(result.get(key), value)
            deleted = deleted or gone
            if inner is _GONE or (not inner and key not in result):
                result.pop(key, None)
            else:
                result[key] = inner
        else:
            result[key] = value
    if deleted and not result:
        return _GONE, True
    return result, deleted


def _ops(
    before: Mapping[str, Any], after: Mapping[str, Any], patch: Mapping[str, Any], path: str
) -> list[Any]:
    """Operations from `before` to `after`, looking only where `patch` looks."""
    ops: list[Any] = []
    for key, value in patch.items():
        where = _pointer(path, key)
        old, new = before.get(key, _GONE), after.get(key, _GONE)
        if new is _GONE:
            if old is not _GONE:
                ops.append({"op": "remove", "path": where})
        elif old is _GONE:
            ops.append({"op": "add", "path": where, "value": new})
        elif isinstance(value, Mapping) and isinstance(old, Mapping) and isinstance(new, Mapping):
            ops += _ops(old, new, value, where)
        elif old != new:
            ops.append({"op": "replace", "path": where, "value": new})
    return ops


def merge_patch_ops(base: Mapping[str, Any], patch: Mapping[str, Any]) -> list[Any]:
    """JSON Patch operations that do to `base` what kopf does with the merge patch
    `patch` (RFC 7386, with kopf's removal of maps a deletion left empty), leaving
    out those that change nothing; nothing the patch does not name is copied."""
    after, _ = _merged(base, patch)
    return _ops(base, after if after is not _GONE else {}, patch, "")


class DirectPatch(kopf.Patch):
    """A kopf.Patch whose JSON Patch comes from `merge_patch_ops` (kopf's own way
    when it carries transformation functions, which need the whole object)."""

    def as_json_patch(self, body: Any = None) -> Any:
        """As kopf's: relative to `body`, or to the object the patch was made for."""
        if self.fns:
            return super().as_json_patch(body)
        base = body if body is not None else self._original
        if not self:
            return []
        if base is None:
            raise ValueError("Cannot build a JSON-patch without the original body as a reference.")
        return merge_patch_ops(base, dict(self))


def answer_directly(patch: kopf.Patch) -> None:
    """Make kopf answer this request's patch with `DirectPatch.as_json_patch` (the
    instance kopf gave the handler is the one it turns into the response)."""
    if type(patch) is kopf.Patch:
        patch.__class__ = DirectPatch
