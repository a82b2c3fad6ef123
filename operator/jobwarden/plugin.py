"""`kubectl jobwarden`: the kubectl plugin's entry point (the console script
`kubectl-jobwarden`; also `python -m jobwarden.plugin`).

It joins the two front ends, which do not know each other (import-linter's
independence contract): the command-line commands of `jobwarden.cli` and the web
dashboard of `jobwarden.dashboard`, added as the command `dashboard`. What they share
lives in `jobwarden.client`. Only argparse-level modules load before a command runs,
so `--help` stays instant.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jobwarden.cli import app
from jobwarden.dashboard import command as dashboard

DASHBOARD = app.Extension(
    name="dashboard",
    summary=dashboard.SUMMARY,
    examples=dashboard.EXAMPLES,
    description=dashboard.DESCRIPTION,
    add_arguments=dashboard.add_arguments,
    run=dashboard.cmd_dashboard,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `kubectl jobwarden` with `argv` (default: the process's); returns the
    exit status."""
    return app.main(sys.argv[1:] if argv is None else argv, extensions=(DASHBOARD,))


if __name__ == "__main__":
    raise SystemExit(main())
