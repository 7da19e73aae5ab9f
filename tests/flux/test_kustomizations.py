"""A source folder prepared as Flux's kustomize-controller prepares it builds to what Flux builds.

Builds run the pinned ``kubectl kustomize`` with ``LoadRestrictionsNone``, as Flux builds (inside
the source's root); fixtures come from fluxcd/pkg's own test data and flux2-kustomize-helm-example,
copied before anything is written.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.corpora import CORPORA
from tests.render.conftest import load_docs, writable_copy, write
from tether.fields import InvalidSpecError
from tether.flux.kustomizations import (
    MAX_COMPONENTS,
    MAX_PATCHES,
    FluxBuildOptions,
    Image,
    apply_common_metadata,
    is_local_relative_path,
    parse_build_options,
    prepare,
)
from tether.render.errors import RenderError, UnsafeRepositoryError
from tether.render.models import DEFAULT_LIMITS
from tether.render.tree import Workspace
from tether.tools import find_tool

FLUX_DATA = CORPORA / "fluxcd-pkg" / "testdata"
EXAMPLE = CORPORA / "flux2-kustomize-helm-example"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: ghcr.io/example/app
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: value\n"
COMPONENT = (
    "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- configmap.yaml\n"
)


def ks_spec(path: Path) -> dict[str, Any]:
    """``spec`` of the (first) Flux Kustomization in ``path``."""
    return dict(load_docs(path.read_text())[0]["spec"])


def kustomize(folder: Path) -> subprocess.CompletedProcess[bytes]:
    argv = [
        find_tool("kubectl"),
        "kustomize",
        str(folder),
        "--load-restrictor=LoadRestrictionsNone",
    ]
    return subprocess.run(argv, capture_output=True, check=False)


def kustomize_build(folder: Path) -> list[dict[str, Any]]:
    run = kustomize(folder)
    assert run.returncode == 0, run.stderr.decode()
    return load_docs(run.stdout)


def prepared(
    tree: Path, path: str = ".", spec: Mapping[str, Any] | None = None, *, build: bool = True
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """Prepare ``path`` of a copy of ``tree`` with the Kustomization ``spec``: the kustomization
    file's name, its content and (with ``build``) what kustomize builds from it."""
    with Workspace(tree, DEFAULT_LIMITS) as ws:
        kfile = prepare(ws, ws.repo / path, parse_build_options(spec))
        data = yaml.safe_load(kfile.read_text())
        objects = kustomize_build(kfile.parent) if build else []
        return kfile.name, data, objects


def corpus(name: str, tmp_path: Path) -> Path:
    """A writable copy of a fluxcd/pkg test folder (the corpus itself is never written)."""
    source = FLUX_DATA / name
    assert source.is_dir(), f"corpus folder {source} not found"
    return writable_copy(source, tmp_path / name)


def by_name(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


# ---- the spec ---------------------------------------------------------------------------------


def test_parse_reads_every_build_option() -> None:
    options = parse_build_options(
        {
            "interval": "5m",
            "targetNamespace": "apps",
            "namePrefix": "p-",
            "nameSuffix": "-s",
            "patches": [
                {"patch": "- op: remove\n  path: /spec/replicas\n", "target": {"kind": "Deploy"}},
                {"patch": "kind: ConfigMap\n"},
            ],
            "images": [{"name": "nginx", "newTag": "1.27"}],
            "components": ["../components/a", "file://b"],
            "ignoreMissingComponents": True,
            "buildMetadata": ["transformerAnnotations"],
            "commonMetadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
        }
    )
    assert options.target_namespace == "apps"
    assert (options.name_prefix, options.name_suffix) == ("p-", "-s")
    assert [p.target for p in options.patches] == [{"kind": "Deploy"}, None]
    assert options.images == (Image("nginx", new_tag="1.27"),)
    assert options.components == ("../components/a", "file://b")
    assert options.ignore_missing_components
    assert options.build_metadata == ("transformerAnnotations",)
    assert options.common_labels == {"team": "a"}
    assert options.common_annotations == {"note": "x"}


def test_parse_without_build_options_changes_nothing() -> None:
    assert parse_build_options(None) == FluxBuildOptions()
    assert parse_build_options({"interval": "1m", "path": "./x"}) == FluxBuildOptions()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"patches": [{"patch": "a: b"}, {"patch": "a: b", "target": "x"}]},
            "spec.patches[1].target",
        ),
        ({"patches": [{"target": {"kind": "A"}}]}, "spec.patches[0].patch is required"),
        ({"patches": [{"patch": "a: b", "target": {"kind": 3}}]}, "spec.patches[0].target.kind"),
        ({"images": [{"newTag": "1"}]}, "spec.images[0].name is required"),
        ({"images": "nginx"}, "spec.images must be a list"),
        ({"components": ["ok", "https://github.com/o/r"]}, "spec.components[1]"),
        ({"components": ["/abs"]}, "spec.components[0]"),
        ({"buildMetadata": ["managedByLabel"]}, "spec.buildMetadata[0]"),
        ({"commonMetadata": {"labels": {"a": 1}}}, "spec.commonMetadata.labels.a"),
        ({"commonMetadata": []}, "spec.commonMetadata must be an object"),
        ({"targetNamespace": "n" * 64}, "spec.targetNamespace"),
        ({"namePrefix": ""}, "spec.namePrefix must not be empty"),
        ({"ignoreMissingComponents": "yes"}, "spec.ignoreMissingComponents"),
        ({"patchesStrategicMerge": [{"kind": "A"}]}, "spec.patchesStrategicMerge"),
    ],
)
def test_parse_names_the_bad_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError, match=re.escape(message)):
        parse_build_options(spec)


