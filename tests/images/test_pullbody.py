"""The image update pull request's text: trees of real commits exported, render targets picked
from Applications, real kustomize renders diffed with Secrets masked, title and Markdown body."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from tests.source.conftest import git
from tether.images.pullbody import (
    ExportError,
    ExportLimits,
    ImageChange,
    ObjectDiff,
    RenderTarget,
    TargetDiff,
    export_commit,
    image_changes,
    pull_request_text,
    rendered_changes,
    targets_for,
)
from tether.images.setters import LatestImage, apply_plan, plan_updates
from tether.resources import ResourceKey

REPO_URL = "https://git.example.com/acme/deploy.git"
MARKER = '# {"$imagepolicy": "flux-system:payment-service"}'
PAYMENT_KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: payments
resources:
  - deployment.yaml
  - service.yaml
"""
DEPLOYMENT = f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: payment-service
spec:
  selector:
    matchLabels: {{app: payment-service}}
  template:
    metadata:
      labels: {{app: payment-service}}
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/payment-service:1.5.0 {MARKER}
"""
SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: payment-service
spec:
  ports: [{port: 80}]
"""
FILES = {
    "apps/payment/kustomization.yaml": PAYMENT_KUSTOMIZATION,
    "apps/payment/deployment.yaml": DEPLOYMENT,
    "apps/payment/service.yaml": SERVICE,
    "apps/broken/kustomization.yaml": "resources:\n  - missing.yaml\n",
    "apps/broken/values.yaml": f"image: ghcr.io/acme/payment-service:1.5.0 {MARKER}\n",
    "README.md": "``` fences in a file are only text\n",
}
LATEST = {("flux-system", "payment-service"): LatestImage("ghcr.io/acme/payment-service", "1.5.1")}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def application(name: str, path: str | None, repo: str = REPO_URL, **extra: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"repoURL": repo, "targetRevision": "main", **extra}
    if path is not None:
        source["path"] = path
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"source": source, "destination": {"namespace": f"{name}-ns"}},
    }


