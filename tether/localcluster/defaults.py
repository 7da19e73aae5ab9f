"""Server-side defaults for built-in kinds, as kube-apiserver 1.32 applies them.

Everything here is pure: `apply_defaults` mutates the object it is given and does no I/O. The
storage layer runs it after every decode/merge and before validation, so every function is
idempotent (a second run changes nothing).

Sources of truth: kubernetes `pkg/apis/{core,apps,batch,autoscaling,networking,rbac}/v1/defaults.go`,
the registry strategies' `PrepareForCreate`, the admission plugins that always run on a real
cluster (ServiceAccount, DefaultTolerationSeconds, Priority) and the v1 conversion functions that
rewrite fields (Secret `stringData`, Pod `serviceAccount`).
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from tether.localcluster.images import tag_of

__all__ = [
    "InvalidQuantityError",
    "apply_defaults",
    "canonical_quantity",
    "parse_quantity",
]

# --------------------------------------------------------------------------------------------
# Quantities
# --------------------------------------------------------------------------------------------

QUANTITY_REGEX = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY_RE = re.compile(QUANTITY_REGEX)
_DECIMAL_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {exp: suffix for suffix, exp in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {exp // 10: suffix for suffix, exp in _BINARY_SUFFIXES.items()}
_NANO = Fraction(1, 10**9)


class InvalidQuantityError(ValueError):
    """A string that Kubernetes would not accept as a resource.Quantity."""


def parse_quantity(value: str | int | float) -> tuple[Fraction, str]:
    """Parse a Kubernetes quantity into (exact value, format).

    The format is ``"BinarySI"``, ``"DecimalSI"`` or ``"DecimalExponent"``, which decides how
    the canonical form is printed. Like the Go parser, precision finer than 1n is rounded up.
    """
    if isinstance(value, bool):
        raise InvalidQuantityError(
            f"quantities must match the regular expression '{QUANTITY_REGEX}'"
        )
    text = value.strip() if isinstance(value, str) else repr(value)
    match = _QUANTITY_RE.match(text)
    if (
        not match
        or match.group(1) in {"", ".", "+", "-", "+.", "-."}
        or match.group(1).count(".") > 1
    ):
        raise InvalidQuantityError(
            f"quantities must match the regular expression '{QUANTITY_REGEX}'"
        )
    number, suffix = match.group(1), match.group(2)
    try:
        amount = Fraction(number)
    except ValueError as exc:
        raise InvalidQuantityError(
            f"quantities must match the regular expression '{QUANTITY_REGEX}'"
        ) from exc
    if suffix in _BINARY_SUFFIXES:
        amount *= 2 ** _BINARY_SUFFIXES[suffix]
        fmt = "BinarySI"
    elif suffix in _DECIMAL_SUFFIXES:
        amount *= Fraction(10) ** _DECIMAL_SUFFIXES[suffix]
        fmt = "DecimalSI"
    elif re.fullmatch(r"[eE][-+]?[0-9]+", suffix):
        amount *= Fraction(10) ** int(suffix[1:])
        fmt = "DecimalExponent"
    else:
        raise InvalidQuantityError("unable to parse quantity's suffix")
    # Go keeps at most nano precision and rounds away from zero.
    scaled = amount / _NANO
    if scaled.denominator != 1:
        magnitude = -(-abs(scaled.numerator) // scaled.denominator)
        amount = Fraction(magnitude if amount > 0 else -magnitude) * _NANO
    return amount, fmt


def canonical_quantity(value: str | int | float) -> str:
    """Return the string kube-apiserver stores for a quantity (`1000m` → `1`, `1.5Gi` → `1536Mi`)."""
    amount, fmt = parse_quantity(value)
    if amount == 0:
        return "0"
    sign = "-" if amount < 0 else ""
    magnitude = abs(amount)
    if fmt == "BinarySI":
        # Small or fractional binary values are printed in decimal so nothing is rounded.
        if magnitude < 1024 or magnitude.denominator != 1:
            fmt = "DecimalSI"
        else:
            mantissa, exponent = magnitude.numerator, 0
            while mantissa % 1024 == 0 and exponent < max(_BINARY_BY_EXPONENT):
                mantissa //= 1024
                exponent += 1
            return f"{sign}{mantissa}{_BINARY_BY_EXPONENT[exponent]}"
    mantissa, exponent = int(magnitude / _NANO), -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    aligned = (exponent // 3) * 3
    mantissa *= 10 ** (exponent - aligned)
    exponent = aligned
    if fmt == "DecimalExponent":
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
    while exponent > 18:
        mantissa *= 1000
        exponent -= 3
    return f"{sign}{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"


def _canonicalise_resource_list(resources: Any) -> None:
    """Canonicalise every quantity of a ResourceList in place; unparsable ones are left for validation."""
    if not isinstance(resources, dict):
        return
    for key, value in list(resources.items()):
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            try:
                resources[key] = canonical_quantity(value)
            except InvalidQuantityError:
                continue


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _unset(value: Any) -> bool:
    """Go's zero value for the optional string/pointer fields defaulting looks at."""
    return value is None or value == ""


