"""`kubectl jobwarden`: the kubectl plugin (installed as `kubectl-jobwarden`).

`main()` is the console entry point; commands import the API client only when they
run, so `kubectl jobwarden --help` is instant.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run `kubectl jobwarden` with `argv` (default: the process's); returns the
    exit status (the console script exits with it)."""
    from jobwarden.cli.app import main as run  # noqa: PLC0415

    return run(sys.argv[1:] if argv is None else argv)


__all__ = ["main"]
