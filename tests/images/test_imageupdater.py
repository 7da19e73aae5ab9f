"""Argo CD Image Updater's annotations read as Flux image automation, the new tags written byte
for byte into a kustomization or a Helm values file, and an update pushed through the loopback
git server with that plan."""

from __future__ import annotations

import copy
import fnmatch
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.images.test_automation import changed_lines, fresh_clone, tip
from tests.source.conftest import PASSWORD, USER, Remote, git, make_remote
from tether.images.automation import prepare_update, run_update, template_data
from tether.images.errors import SetterError
from tether.images.imageupdater import (
    ANY_VERSION,
    ImageUpdaterConfigError,
    SecretRef,
    Strategy,
    TargetKind,
    UpdaterConfig,
    WriteBackTarget,
    glob_to_regex,
    read_updater_config,
    update_spec,
)
from tether.images.imageupdater_plan import plan_app_updates
from tether.images.policy import latest_tag, parse_policy
from tether.images.setters import FieldKind, LatestImage, PolicyRef, UpdatePlan, apply_plan
from tether.source import RepoCredentials
from tether.source.gitserver import GitHTTPServer

P = "argocd-image-updater.argoproj.io/"
DIGEST = "sha256:" + "ab" * 32
APP_PATH = "apps/guestbook/overlays/prod"


def application(annotations: dict[str, str] | None = None, **source: Any) -> dict[str, Any]:
    """A git-written kustomization Application following one aliased image."""
    base = {
        P + "image-list": "web=ghcr.io/example/web:~1.2",
        P + "write-back-method": "git",
        P + "write-back-target": "kustomization",
    }
    merged = {key: value for key, value in {**base, **(annotations or {})}.items() if value}
    spec_source = {"repoURL": "https://git.example.com/org/deploy.git", "path": APP_PATH,
                   "targetRevision": "main", **source}  # fmt: skip
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "argocd", "annotations": merged},
        "spec": {"source": {k: v for k, v in spec_source.items() if v is not None}},
    }


def config_for(annotations: dict[str, str] | None = None, **source: Any) -> UpdaterConfig:
    config = read_updater_config(application(annotations, **source))
    assert config is not None
    return config


def helm_config(annotations: dict[str, str] | None = None) -> UpdaterConfig:
    settings = {P + "image-list": "app=ghcr.io/example/app", P + "write-back-target": "helmvalues"}
    return config_for({**settings, **(annotations or {})}, path="charts/app")


# ---- reading the annotations ----------------------------------------------------------------


def test_an_application_without_image_list_is_not_followed() -> None:
    assert read_updater_config({"metadata": {"name": "a"}}) is None
    app = application()
    del app["metadata"]["annotations"][P + "image-list"]
    assert read_updater_config(app) is None


def test_a_kustomize_application_maps_onto_a_policy_a_repository_and_a_target() -> None:
    config = config_for({P + "git-branch": "main:image-updates"})
    [web] = config.images
    assert (config.app_name, config.app_namespace) == ("guestbook", "argocd")
    assert config.repo_url == "https://git.example.com/org/deploy.git"
    assert (config.app_path, config.target_revision) == (APP_PATH, "main")
    assert config.target == WriteBackTarget(TargetKind.KUSTOMIZATION, APP_PATH)
    assert (config.base_branch, config.push_branch) == ("main", "image-updates")
    assert config.git_credentials == SecretRef("repocreds")
    assert (web.alias, web.key, web.image, web.repository) == (
        "web", "web", "ghcr.io/example/web", "ghcr.io/example/web"
    )  # fmt: skip
    assert web.strategy is Strategy.SEMVER and web.constraint == "~1.2"
    assert web.policy_spec == {"policy": {"semver": {"range": "~1.2"}}}
    assert web.repository_spec == {"image": "ghcr.io/example/web"}
    assert web.policy == PolicyRef("argocd", "guestbook-web")
    assert web.kustomize_name == "ghcr.io/example/web"
    assert config.image("web") is web


@pytest.mark.parametrize(
    ("entry", "key", "image", "repository", "constraint"),
    [
        ("nginx", "nginx", "nginx", "docker.io/library/nginx", ""),
        ("nginx:~1.26", "nginx", "nginx", "docker.io/library/nginx", "~1.26"),
        ("a=ghcr.io/o/a:1.x", "a", "ghcr.io/o/a", "ghcr.io/o/a", "1.x"),
        ("localhost:5000/app:^1.0", "localhost:5000/app", "localhost:5000/app",
         "localhost:5000/app", "^1.0"),
        ("org/app:>=1.0 <2.0", "org/app", "org/app", "docker.io/org/app", ">=1.0 <2.0"),
        ("argoproj/argocd=quay.io/argoproj/argocd:2.x-0", "argoproj/argocd",
         "quay.io/argoproj/argocd", "quay.io/argoproj/argocd", "2.x-0"),
    ],
)  # fmt: skip
def test_image_list_entries(
    entry: str, key: str, image: str, repository: str, constraint: str
) -> None:
    [found] = config_for({P + "image-list": entry}).images
    assert (found.key, found.image, found.repository) == (key, image, repository)
    assert found.constraint == constraint
    assert found.policy_spec["policy"]["semver"]["range"] == (constraint or ANY_VERSION)
    parse_policy(found.policy_spec)


