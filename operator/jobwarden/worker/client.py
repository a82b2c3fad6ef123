"""A small synchronous Kubernetes API client for worker processes (standard library only).

Workers report progress from a background thread and must start fast, so this
avoids kopf, aiohttp and the generated client. Credentials, in this order:

1. in-cluster: the pod's ServiceAccount token and CA (mounted by the kubelet under
   /var/run/secrets/kubernetes.io/serviceaccount) and KUBERNETES_SERVICE_HOST/PORT;
2. a kubeconfig named by $KUBECONFIG (client certificates, tokens, CA, insecure).

Paths a container sees are resolved through the node's path map
(`JOBWARDEN_PATH_MAP`, see `resolve_path`), so the same code runs in a container and
as a plain local process (tests of the worker outside a container).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

JSON = dict[str, Any]

#: Environment variable a node may set: a JSON object mapping paths inside the
#: container (mount paths, the termination-message path) to local paths.
PATH_MAP_ENV = "JOBWARDEN_PATH_MAP"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class ApiError(Exception):
    """A non-2xx answer from the API server, or no answer at all (status 0)."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.status = status
        try:
            details: JSON = json.loads(body) if body else {}
        except ValueError:
            details = {}
        self.reason = str(details.get("reason", ""))
        self.message = str(details.get("message", body[:300]))
        super().__init__(f"{method} {path}: {status} {self.reason}: {self.message}".strip())

    @property
    def not_found(self) -> bool:
        """404: the object is gone."""
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """409: already exists, or a stale resourceVersion / precondition."""
        return self.status == 409


