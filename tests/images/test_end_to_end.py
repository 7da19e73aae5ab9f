"""Image updates end to end: a real registry's push notification reaches Tether's webhook, the
ImagePolicy picks the new tag, the automation pushes a one-line change to a branch of the
loopback git server and opens a pull request on the fake GitHub; merging it deploys.

Real parts: the local cluster, Debian's docker-registry (its ``notifications`` call the API
server's ``/api/webhook``), the loopback git server, kustomize; the Git host's pull-request API
is the fake that follows GitHub's REST API over the same repositories.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.githost.conftest import git
from tests.images.conftest import FakeServer, Reply
from tether.cluster.client import ClusterClient
from tether.cluster.crds import wait_established
from tether.cluster.errors import NotFound
from tether.controller.controller import Controller, ControllerConfig
from tether.githost.fake import FakeGitHost
from tether.images.testing import (
    OVERLAY,
    RunningRegistry,
    docker_registry,
    payment_service_files,
    payment_service_objects,
    push_image,
)
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import crd_manifest, eventually
from tether.names import FLUX_IMAGE_API_VERSION, SERVER_SECRET
from tether.server import ServerSettings, run_server
from tether.server.app import RunningServer
from tether.source.gitserver import GitHTTPServer

pytestmark = pytest.mark.timeout(300)

NS = "img-argocd"
REPO = "acme/k8s-manifests"
TOKEN = "ghp_imageBot0123456789abcdefABCDEF"
NOTIFY_SECRET = "registry-notify-secret"
BRANCH = "tether/image-updates"
TARGET_NS = "payment-service-production"


def commit_and_push(work: Path, files: dict[str, str], message: str) -> None:
    for path, text in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")


@dataclass
class Stack:
    client: ClusterClient
    controller: Controller
    server: RunningServer
    host: FakeGitHost
    registry: RunningRegistry
    work: Path
    image: str

    async def get(self, kind: str, name: str) -> dict[str, Any]:
        info = await self.client.resource_for(FLUX_IMAGE_API_VERSION, kind)
        return await self.client.get(info, name, NS)

    async def apply(self, *docs: dict[str, Any]) -> None:
        for doc in docs:
            info = await self.client.resource_for(doc["apiVersion"], doc["kind"])
            doc["metadata"].setdefault("namespace", NS)
            await self.client.apply(info, doc, field_manager="tests", force=True)

    def pulls(self, state: str = "all") -> list[Any]:
        return self.host.pulls(REPO, state)

    def commit(self, files: dict[str, str], message: str) -> None:
        """Commit ``files`` (path -> text) on main and push, as a person would."""
        git(self.work, "pull", "-q", "--rebase", "origin", "main")
        commit_and_push(self.work, files, message)

    def branch_diff(self) -> str:
        bare = self.host.bare_path(REPO)
        return git(bare, "diff", f"main...{BRANCH}")


async def _secret(client: ClusterClient, name: str, data: dict[str, str]) -> None:
    info = await client.resource_for("v1", "Secret")
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
    await client.apply(info, body, field_manager="tests", force=True)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    root = tmp_path_factory.mktemp("image-e2e")
    git_server = GitHTTPServer(root / "forge").start()
    host = FakeGitHost(git_server, {TOKEN: "tether-bot"}).start()
    client = ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig))
    controller = Controller(
        client,
        ControllerConfig(
            namespace=NS,
            reconcile_interval=1.0,
            leader_election=False,
            cache_dir=root / "cache",
            wave_timeout=60,
        ),
    )
    await controller.start()
    server = await run_server(controller, listen="127.0.0.1:0", settings=ServerSettings())
    endpoint = {
        "name": "tether",
        "url": f"{server.url}/api/webhook",
        "headers": {"Authorization": [f"Bearer {NOTIFY_SECRET}"]},
        "timeout": "5s",
        "threshold": 5,
        "backoff": "1s",
    }
    try:
        with docker_registry(root / "registry", notifications={"endpoints": [endpoint]}) as reg:
            image = f"{reg.host}/example/payment-service"
            push_image(reg, "example/payment-service", ["1.4.0"])
            url = host.create_repo(REPO)
            work = root / "work"
            git(root, "clone", "-q", url, str(work))
            commit_and_push(work, payment_service_files(image, NS), "payment-service 1.4.0")
            await _secret(
                client, SERVER_SECRET, {"webhook.registry.distribution.secret": NOTIFY_SECRET}
            )
            await _secret(client, "github-token", {"token": TOKEN})
            yield Stack(client, controller, server, host, reg, work, image)
    finally:
        await server.stop()
        await controller.stop()
        await client.aclose()
        host.stop()
        git_server.stop()


def application(url: str) -> dict[str, Any]:
    return payment_service_objects("", NS, repo_url=url, api_url="")[0]


def image_objects(image: str, api_url: str = "") -> list[dict[str, Any]]:
    """ImageRepository (scanned hourly: only the registry's notifications make the scans
    this test sees), ImagePolicy ``1.x`` and the automation with its pull-request settings."""
    return payment_service_objects(image, NS, repo_url="", api_url=api_url, push_branch=BRANCH)[1:]


async def _running(stack: Stack, name: str, namespace: str, image: str) -> bool:
    """Whether Deployment ``namespace/name`` runs ``image`` (its first container)."""
    deployments = await stack.client.resource_for("apps/v1", "Deployment")
    try:
        live = await stack.client.get(deployments, name, namespace)
    except NotFound:
        return False
    return bool(live["spec"]["template"]["spec"]["containers"][0]["image"] == image)


async def _synced_at(stack: Stack, tag: str) -> bool:
    info = await stack.client.resource_for("argoproj.io/v1alpha1", "Application")
    app = await stack.client.get(info, "payment-service-production", NS)
    status = app.get("status") or {}
    if (status.get("sync") or {}).get("status") != "Synced":
        return False
    if (status.get("health") or {}).get("status") != "Healthy":
        return False
    return await _running(stack, "payment-service", TARGET_NS, f"{stack.image}:{tag}")


async def _latest_tag(stack: Stack) -> str | None:
    policy = await stack.get("ImagePolicy", "payment-service")
    return ((policy.get("status") or {}).get("latestRef") or {}).get("tag")


async def test_a_pushed_image_becomes_a_pull_request_and_its_merge_deploys(stack: Stack) -> None:
    host = stack.host
    api = host.github_api_url
    await stack.apply(application(host.repo_url(REPO)))
    await stack.apply(*image_objects(stack.image, api))
    await eventually(lambda: _synced_at(stack, "1.4.0"), 60, "the app at 1.4.0")
    await eventually(lambda: _latest_tag(stack), 30, "the first scan and policy")
    assert await _latest_tag(stack) == "1.4.0"
    automation = await eventually(lambda: _automation_ran(stack), 30, "the automation's first run")
    assert automation["status"]["conditions"][0]["message"] == "repository up-to-date"
    assert stack.pulls() == [], "nothing to propose while main has the latest image"

    # 1.5.0 pushed: the registry's notification makes the pull request
    push_image(stack.registry, "example/payment-service", ["1.5.0"])
    pull = await eventually(lambda: _open_pull(stack), 30, "a pull request for 1.5.0")
    assert (pull.head, pull.base) == (BRANCH, "main")
    diff = stack.branch_diff()
    changed = [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == [
        f'-    newTag: 1.4.0 # {{"$imagepolicy": "{NS}:payment-service:tag"}}',
        f'+    newTag: 1.5.0 # {{"$imagepolicy": "{NS}:payment-service:tag"}}',
    ], diff
    assert f"a/{OVERLAY}" in diff
    assert "1.4.0" in pull.body and "1.5.0" in pull.body
    assert "Deployment" in pull.body and f"image: {stack.image}:1.5.0" in pull.body

    # 1.5.1 before the merge: the same pull request, updated
    push_image(stack.registry, "example/payment-service", ["1.5.1"])
    updated = await eventually(
        lambda: _open_pull(stack, lambda p: "1.5.1" in p.body), 30, "the pull request at 1.5.1"
    )
    assert updated.number == pull.number
    assert len(stack.pulls()) == 1
    assert "+    newTag: 1.5.1" in stack.branch_diff()

    # 2.0.0 is outside the range: scanned, and nothing changes
    head = updated.head_sha
    push_image(stack.registry, "example/payment-service", ["2.0.0"])
    await eventually(lambda: _tag_count(stack, 4), 30, "the scan that sees 2.0.0")
    policy = await stack.get("ImagePolicy", "payment-service")
    assert policy["status"]["latestRef"]["tag"] == "1.5.1"
    assert host.pull(REPO, pull.number).head_sha == head
    assert len(stack.pulls()) == 1

    # the merge deploys
    host.merge(REPO, pull.number)
    await eventually(lambda: _synced_at(stack, "1.5.1"), 60, "the app at 1.5.1")
    overlay = git(stack.host.bare_path(REPO), "show", f"main:{OVERLAY}")
    wanted = payment_service_files(stack.image, NS)[OVERLAY].replace(
        "newTag: 1.4.0", "newTag: 1.5.1"
    )
    assert overlay == wanted.rstrip("\n"), "comments and formatting intact"


async def _automation_ran(stack: Stack, name: str = "payment-service") -> dict[str, Any] | None:
    automation = await stack.get("ImageUpdateAutomation", name)
    return automation if (automation.get("status") or {}).get("lastAutomationRunTime") else None


def _open_pull(stack: Stack, check: Any = None) -> Any:
    for pull in stack.pulls("open"):
        if check is None or check(pull):
            return pull
    return None


async def _tag_count(stack: Stack, count: int) -> bool:
    repo = await stack.get("ImageRepository", "payment-service")
    result = (repo.get("status") or {}).get("lastScanResult") or {}
    return bool(result.get("tagCount") == count)


def _condition(obj: dict[str, Any], kind: str = "Ready") -> dict[str, Any]:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


async def _condition_reason(stack: Stack, kind: str, name: str, reason: str) -> Any:
    obj = await stack.get(kind, name)
    ready = _condition(obj)
    return obj if ready.get("reason") == reason and ready.get("status") == "False" else None


async def test_bad_input_becomes_a_status_condition_and_nothing_is_pushed(
    stack: Stack, fake_registry: FakeServer, basic_registry: RunningRegistry
) -> None:
    fake_registry.routes["/v2/"] = lambda seen: Reply(200, b"{}")
    fake_registry.routes["/v2/example/garbled/tags/list"] = lambda seen: Reply(
        200, b'{"name": "example/garbled", "tags": [1, 2', {"Content-Type": "application/json"}
    )
    repositories = {
        "unreachable": "127.0.0.1:1/example/nothing-listens",
        "garbled": f"{fake_registry.host}/example/garbled",
        "refused": f"{basic_registry.host}/example/payment-service",
    }
    await stack.apply(
        *(
            {
                "apiVersion": FLUX_IMAGE_API_VERSION,
                "kind": "ImageRepository",
                "metadata": {"name": name},
                "spec": {"image": image, "interval": "1h", "insecure": True},
            }
            for name, image in repositories.items()
        )
    )
    unreachable = await eventually(
        lambda: _condition_reason(stack, "ImageRepository", "unreachable", "ReadOperationFailed"),
        30,
        "the unreachable registry's condition",
    )
    assert "127.0.0.1:1" in _condition(unreachable)["message"]
    assert _condition(unreachable, "Reconciling")["reason"] == "ProgressingWithRetry"
    garbled = await eventually(
        lambda: _condition_reason(stack, "ImageRepository", "garbled", "ReadOperationFailed"),
        30,
        "the malformed tag list's condition",
    )
    assert "scan failed" in _condition(garbled)["message"]
    refused = await eventually(
        lambda: _condition_reason(stack, "ImageRepository", "refused", "AuthenticationFailed"),
        30,
        "the 401's condition",
    )
    assert "asks for a login" in _condition(refused)["message"]
    assert "secretRef" in _condition(refused)["message"]

    # an invalid semver range stalls the policy
    await stack.apply(
        {
            "apiVersion": FLUX_IMAGE_API_VERSION,
            "kind": "ImagePolicy",
            "metadata": {"name": "bad-range"},
            "spec": {
                "imageRepositoryRef": {"name": "payment-service"},
                "policy": {"semver": {"range": ">=1.0 <<2"}},
            },
        }
    )
    policy = await eventually(
        lambda: _condition_reason(stack, "ImagePolicy", "bad-range", "InvalidPolicy"),
        30,
        "the invalid range's condition",
    )
    assert _condition(policy, "Stalled")["status"] == "True"

    # a marker naming a policy the automation does not have: nothing is committed or pushed;
    # and a file the automation can change, in a repository that will refuse the push
    files = {
        "broken/config.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n"
            f'  image: old # {{"$imagepolicy": "{NS}:no-such-policy"}}\n'
        ),
        "locked/config.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: locked\ndata:\n"
            f'  image: old # {{"$imagepolicy": "{NS}:payment-service"}}\n'
        ),
    }
    stack.commit(files, "two config files with markers")
    automation = image_objects(stack.image, stack.host.github_api_url)[2]
    automation["metadata"] = {"name": "broken"}
    automation["spec"]["update"]["path"] = "broken"
    automation["spec"]["git"]["push"]["branch"] = "tether/broken"
    await stack.apply(automation)
    failed = await eventually(
        lambda: _condition_reason(stack, "ImageUpdateAutomation", "broken", "UpdateFailed"),
        30,
        "the marker problem's condition",
    )
    message = _condition(failed)["message"]
    assert "broken/config.yaml:6" in message and "no-such-policy" in message
    bare = stack.host.bare_path(REPO)
    assert git(bare, "branch", "--list", "tether/broken") == ""

    # a push the repository refuses: reported, nothing half-way
    (bare / "hooks").mkdir(exist_ok=True)
    (bare / "hooks" / "pre-receive").write_text("#!/bin/sh\necho 'branch is locked' >&2\nexit 1\n")
    (bare / "hooks" / "pre-receive").chmod(0o755)
    try:
        locked = image_objects(stack.image, stack.host.github_api_url)[2]
        locked["metadata"] = {"name": "locked"}
        locked["spec"]["update"]["path"] = "locked"
        locked["spec"]["git"]["push"]["branch"] = "tether/locked"
        await stack.apply(locked)
        rejected = await eventually(
            lambda: _condition_reason(
                stack, "ImageUpdateAutomation", "locked", "GitOperationFailed"
            ),
            30,
            "the refused push's condition",
        )
        assert "nothing was pushed" in _condition(rejected)["message"]
        assert git(bare, "branch", "--list", "tether/locked") == ""
    finally:
        (bare / "hooks" / "pre-receive").unlink()


CHART_VALUES = """\
# Values of the payment-api chart.
replicaCount: 1
image:
  repository: {image} # {{"$imagepolicy": "{ns}:payment-api:name"}}
  tag: "1.0.0" # {{"$imagepolicy": "{ns}:payment-api:tag"}}
