"""Command line: `python -m devcluster up|down|status|image [--dir DIR]`.

`up` starts the local control plane, the jobwarden operator and the real node (kubelet
+ containerd, with jobwarden's image imported) in the background and returns; its
processes outlive this command until `down`, which also restores what the real node
changed on the machine, even after an `up` that was killed. `image` builds jobwarden's
image from the Dockerfile (cached by content) and imports it into a running real node.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from devcluster.binaries import ClusterError
from devcluster.cluster import IDENTITIES, STATE_FILE, LocalCluster, stop_recorded
from devcluster.image import ensure_image
from devcluster.install import OperatorProcess, install
from devcluster.progress import Progress, format_elapsed
from devcluster.realnode import NODE_NAME, RealNode, cleanup_machine, stop_recorded_node


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m devcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "image"])
    parser.add_argument("--dir", type=Path, default=Path(".devcluster"), help="working directory")
    parser.add_argument("--nodes", type=int, default=3, help="number of kwok nodes")
    parser.add_argument(
        "--no-operator",
        action="store_true",
        help="only the control plane: no CRDs, no jobwarden operator",
    )
    parser.add_argument(
        "--no-real-node",
        action="store_true",
        help="no real node (kubelet + containerd): kwok's simulated nodes only",
    )
    args = parser.parse_args(argv)
    workdir: Path = args.dir.resolve()

    if args.command == "down":
        return down(workdir)
    if args.command == "status":
        state_path = workdir / STATE_FILE
        if not state_path.exists():
            print(f"devcluster: no cluster recorded in {workdir}")
            return 1
        print(json.dumps(json.loads(state_path.read_text()), indent=2))
        return 0
    if args.command == "image":
        return image(workdir)
    return up(workdir, args.nodes, operator=not args.no_operator, real_node=not args.no_real_node)


def down(workdir: Path) -> int:
    """Stop the real node (pods first, through the API), then the control plane."""
    node_stopped = stop_recorded_node(workdir / "realnode")
    cleaned = cleanup_machine()  # a node whose owner is gone (a killed session or `up`)
    if node_stopped or cleaned:
        print("devcluster: stopped the real node and restored the machine")
    if stop_recorded(workdir):
        print(f"devcluster: stopped the cluster in {workdir}")
    else:
        print(f"devcluster: no cluster recorded in {workdir}")
    return 0


def image(workdir: Path) -> int:
    """Build (or find) the image; import it into this directory's real node if up."""
    if os.geteuid() != 0:
        print(
            "devcluster: not building jobwarden's image: debootstrap and buildah's storage "
            "need root here (the real node, which runs it, needs root too)"
        )
        return 0
    try:
        built = ensure_image()
    except ClusterError as error:
        print(f"devcluster: the image could not be built: {error}", file=sys.stderr)
        return 1
    print(f"devcluster: image {built.ref} ({built.archive}, base {built.base})")
    node = RealNode.recorded(workdir / "realnode")
    if node is not None:
        node.import_image(built.archive)
        print(f"devcluster: imported into the real node {NODE_NAME}")
    return 0


def up(workdir: Path, nodes: int, *, operator: bool, real_node: bool) -> int:
    """Start everything in the background."""
    # Say what each wait is for: a start takes seconds, more on a busy machine.
    progress = Progress(sys.stdout)
    progress.say(f"starting the local control plane in {workdir}")
    cluster = LocalCluster(workdir, nodes=nodes, die_with_parent=False, progress=progress)
    try:
        cluster.start()
    except ClusterError as error:
        print(f"devcluster: the local cluster did not start: {error}", file=sys.stderr)
        return 1
    if operator:
        try:
            with progress.step("applying jobwarden's CRDs (until served) and RBAC"):
                install(str(cluster.binaries.kubectl), cluster.kubeconfig())
            process = OperatorProcess(
                cluster.kubeconfig("operator"),
                cluster.log_dir / "jobwarden-operator.log",
                die_with_parent=False,
            )
            with progress.step("starting the jobwarden operator (until it serves its webhooks)"):
                process.start()
            process.record_in(workdir)
        except ClusterError as error:
            print(f"devcluster: jobwarden did not start: {error}", file=sys.stderr)
            stop_recorded(workdir)
            return 1
        print(f"devcluster: jobwarden operator running (log: {process.log_path})")
    if real_node and os.geteuid() != 0:
        print(
            "devcluster: no real node: the kubelet needs root (cgroups, mounts, sysctls); "
            "pods run on kwok's simulated nodes only"
        )
        real_node = False
    if real_node:
        try:
            with progress.step("jobwarden's image (cached by content; first build: minutes)"):
                built = ensure_image()
            node = RealNode(
                workdir / "realnode",
                server=cluster.server,
                pki_dir=cluster.pki_dir,
                admin_kubeconfig=cluster.kubeconfig(),
                kubectl=cluster.binaries.kubectl,
                die_with_parent=False,
            )
            with progress.step(f"starting the real node {NODE_NAME} (until its Node is Ready)"):
                node.start()
            with progress.step("importing the image into the real node's containerd"):
                node.import_image(built.archive)
        except ClusterError as error:
            print(f"devcluster: the real node did not start: {error}", file=sys.stderr)
            down(workdir)
            return 1
        print(
            f"devcluster: real node {NODE_NAME} running containers (image {built.ref}; "
            f"logs in {node.log_dir})"
        )
    elapsed = format_elapsed(time.monotonic() - progress.started)
    print(f"devcluster: up in {elapsed} at {cluster.server} (logs in {cluster.log_dir})")
    for identity in IDENTITIES:
        print(f"  {identity:<9} {cluster.kubeconfig(identity)}")
    print(f"export KUBECONFIG={cluster.kubeconfig()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
