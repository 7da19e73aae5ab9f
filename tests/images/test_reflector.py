"""The image reflector stage: Flux's image CRDs, ImageRepository scans against Debian's real
docker-registry, and ImagePolicy evaluation, each giving the status document Flux writes."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from tests.images.conftest import (
    PASSWORD,
    USERNAME,
    RunningRegistry,
    basic_header,
    free_port,
    push_image,
)
from tether.images.crds import image_crd_manifests
from tether.images.reflector import ScanOutcome, evaluate, scan
from tether.images.registry import RegistryClient
from tether.localcluster.crdschema import prune, validate_custom_resource
from tether.localcluster.testing import Kubectl
from tether.names import (
    FLUX_IMAGE_API_VERSION,
    FLUX_IMAGE_GROUP,
    FLUX_RECONCILE_REQUEST_ANNOTATION,
)

T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=10)
RELEASES = ["1.4.0", "1.5.0", "2.0.0-rc.1"]
OLD = [f"0.{n}.0" for n in range(1, 10)]
SIGNATURES = ["sha256-" + "a" * 64 + ".sig", "sha256-" + "b" * 64 + ".sig"]

# ---- Flux users' manifests, as the Flux documentation writes them -------------------------------

FLUX_MANIFESTS = """
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: podinfo
spec:
  image: ghcr.io/stefanprodan/podinfo
  interval: 5m
  timeout: 60s
  provider: generic
  secretRef: {name: regcred}
  certSecretRef: {name: registry-ca}
  exclusionList: ["^.*\\\\.sig$", "^sha256-"]
  accessFrom:
    namespaceSelectors:
      - matchLabels:
          kubernetes.io/metadata.name: apps
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: podinfo
spec:
  imageRepositoryRef:
    name: podinfo
  digestReflectionPolicy: IfNotPresent
  policy:
    semver:
      range: 5.1.x
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: podinfo-main
spec:
  imageRepositoryRef: {name: podinfo, namespace: flux-system}
  filterTags:
    pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)'
    extract: '$ts'
  policy:
    numerical:
      order: asc
  digestReflectionPolicy: Always
  interval: 10m
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: flux-system
spec:
  interval: 30m
  sourceRef:
    kind: GitRepository
    name: flux-system
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        email: fluxcdbot@users.noreply.github.com
        name: fluxcdbot
      messageTemplate: '{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}'
      signingKey: {secretRef: {name: signing-key}}
    push:
      branch: image-updates
      options: {merge_request.create: ""}
  policySelector: {matchLabels: {team: web}}
  update:
    path: ./clusters/production
    strategy: Setters
