"""Hostile repository content: each a clear error naming the file, within bounded memory and time.

Cases that crashed or froze before (a segfault, a memory blow-up) run in a child process with
its address space and time limited, so a regression fails the test instead of the test run.
"""

from __future__ import annotations

import io
import socket
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyrage
import pytest

from tests.render.bounded import ROOT, GiB, run_python, run_tether
from tests.render.conftest import write
from tests.render.test_safety import EXEC_PLUGIN
from tests.source.servers import LoopbackServer, NotGitServer
from tests.test_safeyaml import billion_laughs
from tether.render import (
    DEFAULT_LIMITS,
    RenderError,
    RenderLimitError,
    RenderLimits,
    UnsafeRepositoryError,
    render,
    sandbox,
)
from tether.render.manifests import parse_tool_output
from tether.render.tree import Workspace, remove_tree
from tether.secrets.sops import SopsKeys

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n"
CHART = "apiVersion: v2\nname: {}\nversion: 0.1.0\n"


@pytest.fixture
def listener() -> Iterator[NotGitServer]:
    """A web server on 127.0.0.1 that counts the connections it gets."""
    with NotGitServer(max_hold=10) as server:
        yield server


def chart(root: Path, schema: object | None = None, **files: str) -> Path:
    """A chart at ``root/chart`` with one ConfigMap and an optional values schema."""
    contents = {"chart/Chart.yaml": CHART.format("c"), "chart/templates/cm.yaml": CM.format("a")}
    if schema is not None:
        contents["chart/values.schema.json"] = orjson.dumps(schema).decode()
    contents.update({f"chart/{name}": text for name, text in files.items()})
    return write(root, contents)


# --- YAML and JSON ---------------------------------------------------------------------------


def test_tether_render_of_a_billion_laughs_prints_one_line(tmp_path: Path) -> None:
    write(tmp_path, {"app/lol.yaml": billion_laughs()})
    run = run_tether(["render", str(tmp_path / "app"), "-o", "json"], memory_bytes=2 * GiB)
    assert run.returncode == 1, run.stderr.decode()[-2000:]
    assert run.stderr.decode().splitlines() == [
        "Error: lol.yaml:10: aliases expand to more than 400000 values (YAML alias expansion limit)"
    ]


@pytest.mark.parametrize(
    ("depth", "text"),
    [(50_000, "- " * 50_000 + "x\n"), (5_000, "[" * 5_000 + "]" * 5_000 + "\n")],
    ids=["segfault-deep", "recursion-deep"],
)
def test_tether_render_of_a_deep_document_prints_one_line(
    tmp_path: Path, depth: int, text: str
) -> None:
    # 50,000 levels killed the CLI with signal 11; 5,000 printed a RecursionError traceback
    write(tmp_path, {"app/cm.yaml": CM.format("a"), "app/deep.yaml": text})
    run = run_tether(["render", str(tmp_path / "app")], memory_bytes=2 * GiB)
    assert run.returncode == 1, (run.returncode, run.stderr.decode()[-2000:])
    assert run.stderr.decode().splitlines() == [
        "Error: deep.yaml:1: nested deeper than 128 levels (YAML depth limit)"
    ]


@pytest.mark.parametrize("depth", [300, 5_000])
def test_deep_json_manifest_is_refused_clearly(tmp_path: Path, depth: int) -> None:
    # orjson reads up to 1,024 levels and stops past them; 255 and more broke every later dump
    deep = "[" * depth + "]" * depth
    text = f'{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "x"}}, "x": {deep}}}'
    write(tmp_path, {"app/deep.json": text})
    with pytest.raises(RenderLimitError, match=r"^app/deep.json: nested deeper than 128 levels"):
        render(tmp_path, "app")


def test_tool_output_with_a_billion_laughs_names_the_template() -> None:
    # helm and kustomize refuse this themselves today; the parser does not rely on it
    output = (
        f"---\n# Source: c/templates/ok.yaml\n{CM.format('ok')}"
        f"---\n# Source: c/templates/lol.yaml\n{billion_laughs()}"
    )
    with pytest.raises(RenderLimitError) as caught:
        parse_tool_output(output.encode(), "helm")
    assert caught.value.file == "c/templates/lol.yaml (rendered by helm)"
    assert caught.value.line == 10
    assert "YAML alias expansion limit" in str(caught.value)