def test_semver_without_a_constraint_takes_the_highest_version_prereleases_too() -> None:
    [image] = config_for({P + "image-list": "web=ghcr.io/example/web"}).images
    policy = parse_policy(image.policy_spec)
    assert latest_tag(policy, ["1.0.0", "1.2.0-rc.1", "latest", "0.9.0"]) == "1.2.0-rc.1"


def test_several_images_get_their_own_options_and_policy_names() -> None:
    config = config_for({
        P + "image-list": "web=ghcr.io/example/web, argoproj/argocd=quay.io/argoproj/argocd, "
                          "redis, ,",
        P + "update-strategy": "name",  # Application-wide: the default of every image
        P + "web.update-strategy": "semver",
        P + "argoproj_argocd.allow-tags": "regexp:^v[0-9]+\\.",
        P + "ignore-tags": "latest, *-dev",
    })  # fmt: skip
    web, argocd, redis = config.images
    assert web.policy_spec == {"policy": {"semver": {"range": ANY_VERSION}}}
    assert argocd.policy_spec == {"policy": {"alphabetical": {"order": "asc"}},
                                  "filterTags": {"pattern": "^v[0-9]+\\."}}  # fmt: skip
    assert redis.strategy is Strategy.ALPHABETICAL and redis.key == "redis"
    exclusions = ["^.*\\.sig$", "^latest$", "^.*-dev$"]
    assert all(image.repository_spec["exclusionList"] == exclusions for image in config.images)
    assert [image.policy.name for image in config.images] == [
        "guestbook-web", "guestbook-argoproj-argocd", "guestbook-redis"
    ]  # fmt: skip


def test_digest_follows_one_tag_with_digest_reflection() -> None:
    [image] = config_for({P + "image-list": "web=ghcr.io/example/web:dev-1.0",
                          P + "web.update-strategy": "digest"}).images  # fmt: skip
    assert image.strategy is Strategy.DIGEST
    assert image.policy_spec == {
        "policy": {"alphabetical": {"order": "asc"}},
        "filterTags": {"pattern": "^dev-1\\.0$"},
        "digestReflectionPolicy": "Always",
        "interval": "10m",
    }
    policy = parse_policy(image.policy_spec)
    assert latest_tag(policy, ["dev-1.0", "dev-1x0", "dev-1.0.1", "latest"]) == "dev-1.0"


@pytest.mark.parametrize(("allow", "pattern"), [("any", None), ("ANY", None),
                                                ("regexp:^[0-9a-f]{7}$", "^[0-9a-f]{7}$")])  # fmt: skip
def test_allow_tags(allow: str, pattern: str | None) -> None:
    [image] = config_for({P + "web.allow-tags": allow}).images
    assert image.policy_spec.get("filterTags") == (pattern and {"pattern": pattern})


@pytest.mark.parametrize(
    ("glob", "regex"),
    [("latest", "^latest$"), ("*", "^.*$"), ("v1.?", "^v1\\..$"), ("**-rc*", "^.*-rc.*$"),
     ("[a-c]x", "^[a-c]x$"), ("[^0-9]*", "^[^0-9].*$"), ("a\\*b", "^a\\*b$"),
     ("[\\]\\-]", "^[\\]\\-]$")],
)  # fmt: skip
def test_ignore_tag_globs_become_anchored_expressions(glob: str, regex: str) -> None:
    assert glob_to_regex(glob) == regex
    tags = ["latest", "v1.2", "v1.23", "1.0-rc1", "ax", "dx", "x1", "9x", "a*b", "aab", "]", "-"]
    expected = [tag for tag in tags if fnmatch.fnmatchcase(tag, glob.replace("[^", "[!"))]
    if "\\" not in glob:  # fnmatch has no escapes; the others it reads as Go does
        assert [tag for tag in tags if re.search(regex, tag)] == expected


