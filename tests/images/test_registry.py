"""The registry client: image references, dockerconfig logins, tag listing with paging, digests,
basic and token auth against Debian's docker-registry, and hostile answers from a fake one."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest

from tests.images.conftest import (
    OCI_INDEX,
    OCI_MANIFEST,
    PASSWORD,
    USERNAME,
    FakeServer,
    Reply,
    RunningRegistry,
    Seen,
    TLSRegistry,
    TokenRegistry,
    basic_header,
    docker_registry,
    push_image,
    put_manifest,
)
from tether.images.dockerconfig import (
    Credentials,
    ImageRef,
    credentials_from_dockerconfig,
    parse_challenges,
    parse_image,
    parse_repository,
    realm_refusal,
)
from tether.images.errors import (
    ImageError,
    RegistryAuthError,
    RegistryResponseError,
    RegistryUnreachableError,
)
from tether.images.registry import (
    RegistryClient,
    RegistryLimits,
    compile_exclusions,
    next_page_url,
    scan_timeout,
)

LOGIN = Credentials(USERNAME, PASSWORD)
WRONG_LOGIN = Credentials(USERNAME, "wrong horse")
TAGS = ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.0.1", "latest", "main-abc123", "sha256-x.sig"]


class CountingTransport(httpx2.AsyncHTTPTransport):
    """Counts requests by path, to see pages and token requests happen."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.paths.append(request.url.path)
        return await super().handle_async_request(request)


@pytest.fixture
async def client() -> Any:
    async with RegistryClient() as registry_client:
        yield registry_client


def secret_data(auths: dict[str, Any]) -> dict[str, str]:
    document = json.dumps({"auths": auths}).encode()
    return {".dockerconfigjson": base64.b64encode(document).decode()}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def assert_no_secret(error: Exception, *secrets: str) -> None:
    text = str(error)
    for secret in (*secrets, b64(f"{USERNAME}:{PASSWORD}")):
        assert secret not in text


# --- references, logins and header grammars --------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "name", "api_host", "tag", "digest"),
    [
        ("nginx", "docker.io/library/nginx", "registry-1.docker.io", None, None),
        (
            "stefanprodan/podinfo",
            "docker.io/stefanprodan/podinfo",
            "registry-1.docker.io",
            None,
            None,
        ),
        (
            "index.docker.io/nginx:1.27",
            "docker.io/library/nginx",
            "registry-1.docker.io",
            "1.27",
            None,
        ),
        ("registry-1.docker.io/org/app", "docker.io/org/app", "registry-1.docker.io", None, None),
        ("ghcr.io/org/team/app:v1.2.3", "ghcr.io/org/team/app", "ghcr.io", "v1.2.3", None),
        ("host:5000/a/b", "host:5000/a/b", "host:5000", None, None),
        ("localhost/x", "localhost/x", "localhost", None, None),
        ("[::1]:5000/x_y/z-1", "[::1]:5000/x_y/z-1", "[::1]:5000", None, None),
        ("quay.io/a/b@sha256:" + "a" * 64, "quay.io/a/b", "quay.io", None, "sha256:" + "a" * 64),
    ],
)
def test_parse_image_names_registry_and_repository(
    reference: str, name: str, api_host: str, tag: str | None, digest: str | None
) -> None:
    image = parse_image(reference)
    assert (image.name, image.api_host, image.tag, image.digest) == (name, api_host, tag, digest)


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("", "empty"),
        ("https://ghcr.io/org/app", "protocol"),
        ("Nginx", "not a valid path component"),
        ("ghcr.io/Org/app", "not a valid path component"),
        ("ghcr.io//app", "path component is empty"),
        ("ghcr.io/app/", "path component is empty"),
        ("bad_host.io:abc/app", "registry host"),
        ("app:-tag", "not a valid tag"),
        ("app@sha256:zz", "not a digest"),
        ("ghcr.io/" + "a" * 300, "longer than 255"),
    ],
)
def test_parse_image_rejects_invalid_references(reference: str, why: str) -> None:
    with pytest.raises(ImageError, match="invalid image reference") as caught:
        parse_image(reference)
    assert why in str(caught.value)


