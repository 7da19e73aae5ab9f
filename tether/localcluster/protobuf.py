"""Decode Kubernetes protobuf request bodies into JSON-shaped dicts.

kubectl's typed clients send built-in objects as ``application/vnd.kubernetes.protobuf``
and never fall back to JSON, so the local API server has to read that encoding. The
server only ever *reads* protobuf; responses stay JSON, which kubectl also accepts.

Wire format of a body::

    b"k8s\\x00" + runtime.Unknown{
        1: typeMeta  (runtime.TypeMeta{1: apiVersion, 2: kind})
        2: raw       (bytes: the object message itself)
        3: contentEncoding
        4: contentType
    }

The object message is decoded with hand-written field tables whose numbers come from
the upstream ``generated.proto`` files (k8s.io/api and k8s.io/apimachinery). The tables
also carry what the protobuf schema does not: the Go JSON shaping. Kubernetes' Go
structs are marshalled by gogo-protobuf, which writes every *non-pointer* field even
when it holds its zero value, while ``encoding/json`` drops zero values of fields tagged
``omitempty``. To produce exactly the dict a JSON body would have given, each scalar
field therefore records whether a zero on the wire is dropped (non-pointer + omitempty,
the default) or kept (pointer fields such as ``spec.replicas``, whose explicit ``0`` is
meaningful, and fields without ``omitempty`` such as ``containerPort``).
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PROTOBUF_CONTENT_TYPE",
    "SUPPORTED_KINDS",
    "ProtobufDecodeError",
    "decode_k8s_protobuf",
]

PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# Wire types of the protobuf encoding. Groups (3, 4) are deprecated and never used by
# Kubernetes, so they are rejected rather than skipped.
_VARINT = 0
_I64 = 1
_LEN = 2
_I32 = 5


class ProtobufDecodeError(Exception):
    """Raised when a body is not a decodable Kubernetes protobuf object."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"unable to decode protobuf body: {detail}")
        self.detail = detail


# --------------------------------------------------------------------------------------
# Wire-format reader
# --------------------------------------------------------------------------------------


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Read an unsigned varint at ``pos``; return (value, next position)."""
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufDecodeError("truncated message (varint runs past end)")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufDecodeError("malformed varint (more than 10 bytes)")


def _iter_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) for every field of one message.

    Varints are yielded as unsigned ints, fixed-width fields and length-delimited fields
    as raw bytes; interpretation is left to the schema.
    """
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufDecodeError("malformed message (field number 0)")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _read_varint(buf, pos)
        elif wire == _LEN:
            length, pos = _read_varint(buf, pos)
            if pos + length > end:
                raise ProtobufDecodeError("truncated message (length runs past end)")
            value = buf[pos : pos + length]
            pos += length
        elif wire in (_I64, _I32):
            width = 8 if wire == _I64 else 4
            if pos + width > end:
                raise ProtobufDecodeError("truncated message (fixed-width field)")
            value = buf[pos : pos + width]
            pos += width
        else:
            raise ProtobufDecodeError(f"unsupported wire type {wire} for field {number}")
        yield number, wire, value


