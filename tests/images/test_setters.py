"""Flux's image setters: only the marked values change, byte for byte; all files or none."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.corpora import CORPORA
from tether.images import setters
from tether.images.errors import SetterError
from tether.images.setters import (
    FieldKind,
    LatestImage,
    PolicyRef,
    SetterLimits,
    apply_plan,
    apply_updates,
    plan_updates,
    scan_markers,
)
from tether.safeyaml import YamlLimits

PAYMENT = ("argocd", "payment-service")
LATEST = {
    PAYMENT: LatestImage("registry.example.com/payment-service", "1.5.0"),
    ("argocd", "web"): LatestImage("ghcr.io/example/web", "2.1.0", "sha256:" + "ab" * 32),
}

KUSTOMIZATION = """\
# Production overlay of the payment service.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

resources:
  - ../base        # shared manifests
  - ingress.yaml

images:
  - name: registry.example.com/payment-service
    newTag: 1.4.0 # {"$imagepolicy": "argocd:payment-service:tag"}
  # a pinned sidecar, no automation
  - name: envoyproxy/envoy
    newTag: v1.29.1
"""


def write(root: Path, rel: str, content: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_bytes(content.encode())
    else:
        path.write_bytes(content)
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def test_kustomization_new_tag_bump_changes_exactly_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "apps/payment-service/production/kustomization.yaml", KUSTOMIZATION)

    plan = apply_updates(tmp_path, "apps/payment-service", LATEST)

    expected = KUSTOMIZATION.replace("newTag: 1.4.0 #", "newTag: 1.5.0 #")
    assert expected != KUSTOMIZATION
    assert path.read_text() == expected
    assert plan.files == ("apps/payment-service/production/kustomization.yaml",)
    [edit] = plan.edits
    assert (edit.marker.line, edit.marker.value, edit.new) == (11, "1.4.0", "1.5.0")
    assert edit.marker.policy == PolicyRef("argocd", "payment-service")
    assert edit.marker.setter == "argocd:payment-service:tag"


def test_deployment_image_is_set_to_the_full_reference_with_digest(tmp_path: Path) -> None:
    text = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: ghcr.io/example/web:2.0.0 # {"$imagepolicy": "argocd:web"}
      containers:
        - name: web
          image: ghcr.io/example/web:2.0.0@sha256:00 # {"$imagepolicy": "argocd:web"}
          args: ["--port", "8080"]
        - name: pay
          image: registry.example.com/payment-service:1.4.0 # {"$imagepolicy": "argocd:payment-service"}
"""
    path = write(tmp_path, "deploy.yaml", text)

    apply_updates(tmp_path, "", LATEST)

    web = "ghcr.io/example/web:2.1.0@sha256:" + "ab" * 32
    expected = (
        text.replace("ghcr.io/example/web:2.0.0@sha256:00", web)
        .replace("ghcr.io/example/web:2.0.0", web)
        .replace("payment-service:1.4.0", "payment-service:1.5.0")
    )
    assert path.read_text() == expected


def test_helm_values_repository_tag_and_digest_markers(tmp_path: Path) -> None:
    text = """\
replicaCount: 2
image:
  repository: ghcr.io/example/old-web # {"$imagepolicy": "argocd:web:name"}
  tag: 2.0.0 # {"$imagepolicy": "argocd:web:tag"}
  digest: "" # {"$imagepolicy": "argocd:web:digest"}
  pullPolicy: IfNotPresent
"""
    path = write(tmp_path, "charts/web/values.yaml", text)

    plan = apply_updates(tmp_path, "charts", LATEST)

    assert path.read_text() == text.replace("old-web", "web").replace("2.0.0", "2.1.0").replace(
        'digest: ""', f'digest: "sha256:{"ab" * 32}"'
    )
    assert [edit.marker.field for edit in plan.edits] == [
        FieldKind.NAME,
        FieldKind.TAG,
        FieldKind.DIGEST,
    ]