def test_parse_repository_refuses_a_tag_or_digest_as_flux_does() -> None:
    assert parse_repository("ghcr.io/org/app") == ImageRef("ghcr.io", "org/app")
    with pytest.raises(ImageError, match=r"must not contain a tag; remove ':1\.0'"):
        parse_repository("ghcr.io/org/app:1.0")
    with pytest.raises(ImageError, match="must not contain a digest"):
        parse_repository("ghcr.io/org/app@sha256:" + "b" * 64)


def test_dockerconfig_login_is_chosen_by_registry_host() -> None:
    data = secret_data(
        {
            "https://index.docker.io/v1/": {"auth": b64("hub-user:hub:pass")},
            "registry.example.com:5000": {"username": "u5000", "password": "p5000"},
            "https://registry.example.com/v2/": {"auth": b64("plain:p")},
        }
    )
    assert credentials_from_dockerconfig(data, "docker.io") == Credentials("hub-user", "hub:pass")
    assert credentials_from_dockerconfig(data, "registry-1.docker.io") == Credentials(
        "hub-user", "hub:pass"
    )
    assert credentials_from_dockerconfig(data, "registry.example.com:5000") == Credentials(
        "u5000", "p5000"
    )
    assert credentials_from_dockerconfig(data, "REGISTRY.example.com") == Credentials("plain", "p")
    # a login for another port, or another host, is not used
    assert credentials_from_dockerconfig(data, "registry.example.com:6000") is None
    assert credentials_from_dockerconfig(data, "ghcr.io") is None
    assert "hub:pass" not in repr(credentials_from_dockerconfig(data, "docker.io"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": b64("x")}, "no .dockerconfigjson"),
        ({".dockerconfigjson": "%%%"}, "not valid base64"),
        ({".dockerconfigjson": b64("{not json, password=hunter2")}, "not JSON"),
        (secret_data({"ghcr.io": {"identitytoken": "hunter2"}}), "identity tokens"),
        (secret_data({"ghcr.io": {"auth": b64("hunter2")}}), "username:password"),
    ],
)
def test_dockerconfig_that_cannot_be_used_is_an_error_without_secrets(
    data: dict[str, str], message: str
) -> None:
    with pytest.raises(ImageError, match=message) as caught:
        credentials_from_dockerconfig(data, "ghcr.io")
    assert "hunter2" not in str(caught.value)


def test_challenges_are_parsed_with_quoted_commas() -> None:
    bearer, basic = parse_challenges(
        [
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/nginx:pull,push"',
            'Basic realm="Registry Realm"',
        ]
    )
    assert bearer.scheme == "bearer"
    assert bearer.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/nginx:pull,push",
    }
    assert (basic.scheme, basic.params) == ("basic", {"realm": "Registry Realm"})


@pytest.mark.parametrize(
    ("registry", "realm", "with_login", "refused"),
    [
        ("https://ghcr.io", "https://ghcr.io/token", True, None),
        ("https://registry-1.docker.io", "https://auth.docker.io/token", True, None),
        ("https://ghcr.io", "http://ghcr.io/token", False, "downgrade"),
        ("http://10.0.0.5:5000", "http://10.0.0.5:5001/token", True, None),
        ("http://10.0.0.5:5000", "http://evil.example/token", False, None),
        ("http://10.0.0.5:5000", "http://evil.example/token", True, "not on the registry's host"),
        ("https://ghcr.io", "ftp://ghcr.io/token", True, "not a usable"),
        ("https://ghcr.io", "https://user:pw@ghcr.io/token", True, "not a usable"),
        ("https://ghcr.io", "", False, "not a usable"),
    ],
)
def test_realm_rules_keep_logins_off_plain_http_elsewhere(
    registry: str, realm: str, with_login: bool, refused: str | None
) -> None:
    reason = realm_refusal(registry, realm, with_login=with_login)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason


