"""The process node: a kubelet stand-in that runs pods as local processes.

kwok simulates every other node. This one serves a Node labelled
`jobwarden.dev/node-kind: process` (tainted `jobwarden.dev/node-kind=process:NoSchedule`,
so only pods that select it *and* tolerate the taint land here) and, like a kubelet:

- keeps the Node Ready (status heartbeat every 10 s);
- runs each container of a pod bound to it as a local process: `command` + `args`
  (with `$(VAR)` expansion), `env` and `envFrom` (values, Secrets, ConfigMaps, the
  downward API), `workingDir`; the image is not pulled: every image is "this machine"
  with no entrypoint (a container needs a `command`), and PATH starts with the bin
  directory of the Python running the node (the project's venv);
- gives volumes a local directory: emptyDir (per pod), hostPath and
  persistentVolumeClaim (per node, under its root), secret, configMap, downwardAPI
  and projected volumes (including the ServiceAccount token, requested with the
  TokenRequest API and bound to the pod, as the kubelet does); a container finds them
  at their mount paths through `JOBWARDEN_PATH_MAP` (a JSON map from container paths
  to local paths, read by `jobwarden.worker`), and the API server through
  KUBERNETES_SERVICE_HOST/PORT;
- reports container states (waiting, running, terminated with exit code, reason,
  start and finish times) and the termination message (the file at the container's
  terminationMessagePath, else the log's tail with FallbackToLogsOnError) in the pod's
  status; a process killed by signal N exits 128 + N;
- on graceful deletion sends SIGTERM to each container's process, waits until the
  pod's deletionTimestamp (re-deleting with a shorter grace period shortens the
  wait), then SIGKILLs the container's process group; when every container has
  stopped it confirms the deletion with grace 0 (the API server removes the pod once
  other controllers' finalizers are gone); a force-deleted pod's processes are killed.

Networking: the processes share the machine's network, as `hostNetwork` pods do. Every
pod's podIP and hostIP, and the Node's InternalIP, are one non-loopback IPv4 address of
this machine, found at start (`--pod-ip` names another). EndpointSlices refuse loopback
addresses, so with 127.0.0.1 no Service could send traffic to a pod here; with a real
address a Service's endpoints name the pod, and the API server (started by devcluster
with `--enable-aggregator-routing`, so it dials a Service's endpoints rather than its
ClusterIP, which nothing routes here) reaches a webhook served by a pod through its
Service. A pod listens on 0.0.0.0 or that address; as with `hostNetwork`, two pods
listening on one port collide, so give each its own port (or run one replica). On a
machine with no such address the node falls back to 127.0.0.1 and says so in its log:
pods still run and reach the API server, but no Service reaches them.

Not applied, as nothing here isolates a process: securityContext (processes run as the
node's user), resources, and probes (a container is Ready as soon as its process runs,
so a readiness probe's wait is not modelled).

Container logs stay in `<root>/logs/<namespace>_<pod>_<uid>/<container>.log`.
Run it with `python -m devcluster.processnode --kubeconfig … --root …`; `make up` and
the tests' `process_node` fixture start it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import datetime
import fcntl
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobwarden.worker.client import (
    JSON_PATCH,
    PATH_MAP_ENV,
    ApiClient,
    ApiError,
    Credentials,
    map_path,
)

logger = logging.getLogger("devcluster.processnode")

JSON = dict[str, Any]
NODE_LABEL = "jobwarden.dev/node-kind"
NODE_KIND = "process"
DEFAULT_NODE_NAME = "process-node"
TAINT: JSON = {"key": NODE_LABEL, "value": NODE_KIND, "effect": "NoSchedule"}
#: What a pod needs to run here: select the node and tolerate its taint.
PLACEMENT: JSON = {
    "nodeSelector": {NODE_LABEL: NODE_KIND},
    "tolerations": [{"key": NODE_LABEL, "operator": "Equal", "value": NODE_KIND}],
}
HEARTBEAT_SECONDS = 10.0
READY_LINE = "process node ready"
TERMINATION_MESSAGE_LIMIT = 4096
_POLL = 0.05
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_SIOCGIFFLAGS = 0x8913  # <linux/sockios.h>
_SIOCGIFADDR = 0x8915
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
LOOPBACK = "127.0.0.1"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _die_with_node() -> None:
    """In the child, before exec: SIGKILL it if the node's thread that started it dies
    (the libc handle is loaded before forking: nothing is loaded in the child)."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def host_address() -> str | None:
    """A non-loopback, non-link-local IPv4 address of an interface of this machine that
    is up (the first by interface index), or None. Any local address will do: the API
    server runs on this machine, which delivers traffic to its own addresses locally."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                flags = struct.unpack_from("H", fcntl.ioctl(probe, _SIOCGIFFLAGS, request), 16)[0]
                if not flags & _IFF_UP or flags & _IFF_LOOPBACK:
                    continue
                answer = fcntl.ioctl(probe, _SIOCGIFADDR, request)
            except OSError:  # no IPv4 address on it
                continue
            address = ipaddress.IPv4Address(answer[20:24])
            if not (address.is_loopback or address.is_link_local or address.is_unspecified):
                return str(address)
    return None


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` is `$`,
    anything else stays as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _VAR.sub(replace, text)


class PodSetupError(Exception):
    """A pod's container cannot be started (missing Secret, unsupported volume …)."""


