"""The one small API layer: raw JSON requests to the Kubernetes API over aiohttp.

Credentials come from kopf's own login functions (in-cluster service account or
kubeconfig), so the operator and kopf act as the same identity. Objects stay plain
dicts, as in manifests; on a 401 the credentials are reloaded once (service-account
tokens rotate).
"""

from __future__ import annotations

import json
import ssl
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Final

import aiohttp
import kopf

from jobwarden import __version__
from jobwarden.engine.port import JSON, KubeApiError
from jobwarden.incluster import login_with_service_account

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"  # built-in kinds only


def login(settings: kopf.OperatorSettings | None = None) -> kopf.ConnectionInfo:
    """The operator's credentials: in-cluster service account (at the address the
    kubelet gives, see `jobwarden.incluster`), else kubeconfig."""
    settings = settings or kopf.OperatorSettings()
    info = (
        login_with_service_account(settings)
        or kopf.login_with_service_account(settings=settings)
        or kopf.login_with_kubeconfig(settings=settings)
    )
    if info is None:
        raise kopf.LoginError("no service account and no kubeconfig: cannot reach Kubernetes")
    return info


def _ssl_context(info: kopf.ConnectionInfo, scratch: Path) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    context = ssl.create_default_context(
        cafile=str(info.ca_path) if info.ca_path else None,
        cadata=(info.ca_data.decode() if isinstance(info.ca_data, bytes) else info.ca_data)
        if info.ca_data
        else None,
    )
    cert_path, key_path = info.certificate_path, info.private_key_path
    if info.certificate_data:
        cert_path = scratch / "client.crt"
        Path(cert_path).write_bytes(_as_bytes(info.certificate_data))
    if info.private_key_data:
        key_path = scratch / "client.key"
        Path(key_path).write_bytes(_as_bytes(info.private_key_data))
        Path(key_path).chmod(0o600)
    if cert_path:
        context.load_cert_chain(str(cert_path), str(key_path) if key_path else None)
    return context


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


#: Names the operator in the API server's logs and metrics, and as the field manager of
#: what it writes (`kubectl get --show-managed-fields`), instead of aiohttp's "Python".
USER_AGENT: Final = f"jobwarden-operator/{__version__}"


def _auth_headers(info: kopf.ConnectionInfo) -> dict[str, str]:
    if info.token:
        return {"Authorization": f"{info.scheme or 'Bearer'} {info.token}"}
    if info.username and info.password:
        encoded = aiohttp.BasicAuth(info.username, info.password).encode()
        return {"Authorization": encoded}
    return {}


class Kube:
    """Async GET/POST/PUT/PATCH/DELETE on REST paths with dict bodies: the `KubeApi`
    port over HTTP."""

    def __init__(self, login_fn: Callable[[], kopf.ConnectionInfo] = login) -> None:
        self._login_fn = login_fn
        self._scratch = tempfile.TemporaryDirectory(prefix="jobwarden-kube-")
        self._session: aiohttp.ClientSession | None = None
        self._server = ""
        self._headers: dict[str, str] = {}
        self.default_namespace: str | None = None

    async def _connect(self) -> aiohttp.ClientSession:
        info = self._login_fn()
        self._server = info.server.rstrip("/")
        self._headers = {**_auth_headers(info), "User-Agent": USER_AGENT}
        self.default_namespace = info.default_namespace
        connector = aiohttp.TCPConnector(ssl=_ssl_context(info, Path(self._scratch.name)), limit=64)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session and remove scratch files."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._scratch.cleanup()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: JSON | list[JSON] | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        _retried: bool = False,
    ) -> JSON:
        """Send one request; raise KubeApiError unless the answer is 2xx."""
        session = self._session or await self._connect()
        headers = {**self._headers, "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        async with session.request(
            method, self._server + path, data=data, headers=headers, params=params
        ) as response:
            text = await response.text()
            if response.status == 401 and not _retried:
                await session.close()
                self._session = None
                return await self.request(
                    method, path, body=body, params=params, content_type=content_type, _retried=True
                )
            if not 200 <= response.status < 300:
                raise KubeApiError(
                    method, path, response.status, text, response.headers.get("Retry-After")
                )
            result: JSON = json.loads(text) if text else {}
            return result

    async def get(self, path: str, **params: str) -> JSON:
        """Read an object or list a collection."""
        return await self.request("GET", path, params=params or None)

    async def list_pages(
        self, path: str, page_size: int = 500, **params: str
    ) -> AsyncIterator[JSON]:
        """List a collection page by page (`limit`/`continue`): with tens of thousands
        of objects, one page at a time is in memory instead of the whole list."""
        token = ""
        while True:
            query = {**params, "limit": str(page_size), **({"continue": token} if token else {})}
            page = await self.get(path, **query)
            for item in page.get("items", []):
                yield item
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return

    async def create(self, path: str, body: JSON, *, dry_run: bool = False) -> JSON:
        """POST a new object into a collection (`dry_run`: checked, not stored)."""
        params = {"dryRun": "All"} if dry_run else None
        return await self.request("POST", path, body=body, params=params)

    async def replace(self, path: str, body: JSON) -> JSON:
        """PUT an object (its metadata.resourceVersion makes it conditional)."""
        return await self.request("PUT", path, body=body)

    async def merge_patch(self, path: str, body: JSON) -> JSON:
        """Apply a JSON merge patch (RFC 7386)."""
        return await self.request("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def strategic_merge_patch(self, path: str, body: JSON) -> JSON:
        """PATCH a built-in object with a strategic merge patch (list items by value)."""
        return await self.request("PATCH", path, body=body, content_type=STRATEGIC_MERGE_PATCH)

    async def delete(
        self,
        path: str,
        *,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
        propagation: str | None = None,
    ) -> JSON:
        """DELETE an object; `uid` makes it conditional on the very same object."""
        options: JSON = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        if propagation is not None:
            options["propagationPolicy"] = propagation
        return await self.request("DELETE", path, body=options)