def test_next_page_link_relative_absolute_or_none() -> None:
    current = "https://r.example/v2/a/tags/list?n=2"
    assert (
        next_page_url(['</v2/a/tags/list?n=2&last=b>; rel="next"'], current)
        == "https://r.example/v2/a/tags/list?n=2&last=b"
    )
    assert (
        next_page_url(
            ['<https://r.example/x?last=c>; rel=next, <https://r.example/y>; rel="prev"'], current
        )
        == "https://r.example/x?last=c"
    )
    assert next_page_url(['<https://r.example/y>; rel="prev"'], current) is None
    assert next_page_url([], current) is None


def test_exclusions_and_timeout_follow_flux() -> None:
    (pattern,) = compile_exclusions([r"^.*\.sig$"])
    assert pattern.search("sha256-abc.sig") and not pattern.search("1.0.0")
    with pytest.raises(ImageError, match="not a regular expression"):
        compile_exclusions(["(unclosed"])
    with pytest.raises(ImageError, match="more than 2 patterns"):
        compile_exclusions(["a", "b", "c"], RegistryLimits(max_exclusions=2))
    assert scan_timeout("30s", "5m") == 30.0
    assert scan_timeout(None, "5m") == 300.0  # Flux: the interval when no timeout is set
    assert scan_timeout("10ms", "5m") == 1.0


# --- a real registry: anonymous, htpasswd, token auth, TLS -----------------------------------


@pytest.fixture(scope="module")
def pushed(open_registry: RunningRegistry) -> dict[str, str]:
    """TAGS pushed to `open_registry` as `team/app`, plus an OCI index tagged `multi`."""
    digests = push_image(open_registry, "team/app", TAGS)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digests["1.0.0"],
                "size": 1,
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    with httpx.Client() as http:
        digests["multi"] = put_manifest(http, open_registry, "team/app", "multi", index, OCI_INDEX)
    return digests


async def test_lists_the_tags_of_a_real_registry(
    open_registry: RunningRegistry, pushed: dict[str, str]
) -> None:
    transport = CountingTransport()
    async with RegistryClient(limits=RegistryLimits(page_size=3), transport=transport) as client:
        tags = await client.list_tags(f"{open_registry.host}/team/app", insecure=True)
        everything = await client.list_tags(
            f"{open_registry.host}/team/app", insecure=True, exclusions=[]
        )
    assert sorted(tags) == sorted(t for t in pushed if not t.endswith(".sig"))
    assert sorted(everything) == sorted(pushed)
    # distribution 2.8 (Debian's) ignores `n` on tags/list and answers one page; paging is
    # exercised against the fake registry below, with distribution 3's Link format
    assert transport.paths == ["/v2/team/app/tags/list"] * 2


async def test_digests_are_those_the_registry_reports(
    client: RegistryClient, open_registry: RunningRegistry, pushed: dict[str, str]
) -> None:
    image = parse_repository(f"{open_registry.host}/team/app")
    found = await client.digests(image, ["1.0.0", "2.0.1", "multi", "no-such-tag"], insecure=True)
    assert found == {tag: pushed[tag] for tag in ("1.0.0", "2.0.1", "multi")}


async def test_missing_repository_says_repository_not_found(
    client: RegistryClient, open_registry: RunningRegistry
) -> None:
    with pytest.raises(RegistryResponseError, match="repository not found") as caught:
        await client.list_tags(f"{open_registry.host}/team/nothing", insecure=True)
    assert caught.value.image == f"{open_registry.host}/team/nothing"


async def test_plain_http_registry_without_insecure_is_unreachable(
    client: RegistryClient, open_registry: RunningRegistry
) -> None:
    with pytest.raises(RegistryUnreachableError, match="is the registry `insecure`"):
        await client.list_tags(f"{open_registry.host}/team/app", timeout=10)


async def test_stopped_registry_is_unreachable(client: RegistryClient, tmp_path: Path) -> None:
    with docker_registry(tmp_path / "stopped") as registry:
        pass
    with pytest.raises(RegistryUnreachableError, match="cannot reach the registry"):
        await client.list_tags(f"{registry.host}/team/app", insecure=True)


