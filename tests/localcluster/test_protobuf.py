"""Tests for tether.localcluster.protobuf.

Ground truth: ``data/protobuf/*.bin`` are request bodies captured from the pinned kubectl
(v1.37.1); each sits next to the ``--dry-run=client -o json`` output of the same command
(see data/protobuf/README.md). Decoding must give that JSON *exactly* — no normalisation
is applied. That works because the decoder reproduces Go's JSON shaping: zero values of
non-pointer ``omitempty`` fields are dropped, empty structs stay ``{}`` (``strategy: {}``,
``status: {}``), the zero ``creationTimestamp`` is omitted (kubectl 1.37 omits it too),
and slices without ``omitempty`` become ``null`` (``rules: null``).

Synthetic bodies built with the tiny encoder below cover what kubectl does not send:
timestamps, unknown fields of every wire type, packed repeated ints, the Scale kind and
malformed input.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tether.localcluster.protobuf import (
    SUPPORTED_KINDS,
    ProtobufDecodeError,
    decode_k8s_protobuf,
)

DATA = Path(__file__).parent / "data" / "protobuf"
FIXTURES = sorted(p.stem for p in DATA.glob("*.bin"))


# ---- minimal protobuf encoder for synthetic bodies --------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative ints are sign-extended to 10 bytes, as Go does
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _vi(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _ld(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _fixed64(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 1) + payload


def _fixed32(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 5) + payload


def _envelope(api_version: str, kind: str, raw: bytes, *, encoding: str = "") -> bytes:
    body = _ld(1, _ld(1, api_version) + _ld(2, kind)) + _ld(2, raw)
    if encoding:
        body += _ld(3, encoding)
    return b"k8s\x00" + body


# ---- real kubectl captures --------------------------------------------------------------


def test_fixtures_present() -> None:
    assert len(FIXTURES) >= 20
    for name in FIXTURES:
        assert (DATA / f"{name}.json").is_file(), name


@pytest.mark.parametrize("name", FIXTURES)
def test_capture_decodes_to_kubectl_json(name: str) -> None:
    body = (DATA / f"{name}.bin").read_bytes()
    expected = json.loads((DATA / f"{name}.json").read_text())
    assert decode_k8s_protobuf(body) == expected


def _decode_fixture(name: str) -> dict:
    return decode_k8s_protobuf((DATA / f"{name}.bin").read_bytes())


def test_explicit_zero_replicas_is_kept() -> None:
    obj = _decode_fixture("deployment_zero")
    assert obj["spec"]["replicas"] == 0
    assert obj["spec"]["template"]["spec"]["containers"][0]["command"] == ["sleep", "3600"]


def test_rich_job_pointer_zeros_negatives_and_inline_fields() -> None:
    obj = _decode_fixture("job_from_cronjob")
    spec = obj["spec"]
    assert (spec["backoffLimit"], spec["parallelism"], spec["suspend"]) == (0, 0, False)
    pod = spec["template"]["spec"]
    assert pod["priority"] == -5  # negative int32: 10-byte varint
    assert pod["terminationGracePeriodSeconds"] == 0
    assert pod["securityContext"]["runAsUser"] == 0
    assert pod["securityContext"]["supplementalGroups"] == [1, 2, 3]
    assert "hostNetwork" not in pod  # non-pointer false is omitted, as in JSON
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["cfg"]["configMap"]["name"] == "app-config"  # inlined reference
    assert volumes["empty"] == {"name": "empty", "emptyDir": {}}
    main = pod["containers"][0]
    assert main["livenessProbe"]["httpGet"]["port"] == "http"  # IntOrString string
    assert main["readinessProbe"]["tcpSocket"]["port"] == 8080  # IntOrString int
    assert main["resources"]["limits"] == {"cpu": "500m", "memory": "128Mi"}
    assert obj["metadata"]["ownerReferences"][0]["controller"] is True


def test_bytes_maps_are_base64() -> None:
    assert _decode_fixture("secret")["data"] == {"pw": "czNjcjN0", "user": "YWRtaW4="}
    assert _decode_fixture("configmap_binary")["binaryData"] == {"blob": "AAH/Ymlu"}


def test_envelope_type_meta_comes_first() -> None:
    obj = _decode_fixture("namespace")
    assert list(obj)[:2] == ["apiVersion", "kind"]
    assert (obj["apiVersion"], obj["kind"]) == ("v1", "Namespace")


# ---- synthetic bodies -------------------------------------------------------------------


def _meta(name: str, *extra: bytes) -> bytes:
    return _ld(1, _ld(1, name) + b"".join(extra))


def test_scale_object_shaping() -> None:
    raw = _meta("web", _ld(3, "default"), _ld(6, "42")) + _ld(2, _vi(1, 0)) + _ld(3, _vi(1, 0))
    obj = decode_k8s_protobuf(_envelope("autoscaling/v1", "Scale", raw))
    assert obj == {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "42"},
        "spec": {},  # ScaleSpec.replicas is `omitempty` int32: zero drops out
        "status": {"replicas": 0},  # ScaleStatus.replicas has no omitempty
    }


def test_time_fields_render_rfc3339() -> None:
    stamp = _ld(8, _vi(1, 1_700_000_000) + _vi(2, 5))
    obj = decode_k8s_protobuf(_envelope("v1", "ConfigMap", _meta("c", stamp)))
    assert obj["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"


def test_pre_epoch_time() -> None:
    stamp = _ld(9, _vi(1, -86_400))
    obj = decode_k8s_protobuf(_envelope("v1", "ConfigMap", _meta("c", stamp)))
    assert obj["metadata"]["deletionTimestamp"] == "1969-12-31T00:00:00Z"


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    unknown = (
        _vi(90, 7)
        + _ld(91, b"\x08\x01garbage-is-fine-here")
        + _fixed64(92, b"\x00" * 8)
        + _fixed32(93, b"\x00" * 4)
    )
    raw = unknown + _meta("c", unknown) + _ld(2, _ld(1, "k") + _ld(2, "v")) + unknown
    obj = decode_k8s_protobuf(_envelope("v1", "ConfigMap", raw))
    assert obj == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"k": "v"},
    }


def test_packed_repeated_ints_and_empty_map_value() -> None:
    packed = _ld(4, _varint(5) + _varint(6))  # supplementalGroups, packed encoding
    pod_spec = _ld(14, packed) + _ld(7, _ld(1, "disk"))  # nodeSelector entry w/o value
    template = _ld(2, pod_spec)
    raw = _meta("d") + _ld(2, _ld(3, template))
    obj = decode_k8s_protobuf(_envelope("apps/v1", "Deployment", raw))
    spec = obj["spec"]["template"]["spec"]
    assert spec["securityContext"] == {"supplementalGroups": [5, 6]}
    assert spec["nodeSelector"] == {"disk": ""}
    assert spec["containers"] is None  # `json:"containers"` without omitempty


def test_supported_kinds_cover_kubectl_create() -> None:
    for key in [
        ("v1", "Namespace"),
        ("v1", "Secret"),
        ("apps/v1", "Deployment"),
        ("batch/v1", "CronJob"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("policy/v1", "PodDisruptionBudget"),
        ("networking.k8s.io/v1", "Ingress"),
        ("autoscaling/v1", "Scale"),
    ]:
        assert key in SUPPORTED_KINDS


# ---- errors -----------------------------------------------------------------------------


def test_bad_magic() -> None:
    with pytest.raises(ProtobufDecodeError, match="magic"):
        decode_k8s_protobuf(b'{"kind":"ConfigMap"}')


def test_truncated_capture() -> None:
    body = (DATA / "deployment.bin").read_bytes()
    with pytest.raises(ProtobufDecodeError, match="truncated"):
        decode_k8s_protobuf(body[:-40])


def test_truncated_varint() -> None:
    with pytest.raises(ProtobufDecodeError, match="truncated"):
        decode_k8s_protobuf(b"k8s\x00\x08\xff")


def test_unknown_kind_message() -> None:
    with pytest.raises(ProtobufDecodeError) as info:
        decode_k8s_protobuf(_envelope("apps/v1", "Foo", b""))
    assert str(info.value) == "unable to decode protobuf body: no protobuf schema for apps/v1 Foo"


def test_missing_type_meta() -> None:
    with pytest.raises(ProtobufDecodeError, match="apiVersion/kind"):
        decode_k8s_protobuf(b"k8s\x00" + _ld(2, b""))


def test_content_encoding_rejected() -> None:
    with pytest.raises(ProtobufDecodeError, match="content encoding"):
        decode_k8s_protobuf(_envelope("v1", "ConfigMap", b"", encoding="gzip"))


def test_wire_type_mismatch_on_known_field() -> None:
    raw = _ld(1, _vi(1, 5))  # metadata.name sent as a varint
    with pytest.raises(ProtobufDecodeError, match="wire type"):
        decode_k8s_protobuf(_envelope("v1", "ConfigMap", raw))


def test_group_wire_type_rejected() -> None:
    raw = _varint(50 << 3 | 3)
    with pytest.raises(ProtobufDecodeError, match="wire type 3"):
        decode_k8s_protobuf(_envelope("v1", "ConfigMap", raw))


def test_overlong_varint() -> None:
    with pytest.raises(ProtobufDecodeError, match="varint"):
        decode_k8s_protobuf(b"k8s\x00\x08" + b"\xff" * 11)
