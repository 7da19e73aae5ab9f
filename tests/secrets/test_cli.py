"""``tether seal``: sealing Secrets and raw values, offline recovery and re-encryption."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
import yaml
from click.testing import CliRunner, Result

from tests.secrets.conftest import DATA
from tether.cli.seal import parse_duration, seal_command
from tether.secrets.keys import KeyPair
from tether.secrets.sealed import CLUSTER_WIDE_ANNOTATION, Scope, unseal_data, unseal_value

SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: api
  namespace: shop
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
data:
  token: c2VjcmV0LXRva2Vu
"""
CERT1 = str(DATA / "test-cert-1.pem")
KEY1 = str(DATA / "test-key-1.pem")
CERT2 = str(DATA / "test-cert-2.pem")


def run(*args: str, input: str | bytes | None = None) -> Result:
    return CliRunner().invoke(seal_command, list(args), input=input)


def test_seal_secret_from_stdin_to_yaml(pair1: KeyPair) -> None:
    result = run("--cert", CERT1, input=SECRET)
    assert result.exit_code == 0, result.output
    sealed = yaml.safe_load(result.output)
    assert sealed["kind"] == "SealedSecret" and sealed["metadata"]["namespace"] == "shop"
    assert "annotations" not in sealed["spec"]["template"]["metadata"]
    assert unseal_data([pair1.private_key], sealed) == {"token": b"secret-token"}


def test_seal_file_cluster_wide_json(tmp_path: Path, pair1: KeyPair) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SECRET)
    result = run("-f", str(path), "--cert", CERT1, "--scope", "cluster-wide", "-o", "json")
    assert result.exit_code == 0, result.output
    sealed = orjson.loads(result.output)
    assert sealed["metadata"]["annotations"] == {CLUSTER_WIDE_ANNOTATION: "true"}
    moved = {**sealed, "metadata": {**sealed["metadata"], "name": "x", "namespace": "y"}}
    assert unseal_data([pair1.private_key], moved) == {"token": b"secret-token"}


def test_raw_value_from_stdin_and_file(tmp_path: Path, pair1: KeyPair) -> None:
    result = run("--raw", "--cert", CERT1, "--name", "n", "--namespace", "ns", input="v1")
    assert result.exit_code == 0, result.output
    assert unseal_value([pair1.private_key], result.output, namespace="ns", name="n") == b"v1"
    value = tmp_path / "value.bin"
    value.write_bytes(b"\x00binary\xff")
    result = run(
        "--raw",
        "--cert",
        CERT1,
        "--namespace",
        "ns",
        "--scope",
        "namespace-wide",
        "--from-file",
        str(value),
    )
    assert result.exit_code == 0, result.output
    opened = unseal_value(
        [pair1.private_key], result.output, scope=Scope.NAMESPACE_WIDE, namespace="ns"
    )
    assert opened == b"\x00binary\xff"
    missing = run("--raw", "--cert", CERT1, "--namespace", "ns", input="v")
    assert missing.exit_code == 2 and "needs --name" in missing.output


def test_recovery_unseal_and_re_encrypt_offline(tmp_path: Path, pair2: KeyPair) -> None:
    sealed = run("--cert", CERT1, input=SECRET).output
    result = run("--recovery-unseal", "--recovery-private-key", KEY1, input=sealed)
    assert result.exit_code == 0, result.output
    secret = yaml.safe_load(result.output)
    assert secret["kind"] == "Secret" and "ownerReferences" not in secret["metadata"]
    assert base64.b64decode(secret["data"]["token"]) == b"secret-token"
    rotated = run("--re-encrypt", "--recovery-private-key", KEY1, "--cert", CERT2, input=sealed)
    assert rotated.exit_code == 0, rotated.output
    assert unseal_data([pair2.private_key], yaml.safe_load(rotated.output)) == {
        "token": b"secret-token"
    }


@pytest.mark.parametrize(
    ("args", "input", "message"),
    [
        ((), SECRET, "--cert FILE or --controller URL"),
        (("--cert", CERT1), "kind: ConfigMap\nmetadata: {name: x}\n", "expected a Secret"),
        (("--cert", CERT1), "a: [", "not valid YAML or JSON"),
        (("--cert", KEY1), SECRET, "not a PEM certificate"),
        (("--recovery-unseal", "--recovery-private-key", KEY1), SECRET, "expected SealedSecrets"),
        (("--cert", CERT1, "--controller", "http://x"), SECRET, "alternatives"),
        (("--controller", "http://127.0.0.1:9"), SECRET, "cannot reach the controller"),
    ],
)
def test_errors_are_messages_not_tracebacks(
    args: tuple[str, ...], input: str, message: str
) -> None:
    result = run(*args, input=input)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_recovery_with_the_wrong_key_names_the_value_not_its_content() -> None:
    sealed = run("--cert", CERT1, input=SECRET).output
    result = run(
        "--recovery-unseal", "--recovery-private-key", str(DATA / "test-key-2.pem"), input=sealed
    )
    assert result.exit_code == 1
    assert "encryptedData['token']" in result.output and "secret-token" not in result.output


def test_durations() -> None:
    assert parse_duration("720h").days == 30
    assert parse_duration("30d").days == 30
    assert parse_duration("0").total_seconds() == 0