# ----------------------------------------------------------------- containers
@dataclass
class ContainerRun:
    """One container of a pod: its process and what the status says about it."""

    spec: JSON
    init: bool = False
    process: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    termination_file: Path | None = None
    log_path: Path | None = None
    signalled: bool = False
    killed: bool = False

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def running(self) -> bool:
        return self.process is not None and self.exit_code is None

    @property
    def done(self) -> bool:
        return self.exit_code is not None

    def status(self) -> JSON:
        state: JSON
        if self.exit_code is not None:
            terminated: JSON = {
                "exitCode": self.exit_code,
                "reason": self.reason,
                "finishedAt": self.finished_at,
            }
            if self.started_at:
                terminated["startedAt"] = self.started_at
            if self.message:
                terminated["message"] = self.message
            if self.process is not None:
                terminated["containerID"] = f"process://{self.process.pid}"
            state = {"terminated": terminated}
        elif self.process is not None:
            state = {"running": {"startedAt": self.started_at}}
        else:
            state = {"waiting": {"reason": "ContainerCreating"}}
        status: JSON = {
            "name": self.name,
            "image": str(self.spec.get("image", "")),
            "imageID": "",
            "ready": self.running and not self.init,
            "started": self.running,
            "restartCount": 0,
            "state": state,
        }
        if self.process is not None:
            status["containerID"] = f"process://{self.process.pid}"
        return status


@dataclass
class NodeConfig:
    """What every pod on the node shares."""

    name: str
    root: Path
    api_host: str
    api_port: str
    #: podIP and hostIP of every pod, and the Node's InternalIP (see the module docstring).
    pod_ip: str = LOOPBACK
    bin_dir: str = field(default_factory=lambda: str(Path(sys.executable).parent))