def test_helm_release_values_in_a_multi_document_file(tmp_path: Path) -> None:
    text = """\
---
apiVersion: v1
kind: Namespace
metadata:
  name: payments   # {"note": "not a marker"}
---
# the release
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: payment
spec:
  values:
    image:
      repository: registry.example.com/payment-service
      tag: '1.4.0' # {"$imagepolicy": "argocd:payment-service:tag"}
...
---
apiVersion: v1
kind: ConfigMap
data:
  tag: 1.4.0
"""
    path = write(tmp_path, "release.yaml", text)

    apply_updates(tmp_path, ".", LATEST)

    assert path.read_text() == text.replace("tag: '1.4.0'", "tag: '1.5.0'")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("tag: '1.4.0' # M", "tag: '1.5.0' # M"),
        ('tag: "1.4.0" # M', 'tag: "1.5.0" # M'),
        ("tag: 1.4.0 # M", "tag: 1.5.0 # M"),
        ("tag:   1.4.0    #    M", "tag:   1.5.0    #    M"),
        # the new value would read as a number: quoted, as Flux does
        ("tag: 1.4.0 # M", 'tag: "1.5" # M'),
        ("tag: '1.4' # M", "tag: '1.5' # M"),
        ("tag: &t !!str 1.4.0 # M", "tag: &t !!str 1.5.0 # M"),
        ("- 1.4.0 # M", "- 1.5.0 # M"),
    ],
)
def test_value_keeps_its_quoting_and_properties(tmp_path: Path, line: str, expected: str) -> None:
    marker = '{"$imagepolicy": "argocd:payment-service:tag"}'
    tag = "1.5" if '"1.5"' in expected or "'1.5'" in expected else "1.5.0"
    latest = {PAYMENT: LatestImage("registry.example.com/payment-service", tag)}
    path = write(tmp_path, "values.yaml", "top: 1\n" + line.replace("M", marker) + "\n")
    if line.startswith("-"):
        path.write_text("list:\n" + line.replace("M", marker) + "\n")

    apply_updates(tmp_path, "", latest)

    assert path.read_text().splitlines()[-1] == expected.replace("M", marker)
    [value] = [v for v in yaml.safe_load(path.read_text()).values() if v != 1]
    assert value in (tag, [tag])


def test_crlf_line_endings_and_byte_order_mark_survive(tmp_path: Path) -> None:
    text = (
        "\ufeffimages:\r\n"
        "  - name: registry.example.com/payment-service\r\n"
        '    newTag: 1.4.0 # {"$imagepolicy": "argocd:payment-service:tag"}\r\n'
        "\r\n"
        "# trailing comment without newline"
    )
    path = write(tmp_path, "kustomization.yml", text)

    apply_updates(tmp_path, "", LATEST)

    assert path.read_bytes() == text.replace("1.4.0", "1.5.0").encode()


def test_a_missing_policy_leaves_every_file_untouched(tmp_path: Path) -> None:
    good = write(tmp_path, "a/kustomization.yaml", KUSTOMIZATION)
    bad_text = 'image: nginx:1.0 # {"$imagepolicy": "argocd:nginx"}\n'
    bad = write(tmp_path, "b/deploy.yaml", bad_text)
    before = snapshot(tmp_path)
    for path in (good, bad):  # an old stamp: any rewrite, however quick, moves it
        os.utime(path, ns=(10**18, 10**18))
    stamps = {path: path.stat().st_mtime_ns for path in (good, bad)}

    plan = plan_updates(tmp_path, "", LATEST)
    [problem] = plan.problems
    assert (problem.path, problem.line) == ("b/deploy.yaml", 1)
    assert "argocd:nginx" in problem.reason
    assert len(plan.edits) == 1  # the good file's edit is known, and held back
    with pytest.raises(SetterError, match=r"b/deploy.yaml:1: .*argocd:nginx") as caught:
        apply_updates(tmp_path, "", LATEST)

    assert caught.value.path == "b/deploy.yaml"
    assert snapshot(tmp_path) == before
    assert {path: path.stat().st_mtime_ns for path in (good, bad)} == stamps


