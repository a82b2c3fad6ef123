"""The real node: a kubelet and containerd (with Debian's runc) joined to the local
control plane, running real containers from images imported without a registry.

- Node `localhost` (so the API server reaches the kubelet for `kubectl logs/exec`
  through /etc/hosts, never a DNS server), labelled and tainted
  `jobwarden.dev/node-kind=real`: only pods that select it and tolerate the taint land
  here; kwok's simulated nodes stay the default.
- No pod network: containerd's CNI config has only the `loopback` plugin. A
  MutatingAdmissionPolicy of the local cluster (`admission_policy()`, never part of the
  chart) turns every pod that selects this node into a host-network pod that reaches
  the API server at 127.0.0.1 (KUBERNETES_SERVICE_HOST/PORT) and drops its
  containerPorts (host ports would keep two replicas of one Deployment off the one node;
  processes that share a port listen with SO_REUSEPORT).
- Everything it writes lives in its work directory, except what the kubelet insists on:
  `/var/lib/kubelet/device-plugins`, `/var/log/containers`, cgroups under
  `/sys/fs/cgroup/*/kubepods` and three sysctls (`vm.overcommit_memory`, `kernel.panic`,
  `kernel.panic_on_oops`). A machine-wide record (`MACHINE_STATE`) lists them with their
  values before the start, so `stop` restores them, also after a start whose owner was
  killed (the next start, or `python -m devcluster down`, cleans up first).
- One real node per machine: starting takes a machine-wide lock (`LOCK_FILE`), waits for
  it up to a deadline with a message naming the holder, and hands it to the kubelet and
  containerd processes, so the lock is held exactly as long as the node runs.

Stopping follows the order that leaves nothing behind: delete the node's pods through
the API (that is what sends SIGTERM), stop the kubelet, remove runc's containers and
the shims, stop containerd, unmount, remove the cgroups, restore the sysctls, delete
the Node object.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import io
import json
import os
import shutil
import signal
import ssl
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from devcluster.binaries import DEVCLUSTER_DIR, ClusterError, cache_dir, pinned_versions
from devcluster.kubeconfig import write_cert_kubeconfig
from devcluster.pki import CertificateAuthority
from devcluster.process import Component, free_port, log_tail, stop_pids, wait_for

NODE_NAME: Final = "localhost"
NODE_LABEL: Final = "jobwarden.dev/node-kind"
NODE_KIND: Final = "real"
TAINT: Final[dict[str, str]] = {"key": NODE_LABEL, "value": NODE_KIND, "effect": "NoSchedule"}
#: What a pod needs to run on the real node: select it and tolerate its taint.
PLACEMENT: Final[dict[str, Any]] = {
    "nodeSelector": {NODE_LABEL: NODE_KIND},
    "tolerations": [
        {"key": NODE_LABEL, "operator": "Equal", "value": NODE_KIND, "effect": "NoSchedule"}
    ],
}
PAUSE_IMAGE: Final = "localhost/devcluster-pause"
POLICY_NAME: Final = "devcluster-real-node-host-network"
#: The machine-wide lock and record of the one real node (cgroups, sysctls and the
#: kubelet's device-plugin directory are machine-wide).
LOCK_FILE: Final = Path("/run/lock/jobwarden-real-node.lock")
MACHINE_STATE: Final = Path("/run/jobwarden-real-node.json")
#: containerd's sockets and its shims' (a unix socket path must stay under 108 bytes).
RUN_DIR: Final = Path("/run/jobwarden-real-node")
STATE_FILE: Final = "realnode.json"
SYSCTLS: Final = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
#: Paths outside the work directory the kubelet or containerd create.
OUTSIDE_PATHS: Final = (
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/run/containerd",
    "/etc/cni",
    "/opt/cni",
    "/opt/containerd",
    str(RUN_DIR),
)
CGROUP_ROOT: Final = Path("/sys/fs/cgroup")
DEFAULT_LOCK_WAIT: Final = 900.0
_MNT_DETACH = 2


@dataclass(frozen=True)
class NodeBinaries:
    """The real node's programs (built by build.sh, runc from Debian)."""

    kubelet: Path
    containerd: Path
    shim: Path
    ctr: Path
    pause: Path
    runc: Path

    @classmethod
    def locate(cls) -> NodeBinaries:
        """Find them, or say how to build or install what is missing."""
        versions = pinned_versions()
        bin_dir = cache_dir() / "bin"
        containerd = bin_dir / f"containerd-{versions['CONTAINERD_VERSION']}"
        pause_source = DEVCLUSTER_DIR / "gomod" / "pause"
        pause_hash = hashlib.sha256(
            (pause_source / "main.go").read_bytes() + (pause_source / "go.mod").read_bytes()
        ).hexdigest()[:8]
        found = cls(
            kubelet=bin_dir / f"kubelet-{versions['KUBERNETES_VERSION']}" / "kubelet",
            containerd=containerd / "containerd",
            shim=containerd / "containerd-shim-runc-v2",
            ctr=containerd / "ctr",
            pause=bin_dir / f"pause-{pause_hash}" / "pause",
            runc=Path(shutil.which("runc") or "/usr/sbin/runc"),
        )
        missing = [
            str(path)
            for path in (found.kubelet, found.containerd, found.shim, found.ctr, found.pause)
            if not os.access(path, os.X_OK)
        ]
        if missing:
            raise ClusterError(
                "the real node's binaries are missing: "
                + ", ".join(missing)
                + f"; build them with `bash {DEVCLUSTER_DIR / 'build.sh'}` (make cluster-binaries)"
            )
        if not os.access(found.runc, os.X_OK):
            raise ClusterError("runc is missing: install it with `make system-deps`")
        if not Path("/usr/lib/cni/loopback").exists():
            raise ClusterError(
                "the CNI loopback plugin is missing (/usr/lib/cni/loopback): install "
                "containernetworking-plugins with `make system-deps`"
            )
        return found