@pytest.fixture(scope="module")
def basic_pushed(basic_registry: RunningRegistry) -> dict[str, str]:
    return push_image(basic_registry, "private/app", ["1.0.0", "1.1.0"], basic_header())


async def test_htpasswd_registry_takes_the_login_from_the_secret(
    client: RegistryClient, basic_registry: RunningRegistry, basic_pushed: dict[str, str]
) -> None:
    data = secret_data({f"http://{basic_registry.host}": {"auth": b64(f"{USERNAME}:{PASSWORD}")}})
    image = parse_repository(f"{basic_registry.host}/private/app")
    login = credentials_from_dockerconfig(data, image.registry)
    assert login == LOGIN
    tags = await client.list_tags(image, credentials=login, insecure=True)
    assert sorted(tags) == ["1.0.0", "1.1.0"]
    assert await client.digests(image, ["1.1.0"], credentials=login, insecure=True) == {
        "1.1.0": basic_pushed["1.1.0"]
    }


async def test_htpasswd_registry_refuses_a_wrong_or_missing_login(
    client: RegistryClient, basic_registry: RunningRegistry, basic_pushed: dict[str, str]
) -> None:
    image = f"{basic_registry.host}/private/app"
    with pytest.raises(RegistryAuthError, match="refused the login of user 'scanner'") as caught:
        await client.list_tags(image, credentials=WRONG_LOGIN, insecure=True)
    assert_no_secret(caught.value, "wrong horse", b64(f"{USERNAME}:wrong horse"))
    with pytest.raises(RegistryAuthError, match="none is configured"):
        await client.list_tags(image, insecure=True)


@pytest.fixture(scope="module")
def token_pushed(token_registry: TokenRegistry) -> dict[str, str]:
    header = token_registry.tokens.push_header("private/app")
    return push_image(token_registry.registry, "private/app", ["3.0.0", "3.1.0"], header)


async def test_token_auth_against_a_real_registry_caches_the_token_per_login(
    token_registry: TokenRegistry, token_pushed: dict[str, str]
) -> None:
    image = f"{token_registry.registry.host}/private/app"
    async with RegistryClient() as client:
        assert sorted(await client.list_tags(image, credentials=LOGIN, insecure=True)) == [
            "3.0.0",
            "3.1.0",
        ]
        found = await client.digests(image, ["3.0.0", "3.1.0"], credentials=LOGIN, insecure=True)
        assert found == token_pushed
        assert client.token_requests == 1  # one token served the listing and both digests
        # anonymous access gets a token of its own (granting nothing), never the login's
        with pytest.raises(RegistryAuthError, match="refused the token") as caught:
            await client.list_tags(image, insecure=True)
        assert client.token_requests == 2
    assert "anonymous access" in str(caught.value)


async def test_token_service_refusing_the_login_is_an_auth_error(
    client: RegistryClient, token_registry: TokenRegistry, token_pushed: dict[str, str]
) -> None:
    image = f"{token_registry.registry.host}/private/app"
    with pytest.raises(
        RegistryAuthError, match=r"token service 127\.0\.0\.1 refused user"
    ) as caught:
        await client.list_tags(image, credentials=WRONG_LOGIN, insecure=True)
    assert_no_secret(caught.value, "wrong horse")


async def test_tls_registry_needs_its_ca(client: RegistryClient, tls_registry: TLSRegistry) -> None:
    registry = tls_registry.registry
    verify = ssl.create_default_context(cafile=str(tls_registry.ca_file))
    push_image(registry, "secure/app", ["0.1.0"], verify=verify)
    image = f"{registry.host}/secure/app"
    with pytest.raises(RegistryUnreachableError, match="certSecretRef"):
        await client.list_tags(image)
    assert await client.list_tags(image, ca_certificate=tls_registry.ca_pem) == ["0.1.0"]
    with pytest.raises(ImageError, match="not PEM"):
        await client.list_tags(image, ca_certificate="not a certificate")


# --- a fake registry: answers a real one never gives -----------------------------------------