def test_pull_secrets_and_force_update_are_kept_as_data() -> None:
    config = config_for({
        P + "image-list": "web=ghcr.io/example/web, api=ghcr.io/example/api",
        P + "web.pull-secret": "pullsecret:argocd/ghcr-login",
        P + "api.pull-secret": "secret:registry/ghcr#token",
        P + "pull-secret": "pullsecret:other/login",
        P + "web.force-update": "true",
    })  # fmt: skip
    web, api = config.images
    assert web.pull_secret == SecretRef("pullsecret", "argocd", "ghcr-login")
    assert web.repository_spec["secretRef"] == {"name": "ghcr-login"}
    assert api.pull_secret == SecretRef("secret", "registry", "ghcr", "token")
    assert "secretRef" not in api.repository_spec  # not in the Application's namespace
    assert web.force_update and not api.force_update


@pytest.mark.parametrize(
    ("method", "credentials"),
    [("git", SecretRef("repocreds")), ("git:repocreds", SecretRef("repocreds")),
     ("git:secret:argocd-image-updater/git-creds",
      SecretRef("secret", "argocd-image-updater", "git-creds")),
     ("git:secret:git-creds", SecretRef("secret", "argocd", "git-creds"))],
)  # fmt: skip
def test_git_write_back_credentials(method: str, credentials: SecretRef) -> None:
    assert config_for({P + "write-back-method": method}).git_credentials == credentials


@pytest.mark.parametrize(
    ("target", "expected"),
    [("kustomization", WriteBackTarget(TargetKind.KUSTOMIZATION, APP_PATH)),
     ("kustomization:../../base", WriteBackTarget(TargetKind.KUSTOMIZATION, "apps/guestbook/base")),
     ("kustomization:/config/bar", WriteBackTarget(TargetKind.KUSTOMIZATION, "config/bar")),
     ("kustomization:/", WriteBackTarget(TargetKind.KUSTOMIZATION, ""))],
)  # fmt: skip
def test_kustomization_targets(target: str, expected: WriteBackTarget) -> None:
    assert config_for({P + "write-back-target": target}).target == expected


@pytest.mark.parametrize(
    ("target", "path"),
    [("helmvalues", "charts/app/values.yaml"), ("helmvalues:values-prod.yaml",
     "charts/app/values-prod.yaml"), ("helmvalues:/env/prod/values.yaml", "env/prod/values.yaml")],
)  # fmt: skip
def test_helm_values_targets_and_keys(target: str, path: str) -> None:
    config = helm_config({P + "write-back-target": target})
    assert config.target == WriteBackTarget(TargetKind.HELM_VALUES, path)
    [app] = config.images
    assert (app.helm.name, app.helm.tag, app.helm.spec) == ("image.name", "image.tag", "")
    named = helm_config({P + "app.helm.image-name": "app.image.repository",
                         P + "app.helm.image-tag": "app.image.tag"}).images[0]  # fmt: skip
    assert (named.helm.name, named.helm.tag) == ("app.image.repository", "app.image.tag")
    spec = helm_config({P + "app.helm.image-spec": "images[0].ref"}).images[0]
    assert (spec.helm.name, spec.helm.tag, spec.helm.spec) == ("", "", "images[0].ref")


@pytest.mark.parametrize(
    ("branch", "revision", "base", "push"),
    [("", "main", "main", "main"), ("release", "main", "release", "release"),
     ("main:image-updates", "v1.0.0", "main", "image-updates"),
     (":image-updates", "main", "main", "image-updates"), ("", "HEAD", "", ""),
     ("", "", "", ""), ("", "refs/heads/prod", "prod", "prod")],
)  # fmt: skip
def test_branches(branch: str, revision: str, base: str, push: str) -> None:
    config = config_for({P + "git-branch": branch}, targetRevision=revision or None)
    assert (config.base_branch, config.push_branch) == (base, push)


def test_git_repository_replaces_the_source_url_and_is_needed_for_a_chart() -> None:
    url = "https://git.example.com/org/values.git"
    config = config_for({P + "git-repository": url})
    assert config.repo_url == url
    chart = application(chart="app", repoURL="https://charts.example.com")
    with pytest.raises(ImageUpdaterConfigError, match="Helm chart repository"):
        read_updater_config(chart)
    chart["metadata"]["annotations"][P + "git-repository"] = url
    assert read_updater_config(chart) is not None


def test_update_spec_checks_out_the_base_and_pushes_the_target() -> None:
    config = config_for({P + "git-branch": "main:image-updates"})
    spec = update_spec(config, author_email="bot@example.com")
    assert (spec.checkout.branch, spec.push_branch, spec.update_path) == (
        "main", "image-updates", APP_PATH
    )  # fmt: skip
    assert str(spec.automation) == "argocd/guestbook"
    head = config_for(targetRevision="HEAD")
    with pytest.raises(ImageUpdaterConfigError, match="default branch"):
        update_spec(head, author_email="bot@example.com")
    assert update_spec(head, author_email="b@x.io", default_branch="trunk").push_branch == "trunk"