@pytest.mark.parametrize(
    "spec",
    [
        {"patches": [{"patch": "a: b"}] * (MAX_PATCHES + 1)},
        {"patches": [{"patch": "a" * (2 * 1024 * 1024)}]},
        {"patches": [{"patch": "a" * (1024 * 1024)}] * 5},
        {"components": ["c"] * (MAX_COMPONENTS + 1)},
        {"commonMetadata": {"annotations": {"a": "x" * (300 * 1024)}}},
        {"images": [{"name": "n" * 5000}]},
    ],
)
def test_parse_bounds_hostile_input(spec: dict[str, Any]) -> None:
    with pytest.raises(InvalidSpecError):
        parse_build_options(spec)


@pytest.mark.parametrize(
    ("path", "local"),
    [
        ("foobar.yaml", True),
        ("./foobar.yaml", True),
        ("../components/a", True),
        ("file://foobar.yaml", True),
        ("file:///foobar.yaml", False),
        ("/foobar.yaml", False),
        ("https://github.com/owner/repo", False),
        ("git@github.com:owner/repo", False),
        ("ssh://git@github.com/owner/repo", False),
        ("github.com/owner/repo", False),
    ],
)
def test_local_relative_path_as_flux_decides(path: str, local: bool) -> None:
    assert is_local_relative_path(path) is local


# ---- generated kustomizations -----------------------------------------------------------------


def test_generated_kustomization_lists_manifests_depth_first_in_name_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/b.yml": CONFIGMAP.format(name="b"),
            "app/a/z.yaml": CONFIGMAP.format(name="z"),
            "app/a/deeper/y.yaml": CONFIGMAP.format(name="y"),
            "app/c.yaml": CONFIGMAP.format(name="c"),
            "app/README.md": "not listed",
            "app/values.json": "{}",
            "app/sub/kustomization.yaml": "resources:\n- ignored-by-the-scan.yaml\n- d.yaml\n",
            "app/sub/ignored-by-the-scan.yaml": CONFIGMAP.format(name="s"),
            "app/sub/d.yaml": CONFIGMAP.format(name="d"),
        },
    )
    name, data, objects = prepared(tmp_path, "app")
    assert name == "kustomization.yaml"
    assert data["resources"] == [
        "./a/deeper/y.yaml",
        "./a/z.yaml",
        "./b.yml",
        "./c.yaml",
        "./sub",
    ]
    assert "buildMetadata" not in data
    assert sorted(o["metadata"]["name"] for o in objects) == ["b", "c", "d", "s", "y", "z"]


@pytest.mark.parametrize(
    "text",
    [
        "replicaCount: 2\nimage: {tag: x}\n",  # a Helm values file
        "nameReference:\n- kind: Secret\n",  # a kustomize configuration
        "apiVersion: v1\nmetadata: {name: x}\n",  # no kind
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",  # no name
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  list:\n  -\n",
        "- a\n- b\n",
    ],
)
def test_generated_kustomization_refuses_a_file_that_is_not_a_manifest(
    tmp_path: Path, text: str
) -> None:
    write(tmp_path, {"app/ok.yaml": CONFIGMAP.format(name="ok"), "app/nested/values.yaml": text})
    with pytest.raises(RenderError, match=r"^app/nested/values\.yaml:\d+: not a Kubernetes"):
        prepared(tmp_path, "app", build=False)