class PodRunner(threading.Thread):
    """Runs one pod, from start to confirmed deletion."""

    def __init__(self, client: ApiClient, node: NodeConfig, pod: JSON) -> None:
        metadata = pod["metadata"]
        super().__init__(name=f"pod-{metadata['namespace']}/{metadata['name']}", daemon=True)
        self.client = client
        self.node = node
        self.pod = pod
        self.namespace = str(metadata["namespace"])
        self.pod_name = str(metadata["name"])
        self.uid = str(metadata["uid"])
        self.pod_dir = node.root / "pods" / self.uid
        self.log_dir = node.root / "logs" / f"{self.namespace}_{self.pod_name}_{self.uid}"
        spec = pod.get("spec") or {}
        self.init_containers = [
            ContainerRun(c, init=True) for c in spec.get("initContainers") or []
        ]
        self.containers = [ContainerRun(c) for c in spec.get("containers") or []]
        self.start_time = _now()
        self.phase = "Pending"
        self.pod_message = ""
        self.pod_reason = ""
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._kill_at: float | None = None  # time.monotonic() of the SIGKILL
        self._deleting = False
        self._removed = False  # the pod object is gone (force delete)
        self._volume_dirs: dict[str, Path] = {}

    # ---------------------------------------------------------- from the watch
    def update(self, pod: JSON) -> None:
        """A newer version of the pod object (deletion, a shorter grace period)."""
        metadata = pod.get("metadata") or {}
        deadline = _parse_time(metadata.get("deletionTimestamp"))
        with self._lock:
            self.pod = pod
            if deadline is not None:
                remaining = (deadline - datetime.datetime.now(datetime.UTC)).total_seconds()
                kill_at = time.monotonic() + max(0.0, remaining)
                if self._kill_at is None or kill_at < self._kill_at:
                    self._kill_at = kill_at
                self._deleting = True
        self._changed.set()

    def removed(self) -> None:
        """The pod object is gone: kill what still runs."""
        with self._lock:
            self._removed = True
            self._deleting = True
            self._kill_at = time.monotonic()
        self._changed.set()

    def stop_node(self, grace: float = 3.0) -> None:
        """The node is shutting down: stop the processes (SIGTERM, then SIGKILL)."""
        with self._lock:
            self._deleting = True
            kill_at = time.monotonic() + grace
            self._kill_at = min(self._kill_at or kill_at, kill_at)
        self._changed.set()

    # -------------------------------------------------------------- the thread
    def run(self) -> None:
        try:
            self._run()
        except Exception:
            logger.exception("pod %s/%s: the runner failed", self.namespace, self.pod_name)

    def _run(self) -> None:
        if self._deleting:  # deleted before it ever ran: nothing to stop or report
            self._confirm_deletion()
            return
        self._report()
        try:
            env_base, path_map = self._prepare()
        except PodSetupError as error:
            logger.warning("pod %s/%s cannot start: %s", self.namespace, self.pod_name, error)
            for container in [*self.init_containers, *self.containers]:
                self._fail_to_start(container, "CreateContainerConfigError", str(error))
            self._finish()
            return
        for container in self.init_containers:
            if self._deleting:
                break
            self._start(container, env_base, path_map)
            self._supervise([container])
            if container.exit_code != 0:
                for later in self.containers:
                    self._fail_to_start(later, "PodInitializing", "an init container failed")
                self._finish()
                return
        if not self._deleting:
            for container in self.containers:
                self._start(container, env_base, path_map)
            self.phase = "Running"
            self._report()
            self._supervise(self.containers)
        else:
            for container in self.containers:
                if not container.done:
                    self._fail_to_start(container, "ContainerCreating", "deleted before it ran")
        self._finish()

    def _finish(self) -> None:
        every = [*self.init_containers, *self.containers]
        failed = any(c.exit_code not in (0, None) for c in every)
        self.phase = "Failed" if failed else "Succeeded"
        self._report()
        logger.info("pod %s/%s ended: %s", self.namespace, self.pod_name, self.phase)
        while not self._deleting:  # like a finished pod on a kubelet: kept until deleted
            self._changed.wait(1.0)
            self._changed.clear()
        self._confirm_deletion()
        shutil.rmtree(self.pod_dir, ignore_errors=True)

    # ------------------------------------------------------------- processes
    def _start(self, container: ContainerRun, env_base: JSON, path_map: dict[str, str]) -> None:
        spec = container.spec
        self.log_dir.mkdir(parents=True, exist_ok=True)
        container.log_path = self.log_dir / f"{container.name}.log"
        termination = self.pod_dir / "termination" / container.name
        termination.parent.mkdir(parents=True, exist_ok=True)
        termination.write_text("")
        container.termination_file = termination
        try:
            env = self._container_env(spec, env_base)
        except PodSetupError as error:
            self._fail_to_start(container, "CreateContainerConfigError", str(error))
            return
        mounts = dict(path_map)
        for mount in spec.get("volumeMounts") or []:
            local = self._volume_dirs.get(str(mount.get("name")))
            if local is None:
                self._fail_to_start(
                    container, "CreateContainerConfigError", f"no volume {mount.get('name')!r}"
                )
                return
            sub_path = str(mount.get("subPath") or "")
            mounts[str(mount["mountPath"]).rstrip("/") or "/"] = str(local / sub_path)
        mounts[str(spec.get("terminationMessagePath") or "/dev/termination-log")] = str(termination)
        env[PATH_MAP_ENV] = json.dumps(mounts, sort_keys=True)
        command = [expand(str(a), env) for a in spec.get("command") or []]
        args = [expand(str(a), env) for a in spec.get("args") or []]
        argv = command + args
        if not command:
            self._fail_to_start(
                container,
                "StartError",
                "the process node runs no image entrypoint: the container needs a command",
            )
            return
        executable = shutil.which(argv[0], path=env.get("PATH")) if "/" not in argv[0] else argv[0]
        if executable is None:
            self._fail_to_start(container, "StartError", f"executable not found: {argv[0]}")
            return
        cwd = self.pod_dir / "rootfs"
        cwd.mkdir(parents=True, exist_ok=True)
        if spec.get("workingDir"):
            cwd = Path(map_path(str(spec["workingDir"]), mounts))
            cwd.mkdir(parents=True, exist_ok=True)
        with container.log_path.open("ab") as log:
            try:
                container.process = subprocess.Popen(
                    [executable, *argv[1:]],
                    env=env,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_node,  # noqa: PLW1509 (only prctl runs in the child)
                )
            except OSError as error:
                self._fail_to_start(container, "StartError", f"cannot start {argv[0]}: {error}")
                return
        container.started_at = _now()
        logger.info(
            "pod %s/%s: container %s started (pid %d): %s",
            self.namespace,
            self.pod_name,
            container.name,
            container.process.pid,
            " ".join(argv),
        )

    def _fail_to_start(self, container: ContainerRun, reason: str, message: str) -> None:
        if container.done:
            return
        container.exit_code = 128
        container.reason = reason
        container.message = message[:TERMINATION_MESSAGE_LIMIT]
        container.finished_at = _now()

    def _supervise(self, containers: list[ContainerRun]) -> None:
        """Wait until the containers exit; signal them when the pod is deleted."""
        while True:
            changed = False
            for container in containers:
                if container.running and container.process is not None:
                    code = container.process.poll()
                    if code is not None:
                        self._exited(container, code)
                        changed = True
            if changed:
                self._report()
            if not any(c.running for c in containers):
                return
            with self._lock:
                deleting, kill_at = self._deleting, self._kill_at
            if deleting:
                for container in containers:
                    if container.running and not container.signalled:
                        container.signalled = True
                        self._signal(container, signal.SIGTERM, group=False)
                if kill_at is not None and time.monotonic() >= kill_at:
                    for container in containers:
                        if container.running and not container.killed:
                            container.killed = True
                            self._signal(container, signal.SIGKILL, group=True)
            self._changed.wait(_POLL)
            self._changed.clear()

    def _signal(self, container: ContainerRun, signum: signal.Signals, *, group: bool) -> None:
        assert container.process is not None
        logger.info(
            "pod %s/%s: %s to container %s (pid %d)",
            self.namespace,
            self.pod_name,
            signum.name,
            container.name,
            container.process.pid,
        )
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(container.process.pid, signum)
            else:
                os.kill(container.process.pid, signum)

    def _exited(self, container: ContainerRun, code: int) -> None:
        if container.killed:  # the rest of its process group too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(container.process.pid if container.process else 0, signal.SIGKILL)
        container.exit_code = 128 - code if code < 0 else code
        container.finished_at = _now()
        container.reason = "Completed" if container.exit_code == 0 else "Error"
        container.message = self._termination_message(container)
        logger.info(
            "pod %s/%s: container %s exited with %d",
            self.namespace,
            self.pod_name,
            container.name,
            container.exit_code,
        )

    def _termination_message(self, container: ContainerRun) -> str:
        message = ""
        if container.termination_file is not None:
            with contextlib.suppress(OSError):
                raw = container.termination_file.read_bytes()[:TERMINATION_MESSAGE_LIMIT]
                message = raw.decode(errors="replace")
        policy = container.spec.get("terminationMessagePolicy") or "File"
        if (
            not message.strip()
            and policy == "FallbackToLogsOnError"
            and container.exit_code != 0
            and container.log_path is not None
        ):
            with contextlib.suppress(OSError):
                lines = container.log_path.read_bytes().splitlines()[-80:]
                message = b"\n".join(lines)[-2048:].decode(errors="replace")
        return message

    # ---------------------------------------------------------------- status
    def _report(self) -> None:
        every_running = bool(self.containers) and all(c.running for c in self.containers)
        initialized = all(c.done and c.exit_code == 0 for c in self.init_containers)
        now = _now()

        def condition(kind: str, ok: bool) -> JSON:
            return {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": now}

        status: JSON = {
            "phase": self.phase,
            "hostIP": self.node.pod_ip,
            "hostIPs": [{"ip": self.node.pod_ip}],
            "podIP": self.node.pod_ip,
            "podIPs": [{"ip": self.node.pod_ip}],
            "startTime": self.start_time,
            "conditions": [
                condition("PodScheduled", True),
                condition("Initialized", initialized),
                condition("ContainersReady", every_running),
                condition("Ready", every_running),
            ],
            "containerStatuses": [c.status() for c in self.containers],
        }
        if self.init_containers:
            status["initContainerStatuses"] = [c.status() for c in self.init_containers]
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.pod_name}/status"
        for attempt in range(5):
            try:
                # Only this very pod (a new one of the same name is not ours).
                self.client.request(
                    "PATCH",
                    path,
                    [
                        {"op": "test", "path": "/metadata/uid", "value": self.uid},
                        *(
                            {"op": "add", "path": f"/status/{key}", "value": value}
                            for key, value in status.items()
                        ),
                    ],
                    content_type=JSON_PATCH,
                )
                return
            except ApiError as error:
                if error.not_found or error.status == 422 or self._removed:
                    return
                logger.warning(
                    "pod %s/%s: status write failed: %s", self.namespace, self.pod_name, error
                )
                time.sleep(0.2 * (attempt + 1))

    def _confirm_deletion(self) -> None:
        if self._removed:
            return
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.pod_name}"
        body = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": self.uid},
        }
        with contextlib.suppress(ApiError):
            self.client.request("DELETE", path, body)
        logger.info("pod %s/%s: deletion confirmed", self.namespace, self.pod_name)

    # ---------------------------------------------------------------- volumes
    def _prepare(self) -> tuple[JSON, dict[str, str]]:
        """Volumes on disk and the environment every container starts from."""
        spec = self.pod.get("spec") or {}
        deadline = time.monotonic() + 30
        while True:
            try:
                for volume in spec.get("volumes") or []:
                    self._volume_dirs[str(volume["name"])] = self._volume(volume)
                break
            except PodSetupError:
                # A Secret or ConfigMap may appear a moment later (kube-root-ca.crt in a
                # new namespace): the kubelet retries too.
                if time.monotonic() > deadline or self._deleting:
                    raise
                time.sleep(0.5)
        env_base = {
            "PATH": os.pathsep.join([self.node.bin_dir, os.environ.get("PATH", "/usr/bin:/bin")]),
            "HOME": str(self.pod_dir / "rootfs"),
            "HOSTNAME": self.pod_name,
            "LANG": "C.UTF-8",
            "KUBERNETES_SERVICE_HOST": self.node.api_host,
            "KUBERNETES_SERVICE_PORT": self.node.api_port,
            "KUBERNETES_SERVICE_PORT_HTTPS": self.node.api_port,
        }
        return env_base, {}

    def _volume(self, volume: JSON) -> Path:
        name = str(volume["name"])
        local = self.pod_dir / "volumes" / name
        if "emptyDir" in volume:
            local.mkdir(parents=True, exist_ok=True)
            return local
        if "hostPath" in volume:
            host = str((volume["hostPath"] or {}).get("path", "")).lstrip("/")
            target = self.node.root / "hostpath" / host
            kind = (volume["hostPath"] or {}).get("type") or ""
            if kind in ("File", "FileOrCreate"):
                target.parent.mkdir(parents=True, exist_ok=True)
                if kind == "FileOrCreate":
                    target.touch(exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
            return target
        if "persistentVolumeClaim" in volume:
            claim = str((volume["persistentVolumeClaim"] or {}).get("claimName", ""))
            target = self.node.root / "pvc" / self.namespace / claim
            target.mkdir(parents=True, exist_ok=True)
            return target
        files: dict[str, bytes] = {}
        if "secret" in volume:
            files = self._secret_files(volume["secret"] or {})
        elif "configMap" in volume:
            files = self._config_map_files(volume["configMap"] or {})
        elif "downwardAPI" in volume:
            files = self._downward_files(volume["downwardAPI"] or {})
        elif "projected" in volume:
            for source in (volume["projected"] or {}).get("sources") or []:
                if "secret" in source:
                    files.update(self._secret_files(source["secret"] or {}))
                elif "configMap" in source:
                    files.update(self._config_map_files(source["configMap"] or {}))
                elif "downwardAPI" in source:
                    files.update(self._downward_files(source["downwardAPI"] or {}))
                elif "serviceAccountToken" in source:
                    token_source = source["serviceAccountToken"] or {}
                    files[str(token_source.get("path", "token"))] = self._token(token_source)
                else:
                    raise PodSetupError(f"volume {name}: unsupported projected source {source}")
        else:
            kinds = sorted(k for k in volume if k != "name")
            raise PodSetupError(f"volume {name}: {kinds} volumes are not supported here")
        local.mkdir(parents=True, exist_ok=True)
        for relative, data in files.items():
            target = local / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return local

    def _get(self, kind: str, name: str, optional: bool) -> JSON | None:
        try:
            return self.client.get(f"/api/v1/namespaces/{self.namespace}/{kind}/{name}")
        except ApiError as error:
            if error.not_found and optional:
                return None
            raise PodSetupError(f"{kind[:-1]} {self.namespace}/{name}: {error.message}") from None

    def _ref(self, kind: str, ref: JSON) -> JSON | None:
        return self._get(kind, str(ref.get("name")), bool(ref.get("optional")))

    def _secret_files(self, source: JSON) -> dict[str, bytes]:
        name = str(source.get("secretName") or source.get("name") or "")
        secret = self._get("secrets", name, bool(source.get("optional")))
        data = {k: base64.b64decode(v) for k, v in ((secret or {}).get("data") or {}).items()}
        return _select_items(data, source.get("items"), f"secret {name}")

    def _config_map_files(self, source: JSON) -> dict[str, bytes]:
        name = str(source.get("name") or "")
        config_map = self._get("configmaps", name, bool(source.get("optional"))) or {}
        data = {k: str(v).encode() for k, v in (config_map.get("data") or {}).items()}
        data.update(
            {k: base64.b64decode(v) for k, v in (config_map.get("binaryData") or {}).items()}
        )
        return _select_items(data, source.get("items"), f"configmap {name}")

    def _downward_files(self, source: JSON) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for item in source.get("items") or []:
            field_path = str((item.get("fieldRef") or {}).get("fieldPath", ""))
            files[str(item["path"])] = self._field(field_path, for_file=True).encode()
        return files

    def _token(self, source: JSON) -> bytes:
        spec = self.pod.get("spec") or {}
        account = spec.get("serviceAccountName") or "default"
        request: JSON = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": int(source.get("expirationSeconds") or 3607),
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": self.pod_name,
                    "uid": self.uid,
                },
            },
        }
        if source.get("audience"):
            request["spec"]["audiences"] = [source["audience"]]
        path = f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token"
        try:
            answer = self.client.request("POST", path, request)
        except ApiError as error:
            raise PodSetupError(f"token for serviceaccount {account}: {error.message}") from None
        return str((answer.get("status") or {}).get("token", "")).encode()

    # -------------------------------------------------------------------- env
    def _field(self, field_path: str, *, for_file: bool = False) -> str:
        metadata = self.pod.get("metadata") or {}
        spec = self.pod.get("spec") or {}
        simple = {
            "metadata.name": self.pod_name,
            "metadata.namespace": self.namespace,
            "metadata.uid": self.uid,
            "spec.nodeName": self.node.name,
            "spec.serviceAccountName": str(spec.get("serviceAccountName") or "default"),
            "status.podIP": self.node.pod_ip,
            "status.hostIP": self.node.pod_ip,
        }
        if field_path in simple:
            return simple[field_path]
        match = re.fullmatch(r"metadata\.(labels|annotations)(?:\['(.+)'\])?", field_path)
        if match:
            values = metadata.get(match.group(1)) or {}
            if match.group(2) is not None:
                return str(values.get(match.group(2), ""))
            if for_file:
                return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
        raise PodSetupError(f"unsupported fieldRef {field_path!r}")

    def _container_env(self, spec: JSON, base: JSON) -> dict[str, str]:
        env: dict[str, str] = dict(base)
        for source in spec.get("envFrom") or []:
            prefix = str(source.get("prefix") or "")
            if "secretRef" in source:
                ref = source["secretRef"] or {}
                secret = self._ref("secrets", ref)
                for key, encoded in ((secret or {}).get("data") or {}).items():
                    env[prefix + key] = base64.b64decode(encoded).decode(errors="replace")
            elif "configMapRef" in source:
                ref = source["configMapRef"] or {}
                config_map = self._ref("configmaps", ref)
                for key, text in ((config_map or {}).get("data") or {}).items():
                    env[prefix + key] = str(text)
        for entry in spec.get("env") or []:
            name = str(entry["name"])
            if "value" in entry or "valueFrom" not in entry:
                env[name] = expand(str(entry.get("value", "")), env)
                continue
            value_from = entry["valueFrom"] or {}
            value: str | None
            if "secretKeyRef" in value_from:
                ref = value_from["secretKeyRef"] or {}
                secret = self._ref("secrets", ref)
                raw = ((secret or {}).get("data") or {}).get(str(ref.get("key")))
                if raw is None and not ref.get("optional"):
                    raise PodSetupError(
                        f"couldn't find key {ref.get('key')} in Secret "
                        f"{self.namespace}/{ref.get('name')}"
                    )
                value = base64.b64decode(raw).decode(errors="replace") if raw else None
            elif "configMapKeyRef" in value_from:
                ref = value_from["configMapKeyRef"] or {}
                config_map = self._ref("configmaps", ref)
                value = ((config_map or {}).get("data") or {}).get(str(ref.get("key")))
                if value is None and not ref.get("optional"):
                    raise PodSetupError(
                        f"couldn't find key {ref.get('key')} in ConfigMap "
                        f"{self.namespace}/{ref.get('name')}"
                    )
            elif "fieldRef" in value_from:
                value = self._field(str((value_from["fieldRef"] or {}).get("fieldPath", "")))
            else:
                raise PodSetupError(f"env {name}: unsupported valueFrom {sorted(value_from)}")
            if value is not None:
                env[name] = value
        return env