KUSTOMIZE_NAME = P + "web.kustomize.image-name"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({P + "write-back-method": ""}, "argocd .the default when absent. changes the Application"),
        ({P + "write-back-method": "argocd"}, "Tether changes clusters only through Git"),
        ({P + "write-back-method": "kubectl"}, "write git"),
        ({P + "write-back-method": "git:secret:Bad/"}, "git:secret:<namespace>"),
        ({P + "write-back-target": ""}, r"\.argocd-source-guestbook\.yaml"),
        ({P + "write-back-target": "params.yaml"}, "parameter override file"),
        ({P + "write-back-target": "kustomization:"}, "names no path"),
        ({P + "write-back-target": "kustomization:../../../../.."}, "out of the repository"),
        ({P + "web.update-strategy": "latest"}, "build dates.*alphabetical.*digest"),
        ({P + "web.update-strategy": "newest-build"}, "Flux's image policies do not read"),
        ({P + "update-strategy": "bogus"}, "update-strategy: 'bogus' is not an update strategy"),
        ({P + "web.allow-tags": "glob:*"}, "write regexp:"),
        ({P + "web.allow-tags": "regexp:(a"}, "regular expression"),
        ({P + "web.ignore-tags": "ok, [abc"}, "malformed character class"),
        ({P + "web.ignore-tags": "a\\"}, "trailing backslash"),
        ({P + "web.pull-secret": "env:GHCR_LOGIN"}, "dockerconfigjson"),
        ({P + "web.pull-secret": "ext:/bin/login"}, "script"),
        ({P + "web.pull-secret": "pullsecret:login"}, "pullsecret:<namespace>/<name>"),
        ({P + "web.pull-secret": "secret:ns/login"}, "#<field>"),
        ({P + "web.force-update": "yes"}, "true or false"),
        ({P + "web.update-strategy": "digest"}, "follows one tag.*found '~1.2'"),
        ({P + "image-list": "web=ghcr.io/example/web:latest", P + "web.update-strategy": "digest",
          P + "web.allow-tags": "regexp:x"}, "no effect with the digest strategy"),
        ({P + "image-list": "ghcr.io/example/web@" + DIGEST}, "pins a digest"),
        ({P + "image-list": "web=a/b, web=c/d"}, "listed twice"),
        ({P + "image-list": ",".join(f"i{n}=a/b{n}" for n in range(51))}, "at most 50"),
        ({P + "image-list": "Web=ghcr.io/Example/web"}, "invalid image reference"),
        ({P + "image-list": "web=ghcr.io/example/web:"}, "empty version constraint"),
        ({P + "image-list": "web=ghcr.io/example/web:~x.y"}, "version constraint of 'web'"),
        ({P + "image-list": " , "}, "lists no image"),
        ({P + "image-list": "-web=ghcr.io/example/web"}, "alias '-web'"),
        ({P + "web.foo": "x"}, "is not an Image Updater annotation Tether knows"),
        ({P + "api.update-strategy": "semver"}, "names alias 'api'.*aliases: web"),
        ({P + "web.platforms": "linux/amd64"}, "do not choose by platform"),
        ({P + "web.tag-match": "regexp:x"}, "old name of allow-tags"),
        ({P + "git-branch": "main:image-updater-{{.SHA256}}"}, "templates"),
        ({P + "git-branch": "main:"}, "names no branch after"),
        ({P + "git-branch": "ma..in"}, "not a valid branch name"),
        ({P + "web.helm.image-tag": "image.tag"}, "no effect with write-back-target kustomization"),
        ({P + "image-list": "web=ghcr.io/example/web, www=ghcr.io/example/www",
          P + "www.kustomize.image-name": "ghcr.io/example/web"}, "both set the kustomization"),
        ({P + "image-list": "x" * 16_385}, "longer than 16384"),
    ],
)  # fmt: skip
def test_refusals_name_the_annotation_and_what_to_write(
    changes: dict[str, str], message: str
) -> None:
    with pytest.raises(ImageUpdaterConfigError, match=message) as caught:
        config_for(changes)
    assert "annotation argocd-image-updater.argoproj.io/" in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({P + "app.kustomize.image-name": "x"}, "no effect with write-back-target helmvalues"),
        ({P + "image-list": "ghcr.io/example/app"}, "has no alias"),
        ({P + "app.helm.image-spec": "image", P + "app.helm.image-tag": "tag"}, "keep one"),
        ({P + "app.helm.image-tag": "image..tag"}, "not a values key"),
        ({P + "image-list": "app=ghcr.io/example/app, db=ghcr.io/example/db"},
         "both set the values key 'image.name'"),
        ({P + "write-back-target": "helmvalues:/"}, "not a values file"),
    ],
)  # fmt: skip
def test_helm_refusals(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ImageUpdaterConfigError, match=message):
        helm_config(changes)


