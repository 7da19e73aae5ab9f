"""Property tests of the API's JSON bodies: any JSON, shaped or not, and any bytes get an answer
below 500, errors in the API's JSON shape without a traceback, and a bounded answer.

The Starlette app is driven in-process (httpx's ASGI transport) over the real stack's
controller and cluster, for speed; hypothesis runs in a worker thread and hands each request to
the event loop the app lives on. Writes that only RBAC would stop go as the read-only ``alice``
(every handler checks the body before the permission); sync, rollback and refresh go as admin
on an application of this module, so the checks after the lookup are reached too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import WEBHOOK_SECRET, Stack
from tether.server import ServerSettings
from tether.server.app import create_app
from tether.source.webhooks import WebhookSecrets

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    # the controller on the event loop draws jitter from `random` while hypothesis draws in
    # its thread; hypothesis reads that as a strategy using `random` (it is not)
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

#: no answer of the API, error or not, may be larger than this for these small bodies
MAX_ANSWER_BYTES = 64 * 1024
EXAMPLES = 250

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=40)
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=25,
)


def _shaped(
    fields: dict[str, st.SearchStrategy[Any]], required: tuple[str, ...] = ()
) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the route's own keys, mostly with values of the expected kind (anything
    now and then) and sometimes a stray key, so that the checks past the first are reached."""
    values = {
        key: st.one_of(strategy, strategy, strategy, ANY_JSON) for key, strategy in fields.items()
    }
    known = st.fixed_dictionaries(
        {k: v for k, v in values.items() if k in required},
        optional={k: v for k, v in values.items() if k not in required},
    )
    stray = st.dictionaries(st.text(max_size=8), ANY_JSON, min_size=1, max_size=1)
    extra = st.one_of(st.just({}), st.just({}), st.just({}), stray)
    return st.builds(lambda known, extra: {**extra, **known}, known, extra)


TEXT = st.text(max_size=30)
NAMES = st.sampled_from(["fuzz", "a", "default", "UPPER", "a..b", "x" * 300]) | TEXT
VALID_NAME = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
SPEC = _shaped(
    {
        "project": st.just("default") | NAMES,
        "source": _shaped(
            {
                "repoURL": st.sampled_from(["https://example.com/r.git", "file:///etc", ""]) | TEXT,
                "path": TEXT,
                "targetRevision": TEXT,
                "helm": ANY_JSON,
                "kustomize": ANY_JSON,
                "directory": ANY_JSON,
            },
            required=("repoURL", "path"),
        ),
        "sources": st.lists(ANY_JSON, max_size=2),
        "destination": _shaped(
            {
                "server": st.just("https://kubernetes.default.svc") | TEXT,
                "namespace": VALID_NAME | TEXT,
                "name": TEXT,
            },
            required=("server", "namespace"),
        ),
        "syncPolicy": _shaped({"automated": ANY_JSON, "syncOptions": ANY_JSON, "retry": ANY_JSON}),
        "ignoreDifferences": st.lists(
            _shaped({"kind": TEXT, "jsonPointers": ANY_JSON, "jqPathExpressions": ANY_JSON}),
            max_size=2,
        ),
        "revisionHistoryLimit": ANY_JSON,
    },
    required=("source", "destination"),
)


