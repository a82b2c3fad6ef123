"""`make down` leaves nothing of the real node behind — processes, mounts, cgroups,
sysctls, paths, the Node object — after a normal `make up`, after one killed while
starting, and after the node's kubelet and containerd were killed with pods running.

These tests take the machine's one real node for themselves: the session's node is
stopped first (the next test that asks for `real_node` starts it again)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from devcluster.binaries import REPO_ROOT, Binaries
from devcluster.image import ensure_image
from devcluster.realnode import (
    CGROUP_ROOT,
    MACHINE_STATE,
    NODE_NAME,
    OUTSIDE_PATHS,
    PLACEMENT,
    RUN_DIR,
    STATE_FILE,
    SYSCTLS,
    NodeLock,
    RealNode,
    mounts_under,
)
from jobwarden.api.paths import resource_path
from tests.support.cluster import TestCluster
from tests.support.realnode import RealNodeService
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster


@dataclass(frozen=True)
class MachineSnapshot:
    """What the real node may change on the machine."""

    sysctls: dict[str, str]
    paths: frozenset[str]
    kubepods: frozenset[str]
    processes: frozenset[int]

    @classmethod
    def take(cls) -> MachineSnapshot:
        return cls(
            sysctls={name: (Path("/proc/sys") / name).read_text().strip() for name in SYSCTLS},
            paths=frozenset(p for p in OUTSIDE_PATHS if os.path.lexists(p)),
            kubepods=frozenset(str(p) for p in CGROUP_ROOT.glob("*/kubepods*") if p.is_dir()),
            processes=frozenset(node_processes()),
        )


def node_processes() -> list[int]:
    """kubelet, containerd, shims and containers of a real node (by command line or by
    cgroup), whoever started them."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cgroups = (proc / "cgroup").read_text()
        except OSError:
            continue
        program = cmdline.split(" ", 1)[0]
        if (
            program.endswith(("/kubelet", "/containerd", "/containerd-shim-runc-v2"))
            or "kubepods" in cgroups
        ):
            found.append(int(proc.name))
    return found


@pytest.fixture
def machine_to_ourselves(
    cluster: TestCluster, real_node_service: RealNodeService
) -> MachineSnapshot:
    """Stop the session's real node (and check its own stop restored the machine and
    deleted its Node object); the snapshot of the machine without a node."""
    was_running = real_node_service.node is not None
    real_node_service.stop()
    if was_running and cluster.local is not None:
        assert not cluster.kube().exists(resource_path("v1", "nodes", None, NODE_NAME))
    snapshot = MachineSnapshot.take()
    assert not snapshot.processes, f"a real node runs on this machine: {snapshot.processes}"
    assert not snapshot.kubepods, snapshot.kubepods
    return snapshot


def devcluster(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devcluster", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO_ROOT,
    )


def kubectl(workdir: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(Binaries.locate().kubectl), f"--kubeconfig={workdir / 'kubeconfig'}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl {args}: {result.stderr}"
    return result.stdout


def assert_restored(before: MachineSnapshot, workdir: Path) -> None:
    after = MachineSnapshot.take()
    assert after.processes == frozenset(), f"left running: {after.processes}"
    assert after.kubepods == before.kubepods, after.kubepods
    assert after.sysctls == before.sysctls
    assert after.paths == before.paths, after.paths ^ before.paths
    assert mounts_under(workdir) == [] and mounts_under(RUN_DIR) == []
    assert not MACHINE_STATE.exists()


def a_running_pod(workdir: Path, image: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "busy", "namespace": "default"},
        "spec": {
            **PLACEMENT,
            "containers": [
                {
                    "name": "c",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", "import signal; signal.pause()"],
                }
            ],
            "terminationGracePeriodSeconds": 2,
        },
    }
    kubectl(workdir, "apply", "-f", "-", stdin=json.dumps(pod))
    wait_until(
        lambda: (
            '"phase":"Running"'
            in kubectl(workdir, "get", "pod", "busy", "-o", "json").replace(" ", "")
        ),
        timeout=60,
        message="the pod running on the real node",
    )