# ------------------------------------------------------------------ the lock
class NodeLock:
    """The machine-wide lock of the one real node (an flock on LOCK_FILE)."""

    def __init__(self, path: Path = LOCK_FILE) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(
        self, timeout: float, owner: str, on_wait: Callable[[], object] | None = None
    ) -> None:
        """Wait up to `timeout` s; raise naming the holder when it is not freed.

        `on_wait` runs now and then while waiting: the start cleans up a node whose
        owner died (its orphaned shims inherited the lock and would hold it forever)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read_text(self.path).strip() or "another process"
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise ClusterError(
                        f"the real node of this machine is in use by {holder} and was not "
                        f"freed within {timeout:.0f} s (one real node per machine: it changes "
                        "machine-wide cgroups and sysctls). Wait for that test session or "
                        "`make down` there, or raise JOBWARDEN_REAL_NODE_WAIT"
                    ) from None
                if not said:
                    print(f"devcluster: waiting for the real node held by {holder}", flush=True)
                    said = True
                if on_wait is not None:
                    on_wait()
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, owner.encode(), 0)
        self.fd = fd

    def release(self) -> None:
        """Close our descriptor (children that inherited it keep the lock until exit)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


# ------------------------------------------------------------------ images
def write_single_binary_image(binary: Path, ref: str, archive: Path) -> None:
    """A docker-archive of a one-layer image holding `binary` as /pause (its entrypoint):
    the sandbox image, written directly (no builder needed)."""
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w") as layer:
        info = tarfile.TarInfo("pause")
        data = binary.read_bytes()
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        layer.addfile(info, io.BytesIO(data))
    layer_bytes = layer_buffer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "devcluster: the real node's sandbox program"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": ["layer.tar"]}]
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, mode="w") as out:
        for name, payload in (
            ("layer.tar", layer_bytes),
            (config_name, config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(payload), 0
            out.addfile(info, io.BytesIO(payload))


# ------------------------------------------------------------------ admission policy
def policy_documents(api_port: int) -> list[dict[str, Any]]:
    """The local cluster's MutatingAdmissionPolicy (and its binding): a pod that selects
    the real node becomes a host-network pod (there is no pod network), its containers
    reach the API server at 127.0.0.1:`api_port` (the Service's ClusterIP routes nowhere
    here: no kube-proxy), and lose their containerPorts (as host ports they would keep
    two replicas of a Deployment off the one node)."""
    selects_real = (
        f"has(object.spec.nodeSelector) && '{NODE_LABEL}' in object.spec.nodeSelector"
        f" && object.spec.nodeSelector['{NODE_LABEL}'] == '{NODE_KIND}'"
    )
    env = (
        "[{'name': 'KUBERNETES_SERVICE_HOST', 'value': '127.0.0.1'},"
        f" {{'name': 'KUBERNETES_SERVICE_PORT', 'value': '{api_port}'}}]"
    )
    # One JSONPatch list: host network, then per container (and init container) the
    # API server's address in env and no containerPorts. CEL has no index-aware map, so
    # indexes come from a fixed range cut to the list's size.
    indexes = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]"

    def per_container(field: str) -> str:
        items = f"object.spec.{field}"
        present = f"(has({items}) ? {items} : [])"
        return (
            f"{indexes}.filter(i, i < size({present})).map(i, "
            f"has({items}[i].env) && size({items}[i].env) > 0 ? "
            f"[JSONPatch{{op: 'add', path: '/spec/{field}/' + string(i) + '/env/-', "
            f"value: {env}[0]}}, JSONPatch{{op: 'add', path: '/spec/{field}/' + string(i) "
            f"+ '/env/-', value: {env}[1]}}] : "
            f"[JSONPatch{{op: 'add', path: '/spec/{field}/' + string(i) + '/env', "
            f"value: {env}}}]).flatten()"
            f" + {indexes}.filter(i, i < size({present}) && has({items}[i].ports))"
            f".map(i, JSONPatch{{op: 'remove', path: '/spec/{field}/' + string(i) + '/ports'}})"
        )

    patch = (
        "[JSONPatch{op: 'add', path: '/spec/hostNetwork', value: true}] + "
        + per_container("containers")
        + " + "
        + per_container("initContainers")
    )
    api = "admissionregistration.k8s.io/v1beta1"
    return [
        {
            "apiVersion": api,
            "kind": "MutatingAdmissionPolicy",
            "metadata": {"name": POLICY_NAME},
            "spec": {
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE"],
                            "resources": ["pods"],
                        }
                    ]
                },
                "matchConditions": [
                    {"name": "selects-the-real-node", "expression": selects_real},
                    {
                        "name": "not-host-network-yet",
                        "expression": "!has(object.spec.hostNetwork) || !object.spec.hostNetwork",
                    },
                ],
                "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": patch}}],
            },
        },
        {
            "apiVersion": api,
            "kind": "MutatingAdmissionPolicyBinding",
            "metadata": {"name": POLICY_NAME},
            "spec": {"policyName": POLICY_NAME},
        },
    ]


