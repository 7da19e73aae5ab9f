"""Helm's release Secrets read as helm writes them (round trip through the encoding, pending
releases unlocked, hostile payloads refused). The same decoding reads releases the real helm
made in tests/controller/test_flux_helm.py."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from tether.flux.helmstorage import (
    StorageError,
    config_digest,
    decode_payload,
    encode_payload,
    history,
    parse_release,
    unlocked,
)


def release(version: int, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "web", "namespace": "apps", "version": version,
        "info": {"status": status, "first_deployed": "t0", "last_deployed": f"t{version}"},
        "chart": {"metadata": {"name": "podinfo", "version": "6.14.1", "appVersion": "6.14.1"}},
        "config": {"replicaCount": 2},
        "manifest": "---\nkind: Service\n",
        "hooks": [{"name": "web-test", "events": ["test"], "last_run": {"phase": "Succeeded"}}],
        **extra,
    }  # fmt: skip


def secret(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "helm.sh/release.v1",
        "metadata": {"name": f"sh.helm.release.v1.web.v{body['version']}", "labels": {}},
        "data": {"release": encode_payload(body)},
    }


def test_round_trip_and_history_order() -> None:
    found = history([secret(release(1, "superseded")), secret(release(2, "deployed"))])
    assert [r.version for r in found] == [2, 1]
    latest = found[0]
    assert (latest.chart_name, latest.chart_version, latest.status) == (
        "podinfo",
        "6.14.1",
        "deployed",
    )
    assert latest.config_digest == config_digest({"replicaCount": 2})
    assert latest.tests_run and not latest.tests_failed
    snapshot = latest.snapshot()
    assert snapshot["testHooks"] == {"web-test": {"phase": "Succeeded"}}
    assert snapshot["digest"].startswith("sha256:")


def test_config_digest_ignores_key_order() -> None:
    assert config_digest({"a": 1, "b": {"c": 2}}) == config_digest({"b": {"c": 2}, "a": 1})
    assert config_digest({"a": 1}) != config_digest({"a": "1"})


def test_a_pending_release_is_unlocked_as_failed() -> None:
    stuck = secret(release(3, "pending-upgrade"))
    fixed = unlocked(stuck)
    assert fixed["metadata"]["labels"]["status"] == "failed"
    assert parse_release(fixed).status == "failed"
    assert "pending-upgrade" in decode_payload(fixed["data"]["release"])["info"]["description"]


def test_hostile_payloads_are_refused() -> None:
    bomb = gzip.compress(b"[" * 10 + b"0" * (40 * 1024 * 1024))
    data = base64.b64encode(base64.b64encode(bomb)).decode()
    with pytest.raises(StorageError, match="larger than"):
        decode_payload(data)
    with pytest.raises(StorageError):
        decode_payload(base64.b64encode(b"not base64 \xff").decode())
    not_object = base64.b64encode(base64.b64encode(json.dumps([1]).encode())).decode()
    with pytest.raises(StorageError, match="not a JSON object"):
        decode_payload(not_object)
    with pytest.raises(StorageError):
        history([{"type": "helm.sh/release.v1", "metadata": {"name": "x"}, "data": {}}])