def test_generated_kustomization_accepts_empty_documents_and_lists(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/empty.yaml": "# only a comment\n",
            "app/list.yaml": "apiVersion: v1\nkind: ConfigMapList\nitems:\n- "
            + CONFIGMAP.format(name="in-list").replace("\n", "\n  "),
            "app/docs.yaml": "---\n---\n" + CONFIGMAP.format(name="two"),
        },
    )
    _, data, objects = prepared(tmp_path, "app")
    assert data["resources"] == ["./docs.yaml", "./empty.yaml", "./list.yaml"]
    assert sorted(o["metadata"]["name"] for o in objects) == ["in-list", "two"]


def test_generated_kustomization_reports_invalid_yaml(tmp_path: Path) -> None:
    tree = corpus("nokustomization", tmp_path)
    with pytest.raises(RenderError, match=r"^panic/alert\.yaml:\d+: invalid YAML"):
        prepared(tree, "panic", build=False)


def test_folder_without_manifests_builds_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    name, data, objects = prepared(tmp_path, "empty", ks_spec(FLUX_DATA / "empty" / "ks.yaml"))
    assert name == "kustomization.yaml"
    assert data["namespace"] == "_placeholder"
    assert objects == []


def test_folder_without_kustomization_builds_its_manifests(tmp_path: Path) -> None:
    tree = corpus("nokustomization", tmp_path)
    _, data, objects = prepared(tree, "resources", {"targetNamespace": "bar"})
    assert data["resources"] == ["./configmap.yaml", "./secret.yaml"]
    assert {(o["kind"], o["metadata"]["namespace"]) for o in objects} == {
        ("ConfigMap", "bar"),
        ("Secret", "bar"),
    }


# ---- the spec written into the kustomization --------------------------------------------------


def test_name_prefix_suffix_and_target_namespace_apply(tmp_path: Path) -> None:
    tree = corpus("name", tmp_path)
    _, data, objects = prepared(tree, ".", ks_spec(tree / "ks.yaml"))
    assert (data["namespace"], data["namePrefix"], data["nameSuffix"]) == (
        "test-namespace",
        "prefix-",
        "-suffix",
    )
    [configmap] = objects
    assert configmap["metadata"]["name"].startswith("prefix-test-configmap-suffix-")
    assert configmap["metadata"]["namespace"] == "test-namespace"


def test_spec_replaces_the_kustomizations_own_namespace_and_prefix(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "kustomization.yaml": "namespace: own\nnamePrefix: own-\nresources:\n- cm.yaml\n",
            "cm.yaml": CONFIGMAP.format(name="cm"),
        },
    )
    _, _, objects = prepared(tmp_path, ".", {"targetNamespace": "theirs", "namePrefix": "t-"})
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects] == [
        ("theirs", "t-cm")
    ]


def test_kustomization_without_resources_gets_origin_annotations(tmp_path: Path) -> None:
    tree = corpus("noResources", tmp_path)
    _, data, objects = prepared(tree, ".", ks_spec(tree / "ks.yaml"))
    assert data["buildMetadata"] == ["originAnnotations"]
    assert objects == []


def test_build_metadata_of_the_spec_is_written(tmp_path: Path) -> None:
    tree = corpus("buildMetadata", tmp_path)
    _, data, objects = prepared(tree, ".", ks_spec(tree / "ks.yaml"))
    assert data["buildMetadata"] == ["originAnnotations", "transformerAnnotations"]
    [configmap] = objects
    assert "config.kubernetes.io/origin" in configmap["metadata"]["annotations"]


def test_build_metadata_of_the_spec_replaces_the_fallback(tmp_path: Path) -> None:
    tree = corpus("noResources", tmp_path)
    _, data, _ = prepared(tree, ".", {"buildMetadata": ["transformerAnnotations"]}, build=False)
    assert data["buildMetadata"] == ["transformerAnnotations"]


