"""Who may talk to the dashboard: the browser that was given the URL, nobody else.

The server listens on 127.0.0.1 only. Every request must carry the secret token in
its path (`/<token>/…`), name the server itself in `Host` (no DNS rebinding), and,
when the browser says where it comes from (`Origin`, `Sec-Fetch-Site`), come from
the dashboard's own pages. Requests that change something (POST) must also send
`Origin` and JSON, so a form or a script on another site can never drive it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

LOOPBACK_NAMES = ("127.0.0.1", "localhost")
TOKEN_BYTES = 24


def new_token() -> str:
    """A fresh URL-safe secret (192 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class Verdict:
    """Whether a request may be served; if not, the status and why."""

    allowed: bool
    status: int = 200
    reason: str = ""


ALLOW = Verdict(True)


class Guard:
    """The checks for one server: its token and port."""

    def __init__(self, token: str, port: int) -> None:
        self.token = token
        self.port = port

    @property
    def hosts(self) -> frozenset[str]:
        """The Host headers the server answers to."""
        return frozenset(f"{name}:{self.port}" for name in LOOPBACK_NAMES)

    @property
    def origins(self) -> frozenset[str]:
        """The Origins of the dashboard's own pages."""
        return frozenset(f"http://{host}" for host in self.hosts)

    def split(self, path: str) -> str | None:
        """The path after `/<token>`, or None without the right token."""
        if not path.startswith("/"):
            return None
        token, slash, rest = path[1:].partition("/")
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return None
        return "/" + rest if slash else "/"

    def check(self, method: str, path: str, headers: Mapping[str, str]) -> Verdict:
        """Decide on a request from its method, raw path and headers (names in any
        case)."""
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("host", "") not in self.hosts:
            return Verdict(False, 421, "wrong Host header")
        if self.split(path.split("?", 1)[0]) is None:
            return Verdict(False, 403, "missing or wrong token")
        origin = lower.get("origin")
        if origin is not None and origin not in self.origins:
            return Verdict(False, 403, "cross-origin request")
        site = lower.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return Verdict(False, 403, "cross-site request")
        if method not in ("GET", "HEAD"):
            if origin is None:
                return Verdict(False, 403, "a change needs an Origin header")
            content_type = lower.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                return Verdict(False, 415, "a change must be sent as JSON")
        return ALLOW