def test_yaml_limits_come_from_render_limits(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml": CM.format("a") + "data:\n  x: " + "[" * 20 + "]" * 20})
    assert render(tmp_path, "app").objects
    with pytest.raises(RenderLimitError, match="nested deeper than 10 levels"):
        render(tmp_path, "app", limits=RenderLimits(max_yaml_depth=10))


# --- sizes before reads ----------------------------------------------------------------------


def test_workspace_checks_size_before_reading(tmp_path: Path) -> None:
    # a 4 GiB sparse file appearing in the copy: read first, it would need 4 GiB of memory
    code = (
        "import os, sys; from pathlib import Path\n"
        "from tether.render import DEFAULT_LIMITS, RenderLimitError\n"
        "from tether.render.tree import Workspace\n"
        "with Workspace(Path(sys.argv[1]), DEFAULT_LIMITS) as ws:\n"
        "    big = ws.repo / 'big.yaml'\n"
        "    with open(big, 'wb') as fh:\n"
        "        fh.truncate(4 * 1024**3)\n"
        "    try:\n"
        "        ws.read(big)\n"
        "    except RenderLimitError as exc:\n"
        "        print(exc)\n"
    )
    write(tmp_path, {"cm.yaml": CM.format("a")})
    run = run_python(code, memory_bytes=2 * GiB, timeout=60, args=[str(tmp_path)])
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert run.stdout.decode().strip() == (
        "big.yaml: file is 4294967296 bytes, larger than the 10485760-byte limit for files "
        "in a repository"
    )


@pytest.mark.parametrize(
    ("files", "path", "blamed"),
    [
        ({f"app/{i}.yaml": CM.format(f"cm{i}") for i in range(4)}, "app", "app/2.yaml"),
        (
            {"app/kustomization.yaml": "resources: [cm.yaml]\n" + "#" * 300 + "\n",
             "app/cm.yaml": CM.format("a")},
            "app",
            "app/kustomization.yaml",
        ),
        ({"chart/Chart.yaml": CHART.format("c") + "#" * 400 + "\n"}, "chart", "chart/Chart.yaml"),
    ],
    ids=["directory", "kustomize", "helm"],
)  # fmt: skip
def test_render_reads_no_more_than_its_budget(
    tmp_path: Path, files: dict[str, str], path: str, blamed: str
) -> None:
    write(tmp_path, files)
    limits = RenderLimits(max_read_bytes=120)
    with pytest.raises(RenderLimitError, match="render read more than 120 bytes") as caught:
        render(tmp_path, path, limits=limits)
    assert caught.value.file == blamed


# --- tools: network, memory, CPU ---------------------------------------------------------------


def test_render_tools_have_no_network(tmp_path: Path, listener: NotGitServer) -> None:
    assert sandbox.network_isolation() is not None, (
        "this machine cannot make network namespaces (unshare -n / -rn); the tests need one"
    )
    probe = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {listener.port}), timeout=5)\n"
        "    print('connected')\n"
        "except OSError as exc:\n"
        "    print('no network:', exc.strerror)\n"
    )
    write(tmp_path, {"cm.yaml": CM.format("a")})
    with Workspace(tmp_path, DEFAULT_LIMITS) as ws:
        run = ws.run([sys.executable, "-I", "-c", probe], what="probe", env={})
    assert run.stdout.decode().startswith("no network:")
    assert listener.connections == 0


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "http://127.0.0.1:{port}/values.json"},
        {"properties": {"image": {"$ref": "http://127.0.0.1:{port}/image.json"}}},
        {"$schema": "http://127.0.0.1:{port}/meta.json"},
        {"$id": "http://127.0.0.1:{port}/", "properties": {"a": {"$ref": "a.json"}}},
    ],
    ids=["ref", "nested-ref", "meta-schema", "relative-to-remote-id"],
)
def test_values_schema_reaching_the_network_is_refused(
    tmp_path: Path, listener: NotGitServer, schema: dict[str, object]
) -> None:
    text = orjson.dumps(schema).decode().replace("{port}", str(listener.port))
    chart(tmp_path, orjson.loads(text))
    with pytest.raises(UnsafeRepositoryError) as caught:
        render(tmp_path, "chart")
    assert caught.value.file == "chart/values.schema.json"
    assert listener.connections == 0


def test_values_schema_reading_a_host_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"description": "TOP-SECRET-4f1d"}')
    for ref in (f"file://{secret}", str(secret), "../../secret.json", "%2e%2e/secret.json"):
        chart(tmp_path / "repo", {"$ref": ref})
        with pytest.raises(UnsafeRepositoryError, match="leaves the chart") as caught:
            render(tmp_path / "repo", "chart")
        assert "TOP-SECRET" not in str(caught.value)