"""

CHART_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app: payment-api}
  template:
    metadata:
      labels: {app: payment-api}
    spec:
      containers:
        - name: api
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"""


async def test_a_helm_values_marker_gets_its_pull_request(stack: Stack) -> None:
    image = f"{stack.registry.host}/example/payment-api"
    push_image(stack.registry, "example/payment-api", ["1.0.0"])
    files = {
        "charts/payment-api/Chart.yaml": "apiVersion: v2\nname: payment-api\nversion: 0.1.0\n",
        "charts/payment-api/values.yaml": CHART_VALUES.format(image=image, ns=NS),
        "charts/payment-api/templates/deployment.yaml": CHART_DEPLOYMENT,
    }
    stack.commit(files, "the payment-api chart")
    app = application(stack.host.repo_url(REPO))
    app["metadata"]["name"] = "payment-api"
    app["spec"]["source"]["path"] = "charts/payment-api"
    app["spec"]["destination"]["namespace"] = "payment-api"
    repository, policy, automation = image_objects(image, stack.host.github_api_url)
    for obj in (repository, policy, automation):
        obj["metadata"]["name"] = "payment-api"
    policy["spec"]["imageRepositoryRef"]["name"] = "payment-api"
    policy["metadata"]["labels"] = {"chart": "payment-api"}
    automation["spec"]["sourceRef"]["name"] = "payment-api"
    automation["spec"]["policySelector"] = {"matchLabels": {"chart": "payment-api"}}
    automation["spec"]["update"]["path"] = "charts/payment-api"
    automation["spec"]["git"]["push"]["branch"] = "tether/payment-api"
    await stack.apply(app, repository, policy, automation)

    def deployed(tag: str) -> Any:
        return _running(stack, "payment-api", "payment-api", f"{image}:{tag}")

    await eventually(lambda: deployed("1.0.0"), 60, "payment-api at 1.0.0")
    await eventually(lambda: _automation_ran(stack, "payment-api"), 30, "the first run")
    push_image(stack.registry, "example/payment-api", ["1.1.0"])
    pull = await eventually(
        lambda: _open_pull(stack, lambda p: p.head == "tether/payment-api"), 30, "the pull request"
    )
    bare = stack.host.bare_path(REPO)
    diff = git(bare, "diff", "main...tether/payment-api")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in "+++---"]
    assert changed == [
        f'-  tag: "1.0.0" # {{"$imagepolicy": "{NS}:payment-api:tag"}}',
        f'+  tag: "1.1.0" # {{"$imagepolicy": "{NS}:payment-api:tag"}}',
    ], diff
    assert f"image: {image}:1.1.0" in pull.body
    stack.host.merge(REPO, pull.number)
    await eventually(lambda: deployed("1.1.0"), 60, "payment-api at 1.1.0")