def test_patches_are_appended_and_applied(tmp_path: Path) -> None:
    tree = writable_copy(FLUX_DATA / "resources", tmp_path / "resources")
    name, data, objects = prepared(tree, ".", ks_spec(FLUX_DATA / "kustomization.yaml"))
    assert name == "kustomization.yml"  # edited where it is
    assert data["patches"][0]["target"] == {"kind": "Deployment", "name": "app"}
    expected = load_docs((FLUX_DATA / "kustomization_expected.yaml").read_text())
    assert by_name(objects) == by_name(expected)


def test_patch_without_target_matches_by_its_own_metadata(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "kustomization.yaml": "resources:\n- a.yaml\n- b.yaml\npatches:\n- path: own.yaml\n",
            "own.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {own: x}\n",
            "a.yaml": CONFIGMAP.format(name="a"),
            "b.yaml": CONFIGMAP.format(name="b"),
        },
    )
    patch = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {flux: y}\n"
    _, data, objects = prepared(tmp_path, ".", {"patches": [{"patch": patch}]})
    assert data["patches"] == [{"path": "own.yaml"}, {"patch": patch}]
    found = by_name(objects)
    assert found[("ConfigMap", "a")]["data"] == {"key": "value", "own": "x"}
    assert found[("ConfigMap", "b")]["data"] == {"key": "value", "flux": "y"}


IMAGE = "ghcr.io/example/app"
DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("existing", "flux", "expected", "image"),
    [
        (
            [{"name": IMAGE, "newTag": "v1.2.3"}],
            {"name": IMAGE, "newName": "registry.example.com/app"},
            [{"name": IMAGE, "newTag": "v1.2.3", "newName": "registry.example.com/app"}],
            "registry.example.com/app:v1.2.3",
        ),
        (
            [{"name": IMAGE, "newName": "registry.example.com/app"}],
            {"name": IMAGE, "newTag": "v2.0.0"},
            [{"name": IMAGE, "newName": "registry.example.com/app", "newTag": "v2.0.0"}],
            "registry.example.com/app:v2.0.0",
        ),
        (
            [{"name": IMAGE, "digest": DIGEST}],
            {"name": IMAGE, "newName": "registry.example.com/app"},
            [{"name": IMAGE, "digest": DIGEST, "newName": "registry.example.com/app"}],
            f"registry.example.com/app@{DIGEST}",
        ),
        (
            [{"name": IMAGE, "newName": "old.example.com/app", "newTag": "v1.2.3"}],
            {"name": IMAGE, "newName": "registry.example.com/app", "newTag": "v2.0.0"},
            [{"name": IMAGE, "newName": "registry.example.com/app", "newTag": "v2.0.0"}],
            "registry.example.com/app:v2.0.0",
        ),
        (
            [],
            {"name": IMAGE, "newName": "registry.example.com/app", "newTag": "v2.0.0"},
            [{"name": IMAGE, "newName": "registry.example.com/app", "newTag": "v2.0.0"}],
            "registry.example.com/app:v2.0.0",
        ),
    ],
)
def test_images_update_the_entry_of_the_same_name(
    tmp_path: Path,
    existing: list[dict[str, str]],
    flux: dict[str, str],
    expected: list[dict[str, str]],
    image: str,
) -> None:
    kustomization = {"resources": ["deployment.yaml"], "images": existing}
    write(tmp_path, {"kustomization.yaml": yaml.dump(kustomization), "deployment.yaml": DEPLOYMENT})
    _, data, objects = prepared(tmp_path, ".", {"images": [flux]})
    assert data["images"] == expected
    assert objects[0]["spec"]["template"]["spec"]["containers"][0]["image"] == image


@pytest.mark.parametrize(
    ("with_file", "flux", "expected"),
    [
        (True, [], ["componentA"]),
        (False, ["componentB", "componentC"], ["componentB", "componentC"]),
        (True, ["componentB", "componentC"], ["componentA", "componentB", "componentC"]),
    ],
)
def test_components_are_appended_to_the_kustomizations(
    tmp_path: Path, with_file: bool, flux: list[str], expected: list[str]
) -> None:
    tree = corpus("components", tmp_path) if with_file else tmp_path / "components"
    tree.mkdir(exist_ok=True)
    _, data, _ = prepared(tree, ".", {"components": flux}, build=False)
    assert data["components"] == expected