# ------------------------------------------------------------------------ paths
def path_map(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The node's path map ({} in a real container, where paths are what they say)."""
    raw = (environ if environ is not None else os.environ).get(PATH_MAP_ENV, "")
    if not raw:
        return {}
    try:
        loaded = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {str(k).rstrip("/") or "/": str(v) for k, v in loaded.items()}


def map_path(path: str, mapping: Mapping[str, str]) -> str:
    """`path` with its longest mapped prefix (whole path components) replaced."""
    best = ""
    for prefix in mapping:
        inside = path == prefix or path.startswith(prefix.rstrip("/") + "/")
        if inside and len(prefix) > len(best):
            best = prefix
    if not best:
        return path
    rest = path[len(best) :].lstrip("/")
    return str(Path(mapping[best]) / rest) if rest else mapping[best]


def resolve_path(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Path:
    """Where a path of the container is for this process, through the node's path map
    (unmapped paths, and every path in a real container, are returned unchanged)."""
    text = os.fspath(path)
    mapping = path_map(environ)
    if not mapping or not text.startswith("/"):
        return Path(text)
    return Path(map_path(text, mapping))


# ------------------------------------------------------------------ credentials
@dataclass
class Credentials:
    """How to reach and authenticate to the API server."""

    server: str
    ssl_context: ssl.SSLContext | None  # None for plain http
    token: Callable[[], str | None] = lambda: None
    headers: dict[str, str] = field(default_factory=dict)
    source: str = ""  # "in-cluster" or the kubeconfig's path, for messages
    _scratch: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def discover(cls, environ: Mapping[str, str] | None = None) -> Credentials | None:
        """In-cluster credentials if present, else $KUBECONFIG, else None."""
        env = environ if environ is not None else os.environ
        return in_cluster(env) or from_kubeconfig_env(env)


def in_cluster(environ: Mapping[str, str]) -> Credentials | None:
    """The pod's ServiceAccount, as client-go's rest.InClusterConfig reads it."""
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    directory = resolve_path(SERVICE_ACCOUNT_DIR, environ)
    token_path = directory / "token"
    if not host or not port or not token_path.exists():
        return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    context = ssl.create_default_context()
    ca_path = directory / "ca.crt"
    if ca_path.exists():
        context.load_verify_locations(cafile=str(ca_path))

    def token() -> str | None:
        # Re-read at every request: the kubelet rotates bound tokens.
        try:
            return token_path.read_text().strip() or None
        except OSError:
            return None

    return Credentials(f"https://{host}:{port}", context, token, source="in-cluster")


def from_kubeconfig_env(environ: Mapping[str, str]) -> Credentials | None:
    """The current context of the first file named by $KUBECONFIG."""
    raw = environ.get("KUBECONFIG", "")
    if not raw:
        return None
    path = Path(raw.split(os.pathsep)[0]).expanduser()
    if not path.exists():
        return None
    return from_kubeconfig(path)


def _pick(items: Any, name: str, key: str) -> JSON:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get(key)
            return value if isinstance(value, dict) else {}
    return {}


def from_kubeconfig(path: Path) -> Credentials:
    """Credentials of a kubeconfig's current context (no exec or auth-provider plugins)."""
    config = yaml.safe_load(path.read_text()) or {}
    context_name = str(config.get("current-context") or "")
    contexts = config.get("contexts") or []
    if not context_name and contexts:
        context_name = str(contexts[0].get("name", ""))
    context = _pick(contexts, context_name, "context")
    cluster = _pick(config.get("clusters"), str(context.get("cluster", "")), "cluster")
    user = _pick(config.get("users"), str(context.get("user", "")), "user")
    if not cluster.get("server"):
        raise ValueError(f"{path}: context {context_name!r} names no cluster server")
    base = path.parent
    scratch = tempfile.TemporaryDirectory(prefix="jobwarden-worker-")

    def file_or_data(file_key: str, data_key: str, name: str, holder: JSON) -> str | None:
        if holder.get(data_key):
            target = Path(scratch.name) / name
            target.write_bytes(base64.b64decode(str(holder[data_key])))
            target.chmod(0o600)
            return str(target)
        if holder.get(file_key):
            return str((base / str(holder[file_key])).resolve())
        return None

    server = str(cluster["server"]).rstrip("/")
    context_ssl: ssl.SSLContext | None = None
    if server.startswith("https://"):
        context_ssl = ssl.create_default_context()
        if cluster.get("insecure-skip-tls-verify"):
            context_ssl.check_hostname = False
            context_ssl.verify_mode = ssl.CERT_NONE
        else:
            ca = file_or_data(
                "certificate-authority", "certificate-authority-data", "ca.crt", cluster
            )
            if ca:
                context_ssl.load_verify_locations(cafile=ca)
        cert = file_or_data("client-certificate", "client-certificate-data", "client.crt", user)
        key = file_or_data("client-key", "client-key-data", "client.key", user)
        if cert:
            context_ssl.load_cert_chain(cert, key)
    headers: dict[str, str] = {}
    static_token = str(user.get("token") or "")
    token_file = user.get("tokenFile")
    if user.get("username") and user.get("password"):
        pair = f"{user['username']}:{user['password']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    if user.get("as"):
        headers["Impersonate-User"] = str(user["as"])

    def token() -> str | None:
        if static_token:
            return static_token
        if token_file:
            with contextlib.suppress(OSError):
                return (base / str(token_file)).read_text().strip() or None
        return None

    return Credentials(server, context_ssl, token, headers, str(path), scratch)


# ----------------------------------------------------------------------- client
class ApiClient:
    """GET/POST/PATCH/DELETE with dict bodies, and watch streams; thread-safe."""

    def __init__(self, credentials: Credentials, *, user_agent: str = "jobwarden-worker") -> None:
        self.credentials = credentials
        self.user_agent = user_agent

    @classmethod
    def discover(cls, environ: Mapping[str, str] | None = None) -> ApiClient | None:
        """A client with the credentials found in the environment, or None."""
        credentials = Credentials.discover(environ)
        return cls(credentials) if credentials is not None else None

    def _open(
        self,
        method: str,
        path: str,
        *,
        body: object | None,
        content_type: str,
        params: Mapping[str, str] | None,
        timeout: float,
    ) -> Any:
        url = self.credentials.server + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {
            "Accept": "application/json",
            "User-Agent": self.user_agent,
            **self.credentials.headers,
        }
        token = self.credentials.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            return urllib.request.urlopen(
                request, timeout=timeout, context=self.credentials.ssl_context
            )
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            raise ApiError(method, path, error.code, text) from None
        except (urllib.error.URLError, OSError) as error:
            raise ApiError(method, path, 0, str(error)) from None

    def request(
        self,
        method: str,
        path: str,
        body: object | None = None,
        *,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> JSON:
        """One request; raises ApiError unless the answer is 2xx."""
        with self._open(
            method, path, body=body, content_type=content_type, params=params, timeout=timeout
        ) as response:
            text = response.read().decode()
        result: JSON = json.loads(text) if text else {}
        return result

    def get(self, path: str, **params: str) -> JSON:
        """Read an object or list a collection."""
        return self.request("GET", path, params=params or None)

    def merge_patch(self, path: str, body: JSON) -> JSON:
        """A JSON merge patch (RFC 7386)."""
        return self.request("PATCH", path, body, content_type=MERGE_PATCH)

    def watch(self, path: str, timeout: float = 330.0, **params: str) -> Iterator[JSON]:
        """The events of a watch stream ({"type", "object"}) until the server ends it."""
        query = {**params, "watch": "true"}
        with self._open(
            "GET", path, body=None, content_type="application/json", params=query, timeout=timeout
        ) as response:
            for line in response:
                if line.strip():
                    event: JSON = json.loads(line)
                    yield event
