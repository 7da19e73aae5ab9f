"""Who the local cluster says a request is: tokens, ServiceAccounts, client certificates."""

from __future__ import annotations

import base64
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from tether.localcluster import pki
from tether.localcluster.cluster import (
    ClusterProcess,
    LocalCluster,
    cert_user_entry,
    identity_kubeconfig,
    write_kubeconfig,
)
from tether.localcluster.identities import IdentityError
from tether.localcluster.testing import Kubectl, api_http, kubectl_runner, wait_until


@pytest.fixture
def anonymous(local_cluster: LocalCluster) -> Iterator[httpx.Client]:
    """An HTTP client that trusts the cluster CA and sends no credentials of its own."""
    with api_http(local_cluster) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def whoami(run: Kubectl) -> dict[str, object]:
    answer: dict[str, object] = yaml.safe_load(run("auth", "whoami", "-o", "yaml").stdout)
    return answer["status"]["userInfo"]  # type: ignore[index,return-value]


def test_kubectl_create_token_gives_a_token_that_authenticates_as_the_service_account(
    local_cluster: LocalCluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    kubectl("create", "serviceaccount", "deployer", "-n", namespace)
    token = kubectl("create", "token", "deployer", "-n", namespace, "--duration=20m").stdout
    claims = orjson.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["exp"] - claims["iat"] == 1200
    assert claims["sub"] == f"system:serviceaccount:{namespace}:deployer"
    config = local_cluster.access().token_kubeconfig(tmp_path / "kc", token.strip())
    as_token = kubectl_runner(config, tmp_path)
    uid = kubectl("get", "sa", "deployer", "-n", namespace, "-o", "jsonpath={.metadata.uid}")
    assert whoami(as_token) == {
        "username": f"system:serviceaccount:{namespace}:deployer",
        "uid": uid.stdout,
        "groups": [
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        ],
    }


def test_a_token_request_below_ten_minutes_is_invalid(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "serviceaccount", "short", "-n", namespace)
    refused = kubectl("create", "token", "short", "-n", namespace, "--duration=5m", check=False)
    assert refused.returncode == 1
    assert (
        'TokenRequest.authentication.k8s.io "short" is invalid: spec.expirationSeconds: '
        "Invalid value: 300: may not specify a duration less than 10 minutes"
    ) in refused.stderr
    missing = kubectl("create", "token", "nobody", "-n", namespace, check=False)
    assert 'serviceaccounts "nobody" not found' in missing.stderr


def test_a_token_dies_with_its_account_even_if_one_of_the_same_name_returns(
    local_cluster: LocalCluster, kubectl: Kubectl, anonymous: httpx.Client, namespace: str
) -> None:
    token = local_cluster.access().service_account_token(namespace, "phoenix")
    review = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    body = {"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}}
    assert anonymous.post(review, json=body, headers=bearer(token)).status_code == 201
    kubectl("delete", "serviceaccount", "phoenix", "-n", namespace)
    kubectl("create", "serviceaccount", "phoenix", "-n", namespace)
    gone = anonymous.post(review, json=body, headers=bearer(token))
    assert (gone.status_code, gone.json()["reason"]) == (401, "Unauthorized")


def test_expired_forged_and_foreign_audience_tokens_are_unauthorized(
    local_cluster: LocalCluster, kubectl: Kubectl, anonymous: httpx.Client, namespace: str
) -> None:
    kubectl("create", "serviceaccount", "old", "-n", namespace)
    uid = kubectl("get", "sa", "old", "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
    assert local_cluster.app is not None
    issuer = local_cluster.app.issuer
    expired, _ = issuer.issue(namespace, "old", uid, [], 600, now=time.time() - 3600)
    fresh, _ = issuer.issue(namespace, "old", uid, [], 600)
    vault = local_cluster.access().service_account_token(namespace, "old", audiences=["vault"])
    forged = fresh[:-4] + ("AAAA" if not fresh.endswith("AAAA") else "BBBB")
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    assert anonymous.get(path, headers=bearer(fresh)).status_code == 403  # known, no rights
    for token in (expired, vault, forged, "x" * 100_000, "a.b.c"):
        assert anonymous.get(path, headers=bearer(token)).status_code == 401
    assert anonymous.get(path).json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


def test_token_review_reports_the_user_and_audiences(
    local_cluster: LocalCluster, anonymous: httpx.Client, namespace: str
) -> None:
    token = local_cluster.access().service_account_token(namespace, "reviewed", audiences=["vault"])
    admin = bearer(local_cluster.admin_token)
    path = "/apis/authentication.k8s.io/v1/tokenreviews"
    for_vault = anonymous.post(
        path, json={"spec": {"token": token, "audiences": ["vault"]}}, headers=admin
    ).json()
    assert for_vault["status"]["authenticated"] is True
    assert for_vault["status"]["user"]["username"] == f"system:serviceaccount:{namespace}:reviewed"
    assert for_vault["status"]["audiences"] == ["vault"]
    for_api = anonymous.post(path, json={"spec": {"token": token}}, headers=admin).json()
    assert "authenticated" not in for_api["status"]
    viewer = anonymous.post(
        path, json={"spec": {"token": token}}, headers=bearer(local_cluster.viewer_token)
    )
    assert viewer.status_code == 403  # tokenreviews need system:auth-delegator or more


def test_a_legacy_token_secret_is_filled_and_works_until_deleted(
    local_cluster: LocalCluster, kubectl: Kubectl, anonymous: httpx.Client, namespace: str
) -> None:
    kubectl("create", "serviceaccount", "legacy", "-n", namespace)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": "legacy-token",
            "namespace": namespace,
            "annotations": {"kubernetes.io/service-account.name": "legacy"},
        },
    }
    kubectl("apply", "-f", "-", input=yaml.safe_dump(secret))

    def data() -> dict[str, str]:
        out = kubectl("get", "secret", "legacy-token", "-n", namespace, "-o", "yaml").stdout
        return yaml.safe_load(out).get("data") or {}

    filled = wait_until(lambda: data().get("token") and data(), what="the token controller")
    assert base64.b64decode(filled["ca.crt"]) == local_cluster.creds.ca_pem
    assert base64.b64decode(filled["namespace"]).decode() == namespace
    token = base64.b64decode(filled["token"]).decode()
    path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    me = anonymous.post(path, json={}, headers=bearer(token))
    assert (
        me.json()["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:legacy"
    )
    kubectl("delete", "secret", "legacy-token", "-n", namespace)
    assert anonymous.post(path, json={}, headers=bearer(token)).status_code == 401


def test_a_certificate_from_another_ca_is_refused_at_the_handshake(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    other_ca, other_key = pki.generate_ca()
    cert, key = pki.issue_client_cert(other_ca, other_key, "mallory", ("system:masters",))
    doc = identity_kubeconfig(
        local_cluster.url, local_cluster.creds.ca_pem, "mallory", cert_user_entry(cert, key)
    )
    run = kubectl_runner(write_kubeconfig(tmp_path / "kc", doc), tmp_path)
    refused = run("get", "--raw", "/version", check=False)
    # TLS 1.3: the server checks the certificate after the client's handshake and hangs up
    assert refused.returncode == 1
    assert refused.stderr.startswith("Unable to connect to the server:")
    assert local_cluster.access().service_account_token("default", "still-serving")


def test_a_cluster_process_makes_kubeconfigs_for_an_account_and_a_certificate(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    proc = ClusterProcess.start(tmp_path, ["--state", str(state), "--no-workloads"])
    try:
        access = proc.access(state)
        bot = kubectl_runner(
            access.service_account_kubeconfig(tmp_path / "sa", "default", "bot"), tmp_path
        )
        assert whoami(bot)["username"] == "system:serviceaccount:default:bot"
        person = kubectl_runner(access.cert_kubeconfig(tmp_path / "cert", "pat", ("qa",)), tmp_path)
        assert whoami(person)["groups"] == ["qa", "system:authenticated"]
        with pytest.raises(IdentityError, match="start it with --state"):
            proc.access().cert_kubeconfig(tmp_path / "nope", "pat")
    finally:
        proc.stop()


def test_tokens_and_certificates_outlive_a_restart_with_state(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with LocalCluster(state_dir=state, workloads=None) as first:
        token = first.access().service_account_token("default", "keeper")
        certified = first.access().cert_kubeconfig(tmp_path / "cert", "kim", ("ops",))
    with LocalCluster(state_dir=state, workloads=None) as second:
        run = kubectl_runner(second.access().token_kubeconfig(tmp_path / "kc", token), tmp_path)
        assert whoami(run)["username"] == "system:serviceaccount:default:keeper"
        # the same CA serves again: a certificate issued before the restart still works
        doc = yaml.safe_load(certified.read_text())
        doc["clusters"][0]["cluster"]["server"] = second.url
        moved = write_kubeconfig(tmp_path / "cert-moved", doc)
        assert whoami(kubectl_runner(moved, tmp_path))["username"] == "kim"


def test_impersonation_headers_beyond_the_bound_or_without_a_user_are_refused(
    local_cluster: LocalCluster, anonymous: httpx.Client
) -> None:
    admin = [("Authorization", f"Bearer {local_cluster.admin_token}")]
    flood = (
        admin
        + [("Impersonate-User", "alice")]
        + [("Impersonate-Group", f"g{i}") for i in range(100)]
    )
    refused = anonymous.get("/api/v1/namespaces", headers=flood)
    assert (refused.status_code, refused.json()["message"]) == (
        400,
        "at most 100 Impersonate-* headers are accepted",
    )
    groups_only = anonymous.get("/api/v1/namespaces", headers=[*admin, ("Impersonate-Group", "g")])
    assert groups_only.status_code == 500
    as_uid = anonymous.post(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        json={},
        headers=[*admin, ("Impersonate-User", "alice"), ("Impersonate-Uid", "u-1")],
    )
    assert as_uid.json()["status"]["userInfo"] == {
        "username": "alice",
        "uid": "u-1",
        "groups": ["system:authenticated"],
    }


def test_a_client_certificate_alone_authenticates_an_http_client(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    cert, key = local_cluster.access().client_cert("robot", ("system:monitoring",))
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    context = ssl.create_default_context(cadata=local_cluster.creds.ca_pem.decode())
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    with httpx.Client(base_url=local_cluster.url, verify=context, timeout=30) as http:
        me = http.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json={})
        assert me.json()["status"]["userInfo"] == {
            "username": "robot",
            "groups": ["system:monitoring", "system:authenticated"],
        }
        assert http.get("/metrics").status_code == 200  # system:monitoring's bootstrap binding
        assert http.get("/api/v1/namespaces").status_code == 403