def test_make_down_restores_the_machine_after_up_and_after_a_crash(
    machine_to_ourselves: MachineSnapshot, tmp_path: Path
) -> None:
    before = machine_to_ourselves
    image = ensure_image()
    workdir = tmp_path / "dc"
    up = devcluster("up", "--dir", str(workdir), "--nodes", "1", "--no-operator")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        a_running_pod(workdir, image.ref)
        during = MachineSnapshot.take()
        # What down must undo is there: processes, cgroups, mounts, sysctls.
        assert during.processes and during.kubepods - before.kubepods
        assert mounts_under(workdir)
        assert (
            during.sysctls["vm/overcommit_memory"] == "1"
            or before.sysctls["vm/overcommit_memory"] == "1"
        )
        # The crash: kubelet and containerd killed; shims and containers run on.
        state = json.loads((workdir / "realnode" / STATE_FILE).read_text())
        for name in ("kubelet", "containerd"):
            os.kill(int(state["pids"][name][0]), signal.SIGKILL)
        wait_until(node_processes, timeout=5, message="orphaned shims and containers")
    finally:
        down = devcluster("down", "--dir", str(workdir))
    assert down.returncode == 0, down.stdout + down.stderr
    assert_restored(before, workdir)


def test_make_down_restores_the_machine_after_a_killed_up(
    machine_to_ourselves: MachineSnapshot, tmp_path: Path
) -> None:
    before = machine_to_ourselves
    ensure_image()  # built before: the kill below must land while the node starts
    workdir = tmp_path / "dc"
    process = subprocess.Popen(
        [sys.executable, "-m", "devcluster", "up", "--dir", str(workdir), "--no-operator"],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Killed once containerd runs, before the kubelet has registered the node.
        wait_until(
            lambda: "containerd" in _recorded(workdir / "realnode" / STATE_FILE),
            timeout=120,
            interval=0.05,
            message="the real node's containerd started by `up`",
        )
    finally:
        process.kill()
        process.wait(timeout=10)
    assert MACHINE_STATE.exists() and node_processes()
    down = devcluster("down", "--dir", str(workdir))
    assert down.returncode == 0, down.stdout + down.stderr
    assert_restored(before, workdir)
    assert not (workdir / "state.json").exists()  # the control plane is down too


def _recorded(path: Path) -> dict[str, object]:
    try:
        pids: dict[str, object] = json.loads(path.read_text()).get("pids", {})
    except (OSError, ValueError):
        return {}
    return pids


def test_a_second_real_node_waits_for_the_first_and_says_who_holds_it(
    machine_to_ourselves: MachineSnapshot, tmp_path: Path
) -> None:
    """One real node per machine: a second start waits on the lock, then fails with a
    message naming the holder (two test sessions never share or corrupt one node)."""
    holder = NodeLock()
    holder.acquire(5, owner="pid 1 (a test holding the lock)")
    try:
        second = NodeLock()
        started = time.monotonic()
        with pytest.raises(Exception) as refused:
            second.acquire(1.5, owner="second")
        assert time.monotonic() - started >= 1.5
        assert "in use by pid 1 (a test holding the lock)" in str(refused.value)
    finally:
        holder.release()
    free = NodeLock()
    free.acquire(1, owner="third")  # released: the next one gets it at once
    free.release()


def test_a_new_node_cleans_up_after_one_whose_owner_died(
    machine_to_ourselves: MachineSnapshot, tmp_path: Path
) -> None:
    """A test session killed with its node running (kubelet and containerd die with it,
    shims and containers do not, and the shims hold the lock they inherited): the next
    start cleans that node up instead of waiting for it."""
    before = machine_to_ourselves
    image = ensure_image()
    workdir = tmp_path / "dc"
    up = devcluster("up", "--dir", str(workdir), "--nodes", "1", "--no-operator")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        a_running_pod(workdir, image.ref)
        state = json.loads((workdir / "realnode" / STATE_FILE).read_text())
        for name in ("kubelet", "containerd"):
            os.kill(int(state["pids"][name][0]), signal.SIGKILL)
        orphans = node_processes()
        assert orphans
        server = yaml_server(workdir / "kubeconfig")
        node = RealNode(
            tmp_path / "next",
            server=server,
            pki_dir=workdir / "pki",
            admin_kubeconfig=workdir / "kubeconfig",
            kubectl=Binaries.locate().kubectl,
        )
        started = time.monotonic()
        node.start(lock_timeout=60)
        try:
            assert time.monotonic() - started < 60
            assert not set(orphans) & set(node_processes()), "the dead node's processes run on"
            assert json.loads(MACHINE_STATE.read_text())["workdir"] == str(tmp_path / "next")
        finally:
            node.stop()
    finally:
        down = devcluster("down", "--dir", str(workdir))
    assert down.returncode == 0, down.stdout + down.stderr
    assert_restored(before, workdir)


def yaml_server(kubeconfig: Path) -> str:
    """The API server URL of a kubeconfig written by devcluster."""
    document = yaml.safe_load(kubeconfig.read_text())
    return str(document["clusters"][0]["cluster"]["server"])