def test_values_schema_in_a_packaged_subchart_is_checked(
    tmp_path: Path, listener: NotGitServer
) -> None:
    schema = orjson.dumps({"$ref": f"http://127.0.0.1:{listener.port}/x.json"})
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as archive:
        for name, data in (("sub/Chart.yaml", CHART.format("sub").encode()),
                           ("sub/values.schema.json", schema)):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    chart(tmp_path)
    (tmp_path / "chart" / "charts").mkdir()
    (tmp_path / "chart" / "charts" / "sub-0.1.0.tgz").write_bytes(packed.getvalue())
    with pytest.raises(UnsafeRepositoryError) as caught:
        render(tmp_path, "chart")
    assert caught.value.file == "chart/charts/sub-0.1.0.tgz:sub/values.schema.json"
    assert listener.connections == 0


def test_values_schema_within_the_chart_still_validates(tmp_path: Path) -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"count": {"type": "integer"}},
        "properties": {"replicas": {"$ref": "#/definitions/count"}},
        "default": {"$ref": "http://data.example/not-a-reference"},
    }
    chart(tmp_path, schema, **{"values.yaml": "replicas: many\n"})
    with pytest.raises(RenderError, match="replicas"):
        render(tmp_path, "chart")
    (tmp_path / "chart" / "values.yaml").write_text("replicas: 2\n")
    assert render(tmp_path, "chart").objects[0]["metadata"]["name"] == "a"


def test_skipped_schema_validation_loads_no_schema(tmp_path: Path, listener: NotGitServer) -> None:
    chart(tmp_path, {"$ref": f"http://127.0.0.1:{listener.port}/values.json"})
    result = render(tmp_path, "chart", {"helm": {"skipSchemaValidation": True}})
    assert [o["metadata"]["name"] for o in result.objects] == ["a"]
    assert listener.connections == 0


DOUBLING = """\
{{- $s := "xxxxxxxxxxxxxxxx" }}
{{- range until 60 }}{{ $s = print $s $s }}{{ end }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: big
data:
  size: {{ len $s | quote }}
"""


def test_template_doubling_a_string_stops_at_the_memory_limit(tmp_path: Path) -> None:
    chart(tmp_path, **{"templates/big.yaml": DOUBLING})
    # the child's own 4 GiB bound keeps the test run safe even if the tool limit failed
    argv = ["render", str(tmp_path / "chart"), "--repo-root", str(tmp_path)]
    run = run_tether(argv, memory_bytes=4 * GiB, timeout=120)
    assert run.returncode == 1, run.stderr.decode()[-2000:]
    lines = run.stderr.decode().splitlines()
    assert len(lines) == 1, lines[:5]
    assert lines[0].startswith("Error: helm template of chart ")
    assert "(60 s of CPU, 1024 MiB of memory)" in lines[0]


SPIN = "{{- range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}\n"


def test_template_spinning_stops_at_the_cpu_limit(tmp_path: Path) -> None:
    chart(tmp_path, **{"templates/spin.yaml": SPIN})
    limits = RenderLimits(tool_cpu_seconds=1, timeout_seconds=60)
    with pytest.raises(RenderLimitError, match="killed past its CPU time or memory limit"):
        render(tmp_path, "chart", limits=limits)


def test_network_isolation_can_be_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # as on a host where neither "unshare -n" nor "unshare -rn" works
    monkeypatch.setattr(sandbox, "_isolation", None)
    monkeypatch.setattr(sandbox, "_isolation_known", True)
    monkeypatch.setattr(sandbox, "_isolation_problem", "unshare -n: Operation not permitted")
    monkeypatch.setattr(sandbox, "_warned", False)
    chart(tmp_path)
    with pytest.raises(RenderError, match="cannot cut the tool off the network"):
        render(tmp_path, "chart", limits=RenderLimits(require_network_isolation=True))
    assert render(tmp_path, "chart").objects
    assert "render tools run WITH network access" in caplog.text


# --- Jsonnet -----------------------------------------------------------------------------------


def test_refused_jsonnet_import_is_one_clean_message(tmp_path: Path) -> None:
    write(tmp_path, {"app/x.jsonnet": "importstr '/etc/passwd'\n"})
    with pytest.raises(RenderError) as caught:
        render(tmp_path, "app")
    assert str(caught.value) == (
        "app/x.jsonnet: jsonnet error: import '/etc/passwd' resolves outside the repository"
    )


