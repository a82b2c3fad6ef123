"""Command line: `python -m devcluster up|down|status [--dir DIR]`.

`up` starts the local control plane in the background and returns; its processes
outlive this command until `down`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from devcluster.binaries import ClusterError
from devcluster.cluster import IDENTITIES, STATE_FILE, LocalCluster, stop_recorded
from devcluster.install import OperatorProcess, install
from devcluster.processnode import ProcessNodeProcess
from devcluster.progress import Progress, format_elapsed


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m devcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=Path(".devcluster"), help="working directory")
    parser.add_argument("--nodes", type=int, default=3, help="number of kwok nodes")
    parser.add_argument(
        "--no-operator",
        action="store_true",
        help="only the control plane: no CRDs, no jobwarden operator",
    )
    args = parser.parse_args(argv)
    workdir: Path = args.dir.resolve()

    if args.command == "down":
        if stop_recorded(workdir):
            print(f"devcluster: stopped the cluster in {workdir}")
        else:
            print(f"devcluster: no cluster recorded in {workdir}")
        return 0

    if args.command == "status":
        state_path = workdir / STATE_FILE
        if not state_path.exists():
            print(f"devcluster: no cluster recorded in {workdir}")
            return 1
        print(json.dumps(json.loads(state_path.read_text()), indent=2))
        return 0

    # Say what each wait is for: a start takes seconds, more on a busy machine.
    progress = Progress(sys.stdout)
    progress.say(f"starting the local control plane in {workdir}")
    cluster = LocalCluster(workdir, nodes=args.nodes, die_with_parent=False, progress=progress)
    try:
        cluster.start()
    except ClusterError as error:
        print(f"devcluster: the local cluster did not start: {error}", file=sys.stderr)
        return 1
    if not args.no_operator:
        try:
            with progress.step("applying jobwarden's CRDs (until served) and RBAC"):
                install(str(cluster.binaries.kubectl), cluster.kubeconfig())
            operator = OperatorProcess(
                cluster.kubeconfig("operator"),
                cluster.log_dir / "jobwarden-operator.log",
                die_with_parent=False,
            )
            with progress.step("starting the jobwarden operator (until it serves its webhooks)"):
                operator.start()
            operator.record_in(workdir)
        except ClusterError as error:
            print(f"devcluster: jobwarden did not start: {error}", file=sys.stderr)
            stop_recorded(workdir)
            return 1
        print(f"devcluster: jobwarden operator running (log: {operator.log_path})")
    process_node = ProcessNodeProcess(
        cluster.kubeconfig(),
        workdir / "processnode",
        cluster.log_dir / "process-node.log",
        die_with_parent=False,
    )
    try:
        with progress.step("starting the process node (until its Node is Ready)"):
            process_node.start()
        process_node.record_in(workdir)
    except ClusterError as error:
        print(f"devcluster: the process node did not start: {error}", file=sys.stderr)
        stop_recorded(workdir)
        return 1
    print(
        f"devcluster: process node {process_node.name} running pods as local processes "
        f"(files in {process_node.root}, log: {process_node.log_path})"
    )
    elapsed = format_elapsed(time.monotonic() - progress.started)
    print(f"devcluster: up in {elapsed} at {cluster.server} (logs in {cluster.log_dir})")
    for identity in IDENTITIES:
        print(f"  {identity:<9} {cluster.kubeconfig(identity)}")
    print(f"export KUBECONFIG={cluster.kubeconfig()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