def test_source_refusals() -> None:
    multi = application()
    multi["spec"] = {"sources": [multi["spec"]["source"]]}
    with pytest.raises(ImageUpdaterConfigError, match=r"one spec\.source only"):
        read_updater_config(multi)
    for revision in ("a" * 40, "1.2.*", "refs/tags/v1"):
        with pytest.raises(ImageUpdaterConfigError, match="not a branch to commit to"):
            config_for(targetRevision=revision)
    assert config_for({P + "git-branch": "main"}, targetRevision="a" * 40).base_branch == "main"
    with pytest.raises(ImageUpdaterConfigError, match="leads out of the repository"):
        config_for(path="../elsewhere")


# ---- kustomization: only the values change ------------------------------------------------------

KUSTOMIZATION = """\
# Production overlay (comments, quoting and order stay)
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base

images:
  - name: ghcr.io/example/web   # the storefront
    newTag: "1.2.0"  # set by Tether
  - name: nginx
  - {name: redis, newTag: '6.0'}
"""
LATEST_WEB = LatestImage("ghcr.io/example/web", "1.2.7")


def write(root: Path, rel: str, text: str, newline: str = "\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def kustomize_plan(tmp_path: Path, text: str, latest: dict[str, LatestImage | None],
                   annotations: dict[str, str] | None = None) -> UpdatePlan:  # fmt: skip
    write(tmp_path, f"{APP_PATH}/kustomization.yaml", text)
    return plan_app_updates(tmp_path, config_for(annotations), latest)


@pytest.mark.parametrize(("newline", "bom"), [("\n", ""), ("\r\n", "\ufeff")])
def test_kustomization_new_tag_replaced_byte_for_byte(
    tmp_path: Path, newline: str, bom: str
) -> None:
    path = write(tmp_path, f"{APP_PATH}/kustomization.yaml", bom + KUSTOMIZATION, newline)
    before = path.read_bytes()
    plan = apply_plan(plan_app_updates(tmp_path, config_for(), {"web": LATEST_WEB}))
    [edit] = plan.edits
    assert (edit.marker.path, edit.marker.line, edit.marker.field) == (
        f"{APP_PATH}/kustomization.yaml", 9, FieldKind.TAG
    )  # fmt: skip
    assert (edit.marker.value, edit.new, edit.marker.setter) == (
        "1.2.0", "1.2.7", "argocd:guestbook-web:tag"
    )  # fmt: skip
    assert path.read_bytes() == before.replace(b'newTag: "1.2.0"', b'newTag: "1.2.7"')


def test_missing_keys_are_added_after_the_last_entry_at_its_indentation(tmp_path: Path) -> None:
    plan = kustomize_plan(
        tmp_path, KUSTOMIZATION,
        {"nginx": LatestImage("docker.io/library/nginx", "1.10"), "cache": None},
        {P + "image-list": "nginx, cache=redis"},
    )  # fmt: skip
    assert not plan.problems
    [edit] = plan.edits
    assert (edit.marker.line, edit.marker.value, edit.new) == (11, "", "1.10")
    apply_plan(plan)
    text = (tmp_path / APP_PATH / "kustomization.yaml").read_text()
    assert text == KUSTOMIZATION.replace(
        "  - name: nginx\n", '  - name: nginx\n    newTag: "1.10"\n'
    )


def test_new_name_is_set_when_the_kustomize_name_is_another(tmp_path: Path) -> None:
    annotations = {P + "image-list": "cache=ghcr.io/example/redis:7.x",
                   P + "cache.kustomize.image-name": "redis"}  # fmt: skip
    latest: dict[str, LatestImage | None] = {"cache": LatestImage("ghcr.io/example/redis", "7.2")}
    flow = kustomize_plan(tmp_path, KUSTOMIZATION, latest, annotations)
    assert "cannot be added (it is a flow mapping" in flow.problems[0].reason
    block = KUSTOMIZATION.replace("  - {name: redis, newTag: '6.0'}\n",
                                  "  - name: redis\n    newTag: '6.0'\n")  # fmt: skip
    plan = apply_plan(kustomize_plan(tmp_path, block, latest, annotations))
    assert [(e.marker.line, e.marker.field, e.marker.value, e.new) for e in plan.edits] == [
        (12, FieldKind.TAG, "6.0", "7.2"), (13, FieldKind.NAME, "", "ghcr.io/example/redis")
    ]  # fmt: skip
    text = (tmp_path / APP_PATH / "kustomization.yaml").read_text()
    assert text.endswith("  - name: redis\n    newTag: '7.2'\n    newName: ghcr.io/example/redis\n")
    again = kustomize_plan(tmp_path, text, latest, annotations)
    assert not again.edits and not again.problems and not again.contents


