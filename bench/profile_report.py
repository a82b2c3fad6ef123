"""Summarise py-spy's collapsed stacks (`python -m bench --profile DIR` writes them):
`python -m bench.profile_report FILE [--top N] [--filter TEXT]` prints the functions with
the most samples, inclusive (on the stack) and self (at the top of the stack)."""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "lib/python3.11/", "operator/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def summarise(path: Path, top: int, contains: str = "") -> str:
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f]
        if contains and not any(contains in f for f in frames):
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            self_time[frames[-1]] += count
    out = [f"{path.name}: {total} samples" + (f" (stacks with {contains!r})" if contains else "")]
    for title, counter in (("inclusive", inclusive), ("self", self_time)):
        out.append(f"-- {title}")
        for frame, count in counter.most_common(top):
            out.append(f"{100 * count / max(total, 1):5.1f}%  {frame}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    for path in args.files:
        print(summarise(path, args.top, args.filter))


if __name__ == "__main__":
    main()
