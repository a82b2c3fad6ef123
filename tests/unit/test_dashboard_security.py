"""The dashboard's request checks: the secret token, Host, Origin, and how changes
must be sent. Pure: no server."""

from __future__ import annotations

import pytest

from jobwarden.dashboard.security import Guard, new_token

TOKEN = "s3cret-token_value"
PORT = 8123
HOST = {"Host": f"127.0.0.1:{PORT}"}
ORIGIN = f"http://127.0.0.1:{PORT}"
JSON_POST = {**HOST, "Origin": ORIGIN, "Content-Type": "application/json"}


@pytest.fixture
def guard() -> Guard:
    return Guard(TOKEN, PORT)


def test_tokens_are_long_and_fresh() -> None:
    tokens = {new_token() for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(t) >= 32 and "/" not in t for t in tokens)


@pytest.mark.parametrize(
    ("path", "rest"),
    [
        (f"/{TOKEN}/", "/"),
        (f"/{TOKEN}", "/"),
        (f"/{TOKEN}/runs", "/runs"),
        (f"/{TOKEN}/ns/a/jobruns/b", "/ns/a/jobruns/b"),
        ("/", None),
        ("/runs", None),
        (f"/{TOKEN}x/runs", None),
        (f"/{TOKEN[:-1]}/runs", None),
        (f"//{TOKEN}/runs", None),
        ("relative", None),
    ],
)
def test_only_paths_under_the_token_are_served(guard: Guard, path: str, rest: str | None) -> None:
    assert guard.split(path) == rest


def test_a_page_of_the_dashboard_is_served(guard: Guard) -> None:
    assert guard.check("GET", f"/{TOKEN}/runs?phase=Running", HOST).allowed
    assert guard.check("GET", f"/{TOKEN}/", {"host": f"localhost:{PORT}"}).allowed
    same = {**HOST, "Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
    assert guard.check("GET", f"/{TOKEN}/events", same).allowed
    typed = {**HOST, "Sec-Fetch-Site": "none"}
    assert guard.check("GET", f"/{TOKEN}/", typed).allowed


def test_a_json_post_from_the_dashboard_is_allowed(guard: Guard) -> None:
    assert guard.check("POST", f"/{TOKEN}/api/cancel", JSON_POST).allowed
    charset = {**JSON_POST, "Content-Type": "application/json; charset=utf-8"}
    assert guard.check("POST", f"/{TOKEN}/api/cancel", charset).allowed


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/runs", HOST, 403),
        ("GET", "/wrong/runs", HOST, 403),
        ("GET", f"/{TOKEN}/", {"Host": f"evil.example:{PORT}"}, 421),
        ("GET", f"/{TOKEN}/", {"Host": "127.0.0.1:9999"}, 421),
        ("GET", f"/{TOKEN}/", {}, 421),
        ("GET", f"/{TOKEN}/", {**HOST, "Origin": "http://evil.example"}, 403),
        ("GET", f"/{TOKEN}/", {**HOST, "Origin": "null"}, 403),
        ("GET", f"/{TOKEN}/", {**HOST, "Sec-Fetch-Site": "cross-site"}, 403),
        ("GET", f"/{TOKEN}/", {**HOST, "Sec-Fetch-Site": "same-site"}, 403),
        ("POST", f"/{TOKEN}/api/cancel", {**JSON_POST, "Origin": "http://evil.example"}, 403),
        ("POST", f"/{TOKEN}/api/cancel", {**HOST, "Content-Type": "application/json"}, 403),
        (
            "POST",
            f"/{TOKEN}/api/cancel",
            {**JSON_POST, "Content-Type": "application/x-www-form-urlencoded"},
            415,
        ),
        ("POST", f"/{TOKEN}/api/cancel", {**JSON_POST, "Content-Type": "text/plain"}, 415),
        ("POST", "/api/cancel", JSON_POST, 403),
    ],
)
def test_everything_else_is_refused(
    guard: Guard, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    verdict = guard.check(method, path, headers)
    assert not verdict.allowed
    assert verdict.status == status
    assert verdict.reason