CATALOG_OVERLAY = """\
# catalog in production: no markers, Image Updater's annotations on the Application
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../base
images:
  - name: {image}
    newTag: 1.0.0
"""


async def test_argo_cd_image_updater_annotations_get_their_pull_request(stack: Stack) -> None:
    image = f"{stack.registry.host}/example/catalog"
    push_image(stack.registry, "example/catalog", ["1.0.0", "2.0.0"])
    files = payment_service_files(image, NS)
    files = {
        "apps/catalog/base/deployment.yaml": files["apps/payment-service/base/deployment.yaml"]
        .replace("payment-service", "catalog")
        .replace(":1.4.0", ":1.0.0"),
        "apps/catalog/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        "apps/catalog/production/kustomization.yaml": CATALOG_OVERLAY.format(image=image),
    }
    stack.commit(files, "catalog 1.0.0")
    app = application(stack.host.repo_url(REPO))
    app["metadata"] = {
        "name": "catalog",
        "annotations": {
            "argocd-image-updater.argoproj.io/image-list": f"api={image}:1.x",
            "argocd-image-updater.argoproj.io/api.update-strategy": "semver",
            "argocd-image-updater.argoproj.io/write-back-method": "git",
            "argocd-image-updater.argoproj.io/write-back-target": "kustomization",
            "argocd-image-updater.argoproj.io/git-branch": "main:tether/catalog",
            "images.tether.io/pull-request": "github",
            "images.tether.io/pull-request-secret": "github-token",
            "images.tether.io/pull-request-api-url": stack.host.github_api_url,
        },
    }
    app["spec"]["source"]["path"] = "apps/catalog/production"
    app["spec"]["destination"]["namespace"] = "catalog"
    await stack.apply(app)

    def deployed(tag: str) -> Any:
        return _running(stack, "catalog", "catalog", f"{image}:{tag}")

    await eventually(lambda: deployed("1.0.0"), 60, "catalog at 1.0.0")
    # the annotations became a Flux ImageRepository and ImagePolicy, owned by the Application
    policy = await eventually(
        lambda: _policy_at(stack, "catalog-api", "1.0.0"), 30, "the generated policy at 1.0.0"
    )
    assert policy["metadata"]["labels"]["images.tether.io/application"] == "catalog"
    assert policy["metadata"]["ownerReferences"][0]["name"] == "catalog"
    assert stack.pulls("open") == [] or all(p.head != "tether/catalog" for p in stack.pulls())

    push_image(stack.registry, "example/catalog", ["1.1.0"])
    pull = await eventually(
        lambda: _open_pull(stack, lambda p: p.head == "tether/catalog"), 30, "the pull request"
    )
    diff = git(stack.host.bare_path(REPO), "diff", "main...tether/catalog")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in "+++---"]
    assert changed == ["-    newTag: 1.0.0", "+    newTag: 1.1.0"], diff
    assert f"image: {image}:1.1.0" in pull.body
    stack.host.merge(REPO, pull.number)
    await eventually(lambda: deployed("1.1.0"), 60, "catalog at 1.1.0")

    # an annotation Tether cannot honour: an Event says which and what to write instead
    app["metadata"]["annotations"]["argocd-image-updater.argoproj.io/write-back-method"] = "argocd"
    await stack.apply(app)
    message = await eventually(
        lambda: _event(stack, "catalog", "ImageUpdateInvalidConfiguration"), 30, "the Event"
    )
    assert "write-back-method" in message and "git" in message


