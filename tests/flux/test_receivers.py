"""Flux Receivers' verification, path and targets (the API server's use: tests/server)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tether.fields import InvalidSpecError
from tether.flux.receivers import (
    RejectedRequest,
    Target,
    parse_receiver,
    select,
    verify,
    webhook_path,
)
from tether.flux.specs import Unsupported

TOKEN = "s3cret"
BODY = b'{"ref":"refs/heads/main"}'


def _spec(type_: str, events: list[str] | None = None) -> dict[str, object]:
    return {
        "type": type_,
        "events": events or [],
        "secretRef": {"name": "token"},
        "resources": [{"kind": "GitRepository", "name": "app"}],
    }


def test_the_path_is_flux_s() -> None:
    digest = hashlib.sha256(b"s3cretreceiverflux-system").hexdigest()
    assert webhook_path(TOKEN, "receiver", "flux-system") == f"/hook/{digest}"


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_generic_hmac_takes_each_of_flux_s_hashes(algorithm: str) -> None:
    spec = parse_receiver(_spec("generic-hmac"), "ns")
    digest = hmac.new(TOKEN.encode(), BODY, getattr(hashlib, algorithm)).hexdigest()
    assert verify(spec, {"x-signature": f"{algorithm}={digest}"}, BODY, TOKEN)
    with pytest.raises(RejectedRequest, match="does not match"):
        verify(spec, {"x-signature": f"{algorithm}={digest}"}, BODY + b" ", TOKEN)
    with pytest.raises(RejectedRequest, match="missing"):
        verify(spec, {"x-signature": f"md5={digest}"}, BODY, TOKEN)


def test_github_takes_the_older_sha1_header_and_answers_ping() -> None:
    spec = parse_receiver(_spec("github", ["push"]), "ns")
    sha1 = "sha1=" + hmac.new(TOKEN.encode(), BODY, hashlib.sha1).hexdigest()
    headers = {"x-hub-signature": sha1, "x-github-event": "push"}
    assert verify(spec, headers, BODY, TOKEN) is True
    assert verify(spec, {**headers, "x-github-event": "ping"}, BODY, TOKEN) is False


def test_gitlab_compares_its_token_and_event() -> None:
    spec = parse_receiver(_spec("gitlab", ["Push Hook"]), "ns")
    assert verify(spec, {"x-gitlab-token": TOKEN, "x-gitlab-event": "Push Hook"}, BODY, TOKEN)
    with pytest.raises(RejectedRequest, match="X-Gitlab-Token"):
        verify(spec, {"x-gitlab-token": "nope", "x-gitlab-event": "Push Hook"}, BODY, TOKEN)
    with pytest.raises(RejectedRequest, match="not one of") as refused:
        verify(spec, {"x-gitlab-token": TOKEN, "x-gitlab-event": "Tag Push Hook"}, BODY, TOKEN)
    assert refused.value.status == 400


def test_specs_flux_would_refuse_or_tether_does_not_do() -> None:
    with pytest.raises(Unsupported, match="harbor receivers"):
        parse_receiver(_spec("harbor"), "ns")
    with pytest.raises(InvalidSpecError, match="not one of"):
        parse_receiver(_spec("svn"), "ns")
    with pytest.raises(InvalidSpecError, match=r"secretRef\.name"):
        parse_receiver({**_spec("generic"), "secretRef": {}}, "ns")
    with pytest.raises(InvalidSpecError, match="kind and name"):
        parse_receiver({**_spec("generic"), "resources": [{"kind": "GitRepository"}]}, "ns")


def test_a_star_target_selects_by_labels() -> None:
    objects = [
        {"metadata": {"name": "a", "labels": {"team": "web"}}},
        {"metadata": {"name": "b", "labels": {"team": "data"}}},
        {"metadata": {"name": "c"}},
    ]
    web = Target("v1", "Kustomization", "*", "ns", {"team": "web"})
    assert select(web, objects) == ["a"]
    assert select(Target("v1", "Kustomization", "*", "ns", {}), objects) == ["a", "b", "c"]
    assert select(Target("v1", "Kustomization", "b", "ns", {}), objects) == ["b"]
