"""REST paths of the Kubernetes API, for every client in the package.

Pure (no HTTP client, no pydantic): the operator's engine and webhooks, the worker
SDK and the tests build their paths here, so a path is spelt one way only.
"""

from __future__ import annotations

from urllib.parse import quote

from jobwarden.api import constants as c


def resource_path(
    api_version: str,
    plural: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """The REST path of a collection or object, e.g. ("v1", "pods", "ns", "p").

    Names are quoted: a name typed by a user ("a/b", "..") stays one path segment."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    parts = [base]
    if namespace:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(plural)
    if name:
        parts.append(quote(name, safe=""))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


def object_path(
    kind: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """The REST path of one of jobwarden's own kinds (by kind, e.g. "JobRun")."""
    return resource_path(c.API_VERSION, c.PLURALS[kind], namespace, name, subresource)
