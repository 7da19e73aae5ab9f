"""Property tests: whatever the headers and body, `parse_webhook` returns an event or raises a
`WebhookError`, never another exception, and refuses an oversized body before any other work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.source.test_webhooks import SECRET, SECRETS, sign
from tether.source import (
    WebhookError,
    WebhookEvent,
    WebhookPayloadTooLargeError,
    WebhookSecrets,
    parse_webhook,
)
from tether.source.webhooks import RefUpdate


def _hub(body: bytes) -> str:
    return "sha256=" + sign(body)


# Any text, lone surrogates included: header values are whatever a client sent.
ANY_TEXT = st.text(
    st.characters(codec=None, exclude_categories=()) | st.characters(categories=["Cs"]),
    max_size=16,
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)


def shaped(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An object with any subset of `fields` (each of its shape or any JSON), or any JSON:
    payloads close enough to the real ones to reach every branch of the parsers."""
    return st.fixed_dictionaries({}, optional={k: v | JSON for k, v in fields.items()}) | JSON


def many(item: st.SearchStrategy[Any], max_size: int = 3) -> st.SearchStrategy[Any]:
    return st.lists(item, max_size=max_size) | JSON


URL = st.sampled_from(["https://h/o/r.git", "git@h:o/r.git", "http://[::1", "x"]) | ANY_TEXT
SHA = st.sampled_from(["a" * 40, "0" * 40]) | ANY_TEXT
REF = st.sampled_from(["refs/heads/main", "refs/tags/v1"]) | ANY_TEXT
# More than 20 commits crosses the GitHub and GitLab caps on listed commits.
COMMITS = many(shaped(added=many(ANY_TEXT), modified=many(ANY_TEXT), removed=many(ANY_TEXT)), 22)
GITHUB = shaped(
    ref=REF,
    before=SHA,
    after=SHA,
    repository=shaped(clone_url=URL, html_url=URL, ssh_url=URL, git_url=URL),
    commits=COMMITS,
)
GITLAB = shaped(
    ref=REF,
    before=SHA,
    after=SHA,
    total_commits_count=st.integers(0, 30),
    project=shaped(git_http_url=URL, git_ssh_url=URL, web_url=URL),
    repository=shaped(git_http_url=URL, git_ssh_url=URL, homepage=URL),
    commits=COMMITS,
)
BITBUCKET_REF = shaped(
    type=st.sampled_from(["branch", "tag", "annotated_tag"]), name=ANY_TEXT, target=shaped(hash=SHA)
)
BITBUCKET = shaped(
    repository=shaped(full_name=ANY_TEXT, links=shaped(html=shaped(href=URL))),
    push=shaped(changes=many(shaped(old=BITBUCKET_REF, new=BITBUCKET_REF))),
)
BITBUCKET_SERVER = shaped(
    repository=shaped(links=shaped(clone=many(shaped(href=URL)))),
    changes=many(
        shaped(refId=REF, ref=shaped(id=REF), fromHash=SHA, toHash=SHA),
    ),
)
GENERIC = shaped(
    repository=URL | many(URL),
    refs=many(shaped(ref=REF, before=SHA, after=SHA)),
    files=many(ANY_TEXT),
)

# name: (event header, event, proof header, proof for a body, payloads)
Provider = tuple[str, str, str, Callable[[bytes], str], st.SearchStrategy[Any]]
PROVIDERS: dict[str, Provider] = {
    "github": ("X-GitHub-Event", "push", "X-Hub-Signature-256", _hub, GITHUB),
    "gitlab": ("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", lambda body: SECRET, GITLAB),
    "bitbucket": ("X-Event-Key", "repo:push", "X-Hub-Signature", _hub, BITBUCKET),
    "bitbucket-server": (
        "X-Event-Key",
        "repo:refs_changed",
        "X-Hub-Signature",
        _hub,
        BITBUCKET_SERVER,
    ),
    "gitea": ("X-Gitea-Event", "push", "X-Gitea-Signature", sign, GITHUB),
    "gogs": ("X-Gogs-Event", "push", "X-Gogs-Signature", sign, GITHUB),
    "generic": ("X-Tether-Event", "push", "X-Tether-Signature", _hub, GENERIC),
}


def _json_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # a lone surrogate in a key or string: send it as undecodable bytes
        return repr(value).encode("utf-8", "surrogatepass")


def _check(event: WebhookEvent) -> None:
    """What consumers do with an event must not raise either."""
    assert isinstance(event.repo_urls, tuple)
    assert all(isinstance(url, str) for url in event.repo_urls)
    assert all(isinstance(ref, RefUpdate) and isinstance(ref.ref, str) for ref in event.refs)
    event.repositories  # noqa: B018 (computes the canonical forms)
    event.concerns("https://github.com/org/repo.git")


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(sorted(PROVIDERS)).flatmap(
        lambda name: st.tuples(st.just(name), PROVIDERS[name][4])
    ),
    st.booleans(),
)
def test_signed_payloads_parse_or_raise_a_webhook_error(
    provider_payload: tuple[str, Any], ping: bool
) -> None:
    name, payload = provider_payload
    event_header, event, proof_header, proof, _ = PROVIDERS[name]
    body = _json_bytes(payload)
    headers = {event_header: "ping" if ping else event, proof_header: proof(body)}
    try:
        result = parse_webhook(headers, body, SECRETS)
    except WebhookError as error:
        assert error.status in (400, 401, 403, 413) and str(error)
        return
    _check(result)


NAMES = [name for p in PROVIDERS.values() for name in (p[0], p[2])] + [
    "X-Hook-UUID",
    "X-Request-Id",
    "X-Request-UUID",
]
HEADER_NAMES = st.sampled_from(NAMES)
HEADERS = st.fixed_dictionaries(
    {}, optional={name: ANY_TEXT | st.sampled_from(["push", SECRET]) for name in NAMES}
) | st.dictionaries(HEADER_NAMES.map(str.lower) | ANY_TEXT, ANY_TEXT, max_size=4)


@settings(max_examples=1000, deadline=None)
@given(
    HEADERS,
    st.binary(max_size=512) | st.one_of(p[4] for p in PROVIDERS.values()).map(_json_bytes),
    st.sampled_from([SECRETS, WebhookSecrets(), WebhookSecrets(bitbucket_uuid=SECRET)]),
)
def test_arbitrary_requests_parse_or_raise_a_webhook_error(
    headers: dict[str, str], body: bytes, secrets: WebhookSecrets
) -> None:
    try:
        result = parse_webhook(headers, body, secrets)
    except WebhookError as error:
        assert str(error)
        return
    _check(result)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(HEADER_NAMES | ANY_TEXT, ANY_TEXT, max_size=4), st.integers(1, 4096))
def test_oversized_bodies_are_refused_before_anything_else(
    headers: dict[str, str], limit: int
) -> None:
    body = b"{" * (limit + 1)
    try:
        parse_webhook(headers, body, SECRETS, max_body_bytes=limit)
    except WebhookPayloadTooLargeError as error:
        assert error.status == 413 and str(limit) in str(error)
    else:
        raise AssertionError("an oversized body was accepted")