# ------------------------------------------------------------------ the node
class RealNode:
    """One kubelet + containerd living in `workdir`, joined to a local cluster whose
    PKI is in `pki_dir` and whose API server is `server`."""

    def __init__(
        self,
        workdir: Path,
        *,
        server: str,
        pki_dir: Path,
        admin_kubeconfig: Path,
        kubectl: Path,
        die_with_parent: bool = True,
        binaries: NodeBinaries | None = None,
    ) -> None:
        self.workdir = workdir.resolve()
        self.server = server
        self.pki_dir = pki_dir
        self.admin_kubeconfig = admin_kubeconfig
        self.kubectl = kubectl
        self.die_with_parent = die_with_parent
        self._binaries = binaries
        self.log_dir = self.workdir / "logs"
        self.containerd_dir = self.workdir / "containerd"
        self.socket = RUN_DIR / "containerd.sock"
        self.kubelet_dir = self.workdir / "kubelet"
        self.pod_logs_dir = self.workdir / "pod-logs"
        self.components: list[Component] = []
        self.lock = NodeLock()
        self.kubelet_port = 0

    @property
    def binaries(self) -> NodeBinaries:
        """The node's programs (located on first use: `down` needs none of them)."""
        if self._binaries is None:
            self._binaries = NodeBinaries.locate()
        return self._binaries

    @classmethod
    def recorded(cls, workdir: Path) -> RealNode | None:
        """The node whose state `workdir` holds (started by another process), or None."""
        try:
            state = json.loads((workdir / STATE_FILE).read_text())
            return cls(
                workdir,
                server=state["server"],
                pki_dir=Path(state["pki_dir"]),
                admin_kubeconfig=Path(state["admin_kubeconfig"]),
                kubectl=Path(state["kubectl"]),
                die_with_parent=False,
            )
        except (OSError, ValueError, KeyError):
            return None

    @property
    def runc_root(self) -> Path:
        """runc's state directory of the pods' containers (namespace k8s.io)."""
        return self.containerd_dir / "runc"

    # ------------------------------------------------------------- lifecycle
    def start(self, *, lock_timeout: float | None = None, timeout: float = 90) -> None:
        """Take the machine's real-node lock, clean up leftovers, start containerd and
        the kubelet, and wait until the Node is Ready. On failure everything is undone."""
        if lock_timeout is None:
            lock_timeout = float(os.environ.get("JOBWARDEN_REAL_NODE_WAIT", DEFAULT_LOCK_WAIT))
        self.lock.acquire(
            lock_timeout, owner=f"pid {os.getpid()} ({self.workdir})", on_wait=cleanup_machine
        )
        try:
            cleanup_machine()  # what a node whose owner died left behind
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        if self.workdir.exists():
            _unmount_under(self.workdir)
            shutil.rmtree(self.workdir, ignore_errors=True)
        for directory in (self.workdir, self.log_dir, self.containerd_dir, self.kubelet_dir):
            directory.mkdir(parents=True, exist_ok=True)
        _write_machine_state(self.workdir, self.socket)
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        self._write_state()
        kubelet_kubeconfig, config_path = self._write_kubelet_files()
        containerd_config = self._write_containerd_config()

        containerd = self._component(
            "containerd",
            self.binaries.containerd,
            [f"--config={containerd_config}", "--log-level=warn"],
            env={"PATH": f"{self.binaries.shim.parent}:{os.environ.get('PATH', '')}"},
        )
        wait_for(
            "containerd's socket",
            lambda: self._ctr("version", timeout=5).returncode == 0,
            self.components,
            30,
            blame=containerd,
        )
        pause_archive = self.workdir / "pause.tar"
        write_single_binary_image(self.binaries.pause, self.pause_ref, pause_archive)
        self.import_image(pause_archive)

        self._delete_node_object()
        kubelet = self._component(
            "kubelet",
            self.binaries.kubelet,
            [
                f"--config={config_path}",
                f"--kubeconfig={kubelet_kubeconfig}",
                f"--root-dir={self.kubelet_dir}",
                f"--cert-dir={self.workdir / 'kubelet-pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-labels={NODE_LABEL}={NODE_KIND}",
                "--v=1",
            ],
        )
        wait_for(
            f"Node {NODE_NAME} Ready",
            self._node_ready,
            self.components,
            timeout,
            blame=kubelet,
        )
        self.install_policy()

    @property
    def pause_ref(self) -> str:
        """The sandbox image's reference (keyed by the program's content)."""
        return f"{PAUSE_IMAGE}:{self.binaries.pause.parent.name.removeprefix('pause-')}"

    def stop(self) -> None:
        """Stop the node and undo what it changed on the machine (see module doc)."""
        self._delete_pods()
        stop_node_processes(self.workdir)
        for component in self.components:
            if component.process is not None and component.process.poll() is None:
                component.process.kill()
                component.process.wait(timeout=10)
        self.components.clear()
        cleanup_machine(workdir=self.workdir)
        self._delete_node_object()
        self.lock.release()

    # ------------------------------------------------------------- images and pods
    def import_image(self, archive: Path) -> None:
        """`ctr -n k8s.io images import`: what the kubelet then finds without a pull."""
        result = self._ctr("-n", "k8s.io", "images", "import", "--no-unpack", str(archive))
        if result.returncode != 0:
            raise ClusterError(f"ctr images import {archive} failed:\n{result.stderr}")

    def images(self) -> list[str]:
        """References of the images containerd holds for the kubelet."""
        result = self._ctr("-n", "k8s.io", "images", "list", "-q")
        return [line for line in result.stdout.splitlines() if line]

    def install_policy(self) -> None:
        """Apply the host-network admission policy (idempotent)."""
        port = int(self.server.rsplit(":", 1)[1])
        manifest = yaml.safe_dump_all(policy_documents(port))
        result = subprocess.run(
            [
                str(self.kubectl),
                f"--kubeconfig={self.admin_kubeconfig}",
                "apply",
                "--server-side",
                "--force-conflicts",
                "-f",
                "-",
            ],
            input=manifest,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(
                f"installing the real node's admission policy failed:\n{result.stderr}"
            )

    # ------------------------------------------------------------- helpers
    def _component(
        self, name: str, binary: Path, args: list[str], env: dict[str, str] | None = None
    ) -> Component:
        component = Component(
            name=name,
            argv=[str(binary), *args],
            log_path=self.log_dir / f"{name}.log",
            env=env or {},
        )
        assert self.lock.fd is not None
        component.start(die_with_parent=self.die_with_parent, pass_fds=(self.lock.fd,))
        self.components.append(component)
        self._write_state()
        return component

    def _write_state(self) -> None:
        """What `down` from another process needs: the API server and our processes."""
        state = {
            "server": self.server,
            "pki_dir": str(self.pki_dir),
            "admin_kubeconfig": str(self.admin_kubeconfig),
            "kubectl": str(self.kubectl),
            "pids": {c.name: [c.pid, str(c.argv[0])] for c in self.components},
        }
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2))

    def _ctr(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binaries.ctr), f"--address={self.socket}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _write_kubelet_files(self) -> tuple[Path, Path]:
        ca = CertificateAuthority.load(self.pki_dir)
        pki = self.workdir / "kubelet-pki"
        pki.mkdir(exist_ok=True)
        ca.directory = pki  # the node's certificates go beside it, not into the cluster's
        client = ca.issue("kubelet-client", f"system:node:{NODE_NAME}", ("system:nodes",))
        serving = ca.issue(
            "kubelet-serving",
            f"system:node:{NODE_NAME}",
            server_ips=("127.0.0.1",),
            server_dns=(NODE_NAME,),
        )
        kubeconfig = self.workdir / "kubelet.kubeconfig"
        write_cert_kubeconfig(
            kubeconfig, server=self.server, ca_file=ca.pair.cert, pair=client, user=NODE_NAME
        )
        self.kubelet_port = free_port()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "127.0.0.1",
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "tlsCertFile": str(serving.cert),
            "tlsPrivateKeyFile": str(serving.key),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(ca.pair.cert)},
            },
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "failSwapOn": False,
            "makeIPTablesUtilChains": False,
            "protectKernelDefaults": False,
            "registerWithTaints": [TAINT],
            "podLogsDir": str(self.pod_logs_dir),
            "volumePluginDir": str(self.workdir / "volume-plugins"),
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
            },
            "serializeImagePulls": False,
            "maxPods": 60,
            "resolvConf": "/etc/resolv.conf",
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            "shutdownGracePeriod": "0s",
            "nodeStatusUpdateFrequency": "5s",
            "syncFrequency": "10s",
            "fileCheckFrequency": "20s",
            "containerLogMaxSize": "10Mi",
            "logging": {"format": "text"},
        }
        config_path = self.workdir / "kubelet-config.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        return kubeconfig, config_path

    def _write_containerd_config(self) -> Path:
        cni_conf = self.workdir / "cni"
        cni_conf.mkdir(exist_ok=True)
        (cni_conf / "10-loopback.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "devcluster-loopback",
                    "plugins": [{"type": "loopback"}],
                }
            )
        )
        root, state = self.containerd_dir / "root", self.containerd_dir / "state"
        text = f"""version = 3
root = '{root}'
state = '{state}'
disabled_plugins = ['io.containerd.nri.v1.nri', 'io.containerd.snapshotter.v1.blockfile',
                    'io.containerd.snapshotter.v1.erofs', 'io.containerd.snapshotter.v1.zfs',
                    'io.containerd.differ.v1.erofs', 'io.containerd.mount-handler.v1.erofs']

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{self.pause_ref}'

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  disable_apparmor = true
  # Root here lacks CAP_SYS_RESOURCE: runc cannot set a negative oom_score_adj.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '{self.binaries.runc}'
        Root = '{self.runc_root}'
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = '{cni_conf}'
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'

[plugins.'io.containerd.internal.v1.opt']
  path = '{self.containerd_dir / "opt"}'

[plugins.'io.containerd.shim.v1.manager']
  socket_dir = '{RUN_DIR / "s"}'

[grpc]
  address = '{self.socket}'

[ttrpc]
  address = '{self.socket}.ttrpc'
"""
        path = self.containerd_dir / "config.toml"
        path.write_text(text)
        return path

    def _api(self, method: str, path: str) -> Any:
        context = ssl.create_default_context(cafile=str(self.pki_dir / "ca.crt"))
        context.load_cert_chain(self.pki_dir / "user-admin.crt", self.pki_dir / "user-admin.key")
        request = urllib.request.Request(self.server + path, method=method)
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def _node_ready(self) -> bool:
        node = self._api("GET", f"/api/v1/nodes/{NODE_NAME}")
        for condition in node.get("status", {}).get("conditions", []) or []:
            if condition.get("type") == "Ready":
                return bool(condition.get("status") == "True")
        return False

    def _delete_node_object(self) -> None:
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            self._api("DELETE", f"/api/v1/nodes/{NODE_NAME}")

    def _delete_pods(self, timeout: float = 45) -> None:
        """Delete the node's pods through the API: the kubelet sends SIGTERM and waits
        their grace periods; what is left at the deadline is force-deleted."""
        selector = f"fieldSelector=spec.nodeName%3D{NODE_NAME}"
        try:
            pods = self._api("GET", f"/api/v1/pods?{selector}").get("items", [])
        except (urllib.error.URLError, OSError, ValueError):
            return
        for pod in pods:
            meta = pod["metadata"]
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
                self._api("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}")
        kubelet_alive = _recorded_alive(self.workdir, "kubelet")
        deadline = time.monotonic() + (timeout if kubelet_alive else 0)
        while time.monotonic() < deadline:
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
                if not self._api("GET", f"/api/v1/pods?{selector}").get("items"):
                    return
            time.sleep(0.3)
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            for pod in self._api("GET", f"/api/v1/pods?{selector}").get("items", []):
                meta = pod["metadata"]
                self._api(
                    "DELETE",
                    f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
                    "?gracePeriodSeconds=0",
                )

    def log_tail(self, name: str = "kubelet", lines: int = 40) -> str:
        """The end of the kubelet's (or containerd's) log, for failure messages."""
        return log_tail(self.log_dir / f"{name}.log", lines)