def _select_items(data: dict[str, bytes], items: Any, what: str) -> dict[str, bytes]:
    if not items:
        return data
    selected: dict[str, bytes] = {}
    for item in items:
        key = str(item.get("key"))
        if key not in data:
            raise PodSetupError(f"{what} has no key {key}")
        selected[str(item.get("path") or key)] = data[key]
    return selected


# ---------------------------------------------------------------------- node
class ProcessNode:
    """The Node object, its heartbeat and the pods bound to it."""

    def __init__(
        self, client: ApiClient, name: str, root: Path, *, pod_ip: str | None = None
    ) -> None:
        self.client = client
        self.name = name
        self.root = root.resolve()
        server = urllib.parse.urlsplit(client.credentials.server)
        if not pod_ip:
            pod_ip = host_address()
            if pod_ip is None:
                logger.warning(
                    "this machine has no non-loopback IPv4 address: pods get %s, which "
                    "EndpointSlices refuse, so no Service (and no webhook behind one) "
                    "reaches them",
                    LOOPBACK,
                )
                pod_ip = LOOPBACK
        self.config = NodeConfig(
            name=name,
            root=self.root,
            api_host=server.hostname or "127.0.0.1",
            api_port=str(server.port or 443),
            pod_ip=pod_ip,
        )
        self.runners: dict[str, PodRunner] = {}
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.boot_id = str(uuid.uuid4())

    # -------------------------------------------------------------- the Node
    def register(self) -> None:
        """Create the Node (or take it over), untainted by kwok, tainted by us."""
        labels = {
            NODE_LABEL: NODE_KIND,
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
        }
        path = f"/api/v1/nodes/{self.name}"
        try:
            existing = self.client.get(path)
        except ApiError as error:
            if not error.not_found:
                raise
            self.client.request(
                "POST",
                "/api/v1/nodes",
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": self.name, "labels": labels},
                    "spec": {"taints": [TAINT]},
                },
            )
        else:
            taints = [t for t in (existing.get("spec") or {}).get("taints") or [] if t != TAINT]
            self.client.merge_patch(
                path, {"metadata": {"labels": labels}, "spec": {"taints": [*taints, TAINT]}}
            )
        self.heartbeat()

    def heartbeat(self) -> None:
        """Node status: Ready, with capacity and addresses."""
        now = _now()

        def condition(kind: str, status: str, reason: str, message: str) -> JSON:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }

        resources = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        self.client.request(
            "PATCH",
            f"/api/v1/nodes/{self.name}/status",
            {
                "status": {
                    "capacity": resources,
                    "allocatable": resources,
                    "conditions": [
                        condition("Ready", "True", "KubeletReady", "runs pods as local processes"),
                        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", ""),
                        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", ""),
                        condition("PIDPressure", "False", "KubeletHasSufficientPID", ""),
                    ],
                    "addresses": [
                        {"type": "InternalIP", "address": self.config.pod_ip},
                        {"type": "Hostname", "address": self.name},
                    ],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                    "nodeInfo": {
                        "machineID": self.boot_id,
                        "systemUUID": self.boot_id,
                        "bootID": self.boot_id,
                        "kernelVersion": os.uname().release,
                        "osImage": "jobwarden process node",
                        "containerRuntimeVersion": "process://1",
                        "kubeletVersion": "v1.0.0-processnode",
                        "kubeProxyVersion": "",
                        "operatingSystem": "linux",
                        "architecture": "amd64",
                    },
                }
            },
            content_type="application/merge-patch+json",
        )

    def _heartbeat_loop(self) -> None:
        while not self.stopping.wait(HEARTBEAT_SECONDS):
            try:
                self.heartbeat()
            except ApiError as error:
                logger.warning("node heartbeat failed: %s", error)

    # ------------------------------------------------------------------ pods
    def handle(self, pod: JSON) -> None:
        """An ADDED or MODIFIED pod bound to this node."""
        metadata = pod.get("metadata") or {}
        uid = str(metadata.get("uid"))
        with self._lock:
            runner = self.runners.get(uid)
        if runner is not None:
            runner.update(pod)
            return
        status = pod.get("status") or {}
        known_before = status.get("phase") in ("Running", "Succeeded", "Failed") or any(
            s.get("state", {}).get("running") or s.get("state", {}).get("terminated")
            for s in status.get("containerStatuses") or []
        )
        if known_before:
            self._orphan(pod)
            return
        if self.stopping.is_set():
            return
        runner = PodRunner(self.client, self.config, pod)
        with self._lock:
            self.runners[uid] = runner
        runner.update(pod)
        runner.start()

    def _orphan(self, pod: JSON) -> None:
        """A pod from before this node process started: its processes are gone."""
        metadata = pod["metadata"]
        namespace, name = metadata["namespace"], metadata["name"]
        status = pod.get("status") or {}
        if status.get("phase") not in ("Succeeded", "Failed"):
            lost = {
                "terminated": {
                    "exitCode": 137,
                    "reason": "ContainerStatusUnknown",
                    "message": "the process node restarted: the container's process was lost",
                    "finishedAt": _now(),
                }
            }
            statuses = [
                {**s, "ready": False, "started": False, "state": lost}
                for s in status.get("containerStatuses") or []
            ]
            with contextlib.suppress(ApiError):
                self.client.request(
                    "PATCH",
                    f"/api/v1/namespaces/{namespace}/pods/{name}/status",
                    {"status": {"phase": "Failed", "containerStatuses": statuses}},
                    content_type="application/merge-patch+json",
                )
        if metadata.get("deletionTimestamp"):
            with contextlib.suppress(ApiError):
                self.client.request(
                    "DELETE",
                    f"/api/v1/namespaces/{namespace}/pods/{name}",
                    {
                        "kind": "DeleteOptions",
                        "apiVersion": "v1",
                        "gracePeriodSeconds": 0,
                        "preconditions": {"uid": metadata["uid"]},
                    },
                )

    def gone(self, uid: str) -> None:
        """A pod object was removed."""
        with self._lock:
            runner = self.runners.pop(uid, None)
        if runner is not None:
            runner.removed()

    def _watch_loop(self) -> None:
        selector = f"spec.nodeName={self.name}"
        while not self.stopping.is_set():
            try:
                listing = self.client.get("/api/v1/pods", fieldSelector=selector)
                seen = set()
                for pod in listing.get("items") or []:
                    seen.add(str(pod["metadata"]["uid"]))
                    self.handle(pod)
                with self._lock:
                    vanished = [uid for uid in self.runners if uid not in seen]
                for uid in vanished:
                    self.gone(uid)
                version = str((listing.get("metadata") or {}).get("resourceVersion", ""))
                for event in self.client.watch(
                    "/api/v1/pods",
                    fieldSelector=selector,
                    resourceVersion=version,
                    allowWatchBookmarks="true",
                    timeoutSeconds="300",
                ):
                    if self.stopping.is_set():
                        return
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        break  # e.g. 410 Gone: list again
                    if kind == "BOOKMARK":
                        continue
                    if kind == "DELETED":
                        self.gone(str(obj["metadata"]["uid"]))
                    else:
                        self.handle(obj)
            except (ApiError, OSError, ValueError) as error:
                if self.stopping.is_set():
                    return
                logger.warning("pod watch interrupted (%s); listing again", error)
                time.sleep(1.0)

    def serve(self) -> None:
        """Register, then run until `stopping` is set; then stop the pods' processes."""
        self.register()
        threads = [
            threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True),
            threading.Thread(target=self._watch_loop, name="watch", daemon=True),
        ]
        for thread in threads:
            thread.start()
        logger.info(
            "%s: node %s (pods run under %s, pod IP %s)",
            READY_LINE,
            self.name,
            self.root,
            self.config.pod_ip,
        )
        self.stopping.wait()
        with self._lock:
            runners = list(self.runners.values())
        for runner in runners:
            runner.stop_node()
        for runner in runners:
            runner.join(timeout=5)


