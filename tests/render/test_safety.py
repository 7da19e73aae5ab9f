"""Bad and hostile input: each a clear error naming the file, and never part of an output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.render.conftest import writable_copy, write
from tether.render import (
    RenderError,
    RenderLimitError,
    RenderLimits,
    RenderTimeoutError,
    ToolFailedError,
    UnsafeRepositoryError,
    render,
)

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n"


def test_symlink_to_etc_passwd_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": CM.format("a")})
    os.symlink("/etc/passwd", tmp_path / "app" / "passwd.yaml")
    with pytest.raises(UnsafeRepositoryError) as caught:
        render(tmp_path, "app")
    assert caught.value.file == "app/passwd.yaml"
    assert "outside the repository" in str(caught.value)
    assert "root:" not in str(caught.value)


def test_symlink_inside_repository_is_followed(tmp_path: Path) -> None:
    write(tmp_path, {"shared/cm.yaml": CM.format("shared"), "app/own.yaml": CM.format("own")})
    os.symlink("../shared/cm.yaml", tmp_path / "app" / "link.yaml")
    names = [o["metadata"]["name"] for o in render(tmp_path, "app").objects]
    assert names == ["shared", "own"]


def test_relative_symlink_escaping_through_dotdot_is_refused(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", {"app/cm.yaml": CM.format("a")})
    write(tmp_path, {"secret.yaml": CM.format("secret")})
    os.symlink("../../secret.yaml", repo / "app" / "s.yaml")
    with pytest.raises(UnsafeRepositoryError, match=r"^app/s.yaml: symbolic link"):
        render(repo, "app")


def test_fifty_megabyte_file_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": CM.format("a")})
    with open(tmp_path / "app" / "big.yaml", "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: no disk used
    with pytest.raises(RenderLimitError, match=r"^app/big.yaml: file is 52428800 bytes, larger"):
        render(tmp_path, "app")


def test_value_file_outside_repository_is_refused(tmp_path: Path, corpora: Path) -> None:
    repo = writable_copy(corpora / "podinfo" / "charts", tmp_path / "repo")
    write(tmp_path, {"secret": "password: hunter2\n"})
    source = {"helm": {"valueFiles": ["../../secret"]}}
    with pytest.raises(UnsafeRepositoryError) as caught:
        render(repo, "podinfo", source)
    assert "value file '../../secret' resolves outside the repository" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_value_file_symlinked_outside_repository_is_refused(tmp_path: Path, corpora: Path) -> None:
    repo = writable_copy(corpora / "podinfo" / "charts", tmp_path / "repo")
    os.symlink("/etc/passwd", repo / "podinfo" / "values-passwd.yaml")
    source = {"helm": {"valueFiles": ["values-passwd.yaml"]}}
    with pytest.raises(UnsafeRepositoryError, match=r"^podinfo/values-passwd.yaml: symbolic link"):
        render(repo, "podinfo", source)


def test_file_parameter_outside_repository_is_refused(tmp_path: Path, corpora: Path) -> None:
    repo = writable_copy(corpora / "podinfo" / "charts", tmp_path / "repo")
    source = {"helm": {"fileParameters": [{"name": "x", "path": "../../../etc/hostname"}]}}
    with pytest.raises(UnsafeRepositoryError, match="file parameter"):
        render(repo, "podinfo", source)


def test_absolute_value_file_means_repository_root(corpora: Path) -> None:
    source = {"helm": {"valueFiles": ["/etc/passwd"]}}
    with pytest.raises(RenderError, match=r"^etc/passwd: value file '/etc/passwd' not found"):
        render(corpora / "podinfo", "charts/podinfo", source)


def test_missing_value_file_is_an_error_unless_ignored(corpora: Path) -> None:
    source: dict = {"helm": {"valueFiles": ["values-nope.yaml"]}}
    with pytest.raises(RenderError, match=r"values-nope\.yaml' not found"):
        render(corpora / "podinfo", "charts/podinfo", source)
    source["helm"]["ignoreMissingValueFiles"] = True
    result = render(corpora / "podinfo", "charts/podinfo", source)
    assert result.objects
    assert any("values-nope.yaml" in w for w in result.warnings)


EXEC_PLUGIN = """\
apiVersion: example.com/v1
kind: Generator
metadata:
  name: steal
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: ./steal.sh
"""


def test_kustomization_with_exec_plugin_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": "resources:\n- cm.yaml\ngenerators:\n- gen.yaml\n",
            "app/cm.yaml": CM.format("a"),
            "app/gen.yaml": EXEC_PLUGIN,
            "app/steal.sh": "#!/bin/sh\ncat /etc/passwd\n",
        },
    )
    with pytest.raises(UnsafeRepositoryError, match=r"^app/gen.yaml:1: kustomize function plugin"):
        render(tmp_path, "app")


def test_exec_plugin_in_a_base_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "overlay/kustomization.yaml": "resources:\n- ../base\n",
            "base/kustomization.yaml": "transformers:\n- |\n"
            + "".join("  " + line + "\n" for line in EXEC_PLUGIN.splitlines()),
        },
    )
    with pytest.raises(UnsafeRepositoryError, match=r"base/kustomization.yaml:\d+: kustomize"):
        render(tmp_path, "overlay")


def test_inline_go_plugin_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": "transformers:\n"
            "- apiVersion: someteam.example.com/v1\n  kind: Chart\n  metadata: {name: c}\n",
        },
    )
    with pytest.raises(UnsafeRepositoryError, match=r"app/kustomization.yaml:2: kustomize plugin"):
        render(tmp_path, "app")


def test_builtin_transformer_config_is_allowed(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": "resources:\n- cm.yaml\ntransformers:\n- prefix.yaml\n",
            "app/cm.yaml": CM.format("a"),
            "app/prefix.yaml": "apiVersion: builtin\nkind: PrefixSuffixTransformer\n"
            "metadata: {name: p}\nprefix: pre-\nfieldSpecs:\n- path: metadata/name\n",
        },
    )
    assert render(tmp_path, "app").objects[0]["metadata"]["name"] == "pre-a"


@pytest.mark.parametrize(
    "remote",
    [
        "https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v3.3.1",
        "github.com/org/repo/deploy?ref=main",
        "git@github.com:org/repo.git",
        "https://raw.githubusercontent.com/org/repo/main/cm.yaml",
    ],
)
def test_remote_base_is_refused_by_default(tmp_path: Path, remote: str) -> None:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": f"resources:\n- cm.yaml\n- {remote}\n",
            "app/cm.yaml": CM.format("a"),
        },
    )
    with pytest.raises(UnsafeRepositoryError, match=r"^app/kustomization.yaml:3: remote resources"):
        render(tmp_path, "app")


def test_kustomize_base_outside_repository_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "outside/kustomization.yaml": "resources:\n- cm.yaml\n",
            "outside/cm.yaml": CM.format("x"),
        },
    )
    write(tmp_path / "repo", {"app/kustomization.yaml": "resources:\n- ../../outside\n"})
    with pytest.raises(UnsafeRepositoryError, match=r"'\.\./\.\./outside' resolves outside"):
        render(tmp_path / "repo", "app")


def test_chart_whose_template_fails_names_the_template(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: broken\nversion: 0.1.0\n",
            "chart/templates/ok.yaml": CM.format("ok"),
            "chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
            'data:\n  a: {{ required "database.host is required" .Values.database.host }}\n',
        },
    )
    with pytest.raises(ToolFailedError) as caught:
        render(tmp_path, "chart")
    assert caught.value.file == "chart/templates/cm.yaml"
    assert caught.value.line == 6
    assert "database" in str(caught.value)


def test_chart_template_rendering_a_kindless_document_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
            "chart/templates/x.yaml": "apiVersion: v1\nmetadata:\n  name: x\n",
        },
    )
    with pytest.raises(RenderError, match=r"c/templates/x.yaml \(rendered by helm\).*no \"kind\""):
        render(tmp_path, "chart")


def test_render_past_the_time_limit_is_stopped(corpora: Path) -> None:
    with pytest.raises(RenderTimeoutError, match=r"timed out after 0.001 s \(time limit\)"):
        render(corpora / "podinfo", "charts/podinfo", limits=RenderLimits(timeout_seconds=0.001))


def test_jsonnet_that_never_ends_is_stopped(tmp_path: Path) -> None:
    # a tail call that never ends; gojsonnet's memory still grows with it, so on a fast machine
    # the memory limit may stop it before the time limit does: either limit must
    spin = "local f(n, acc) = if n == 0 then acc else f(n - 1, acc + 1) tailstrict;\nf(1e12, 0)\n"
    write(tmp_path, {"app/spin.jsonnet": spin})
    with pytest.raises(
        (RenderTimeoutError, RenderLimitError),
        match=r"jsonnet evaluation (timed out|ran out of memory)",
    ):
        render(tmp_path, "app", limits=RenderLimits(timeout_seconds=0.2))


def test_jsonnet_past_the_memory_limit_is_stopped(tmp_path: Path) -> None:
    write(tmp_path, {"app/big.jsonnet": "std.length(std.range(0, 1000000000))\n"})
    with pytest.raises(RenderLimitError, match="jsonnet evaluation ran out of memory"):
        render(tmp_path, "app", limits=RenderLimits(tool_memory_bytes=256 * 1024 * 1024))


def test_render_past_the_output_limit_is_stopped(corpora: Path) -> None:
    limits = RenderLimits(max_output_bytes=1000)
    with pytest.raises(RenderLimitError, match="more than 1000 bytes of output"):
        render(corpora / "podinfo", "kustomize", limits=limits)
    with pytest.raises(RenderLimitError, match="more than 1000 bytes"):
        render(corpora / "podinfo", "charts/podinfo", limits=limits)


def test_directory_past_the_output_limit_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {f"app/{i}.yaml": CM.format(i) + "data:\n  x: " + "y" * 400 + "\n" for i in range(5)},
    )
    with pytest.raises(RenderLimitError, match="output size limit"):
        render(tmp_path, "app", limits=RenderLimits(max_output_bytes=1000))


def test_jsonnet_import_outside_repository_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"app/x.jsonnet": "importstr '/etc/passwd'\n"})
    with pytest.raises(RenderError, match=r"^app/x.jsonnet.*resolves outside the repository"):
        render(tmp_path, "app")


def test_jsonnet_library_path_outside_repository_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"app/x.jsonnet": "{}\n"})
    source = {"directory": {"jsonnet": {"libs": ["../../usr/lib"]}}}
    with pytest.raises(UnsafeRepositoryError, match="jsonnet library path"):
        render(tmp_path, "app", source)


def test_jsonnet_error_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"app/x.jsonnet": "{\n  a: 1,\n  b: error 'boom',\n}\n"})
    with pytest.raises(RenderError) as caught:
        render(tmp_path, "app")
    assert caught.value.file == "app/x.jsonnet"
    assert caught.value.line == 3
    assert "boom" in str(caught.value)


def test_callers_tree_is_never_changed(tmp_path: Path, corpora: Path) -> None:
    repo = writable_copy(corpora / "podinfo", tmp_path / "repo")
    before = (repo / "kustomize" / "kustomization.yaml").read_bytes()
    render(repo, "kustomize", {"kustomize": {"namePrefix": "x-", "images": ["nginx:1"]}})
    assert (repo / "kustomize" / "kustomization.yaml").read_bytes() == before
    assert sorted(p.name for p in (repo / "charts" / "podinfo").iterdir()) == sorted(
        p.name for p in (corpora / "podinfo" / "charts" / "podinfo").iterdir()
    )


def test_invalid_kustomization_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"app/kustomization.yaml": "resources:\n- a.yaml\nnamePrefix: x: y\n"})
    with pytest.raises(RenderError, match=r"^app/kustomization.yaml:3: invalid YAML"):
        render(tmp_path, "app")


def test_kustomize_load_restrictor_keeps_generators_inside_the_kustomization(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": "configMapGenerator:\n- name: leak\n  files:\n"
            "  - /etc/hostname\n",
        },
    )
    with pytest.raises(ToolFailedError, match="kustomize build of app failed") as caught:
        render(tmp_path, "app")
    assert "security" in str(caught.value) or "not in or below" in str(caught.value)
