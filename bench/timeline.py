"""Where a run's time goes, from an audit log written with BENCH_AUDIT_ALL=1:
`python -m bench.timeline AUDIT_LOG NAMESPACE` prints, per step, the time since the
previous step (p50/p90/max over the namespace's runs), for JobRuns and their pods."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from bench.cluster import parse_time
from bench.stats import summary


def main() -> None:
    log, namespace = Path(sys.argv[1]), sys.argv[2]
    steps: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for line in log.open("rb"):
        event = json.loads(line)
        if event.get("stage") != "ResponseComplete":
            continue
        ref = event.get("objectRef") or {}
        if ref.get("namespace") != namespace:
            continue
        resource = ref.get("resource", "")
        name = str(ref.get("name") or "")
        if resource == "pods":
            run = name.rsplit("-", 1)[0] if name else ""
        elif resource == "jobruns":
            run = name
        else:
            continue
        user = (event.get("user") or {}).get("username", "")
        who = user.split(":")[-1]
        what = f"{event['verb']} {resource}" + (
            f"/{ref['subresource']}" if ref.get("subresource") else ""
        )
        if not run:  # a create: the name is in the response only at RequestResponse level
            continue
        steps[run].append((parse_time(event["stageTimestamp"]), f"{what} by {who}"))
    gaps: dict[str, list[float]] = defaultdict(list)
    order: dict[str, int] = {}
    for events in steps.values():
        events.sort()
        for index, ((t, what), (t_prev, _)) in enumerate(zip(events[1:], events[:-1], strict=True)):
            label = f"{index + 1:02d} {what}"
            gaps[label].append(t - t_prev)
            order.setdefault(label, index)
    for label in sorted(gaps, key=lambda k: (order[k], k)):
        s = summary(gaps[label])
        print(
            f"{label:60s} n={s['count']:5d} "
            f"p50={s['p50']:.3f} p90={s['p90']:.3f} max={s['max']:.3f}"
        )


if __name__ == "__main__":
    main()