def test_components_build_and_missing_ones_are_dropped_when_asked(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "base/cm.yaml": CONFIGMAP.format(name="base"),
            "components/extra/kustomization.yaml": COMPONENT,
            "components/extra/configmap.yaml": CONFIGMAP.format(name="extra"),
            "overlay/kustomization.yaml": "resources:\n- ../base/cm.yaml\n",
        },
    )
    spec = {"components": ["../components/extra", "../components/missing"]}
    with Workspace(tmp_path, DEFAULT_LIMITS) as ws:
        kfile = prepare(ws, ws.repo / "overlay", parse_build_options(spec))
        run = kustomize(kfile.parent)
    assert run.returncode != 0
    assert b"components/missing" in run.stderr
    _, data, objects = prepared(tmp_path, "overlay", {**spec, "ignoreMissingComponents": True})
    assert data["components"] == ["../components/extra"]
    assert sorted(o["metadata"]["name"] for o in objects) == ["base", "extra"]


def test_component_outside_the_source_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"src/app/cm.yaml": CONFIGMAP.format(name="cm"), "elsewhere/x.yaml": "a: b"})
    with pytest.raises(UnsafeRepositoryError, match="resolves outside the source"):
        prepared(tmp_path / "src", "app", {"components": ["../../elsewhere"]}, build=False)


def test_folder_outside_the_source_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"src/cm.yaml": CONFIGMAP.format(name="cm")})
    with Workspace(tmp_path / "src", DEFAULT_LIMITS) as ws, pytest.raises(UnsafeRepositoryError):
        prepare(ws, ws.repo / "..", FluxBuildOptions())


def test_kustomization_loading_from_above_its_folder_builds(tmp_path: Path) -> None:
    tree = corpus("relbase", tmp_path)
    _, _, objects = prepared(tree, "clusters/staging/flux-system")
    found = by_name(objects)
    assert found[("Secret", "secret")]["stringData"] == {"foo": "bar", "bar": "foo"}
    assert ("ConfigMap", "cm") in found


# ---- commonMetadata ---------------------------------------------------------------------------


def test_common_metadata_sets_object_metadata_only() -> None:
    deployment = load_docs(DEPLOYMENT)[0]
    deployment["metadata"]["labels"] = {"team": "old", "keep": "me"}
    options = parse_build_options(
        {"commonMetadata": {"labels": {"team": "new"}, "annotations": {"owner": "sre"}}}
    )
    [out] = apply_common_metadata([deployment], options)
    assert out["metadata"]["labels"] == {"team": "new", "keep": "me"}
    assert out["metadata"]["annotations"] == {"owner": "sre"}
    assert out["spec"]["selector"] == {"matchLabels": {"app": "app"}}
    assert out["spec"]["template"]["metadata"] == {"labels": {"app": "app"}}
    assert deployment["metadata"]["labels"] == {"team": "old", "keep": "me"}


def test_without_common_metadata_objects_stay_as_built() -> None:
    configmap = load_docs(CONFIGMAP.format(name="cm"))[0]
    assert apply_common_metadata([configmap], FluxBuildOptions()) == [configmap]


# ---- flux2-kustomize-helm-example ---------------------------------------------------------------


@pytest.mark.parametrize("cluster", ["staging", "production"])
def test_example_clusters_build(tmp_path: Path, cluster: str) -> None:
    tree = writable_copy(EXAMPLE, tmp_path / "example")
    specs = {
        doc["metadata"]["name"]: doc["spec"]
        for file in ("apps.yaml", "infrastructure.yaml")
        for doc in load_docs((tree / "clusters" / cluster / file).read_text())
    }
    # the ArtifactGenerator makes infrastructure/ and apps/ the roots the paths start from
    roots = {"infra-controllers": "infrastructure", "infra-configs": "infrastructure"}
    built = {
        name: by_name(prepared(tree / roots.get(name, "apps"), spec["path"], spec)[2])
        for name, spec in specs.items()
    }
    controllers, configs, apps = built["infra-controllers"], built["infra-configs"], built["apps"]
    assert ("HelmRelease", "cert-manager") in controllers
    issuer = configs[("ClusterIssuer", "letsencrypt")]
    assert issuer["spec"]["acme"]["server"].startswith("https://acme-")
    assert ("HelmRelease", "podinfo") in apps
    # the cluster folder itself has no kustomization: Flux generates one
    _, data, objects = prepared(tree, f"clusters/{cluster}", build=True)
    assert "./flux-system" in data["resources"]
    assert {o["metadata"]["name"] for o in objects} >= {"apps", "infra-configs"}
