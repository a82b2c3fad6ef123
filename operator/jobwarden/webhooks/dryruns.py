"""Worker pods the API server accepted a moment ago: a burst of runs with the same
pod is dry-run once, not once per run.

A dry run of the worker pod costs the API server ~4 ms of CPU per admission and the
webhook a round trip (docs/performance.md, item 23); 2,000 runs submitted together
from one template are 2,000 identical questions. Only acceptances are kept, and for
`ttl` seconds: a refused pod is asked again every time (a fix shows at once), and a
change of the namespace that would now refuse it (a PodSecurity label, a quota, a
policy) is seen within `ttl`; a start the API server refuses still fails its run
visibly (`core.refusals`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


def _masked(value: Any, own: dict[str, str]) -> Any:
    """`value` with every string exactly equal to a key of `own` replaced by its mark."""
    if isinstance(value, str):
        return own.get(value, value)
    if isinstance(value, dict):
        return {k: _masked(v, own) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, own) for v in value]
    return value


def pod_key(namespace: str, manifest: dict[str, Any], *, name: str, uid: str = "") -> str:
    """Two runs get one key when their worker pods differ only where the run's own name
    or uid is the whole value (its labels and environment variables): the same answer
    from the API server. What decides whether a name is valid where it is used is
    kept (its length, for label values; a dot, which a DNS label may not have); the
    pod's generated name is left out."""
    own = {value: f"\x00{what}\x00" for what, value in (("uid", uid), ("name", name)) if value}
    metadata = {k: v for k, v in (manifest.get("metadata") or {}).items() if k != "generateName"}
    shape = _masked({**manifest, "metadata": metadata}, own)
    text = json.dumps(
        [namespace, len(name), "." in name, shape], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()


class AcceptedPods:
    """Keys of pods accepted within the last `ttl` seconds (at most `size`, oldest out)."""

    def __init__(
        self, ttl: float, *, size: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._accepted: OrderedDict[str, float] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        at = self._accepted.get(key)
        if at is None:
            return False
        if self.clock() - at >= self.ttl:
            del self._accepted[key]
            return False
        return True

    def accepted(self, key: str) -> None:
        """Remember an acceptance from now (no-op when `ttl` is 0: caching is off)."""
        if self.ttl <= 0:
            return
        self._accepted.pop(key, None)
        self._accepted[key] = self.clock()
        while len(self._accepted) > self.size:
            self._accepted.popitem(last=False)