def test_jsonnet_worker_reports_refusals_without_heap_garbage(tmp_path: Path) -> None:
    # gojsonnet reads a failing import callback's message past its end; once the worker's heap
    # has been used, what follows is garbage or undecodable (a UnicodeDecodeError traceback)
    code = (
        "import contextlib, io, json, re, sys\n"
        "sys.path.insert(0, 'tether/render')\n"
        "import _jsonnet_worker as worker\n"
        "root = sys.argv[1]\n"
        "bad = []\n"
        "for n in range(1, 61):\n"
        "    rel = '/' + 'x' * n\n"
        "    with open(root + '/x.jsonnet', 'w') as fh:\n"
        "        fh.write(f\"importstr '{rel}'\")\n"
        "    request = {'root': root, 'files': [root + '/x.jsonnet'], 'ext_vars': {},\n"
        "               'ext_codes': {}, 'tla_vars': {}, 'tla_codes': {}, 'jpaths': [],\n"
        "               'max_file_bytes': 1000}\n"
        "    sys.stdin, out = io.StringIO(json.dumps(request)), io.StringIO()\n"
        "    try:\n"
        "        with contextlib.redirect_stdout(out):\n"
        "            worker.main()\n"
        "        message = json.loads(out.getvalue())['error']['message']\n"
        "        pattern = f\"(?s).*import '{rel}' resolves outside the repository(\\n.*)?\"\n"
        "        if not re.fullmatch(pattern, message):\n"
        "            bad.append(repr(message[-40:]))\n"
        "    except Exception as exc:\n"
        "        bad.append(repr(exc)[:80])\n"
        "print(len(bad), bad[:3])\n"
    )
    run = run_python(code, memory_bytes=2 * GiB, timeout=120, args=[str(tmp_path)])
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert run.stdout.decode().strip() == "0 []"


def test_jsonnet_worker_answers_a_broken_request_without_traceback() -> None:
    run = run_python(
        "import runpy, sys; sys.argv = ['w']; runpy.run_path('tether/render/_jsonnet_worker.py',"
        " run_name='__main__')",
        stdin=b'{"root": 1}',
        timeout=60,
    )
    assert run.returncode == 0
    assert orjson.loads(run.stdout)["error"]["message"] == "KeyError: 'files'"
    assert b"Traceback" not in run.stderr


def test_bounded_children_import_this_checkout() -> None:
    # the hostile cases above test the code of this checkout, not an installed copy
    run = run_python("import tether; print(tether.__file__)", timeout=60)
    assert run.stdout.decode().strip() == str(ROOT / "tether" / "__init__.py")


# --- deep trees ----------------------------------------------------------------------------------


def test_folders_nested_deeper_than_python_recursion_render(tmp_path: Path) -> None:
    # copying and walking recursed once per folder: 1,200 levels were a RecursionError traceback
    folder = tmp_path / "app"
    folder.mkdir()
    for _ in range(1200):  # mkdir(parents=True) itself recurses: one level at a time
        folder = folder / "d"
        folder.mkdir()
    (folder / "cm.yaml").write_text(CM.format("bottom"))
    try:
        result = render(tmp_path, "app", {"directory": {"recurse": True}})
    finally:
        remove_tree(tmp_path / "app")  # pytest's own clean-up would recurse too
    assert [o["metadata"]["name"] for o in result.objects] == ["bottom"]


def test_a_long_chain_of_kustomize_bases_is_checked_to_its_end(tmp_path: Path) -> None:
    files = {f"k{i}/kustomization.yaml": f"resources:\n- ../k{i + 1}\n" for i in range(1500)}
    files["k1500/kustomization.yaml"] = "generators:\n- gen.yaml\n"
    files["k1500/gen.yaml"] = EXEC_PLUGIN
    write(tmp_path, files)
    with pytest.raises(UnsafeRepositoryError, match=r"^k1500/gen.yaml:1: kustomize function"):
        render(tmp_path, "k0")


def test_decryption_of_a_kustomization_with_a_field_of_the_wrong_type(tmp_path: Path) -> None:
    # the decryption walk iterated "resources: 5" and failed with a TypeError traceback
    write(tmp_path, {"app/kustomization.yaml": "resources: 5\n"})
    keys = SopsKeys((str(pyrage.x25519.Identity.generate()),))
    with pytest.raises(RenderError, match=r'^app/kustomization.yaml: "resources" must be a list'):
        render(tmp_path, "app", decryption=keys)


class _ManifestServer(LoopbackServer):
    """Serves one ConfigMap as YAML for any path, as a remote kustomize resource."""

    def handle(self, connection: socket.socket) -> None:
        connection.settimeout(self.max_hold)
        connection.recv(65536)
        body = CM.format("remote").encode()
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )


def test_kustomize_keeps_the_network_when_remote_bases_are_allowed(tmp_path: Path) -> None:
    with _ManifestServer(max_hold=10) as server:
        write(tmp_path, {"app/kustomization.yaml": f"resources:\n- {server.url('cm.yaml')}\n"})
        with pytest.raises(UnsafeRepositoryError, match="remote resources entry"):
            render(tmp_path, "app")
        result = render(tmp_path, "app", limits=RenderLimits(allow_remote_bases=True))
    assert [o["metadata"]["name"] for o in result.objects] == ["remote"]
    assert server.connections == 1
