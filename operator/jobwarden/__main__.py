"""`python -m jobwarden`: run the operator (kopf) with jobwarden's handlers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

#: Client libraries kopf imports when they are installed (for its optional support of
#: their objects), which the operator never uses: `kubernetes` alone is ~33 MiB of RSS,
#: a sixth of the operator's memory budget. (The kubectl plugin does use it.)
UNUSED_BY_THE_OPERATOR = ("kubernetes", "kubernetes_asyncio", "pykube")


#: What a plugin-only install says when asked to run the operator.
OPERATOR_EXTRA_HINT = "the operator needs its extra: pip install 'jobwarden[operator]'"


def keep_out_unused_clients() -> None:
    """Make `import kubernetes` (and the like) fail in this process, before kopf loads."""
    for name in UNUSED_BY_THE_OPERATOR:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]  # import -> ImportError


def main(argv: list[str] | None = None) -> int:
    """Parse flags and run kopf until stopped."""
    parser = argparse.ArgumentParser(prog="jobwarden", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--standalone", action="store_true", help="no peering (one replica)")
    group.add_argument("--peering", default=None, help="kopf peering name (HA, one active)")
    parser.add_argument("--priority", type=int, default=0, help="peering priority")
    parser.add_argument("--liveness", default=None, help="e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # One line per event and per webhook call drowns what matters (and costs CPU).
        for chatty in ("kopf.objects", "aiohttp.access"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    # Imported here so `--help` works without loading kopf and the handlers.
    keep_out_unused_clients()
    try:
        import kopf  # noqa: PLC0415

        import jobwarden.controller  # noqa: F401, PLC0415  (registers the handlers)
    except ModuleNotFoundError as error:
        if error.name in UNUSED_BY_THE_OPERATOR:
            raise
        # `pip install jobwarden` is the kubectl plugin; the operator is an extra.
        parser.exit(2, f"jobwarden: {error}: {OPERATOR_EXTRA_HINT}\n")

    asyncio.run(_operate(kopf, args))
    return 0


async def _operate(kopf: Any, args: argparse.Namespace) -> None:
    """Run kopf with a stop flag of our own, in the memo: on SIGTERM the controller
    steps down from leading first and only then sets it (`controller.on_signal`)."""
    stop = asyncio.Event()
    await kopf.operator(
        clusterwide=True,
        standalone=args.standalone or args.peering is None,
        peering_name=args.peering,
        priority=args.priority,
        liveness_endpoint=args.liveness,
        stop_flag=stop,
        memo=kopf.Memo(stop_flag=stop),
    )


if __name__ == "__main__":
    sys.exit(main())
