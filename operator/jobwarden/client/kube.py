"""The plugin's API access: raw JSON requests to the Kubernetes API.

Objects stay plain dicts, as in manifests. kubeconfig is read by `kubeconfig.py`
(contexts, exec plugins, tokens, TLS) and urllib3 carries the requests, with one
connection pool per identity; both are imported lazily, so `--help` stays instant.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobwarden.api import paths
from jobwarden.api.constants import API_VERSION
from jobwarden.client.kubeconfig import CredentialError

if TYPE_CHECKING:
    import urllib3

    from jobwarden.client.kubeconfig import Credentials

JSON = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
_WARNING = re.compile(r'^\s*\d{3}\s+\S+\s+"(?P<text>(?:[^"\\]|\\.)*)"')


class KubeError(Exception):
    """A non-2xx answer from the API server (or no answer at all: status 0)."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        try:
            details = json.loads(body) if body else {}
        except ValueError:
            details = {}
        self.details: JSON = details if isinstance(details, dict) else {}
        self.reason = str(self.details.get("reason") or "")
        self.message = str(self.details.get("message") or body.strip() or f"HTTP {status}")
        super().__init__(self.message)

    @property
    def not_found(self) -> bool:
        """404."""
        return self.status == 404

    def describe(self) -> str:
        """The error as kubectl prints it: `Error from server (Forbidden): …`."""
        if self.status == 0:
            return self.message
        reason = self.reason or {404: "NotFound", 403: "Forbidden", 409: "Conflict"}.get(
            self.status, f"HTTP {self.status}"
        )
        return f"Error from server ({reason}): {self.message}"


@dataclass(frozen=True)
class Target:
    """Where requests go: the context's default namespace and server."""

    namespace: str
    server: str
    context: str | None


def resource_path(
    plural: str,
    namespace: str | None = None,
    name: str | None = None,
    *,
    api_version: str = API_VERSION,
    subresource: str | None = None,
) -> str:
    """REST path of a collection or object; no namespace means all namespaces.

    The plugin's argument order (jobwarden's plural first) over `api.paths`' one builder."""
    return paths.resource_path(api_version, plural, namespace, name, subresource)