def tag_page(name: str, tags: list[str], link: str | None = None) -> Reply:
    headers = {"Content-Type": "application/json"}
    if link is not None:
        headers["Link"] = f'<{link}>; rel="next"'
    return Reply(200, json.dumps({"name": name, "tags": tags}).encode(), headers)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>not json</html>", "not JSON"),
        (b'["1.0"]', "not a JSON object"),
        (b'{"tags": ["1.0"]}', "has no `name`"),
        (b'{"name": "other/app", "tags": ["1.0"]}', "is of 'other/app', not of 'team/app'"),
        (b'{"name": "team/app", "tags": "1.0"}', "is not a list"),
        (b'{"name": "team/app", "tags": ["1.0", "bad\\ntag: x"]}', "invalid tag"),
        (b'{"name": "team/app", "tags": [1]}', "invalid tag"),
    ],
)
async def test_malformed_tag_list_is_a_response_error(
    client: RegistryClient, fake_registry: FakeServer, body: bytes, message: str
) -> None:
    fake_registry.routes["/v2/team/app/tags/list"] = lambda seen: Reply(200, body)
    with pytest.raises(RegistryResponseError, match=message):
        await client.list_tags(f"{fake_registry.host}/team/app", insecure=True)


async def test_empty_repository_lists_no_tags(
    client: RegistryClient, fake_registry: FakeServer
) -> None:
    fake_registry.routes["/v2/team/app/tags/list"] = lambda seen: Reply(
        200, b'{"name": "team/app", "tags": null}'
    )
    assert await client.list_tags(f"{fake_registry.host}/team/app", insecure=True) == []


def paged(server: FakeServer, pages: int, per_page: int, absolute: bool = False) -> None:
    """Serve `pages` pages of the tag list of team/app, linked by `last=`."""

    def route(seen: Seen) -> Reply:
        page = int(seen.query.get("last", ["0"])[0])
        tags = [f"{page}.{i}.0" for i in range(per_page)]
        link = f"/v2/team/app/tags/list?n={per_page}&last={page + 1}"
        if absolute:
            link = server.url(link)
        return tag_page("team/app", tags, link if page + 1 < pages else None)

    server.routes["/v2/team/app/tags/list"] = route


@pytest.mark.parametrize("absolute", [False, True])
async def test_every_page_is_followed_by_its_next_link(
    fake_registry: FakeServer, absolute: bool
) -> None:
    paged(fake_registry, pages=3, per_page=2, absolute=absolute)
    async with RegistryClient(limits=RegistryLimits(page_size=2)) as client:
        tags = await client.list_tags(f"{fake_registry.host}/team/app", insecure=True)
    assert tags == ["0.0.0", "0.1.0", "1.0.0", "1.1.0", "2.0.0", "2.1.0"]
    pages = fake_registry.seen("/v2/team/app/tags/list")
    assert [page.query.get("last") for page in pages] == [None, ["1"], ["2"]]
    assert all(page.query["n"] == ["2"] for page in pages)


async def test_next_link_to_another_server_is_not_followed(
    client: RegistryClient, fake_registry: FakeServer, other_server: FakeServer
) -> None:
    fake_registry.routes["/v2/team/app/tags/list"] = lambda seen: tag_page(
        "team/app", ["1.0"], other_server.url("/v2/team/app/tags/list?last=1.0")
    )
    with pytest.raises(RegistryResponseError, match="on another server"):
        await client.list_tags(f"{fake_registry.host}/team/app", insecure=True)
    assert other_server.requests == []


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (RegistryLimits(max_tags=5), "more than 5 tags"),
        (RegistryLimits(max_pages=3), "more than 3 pages"),
        (RegistryLimits(max_page_bytes=40), "over 40 bytes"),
    ],
)
async def test_listing_past_its_bounds_is_a_response_error(
    fake_registry: FakeServer, limits: RegistryLimits, message: str
) -> None:
    paged(fake_registry, pages=10, per_page=4)
    async with RegistryClient(limits=limits) as client:
        with pytest.raises(RegistryResponseError, match=message):
            await client.list_tags(f"{fake_registry.host}/team/app", insecure=True)


