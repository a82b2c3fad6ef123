"""A raw-JSON Kubernetes client for tests: objects are plain dicts, as in manifests.

It rides on the official client's transport (kubeconfig, TLS, tokens) and keeps
tests free of the generated model classes.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from kubernetes import client

JSON = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class KubeError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.status = status
        self.body = body
        try:
            self.details: JSON = json.loads(body)
        except ValueError:
            self.details = {}
        self.message = str(self.details.get("message", body))
        super().__init__(f"{method} {path} → {status}: {self.message}")


class Kube:
    """GET/POST/PATCH/DELETE on REST paths, with dict bodies."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client

    def request(
        self,
        method: str,
        path: str,
        *,
        body: JSON | list[JSON] | None = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> JSON:
        """Send one request; raise KubeError unless the answer is 2xx."""
        url_path = path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Accept": "application/json", "Content-Type": content_type}
        method_, url, headers, _body, _post = self.api_client.param_serialize(
            method=method,
            resource_path=url_path,
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        # The transport serialises dict and list bodies itself.
        response = self.api_client.call_api(
            method_, url, header_params=headers, body=body, _request_timeout=timeout
        )
        raw = response.read() or b""  # type: ignore[no-untyped-call]
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        if not 200 <= response.status < 300:
            raise KubeError(method, path, response.status, text)
        result: JSON = json.loads(text) if text else {}
        return result

    def get_text(self, path: str, **query: str) -> str:
        """GET a plain-text answer (a pod's log: the API server asks the kubelet)."""
        url_path = path + ("?" + urllib.parse.urlencode(query) if query else "")
        method_, url, headers, _body, _post = self.api_client.param_serialize(
            method="GET",
            resource_path=url_path,
            header_params={"Accept": "*/*"},
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(method_, url, header_params=headers)
        raw = response.read() or b""  # type: ignore[no-untyped-call]
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        if not 200 <= response.status < 300:
            raise KubeError("GET", path, response.status, text)
        return text

    def get(self, path: str, **query: str) -> JSON:
        """Read an object or list a collection."""
        return self.request("GET", path, query=query or None)

    def create(self, path: str, body: JSON, **query: str) -> JSON:
        """POST a new object into a collection."""
        return self.request("POST", path, body=body, query=query or None)

    def merge_patch(self, path: str, body: JSON, **query: str) -> JSON:
        """Apply a JSON merge patch."""
        return self.request("PATCH", path, body=body, query=query or None, content_type=MERGE_PATCH)

    def json_patch(self, path: str, operations: list[JSON]) -> JSON:
        """Apply a JSON patch (RFC 6902)."""
        return self.request("PATCH", path, body=operations, content_type=JSON_PATCH)

    def replace(self, path: str, body: JSON) -> JSON:
        """PUT a whole object."""
        return self.request("PUT", path, body=body)

    def delete(self, path: str, grace_period_seconds: int | None = None) -> JSON:
        """DELETE an object, optionally with a grace period."""
        options: JSON = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        return self.request("DELETE", path, body=options)

    def exists(self, path: str) -> bool:
        """Whether the object at `path` exists (404 → False)."""
        try:
            self.get(path)
        except KubeError as error:
            if error.status == 404:
                return False
            raise
        return True