MALFORMED = [
    ('image: a:1 # {"$imagepolicy": "argocd:web"', "not valid JSON"),
    ('image: a:1 # {"$imagepolicy": "argocd:web"} trailing', "not valid JSON"),
    ('image: a:1 # note # {"$imagepolicy": "argocd:web"}', "not valid JSON"),
    ('image: a:1 # {"$imagepolicy": 1}', "JSON object of strings"),
    ('image: a:1 # ["$imagepolicy"]', "JSON object of strings"),
    ('image: a:1 # {"$imagepolicy": "argocd:web:version"}', "not one of tag, name, digest"),
    ('image: a:1 # {"$imagepolicy": "argocd:web:image"}', "not one of tag, name, digest"),
    ('image: a:1 # {"$imagepolicy": "web"}', "is not <namespace>:<policy>"),
    ('image: a:1 # {"$imagepolicy": "a:b:tag:x"}', "is not <namespace>:<policy>"),
    ('image: a:1 # {"$imagepolicy": "Argo_CD:web"}', "does not name a policy"),
    ('image: a:1 # {"$imagepolicy": ""}', "is not <namespace>:<policy>"),
    ('image: a:1 # {"$imagepolicy": "argocd:web", "x": ' + "[" * 5000 + "]}", "longer than"),
    ('images: [a:1, b:2] # {"$imagepolicy": "argocd:web"}', "mapping or a sequence"),
    ('image: {name: a} # {"$imagepolicy": "argocd:web"}', "mapping or a sequence"),
    ('image: # {"$imagepolicy": "argocd:web"}\n  name: a', "not on the marker's line"),
    ('image: # {"$imagepolicy": "argocd:web"}', "no value to set"),
    ('base: &b a:1\nimage: *b # {"$imagepolicy": "argocd:web"}', "an alias"),
    ('image: "a:1\n  b" # {"$imagepolicy": "argocd:web"}', "spans several lines"),
    ('--- # {"$imagepolicy": "argocd:web"}\nimage: a:1', "no value to set"),
]


@pytest.mark.parametrize(("text", "reason"), MALFORMED)
def test_malformed_markers_are_reported_and_block_the_update(
    tmp_path: Path, text: str, reason: str
) -> None:
    path = write(tmp_path, "x.yaml", text + "\n")
    ok = write(tmp_path, "y.yaml", 'tag: 1.4.0 # {"$imagepolicy": "argocd:payment-service:tag"}\n')
    marker_line = next(n for n, line in enumerate(text.split("\n"), 1) if "$imagepolicy" in line)

    scan = scan_markers(tmp_path)

    [problem] = scan.problems
    assert reason in problem.reason
    assert (problem.path, problem.line) == ("x.yaml", marker_line)
    assert [marker.path for marker in scan.markers] == ["y.yaml"]
    with pytest.raises(SetterError, match="nothing was written"):
        apply_updates(tmp_path, "", LATEST)
    assert path.read_text() == text + "\n"
    assert "1.4.0" in ok.read_text()


def test_flux_marker_spellings_are_accepted(tmp_path: Path) -> None:
    text = """\
a: x:1 #{"$imagepolicy":"argocd:web"}
b: x:1 ##   { "$imagepolicy" : "argocd:web:tag" , "comment": "kept" }
c: x:1	# {"$imagepolicy": "argocd:web:name"}
"""
    write(tmp_path, "m.yaml", text)

    markers = scan_markers(tmp_path).markers

    assert [(m.line, m.field, m.value) for m in markers] == [
        (1, FieldKind.IMAGE, "x:1"),
        (2, FieldKind.TAG, "x:1"),
        (3, FieldKind.NAME, "x:1"),
    ]


def test_marker_text_inside_values_and_commented_out_lines_is_ignored(tmp_path: Path) -> None:
    text = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