async def test_pages_that_loop_are_a_response_error(
    client: RegistryClient, fake_registry: FakeServer
) -> None:
    fake_registry.routes["/v2/team/app/tags/list"] = lambda seen: tag_page(
        "team/app", ["1.0"], "/v2/team/app/tags/list?n=1000"
    )
    with pytest.raises(RegistryResponseError, match="pages loop"):
        await client.list_tags(f"{fake_registry.host}/team/app", insecure=True)


async def test_digest_without_header_is_the_sha256_of_the_manifest(
    client: RegistryClient, fake_registry: FakeServer
) -> None:
    manifest = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'
    fake_registry.routes["/v2/team/app/manifests/1.0"] = lambda seen: Reply(200, manifest)
    found = await client.digests(f"{fake_registry.host}/team/app", ["1.0"], insecure=True)
    assert found == {"1.0": "sha256:" + hashlib.sha256(manifest).hexdigest()}
    head, get = fake_registry.seen("/v2/team/app/manifests/1.0")
    assert (head.method, get.method) == ("HEAD", "GET")
    for media_type in (
        OCI_INDEX,
        OCI_MANIFEST,
        "application/vnd.docker.distribution.manifest.v2+json",
    ):
        assert media_type in head.headers["accept"]


async def test_digests_are_read_concurrently_within_the_limit(fake_registry: FakeServer) -> None:
    in_flight = {"now": 0, "peak": 0}

    def route(seen: Seen) -> Reply:
        in_flight["now"] += 1
        in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
        fake_registry.release.wait(0.05)
        in_flight["now"] -= 1
        digest = "sha256:" + hashlib.sha256(seen.path.encode()).hexdigest()
        return Reply(200, headers={"Docker-Content-Digest": digest})

    tags = [f"1.{i}" for i in range(20)]
    for tag in tags:
        fake_registry.routes[f"/v2/team/app/manifests/{tag}"] = route
    async with RegistryClient(limits=RegistryLimits(digest_concurrency=4)) as client:
        found = await client.digests(f"{fake_registry.host}/team/app", tags, insecure=True)
    assert list(found) == tags
    assert 1 < in_flight["peak"] <= 4


async def test_bearer_challenge_gets_a_pull_token_from_the_realm(
    client: RegistryClient, fake_registry: FakeServer, other_server: FakeServer
) -> None:
    challenge = f'Bearer realm="{other_server.url("/token")}",service="fake",scope="repository:team/app:push"'

    def tags(seen: Seen) -> Reply:
        if seen.headers.get("authorization") != "Bearer T0K3N":
            return Reply(401, b"{}", {"WWW-Authenticate": challenge})
        return tag_page("team/app", ["1.0"])

    fake_registry.routes["/v2/team/app/tags/list"] = tags
    other_server.routes["/token"] = lambda seen: Reply(200, b'{"access_token": "T0K3N"}')
    image = f"{fake_registry.host}/team/app"
    assert await client.list_tags(image, credentials=LOGIN, insecure=True) == ["1.0"]
    (asked,) = other_server.seen("/token")
    # the scan's own scope, whatever the challenge suggests; the login on the same host
    assert asked.query == {"scope": ["repository:team/app:pull"], "service": ["fake"]}
    assert asked.headers["authorization"] == basic_header()["Authorization"]