def _signed64(value: int) -> int:
    """Two's-complement view of a varint as int64 (negative ints use all 10 bytes)."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _signed32(value: int) -> int:
    """int32 fields are sign-extended to 64 bits on the wire; keep the low 32 bits."""
    value &= (1 << 32) - 1
    return value - (1 << 32) if value >= 1 << 31 else value


# --------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------

# Field kinds. Scalars map to Python values directly; the special kinds implement the
# custom JSON encodings of intstr.IntOrString, resource.Quantity and metav1.Time.
_STRING = "string"
_BYTES = "bytes"
_INT32 = "int32"
_INT64 = "int64"
_BOOL = "bool"
_MESSAGE = "message"
_MAP = "map"
_INT_OR_STRING = "intorstring"
_QUANTITY = "quantity"
_TIME = "time"

_VARINT_KINDS = frozenset({_INT32, _INT64, _BOOL})


@dataclass(frozen=True)
class _Field:
    """How one protobuf field becomes one JSON member.

    ``keep``: for scalars, keep a zero value (pointer field or no ``omitempty``); for
    repeated/map fields, emit ``null`` when absent (Go slice/map without ``omitempty``);
    for Time, emit ``null`` for the zero time instead of omitting it.
    ``inline``: the sub-message's members are merged into the parent (``json:",inline"``).
    """

    name: str
    kind: str
    message: str = ""
    repeated: bool = False
    keep: bool = False
    inline: bool = False
    value: _Field | None = None  # map value type; keys are always strings here


def _s(name: str, *, keep: bool = False) -> _Field:
    return _Field(name, _STRING, keep=keep)


def _i32(name: str, *, keep: bool = False) -> _Field:
    return _Field(name, _INT32, keep=keep)


def _i64(name: str, *, keep: bool = False) -> _Field:
    return _Field(name, _INT64, keep=keep)


def _b(name: str, *, keep: bool = False) -> _Field:
    return _Field(name, _BOOL, keep=keep)


def _m(name: str, message: str) -> _Field:
    return _Field(name, _MESSAGE, message=message)


def _inline(message: str) -> _Field:
    return _Field("", _MESSAGE, message=message, inline=True)


def _list(name: str, message: str = "", *, kind: str = "", keep: bool = False) -> _Field:
    """A repeated field: of ``message`` if given, else of the scalar ``kind`` (string)."""
    if message:
        return _Field(name, _MESSAGE, message=message, repeated=True, keep=keep)
    return _Field(name, kind or _STRING, repeated=True, keep=keep)


def _map(name: str, value_kind: str = _STRING, message: str = "") -> _Field:
    value = _Field("value", value_kind, message=message, keep=True)
    return _Field(name, _MAP, value=value)


def _ios(name: str) -> _Field:
    return _Field(name, _INT_OR_STRING)


def _q(name: str) -> _Field:
    return _Field(name, _QUANTITY)


def _t(name: str, *, keep: bool = False) -> _Field:
    return _Field(name, _TIME, keep=keep)


_Schema = dict[int, _Field]

# Field numbers below are the upstream generated.proto numbers. Comments only flag the
# JSON-shaping choices; everything unflagged is a non-pointer ``omitempty`` field or a
# pointer to a struct (absent on the wire when nil).
_MESSAGES: dict[str, _Schema] = {
    # ---- k8s.io/apimachinery/pkg/apis/meta/v1 ----------------------------------------
    "meta.ObjectMeta": {
        1: _s("name"),
        2: _s("generateName"),
        3: _s("namespace"),
        4: _s("selfLink"),
        5: _s("uid"),
        6: _s("resourceVersion"),
        7: _i64("generation"),
        8: _t("creationTimestamp"),
        9: _t("deletionTimestamp"),
        10: _i64("deletionGracePeriodSeconds", keep=True),  # *int64
        11: _map("labels"),
        12: _map("annotations"),
        13: _list("ownerReferences", "meta.OwnerReference"),
        14: _list("finalizers"),
        # 17 managedFields is deliberately not decoded: the server owns field management.
    },
    "meta.DeleteOptions": {
        1: _i64("gracePeriodSeconds", keep=True),  # *int64
        2: _m("preconditions", "meta.Preconditions"),
        3: _b("orphanDependents", keep=True),  # *bool
        4: _s("propagationPolicy"),
        5: _list("dryRun"),
    },
    "meta.Preconditions": {1: _s("uid"), 2: _s("resourceVersion")},
    "meta.OwnerReference": {
        5: _s("apiVersion", keep=True),
        1: _s("kind", keep=True),
        3: _s("name", keep=True),
        4: _s("uid", keep=True),
        6: _b("controller", keep=True),  # *bool
        7: _b("blockOwnerDeletion", keep=True),  # *bool
    },
    "meta.LabelSelector": {
        1: _map("matchLabels"),
        2: _list("matchExpressions", "meta.LabelSelectorRequirement"),
    },
    "meta.LabelSelectorRequirement": {
        1: _s("key", keep=True),
        2: _s("operator", keep=True),
        3: _list("values"),
    },
    "meta.Condition": {
        1: _s("type", keep=True),
        2: _s("status", keep=True),
        3: _i64("observedGeneration"),
        4: _t("lastTransitionTime", keep=True),
        5: _s("reason", keep=True),
        6: _s("message", keep=True),
    },
    # ---- core/v1: top-level kinds ----------------------------------------------------
    "core.Namespace": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "core.NamespaceSpec"),
        3: _m("status", "core.NamespaceStatus"),
    },
    "core.NamespaceSpec": {1: _list("finalizers")},
    "core.NamespaceStatus": {
        1: _s("phase"),
        2: _list("conditions", "core.NamespaceCondition"),
    },
    "core.NamespaceCondition": {
        1: _s("type", keep=True),
        2: _s("status", keep=True),
        4: _t("lastTransitionTime"),
        5: _s("reason"),
        6: _s("message"),
    },
    "core.ConfigMap": {
        1: _m("metadata", "meta.ObjectMeta"),
        4: _b("immutable", keep=True),  # *bool
        2: _map("data"),
        3: _map("binaryData", _BYTES),
    },
    "core.Secret": {
        1: _m("metadata", "meta.ObjectMeta"),
        5: _b("immutable", keep=True),  # *bool
        2: _map("data", _BYTES),
        4: _map("stringData"),
        3: _s("type"),
    },
    "core.ServiceAccount": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _list("secrets", "core.ObjectReference"),
        3: _list("imagePullSecrets", "core.LocalObjectReference"),
        4: _b("automountServiceAccountToken", keep=True),  # *bool
    },
    "core.ResourceQuota": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "core.ResourceQuotaSpec"),
        3: _m("status", "core.ResourceQuotaStatus"),
    },
    "core.ResourceQuotaSpec": {
        1: _map("hard", _QUANTITY),
        2: _list("scopes"),
        3: _m("scopeSelector", "core.ScopeSelector"),
    },
    "core.ScopeSelector": {
        1: _list("matchExpressions", "core.ScopedResourceSelectorRequirement"),
    },
    "core.ScopedResourceSelectorRequirement": {
        1: _s("scopeName", keep=True),
        2: _s("operator", keep=True),
        3: _list("values"),
    },
    "core.ResourceQuotaStatus": {
        1: _map("hard", _QUANTITY),
        2: _map("used", _QUANTITY),
    },
    "core.ObjectReference": {
        1: _s("kind"),
        2: _s("namespace"),
        3: _s("name"),
        4: _s("uid"),
        5: _s("apiVersion"),
        6: _s("resourceVersion"),
        7: _s("fieldPath"),
    },
    "core.LocalObjectReference": {1: _s("name")},
    "core.TypedLocalObjectReference": {
        1: _s("apiGroup", keep=True),  # *string
        2: _s("kind", keep=True),
        3: _s("name", keep=True),
    },
    # ---- core/v1: Service ------------------------------------------------------------
    "core.Service": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "core.ServiceSpec"),
        3: _m("status", "core.ServiceStatus"),
    },
    "core.ServiceSpec": {
        1: _list("ports", "core.ServicePort"),
        2: _map("selector"),
        3: _s("clusterIP"),
        18: _list("clusterIPs"),
        4: _s("type"),
        5: _list("externalIPs"),
        7: _s("sessionAffinity"),
        8: _s("loadBalancerIP"),
        9: _list("loadBalancerSourceRanges"),
        10: _s("externalName"),
        11: _s("externalTrafficPolicy"),
        12: _i32("healthCheckNodePort"),
        13: _b("publishNotReadyAddresses"),
        14: _m("sessionAffinityConfig", "core.SessionAffinityConfig"),
        19: _list("ipFamilies"),
        17: _s("ipFamilyPolicy", keep=True),  # *string
        20: _b("allocateLoadBalancerNodePorts", keep=True),  # *bool
        21: _s("loadBalancerClass", keep=True),  # *string
        22: _s("internalTrafficPolicy", keep=True),  # *string
        23: _s("trafficDistribution", keep=True),  # *string
    },
    "core.ServicePort": {
        1: _s("name"),
        2: _s("protocol"),
        6: _s("appProtocol", keep=True),  # *string
        3: _i32("port", keep=True),
        4: _ios("targetPort"),
        5: _i32("nodePort"),
    },
    "core.SessionAffinityConfig": {1: _m("clientIP", "core.ClientIPConfig")},
    "core.ClientIPConfig": {1: _i32("timeoutSeconds", keep=True)},  # *int32
    "core.ServiceStatus": {
        1: _m("loadBalancer", "core.LoadBalancerStatus"),
        2: _list("conditions", "meta.Condition"),
    },
    "core.LoadBalancerStatus": {1: _list("ingress", "core.LoadBalancerIngress")},
    "core.LoadBalancerIngress": {
        1: _s("ip"),
        2: _s("hostname"),
        3: _s("ipMode", keep=True),  # *string
        4: _list("ports", "core.PortStatus"),
    },
    "core.PortStatus": {
        1: _i32("port", keep=True),
        2: _s("protocol", keep=True),
        3: _s("error", keep=True),  # *string
    },
    # ---- core/v1: pod templates ------------------------------------------------------
    "core.PodTemplateSpec": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "core.PodSpec"),
    },
    "core.PodSpec": {
        1: _list("volumes", "core.Volume"),
        20: _list("initContainers", "core.Container"),
        2: _list("containers", "core.Container", keep=True),  # `json:"containers"`
        3: _s("restartPolicy"),
        4: _i64("terminationGracePeriodSeconds", keep=True),  # *int64
        5: _i64("activeDeadlineSeconds", keep=True),  # *int64
        6: _s("dnsPolicy"),
        7: _map("nodeSelector"),
        8: _s("serviceAccountName"),
        9: _s("serviceAccount"),
        21: _b("automountServiceAccountToken", keep=True),  # *bool
        10: _s("nodeName"),
        11: _b("hostNetwork"),
        12: _b("hostPID"),
        13: _b("hostIPC"),
        27: _b("shareProcessNamespace", keep=True),  # *bool
        14: _m("securityContext", "core.PodSecurityContext"),
        15: _list("imagePullSecrets", "core.LocalObjectReference"),
        16: _s("hostname"),
        17: _s("subdomain"),
        19: _s("schedulerName"),
        22: _list("tolerations", "core.Toleration"),
        23: _list("hostAliases", "core.HostAlias"),
        24: _s("priorityClassName"),
        25: _i32("priority", keep=True),  # *int32
        28: _list("readinessGates", "core.PodReadinessGate"),
        29: _s("runtimeClassName", keep=True),  # *string
        30: _b("enableServiceLinks", keep=True),  # *bool
        31: _s("preemptionPolicy", keep=True),  # *string
        32: _map("overhead", _QUANTITY),
        33: _list("topologySpreadConstraints", "core.TopologySpreadConstraint"),
        35: _b("setHostnameAsFQDN", keep=True),  # *bool
        36: _m("os", "core.PodOS"),
        37: _b("hostUsers", keep=True),  # *bool
        38: _list("schedulingGates", "core.PodSchedulingGate"),
        40: _m("resources", "core.ResourceRequirements"),
        41: _s("hostnameOverride", keep=True),  # *string
        # affinity (18), dnsConfig (26), ephemeralContainers (34), resourceClaims (39)
        # and workloadRef (42) are outside the kubectl-create surface and are skipped.
    },
    "core.PodSecurityContext": {
        1: _m("seLinuxOptions", "core.SELinuxOptions"),
        8: _m("windowsOptions", "core.WindowsSecurityContextOptions"),
        2: _i64("runAsUser", keep=True),  # *int64
        6: _i64("runAsGroup", keep=True),  # *int64
        3: _b("runAsNonRoot", keep=True),  # *bool
        4: _list("supplementalGroups", kind=_INT64),
        12: _s("supplementalGroupsPolicy", keep=True),  # *string
        5: _i64("fsGroup", keep=True),  # *int64
        7: _list("sysctls", "core.Sysctl"),
        9: _s("fsGroupChangePolicy", keep=True),  # *string
        10: _m("seccompProfile", "core.SeccompProfile"),
        13: _s("seLinuxChangePolicy", keep=True),  # *string
    },
    "core.SecurityContext": {
        1: _m("capabilities", "core.Capabilities"),
        2: _b("privileged", keep=True),  # *bool
        3: _m("seLinuxOptions", "core.SELinuxOptions"),
        10: _m("windowsOptions", "core.WindowsSecurityContextOptions"),
        4: _i64("runAsUser", keep=True),  # *int64
        8: _i64("runAsGroup", keep=True),  # *int64
        5: _b("runAsNonRoot", keep=True),  # *bool
        6: _b("readOnlyRootFilesystem", keep=True),  # *bool
        7: _b("allowPrivilegeEscalation", keep=True),  # *bool
        9: _s("procMount", keep=True),  # *string
        11: _m("seccompProfile", "core.SeccompProfile"),
    },
    "core.Capabilities": {1: _list("add"), 2: _list("drop")},
    "core.SELinuxOptions": {1: _s("user"), 2: _s("role"), 3: _s("type"), 4: _s("level")},
    "core.WindowsSecurityContextOptions": {
        1: _s("gmsaCredentialSpecName", keep=True),  # *string
        2: _s("gmsaCredentialSpec", keep=True),  # *string
        3: _s("runAsUserName", keep=True),  # *string
        4: _b("hostProcess", keep=True),  # *bool
    },
    "core.SeccompProfile": {
        1: _s("type", keep=True),
        2: _s("localhostProfile", keep=True),  # *string
    },
    "core.Sysctl": {1: _s("name", keep=True), 2: _s("value", keep=True)},
    "core.Toleration": {
        1: _s("key"),
        2: _s("operator"),
        3: _s("value"),
        4: _s("effect"),
        5: _i64("tolerationSeconds", keep=True),  # *int64
    },
    "core.HostAlias": {1: _s("ip", keep=True), 2: _list("hostnames")},
    "core.PodReadinessGate": {1: _s("conditionType", keep=True)},
    "core.PodOS": {1: _s("name", keep=True)},
    "core.PodSchedulingGate": {1: _s("name", keep=True)},
    "core.TopologySpreadConstraint": {
        1: _i32("maxSkew", keep=True),
        2: _s("topologyKey", keep=True),
        3: _s("whenUnsatisfiable", keep=True),
        4: _m("labelSelector", "meta.LabelSelector"),
        5: _i32("minDomains", keep=True),  # *int32
        6: _s("nodeAffinityPolicy", keep=True),  # *string
        7: _s("nodeTaintsPolicy", keep=True),  # *string
        8: _list("matchLabelKeys"),
    },
    # ---- core/v1: containers ---------------------------------------------------------
    "core.Container": {
        1: _s("name", keep=True),
        2: _s("image"),
        3: _list("command"),
        4: _list("args"),
        5: _s("workingDir"),
        6: _list("ports", "core.ContainerPort"),
        19: _list("envFrom", "core.EnvFromSource"),
        7: _list("env", "core.EnvVar"),
        8: _m("resources", "core.ResourceRequirements"),
        23: _list("resizePolicy", "core.ContainerResizePolicy"),
        24: _s("restartPolicy", keep=True),  # *string
        9: _list("volumeMounts", "core.VolumeMount"),
        10: _m("livenessProbe", "core.Probe"),
        11: _m("readinessProbe", "core.Probe"),
        22: _m("startupProbe", "core.Probe"),
        12: _m("lifecycle", "core.Lifecycle"),
        13: _s("terminationMessagePath"),
        20: _s("terminationMessagePolicy"),
        14: _s("imagePullPolicy"),
        15: _m("securityContext", "core.SecurityContext"),
        16: _b("stdin"),
        17: _b("stdinOnce"),
        18: _b("tty"),
    },
    "core.ContainerPort": {
        1: _s("name"),
        2: _i32("hostPort"),
        3: _i32("containerPort", keep=True),
        4: _s("protocol"),
        5: _s("hostIP"),
    },
    "core.ContainerResizePolicy": {
        1: _s("resourceName", keep=True),
        2: _s("restartPolicy", keep=True),
    },
    "core.EnvVar": {
        1: _s("name", keep=True),
        2: _s("value"),
        3: _m("valueFrom", "core.EnvVarSource"),
    },
    "core.EnvVarSource": {
        1: _m("fieldRef", "core.ObjectFieldSelector"),
        2: _m("resourceFieldRef", "core.ResourceFieldSelector"),
        3: _m("configMapKeyRef", "core.ConfigMapKeySelector"),
        4: _m("secretKeyRef", "core.SecretKeySelector"),
    },
    "core.ObjectFieldSelector": {1: _s("apiVersion"), 2: _s("fieldPath", keep=True)},
    "core.ResourceFieldSelector": {
        1: _s("containerName"),
        2: _s("resource", keep=True),
        3: _q("divisor"),
    },
    "core.ConfigMapKeySelector": {
        1: _inline("core.LocalObjectReference"),
        2: _s("key", keep=True),
        3: _b("optional", keep=True),  # *bool
    },
    "core.SecretKeySelector": {
        1: _inline("core.LocalObjectReference"),
        2: _s("key", keep=True),
        3: _b("optional", keep=True),  # *bool
    },
    "core.EnvFromSource": {
        1: _s("prefix"),
        2: _m("configMapRef", "core.ConfigMapEnvSource"),
        3: _m("secretRef", "core.SecretEnvSource"),
    },
    "core.ConfigMapEnvSource": {
        1: _inline("core.LocalObjectReference"),
        2: _b("optional", keep=True),  # *bool
    },
    "core.SecretEnvSource": {
        1: _inline("core.LocalObjectReference"),
        2: _b("optional", keep=True),  # *bool
    },
    "core.ResourceRequirements": {
        1: _map("limits", _QUANTITY),
        2: _map("requests", _QUANTITY),
        3: _list("claims", "core.ResourceClaim"),
    },
    "core.ResourceClaim": {1: _s("name", keep=True), 2: _s("request")},
    "core.VolumeMount": {
        1: _s("name", keep=True),
        2: _b("readOnly"),
        7: _s("recursiveReadOnly", keep=True),  # *string
        3: _s("mountPath", keep=True),
        4: _s("subPath"),
        5: _s("mountPropagation", keep=True),  # *string
        6: _s("subPathExpr"),
    },
    "core.Probe": {
        1: _inline("core.ProbeHandler"),
        2: _i32("initialDelaySeconds"),
        3: _i32("timeoutSeconds"),
        4: _i32("periodSeconds"),
        5: _i32("successThreshold"),
        6: _i32("failureThreshold"),
        7: _i64("terminationGracePeriodSeconds", keep=True),  # *int64
    },
    "core.ProbeHandler": {
        1: _m("exec", "core.ExecAction"),
        2: _m("httpGet", "core.HTTPGetAction"),
        3: _m("tcpSocket", "core.TCPSocketAction"),
        4: _m("grpc", "core.GRPCAction"),
    },
    "core.Lifecycle": {
        1: _m("postStart", "core.LifecycleHandler"),
        2: _m("preStop", "core.LifecycleHandler"),
        3: _s("stopSignal", keep=True),  # *string
    },
    "core.LifecycleHandler": {
        1: _m("exec", "core.ExecAction"),
        2: _m("httpGet", "core.HTTPGetAction"),
        3: _m("tcpSocket", "core.TCPSocketAction"),
        4: _m("sleep", "core.SleepAction"),
    },
    "core.ExecAction": {1: _list("command")},
    "core.HTTPGetAction": {
        1: _s("path"),
        2: _ios("port"),
        3: _s("host"),
        4: _s("scheme"),
        5: _list("httpHeaders", "core.HTTPHeader"),
    },
    "core.HTTPHeader": {1: _s("name", keep=True), 2: _s("value", keep=True)},
    "core.TCPSocketAction": {1: _ios("port"), 2: _s("host")},
    "core.GRPCAction": {
        1: _i32("port", keep=True),
        2: _s("service", keep=True),  # *string
    },
    "core.SleepAction": {1: _i64("seconds", keep=True)},
    # ---- core/v1: volumes ------------------------------------------------------------
    "core.Volume": {
        1: _s("name", keep=True),
        2: _inline("core.VolumeSource"),
    },
    "core.VolumeSource": {
        1: _m("hostPath", "core.HostPathVolumeSource"),
        2: _m("emptyDir", "core.EmptyDirVolumeSource"),
        6: _m("secret", "core.SecretVolumeSource"),
        10: _m("persistentVolumeClaim", "core.PersistentVolumeClaimVolumeSource"),
        19: _m("configMap", "core.ConfigMapVolumeSource"),
        # Other volume sources (nfs, csi, projected, ...) are skipped.
    },
    "core.HostPathVolumeSource": {
        1: _s("path", keep=True),
        2: _s("type", keep=True),  # *string
    },
    "core.EmptyDirVolumeSource": {1: _s("medium"), 2: _q("sizeLimit")},
    "core.SecretVolumeSource": {
        1: _s("secretName"),
        2: _list("items", "core.KeyToPath"),
        3: _i32("defaultMode", keep=True),  # *int32
        4: _b("optional", keep=True),  # *bool
    },
    "core.ConfigMapVolumeSource": {
        1: _inline("core.LocalObjectReference"),
        2: _list("items", "core.KeyToPath"),
        3: _i32("defaultMode", keep=True),  # *int32
        4: _b("optional", keep=True),  # *bool
    },
    "core.KeyToPath": {
        1: _s("key", keep=True),
        2: _s("path", keep=True),
        3: _i32("mode", keep=True),  # *int32
    },
    "core.PersistentVolumeClaimVolumeSource": {
        1: _s("claimName", keep=True),
        2: _b("readOnly"),
    },
    # ---- apps/v1 ---------------------------------------------------------------------
    "apps.Deployment": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "apps.DeploymentSpec"),
        3: _m("status", "apps.DeploymentStatus"),
    },
    "apps.DeploymentSpec": {
        1: _i32("replicas", keep=True),  # *int32
        2: _m("selector", "meta.LabelSelector"),
        3: _m("template", "core.PodTemplateSpec"),
        4: _m("strategy", "apps.DeploymentStrategy"),
        5: _i32("minReadySeconds"),
        6: _i32("revisionHistoryLimit", keep=True),  # *int32
        7: _b("paused"),
        9: _i32("progressDeadlineSeconds", keep=True),  # *int32
        10: _s("podReplacementPolicy", keep=True),  # *string
    },
    "apps.DeploymentStrategy": {
        1: _s("type"),
        2: _m("rollingUpdate", "apps.RollingUpdateDeployment"),
    },
    "apps.RollingUpdateDeployment": {
        1: _ios("maxUnavailable"),
        2: _ios("maxSurge"),
    },
    "apps.DeploymentStatus": {
        1: _i64("observedGeneration"),
        2: _i32("replicas"),
        3: _i32("updatedReplicas"),
        7: _i32("readyReplicas"),
        4: _i32("availableReplicas"),
        5: _i32("unavailableReplicas"),
        9: _i32("terminatingReplicas", keep=True),  # *int32
        6: _list("conditions", "apps.DeploymentCondition"),
        8: _i32("collisionCount", keep=True),  # *int32
    },
    "apps.DeploymentCondition": {
        1: _s("type", keep=True),
        2: _s("status", keep=True),
        6: _t("lastUpdateTime"),
        7: _t("lastTransitionTime"),
        4: _s("reason"),
        5: _s("message"),
    },
    # ---- autoscaling/v1 --------------------------------------------------------------
    "autoscaling.Scale": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "autoscaling.ScaleSpec"),
        3: _m("status", "autoscaling.ScaleStatus"),
    },
    "autoscaling.ScaleSpec": {1: _i32("replicas")},
    "autoscaling.ScaleStatus": {1: _i32("replicas", keep=True), 2: _s("selector")},
    # ---- batch/v1 --------------------------------------------------------------------
    "batch.Job": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "batch.JobSpec"),
        3: _m("status", "batch.JobStatus"),
    },
    "batch.JobSpec": {
        1: _i32("parallelism", keep=True),  # *int32
        2: _i32("completions", keep=True),  # *int32
        3: _i64("activeDeadlineSeconds", keep=True),  # *int64
        11: _m("podFailurePolicy", "batch.PodFailurePolicy"),
        16: _m("successPolicy", "batch.SuccessPolicy"),
        7: _i32("backoffLimit", keep=True),  # *int32
        12: _i32("backoffLimitPerIndex", keep=True),  # *int32
        13: _i32("maxFailedIndexes", keep=True),  # *int32
        4: _m("selector", "meta.LabelSelector"),
        5: _b("manualSelector", keep=True),  # *bool
        6: _m("template", "core.PodTemplateSpec"),
        8: _i32("ttlSecondsAfterFinished", keep=True),  # *int32
        9: _s("completionMode", keep=True),  # *string
        10: _b("suspend", keep=True),  # *bool
        14: _s("podReplacementPolicy", keep=True),  # *string
        15: _s("managedBy", keep=True),  # *string
    },
    "batch.PodFailurePolicy": {
        1: _list("rules", "batch.PodFailurePolicyRule", keep=True),
    },
    "batch.PodFailurePolicyRule": {
        1: _s("action", keep=True),
        2: _m("onExitCodes", "batch.PodFailurePolicyOnExitCodesRequirement"),
        3: _list("onPodConditions", "batch.PodFailurePolicyOnPodConditionsPattern"),
    },
    "batch.PodFailurePolicyOnExitCodesRequirement": {
        1: _s("containerName", keep=True),  # *string
        2: _s("operator", keep=True),
        3: _list("values", kind=_INT32, keep=True),
    },
    "batch.PodFailurePolicyOnPodConditionsPattern": {
        1: _s("type", keep=True),
        2: _s("status"),
    },
    "batch.SuccessPolicy": {1: _list("rules", "batch.SuccessPolicyRule", keep=True)},
    "batch.SuccessPolicyRule": {
        1: _s("succeededIndexes", keep=True),  # *string
        2: _i32("succeededCount", keep=True),  # *int32
    },
    "batch.JobStatus": {
        1: _list("conditions", "batch.JobCondition"),
        2: _t("startTime"),
        3: _t("completionTime"),
        4: _i32("active"),
        5: _i32("succeeded"),
        6: _i32("failed"),
        11: _i32("terminating", keep=True),  # *int32
        7: _s("completedIndexes"),
        10: _s("failedIndexes", keep=True),  # *string
        8: _m("uncountedTerminatedPods", "batch.UncountedTerminatedPods"),
        9: _i32("ready", keep=True),  # *int32
    },
    "batch.JobCondition": {
        1: _s("type", keep=True),
        2: _s("status", keep=True),
        3: _t("lastProbeTime"),
        4: _t("lastTransitionTime"),
        5: _s("reason"),
        6: _s("message"),
    },
    "batch.UncountedTerminatedPods": {1: _list("succeeded"), 2: _list("failed")},
    "batch.CronJob": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "batch.CronJobSpec"),
        3: _m("status", "batch.CronJobStatus"),
    },
    "batch.CronJobSpec": {
        1: _s("schedule", keep=True),
        8: _s("timeZone", keep=True),  # *string
        2: _i64("startingDeadlineSeconds", keep=True),  # *int64
        3: _s("concurrencyPolicy"),
        4: _b("suspend", keep=True),  # *bool
        5: _m("jobTemplate", "batch.JobTemplateSpec"),
        6: _i32("successfulJobsHistoryLimit", keep=True),  # *int32
        7: _i32("failedJobsHistoryLimit", keep=True),  # *int32
    },
    "batch.JobTemplateSpec": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "batch.JobSpec"),
    },
    "batch.CronJobStatus": {
        1: _list("active", "core.ObjectReference"),
        4: _t("lastScheduleTime"),
        5: _t("lastSuccessfulTime"),
    },
    # ---- rbac.authorization.k8s.io/v1 ------------------------------------------------
    "rbac.Role": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _list("rules", "rbac.PolicyRule", keep=True),  # `json:"rules"`
    },
    "rbac.ClusterRole": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _list("rules", "rbac.PolicyRule", keep=True),  # `json:"rules"`
        3: _m("aggregationRule", "rbac.AggregationRule"),
    },
    "rbac.PolicyRule": {
        1: _list("verbs", keep=True),  # `json:"verbs"`
        2: _list("apiGroups"),
        3: _list("resources"),
        4: _list("resourceNames"),
        5: _list("nonResourceURLs"),
    },
    "rbac.AggregationRule": {1: _list("clusterRoleSelectors", "meta.LabelSelector")},
    "rbac.RoleBinding": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _list("subjects", "rbac.Subject"),
        3: _m("roleRef", "rbac.RoleRef"),
    },
    "rbac.Subject": {
        1: _s("kind", keep=True),
        2: _s("apiGroup"),
        3: _s("name", keep=True),
        4: _s("namespace"),
    },
    "rbac.RoleRef": {
        1: _s("apiGroup", keep=True),
        2: _s("kind", keep=True),
        3: _s("name", keep=True),
    },
    # ---- policy/v1 -------------------------------------------------------------------
    "policy.PodDisruptionBudget": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "policy.PodDisruptionBudgetSpec"),
        3: _m("status", "policy.PodDisruptionBudgetStatus"),
    },
    "policy.PodDisruptionBudgetSpec": {
        1: _ios("minAvailable"),
        2: _m("selector", "meta.LabelSelector"),
        3: _ios("maxUnavailable"),
        4: _s("unhealthyPodEvictionPolicy", keep=True),  # *string
    },
    "policy.PodDisruptionBudgetStatus": {
        1: _i64("observedGeneration"),
        2: _map("disruptedPods", _TIME),
        3: _i32("disruptionsAllowed", keep=True),
        4: _i32("currentHealthy", keep=True),
        5: _i32("desiredHealthy", keep=True),
        6: _i32("expectedPods", keep=True),
        7: _list("conditions", "meta.Condition"),
    },
    # ---- networking.k8s.io/v1 --------------------------------------------------------
    "networking.Ingress": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "networking.IngressSpec"),
        3: _m("status", "networking.IngressStatus"),
    },
    "networking.IngressSpec": {
        4: _s("ingressClassName", keep=True),  # *string
        1: _m("defaultBackend", "networking.IngressBackend"),
        2: _list("tls", "networking.IngressTLS"),
        3: _list("rules", "networking.IngressRule"),
    },
    "networking.IngressBackend": {
        4: _m("service", "networking.IngressServiceBackend"),
        3: _m("resource", "core.TypedLocalObjectReference"),
    },
    "networking.IngressServiceBackend": {
        1: _s("name", keep=True),
        2: _m("port", "networking.ServiceBackendPort"),
    },
    "networking.ServiceBackendPort": {1: _s("name"), 2: _i32("number")},
    "networking.IngressTLS": {1: _list("hosts"), 2: _s("secretName")},
    "networking.IngressRule": {
        1: _s("host"),
        2: _inline("networking.IngressRuleValue"),
    },
    "networking.IngressRuleValue": {1: _m("http", "networking.HTTPIngressRuleValue")},
    "networking.HTTPIngressRuleValue": {
        1: _list("paths", "networking.HTTPIngressPath", keep=True),  # `json:"paths"`
    },
    "networking.HTTPIngressPath": {
        1: _s("path"),
        3: _s("pathType", keep=True),  # *PathType
        2: _m("backend", "networking.IngressBackend"),
    },
    "networking.IngressStatus": {
        1: _m("loadBalancer", "networking.IngressLoadBalancerStatus"),
    },
    "networking.IngressLoadBalancerStatus": {
        1: _list("ingress", "networking.IngressLoadBalancerIngress"),
    },
    "networking.IngressLoadBalancerIngress": {
        1: _s("ip"),
        2: _s("hostname"),
        4: _list("ports", "networking.IngressPortStatus"),
    },
    "networking.IngressPortStatus": {
        1: _i32("port", keep=True),
        2: _s("protocol", keep=True),
        3: _s("error", keep=True),  # *string
    },
}

# (apiVersion, kind) -> top-level message. Only kinds that kubectl's typed clients send
# as protobuf (kubectl create ...) are registered; unknown kinds fail loudly instead of
# being half-decoded.
_KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "core.Namespace",
    ("v1", "ConfigMap"): "core.ConfigMap",
    ("v1", "Secret"): "core.Secret",
    ("v1", "ServiceAccount"): "core.ServiceAccount",
    ("v1", "Service"): "core.Service",
    ("v1", "ResourceQuota"): "core.ResourceQuota",
    ("apps/v1", "Deployment"): "apps.Deployment",
    ("autoscaling/v1", "Scale"): "autoscaling.Scale",
    ("batch/v1", "Job"): "batch.Job",
    ("batch/v1", "CronJob"): "batch.CronJob",
    ("rbac.authorization.k8s.io/v1", "Role"): "rbac.Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "rbac.ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "rbac.RoleBinding",
    # ClusterRoleBinding has the same fields and numbers as RoleBinding.
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "rbac.RoleBinding",
    ("policy/v1", "PodDisruptionBudget"): "policy.PodDisruptionBudget",
    ("networking.k8s.io/v1", "Ingress"): "networking.Ingress",
    # the body of a DELETE from a typed client (helm's release storage, for one)
    ("v1", "DeleteOptions"): "meta.DeleteOptions",
    ("meta.k8s.io/v1", "DeleteOptions"): "meta.DeleteOptions",
}

SUPPORTED_KINDS: frozenset[tuple[str, str]] = frozenset(_KINDS)


# --------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------


def _expect_wire(field: _Field, number: int, wire: int, expected: int) -> None:
    if wire != expected:
        raise ProtobufDecodeError(
            f"field {field.name or number} has wire type {wire}, expected {expected}"
        )


def _scalar(field: _Field, kind: str, number: int, wire: int, value: int | bytes) -> Any:
    """Convert one non-message wire value according to ``kind``."""
    if kind in _VARINT_KINDS:
        _expect_wire(field, number, wire, _VARINT)
        assert isinstance(value, int)
        if kind == _INT32:
            return _signed32(value)
        if kind == _INT64:
            return _signed64(value)
        return value != 0
    _expect_wire(field, number, wire, _LEN)
    assert isinstance(value, bytes)
    if kind == _STRING:
        # Go's encoding/json substitutes U+FFFD for invalid UTF-8; do the same.
        return value.decode("utf-8", errors="replace")
    if kind == _BYTES:
        return base64.b64encode(value).decode("ascii")
    if kind == _INT_OR_STRING:
        return _decode_int_or_string(value)
    if kind == _QUANTITY:
        return _decode_quantity(value)
    if kind == _TIME:
        return _decode_time(value)
    if kind == _MESSAGE:
        return _decode_message(field.message, value)
    raise ProtobufDecodeError(f"field {field.name} has unsupported kind {kind}")


def _decode_repeated_scalar(field: _Field, number: int, wire: int, value: int | bytes) -> list[Any]:
    """Repeated varint fields may arrive packed (one LEN blob) or one per entry."""
    if field.kind in _VARINT_KINDS and wire == _LEN:
        assert isinstance(value, bytes)
        out: list[Any] = []
        pos = 0
        while pos < len(value):
            item, pos = _read_varint(value, pos)
            out.append(_scalar(field, field.kind, number, _VARINT, item))
        return out
    return [_scalar(field, field.kind, number, wire, value)]


# Zero values of the map value kinds in use, for entries that omit their value.
_MAP_VALUE_ZERO: dict[str, Any] = {_STRING: "", _BYTES: "", _QUANTITY: "0", _TIME: None}


def _decode_map_entry(field: _Field, number: int, wire: int, raw: int | bytes) -> tuple[str, Any]:
    """Maps are repeated entry messages {1: key, 2: value}; keys are strings here."""
    _expect_wire(field, number, wire, _LEN)
    assert isinstance(raw, bytes) and field.value is not None
    value_field = field.value
    key = ""
    value: Any = _MAP_VALUE_ZERO[value_field.kind]
    for entry_number, entry_wire, entry_value in _iter_fields(raw):
        if entry_number == 1:
            key = _scalar(field, _STRING, entry_number, entry_wire, entry_value)
        elif entry_number == 2:
            value = _scalar(value_field, value_field.kind, entry_number, entry_wire, entry_value)
    return key, value


def _is_zero(value: Any) -> bool:
    """Go's omitempty notion of empty for the scalar kinds (false, 0, "")."""
    return value is False or value == "" or (type(value) is int and value == 0)


