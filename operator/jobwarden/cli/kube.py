"""The plugin's API access: raw JSON requests to the Kubernetes API.

The official `kubernetes` package is used only to read kubeconfig (contexts, exec
plugins, tokens, TLS) and as the HTTP transport; objects stay plain dicts, as in
manifests. It is imported here, lazily, so `--help` stays instant.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSON = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
GROUP = "jobwarden.dev"
API_VERSION = "jobwarden.dev/v1alpha1"
_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
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


class ConfigError(Exception):
    """No usable kubeconfig or in-cluster configuration."""


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
    """REST path of a collection or object; no namespace means all namespaces."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    parts = [base]
    if namespace:
        parts.append(f"namespaces/{urllib.parse.quote(namespace)}")
    parts.append(plural)
    if name:
        parts.append(urllib.parse.quote(name))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


class Kube:
    """GET/POST/PATCH on REST paths with dict bodies, as one kubeconfig identity."""

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        *,
        timeout: float = 30,
    ) -> None:
        self.timeout = timeout
        self.warnings: list[str] = []
        self._api, self.target = _connect(kubeconfig, context)

    @property
    def default_namespace(self) -> str:
        """The namespace of the kubeconfig context (else `default`)."""
        return self.target.namespace

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
        import urllib3  # noqa: PLC0415 - the transport, loaded with the client

        url_path = path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            method_, url, headers, _body, _post = self._api.param_serialize(
                method=method,
                resource_path=url_path,
                header_params=headers,
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(
                method_, url, header_params=headers, body=body, _request_timeout=self.timeout
            )
        except urllib3.exceptions.HTTPError as error:
            raise KubeError(
                method, path, 0, f"cannot reach the API server at {self.target.server}: {error}"
            ) from None
        raw = response.read() or b""
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
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


def _connect(kubeconfig: str | None, context: str | None) -> tuple[Any, Target]:
    """An ApiClient and the target, from kubeconfig (KUBECONFIG, ~/.kube/config) or,
    inside a pod without one, the in-cluster service account."""
    from kubernetes import client, config  # noqa: PLC0415 - slow import, only when needed

    env_paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    default = Path("~/.kube/config").expanduser()
    use_file = bool(kubeconfig) or bool(env_paths) or default.exists()
    if not use_file and os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException as error:
            raise ConfigError(f"no kubeconfig and no in-cluster configuration: {error}") from None
        namespace = (
            _SA_NAMESPACE.read_text().strip() if _SA_NAMESPACE.exists() else "default"
        ) or "default"
        return client.ApiClient(configuration), Target(namespace, configuration.host, None)
    if kubeconfig and not Path(kubeconfig).expanduser().exists():
        raise ConfigError(f"the kubeconfig file {kubeconfig} does not exist")
    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        chosen = current
        if context is not None:
            chosen = next((c for c in contexts if c.get("name") == context), None)
            if chosen is None:
                raise ConfigError(f'context "{context}" does not exist in the kubeconfig')
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except config.ConfigException as error:
        where = kubeconfig or os.environ.get("KUBECONFIG") or str(default)
        raise ConfigError(f"cannot use the kubeconfig {where}: {error}") from None
    namespace = str(((chosen or {}).get("context") or {}).get("namespace") or "default")
    name = (chosen or {}).get("name")
    return client.ApiClient(configuration), Target(namespace, configuration.host, name)