async def test_cached_token_is_renewed_when_it_expires_or_is_refused(
    fake_registry: FakeServer, other_server: FakeServer
) -> None:
    issued: list[str] = []
    valid: set[str] = set()

    def token(seen: Seen) -> Reply:
        issued.append(f"token-{len(issued)}")
        valid.add(issued[-1])
        return Reply(200, json.dumps({"token": issued[-1], "expires_in": 100}).encode())

    def tags(seen: Seen) -> Reply:
        if seen.headers.get("authorization", "").removeprefix("Bearer ") not in valid:
            challenge = f'Bearer realm="{other_server.url("/token")}",service="fake"'
            return Reply(401, b"{}", {"WWW-Authenticate": challenge})
        return tag_page("team/app", ["1.0"])

    fake_registry.routes["/v2/team/app/tags/list"] = tags
    other_server.routes["/token"] = token
    now = [1000.0]
    image = f"{fake_registry.host}/team/app"
    async with RegistryClient(clock=lambda: now[0]) as client:
        for _ in range(2):
            assert await client.list_tags(image, credentials=LOGIN, insecure=True) == ["1.0"]
        assert issued == ["token-0"]  # the second scan reused the token
        now[0] += 81  # past 80% of expires_in
        await client.list_tags(image, credentials=LOGIN, insecure=True)
        assert issued == ["token-0", "token-1"]
        valid.clear()  # the registry revokes every token: the cached one is replaced once
        await client.list_tags(image, credentials=LOGIN, insecure=True)
        assert issued == ["token-0", "token-1", "token-2"]


async def test_plain_http_realm_on_another_host_never_gets_the_login(
    client: RegistryClient, fake_registry: FakeServer, other_server: FakeServer
) -> None:
    realm = other_server.url("/token", host="localhost")
    fake_registry.routes["/v2/team/app/tags/list"] = lambda seen: Reply(
        401, b"{}", {"WWW-Authenticate": f'Bearer realm="{realm}",service="fake"'}
    )
    with pytest.raises(RegistryAuthError, match="not on the registry's host"):
        await client.list_tags(f"{fake_registry.host}/team/app", credentials=LOGIN, insecure=True)
    assert other_server.requests == []


async def test_error_text_from_the_registry_is_scrubbed_of_secrets(
    client: RegistryClient, fake_registry: FakeServer
) -> None:
    def echo(seen: Seen) -> Reply:
        if "authorization" not in seen.headers:
            return Reply(401, b"{}", {"WWW-Authenticate": 'Basic realm="r"'})
        echoed = f"you sent {seen.headers['authorization']} and {PASSWORD}"
        return Reply(500, json.dumps({"errors": [{"code": "BOOM", "message": echoed}]}).encode())

    fake_registry.routes["/v2/team/app/tags/list"] = echo
    with pytest.raises(
        RegistryResponseError, match="answered 500 BOOM: you sent Basic \\*\\*\\*"
    ) as caught:
        await client.list_tags(f"{fake_registry.host}/team/app", credentials=LOGIN, insecure=True)
    assert_no_secret(caught.value, PASSWORD)


async def test_unavailable_or_rate_limiting_registry_is_unreachable(
    client: RegistryClient, fake_registry: FakeServer
) -> None:
    answers = iter([Reply(503, b"down"), Reply(429, b'{"errors":[{"code":"TOOMANYREQUESTS"}]}')])
    fake_registry.routes["/v2/team/app/tags/list"] = lambda seen: next(answers)
    with pytest.raises(RegistryUnreachableError, match="answered 503"):
        await client.list_tags(f"{fake_registry.host}/team/app", insecure=True)
    with pytest.raises(RegistryUnreachableError, match="answered 429 TOOMANYREQUESTS"):
        await client.list_tags(f"{fake_registry.host}/team/app", insecure=True)


async def test_forbidden_is_an_auth_error(
    client: RegistryClient, fake_registry: FakeServer
) -> None:
    fake_registry.routes["/v2/team/app/tags/list"] = lambda seen: Reply(
        403,
        b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
    )
    with pytest.raises(RegistryAuthError, match=r"access denied to anonymous access.*DENIED"):
        await client.list_tags(f"{fake_registry.host}/team/app", insecure=True)


async def test_stalled_registry_fails_after_the_timeout(
    client: RegistryClient, fake_registry: FakeServer
) -> None:
    def stall(seen: Seen) -> Reply:
        fake_registry.release.wait(30)
        return tag_page("team/app", [])

    fake_registry.routes["/v2/team/app/tags/list"] = stall
    with pytest.raises(RegistryUnreachableError, match=r"within the timeout of 0\.5 s"):
        await client.list_tags(f"{fake_registry.host}/team/app", insecure=True, timeout=0.5)