def _decode_message(name: str, buf: bytes) -> dict[str, Any]:
    """Decode one message of schema ``name`` into its JSON-shaped dict."""
    schema = _MESSAGES[name]
    out: dict[str, Any] = {}
    for number, wire, value in _iter_fields(buf):
        field = schema.get(number)
        if field is None:
            continue  # unknown field: already skipped by the wire-type-aware reader
        if field.kind == _MAP:
            key, item = _decode_map_entry(field, number, wire, value)
            out.setdefault(field.name, {})[key] = item
        elif field.repeated:
            items = out.setdefault(field.name, [])
            if field.kind == _MESSAGE:
                items.append(_scalar(field, _MESSAGE, number, wire, value))
            else:
                items.extend(_decode_repeated_scalar(field, number, wire, value))
        elif field.inline:
            out.update(_scalar(field, _MESSAGE, number, wire, value))
        else:
            decoded = _scalar(field, field.kind, number, wire, value)
            if field.kind == _TIME and decoded is None:
                if field.keep:
                    out[field.name] = None
                else:
                    out.pop(field.name, None)
            elif not field.keep and field.kind not in (_MESSAGE, _INT_OR_STRING, _QUANTITY):
                # Non-pointer omitempty scalar: gogo wrote the zero value, JSON would not.
                if _is_zero(decoded):
                    out.pop(field.name, None)
                else:
                    out[field.name] = decoded
            else:
                out[field.name] = decoded
    for field in schema.values():
        # Go slices/maps without omitempty serialise as null when empty.
        if field.keep and (field.repeated or field.kind == _MAP) and field.name not in out:
            out[field.name] = None
    return out