async def _policy_at(stack: Stack, name: str, tag: str) -> dict[str, Any] | None:
    try:
        policy = await stack.get("ImagePolicy", name)
    except NotFound:
        return None
    latest = (policy.get("status") or {}).get("latestRef") or {}
    return policy if latest.get("tag") == tag else None


async def _event(stack: Stack, app: str, reason: str) -> str | None:
    info = await stack.client.resource_for("v1", "Event")
    listing = await stack.client.list(info, NS)
    for event in listing.items:
        if event["involvedObject"].get("name") == app and event.get("reason") == reason:
            return str(event.get("message"))
    return None


LEDGER = """\
# ledger's settings; no Application deploys this folder
apiVersion: v1
kind: ConfigMap
metadata:
  name: ledger
data:
  image: {image}:1.0.0 # {{"$imagepolicy": "{ns}:ledger"}}
"""


async def test_a_flux_git_repository_source_and_a_superseded_pull_request(stack: Stack) -> None:
    """The automation's source is a Flux GitRepository (its CRD stands in for Flux's here);
    with no Application on the folder, the body renders its kustomization; a change made on
    main by hand supersedes the pull request, which is closed."""
    image = f"{stack.registry.host}/example/ledger"
    push_image(stack.registry, "example/ledger", ["1.0.0"])
    ledger = {
        "ledger/configmap.yaml": LEDGER.format(image=image, ns=NS),
        "ledger/kustomization.yaml": "resources:\n  - configmap.yaml\n",
    }
    stack.commit(ledger, "ledger 1.0.0")
    crd = crd_manifest("source.toolkit.fluxcd.io", "GitRepository", "gitrepositories")
    crds = await stack.client.resource_for_object(crd)
    await stack.client.apply(crds, crd, field_manager="tests", force=True)
    await wait_established(stack.client, [crd["metadata"]["name"]], timeout=30)
    try:
        await stack.apply(
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": "manifests"},
                "spec": {
                    "url": stack.host.repo_url(REPO),
                    "interval": "1h",
                    "ref": {"branch": "main"},
                },
            }
        )
        repository, policy, automation = image_objects(image, stack.host.github_api_url)
        for obj in (repository, policy, automation):
            obj["metadata"]["name"] = "ledger"
        policy["spec"]["imageRepositoryRef"]["name"] = "ledger"
        policy["metadata"]["labels"] = {"app": "ledger"}
        automation["spec"]["policySelector"] = {"matchLabels": {"app": "ledger"}}
        automation["spec"]["sourceRef"] = {"kind": "GitRepository", "name": "manifests"}
        del automation["spec"]["git"]["checkout"]  # the GitRepository's ref is the checkout
        automation["spec"]["update"]["path"] = "ledger"
        automation["spec"]["git"]["push"]["branch"] = "tether/ledger"
        await stack.apply(repository, policy, automation)
        await eventually(lambda: _automation_ran(stack, "ledger"), 30, "the first run")

        push_image(stack.registry, "example/ledger", ["1.1.0"])
        pull = await eventually(
            lambda: _open_pull(stack, lambda p: p.head == "tether/ledger"), 30, "the pull request"
        )
        assert "ConfigMap" in pull.body and f"image: {image}:1.1.0" in pull.body

        async def recorded() -> dict[str, Any] | None:
            # the pull request is on the host a moment before the run's status records it
            found = await stack.get("ImageUpdateAutomation", "ledger")
            return found if (found.get("status") or {}).get("pullRequest") else None

        ran = await eventually(recorded, 30, "the pull request recorded in the status")
        assert ran["status"]["pullRequest"]["number"] == pull.number
        assert ran["status"]["observedSourceRevision"].startswith("main@sha1:")

        # someone sets 1.1.0 on main by hand: the pull request has nothing left to propose
        by_hand = ledger["ledger/configmap.yaml"].replace("1.0.0", "1.1.0")
        stack.commit({"ledger/configmap.yaml": by_hand}, "ledger 1.1.0 by hand")
        stamp = "by-hand"
        annotations = {"reconcile.fluxcd.io/requestedAt": stamp}
        automation["metadata"]["annotations"] = {
            **automation["metadata"]["annotations"],
            **annotations,
        }
        await stack.apply(automation)
        closed = await eventually(
            lambda: stack.host.pull(REPO, pull.number).state == "closed",
            30,
            "the closed pull request",
        )
        assert closed
        assert "already deploys every image" in stack.host.comments(REPO, pull.number)[-1]
        after = await eventually(
            lambda: _handled(stack, "ledger", stamp), 30, "the run that closed it"
        )
        assert "pullRequest" not in after["status"]
        assert after["status"]["conditions"][0]["message"] == "repository up-to-date"
    finally:
        await stack.client.delete(crds, crd["metadata"]["name"])
        stack.client.invalidate_discovery()


async def _handled(stack: Stack, name: str, stamp: str) -> dict[str, Any] | None:
    automation = await stack.get("ImageUpdateAutomation", name)
    handled = (automation.get("status") or {}).get("lastHandledReconcileAt")
    return automation if handled == stamp else None