# ------------------------------------------------------------------ launcher
class ProcessNodeProcess:
    """The process node as a background process (for `make up` and the tests)."""

    def __init__(
        self,
        kubeconfig: Path,
        root: Path,
        log_path: Path,
        *,
        name: str = DEFAULT_NODE_NAME,
        pod_ip: str | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.root = root
        self.log_path = log_path
        self.name = name
        self.pod_ip = pod_ip
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def argv(self) -> list[str]:
        """The command line."""
        argv = [
            sys.executable,
            "-m",
            "devcluster.processnode",
            f"--kubeconfig={self.kubeconfig}",
            f"--root={self.root}",
            f"--name={self.name}",
        ]
        return [*argv, f"--pod-ip={self.pod_ip}"] if self.pod_ip else argv

    def start(self, timeout: float = 60) -> None:
        """Start it and wait until the Node is registered and Ready."""
        from devcluster.binaries import ClusterError  # noqa: PLC0415
        from devcluster.process import kill_with_parent, log_tail  # noqa: PLC0415

        self.root.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
                preexec_fn=kill_with_parent if self.die_with_parent else None,  # noqa: PLW1509
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ClusterError(
                    f"the process node exited with code {self.process.returncode} at start\n"
                    f"  command: {' '.join(self.argv)}\n  log: {self.log_path}\n"
                    + log_tail(self.log_path)
                )
            with self.log_path.open("rb") as log:
                log.seek(offset)
                if READY_LINE.encode() in log.read():
                    return
            time.sleep(0.1)
        self.kill()
        raise ClusterError(
            f"the process node did not become ready within {timeout:.0f} s\n"
            f"  log: {self.log_path}\n{log_tail(self.log_path)}"
        )

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (it stops its pods' processes), then SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def record_in(self, workdir: Path) -> None:
        """Add this process to the cluster's state file so `down` stops it too."""
        from devcluster.cluster import STATE_FILE  # noqa: PLC0415

        assert self.process is not None
        state_path = workdir / STATE_FILE
        state = json.loads(state_path.read_text())
        state["pids"]["process-node"] = [self.process.pid, "devcluster.processnode"]
        state_path.write_text(json.dumps(state, indent=2))


def main(argv: list[str] | None = None) -> int:
    """`python -m devcluster.processnode`: serve the node until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m devcluster.processnode", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True, help="admin kubeconfig")
    parser.add_argument("--root", type=Path, required=True, help="directory for pods' files")
    parser.add_argument("--name", default=DEFAULT_NODE_NAME, help="the Node's name")
    parser.add_argument(
        "--pod-ip",
        default=None,
        help="podIP/hostIP of the pods and the Node's InternalIP (default: a non-loopback "
        "IPv4 address of this machine, else 127.0.0.1)",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from jobwarden.worker.client import from_kubeconfig  # noqa: PLC0415

    credentials: Credentials = from_kubeconfig(args.kubeconfig)
    client = ApiClient(credentials, user_agent="jobwarden-processnode")
    node = ProcessNode(client, args.name, args.root, pod_ip=args.pod_ip)

    def stop(_signum: int, _frame: object) -> None:
        node.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    node.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