def test_a_flow_entry_is_edited_in_place(tmp_path: Path) -> None:
    plan = kustomize_plan(tmp_path, KUSTOMIZATION,
                          {"redis": LatestImage("docker.io/library/redis", "7.2")},
                          {P + "image-list": "redis"})  # fmt: skip
    assert (
        plan.contents[f"{APP_PATH}/kustomization.yaml"]
        .decode()
        .endswith("  - {name: redis, newTag: '7.2'}\n")
    )


def test_plain_values_are_quoted_when_yaml_would_not_read_them_as_text(tmp_path: Path) -> None:
    text = KUSTOMIZATION.replace("  - name: nginx\n", "  - name: nginx\n    newTag: latest\n")
    annotations = {P + "image-list": "n=nginx", P + "n.kustomize.image-name": "docker.io/nginx"}
    text = text.replace("name: nginx", "name: docker.io/nginx")
    latest: dict[str, LatestImage | None] = {"n": LatestImage("nginx", "1.10")}
    plan = kustomize_plan(tmp_path, text, latest, annotations)
    assert [edit.marker.field for edit in plan.edits] == [FieldKind.TAG]  # docker.io/nginx is it
    content = plan.contents[f"{APP_PATH}/kustomization.yaml"].decode()
    assert content == text.replace("newTag: latest", 'newTag: "1.10"')


def test_a_target_reached_through_a_symlinked_directory_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "real/kustomization.yaml", KUSTOMIZATION)
    (tmp_path / "apps/guestbook/overlays").mkdir(parents=True)
    (tmp_path / APP_PATH).symlink_to(tmp_path / "real")
    [problem] = plan_app_updates(tmp_path, config_for(), {"web": LATEST_WEB}).problems
    assert (problem.path, problem.line) == (APP_PATH, 0)
    assert "through a symbolic link" in problem.reason


def test_digest_strategy_sets_the_entry_digest(tmp_path: Path) -> None:
    annotations = {P + "image-list": "web=ghcr.io/example/web:latest",
                   P + "web.update-strategy": "digest"}  # fmt: skip
    latest: dict[str, LatestImage | None] = {
        "web": LatestImage("ghcr.io/example/web", "latest", DIGEST)
    }
    plan = kustomize_plan(tmp_path, KUSTOMIZATION, latest, annotations)
    [edit] = plan.edits
    assert (edit.marker.field, edit.new, edit.marker.line) == (FieldKind.DIGEST, DIGEST, 10)
    no_digest = {"web": LatestImage("ghcr.io/example/web", "latest")}
    [problem] = kustomize_plan(tmp_path, KUSTOMIZATION, dict(no_digest), annotations).problems
    assert "reports no digest" in problem.reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (KUSTOMIZATION.replace("  - name: ghcr.io/example/web", "  - name: other"),
         "no images entry named 'ghcr.io/example/web'.*kustomize edit set image"),
        (KUSTOMIZATION.replace('newTag: "1.2.0"', f"digest: {DIGEST}"), "pins a digest"),
        (KUSTOMIZATION.replace("  # the storefront", "\n    newName: ghcr.io/other/web"),
         "sets newName 'ghcr.io/other/web'"),
        (KUSTOMIZATION + "---\nkind: Other\n", "one YAML document"),
        ("images: [\n", "not valid YAML"),
        (KUSTOMIZATION.replace("  - name: nginx", "  - name: ghcr.io/example/web"),
         "2 images entries"),
        (KUSTOMIZATION.replace('newTag: "1.2.0"', "newTag: |\n      1.2.0"), "several lines"),
        (KUSTOMIZATION.replace('newTag: "1.2.0"', "newTag:"), "the value is empty"),
    ],
)  # fmt: skip
def test_kustomization_problems_write_nothing(tmp_path: Path, text: str, reason: str) -> None:
    plan = kustomize_plan(tmp_path, text, {"web": LATEST_WEB})
    assert plan.problems and re.search(reason, plan.problems[0].reason)
    assert not plan.contents and not plan.edits
    with pytest.raises(SetterError, match="nothing was written"):
        apply_plan(plan)


def test_latest_images_are_checked(tmp_path: Path) -> None:
    assert not kustomize_plan(tmp_path, KUSTOMIZATION, {"web": None}).contents
    cases = [({}, "no latest image given for 'web'"),
             ({"web": LatestImage("ghcr.io/example/api", "1.2.7")}, "not 'ghcr.io/example/web'"),
             ({"web": LatestImage("ghcr.io/example/web", "1 2")}, "not a valid tag")]  # fmt: skip
    for latest, reason in cases:
        [problem] = kustomize_plan(tmp_path, KUSTOMIZATION, dict(latest)).problems
        assert reason in problem.reason