# ------------------------------------------------------------------ machine state
def _write_machine_state(workdir: Path, socket: Path) -> None:
    """Record what the machine looked like before the node changed it."""
    state = {
        "workdir": str(workdir),
        "socket": str(socket),
        "owner": os.getpid(),
        "sysctls": {name: _read_text(Path("/proc/sys") / name).strip() for name in SYSCTLS},
        "absent_paths": [p for p in OUTSIDE_PATHS if not os.path.lexists(p)],
        "absent_device_plugins": not os.path.lexists("/var/lib/kubelet/device-plugins"),
        "cgroups_before": sorted(str(p) for p in _kubepods_cgroups()),
    }
    MACHINE_STATE.write_text(json.dumps(state, indent=2))


def _kubepods_cgroups() -> list[Path]:
    found: list[Path] = []
    for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else []:
        for candidate in (hierarchy / "kubepods", hierarchy / "kubepods.slice"):
            if candidate.is_dir():
                found.append(candidate)
    return found


def stop_node_processes(workdir: Path) -> None:
    """Stop the kubelet, then the pods' containers and shims, then containerd."""
    state_path = workdir / STATE_FILE
    pids: dict[str, tuple[int, str]] = {}
    if state_path.exists():
        with contextlib.suppress(ValueError, OSError):
            recorded = json.loads(state_path.read_text()).get("pids", {})
            pids = {name: (int(v[0]), str(v[1])) for name, v in recorded.items()}
    if "kubelet" in pids:
        stop_pids({"kubelet": pids["kubelet"]})
    runc_root = workdir / "containerd" / "runc"
    _remove_containers(runc_root)
    _kill_shims(RUN_DIR / "containerd.sock")
    stop_pids({name: entry for name, entry in pids.items() if name != "kubelet"})
    _kill_shims(RUN_DIR / "containerd.sock")