def _decode_int_or_string(buf: bytes) -> int | str:
    kind = 0
    int_val = 0
    str_val = ""
    for number, wire, value in _iter_fields(buf):
        if number == 1 and wire == _VARINT:
            assert isinstance(value, int)
            kind = _signed64(value)
        elif number == 2 and wire == _VARINT:
            assert isinstance(value, int)
            int_val = _signed32(value)
        elif number == 3 and wire == _LEN:
            assert isinstance(value, bytes)
            str_val = value.decode("utf-8", errors="replace")
    # intstr.Type: 0 = Int, 1 = String.
    return str_val if kind == 1 else int_val


def _decode_quantity(buf: bytes) -> str:
    for number, wire, value in _iter_fields(buf):
        if number == 1 and wire == _LEN:
            assert isinstance(value, bytes)
            return value.decode("utf-8", errors="replace")
    # resource.Quantity always marshals its string form; an empty one means zero.
    return "0"


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def _decode_time(buf: bytes) -> str | None:
    """metav1.Time: empty message is the zero time; otherwise RFC3339 at second precision.

    metav1.Time's JSON form drops sub-second precision (it formats with time.RFC3339),
    so ``nanos`` is read for completeness of the wire format but not rendered.
    """
    if not buf:
        return None
    seconds = 0
    for number, wire, value in _iter_fields(buf):
        if number == 1 and wire == _VARINT:
            assert isinstance(value, int)
            seconds = _signed64(value)
    try:
        moment = _EPOCH + _dt.timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ProtobufDecodeError(f"timestamp out of range ({seconds} s)") from exc
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode_type_meta(buf: bytes) -> tuple[str, str]:
    api_version = ""
    kind = ""
    for number, wire, value in _iter_fields(buf):
        if wire != _LEN:
            continue
        assert isinstance(value, bytes)
        if number == 1:
            api_version = value.decode("utf-8", errors="replace")
        elif number == 2:
            kind = value.decode("utf-8", errors="replace")
    return api_version, kind