def test_target_files(tmp_path: Path) -> None:
    config = config_for({P + "write-back-target": "kustomization:../../base"})
    [missing] = plan_app_updates(tmp_path, config, {"web": LATEST_WEB}).problems
    assert (missing.path, missing.reason) == ("apps/guestbook/base", missing.reason)
    assert "no kustomization file" in missing.reason
    write(tmp_path, "apps/guestbook/base/kustomization.yml", KUSTOMIZATION)
    plan = plan_app_updates(tmp_path, config, {"web": LATEST_WEB})
    assert plan.files == ("apps/guestbook/base/kustomization.yml",)
    link = tmp_path / APP_PATH / "kustomization.yaml"
    link.parent.mkdir(parents=True)
    link.symlink_to(tmp_path / "apps/guestbook/base/kustomization.yml")
    [problem] = plan_app_updates(tmp_path, config_for(), {"web": LATEST_WEB}).problems
    assert "symbolic link" in problem.reason
    with pytest.raises(SetterError, match="not a directory"):
        plan_app_updates(tmp_path / "nowhere", config, {})


# ---- Helm values --------------------------------------------------------------------------------

VALUES = """\
# Values of the app chart
replicaCount: 2
image:
  name: ghcr.io/example/app   # the app
  tag: '1.0.0'
  pullPolicy: IfNotPresent
worker.image.tag: 0.9.0
sidecars:
  - name: proxy
    image:
      repository: nginx
      tag: 1.25.0
defaults: &defaults
  tag: 1.0.0
alias: *defaults
"""
LATEST_APP = LatestImage("ghcr.io/example/app", "1.1.0")


def helm_plan(tmp_path: Path, latest: LatestImage | None, text: str = VALUES,
              annotations: dict[str, str] | None = None) -> UpdatePlan:  # fmt: skip
    write(tmp_path, "charts/app/values.yaml", text)
    return plan_app_updates(tmp_path, helm_config(annotations), {"app": latest})


def test_helm_values_keys_are_set_byte_for_byte(tmp_path: Path) -> None:
    plan = apply_plan(helm_plan(tmp_path, LATEST_APP))
    [edit] = plan.edits  # the name already names the image
    assert (edit.marker.line, edit.marker.field, edit.new) == (5, FieldKind.TAG, "1.1.0")
    assert (tmp_path / "charts/app/values.yaml").read_text() == VALUES.replace("'1.0.0'", "'1.1.0'")


@pytest.mark.parametrize(
    ("annotations", "latest", "old", "new"),
    [
        ({P + "app.helm.image-tag": "worker.image.tag"}, LATEST_APP, "worker.image.tag: 0.9.0",
         "worker.image.tag: 1.1.0"),
        ({P + "image-list": "app=nginx", P + "app.helm.image-name": "sidecars[0].image.repository",
          P + "app.helm.image-tag": "sidecars[0].image.tag"},
         LatestImage("docker.io/library/nginx", "1.27.1"), "tag: 1.25.0", "tag: 1.27.1"),
        ({P + "app.helm.image-spec": "image.name"}, LATEST_APP,
         "name: ghcr.io/example/app ", "name: ghcr.io/example/app:1.1.0 "),
        ({P + "image-list": "app=ghcr.io/example/app:dev", P + "app.update-strategy": "digest"},
         LatestImage("ghcr.io/example/app", "dev", DIGEST), "tag: '1.0.0'", f"tag: 'dev@{DIGEST}'"),
        ({P + "image-list": "app=ghcr.io/example/other"},
         LatestImage("ghcr.io/example/other", "1.0.0"),
         "name: ghcr.io/example/app ", "name: ghcr.io/example/other "),
        ({P + "app.helm.image-tag": "defaults.tag"}, LATEST_APP, "  tag: 1.0.0\nalias",
         "  tag: 1.1.0\nalias"),
    ],
)  # fmt: skip
def test_helm_value_forms(tmp_path: Path, annotations: dict[str, str], latest: LatestImage,
                          old: str, new: str) -> None:  # fmt: skip
    plan = helm_plan(tmp_path, latest, annotations=annotations)
    assert not plan.problems
    assert plan.contents["charts/app/values.yaml"].decode() == VALUES.replace(old, new, 1)