class Kube:
    """GET/POST/PATCH on REST paths with dict bodies, as one kubeconfig identity."""

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        *,
        timeout: float = 30,
    ) -> None:
        from jobwarden import __version__  # noqa: PLC0415
        from jobwarden.client.kubeconfig import Credentials, load  # noqa: PLC0415

        self.timeout = timeout
        self.warnings: list[str] = []
        connection = load(kubeconfig, context)
        self.credentials: Credentials = Credentials(connection)
        self.target = Target(connection.namespace, connection.server, connection.context)
        self.user_agent = f"kubectl-jobwarden/{__version__}"
        self._pool: urllib3.PoolManager | None = None
        self._pool_generation = -1

    @property
    def default_namespace(self) -> str:
        """The namespace of the kubeconfig context (else `default`)."""
        return self.target.namespace

    def _open(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float | tuple[float, float],
        stream: bool = False,
        accept: str = "application/json",
    ) -> urllib3.BaseHTTPResponse:
        """One request with the identity's headers; once more after a 401 when the
        credential can be fetched again (exec plugins). Raises KubeError when there
        is no answer."""
        import urllib3  # noqa: PLC0415

        url = self.target.server + path + ("?" + urllib.parse.urlencode(query) if query else "")
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        for attempt in (1, 2):
            try:
                headers = urllib3.HTTPHeaderDict({"Accept": accept, "User-Agent": self.user_agent})
                if content_type:
                    headers["Content-Type"] = content_type
                for name, value in self.credentials.headers():
                    headers.add(name, value)
                response = self._pool_manager().request(
                    method,
                    url,
                    body=body,
                    headers=headers,
                    timeout=urllib3.Timeout(connect=connect, read=read),
                    retries=False,
                    preload_content=not stream,
                )
            except CredentialError as error:
                raise KubeError(method, path, 0, f"getting credentials: {error}") from None
            except urllib3.exceptions.HTTPError as error:
                raise KubeError(
                    method, path, 0, f"cannot reach the API server at {self.target.server}: {error}"
                ) from None
            if response.status == 401 and attempt == 1 and self.credentials.refreshable:
                response.drain_conn()
                self.credentials.invalidate()
                continue
            return response
        raise AssertionError("unreachable")

    def _pool_manager(self) -> urllib3.PoolManager:
        """The connection pool, made again when the TLS client certificate changed."""
        import urllib3  # noqa: PLC0415

        if self._pool is None or self._pool_generation != self.credentials.generation:
            connection = self.credentials.connection
            options: dict[str, Any] = {"ssl_context": self.credentials.ssl_context(), "maxsize": 8}
            if connection.insecure:
                options.update(cert_reqs="CERT_NONE", assert_hostname=False)
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            if connection.tls_server_name:
                options["server_hostname"] = connection.tls_server_name
            self._pool = (
                urllib3.ProxyManager(connection.proxy_url, **options)
                if connection.proxy_url
                else urllib3.PoolManager(**options)
            )
            self._pool_generation = self.credentials.generation
        return self._pool

    def request(
        self,
        method: str,
        path: str,
        *,
        body: JSON | None = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> JSON:
        """Send one request; raise KubeError unless the answer is 2xx.

        Warnings the API server returns (e.g. from admission webhooks) are kept in
        `self.warnings`, for the caller to print as kubectl does.
        """
        response = self._open(
            method,
            path,
            query=query,
            body=json.dumps(body).encode() if body is not None else None,
            content_type=content_type if body is not None else None,
            timeout=self.timeout,
        )
        text = (response.data or b"").decode(errors="replace")
        self.warnings.extend(_warnings(response.headers))
        if not 200 <= response.status < 300:
            raise KubeError(method, path, response.status, text)
        result: JSON = json.loads(text) if text else {}
        return result

    def get(self, path: str, **query: str) -> JSON:
        """Read an object or list a collection."""
        return self.request("GET", path, query=query or None)

    def create(self, path: str, body: JSON, **query: str) -> JSON:
        """POST a new object into a collection."""
        return self.request("POST", path, body=body, query=query or None)

    def merge_patch(self, path: str, body: JSON, **query: str) -> JSON:
        """Apply a JSON merge patch (RFC 7386)."""
        return self.request("PATCH", path, body=body, query=query or None, content_type=MERGE_PATCH)

    def get_text(self, path: str, **query: str) -> str:
        """A plain-text answer, e.g. a pod's log (`pods/log`)."""
        response = self._open("GET", path, query=query or None, timeout=self.timeout, accept="*/*")
        text = (response.data or b"").decode(errors="replace")
        if not 200 <= response.status < 300:
            raise KubeError("GET", path, response.status, text)
        return text

    def stream(
        self, path: str, query: dict[str, str], *, read_timeout: float, accept: str = "*/*"
    ) -> Iterator[bytes]:
        """The lines of a streamed GET (a watch, a followed log), as they come, blank
        ones too; KubeError when it cannot start or breaks."""
        import urllib3  # noqa: PLC0415

        response = self._open(
            "GET", path, query=query, timeout=(10, read_timeout), stream=True, accept=accept
        )
        if not 200 <= response.status < 300:
            body = (response.read() or b"").decode(errors="replace")
            response.release_conn()
            raise KubeError("GET", path, response.status, body)
        buffer = b""
        try:
            for chunk in response.stream(65536, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    yield line
            if buffer:
                yield buffer
        except urllib3.exceptions.HTTPError as error:
            raise KubeError("GET", path, 0, f"stream broke: {error}") from None
        finally:
            response.release_conn()

    def list_items(self, path: str, **query: str) -> list[JSON]:
        """All items of a collection, following `continue` tokens."""
        items: list[JSON] = []
        token = ""
        while True:
            page = self.get(path, limit="500", **query, **({"continue": token} if token else {}))
            items.extend(page.get("items") or [])
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return items


def _warnings(headers: Any) -> list[str]:
    """The texts of `Warning: 299 - "…"` response headers."""
    if headers is None:
        return []
    getlist = getattr(headers, "getlist", None)
    values = getlist("Warning") if getlist else [headers.get("Warning")]
    texts = []
    for value in values:
        if not value:
            continue
        match = _WARNING.match(str(value))
        text = match.group("text").replace('\\"', '"') if match else str(value)
        texts.append(text)
    return texts