patches:
  - patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/image
        value: a:1 # {"$imagepolicy": "argocd:web"}
description: 'image: a:1 # {"$imagepolicy": "argocd:web"}'
note: "#  {\\"$imagepolicy\\": \\"argocd:web\\"}"
# image: a:1 # {"$imagepolicy": "argocd:web"}
    # {"$imagepolicy": "argocd:missing"}
"""
    write(tmp_path, "kustomization.yaml", text)

    scan = scan_markers(tmp_path)

    assert scan.markers == () and scan.problems == () and scan.skipped == ()
    assert apply_updates(tmp_path, "", {}).edits == ()


def test_scan_lists_every_marker_with_its_current_value(tmp_path: Path) -> None:
    write(tmp_path, "apps/payment-service/production/kustomization.yaml", KUSTOMIZATION)
    write(
        tmp_path,
        "apps/web/values.yml",
        'image:\n  tag: "2.0.0" # {"$imagepolicy": "argocd:web:tag"}\n',
    )
    write(
        tmp_path,
        "apps/web/deploy.yaml",
        'image: ghcr.io/example/web:2.0.0 # {"$imagepolicy": "argocd:web"}\n',
    )
    before = snapshot(tmp_path)

    scan = scan_markers(tmp_path, "apps")

    assert [(m.path, m.line, m.setter, m.value) for m in scan.markers] == [
        ("apps/payment-service/production/kustomization.yaml", 11, "argocd:payment-service:tag", "1.4.0"),
        ("apps/web/deploy.yaml", 1, "argocd:web", "ghcr.io/example/web:2.0.0"),
        ("apps/web/values.yml", 2, "argocd:web:tag", "2.0.0"),
    ]  # fmt: skip
    assert [m.path for m in scan_markers(tmp_path, "apps/web").markers] == [
        "apps/web/deploy.yaml",
        "apps/web/values.yml",
    ]
    assert snapshot(tmp_path) == before


def test_values_already_current_write_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "k.yaml", KUSTOMIZATION.replace("1.4.0", "1.5.0"))
    os.utime(path, ns=(10**18, 10**18))  # an old stamp: any rewrite, however quick, moves it
    stamp = path.stat().st_mtime_ns

    plan = apply_updates(tmp_path, "", LATEST)

    assert plan.edits == () and plan.files == ()
    assert path.stat().st_mtime_ns == stamp


def test_policy_without_latest_image_leaves_its_markers(tmp_path: Path) -> None:
    path = write(tmp_path, "k.yaml", KUSTOMIZATION)

    plan = apply_updates(tmp_path, "", {PAYMENT: None})

    assert plan.edits == () and plan.problems == ()
    assert path.read_text() == KUSTOMIZATION


def test_digest_marker_needs_a_policy_that_reports_a_digest(tmp_path: Path) -> None:
    write(tmp_path, "v.yaml", 'digest: "" # {"$imagepolicy": "argocd:payment-service:digest"}\n')

    [problem] = plan_updates(tmp_path, "", LATEST).problems

    assert "digestReflectionPolicy" in problem.reason


def test_invalid_latest_image_is_a_problem_not_a_broken_file(tmp_path: Path) -> None:
    write(tmp_path, "v.yaml", 'tag: a # {"$imagepolicy": "argocd:payment-service:tag"}\n')
    latest = {PAYMENT: LatestImage("x", "1.0 # injected\nevil: yes")}

    [problem] = plan_updates(tmp_path, "", latest).problems

    assert "invalid tag" in problem.reason


def test_flow_collections_are_quoted_where_plain_would_break(tmp_path: Path) -> None:
    text = """\
containers: [{name: web, image: old # {"$imagepolicy": "argocd:web"}
  }, {name: sidecar, image: envoy}]
