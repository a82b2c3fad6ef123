"""`kubectl jobwarden dashboard`: start the web dashboard and open it.

The plugin's entry point (jobwarden.plugin) adds the sub-command from SUMMARY,
EXAMPLES, DESCRIPTION and `add_arguments`, and runs `cmd_dashboard` with its context
(kubeconfig identity and namespace); the dashboard knows nothing else of the plugin's
commands. `main` is the same as a stand-alone program: `python -m jobwarden.dashboard`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import webbrowser
from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from jobwarden.client.kube import Kube, KubeError
from jobwarden.client.kubeconfig import ConfigError

SUMMARY = "open the web dashboard: live runs, schedules, quotas, cancel from the browser"
EXAMPLES = """\
  kubectl jobwarden dashboard                  # the current namespace, opens the browser
  kubectl jobwarden dashboard -A               # every namespace you may list
  kubectl jobwarden dashboard --port 8765 --no-browser
"""
DESCRIPTION = """\
Start a web dashboard on 127.0.0.1 and open it in the browser: an overview of
workers against quotas, a live table of runs and exports with Cancel, scheduled
jobs with history (CSV) and Run now / Pause / Resume, and each run in detail.

It acts as your kubeconfig identity, like kubectl: RBAC and jobwarden's admission
webhook decide every click. The URL printed carries a secret; requests without it,
or from another web page, are refused. Stop it with Ctrl-C."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The dashboard's own options."""
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the URL, do not open a browser"
    )
    if not any("--all-namespaces" in a.option_strings for a in parser._actions):
        parser.add_argument(
            "-A",
            "--all-namespaces",
            action="store_true",
            help="watch every namespace you may list (default: the current namespace; "
            "others are watched when you pick them)",
        )


class Invocation(Protocol):
    """What the plugin hands a command: who (kubeconfig identity), where, and where
    to print."""

    @property
    def kube(self) -> Kube: ...

    @property
    def namespace(self) -> str: ...

    @property
    def all_namespaces(self) -> bool: ...

    @property
    def out(self) -> TextIO: ...

    @property
    def err(self) -> TextIO: ...


def cmd_dashboard(ctx: Invocation, args: argparse.Namespace) -> int:
    """The plugin's command: serve until interrupted."""
    return serve(
        ctx.kube,
        ctx.namespace,
        all_namespaces=ctx.all_namespaces,
        port=int(getattr(args, "port", 0) or 0),
        open_browser=not getattr(args, "no_browser", False),
        out=ctx.out,
        err=ctx.err,
    )


def serve(
    kube: Kube,
    namespace: str,
    *,
    all_namespaces: bool = False,
    port: int = 0,
    open_browser: bool = True,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Start the dashboard, print its URL, open it, and serve until Ctrl-C or
    SIGTERM."""
    from jobwarden.dashboard.server import Dashboard, DashboardServer  # noqa: PLC0415

    try:
        app = Dashboard(kube, namespace, all_namespaces=all_namespaces)
    except KubeError as error:
        err.write(f"error: {error.describe()}\n")
        return 1
    try:
        server = DashboardServer(app, port)
    except OSError as error:
        err.write(f"error: cannot listen on 127.0.0.1:{port}: {error}\n")
        return 1
    app.start()
    scope = "all namespaces" if all_namespaces else f'namespace "{namespace}"'
    out.write(
        f"jobwarden dashboard for {app.user or 'unknown user'} ({scope}) at {server.url}\n"
        "Press Ctrl-C to stop.\n"
    )
    out.flush()
    if open_browser:
        webbrowser.open(server.url)

    def stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        app.stopping.set()
        app.store.stop()
        server.server_close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m jobwarden.dashboard`: the command without the plugin."""
    parser = argparse.ArgumentParser(prog="jobwarden-dashboard", description=DESCRIPTION)
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    parser.add_argument("--context", help="kubeconfig context to use")
    parser.add_argument("--kubeconfig", help="path to the kubeconfig file")
    parser.add_argument("--request-timeout", type=float, default=30, metavar="SECONDS")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        kube = Kube(args.kubeconfig, args.context, timeout=args.request_timeout)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return serve(
        kube,
        args.namespace or kube.default_namespace,
        all_namespaces=args.all_namespaces,
        port=args.port,
        open_browser=not args.no_browser,
    )