def _application(names: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return _shaped(
        {
            "apiVersion": st.just("argoproj.io/v1alpha1"),
            "kind": st.just("Application"),
            "metadata": _shaped(
                {"name": names, "labels": ANY_JSON, "annotations": ANY_JSON}, required=("name",)
            ),
            "spec": SPEC,
        },
        required=("metadata", "spec"),
    )


RESOURCE_REF = _shaped({"group": TEXT, "kind": TEXT, "namespace": TEXT, "name": TEXT})


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    user: str | None
    shape: st.SearchStrategy[Any]
    signed: str | None = None  # the webhook provider whose signature is added


def _targets(app: str) -> list[Target]:
    base = f"/api/v1/applications/{app}"
    return [
        Target("POST", "/api/v1/applications", "alice", _application(VALID_NAME | NAMES)),
        Target("PUT", base, "alice", _application(st.just(app) | NAMES)),
        Target(
            "POST",
            f"{base}/sync",
            "admin",
            _shaped(
                {
                    "revision": TEXT,
                    "prune": st.booleans(),
                    "dryRun": st.just(True),
                    "resources": st.lists(RESOURCE_REF, max_size=3),
                    "syncOptions": st.lists(TEXT, max_size=3),
                }
            ),
        ),
        Target(
            "POST",
            f"{base}/rollback",
            "admin",
            _shaped({"id": st.integers(-5, 5), "prune": st.booleans(), "dryRun": st.booleans()}),
        ),
        Target("POST", f"{base}/refresh", "admin", _shaped({"hard": st.booleans()})),
        Target("POST", "/api/v1/session", None, _shaped({"username": TEXT, "password": TEXT})),
        Target("POST", "/api/v1/account/token", "bob", _shaped({"expiresIn": SCALARS, "id": TEXT})),
        Target(
            "PUT",
            "/api/v1/account/password",
            "bob",
            _shaped({"name": NAMES, "currentPassword": TEXT, "newPassword": TEXT}),
        ),
        Target(
            "POST",
            "/api/v1/projects",
            "alice",
            _shaped(
                {
                    "metadata": _shaped({"name": NAMES, "labels": ANY_JSON}),
                    "spec": _shaped(
                        {
                            "sourceRepos": ANY_JSON,
                            "destinations": ANY_JSON,
                            "clusterResourceWhitelist": ANY_JSON,
                            "roles": ANY_JSON,
                        }
                    ),
                }
            ),
        ),
        Target(
            "POST",
            "/api/v1/repositories",
            "alice",
            _shaped(
                {
                    "repo": st.sampled_from(["https://h/r.git", "git@h:r.git", "ext::sh"]) | TEXT,
                    "username": TEXT,
                    "password": TEXT,
                    "type": st.sampled_from(["git", "helm"]) | TEXT,
                    "insecure": st.booleans(),
                }
            ),
        ),
        Target(
            "POST",
            "/api/v1/clusters",
            "alice",
            _shaped(
                {
                    "server": st.sampled_from(["https://10.0.0.1:6443"]) | TEXT,
                    "name": TEXT,
                    "config": ANY_JSON,
                    "namespaces": ANY_JSON,
                    "project": TEXT,
                }
            ),
        ),
        Target(
            "POST",
            "/api/webhook",
            None,
            _shaped(
                {
                    "ref": st.sampled_from(["refs/heads/main"]) | TEXT,
                    "after": TEXT,
                    "repository": _shaped({"clone_url": TEXT, "html_url": TEXT}) | ANY_JSON,
                    "commits": ANY_JSON,
                }
            ),
            signed="github",
        ),
        Target(
            "POST",
            "/api/webhook",
            None,
            _shaped({"repository": TEXT | st.lists(TEXT, max_size=2) | ANY_JSON}),
            signed="generic",
        ),
    ]


def _encode(value: Any) -> bytes:
    # the standard library writes what orjson refuses too (NaN, huge integers, lone surrogates)
    return json.dumps(value).encode()


def _signature_headers(provider: str | None, body: bytes) -> dict[str, str]:
    if provider is None:
        return {}
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    if provider == "github":
        return {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={digest}"}
    return {"X-Tether-Event": "push", "X-Tether-Signature": f"sha256={digest}"}


def check_answer(answer: httpx.Response, where: str) -> None:
    """Below 500, bounded, and an error in the API's shape without a traceback."""
    assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.text[:2000]}"
    assert len(answer.content) <= MAX_ANSWER_BYTES, f"{where}: {len(answer.content)} bytes"
    assert "Traceback" not in answer.text and 'File "' not in answer.text, where
    if answer.status_code >= 400:
        body = answer.json()
        assert set(body) == {"error", "code"} and body["code"] == answer.status_code, where
        assert isinstance(body["error"], str) and body["error"], where


@dataclass
class Fuzzer:
    http: httpx.AsyncClient
    tokens: dict[str, str]
    app: str
    loop: asyncio.AbstractEventLoop

    def send(self, target: Target, body: bytes) -> httpx.Response:
        """One request, from hypothesis' thread, answered by the app on the event loop."""
        headers = {"Content-Type": "application/json", **_signature_headers(target.signed, body)}
        if target.user is not None:
            headers["Authorization"] = f"Bearer {self.tokens[target.user]}"
        request = self.http.request(target.method, target.path, content=body, headers=headers)
        return asyncio.run_coroutine_threadsafe(request, self.loop).result(timeout=120)

    async def run(self, prop: Callable[[], None]) -> None:
        await asyncio.to_thread(prop)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzzer(stack: Stack) -> AsyncIterator[Fuzzer]:
    name = await stack.manual_app("fuzz")
    app = create_app(
        stack.controller,
        ServerSettings(
            webhook_secrets=WebhookSecrets(github=WEBHOOK_SECRET, generic=WEBHOOK_SECRET),
            login_lockout_seconds=600,
        ),
    )
    await app.state.tether.bootstrap()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fuzz") as http:
        yield Fuzzer(http, stack.tokens, name, asyncio.get_running_loop())


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _route_ids(fuzzer: Fuzzer) -> list[Target]:
    return _targets(fuzzer.app)


async def test_shaped_and_arbitrary_json_bodies_never_get_a_server_error(fuzzer: Fuzzer) -> None:
    targets = _route_ids(fuzzer)

    # by index: a strategy over the targets themselves would print every shape in its repr
    requests = st.sampled_from(range(len(targets))).flatmap(
        lambda i: st.tuples(st.just(i), targets[i].shape | ANY_JSON)
    )

    @settings(FUZZ_SETTINGS, max_examples=EXAMPLES * len(targets) // 2)
    @given(request=requests)
    def prop(request: tuple[int, Any]) -> None:
        index, value = request
        target = targets[index]
        body = _encode(value)
        check_answer(fuzzer.send(target, body), f"{target.method} {target.path} {body[:300]!r}")

    await fuzzer.run(prop)


async def test_arbitrary_bytes_get_a_4xx_in_the_error_shape(fuzzer: Fuzzer) -> None:
    targets = _route_ids(fuzzer)
    near_json = st.sampled_from([b"{", b"[", b'{"a":', b"\xef\xbb\xbf{}", b"{}" * 2, b"\x00"])

    @settings(FUZZ_SETTINGS, max_examples=EXAMPLES * len(targets) // 4)
    @given(index=st.sampled_from(range(len(targets))), body=st.binary(max_size=300) | near_json)
    def prop(index: int, body: bytes) -> None:
        target = targets[index]
        answer = fuzzer.send(target, body)
        where = f"{target.method} {target.path} {body[:300]!r}"
        check_answer(answer, where)
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        # an empty body is a valid request where the body is optional (sync, refresh, token)
        if not isinstance(parsed, dict) and body.strip():
            assert 400 <= answer.status_code < 500, f"{where}: {answer.status_code}"

    await fuzzer.run(prop)


async def test_echoed_values_do_not_make_answers_grow(fuzzer: Fuzzer) -> None:
    """A huge name or field is refused without being quoted back in full."""
    huge = "X" * 500_000
    cases = [
        (_targets(fuzzer.app)[0], {"metadata": {"name": huge}, "spec": {}}),
        (_targets(fuzzer.app)[0], {huge: 1}),
        (_targets(fuzzer.app)[9], {"repo": huge}),
        (_targets(fuzzer.app)[2], {"resources": [{"kind": "K", "name": huge}]}),
    ]
    for target, value in cases:
        answer = await fuzzer.http.request(
            target.method,
            target.path,
            content=_encode(value),
            headers={"Authorization": f"Bearer {fuzzer.tokens[target.user or 'admin']}"},
        )
        check_answer(answer, f"{target.method} {target.path}")
        assert 400 <= answer.status_code < 500
