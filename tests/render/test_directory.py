"""Directory applications: which files are read, how documents become objects, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.render.conftest import write
from tether.render import DIRECTORY, RenderError, render


def cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def names(root: Path, source: dict | None = None) -> list[str]:
    return [o["metadata"]["name"] for o in render(root, "app", source or {}).objects]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        {
            "app/a.yaml": cm("a"),
            "app/b.yml": cm("b"),
            "app/c.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}',
            "app/notes.txt": "not a manifest",
            "app/Makefile": "all:\n",
            "app/sub/d.yaml": cm("d"),
            "app/sub/deeper/e.yaml": cm("e"),
            "app/env-usw2/f.yaml": cm("f"),
            "other/g.yaml": cm("g"),
        },
    )


def test_top_level_manifests_only_without_recurse(tree: Path) -> None:
    result = render(tree, "app")
    assert result.tool == DIRECTORY
    assert [o["metadata"]["name"] for o in result.objects] == ["a", "b", "c"]


def test_recurse_reads_sub_folders_in_name_order(tree: Path) -> None:
    assert names(tree, {"directory": {"recurse": True}}) == ["a", "b", "c", "f", "d", "e"]


def test_include_glob_selects_files(tree: Path) -> None:
    assert names(tree, {"directory": {"recurse": True, "include": "*.yaml"}}) == [
        "a",
        "f",
        "d",
        "e",
    ]


def test_exclude_brace_list_wins_over_include(tree: Path) -> None:
    source = {"directory": {"recurse": True, "include": "*", "exclude": "{c.json,env-usw2/*}"}}
    assert names(tree, source) == ["a", "b", "d", "e"]


def test_include_brace_list_of_paths(tree: Path) -> None:
    source = {"directory": {"recurse": True, "include": "{a.yaml,sub/deeper/*}"}}
    assert names(tree, source) == ["a", "e"]


def test_multi_document_yaml_skips_empty_documents(tmp_path: Path) -> None:
    write(tmp_path, {"app/all.yaml": f"---\n{cm('x')}---\n---\n# only a comment\n---\n{cm('y')}"})
    assert names(tmp_path) == ["x", "y"]


def test_json_array_and_kind_list_are_flattened(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/a.json": '[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j1"}},'
            '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j2"}}]',
            "app/b.yaml": "apiVersion: v1\nkind: List\nitems:\n"
            "- {apiVersion: v1, kind: ConfigMap, metadata: {name: l1}}\n"
            "- apiVersion: v1\n  kind: ConfigMapList\n  items:\n"
            "  - {apiVersion: v1, kind: ConfigMap, metadata: {name: l2}}\n",
        },
    )
    assert names(tmp_path) == ["j1", "j2", "l1", "l2"]


def test_generate_name_is_accepted(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"app/job.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: m-\n"},
    )
    assert render(tmp_path, "app").objects[0]["metadata"]["generateName"] == "m-"


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path, {"app/ok.yaml": cm("ok"), "app/bad.yaml": cm("x") + "data:\n  a: [1, 2\n  b: 3\n"}
    )
    with pytest.raises(RenderError) as caught:
        render(tmp_path, "app")
    assert caught.value.file == "app/bad.yaml"
    assert caught.value.line is not None and caught.value.line >= 6
    assert str(caught.value).startswith(f"app/bad.yaml:{caught.value.line}: invalid YAML")


def test_document_that_is_not_an_object_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"app/list.yaml": f"{cm('a')}---\n- just\n- a list\n"})
    with pytest.raises(RenderError, match=r"^app/list.yaml:6: document is not a Kubernetes object"):
        render(tmp_path, "app")


def test_scalar_document_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"app/s.yaml": "hello\n"})
    with pytest.raises(RenderError, match=r"app/s.yaml:1: .*not a Kubernetes object"):
        render(tmp_path, "app")


def test_missing_kind_names_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"app/x.yaml": f"{cm('a')}---\napiVersion: v1\nknd: ConfigMap\nmetadata:\n  name: b\n"},
    )
    with pytest.raises(RenderError, match=r'^app/x.yaml:6: object has no "kind"'):
        render(tmp_path, "app")


def test_missing_name_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"app/x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"})
    with pytest.raises(RenderError, match=r'app/x.yaml:1: ConfigMap has no "metadata.name"'):
        render(tmp_path, "app")


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"app/x.json": '{\n  "apiVersion": "v1",\n  "kind": }\n'})
    with pytest.raises(RenderError, match=r"^app/x.json:3: invalid JSON"):
        render(tmp_path, "app")


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="'nowhere' is not a directory"):
        render(tmp_path, "nowhere")


def test_path_outside_repository_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    with pytest.raises(RenderError, match="outside the repository"):
        render(tmp_path / "repo", "../")


def test_plugin_source_is_refused(tree: Path) -> None:
    with pytest.raises(RenderError, match="plugins are not supported"):
        render(tree, "app", {"plugin": {"name": "x"}})


def test_two_tool_blocks_are_refused(tree: Path) -> None:
    with pytest.raises(RenderError, match="multiple application sources"):
        render(tree, "app", {"directory": {"recurse": True}, "helm": {"releaseName": "x"}})