def test_a_missing_helm_key_is_added_to_its_mapping(tmp_path: Path) -> None:
    plan = helm_plan(tmp_path, LATEST_APP, annotations={P + "app.helm.image-tag": "image.digest"})
    [edit] = plan.edits
    assert (edit.marker.line, edit.marker.value, edit.new) == (7, "", "1.1.0")
    text = plan.contents["charts/app/values.yaml"].decode()
    assert text == VALUES.replace("IfNotPresent\n", "IfNotPresent\n  digest: 1.1.0\n")
    data = template_data(plan, update_spec(helm_config(), author_email="b@example.com"))
    [change] = data.changed.changes()
    assert (change.old_value, change.new_value, change.setter) == (
        "", "1.1.0", "argocd:guestbook-app:tag"
    )  # fmt: skip
    assert list(data.changed.file_changes) == ["values.yaml"]


@pytest.mark.parametrize(
    ("annotations", "reason"),
    [
        ({P + "app.helm.image-tag": "chart.image.tag"}, "has no 'chart' (for 'chart.image.tag')"),
        ({P + "app.helm.image-tag": "sidecars[3].tag"}, "'sidecars' is not a sequence with an item 3"),
        ({P + "app.helm.image-tag": "alias.tag"}, "'alias' is an alias"),
        ({P + "app.helm.image-tag": "sidecars"}, "a mapping or a sequence"),
        ({P + "app.helm.image-tag": "sidecars[0].image.digest"}, "cannot be added"),
    ],
)  # fmt: skip
def test_helm_problems(tmp_path: Path, annotations: dict[str, str], reason: str) -> None:
    text = VALUES.replace("      tag: 1.25.0\n", "      tag: |\n        1.25.0\n")
    plan = helm_plan(tmp_path, LATEST_APP, text, annotations)
    assert [reason in problem.reason for problem in plan.problems] == [True]


# ---- the update step with the plan, against the loopback git server -----------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHTTPServer]:
    with GitHTTPServer(tmp_path_factory.mktemp("served"), (USER, PASSWORD)) as server:
        yield server


@pytest.fixture
def deploy_repo(served: GitHTTPServer, tmp_path: Path) -> Remote:
    remote = make_remote(served.root, tmp_path, served.url("{name}"))
    remote.commit_and_push("guestbook", {f"{APP_PATH}/kustomization.yaml": KUSTOMIZATION})
    return remote


def test_run_update_with_the_planner_pushes_one_changed_line(
    deploy_repo: Remote, tmp_path: Path
) -> None:
    app = application({P + "git-branch": "main:image-updates"}, repoURL=deploy_repo.url)
    config = read_updater_config(app)
    assert config is not None
    spec = update_spec(config, author_email="bot@example.com", author_name="Bot",
                       message_template="{{ range .Changed.Changes }}{{ print .OldValue }} -> "
                                        "{{ println .NewValue }}{{ end }}")  # fmt: skip
    credentials = RepoCredentials(url="http://127.0.0.1/", username=USER, password=PASSWORD)
    main = tip(deploy_repo, "main")

    def planner(root: Path) -> UpdatePlan:
        return plan_app_updates(root, config, {"web": LATEST_WEB})

    result = run_update(spec, {}, credentials=credentials, planner=planner)
    assert result.commit == tip(deploy_repo, "image-updates") and tip(deploy_repo, "main") == main
    assert result.message == "1.2.0 -> 1.2.7\n"
    clone = fresh_clone(deploy_repo, tmp_path)
    assert changed_lines(clone, "origin/main", "origin/image-updates") == [
        '-    newTag: "1.2.0"  # set by Tether',
        '+    newTag: "1.2.7"  # set by Tether',
    ]
    again = run_update(spec, {}, credentials=credentials, planner=planner)
    assert again.commit is None  # the rebuilt branch would hold the same files


def test_a_plan_with_problems_stops_the_update_before_any_commit(deploy_repo: Remote) -> None:
    config = config_for({P + "git-branch": "main:image-updates"}, repoURL=deploy_repo.url)
    spec = update_spec(config, author_email="bot@example.com")
    credentials = RepoCredentials(url="http://127.0.0.1/", username=USER, password=PASSWORD)
    wrong = LatestImage("ghcr.io/example/api", "9.9.9")
    with (
        pytest.raises(SetterError, match=re.escape("not 'ghcr.io/example/web'")),
        prepare_update(spec, {}, credentials=credentials,
                       planner=lambda root: plan_app_updates(root, config, {"web": wrong})),
    ):  # fmt: skip
        pass
    assert tip(deploy_repo, "image-updates") == ""
    assert os.path.isdir(deploy_repo.work) and git(deploy_repo.work, "status", "--short") == ""


def test_reading_does_not_change_the_application() -> None:
    app = application({P + "ignore-tags": "*-rc*"})
    before = copy.deepcopy(app)
    read_updater_config(app)
    assert app == before
