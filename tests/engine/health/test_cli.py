"""``tether health -f FILE``: the same checks as the controller, for Lua authors and CI."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from tether.cli.health import health_command

MANIFESTS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo, generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 2, replicas: 2, updatedReplicas: 1, availableReplicas: 1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: demo}
data: {a: b}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: demo}
status: {conditions: [{type: Ready, status: "False", message: "backend down"}]}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: smoke
  namespace: demo
  annotations: {argocd.argoproj.io/ignore-healthcheck: "true"}
status:
  conditions: [{type: Failed, status: "True", message: "Job has reached the specified backoff limit"}]
"""

WIDGET_SCRIPT = 'return {status = "Suspended", message = "paused by " .. obj.metadata.name}'


def _files(tmp_path: Path) -> Path:
    manifests = tmp_path / "live.yaml"
    manifests.write_text(MANIFESTS)
    return manifests


def test_prints_status_and_message_of_each_object(tmp_path: Path) -> None:
    result = CliRunner().invoke(health_command, ["-f", str(_files(tmp_path))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAMESPACE", "KIND/NAME", "STATUS", "MESSAGE"]
    assert "Deployment/web" in lines[1] and "Progressing" in lines[1]
    assert "1 out of 2 new replicas have been updated..." in lines[1]
    assert "ConfigMap/settings" in lines[2] and " - " in lines[2]
    assert "Widget/w1" in lines[3] and "Degraded" in lines[3] and "backend down" in lines[3]
    assert "Job/smoke" in lines[4] and "(ignored in application health)" in lines[4]
    # The failed Job is ignored: the Widget decides.
    assert lines[-1] == "Application health: Degraded (backend down)"


def test_json_output_with_configmap_and_folder_customizations(tmp_path: Path) -> None:
    configmap = tmp_path / "argocd-cm.yaml"
    configmap.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\ndata:\n"
        "  resource.customizations.health.example.com_Widget: |\n"
        f"    {WIDGET_SCRIPT}\n"
    )
    folder = tmp_path / "resource_customizations" / "apps" / "Deployment"
    folder.mkdir(parents=True)
    (folder / "health.lua").write_text('return {status = "Healthy", message = "from folder"}')
    result = CliRunner().invoke(
        health_command,
        [
            "-f",
            str(_files(tmp_path)),
            "--customizations",
            str(tmp_path),
            "--customizations-configmap",
            str(configmap),
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = orjson.loads(result.output)
    healths = {row["name"]: row["health"] for row in document["resources"]}
    assert healths == {
        "web": {"status": "Healthy", "message": "from folder"},
        "settings": None,
        "w1": {"status": "Suspended", "message": "paused by w1"},
        "smoke": {"status": "Degraded", "message": "Job has reached the specified backoff limit"},
    }
    assert document["resources"][3]["ignoredInAppHealth"] is True
    assert document["application"] == {"status": "Suspended", "message": "paused by w1"}


def test_reads_a_kubectl_list_from_standard_input() -> None:
    listing = orjson.dumps(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "data"},
                    "status": {"phase": "Bound"},
                }
            ],
        }
    ).decode()
    result = CliRunner().invoke(health_command, ["-f", "-", "-o", "json"], input=listing)
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["resources"][0]["health"] == {
        "status": "Healthy",
        "message": "",
    }


def test_bad_inputs_are_clear_errors_not_tracebacks(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(health_command, ["-f", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "cannot read" in missing.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed\n")
    bad_yaml = runner.invoke(health_command, ["-f", str(broken)])
    assert bad_yaml.exit_code == 1 and "invalid YAML" in bad_yaml.output
    bad_key = tmp_path / "cm.yaml"
    bad_key.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n"
        "data: {resource.customizations.health.a_b_c: 'return {}'}\n"
    )
    result = runner.invoke(
        health_command, ["-f", str(_files(tmp_path)), "--customizations-configmap", str(bad_key)]
    )
    assert result.exit_code == 1 and "a_b_c" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