"""


def flux_manifests() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(FLUX_MANIFESTS) if d]


CRDS = image_crd_manifests()
SCHEMAS = {c["spec"]["names"]["kind"]: c["spec"]["versions"][0]["schema"]["openAPIV3Schema"] for c in CRDS}  # fmt: skip


# ---- the CRDs -----------------------------------------------------------------------------------


# fmt: off
#: kind: (short names, printer columns), as Flux's CRDs have them
FLUX_NAMES = {
    "ImageRepository": (["imgrepo", "imagerepo"], ["Image", "Tags", "Ready", "Status", "Last scan", "Age"]),
    "ImagePolicy": (["imgpol", "imagepol"], ["Image", "Tag", "Ready", "Status", "Age"]),
    "ImageUpdateAutomation": (["iua", "imgupd", "imgauto"], ["Ready", "Status", "Last run", "Age"]),
}
# fmt: on


def test_crds_are_apiextensions_v1_documents_with_flux_names_and_columns() -> None:
    crds = image_crd_manifests()
    assert [c["spec"]["names"]["kind"] for c in crds] == list(FLUX_NAMES)
    for crd in crds:
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        assert crd["kind"] == "CustomResourceDefinition"
        names, spec = crd["spec"]["names"], crd["spec"]
        assert crd["metadata"]["name"] == f"{names['plural']}.{FLUX_IMAGE_GROUP}"
        assert (spec["group"], spec["scope"]) == (FLUX_IMAGE_GROUP, "Namespaced")
        assert names["listKind"] == names["kind"] + "List"
        (version,) = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
        assert f"{spec['group']}/{version['name']}" == FLUX_IMAGE_API_VERSION
        assert version["subresources"] == {"status": {}}
        assert version["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"] == "object"
        columns = version["additionalPrinterColumns"]
        assert all(
            c["jsonPath"].startswith(".") and c["type"] in ("string", "date") for c in columns
        )
        assert (names["shortNames"], [c["name"] for c in columns]) == FLUX_NAMES[names["kind"]]
    crds[0]["spec"]["group"] = "changed"  # fresh copies
    assert image_crd_manifests()[0]["spec"]["group"] == FLUX_IMAGE_GROUP


def test_every_object_schema_keeps_unknown_fields() -> None:
    """No object node prunes (maps aside): a Flux field Tether does not name must survive."""

    def walk(node: dict[str, Any], path: str) -> None:
        is_object = node.get("type") == "object" and "additionalProperties" not in node
        if is_object and path not in ("", ".metadata"):
            assert node.get("x-kubernetes-preserve-unknown-fields") is True, path
        for key, child in (node.get("properties") or {}).items():
            walk(child, f"{path}.{key}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key], f"{path}[]")

    for schema in SCHEMAS.values():
        walk(schema, "")


def test_flux_manifests_validate_against_the_schemas_and_nothing_is_pruned() -> None:
    for manifest in flux_manifests():
        schema = SCHEMAS[manifest["kind"]]
        assert validate_custom_resource(manifest, schema) == [], manifest["metadata"]["name"]
        kept, dropped = prune(manifest, schema)
        assert (kept, dropped) == (manifest, [])
        manifest["spec"]["someFutureField"] = {"nested": [1, 2]}
        assert prune(manifest, schema)[1] == []


@pytest.mark.parametrize(
    ("kind", "path", "value", "field"),
    [
        ("ImageRepository", ("interval",), 5, "spec.interval"),
        ("ImageRepository", ("interval",), "5 minutes", "spec.interval"),
        ("ImageRepository", ("timeout",), "1h", "spec.timeout"),
        ("ImageRepository", ("provider",), "dockerhub", "spec.provider"),
        ("ImagePolicy", ("digestReflectionPolicy",), "Sometimes", "spec.digestReflectionPolicy"),
        ("ImageUpdateAutomation", ("sourceRef", "kind"), "Bucket", "spec.sourceRef.kind"),
        ("ImageRepository", ("image",), None, "spec.image"),
        ("ImagePolicy", ("policy",), None, "spec.policy"),
    ],
)
def test_schemas_refuse_what_flux_refuses(
    kind: str, path: tuple[str, ...], value: Any, field: str
) -> None:
    manifest = next(m for m in flux_manifests() if m["kind"] == kind)
    node = manifest["spec"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    if value is None:  # a required field left out
        del node[path[-1]]
    errors = validate_custom_resource(manifest, SCHEMAS[kind])
    assert [e.field for e in errors] == [field]


def _apply_crds(kubectl: Kubectl) -> None:
    docs = "---\n".join(yaml.safe_dump(crd) for crd in image_crd_manifests())
    kubectl("apply", "--server-side", "--field-manager", "tether", "-f", "-", input=docs)
    names = [f"crd/{crd['metadata']['name']}" for crd in image_crd_manifests()]
    kubectl("wait", "--for=condition=Established", *names, "--timeout=20s")


def _get(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(kubectl("get", *args, "-o", "json").stdout)
    return result


def test_flux_users_manifests_apply_unchanged_to_the_local_cluster(
    kubectl: Kubectl, namespace: str
) -> None:
    _apply_crds(kubectl)
    manifests = flux_manifests()
    for manifest in manifests:
        manifest["metadata"]["namespace"] = namespace
    kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(m) for m in manifests))
    for manifest in manifests:
        stored = _get(
            kubectl, manifest["kind"].lower(), manifest["metadata"]["name"], "-n", namespace
        )
        for key, value in manifest["spec"].items():
            assert stored["spec"][key] == value, (manifest["kind"], key)
    # the short names work as with Flux
    assert "podinfo-main" in kubectl("get", "imgpol", "-n", namespace).stdout
    assert "flux-system" in kubectl("get", "iua", "-n", namespace).stdout


async def test_reflector_statuses_are_accepted_by_the_cluster(
    kubectl: Kubectl, namespace: str, client: RegistryClient, open_registry: RunningRegistry,
    pushed: dict[str, str],
) -> None:  # fmt: skip
    """A Flux user's ImageRepository and ImagePolicy, scanned and evaluated by Tether, with
    the statuses written through the status subresource as the controller will."""
    _apply_crds(kubectl)
    repository = repository_obj(open_registry)
    policy = policy_obj({"semver": {"range": ">=1.0.0 <2.0.0"}})
    for obj in (repository, policy):
        obj["metadata"]["namespace"] = namespace
        del obj["metadata"]["generation"]
    kubectl("apply", "-f", "-", input=json.dumps(repository) + "\n---\n" + json.dumps(policy))
    stored = _get(kubectl, "imagerepository", "app", "-n", namespace)
    assert (stored["spec"]["exclusionList"], stored["spec"]["provider"]) == (
        ["^.*\\.sig$"],
        "generic",
    )
    scanned = await scan_at(stored, client, T0)
    stored_policy = _get(kubectl, "imagepolicy", "app", "-n", namespace)
    evaluated = evaluate(stored_policy, scanned.tags, repository=stored, now=T0)
    for kind, status in (("imagerepository", scanned.status), ("imagepolicy", evaluated.status)):
        kubectl(
            "patch", kind, "app", "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}),
        )  # fmt: skip
        assert _get(kubectl, kind, "app", "-n", namespace)["status"] == status
    assert scanned.status["observedGeneration"] == stored["metadata"]["generation"]
    assert evaluated.status["latestRef"]["tag"] == "1.5.0"


# ---- scanning an ImageRepository against a real registry ----------------------------------------


@pytest.fixture(scope="module")
def pushed(open_registry: RunningRegistry) -> dict[str, str]:
    """Releases, older versions and cosign-style signature tags pushed as `reflector/app`."""
    return push_image(open_registry, "reflector/app", RELEASES + OLD + SIGNATURES)


@pytest.fixture
async def client() -> AsyncIterator[RegistryClient]:
    async with RegistryClient() as registry_client:
        yield registry_client


def repository_obj(registry: RunningRegistry, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": FLUX_IMAGE_API_VERSION,
        "kind": "ImageRepository",
        "metadata": {"name": "app", "namespace": "apps", "generation": 2},
        "spec": {"image": f"{registry.host}/reflector/app", "interval": "1m", "insecure": True}
        | spec,
    }


async def scan_at(
    repo: dict[str, Any], client: RegistryClient, now: datetime = T0, **given: Any
) -> ScanOutcome:
    """`scan` with no Secret and no CA unless `given`."""
    return await scan(
        repo, **({"secret_data": None, "ca_pem": None} | given), client=client, now=now
    )


def ready(status: dict[str, Any]) -> dict[str, Any]:
    (condition,) = [c for c in status["conditions"] if c["type"] == "Ready"]
    return condition


def types(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def dockerconfig(host: str, username: str, password: str) -> dict[str, str]:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    document = json.dumps({"auths": {host: {"auth": auth}}}).encode()
    return {".dockerconfigjson": base64.b64encode(document).decode()}


async def test_scan_lists_tags_and_writes_flux_s_status(
    client: RegistryClient, open_registry: RunningRegistry, pushed: dict[str, str]
) -> None:
    repo = repository_obj(open_registry)
    repo["metadata"]["annotations"] = {FLUX_RECONCILE_REQUEST_ANNOTATION: "2025-06-01T11:59:00Z"}
    outcome = await scan_at(repo, client, T0)
    expected = sorted(RELEASES + OLD, reverse=True)  # signatures excluded by default
    assert (outcome.ready, outcome.scanned, outcome.reason) == (True, True, "Succeeded")
    assert outcome.tags == tuple(expected)
    assert outcome.requeue_after == 60.0
    status = outcome.status
    assert status["canonicalImageName"] == f"{open_registry.host}/reflector/app"
    assert status["observedExclusionList"] == ["^.*\\.sig$"]
    assert status["observedGeneration"] == 2
    assert status["lastHandledReconcileAt"] == "2025-06-01T11:59:00Z"
    result = status["lastScanResult"]
    assert result["tagCount"] == 12
    assert result["scanTime"] == "2025-06-01T12:00:00Z"
    # Flux's rule: the first 10 in descending alphabetical order (not by version)
    older = [f"0.{n}.0" for n in range(9, 2, -1)]
    assert result["latestTags"] == ["2.0.0-rc.1", "1.5.0", "1.4.0", *older]
    lines = "".join(f"{tag}\n" for tag in expected).encode()
    assert result["revision"] == "sha256:" + hashlib.sha256(lines).hexdigest()
    assert ready(status) == {
        "type": "Ready",
        "status": "True",
        "observedGeneration": 2,
        "lastTransitionTime": "2025-06-01T12:00:00Z",
        "reason": "Succeeded",
        "message": f"successful scan: found 12 tags with checksum {result['revision']}",
    }
    assert types(status) == {"Ready": ("True", "Succeeded")}
    repo["status"] = status  # the same tags later: only the scan time moves
    again = await scan_at(repo, client, T1)
    assert again.status == status | {
        "lastScanResult": result | {"scanTime": "2025-06-01T12:10:00Z"}
    }


async def test_exclusion_list_replaces_flux_s_default(
    client: RegistryClient, open_registry: RunningRegistry, pushed: dict[str, str]
) -> None:
    repo = repository_obj(open_registry, exclusionList=["^0\\.", "-rc"])
    outcome = await scan_at(repo, client, T0)
    assert outcome.tags == tuple(sorted(["1.4.0", "1.5.0", *SIGNATURES], reverse=True))
    assert outcome.status["observedExclusionList"] == ["^0\\.", "-rc"]
    assert outcome.status["lastScanResult"]["latestTags"][-2:] == ["1.5.0", "1.4.0"]


@pytest.fixture(scope="module")
def private_pushed(basic_registry: RunningRegistry) -> dict[str, str]:
    return push_image(basic_registry, "reflector/private", ["1.0.0"], basic_header())


async def test_a_refused_login_is_an_authentication_failure_without_the_secret(
    client: RegistryClient, basic_registry: RunningRegistry, private_pushed: dict[str, str]
) -> None:
    repo = repository_obj(basic_registry, image=f"{basic_registry.host}/reflector/private")
    repo["spec"]["secretRef"] = {"name": "regcred"}
    login = dockerconfig(basic_registry.host, USERNAME, PASSWORD)
    good = await scan_at(repo, client, T0, secret_data=login)
    assert good.ready and good.tags == ("1.0.0",)
    repo["status"] = good.status
    wrong = dockerconfig(basic_registry.host, USERNAME, "wrong horse")
    outcome = await scan_at(repo, client, T1, secret_data=wrong, previous_tags=good.tags)
    assert (outcome.ready, outcome.scanned, outcome.stalled) == (False, False, False)
    assert outcome.reason == "AuthenticationFailed"
    assert types(outcome.status) == {
        "Ready": ("False", "AuthenticationFailed"),
        "Reconciling": ("True", "ProgressingWithRetry"),
    }
    message = ready(outcome.status)["message"]
    assert message.startswith("scan failed: ") and "refused the login of user 'scanner'" in message
    text = json.dumps(outcome.status)
    basic = base64.b64encode(b"scanner:wrong horse").decode()
    for secret in ("wrong horse", PASSWORD, basic, *wrong.values()):
        assert secret not in text
    assert outcome.tags == ("1.0.0",)
    assert outcome.status["lastScanResult"] == good.status["lastScanResult"]
    other_host = dockerconfig("registry.example.com", USERNAME, PASSWORD)
    missing = await scan_at(repo, client, T1, secret_data=other_host)
    assert missing.reason == "AuthenticationFailed"
    assert f"Secret 'regcred' holds no login for {basic_registry.host}" in missing.message


async def test_an_unreachable_registry_keeps_the_last_good_tags(
    client: RegistryClient, open_registry: RunningRegistry, pushed: dict[str, str]
) -> None:
    repo = repository_obj(open_registry)
    good = await scan_at(repo, client, T0)
    repo["status"] = good.status
    repo["metadata"]["generation"] = 3
    repo["spec"]["image"] = f"127.0.0.1:{free_port()}/reflector/app"
    repo["spec"]["timeout"] = "5s"
    outcome = await scan_at(repo, client, T1, previous_tags=good.tags)
    assert (outcome.ready, outcome.scanned, outcome.reason) == (False, False, "ReadOperationFailed")
    assert outcome.tags == good.tags
    assert "cannot reach the registry" in outcome.message
    status = outcome.status
    for kept in ("lastScanResult", "canonicalImageName", "observedExclusionList"):
        assert status[kept] == good.status[kept]
    assert status["observedGeneration"] == 2  # moves only on success or stall
    assert ready(status)["lastTransitionTime"] == "2025-06-01T12:10:00Z"
    assert ready(status)["observedGeneration"] == 3


# fmt: off
SPECS_THAT_STALL = [
    ({"image": None}, "ImageURLInvalid", "spec.image is required"),
    ({"image": "ghcr.io/org/app:1.0.0"}, "ImageURLInvalid", "must not contain a tag; remove ':1.0.0'"),
    ({"image": "https://ghcr.io/org/app"}, "ImageURLInvalid", "must not start with a protocol"),
    ({"interval": None}, "IntervalNotConfigured", "spec.interval is required"),
    ({"interval": "5 minutes"}, "IntervalNotConfigured", "spec.interval '5 minutes' is not a duration"),
    ({"timeout": "1h"}, "IntervalNotConfigured", "spec.timeout '1h'"),
    ({"provider": "aws"}, "AuthenticationFailed", "spec.provider 'aws' is not supported"),
]
# fmt: on


@pytest.mark.parametrize(("spec", "reason", "says"), SPECS_THAT_STALL)
async def test_a_spec_that_cannot_work_stalls_with_a_clear_message(
    client: RegistryClient, spec: dict[str, Any], reason: str, says: str
) -> None:
    spec = {"image": "ghcr.io/org/app", "interval": "5m"} | spec
    repo = {"metadata": {"generation": 4}, "spec": {k: v for k, v in spec.items() if v is not None}}
    outcome = await scan_at(repo, client, T0, previous_tags=["x"])
    assert (outcome.ready, outcome.stalled, outcome.reason) == (False, True, reason)
    assert says in outcome.message
    assert types(outcome.status) == {"Ready": ("False", reason), "Stalled": ("True", reason)}
    assert outcome.status["observedGeneration"] == 4
    assert outcome.tags == ("x",) and "lastScanResult" not in outcome.status


# fmt: off
FIXABLE_OUTSIDE_THE_SPEC = [
    (None, None, None, "AuthenticationFailed", "Secret 'regcred' named by spec.secretRef was not found"),
    ({"other": "eA=="}, None, None, "AuthenticationFailed", "has no .dockerconfigjson"),
    (None, "not a certificate", None, "AuthenticationFailed", "spec.certSecretRef is not a PEM"),
    (None, None, ["("], "ReadOperationFailed", "exclusionList pattern '(' is not a regular"),
    (None, None, "^v", "ReadOperationFailed", "must be a list of regular expressions"),
]
# fmt: on


@pytest.mark.parametrize(("secret", "ca", "exclusions", "reason", "says"), FIXABLE_OUTSIDE_THE_SPEC)
async def test_what_may_be_fixed_outside_the_spec_is_retried(
    client: RegistryClient, secret: dict[str, str] | None, ca: str | None,
    exclusions: Any, reason: str, says: str,
) -> None:  # fmt: skip
    spec: dict[str, Any] = {"image": "ghcr.io/org/app", "interval": "5m"}
    if secret is not None or (ca is None and exclusions is None):
        spec["secretRef"] = {"name": "regcred"}
    if exclusions is not None:
        spec["exclusionList"] = exclusions
    repo = {"metadata": {"generation": 1}, "spec": spec}
    outcome = await scan_at(repo, client, T0, secret_data=secret, ca_pem=ca)
    assert (outcome.ready, outcome.stalled, outcome.reason) == (False, False, reason)
    assert says in outcome.message
    assert types(outcome.status)["Reconciling"] == ("True", "ProgressingWithRetry")
    assert "observedGeneration" not in outcome.status


# ---- evaluating an ImagePolicy ------------------------------------------------------------------

IMAGE = "registry.example.com/team/app"
REPOSITORY = {"metadata": {"name": "app"}, "spec": {"image": IMAGE, "interval": "1m"}}
TAGS = sorted(RELEASES + OLD, reverse=True)


def policy_obj(policy: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": FLUX_IMAGE_API_VERSION,
        "kind": "ImagePolicy",
        "metadata": {"name": "app", "namespace": "apps", "generation": 1},
        "spec": {"imageRepositoryRef": {"name": "app"}, "policy": policy} | spec,
    }


SEMVER_1X = {"semver": {"range": ">=1.0.0 <2.0.0"}}


def test_semver_range_picks_the_highest_release_within_it() -> None:
    outcome = evaluate(policy_obj(SEMVER_1X), TAGS, repository=REPOSITORY, now=T0)
    assert (outcome.ready, outcome.reason, outcome.changed) == (True, "Succeeded", True)
    assert outcome.latest_ref == {"name": IMAGE, "tag": "1.5.0"}
    assert outcome.status["latestRef"] == {"name": IMAGE, "tag": "1.5.0"}
    assert "observedPreviousRef" not in outcome.status
    assert outcome.message == f"Latest image tag for {IMAGE} resolved to 1.5.0"
    assert types(outcome.status) == {"Ready": ("True", "Succeeded")}
    assert outcome.status["observedGeneration"] == 1


def test_a_tag_outside_the_range_changes_nothing() -> None:
    policy = policy_obj(SEMVER_1X)
    policy["status"] = evaluate(policy, TAGS, repository=REPOSITORY, now=T0).status
    outcome = evaluate(policy, ["2.0.0", "3.1.0", *TAGS], repository=REPOSITORY, now=T1)
    assert not outcome.changed
    assert outcome.status == policy["status"]


def test_a_newer_tag_records_the_previous_ref() -> None:
    policy = policy_obj(SEMVER_1X)
    policy["status"] = evaluate(policy, TAGS, repository=REPOSITORY, now=T0).status
    outcome = evaluate(policy, ["1.6.0", *TAGS], repository=REPOSITORY, now=T1)
    assert outcome.changed
    assert outcome.status["latestRef"] == {"name": IMAGE, "tag": "1.6.0"}
    assert outcome.status["observedPreviousRef"] == {"name": IMAGE, "tag": "1.5.0"}
    assert outcome.message.endswith(f"resolved to 1.6.0 (previously {IMAGE}:1.5.0)")
    assert ready(outcome.status)["lastTransitionTime"] == "2025-06-01T12:10:00Z"


def test_an_invalid_range_stalls_and_keeps_the_last_latest_ref() -> None:
    policy = policy_obj(SEMVER_1X)
    policy["status"] = evaluate(policy, TAGS, repository=REPOSITORY, now=T0).status
    policy["spec"]["policy"] = {"semver": {"range": "one point five"}}
    policy["metadata"]["generation"] = 2
    outcome = evaluate(policy, TAGS, repository=REPOSITORY, now=T1)
    assert (outcome.ready, outcome.stalled, outcome.reason) == (False, True, "InvalidPolicy")
    assert outcome.message.startswith("invalid policy: spec.policy.semver.range 'one point five'")
    assert types(outcome.status) == {
        "Ready": ("False", "InvalidPolicy"),
        "Stalled": ("True", "InvalidPolicy"),
    }
    assert outcome.status["latestRef"] == {"name": IMAGE, "tag": "1.5.0"}
    assert outcome.status["observedGeneration"] == 2


def test_filter_tags_extract_orders_by_the_extracted_value() -> None:
    tags = ["main-abc1234-1700000100", "main-def5678-1700000000", "feature-x-1800000000", "latest"]
    policy = policy_obj(
        {"numerical": {"order": "asc"}},
        filterTags={"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)", "extract": "$ts"},
    )
    outcome = evaluate(policy, tags, repository=REPOSITORY, now=T0)
    assert outcome.latest_ref == {"name": IMAGE, "tag": "main-abc1234-1700000100"}


# fmt: off
NO_USABLE_TAGS = [
    (None, REPOSITORY, "DependencyNotReady", "has no tags: it has not been scanned yet", False),
    ([], REPOSITORY, "DependencyNotReady", "its last scan found none", False),
    (TAGS, None, "DependencyNotReady", "ImageRepository 'apps/app' does not exist", True),
    (["0.1.0", "2.0.0"], REPOSITORY, "Failure", f"no tag of {IMAGE} is a version within", True),
]
# fmt: on


@pytest.mark.parametrize(("tags", "repository", "reason", "says", "retried"), NO_USABLE_TAGS)
def test_no_usable_tags_leaves_the_latest_ref_in_place(
    tags: list[str] | None, repository: dict[str, Any] | None, reason: str, says: str, retried: bool
) -> None:
    policy = policy_obj(SEMVER_1X)
    policy["status"] = evaluate(policy, TAGS, repository=REPOSITORY, now=T0).status
    outcome = evaluate(policy, tags, repository=repository, now=T1)
    assert (outcome.ready, outcome.stalled, outcome.reason) == (False, False, reason)
    assert says in outcome.message
    assert ("Reconciling" in types(outcome.status)) is retried
    assert outcome.status["latestRef"] == {"name": IMAGE, "tag": "1.5.0"}


def test_if_not_present_asks_for_the_digest_once_and_keeps_it() -> None:
    policy = policy_obj(SEMVER_1X, digestReflectionPolicy="IfNotPresent")
    first = evaluate(policy, TAGS, repository=REPOSITORY, now=T0)
    assert first.digest_needed == "1.5.0" and first.status == {}
    digest = "sha256:" + "d" * 64
    done = evaluate(policy, TAGS, {"1.5.0": digest}, repository=REPOSITORY, now=T0)
    assert done.latest_ref == {"name": IMAGE, "tag": "1.5.0", "digest": digest}
    assert done.message.endswith(f"resolved to 1.5.0 with digest {digest}")
    policy["status"] = done.status
    again = evaluate(policy, TAGS, repository=REPOSITORY, now=T1)
    assert again.digest_needed is None and again.status == done.status
    newer = evaluate(policy, ["1.6.0", *TAGS], repository=REPOSITORY, now=T1)
    assert newer.digest_needed == "1.6.0"
    missing = evaluate(policy, ["1.6.0", *TAGS], {}, repository=REPOSITORY, now=T1)
    assert (missing.ready, missing.reason) == (False, "Failed")
    assert missing.status["latestRef"] == done.status["latestRef"]


def test_always_needs_an_interval_and_refreshes_the_digest() -> None:
    policy = policy_obj(SEMVER_1X, digestReflectionPolicy="Always")
    stalled = evaluate(policy, TAGS, repository=REPOSITORY, now=T0)
    assert (stalled.stalled, stalled.reason) == (True, "IntervalNotConfigured")
    policy["spec"]["interval"] = "10m"
    digest = "sha256:" + "e" * 64
    done = evaluate(policy, TAGS, {"1.5.0": digest}, repository=REPOSITORY, now=T0)
    assert done.requeue_after == 600.0 and done.latest_ref is not None
    policy["status"] = done.status
    assert evaluate(policy, TAGS, repository=REPOSITORY, now=T1).digest_needed == "1.5.0"
    moved = evaluate(policy, TAGS, {"1.5.0": "sha256:" + "f" * 64}, repository=REPOSITORY, now=T1)
    assert moved.changed and moved.status["observedPreviousRef"]["digest"] == digest


async def test_scan_then_evaluate_reflects_the_registry_s_digest(
    client: RegistryClient, open_registry: RunningRegistry, pushed: dict[str, str]
) -> None:
    repo = repository_obj(open_registry)
    scanned = await scan_at(repo, client, T0)
    policy = policy_obj(SEMVER_1X, digestReflectionPolicy="IfNotPresent")
    outcome = evaluate(policy, scanned.tags, repository=repo, now=T0)
    assert outcome.digest_needed == "1.5.0"
    digests = await client.digests(repo["spec"]["image"], [outcome.digest_needed], insecure=True)
    outcome = evaluate(policy, scanned.tags, digests, repository=repo, now=T0)
    assert outcome.latest_ref == {"name": repo["spec"]["image"], "tag": "1.5.0"} | {
        "digest": pushed["1.5.0"]
    }


async def test_suspended_objects_are_left_alone(client: RegistryClient) -> None:
    before = {"conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded"}]}
    repo = {"spec": {"image": "ghcr.io/org/app:bad", "suspend": True}, "status": before}
    outcome = await scan_at(repo, client, T0, previous_tags=["1"])
    assert outcome.suspended and not outcome.scanned and outcome.ready
    assert (outcome.status, outcome.tags) == (before, ("1",))
    policy = policy_obj({"semver": {"range": "not a range"}}, suspend=True)
    evaluated = evaluate(policy, TAGS, repository=None, now=T0)
    assert evaluated.suspended and evaluated.status == {}