@pytest.fixture
def updated_repo(tmp_path: Path) -> tuple[Path, str, str, list[Any]]:
    """A repository with two commits: the manifests, then the image update of their markers.
    Returns (repository, before commit, after commit, the update's edits)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "-b", "main")
    write(repo, FILES)
    os.symlink("apps/payment/service.yaml", repo / "inside-link")
    os.symlink("../outside.yaml", repo / "outside-link")
    os.symlink("/etc/passwd", repo / "apps" / "absolute-link")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "manifests")
    before = git(repo, "rev-parse", "HEAD")
    plan = apply_plan(plan_updates(repo, "apps", LATEST))
    git(repo, "commit", "--quiet", "-am", "update payment-service")
    return repo, before, git(repo, "rev-parse", "HEAD"), list(plan.edits)


def exported(repo: Path, before: str, after: str, where: Path) -> tuple[Path, Path]:
    export_commit(repo, before, where / "before", timeout=60)
    export_commit(repo, after, where / "after", timeout=60)
    return where / "before", where / "after"


# ---- export_commit ----------------------------------------------------------------------------


def test_export_writes_each_commits_tree(updated_repo: Any, tmp_path: Path) -> None:
    repo, before, after, _ = updated_repo
    old, new = exported(repo, before, after, tmp_path / "trees")
    assert "payment-service:1.5.0" in (old / "apps/payment/deployment.yaml").read_text()
    assert "payment-service:1.5.1" in (new / "apps/payment/deployment.yaml").read_text()
    for tree in (old, new):
        assert (tree / "apps/payment/service.yaml").read_text() == SERVICE
        assert (tree / "README.md").read_text() == FILES["README.md"]
        assert not (tree / ".git").exists()
        # a symlink inside the tree stays one; those leading out of it are dropped
        assert os.readlink(tree / "inside-link") == "apps/payment/service.yaml"
        assert not os.path.lexists(tree / "outside-link")
        assert not os.path.lexists(tree / "apps" / "absolute-link")


def test_export_refuses_what_is_not_a_commit_of_the_repository(
    updated_repo: Any, tmp_path: Path
) -> None:
    repo, before, _, _ = updated_repo
    with pytest.raises(ExportError, match="not a full commit SHA"):
        export_commit(repo, "--output=/tmp/x", tmp_path / "a", timeout=60)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ExportError, match="failed: fatal: not a valid object name"):
        export_commit(repo, "0" * 40, tmp_path / "b", timeout=60)
    assert not (tmp_path / "b").exists()
    with pytest.raises(ExportError, match="failed"):
        export_commit(tmp_path / "nowhere", before, tmp_path / "c", timeout=60)
    assert not (tmp_path / "c").exists()


def test_export_stops_at_its_limits(updated_repo: Any, tmp_path: Path) -> None:
    repo, before, _, _ = updated_repo
    with pytest.raises(ExportError, match="more than 3 entries"):
        export_commit(repo, before, tmp_path / "a", timeout=60, limits=ExportLimits(max_entries=3))
    assert not (tmp_path / "a").exists()
    with pytest.raises(ExportError, match="is over 100 bytes"):
        export_commit(
            repo, before, tmp_path / "b", timeout=60, limits=ExportLimits(max_file_bytes=100)
        )
    with pytest.raises(ExportError, match="add up to over 500 bytes"):
        export_commit(
            repo, before, tmp_path / "c", timeout=60, limits=ExportLimits(max_total_bytes=500)
        )
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


# ---- targets_for ------------------------------------------------------------------------------


def test_targets_are_the_applications_of_the_repository_holding_an_edited_file(
    tmp_path: Path,
) -> None:
    write(tmp_path, {"apps/web/deployment.yaml": "", "apps/other/kustomization.yaml": ""})
    edited = ["apps/payment/deployment.yaml", "./apps/web/deployment.yaml"]
    applications = [
        application("payment", "apps/payment", "https://GIT.example.com/acme/deploy/"),
        application("payment-prefix", "apps/pay"),  # a prefix of the name, not of the folder
        application("payment-deeper", "apps/payment/overlays"),
        application("other-repo", "apps/payment", "https://git.example.com/acme/other.git"),
        application(
            "web",
            "apps/web/",
            "git@git.example.com:acme/deploy.git",
            kustomize={"namePrefix": "x-"},
        ),
        application("chart", None, chart="payment", repoURL=REPO_URL),
        {"metadata": {"name": "no-spec"}},
    ]
    targets = targets_for(edited, applications, REPO_URL, tree=tmp_path)
    assert [(t.label, t.path, t.app_name, t.namespace) for t in targets] == [
        ("Application payment", "apps/payment", "payment", "payment-ns"),
        ("Application web", "apps/web", "web", "web-ns"),
    ]
    assert targets[1].source["kustomize"] == {"namePrefix": "x-"}


def test_root_application_and_multi_source_applications(tmp_path: Path) -> None:
    root = application("everything", ".")
    no_path = application("implicit-root", None)
    multi = application("multi", None)
    multi["spec"]["sources"] = [
        {"repoURL": REPO_URL, "ref": "values"},  # a values source: nothing to render
        {"repoURL": REPO_URL, "path": "apps/payment"},
        {"repoURL": "https://git.example.com/acme/other", "path": "apps/payment"},
    ]
    targets = targets_for(
        ["apps/payment/deployment.yaml"], [root, no_path, multi], REPO_URL, tree=tmp_path
    )
    assert [(t.label, t.path) for t in targets] == [
        ("Application everything", "."),
        ("Application implicit-root", "."),
        ("Application multi (source 2)", "apps/payment"),
    ]


def test_files_no_application_holds_fall_back_to_the_nearest_kustomization(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "clusters/kustomization.yaml": "",
            "clusters/prod/apps/Kustomization": "",
            "clusters/prod/apps/payment/deployment.yaml": "",
            "clusters/dev/deployment.yaml": "",
            "clusters/dev/second.yaml": "",
            "loose/deployment.yaml": "",
        },
    )
    edited = [
        "clusters/prod/apps/payment/deployment.yaml",
        "clusters/dev/deployment.yaml",
        "clusters/dev/second.yaml",
        "loose/deployment.yaml",
        "web/deployment.yaml",
    ]
    web = application("web", "web")
    targets = targets_for(edited, [web], REPO_URL, tree=tmp_path)
    assert [(t.label, t.path, t.app_name, dict(t.source)) for t in targets] == [
        ("Application web", "web", "web", web["spec"]["source"]),
        ("clusters/prod/apps", "clusters/prod/apps", "", {}),
        ("clusters", "clusters", "", {}),
    ]


# ---- rendered_changes -------------------------------------------------------------------------


def test_an_image_update_changes_one_rendered_object(updated_repo: Any, tmp_path: Path) -> None:
    repo, before, after, edits = updated_repo
    old, new = exported(repo, before, after, tmp_path / "trees")
    edited = [edit.marker.path for edit in edits]
    app = application("payment-service-production", "apps/payment")
    targets = targets_for(edited, [app], REPO_URL, tree=new)
    assert [t.label for t in targets] == ["Application payment-service-production", "apps/broken"]

    payment, broken = rendered_changes(old, new, targets)
    assert payment.error == ""
    assert [(o.key, o.change, o.omitted) for o in payment.objects] == [
        (ResourceKey("apps", "Deployment", "payments", "payment-service"), "changed", False)
    ]
    diff = payment.objects[0].diff
    assert diff.startswith("--- before\n+++ after\n")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[1:3] not in "--++"]
    assert changed == [
        "-      - image: ghcr.io/acme/payment-service:1.5.0",
        "+      - image: ghcr.io/acme/payment-service:1.5.1",
    ]
    # the broken target reports kustomize's message, not a traceback
    assert broken.objects == ()
    assert broken.error.startswith("does not render after the update: kustomize build")
    assert "missing.yaml" in broken.error and "Traceback" not in broken.error


SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: payment-db
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{{"stringData":{{"password":"{value}"}}}}'
stringData:
  password: {value}
  user: payments
"""