def _remove_containers(runc_root: Path) -> None:
    """`runc delete --force` every container under runc's roots (all namespaces)."""
    runc = shutil.which("runc") or "/usr/sbin/runc"
    if not runc_root.is_dir() or not os.access(runc, os.X_OK):
        return
    for root in [p for p in runc_root.iterdir() if p.is_dir()]:
        listed = subprocess.run(
            [runc, f"--root={root}", "list", "-q"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        for container in listed.stdout.split():
            subprocess.run(
                [runc, f"--root={root}", "delete", "--force", container],
                capture_output=True,
                timeout=30,
                check=False,
            )


def _kill_shims(socket: Path) -> None:
    """SIGKILL the containerd shims serving `socket` (they outlive containerd)."""
    marker = str(socket)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "containerd-shim" in cmdline and marker in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(proc.name), signal.SIGKILL)


def _mounts() -> list[str]:
    points = []
    for line in _read_text(Path("/proc/self/mountinfo")).splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.append(fields[4].replace("\\040", " "))
    return points


def _unmount_under(directory: Path) -> None:
    """Unmount everything mounted at or under `directory`, deepest first."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    prefix = str(directory)
    for _attempt in range(3):
        points = [p for p in _mounts() if p == prefix or p.startswith(prefix + "/")]
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            libc.umount2(point.encode(), _MNT_DETACH)


def mounts_under(directory: Path) -> list[str]:
    """What is still mounted at or under `directory` (tests: nothing after a stop)."""
    prefix = str(directory.resolve())
    return [p for p in _mounts() if p == prefix or p.startswith(prefix + "/")]


def _remove_cgroups(keep: set[str]) -> None:
    """rmdir the kubepods cgroup trees the node made (deepest first, every hierarchy)."""
    for top in _kubepods_cgroups():
        if str(top) in keep:
            continue
        for _attempt in range(20):
            directories = sorted(
                (p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
            )
            for directory in [*directories, top]:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            if not top.exists():
                break
            time.sleep(0.1)


def cleanup_machine(*, workdir: Path | None = None) -> bool:
    """Undo what a real node left on the machine (recorded in MACHINE_STATE): its
    processes, mounts, cgroups, sysctls and paths; True if it cleaned up.

    With `workdir`: only the node of that directory (whoever started it). Without: only
    a node whose owner process is gone (a killed test session or `up`)."""
    if not MACHINE_STATE.exists():
        return False
    try:
        state = json.loads(MACHINE_STATE.read_text())
    except (OSError, ValueError):
        MACHINE_STATE.unlink(missing_ok=True)
        return False
    recorded = Path(state.get("workdir", ""))
    if workdir is not None:
        if recorded != workdir.resolve():
            return False
    elif _owner_alive(state):
        return False
    stop_node_processes(recorded)
    _unmount_under(recorded)
    _remove_cgroups(set(state.get("cgroups_before", [])))
    for name, value in state.get("sysctls", {}).items():
        if value:
            with contextlib.suppress(OSError):
                (Path("/proc/sys") / name).write_text(value)
    for path in state.get("absent_paths", []):
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
        else:
            shutil.rmtree(path, ignore_errors=True)
    if state.get("absent_device_plugins") and "/var/lib/kubelet" not in state.get(
        "absent_paths", []
    ):
        shutil.rmtree("/var/lib/kubelet/device-plugins", ignore_errors=True)
    MACHINE_STATE.unlink(missing_ok=True)
    return True


def _owner_alive(state: dict[str, Any]) -> bool:
    """Whether the node recorded in `state` still runs: its kubelet or containerd (they
    hold the lock), or the process that started it."""
    owner = int(state.get("owner", 0))
    if owner != os.getpid() and _alive(owner):
        return True
    workdir = Path(state.get("workdir", ""))
    return _recorded_alive(workdir, "kubelet") or _recorded_alive(workdir, "containerd")


def _recorded_alive(workdir: Path, name: str) -> bool:
    """Whether the process `name` recorded in `workdir` runs (and is still that program)."""
    try:
        pid, program = json.loads((workdir / STATE_FILE).read_text())["pids"][name]
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError, KeyError):
        return False
    return str(program) in cmdline


def stop_recorded_node(workdir: Path) -> bool:
    """Stop the real node recorded in `workdir` (`down`); False if none is recorded."""
    node = RealNode.recorded(workdir)
    if node is None:
        return False
    node._delete_pods()
    stop_node_processes(workdir)
    cleanup_machine(workdir=workdir)
    _unmount_under(workdir)
    node._delete_node_object()
    (workdir / STATE_FILE).unlink(missing_ok=True)
    return True


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = [
    "NODE_KIND",
    "NODE_LABEL",
    "NODE_NAME",
    "PLACEMENT",
    "TAINT",
    "NodeBinaries",
    "RealNode",
    "cleanup_machine",
    "mounts_under",
    "stop_recorded_node",
]