def _default(obj: dict[str, Any], key: str, value: Any) -> None:
    if _unset(obj.get(key)):
        obj[key] = value


def _child(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """The dict at obj[key], created when absent (Go defaulters allocate nested structs)."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = {}
        obj[key] = value
    return value


def _dicts_or_values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# --------------------------------------------------------------------------------------------
# PodSpec, containers, volumes
# --------------------------------------------------------------------------------------------


def image_pull_policy_for(image: str) -> str:
    """`Always` for `:latest` or an untagged image without digest, else `IfNotPresent`."""
    tag = tag_of(image) or ("" if "@" in image else "latest")
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    _default(probe, "timeoutSeconds", 1)
    _default(probe, "periodSeconds", 10)
    _default(probe, "successThreshold", 1)
    _default(probe, "failureThreshold", 3)
    _default_handler(probe)


def _default_handler(handler: Any) -> None:
    if not isinstance(handler, dict):
        return
    http_get = handler.get("httpGet")
    if isinstance(http_get, dict):
        _default(http_get, "path", "/")
        _default(http_get, "scheme", "HTTP")


def _default_field_refs(holder: dict[str, Any]) -> None:
    field_ref = holder.get("fieldRef")
    if isinstance(field_ref, dict):
        _default(field_ref, "apiVersion", "v1")
    resource_ref = holder.get("resourceFieldRef")
    if isinstance(resource_ref, dict):
        # Quantity is a non-pointer struct in Go, so an absent divisor serialises as "0".
        resource_ref["divisor"] = canonical_quantity(resource_ref.get("divisor") or 0)


def _default_container(container: dict[str, Any], *, host_network: bool) -> None:
    if _unset(container.get("imagePullPolicy")):
        container["imagePullPolicy"] = image_pull_policy_for(str(container.get("image") or ""))
    _default(container, "terminationMessagePath", "/dev/termination-log")
    _default(container, "terminationMessagePolicy", "File")
    resources = _child(container, "resources")
    _canonicalise_resource_list(resources.get("requests"))
    _canonicalise_resource_list(resources.get("limits"))
    for port in _dicts(container.get("ports")):
        _default(port, "protocol", "TCP")
        if host_network and _unset(port.get("hostPort")):
            port["hostPort"] = port.get("containerPort")
    for probe_key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(container.get(probe_key))
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        _default_handler(lifecycle.get("postStart"))
        _default_handler(lifecycle.get("preStop"))
    for env in _dicts(container.get("env")):
        value_from = env.get("valueFrom")
        if isinstance(value_from, dict):
            _default_field_refs(value_from)


def _default_volume(volume: dict[str, Any]) -> None:
    sources = [key for key in volume if key != "name"]
    if not sources:
        volume["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(key)
        if isinstance(source, dict):
            _default(source, "defaultMode", 420)
    downward = volume.get("downwardAPI")
    if isinstance(downward, dict):
        for item in _dicts(downward.get("items")):
            _default_field_refs(item)
    projected = volume.get("projected")
    if isinstance(projected, dict):
        for source in _dicts(projected.get("sources")):
            token = source.get("serviceAccountToken")
            if isinstance(token, dict):
                _default(token, "expirationSeconds", 3600)
            downward_source = source.get("downwardAPI")
            if isinstance(downward_source, dict):
                for item in _dicts(downward_source.get("items")):
                    _default_field_refs(item)
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""


def _default_pod_spec(spec: dict[str, Any]) -> None:
    _default(spec, "dnsPolicy", "ClusterFirst")
    _default(spec, "restartPolicy", "Always")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    _default(spec, "terminationGracePeriodSeconds", 30)
    _default(spec, "schedulerName", "default-scheduler")
    # The v1 conversion keeps the deprecated `serviceAccount` mirrored to `serviceAccountName`.
    if _unset(spec.get("serviceAccountName")) and not _unset(spec.get("serviceAccount")):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if not _unset(spec.get("serviceAccountName")):
        spec["serviceAccount"] = spec["serviceAccountName"]
    host_network = spec.get("hostNetwork") is True
    for key in ("initContainers", "containers"):
        for container in _dicts(spec.get(key)):
            _default_container(container, host_network=host_network)
    for container in _dicts(spec.get("ephemeralContainers")):
        _default(container, "terminationMessagePath", "/dev/termination-log")
        _default(container, "terminationMessagePolicy", "File")
        if _unset(container.get("imagePullPolicy")):
            container["imagePullPolicy"] = image_pull_policy_for(str(container.get("image") or ""))
    for volume in _dicts(spec.get("volumes")):
        _default_volume(volume)


def _default_pod_template(owner_spec: dict[str, Any]) -> None:
    template = owner_spec.get("template")
    if isinstance(template, dict):
        _default_pod_spec(_child(template, "spec"))


_UNTOLERATED_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def _tolerates_no_execute(tolerations: list[dict[str, Any]], key: str) -> bool:
    for toleration in tolerations:
        key_matches = toleration.get("key") == key or (
            _unset(toleration.get("key")) and toleration.get("operator") == "Exists"
        )
        if key_matches and toleration.get("effect") in (None, "", "NoExecute"):
            return True
    return False


def _pod_qos_class(spec: dict[str, Any]) -> str:
    containers = _dicts(spec.get("containers")) + _dicts(spec.get("initContainers"))
    any_resources = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        relevant_requests = {k: v for k, v in requests.items() if k in ("cpu", "memory")}
        relevant_limits = {k: v for k, v in limits.items() if k in ("cpu", "memory")}
        if relevant_requests or relevant_limits:
            any_resources = True
        if set(relevant_limits) != {"cpu", "memory"}:
            guaranteed = False
            continue
        for name, limit in relevant_limits.items():
            request = relevant_requests.get(name, limit)
            try:
                if parse_quantity(request)[0] != parse_quantity(limit)[0]:
                    guaranteed = False
            except InvalidQuantityError:
                guaranteed = False
    if not any_resources:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _default_pod(pod: dict[str, Any], old: dict[str, Any] | None) -> None:
    spec = _child(pod, "spec")
    for key in ("initContainers", "containers"):
        for container in _dicts(spec.get(key)):
            # Only Pods (not templates) copy limits into missing requests.
            resources = container.get("resources")
            if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
                requests = _child(resources, "requests")
                for name, limit in resources["limits"].items():
                    requests.setdefault(name, limit)
    _default(spec, "enableServiceLinks", True)
    _default_pod_spec(spec)
    # Admission plugins that every real cluster runs on Pod create.
    if _unset(spec.get("serviceAccountName")):
        spec["serviceAccountName"] = "default"
        spec["serviceAccount"] = "default"
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = []
    for taint_key in _UNTOLERATED_TAINTS:
        if not _tolerates_no_execute(_dicts(tolerations), taint_key):
            tolerations.append(
                {
                    "key": taint_key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
            )
    spec["tolerations"] = tolerations
    if _unset(spec.get("priorityClassName")):
        _default(spec, "priority", 0)
    _default(spec, "preemptionPolicy", "PreemptLowerPriority")
    if old is None:
        status = _child(pod, "status")
        _default(status, "phase", "Pending")
        _default(status, "qosClass", _pod_qos_class(spec))


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------


def _default_deployment(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    _default(spec, "replicas", 1)
    strategy = _child(spec, "strategy")
    _default(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        _default(rolling, "maxUnavailable", "25%")
        _default(rolling, "maxSurge", "25%")
    _default(spec, "revisionHistoryLimit", 10)
    _default(spec, "progressDeadlineSeconds", 600)
    _default_pod_template(spec)


def _default_pvc_spec(spec: dict[str, Any], default_storage_class: str | None) -> None:
    _default(spec, "volumeMode", "Filesystem")
    resources = spec.get("resources")
    if isinstance(resources, dict):
        _canonicalise_resource_list(resources.get("requests"))
        _canonicalise_resource_list(resources.get("limits"))
    # Only a missing key gets the default class; an explicit "" means "no class".
    if default_storage_class and spec.get("storageClassName") is None:
        spec["storageClassName"] = default_storage_class


def _default_pvc(obj: dict[str, Any], default_storage_class: str | None) -> None:
    _default_pvc_spec(_child(obj, "spec"), default_storage_class)
    _default(_child(obj, "status"), "phase", "Pending")


def _default_statefulset(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    _default(spec, "podManagementPolicy", "OrderedReady")
    strategy = _child(spec, "updateStrategy")
    if _unset(strategy.get("type")):
        strategy["type"] = "RollingUpdate"
        _child(strategy, "rollingUpdate")
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
        _default(rolling, "partition", 0)
    retention = _child(spec, "persistentVolumeClaimRetentionPolicy")
    _default(retention, "whenDeleted", "Retain")
    _default(retention, "whenScaled", "Retain")
    _default(spec, "replicas", 1)
    _default(spec, "revisionHistoryLimit", 10)
    _default_pod_template(spec)
    # Claim templates are PersistentVolumeClaims and get that type's defaulters too.
    for claim in _dicts(spec.get("volumeClaimTemplates")):
        _default_pvc(claim, None)


def _default_daemonset(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    strategy = _child(spec, "updateStrategy")
    _default(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        _default(rolling, "maxUnavailable", 1)
        _default(rolling, "maxSurge", 0)
    _default(spec, "revisionHistoryLimit", 10)
    _default_pod_template(spec)


def _default_replicaset(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    _default(spec, "replicas", 1)
    _default_pod_template(spec)


_JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")
_CONTROLLER_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def _generate_job_selector(obj: dict[str, Any]) -> None:
    """What the Job strategy's PrepareForCreate does unless `manualSelector: true`."""
    metadata = _child(obj, "metadata")
    spec = _child(obj, "spec")
    template_meta = _child(_child(spec, "template"), "metadata")
    labels = _child(template_meta, "labels")
    # A label the user already set is kept; validation then reports any conflict.
    for key in _JOB_NAME_LABELS:
        labels.setdefault(key, str(metadata.get("name") or ""))
    for key in _CONTROLLER_UID_LABELS:
        labels.setdefault(key, str(metadata.get("uid") or ""))
    selector = _child(spec, "selector")
    match_labels = _child(selector, "matchLabels")
    match_labels.setdefault("batch.kubernetes.io/controller-uid", str(metadata.get("uid") or ""))


def _copy_job_labels(obj: dict[str, Any]) -> None:
    metadata = _child(obj, "metadata")
    template = obj.get("spec", {}).get("template")
    template_labels = (
        template.get("metadata", {}).get("labels") if isinstance(template, dict) else None
    )
    if isinstance(template_labels, dict) and not metadata.get("labels"):
        metadata["labels"] = dict(template_labels)


def _default_job(obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    spec = _child(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _default(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    _default(spec, "completionMode", "NonIndexed")
    _default(spec, "suspend", False)
    failure_policy = spec.get("podFailurePolicy")
    if isinstance(failure_policy, dict):
        for rule in _dicts(failure_policy.get("rules")):
            for pattern in _dicts(rule.get("onPodConditions")):
                _default(pattern, "status", "True")
    _default(
        spec,
        "podReplacementPolicy",
        "Failed" if isinstance(failure_policy, dict) else "TerminatingOrFailed",
    )
    # Real order: the v1 defaulter copies template labels to the Job at decode time, the
    # strategy then generates the selector labels, and the next decode (every read from storage)
    # copies again if the Job still had none. Doing all three makes one call a fixpoint.
    _copy_job_labels(obj)
    if old is None and spec.get("manualSelector") is not True:
        _generate_job_selector(obj)
    _copy_job_labels(obj)
    _default_pod_template(spec)


def _default_cronjob(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    _default(spec, "concurrencyPolicy", "Allow")
    _default(spec, "suspend", False)
    _default(spec, "successfulJobsHistoryLimit", 3)
    _default(spec, "failedJobsHistoryLimit", 1)
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict):
        # Only the PodSpec defaulters reach the embedded JobSpec (no backoffLimit etc.).
        _default_pod_template(_child(job_template, "spec"))


# --------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------

NODE_PORT_MIN = 30000
NODE_PORT_MAX = 32767


def _ip_family(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def _needs_cluster_ip(spec: dict[str, Any]) -> bool:
    return spec.get("type") != "ExternalName"


def _needs_node_ports(spec: dict[str, Any]) -> bool:
    service_type = spec.get("type")
    if service_type == "NodePort":
        return True
    return service_type == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False


def _deterministic_node_port(seed: str, used: set[int]) -> int:
    """A node port derived from `seed`, probing upward past ports this object already uses."""
    span = NODE_PORT_MAX - NODE_PORT_MIN + 1
    start = zlib.crc32(seed.encode()) % span
    for offset in range(span):
        candidate = NODE_PORT_MIN + (start + offset) % span
        if candidate not in used:
            return candidate
    raise ValueError("no free node port left in 30000-32767")


def _default_service(
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    allocate_cluster_ip: Callable[[], str] | None,
    allocate_node_port: Callable[[], int] | None,
) -> None:
    spec = _child(obj, "spec")
    old_spec = (old or {}).get("spec") or {}
    _default(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = spec.get("sessionAffinityConfig") or {}
        if (config.get("clientIP") or {}).get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    _default(spec, "type", "ClusterIP")
    service_type = spec["type"]
    for port in _dicts(spec.get("ports")):
        _default(port, "protocol", "TCP")
        if port.get("targetPort") in (None, "", 0):
            port["targetPort"] = port.get("port")
    externally_accessible = service_type in ("LoadBalancer", "NodePort") or (
        service_type == "ClusterIP" and bool(spec.get("externalIPs"))
    )
    if externally_accessible:
        _default(spec, "externalTrafficPolicy", "Cluster")
    if service_type in ("NodePort", "LoadBalancer", "ClusterIP"):
        _default(spec, "internalTrafficPolicy", "Cluster")
    if service_type == "LoadBalancer":
        _default(spec, "allocateLoadBalancerNodePorts", True)

    if _needs_cluster_ip(spec):
        # On update the registry carries allocated values over when the request omits them.
        if old is not None and _needs_cluster_ip(old_spec):
            if _unset(spec.get("clusterIP")) and old_spec.get("clusterIP"):
                spec["clusterIP"] = old_spec["clusterIP"]
            if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
                spec["clusterIPs"] = list(old_spec["clusterIPs"])
        if _unset(spec.get("clusterIP")) and spec.get("clusterIPs"):
            spec["clusterIP"] = spec["clusterIPs"][0]
        if _unset(spec.get("clusterIP")) and old is None and allocate_cluster_ip is not None:
            spec["clusterIP"] = allocate_cluster_ip()
        if not _unset(spec.get("clusterIP")) and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        _default_ip_families(spec)

    if _needs_node_ports(spec):
        _default_node_ports(obj, spec, old_spec if old is not None else None, allocate_node_port)
    elif service_type == "ClusterIP":
        for port in _dicts(spec.get("ports")):
            if port.get("nodePort") in (None, 0):
                port.pop("nodePort", None)
    status = _child(obj, "status")
    if status.get("loadBalancer") is None:
        status["loadBalancer"] = {}


def _default_ip_families(spec: dict[str, Any]) -> None:
    cluster_ip = spec.get("clusterIP")
    if cluster_ip == "None" and not spec.get("selector"):
        # Selectorless headless services are dual-stack capable on a real cluster.
        _default(spec, "ipFamilyPolicy", "RequireDualStack")
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4", "IPv6"]
        return
    _default(spec, "ipFamilyPolicy", "SingleStack")
    if not spec.get("ipFamilies"):
        ips = [ip for ip in spec.get("clusterIPs") or [] if isinstance(ip, str) and ip != "None"]
        spec["ipFamilies"] = [_ip_family(ip) for ip in ips] or ["IPv4"]


def _default_node_ports(
    obj: dict[str, Any],
    spec: dict[str, Any],
    old_spec: dict[str, Any] | None,
    allocate_node_port: Callable[[], int] | None,
) -> None:
    ports = _dicts(spec.get("ports"))
    used = {p["nodePort"] for p in ports if isinstance(p.get("nodePort"), int) and p["nodePort"]}
    if old_spec is not None and _needs_node_ports(old_spec):
        for port in ports:
            if port.get("nodePort") in (None, 0):
                for old_port in _dicts(old_spec.get("ports")):
                    same = old_port.get("port") == port.get("port") and old_port.get(
                        "protocol", "TCP"
                    ) == port.get("protocol")
                    if same and old_port.get("nodePort") and old_port["nodePort"] not in used:
                        port["nodePort"] = old_port["nodePort"]
                        used.add(old_port["nodePort"])
                        break
    metadata = obj.get("metadata") or {}
    identity = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"

    def allocate(seed: str) -> int:
        if allocate_node_port is not None:
            value = allocate_node_port()
        else:
            value = _deterministic_node_port(f"{identity}/{seed}", used)
        used.add(value)
        return value

    for port in ports:
        if port.get("nodePort") in (None, 0):
            port["nodePort"] = allocate(f"{port.get('protocol')}/{port.get('port')}")
    needs_health_check = (
        spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"
    )
    if needs_health_check and spec.get("healthCheckNodePort") in (None, 0):
        old_value = (old_spec or {}).get("healthCheckNodePort")
        spec["healthCheckNodePort"] = old_value or allocate("healthCheck")


# --------------------------------------------------------------------------------------------
# Everything else
# --------------------------------------------------------------------------------------------


def _default_secret(obj: dict[str, Any]) -> None:
    _default(obj, "type", "Opaque")
    # The v1 → internal conversion folds stringData into data; it is never stored or returned.
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = {}
            obj["data"] = data
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _default_namespace(obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    metadata = _child(obj, "metadata")
    if metadata.get("name"):
        _child(metadata, "labels")["kubernetes.io/metadata.name"] = metadata["name"]
    spec = _child(obj, "spec")
    # Create ensures the `kubernetes` finalizer. On update the registry keeps the stored
    # spec.finalizers unless the write goes through /finalize; only the caller knows the
    # subresource, so that rule lives in the server, not here.
    if old is None:
        finalizers: list[Any] = _dicts_or_values(spec.get("finalizers"))
        if "kubernetes" not in finalizers:
            finalizers = [*finalizers, "kubernetes"]
        spec["finalizers"] = finalizers
    _default(_child(obj, "status"), "phase", "Active")


_SCALE_UP_RULES: dict[str, Any] = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
_SCALE_DOWN_RULES: dict[str, Any] = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def _scaling_rules(given: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    rules: dict[str, Any] = {
        key: [dict(p) for p in value] if isinstance(value, list) else value
        for key, value in defaults.items()
    }
    if isinstance(given, dict):
        for key in ("selectPolicy", "stabilizationWindowSeconds", "policies"):
            if given.get(key) is not None:
                rules[key] = given[key]
        for key, value in given.items():
            rules.setdefault(key, value)
    return rules


def _default_hpa(obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    spec = _child(obj, "spec")
    _default(spec, "minReplicas", 1)
    if str(obj.get("apiVersion", "autoscaling/v2")) == "autoscaling/v1":
        return
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _scaling_rules(behavior.get("scaleUp"), _SCALE_UP_RULES)
        behavior["scaleDown"] = _scaling_rules(behavior.get("scaleDown"), _SCALE_DOWN_RULES)
    if old is None:
        # desiredReplicas has no omitempty in Go, so a fresh HPA already shows it.
        _default(_child(obj, "status"), "desiredReplicas", 0)


def _default_pdb(obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    if old is not None:
        return
    # These status counters have no omitempty in Go: a fresh PDB reads back with zeros.
    status = _child(obj, "status")
    for key in ("currentHealthy", "desiredHealthy", "disruptionsAllowed", "expectedPods"):
        _default(status, key, 0)


def _default_network_policy(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
    for direction in ("ingress", "egress"):
        for rule in _dicts(spec.get(direction)):
            for port in _dicts(rule.get("ports")):
                _default(port, "protocol", "TCP")


def _default_ingress(obj: dict[str, Any]) -> None:
    status = _child(obj, "status")
    if status.get("loadBalancer") is None:
        status["loadBalancer"] = {}


def _default_rbac_binding(obj: dict[str, Any]) -> None:
    role_ref = obj.get("roleRef")
    if isinstance(role_ref, dict):
        _default(role_ref, "apiGroup", "rbac.authorization.k8s.io")
    for subject in _dicts(obj.get("subjects")):
        if _unset(subject.get("apiGroup")) and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = "rbac.authorization.k8s.io"


def _default_crd(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    names = _child(spec, "names")
    kind = names.get("kind")
    if kind:
        _default(names, "singular", str(kind).lower())
        _default(names, "listKind", f"{kind}List")
    conversion = _child(spec, "conversion")
    _default(conversion, "strategy", "None")


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def apply_defaults(
    group: str,
    kind: str,
    obj: dict[str, Any],
    *,
    old: dict[str, Any] | None = None,
    allocate_cluster_ip: Callable[[], str] | None = None,
    allocate_node_port: Callable[[], int] | None = None,
    default_storage_class: str | None = None,
) -> None:
    """Fill in, in place, the fields kube-apiserver would default for a built-in kind.

    `old` is the stored object on update (None on create): create-only steps such as the Job
    selector, Pod admission status and ClusterIP allocation are skipped on update, and allocated
    Service values are carried over from it. `allocate_cluster_ip` is called once per created
    Service that needs an IP; `allocate_node_port` (optional) overrides the deterministic node
    port choice; `default_storage_class` is the class marked default, if any. Kinds without
    server defaults (ConfigMap, ServiceAccount, Lease, Role, custom resources…) are untouched.
    """
    if group == "":
        if kind == "Pod":
            _default_pod(obj, old)
        elif kind == "PodTemplate":
            template = obj.get("template")
            if isinstance(template, dict):
                _default_pod_spec(_child(template, "spec"))
        elif kind == "ReplicationController":
            spec = _child(obj, "spec")
            _default(spec, "replicas", 1)
            _default_pod_template(spec)
        elif kind == "Service":
            _default_service(obj, old, allocate_cluster_ip, allocate_node_port)
        elif kind == "Secret":
            _default_secret(obj)
        elif kind == "Namespace":
            _default_namespace(obj, old)
        elif kind == "PersistentVolumeClaim":
            _default_pvc(obj, default_storage_class)
    elif group == "apps":
        if kind == "Deployment":
            _default_deployment(obj)
        elif kind == "StatefulSet":
            _default_statefulset(obj)
        elif kind == "DaemonSet":
            _default_daemonset(obj)
        elif kind == "ReplicaSet":
            _default_replicaset(obj)
    elif group == "batch":
        if kind == "Job":
            _default_job(obj, old)
        elif kind == "CronJob":
            _default_cronjob(obj)
    elif group == "autoscaling" and kind == "HorizontalPodAutoscaler":
        _default_hpa(obj, old)
    elif group == "policy" and kind == "PodDisruptionBudget":
        _default_pdb(obj, old)
    elif group == "networking.k8s.io":
        if kind == "NetworkPolicy":
            _default_network_policy(obj)
        elif kind == "Ingress":
            _default_ingress(obj)
    elif group == "rbac.authorization.k8s.io" and kind in ("RoleBinding", "ClusterRoleBinding"):
        _default_rbac_binding(obj)
    elif group == "apiextensions.k8s.io" and kind == "CustomResourceDefinition":
        _default_crd(obj)