"""
    path = write(tmp_path, "d.yaml", text)

    apply_updates(tmp_path, "", LATEST)

    web = f"ghcr.io/example/web:2.1.0@sha256:{'ab' * 32}"
    assert path.read_text() == text.replace("image: old", f'image: "{web}"')
    assert yaml.safe_load(path.read_text())["containers"][0]["image"] == web


def test_an_edit_that_would_change_the_structure_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the re-parse guards against a rendering bug: here a value that turns into a mapping
    path = write(tmp_path, "k.yaml", KUSTOMIZATION)
    monkeypatch.setattr(setters, "_render", lambda value, style, in_flow: f"{value}: x")

    plan = plan_updates(tmp_path, "", LATEST)

    [problem] = plan.problems
    assert (problem.line, plan.files) == (11, ())
    assert "would change more of the file" in problem.reason
    with pytest.raises(SetterError):
        apply_plan(plan)
    assert path.read_text() == KUSTOMIZATION


def test_plan_is_refused_when_a_file_changed_after_planning(tmp_path: Path) -> None:
    path = write(tmp_path, "k.yaml", KUSTOMIZATION)
    plan = plan_updates(tmp_path, "", LATEST)
    path.write_text(KUSTOMIZATION + "# edited meanwhile\n")

    with pytest.raises(SetterError, match="changed since"):
        apply_plan(plan)

    assert path.read_text() == KUSTOMIZATION + "# edited meanwhile\n"
    assert sorted(os.listdir(tmp_path)) == ["k.yaml"]  # no temporary file left


def test_rewritten_file_keeps_its_mode(tmp_path: Path) -> None:
    path = write(tmp_path, "k.yaml", KUSTOMIZATION)
    path.chmod(0o640)

    apply_updates(tmp_path, "", LATEST)

    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(os.listdir(tmp_path)) == ["k.yaml"]


# ---- bounds ----------------------------------------------------------------------------------


def test_too_large_and_non_yaml_files_are_skipped_with_a_note(tmp_path: Path) -> None:
    marker = '# {"$imagepolicy": "argocd:payment-service:tag"}'
    big = write(tmp_path, "big.yaml", f"tag: 1.4.0 {marker}\n" + "# padding\n" * 200)
    write(tmp_path, "latin1.yaml", f"tag: 1.4.0 {marker} caf\xe9\n".encode("latin-1"))
    write(tmp_path, "broken.yaml", f"tag: 1.4.0 {marker}\n  - : [\n")
    write(tmp_path, "notes.txt", f"tag: 1.4.0 {marker}\n")
    write(tmp_path, "upper.YAML", f"tag: 1.4.0 {marker}\n")
    write(tmp_path, ".git/hooks/x.yaml", f"tag: 1.4.0 {marker}\n")
    small = write(tmp_path, "small.yaml", f"tag: 1.4.0 {marker}\n")
    limits = SetterLimits(max_file_bytes=1000)

    plan = apply_updates(tmp_path, "", LATEST, limits=limits)

    reasons = {note.path: note.reason for note in plan.skipped}
    assert set(reasons) == {"big.yaml", "latin1.yaml", "broken.yaml"}
    assert "larger than 1000 bytes" in reasons["big.yaml"]
    assert "not UTF-8" in reasons["latin1.yaml"]
    assert "not valid YAML" in reasons["broken.yaml"]
    assert plan.files == ("small.yaml",)
    assert "1.5.0" in small.read_text() and "1.4.0" in big.read_text()
    assert "1.4.0" in (tmp_path / ".git/hooks/x.yaml").read_text()


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    secret = write(outside, "secret.yaml", KUSTOMIZATION)
    tree = tmp_path / "tree"
    write(tree, "apps/real.yaml", KUSTOMIZATION)
    (tree / "apps/escape.yaml").symlink_to(secret)
    (tree / "apps/inner.yaml").symlink_to(tree / "apps/real.yaml")
    (tree / "apps/linked-dir").symlink_to(outside, target_is_directory=True)
    os.mkfifo(tree / "apps/pipe.yaml")

    plan = apply_updates(tree, "apps", LATEST)

    assert plan.files == ("apps/real.yaml",)
    reasons = {note.path: note.reason for note in plan.skipped}
    assert reasons == {
        "apps/escape.yaml": "symbolic link out of the tree: not followed",
        "apps/inner.yaml": "symbolic link: not followed",
        "apps/pipe.yaml": "not a regular file",
    }
    assert secret.read_text() == KUSTOMIZATION
    assert (tree / "apps/inner.yaml").is_symlink()


@pytest.mark.parametrize("path", ["..", "../outside", "/etc", "apps/../../outside", "link", "nope"])
def test_update_path_must_lie_inside_the_tree(tmp_path: Path, path: str) -> None:
    write(tmp_path, "outside/k.yaml", KUSTOMIZATION)
    tree = tmp_path / "tree"
    write(tree, "apps/k.yaml", KUSTOMIZATION)
    (tree / "link").symlink_to(tmp_path / "outside", target_is_directory=True)

    with pytest.raises(SetterError):
        apply_updates(tree, path, LATEST)

    assert (tmp_path / "outside/k.yaml").read_text() == KUSTOMIZATION


def test_update_path_may_name_one_file(tmp_path: Path) -> None:
    write(tmp_path, "a/k.yaml", KUSTOMIZATION)
    write(tmp_path, "b/k.yaml", KUSTOMIZATION)

    assert apply_updates(tmp_path, "./a/k.yaml", LATEST).files == ("a/k.yaml",)


def test_walk_past_the_entry_or_depth_limit_raises(tmp_path: Path) -> None:
    for number in range(20):
        write(tmp_path, f"many/f{number}.yaml", KUSTOMIZATION)
    write(tmp_path, "deep/" + "d/" * 10 + "k.yaml", KUSTOMIZATION)

    with pytest.raises(SetterError, match="too large") as caught:
        scan_markers(tmp_path, "many", limits=SetterLimits(max_entries=10))
    assert caught.value.path == "many"
    with pytest.raises(SetterError, match="too large"):
        scan_markers(tmp_path, "deep", limits=SetterLimits(max_dir_depth=5))
    assert len(scan_markers(tmp_path, "many").markers) == 20
    with pytest.raises(SetterError, match="total size"):
        scan_markers(tmp_path, "many", limits=SetterLimits(max_total_bytes=3000))


def billion_laughs(levels: int = 9) -> str:
    lines = ["l0: &l0 lol"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(120)  # an expanded bomb would never finish: a hang guard, not a measure
def test_alias_bombs_cost_nothing_and_deep_nesting_is_skipped(tmp_path: Path) -> None:
    marker = '# {"$imagepolicy": "argocd:payment-service:tag"}'
    bomb = write(tmp_path, "bomb.yaml", billion_laughs() + f"tag: 1.4.0 {marker}\n")
    deep = "a: " + "[" * 200 + "]" * 200 + f"\ntag: 1.4.0 {marker}\n"
    write(tmp_path, "deep.yaml", deep)

    plan = apply_updates(tmp_path, "", LATEST)

    assert plan.files == ("bomb.yaml",)
    assert bomb.read_text().endswith(f"tag: 1.5.0 {marker}\n")
    [note] = plan.skipped
    assert note.path == "deep.yaml" and "depth limit" in note.reason


def test_yaml_node_limit_skips_the_file(tmp_path: Path) -> None:
    marker = '# {"$imagepolicy": "argocd:payment-service:tag"}'
    write(tmp_path, "many.yaml", "".join(f"k{n}: v\n" for n in range(100)) + f"t: 1 {marker}\n")
    limits = SetterLimits(yaml=YamlLimits(max_bytes=1 << 20, max_nodes=50))

    [note] = scan_markers(tmp_path, limits=limits).skipped

    assert "node limit" in note.reason


# ---- real repositories -----------------------------------------------------------------------


def copy_corpus(name: str, destination: Path) -> Path:
    source = CORPORA / name
    assert source.is_dir(), f"corpus {name} is missing: ../shared must sit beside the project"
    return Path(shutil.copytree(source, destination / name, symlinks=True))


def mark_line(path: Path, contains: str, marker: str) -> str:
    """Append a marker to the first line holding ``contains``; returns the new line."""
    lines = path.read_bytes().decode().splitlines(keepends=True)
    index = next(n for n, line in enumerate(lines) if contains in line)
    body = lines[index].rstrip("\r\n")
    lines[index] = f"{body} # {marker}" + lines[index][len(body) :]
    path.write_bytes("".join(lines).encode())
    return lines[index]


def test_flux_example_helm_release_only_the_marked_line_changes(tmp_path: Path) -> None:
    tree = copy_corpus("flux2-kustomize-helm-example", tmp_path)
    release = tree / "apps/base/podinfo/release.yaml"
    marked = mark_line(release, "tag: 8.6.2", '{"$imagepolicy": "flux-system:redis:tag"}')
    before = snapshot(tree)
    latest = {("flux-system", "redis"): LatestImage("public.ecr.aws/docker/library/redis", "8.8.0")}

    plan = apply_updates(tree, "./apps", latest)

    after = snapshot(tree)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"apps/base/podinfo/release.yaml"} and set(after) == set(before)
    old, new = (
        before[str(release.relative_to(tree))].decode(),
        after[str(release.relative_to(tree))].decode(),
    )
    assert new == old.replace(marked, marked.replace("8.6.2", "8.8.0"))
    assert [(edit.marker.line, edit.new) for edit in plan.edits] == [(27, "8.8.0")]
    # and the whole example is scanned without a problem
    assert scan_markers(tree).problems == ()


def test_podinfo_deployment_image_only_the_marked_line_changes(tmp_path: Path) -> None:
    tree = copy_corpus("podinfo", tmp_path)
    deployment = tree / "kustomize/deployment.yaml"
    marked = mark_line(
        deployment,
        "image: ghcr.io/stefanprodan/podinfo:",
        '{"$imagepolicy": "flux-system:podinfo"}',
    )
    original = deployment.read_text()
    latest = {("flux-system", "podinfo"): LatestImage("ghcr.io/stefanprodan/podinfo", "6.15.0")}

    plan = apply_updates(tree, "kustomize", latest)

    [edit] = plan.edits
    new_line = marked.replace(edit.marker.value, "ghcr.io/stefanprodan/podinfo:6.15.0")
    assert new_line != marked
    assert deployment.read_text() == original.replace(marked, new_line)


# ---- any value, any quoting ------------------------------------------------------------------

TAGS = st.text(alphabet="abcXYZ019._-:@/'\"\\#+ ", min_size=1, max_size=20).filter(
    lambda value: value.strip() == value and " " not in value
)


@settings(max_examples=150, deadline=None)
@given(tag=TAGS, style=st.sampled_from(["{}", "'{}'", '"{}"', "[{}]", "{{k: {}}}"]))
def test_any_new_value_reads_back_exactly_in_any_quoting(tag: str, style: str) -> None:
    marker = '# {"$imagepolicy": "argocd:payment-service:tag"}'
    old = style.format("1.4.0")
    if style.startswith(("[", "{{")):
        text = f"a: {old[:-1]} {marker}\n  {old[-1]}\nb: 2\n"
    else:
        text = f"a: {old} {marker}\nb: 2\n"
    latest = {PAYMENT: LatestImage("registry.example.com/payment-service", tag)}
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), "v.yaml", text)

        apply_updates(directory, "", latest)

        value = yaml.safe_load(path.read_text())
        inner = value["a"] if style in ("{}", "'{}'", '"{}"') else None
        if style == "[{}]":
            inner = value["a"][0]
        elif style.startswith("{{"):
            inner = value["a"]["k"]
        assert inner == tag and value["b"] == 2
        rest = path.read_text().split(marker)
        assert rest[1] == text.split(marker)[1]
