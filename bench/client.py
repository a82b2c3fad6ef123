"""A small asyncio client for the benchmarks: raw JSON requests and watch streams over
aiohttp, authenticated with a kubeconfig's client certificate (as devcluster writes them).

Watchers stamp every event with the wall-clock time it arrived (`time.time()`), which
is what the latency figures measured "on the client" are made of.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import yaml

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    """A non-2xx answer."""

    def __init__(self, method: str, path: str, status: int, text: str) -> None:
        self.status = status
        super().__init__(f"{method} {path}: {status}: {text[:300]}")


def _ssl_from_kubeconfig(path: Path) -> tuple[str, ssl.SSLContext]:
    document = yaml.safe_load(path.read_text())
    cluster = document["clusters"][0]["cluster"]
    user = document["users"][0]["user"]
    context = ssl.create_default_context(cafile=cluster["certificate-authority"])
    context.load_cert_chain(user["client-certificate"], user["client-key"])
    return str(cluster["server"]).rstrip("/"), context


class Client:
    """GET/POST/PATCH/DELETE and watches on REST paths, with dict bodies."""

    def __init__(self, kubeconfig: Path, *, connections: int = 64) -> None:
        self.server, self._ssl = _ssl_from_kubeconfig(kubeconfig)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        connector = aiohttp.TCPConnector(ssl=self._ssl, limit=self._connections)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=120)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use `async with Client(...)`"
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        ok_statuses: tuple[int, ...] = (),
    ) -> JSON:
        """One request; raises ApiError unless 2xx (or in `ok_statuses`)."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        for attempt in range(5):
            try:
                async with self.session.request(
                    method, self.server + path, data=data, headers=headers, params=params
                ) as response:
                    text = await response.text()
                    if response.status == 429 or (response.status >= 500 and attempt < 4):
                        await asyncio.sleep(0.2 * (attempt + 1))
                        continue
                    if not 200 <= response.status < 300:
                        if response.status in ok_statuses:
                            return {}
                        raise ApiError(method, path, response.status, text)
                    return json.loads(text) if text else {}
            except (aiohttp.ClientConnectionError, TimeoutError):
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        raise ApiError(method, path, 0, "retries exhausted")

    async def get(self, path: str, **params: str) -> JSON:
        return await self.request("GET", path, params=params or None)

    async def create(self, path: str, body: JSON, *, exist_ok: bool = False) -> JSON:
        return await self.request("POST", path, body, ok_statuses=(409,) if exist_ok else ())

    async def merge_patch(self, path: str, body: JSON) -> JSON:
        return await self.request("PATCH", path, body, content_type=MERGE_PATCH)

    async def delete(self, path: str) -> JSON:
        return await self.request("DELETE", path, ok_statuses=(404,))

    async def list_all(self, path: str, **params: str) -> list[JSON]:
        """Every item of a collection, in pages."""
        items: list[JSON] = []
        token = ""
        while True:
            query = {"limit": "500", **params}
            if token:
                query["continue"] = token
            page = await self.get(path, **query)
            items += page.get("items", [])
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return items


async def gather_limited(count: int, coros: Any) -> list[Any]:
    """Run coroutines with at most `count` in flight; results in order."""
    semaphore = asyncio.Semaphore(count)

    async def one(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


Handler = Callable[[str, JSON, float], None]


class Watcher:
    """A watch stream on a collection, from a list's resourceVersion, reconnecting.

    `handler(type, object, arrival)` runs for every event (arrival = time.time() when
    its line was read). With `types`, lines of other event types are skipped before
    they are parsed (the type comes first in the line), to keep the client light.
    """

    def __init__(
        self,
        client: Client,
        path: str,
        handler: Handler,
        *,
        params: Mapping[str, str] | None = None,
        types: tuple[str, ...] | None = None,
        initial: bool = True,
    ) -> None:
        self.client = client
        self.path = path
        self.handler = handler
        self.params = dict(params or {})
        self.prefixes = tuple(f'{{"type":"{t}"'.encode() for t in types) if types else None
        self.initial = initial
        self.events = 0
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> Watcher:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 120)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        listing = await self.client.get(self.path, **self.params)
        version = str(listing["metadata"]["resourceVersion"])
        if self.initial:
            now = time.time()
            for item in listing.get("items", []):
                self.handler("ADDED", item, now)
        self._ready.set()
        while True:
            query = {
                **self.params,
                "watch": "1",
                "resourceVersion": version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "3600",
            }
            try:
                async with self.client.session.get(
                    self.client.server + self.path,
                    params=query,
                    timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
                ) as response:
                    if response.status == 410:
                        listing = await self.client.get(self.path, **self.params)
                        version = str(listing["metadata"]["resourceVersion"])
                        continue
                    buffer = b""
                    async for chunk in response.content.iter_any():
                        arrival = time.time()
                        buffer += chunk
                        *lines, buffer = buffer.split(b"\n")
                        for line in lines:
                            if not line:
                                continue
                            if line.startswith(b'{"type":"BOOKMARK"') or line.startswith(
                                b'{"type":"ERROR"'
                            ):
                                event = json.loads(line)
                                if event["type"] == "ERROR":
                                    raise _GoneError
                                version = event["object"]["metadata"]["resourceVersion"]
                                continue
                            if self.prefixes is not None and not line.startswith(self.prefixes):
                                continue
                            event = json.loads(line)
                            obj = event["object"]
                            version = obj["metadata"]["resourceVersion"]
                            self.events += 1
                            self.handler(event["type"], obj, arrival)
            except _GoneError:
                listing = await self.client.get(self.path, **self.params)
                version = str(listing["metadata"]["resourceVersion"])
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.2)


class _GoneError(Exception):
    """The watch's resourceVersion is too old: list again."""