def decode_k8s_protobuf(body: bytes) -> dict[str, Any]:
    """Decode a ``application/vnd.kubernetes.protobuf`` body into a JSON-shaped dict.

    The result has ``apiVersion`` and ``kind`` from the envelope followed by the object's
    fields, shaped as the Kubernetes JSON encoding of the same object would be.

    Raises:
        ProtobufDecodeError: bad magic, truncated or malformed message, unsupported
            content encoding, or a kind without a schema here.
    """
    if not body.startswith(MAGIC):
        raise ProtobufDecodeError("missing k8s protobuf magic prefix")
    api_version = ""
    kind = ""
    raw = b""
    encoding = ""
    for number, wire, value in _iter_fields(body[len(MAGIC) :]):
        if wire != _LEN:
            continue
        assert isinstance(value, bytes)
        if number == 1:
            api_version, kind = _decode_type_meta(value)
        elif number == 2:
            raw = value
        elif number == 3:
            encoding = value.decode("utf-8", errors="replace")
    if not kind or not api_version:
        raise ProtobufDecodeError("envelope has no apiVersion/kind")
    if encoding:
        raise ProtobufDecodeError(f"unsupported content encoding {encoding!r}")
    message = _KINDS.get((api_version, kind))
    if message is None:
        raise ProtobufDecodeError(f"no protobuf schema for {api_version} {kind}")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    obj.update(_decode_message(message, raw))
    return obj