def test_secret_values_never_show(tmp_path: Path) -> None:
    for side, value in (("before", "hunter2-old-secret"), ("after", "hunter2-new-secret")):
        write(
            tmp_path / side,
            {
                "kustomization.yaml": "resources: [secret.yaml, config.yaml]\n",
                "secret.yaml": SECRET.format(value=value),
                "config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            },
        )
    write(
        tmp_path / "after",
        {"added.yaml": SECRET.format(value="added-secret-value").replace("payment-db", "added")},
    )
    (tmp_path / "after/kustomization.yaml").write_text("resources: [secret.yaml, added.yaml]\n")
    (result,) = rendered_changes(tmp_path / "before", tmp_path / "after", [RenderTarget(".", ".")])
    # in the order kustomize prints the objects, then the removed ones
    assert [(o.key.name, o.change) for o in result.objects] == [
        ("added", "added"),
        ("payment-db", "changed"),
        ("c", "removed"),
    ]
    text = "".join(o.diff for o in result.objects)
    for value in ("hunter2", "added-secret-value", "payments"):
        assert value not in text
    secret_diff = result.objects[1].diff
    # a changed value shows as a changed mask; the unchanged one is no line of the diff
    assert re.search(r"^-  password: \++$", secret_diff, re.M)
    assert re.search(r"^\+  password: \++$", secret_diff, re.M)
    assert "user:" not in "".join(line for line in secret_diff.splitlines() if line[:1] in "+-")


def test_diffs_past_the_bound_are_listed_without_text(updated_repo: Any, tmp_path: Path) -> None:
    repo, before, after, _ = updated_repo
    old, new = exported(repo, before, after, tmp_path / "trees")
    target = RenderTarget("payment", "apps/payment")
    (bounded,) = rendered_changes(old, new, [target], max_diff_chars=50)
    assert [(o.change, o.diff, o.omitted) for o in bounded.objects] == [("changed", "", True)]


# ---- pull_request_text ------------------------------------------------------------------------


def markdown_blocks(body: str) -> list[tuple[str, str, str]]:
    """(type, info, content) of the fenced code and HTML blocks of a CommonMark parse."""
    tokens = MarkdownIt("commonmark").parse(body)
    return [(t.type, t.info, t.content) for t in tokens if t.type in ("fence", "html_block")]


def test_the_changes_of_an_update(updated_repo: Any) -> None:
    *_, edits = updated_repo
    changes = image_changes(edits)
    assert changes == [
        ImageChange(
            "ghcr.io/acme/payment-service",
            "ghcr.io/acme/payment-service:1.5.0",
            "ghcr.io/acme/payment-service:1.5.1",
            "apps/broken/values.yaml",
            1,
        ),
        ImageChange(
            "ghcr.io/acme/payment-service",
            "ghcr.io/acme/payment-service:1.5.0",
            "ghcr.io/acme/payment-service:1.5.1",
            "apps/payment/deployment.yaml",
            14,
        ),
    ]


def test_title_and_body_of_an_update(updated_repo: Any, tmp_path: Path) -> None:
    repo, before, after, edits = updated_repo
    old, new = exported(repo, before, after, tmp_path / "trees")
    app = application("payment-service-production", "apps/payment")
    targets = targets_for([e.marker.path for e in edits], [app], REPO_URL, tree=new)
    diffs = rendered_changes(old, new, targets)
    title, body = pull_request_text("flux-system/payment", image_changes(edits), diffs)
    assert title == "Update payment-service to 1.5.1"
    assert (
        "| `ghcr.io/acme/payment-service` | `ghcr.io/acme/payment-service:1.5.0` | "
        "`ghcr.io/acme/payment-service:1.5.1` | `apps/payment/deployment.yaml:14` |"
    ) in body
    assert (
        "<summary>Application payment-service-production (<code>apps/payment</code>): "
        "1 changed</summary>" in body
    )
    assert (
        "<summary>apps/broken (<code>apps/broken</code>): could not be rendered</summary>" in body
    )
    fences = [(info, content) for kind, info, content in markdown_blocks(body) if kind == "fence"]
    assert fences[0] == ("diff", diffs[0].objects[0].diff)
    assert fences[1][0] == "text" and "missing.yaml" in fences[1][1]
    assert body.endswith(
        "---\nThis pull request is managed by Tether for ImageUpdateAutomation "
        "`flux-system/payment`; it will be updated as newer images arrive.\n"
    )


def change(image: str, new: str, part: str = "image") -> ImageChange:
    return ImageChange(image, "old", new, "apps/x.yaml", 3, part)


def test_titles() -> None:
    assert pull_request_text("ns/a", [], [])[0] == "Update images"
    kustomize = [
        change("ghcr.io/acme/web", "ghcr.io/acme/web", "name"),
        change("ghcr.io/acme/web", "2.0.0", "tag"),
    ]
    assert pull_request_text("ns/a", kustomize, [])[0] == "Update web to 2.0.0"
    digest = [change("localhost:5000/api", "localhost:5000/api@sha256:" + "a" * 64)]
    assert pull_request_text("ns/a", digest, [])[0] == "Update api to sha256:aaaaaaaaaaaa"
    three = [
        change("ghcr.io/acme/payment-service", "ghcr.io/acme/payment-service:1.5.1"),
        change("billing", "2.0.0", "tag"),
        change("ghcr.io/acme/web", "r:5000/web:3.1.0"),
    ]
    assert pull_request_text("ns/a", three, [])[0] == (
        "Update 3 images (payment-service 1.5.1, billing 2.0.0, web 3.1.0)"
    )
    many = [change(f"ghcr.io/acme/service-number-{n}", f"x:1.0.{n}") for n in range(40)]
    title = pull_request_text("ns/a", many, [])[0]
    assert len(title) <= 255
    assert title.startswith("Update 40 images (service-number-0 1.0.0, ") and title.endswith(", …)")
    long_one = [change("a" * 300, "b:1")]
    assert len(pull_request_text("ns/a", long_one, [])[0]) == 255


def big_diff(lines: int) -> str:
    return "--- before\n+++ after\n@@ -1 +1 @@\n" + "".join(f"+line {n}\n" for n in range(lines))


def test_the_body_fits_the_limit_and_stays_well_formed() -> None:
    changes = [change("ghcr.io/acme/web", "ghcr.io/acme/web:2")]
    objects = tuple(
        ObjectDiff(ResourceKey("", "ConfigMap", "ns", f"c{n}"), "changed", big_diff(300))
        for n in range(20)
    )
    diffs = [TargetDiff(RenderTarget(f"Application a{n}", f"apps/a{n}"), objects) for n in range(5)]
    _, body = pull_request_text("ns/auto", changes, diffs, limit=20_000)
    assert len(body) <= 20_000
    assert body.count("<details>") == body.count("</details>") >= 1
    assert "| `ghcr.io/acme/web` |" in body and body.endswith("newer images arrive.\n")
    assert "diff left out: the pull request body has a size limit" in body
    # every target keeps its summary when they all fit; past that, the first ones come first
    assert [line for line in body.splitlines() if line.startswith("<summary>")] == [
        f"<summary>Application a{n} (<code>apps/a{n}</code>): 20 changed</summary>"
        for n in range(5)
    ]
    assert "Some targets are not shown" not in body
    _, crowded = pull_request_text("ns/auto", changes, diffs * 40, limit=20_000)
    assert len(crowded) <= 20_000 and crowded.count("<details>") == crowded.count("</details>")
    assert "Some targets are not shown: the pull request body has a size limit." in crowded
    for kind, info, content in markdown_blocks(body):
        if kind == "fence":
            assert info == "diff" and content == big_diff(300)
    # at GitHub's 65,536 characters nothing is cut mid-way either
    assert len(pull_request_text("ns/auto", changes, diffs)[1]) <= 60_000
    # a table past the limit on its own is cut, with the marker
    many = [change(f"img{n}", f"img{n}:1") for n in range(2000)]
    assert pull_request_text("ns/auto", many, [], limit=5000)[1].endswith("… (truncated)")


def test_fences_in_a_diff_do_not_break_the_markdown() -> None:
    tricky = "--- before\n+++ after\n@@ -1 +1 @@\n-```\n+````yaml\n+</details>\n"
    key = ResourceKey("", "ConfigMap", "ns", "readme")
    diffs = [
        TargetDiff(RenderTarget("<b>app</b>", "."), (ObjectDiff(key, "changed", tricky),)),
        TargetDiff(RenderTarget("broken", "x"), error="bad ``` error\n<script>"),
    ]
    _, body = pull_request_text("ns/a", [change("a|b", "a:`1`")], diffs)
    assert "`````diff\n" + tricky + "`````\n" in body
    assert "````text\nbad ``` error\n<script>\n````\n" in body
    assert "<summary>&lt;b&gt;app&lt;/b&gt; (<code>.</code>): 1 changed</summary>" in body
    assert "| `a\\|b` | `old` | `` a:`1` `` |" in body
    fences = [(info, content) for kind, info, content in markdown_blocks(body) if kind == "fence"]
    assert fences == [("diff", tricky), ("text", "bad ``` error\n<script>\n")]
