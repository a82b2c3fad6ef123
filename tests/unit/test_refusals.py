"""Which pod-create refusals are permanent and which transient (`core.refusals`), and
the backoff of the transient ones: table-driven, from what API servers answer."""

from __future__ import annotations

import itertools

import pytest

from jobwarden.core.refusals import (
    CREATE_RETRY_INITIAL_SECONDS,
    CREATES_PER_MINUTE_BOUND,
    ApiRefusal,
    RefusalCause,
    classify,
    create_retry_delay,
    describe,
)

P, T = False, True  # permanent, transient
CASES = [
    # (what the API server answered, cause, transient)
    pytest.param(ApiRefusal(422, "Invalid", 'Pod "x-1" is invalid: spec.containers: '
                            "Required value"),
                 RefusalCause.INVALID, P, id="422 invalid template (containers: [])"),
    pytest.param(ApiRefusal(422, "Invalid", 'Pod "x-1" is invalid: spec.containers[0].name: '
                            'Invalid value: "Bad_Name"'),
                 RefusalCause.INVALID, P, id="422 invalid container name"),
    pytest.param(ApiRefusal(400, "BadRequest", "json: cannot unmarshal"),
                 RefusalCause.INVALID, P, id="400 bad request"),
    pytest.param(ApiRefusal(413, "RequestEntityTooLarge", "too large"),
                 RefusalCause.INVALID, P, id="413 too large"),
    pytest.param(ApiRefusal(403, "Forbidden", 'pods "x-1" is forbidden: violates PodSecurity '
                            '"restricted:latest": privileged (container "main" must not set '
                            "securityContext.privileged=true)"),
                 RefusalCause.POLICY, P, id="403 PodSecurity"),
    pytest.param(ApiRefusal(403, "Forbidden", 'pods "x-1" is forbidden: maximum memory usage per '
                            "Container is 1Gi, but limit is 2Gi"),
                 RefusalCause.POLICY, P, id="403 LimitRange"),
    pytest.param(ApiRefusal(403, "Forbidden", 'pods "x-1" is forbidden: failed quota: q: must '
                            "specify limits.cpu for: main"),
                 RefusalCause.POLICY, P, id="403 quota needs limits (the pod never changes)"),
    pytest.param(ApiRefusal(403, "Forbidden", 'admission webhook "policy.example.com" denied the '
                            "request: images must come from our registry"),
                 RefusalCause.POLICY, P, id="403 a validating webhook's denial"),
    pytest.param(ApiRefusal(403, "Forbidden", 'pods "x-1" is forbidden: unable to create new '
                            "content in namespace t because it is being terminated",
                            ("NamespaceTerminating",)),
                 RefusalCause.NAMESPACE_TERMINATING, P, id="403 namespace terminating"),
    pytest.param(ApiRefusal(403, "Forbidden", "forbidden", ("NamespaceTerminating",)),
                 RefusalCause.NAMESPACE_TERMINATING, P, id="403 namespace terminating (cause)"),
    pytest.param(ApiRefusal(404, "NotFound", 'namespaces "t" not found'),
                 RefusalCause.NAMESPACE_NOT_FOUND, P, id="404 namespace gone"),
    pytest.param(ApiRefusal(403, "Forbidden", 'pods "x-1" is forbidden: exceeded quota: q, '
                            "requested: pods=1, used: pods=1, limited: pods=1"),
                 RefusalCause.QUOTA, T, id="403 exceeded quota"),
    pytest.param(ApiRefusal(403, "Forbidden", 'pods "x-1" is forbidden: status unknown for quota: '
                            "q, resources: pods"),
                 RefusalCause.QUOTA, T, id="403 a new quota not yet counted"),
    pytest.param(ApiRefusal(403, "Forbidden", 'pods "x-1" is forbidden: error looking up service '
                            'account t/builder: serviceaccount "builder" not found'),
                 RefusalCause.SERVICE_ACCOUNT, T, id="403 ServiceAccount missing (may appear)"),
    pytest.param(ApiRefusal(429, "TooManyRequests", "too many requests", retry_after_seconds=1),
                 RefusalCause.THROTTLED, T, id="429 throttled"),
    pytest.param(ApiRefusal(500, "InternalError", 'Internal error occurred: failed calling webhook '
                            '"x": connection refused'),
                 RefusalCause.SERVER_ERROR, T, id="500 a webhook could not be called"),
    pytest.param(ApiRefusal(503, "ServiceUnavailable", "etcd leader changed"),
                 RefusalCause.SERVER_ERROR, T, id="503 unavailable"),
    pytest.param(ApiRefusal(504, "Timeout", "the server was unable to return a response in time"),
                 RefusalCause.SERVER_ERROR, T, id="504 timeout"),
    pytest.param(ApiRefusal(0, message="TimeoutError()"),
                 RefusalCause.UNREACHABLE, T, id="no answer (client timeout)"),
    pytest.param(ApiRefusal(409, "Conflict", "the object has been modified"),
                 RefusalCause.CONFLICT, T, id="409 other than AlreadyExists"),
    pytest.param(ApiRefusal(401, "Unauthorized", "Unauthorized"),
                 RefusalCause.UNAUTHORIZED, T, id="401 (token rotated)"),
]  # fmt: skip


@pytest.mark.parametrize(("refusal", "cause", "transient"), CASES)
def test_classify(refusal: ApiRefusal, cause: RefusalCause, transient: bool) -> None:
    verdict = classify(refusal)
    assert (verdict.cause, verdict.transient, verdict.permanent) == (
        cause,
        transient,
        not transient,
    )


@pytest.mark.parametrize(
    ("refusals", "retry_after", "delay"),
    [
        pytest.param(1, None, 5, id="first refusal: 5 s"),
        pytest.param(2, None, 10, id="second: 10 s"),
        pytest.param(3, None, 20, id="third: 20 s"),
        pytest.param(4, None, 30, id="capped at 30 s"),
        pytest.param(50, None, 30, id="stays capped"),
        pytest.param(1, 0.5, 5, id="a short Retry-After never makes it faster"),
        pytest.param(1, 45, 45, id="a longer Retry-After is honoured"),
        pytest.param(1, 10_000, 120, id="up to two minutes"),
    ],
)
def test_create_retry_delay(refusals: int, retry_after: float | None, delay: float) -> None:
    assert create_retry_delay(refusals, retry_after) == delay


def test_creates_per_minute_stay_within_the_documented_bound() -> None:
    """A create refused forever: no 60 s window holds more than the bound."""
    times, now = [0.0], 0.0
    for refusals in range(1, 60):
        now += create_retry_delay(refusals)
        times.append(now)
    worst = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert worst == CREATES_PER_MINUTE_BOUND
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= CREATE_RETRY_INITIAL_SECONDS


def test_describe_uses_the_api_servers_words() -> None:
    assert describe(ApiRefusal(403, "Forbidden", "exceeded quota: q")) == "exceeded quota: q"
    assert describe(ApiRefusal(0)) == "the API server did not answer"
    assert describe(ApiRefusal(502, "BadGateway")) == "HTTP 502 BadGateway"
