"""Type topology of Kubernetes objects, as patching and field management need it.

A `Node` says what a value at some place in an object is: a struct with declared fields, a granular
map with arbitrary keys (labels, ConfigMap data), a list with a list type (`atomic`, `set`, or `map`
keyed by some fields), a scalar, or `any` (a free-form value whose maps are granular and whose lists
are atomic, what structured-merge-diff calls a "deduced" type).

Built-in kinds are modelled by introspecting the typed models of `lightkube-models` and overlaying an
explicit table of list semantics (patch strategies and SSA list types are not in those models).
Custom resources are modelled from their CRD's structural OpenAPI v3 schema.

Everything here is pure and immutable; `schema_for` is cached.
"""

from __future__ import annotations

import datetime
import importlib
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

import msgspec

SCALAR: Final = "scalar"
STRUCT: Final = "struct"
MAP: Final = "map"
LIST: Final = "list"
ANY: Final = "any"

ATOMIC: Final = "atomic"
SET: Final = "set"
MAP_LIST: Final = "map"


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """One place in an object's type tree.

    `kind` is one of `scalar`, `struct`, `map`, `list`, `any`.
    For structs `fields` maps JSON field names to their nodes; `element` is the node of map values
    and list items. Lists carry their SSA `list_type` (`atomic`, `set`, `map`), the key fields of a
    `map` list and the defaults of those keys, plus the strategic-merge-patch strategy and merge key.
    `implicit` marks values that exist as an empty object in Go's zero value of the parent (a
    non-pointer struct such as `spec` or `metadata`); it decides where Update field sets get `"."`.
    """

    kind: str
    fields: dict[str, Node] = field(default_factory=dict)
    element: Node | None = None
    list_type: str = ATOMIC
    keys: tuple[str, ...] = ()
    key_defaults: dict[str, Any] = field(default_factory=dict)
    patch_strategy: str = ""
    patch_merge_key: str = ""
    retain_keys: bool = False
    atomic: bool = False
    implicit: bool = False
    preserve_unknown: bool = False

    @property
    def is_keyed_list(self) -> bool:
        """True for a list whose items are identified by key fields (`listType=map`)."""
        return self.kind == LIST and self.list_type == MAP_LIST

    @property
    def is_set_list(self) -> bool:
        """True for a list of scalars treated as a set (`listType=set`)."""
        return self.kind == LIST and self.list_type == SET

    @property
    def is_leaf(self) -> bool:
        """True when the value is owned and replaced as a whole (scalars, atomic lists/maps/structs)."""
        if self.kind == SCALAR or self.atomic:
            return True
        return self.kind == LIST and self.list_type == ATOMIC

    def child(self, name: str) -> Node:
        """The node of the value under key `name` of a struct or map (`any` when undeclared)."""
        if self.kind == STRUCT:
            declared = self.fields.get(name)
            if declared is not None:
                return declared
            return ANY_NODE
        if self.kind == MAP and self.element is not None:
            return self.element
        return ANY_NODE

    def declares(self, name: str) -> bool:
        """True when `name` is a declared struct field (not a map key nor an unknown field)."""
        return self.kind == STRUCT and name in self.fields

    def item(self) -> Node:
        """The node of a list's items."""
        return self.element if self.element is not None else ANY_NODE


SCALAR_NODE: Final = Node(SCALAR)
ANY_NODE: Final = Node(ANY)


def list_keys(node: Node | None) -> tuple[str, ...] | None:
    """The key fields of a keyed list node, or None when `node` is not a keyed list."""
    if node is not None and node.is_keyed_list:
        return node.keys
    return None


# ---------------------------------------------------------------------------------------------
# Explicit semantics the typed models do not carry (§5.3 of the API spec).


@dataclass(frozen=True, slots=True)
class _ListSpec:
    smp_key: str = ""  # patchMergeKey; "" with smp_merge = merged primitive list
    smp_merge: bool = False
    retain_keys: bool = False
    list_type: str = ATOMIC
    keys: tuple[str, ...] = ()
    key_defaults: tuple[tuple[str, Any], ...] = ()


def _keyed(smp_key: str, *keys: str, retain: bool = False, tcp: bool = False) -> _ListSpec:
    return _ListSpec(
        smp_key=smp_key,
        smp_merge=True,
        retain_keys=retain,
        list_type=MAP_LIST,
        keys=keys or (smp_key,),
        key_defaults=(("protocol", "TCP"),) if tcp else (),
    )


_CONTAINER_LISTS: Final = {
    "ports": _keyed("containerPort", "containerPort", "protocol", tcp=True),
    "env": _keyed("name"),
    "volumeMounts": _keyed("mountPath"),
    "volumeDevices": _keyed("devicePath"),
}

_LISTS: Final[dict[tuple[str, str], _ListSpec]] = {
    ("PodSpec", "containers"): _keyed("name"),
    ("PodSpec", "initContainers"): _keyed("name"),
    ("PodSpec", "ephemeralContainers"): _keyed("name"),
    ("PodSpec", "volumes"): _keyed("name", retain=True),
    ("PodSpec", "imagePullSecrets"): _keyed("name"),
    ("PodSpec", "hostAliases"): _keyed("ip"),
    ("PodSpec", "topologySpreadConstraints"): _keyed(
        "topologyKey", "topologyKey", "whenUnsatisfiable"
    ),
    ("PodSpec", "schedulingGates"): _keyed("name"),
    ("PodSpec", "resourceClaims"): _keyed("name", retain=True),
    **{("Container", name): spec for name, spec in _CONTAINER_LISTS.items()},
    **{("EphemeralContainer", name): spec for name, spec in _CONTAINER_LISTS.items()},
    # SSA keys claims by name, but strategic merge replaces the list.
    ("ResourceRequirements", "claims"): _ListSpec(list_type=MAP_LIST, keys=("name",)),
    ("ServiceSpec", "ports"): _keyed("port", "port", "protocol", tcp=True),
    ("ServiceAccount", "secrets"): _keyed("name"),
    ("PodStatus", "podIPs"): _keyed("ip"),
    ("PodStatus", "hostIPs"): _keyed("ip"),
    ("NodeStatus", "addresses"): _keyed("type"),
    ("ObjectMeta", "finalizers"): _ListSpec(smp_merge=True, list_type=SET),
    ("ObjectMeta", "ownerReferences"): _keyed("uid"),
}

# Structs marked `+structType=atomic` in the Kubernetes API: owned and replaced as one value.
_ATOMIC_STRUCTS: Final = frozenset(
    {
        "LabelSelector",
        "OwnerReference",
        "ObjectReference",
        "LocalObjectReference",
        "TypedLocalObjectReference",
        "TypedObjectReference",
        "NodeSelector",
        "NodeSelectorTerm",
        "TopologySelectorTerm",
        "ConfigMapKeySelector",
        "SecretKeySelector",
        "ObjectFieldSelector",
        "ResourceFieldSelector",
        "SecretReference",
    }
)

# Maps marked `+mapType=atomic`.
_ATOMIC_MAPS: Final = frozenset({("PodSpec", "nodeSelector"), ("ServiceSpec", "selector")})

# Structs whose strategic merge patches carry `$retainKeys` (unions).
_RETAIN_KEYS_FIELDS: Final = frozenset({("DeploymentSpec", "strategy")})

# Non-pointer structs of the Go types: present as `{}` in the zero value of their parent.
_VALUE_STRUCTS: Final = frozenset(
    {
        "ObjectMeta",
        "PodTemplateSpec",
        "JobTemplateSpec",
        "DeploymentStrategy",
        "StatefulSetUpdateStrategy",
        "DaemonSetUpdateStrategy",
        "ResourceRequirements",
        "LoadBalancerStatus",
        "IngressLoadBalancerStatus",
        "CrossVersionObjectReference",
        "RoleRef",
    }
)

# Lists serialised without omitempty in Go (`null` in the zero value rather than absent).
_VALUE_LISTS: Final = frozenset({("PodSpec", "containers")})

# Free-form subtrees: a CRD's own schema is recursive and is stored as given.
_FREE_FORM_CLASSES: Final = frozenset({"JSONSchemaProps"})

_SCALAR_TYPES: Final = (str, int, float, bool, datetime.datetime, datetime.date, bytes)

# ---------------------------------------------------------------------------------------------
# Introspection of the lightkube models.


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


class _Builder:
    """Builds nodes from model classes; one struct node per class, cycles resolved by sharing."""

    def __init__(self) -> None:
        self._structs: dict[type, Node] = {}

    def struct(self, cls: type) -> Node:
        cached = self._structs.get(cls)
        if cached is not None:
            return cached
        name = cls.__name__
        if name in _FREE_FORM_CLASSES:
            return ANY_NODE
        fields: dict[str, Node] = {}
        node = Node(
            STRUCT,
            fields=fields,
            atomic=name in _ATOMIC_STRUCTS,
            implicit=name in _VALUE_STRUCTS or name.endswith(("Spec", "Status")),
        )
        # Registered before the fields are filled so that recursive types refer to this node.
        self._structs[cls] = node
        hints = typing.get_type_hints(cls)
        attr_names: tuple[str, ...] = getattr(cls, "__struct_fields__", tuple(hints))
        json_names: tuple[str, ...] = getattr(cls, "__struct_encode_fields__", attr_names)
        for attr, json_name in zip(attr_names, json_names, strict=True):
            fields[json_name] = self.field(name, json_name, hints[attr])
        return node

    def field(self, owner: str, name: str, tp: Any) -> Node:
        tp = _strip_optional(tp)
        origin = typing.get_origin(tp)
        if origin is list:
            (item_tp,) = typing.get_args(tp) or (Any,)
            return self._list(owner, name, self.field(owner, name + "[]", item_tp))
        if tp is dict or origin is dict:
            return Node(MAP, element=ANY_NODE, atomic=(owner, name) in _ATOMIC_MAPS)
        if origin in (typing.Union, types.UnionType):
            # IntOrString and similar unions of scalars.
            if all(a in _SCALAR_TYPES or a is type(None) for a in typing.get_args(tp)):
                return SCALAR_NODE
            return ANY_NODE
        if isinstance(tp, type):
            if issubclass(tp, msgspec.Struct):
                struct = self.struct(tp)
                if (owner, name) in _RETAIN_KEYS_FIELDS:
                    return _with(struct, retain_keys=True)
                return struct
            if issubclass(tp, _SCALAR_TYPES):
                return SCALAR_NODE
        return ANY_NODE

    def _list(self, owner: str, name: str, item: Node) -> Node:
        spec = _LISTS.get((owner, name))
        if spec is None and name == "conditions" and "type" in item.fields:
            spec = _keyed("type")
        if spec is None:
            spec = _ListSpec()
        return Node(
            LIST,
            element=item,
            list_type=spec.list_type,
            keys=spec.keys,
            key_defaults=dict(spec.key_defaults),
            patch_strategy="merge" if spec.smp_merge else "",
            patch_merge_key=spec.smp_key,
            retain_keys=spec.retain_keys,
            implicit=(owner, name) in _VALUE_LISTS,
        )


def _with(node: Node, **changes: Any) -> Node:
    values = {name: getattr(node, name) for name in Node.__slots__}
    values.update(changes)
    return Node(**values)


# group -> model modules to search, preferred (stable) versions first.
_GROUP_MODULES: Final[dict[str, tuple[str, ...]]] = {
    "": ("core_v1",),
    "apps": ("apps_v1",),
    "batch": ("batch_v1",),
    "networking.k8s.io": ("networking_v1",),
    "rbac.authorization.k8s.io": ("rbac_v1",),
    "policy": ("policy_v1",),
    "autoscaling": ("autoscaling_v2", "autoscaling_v1"),
    "coordination.k8s.io": ("coordination_v1",),
    "apiextensions.k8s.io": ("apiextensions_v1",),
    "apiregistration.k8s.io": ("apiregistration_v1",),
    "admissionregistration.k8s.io": ("admissionregistration_v1",),
    "certificates.k8s.io": ("certificates_v1",),
    "discovery.k8s.io": ("discovery_v1",),
    "events.k8s.io": ("events_v1",),
    "flowcontrol.apiserver.k8s.io": ("flowcontrol_v1",),
    "node.k8s.io": ("node_v1",),
    "scheduling.k8s.io": ("scheduling_v1",),
    "storage.k8s.io": ("storage_v1",),
    "resource.k8s.io": ("resource_v1",),
}

_BUILDER = _Builder()


@lru_cache(maxsize=256)
def schema_for(group: str, kind: str) -> Node | None:
    """The type model of a built-in kind, or None when `group`/`kind` is not a known built-in."""
    for module_name in _GROUP_MODULES.get(group, ()):
        try:
            module = importlib.import_module(f"lightkube.models.{module_name}")
        except ImportError:
            continue
        cls = getattr(module, kind, None)
        if isinstance(cls, type) and issubclass(cls, msgspec.Struct):
            fields = getattr(cls, "__struct_encode_fields__", ())
            # Top-level kinds carry apiVersion and kind; `…List` wrappers are not objects.
            is_list = kind.endswith("List") and "items" in fields
            if "kind" in fields and "apiVersion" in fields and not is_list:
                return _BUILDER.struct(cls)
    return None


def object_meta() -> Node:
    """The ObjectMeta node (labels/annotations granular, finalizers a set, ownerReferences by uid)."""
    meta = schema_for("", "ConfigMap")
    assert meta is not None
    return meta.fields["metadata"]


def default_object_node() -> Node:
    """The model used for kinds without a schema: ObjectMeta semantics, everything else free-form."""
    return _default_object()


@lru_cache(maxsize=1)
def _default_object() -> Node:
    return Node(
        STRUCT,
        fields={"apiVersion": SCALAR_NODE, "kind": SCALAR_NODE, "metadata": object_meta()},
        preserve_unknown=True,
    )


# ---------------------------------------------------------------------------------------------
# CRD structural schemas.


def schema_from_openapi(openapi_v3_schema: dict[str, Any]) -> Node:
    """The type model of a custom resource from its CRD version's `openAPIV3Schema`.

    Objects are granular, lists atomic unless `x-kubernetes-list-type` says `set` or `map`
    (keyed by `x-kubernetes-list-map-keys`), `x-kubernetes-map-type: atomic` makes an object
    atomic, objects without properties or with `x-kubernetes-preserve-unknown-fields` accept any
    key, `additionalProperties` makes a map. `apiVersion`, `kind` and ObjectMeta are always known.
    """
    root = _openapi_node(openapi_v3_schema)
    fields = dict(root.fields) if root.kind == STRUCT else {}
    fields.setdefault("apiVersion", SCALAR_NODE)
    fields.setdefault("kind", SCALAR_NODE)
    fields["metadata"] = object_meta()
    preserve = root.kind != STRUCT or root.preserve_unknown
    return Node(STRUCT, fields=fields, preserve_unknown=preserve)


def _openapi_node(s: Any) -> Node:
    if not isinstance(s, dict):
        return ANY_NODE
    if s.get("x-kubernetes-int-or-string"):
        return SCALAR_NODE
    preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
    atomic_map = s.get("x-kubernetes-map-type") == "atomic"
    kind = s.get("type")
    props = s.get("properties")
    if kind == "array":
        item = _openapi_node(s.get("items"))
        list_type = s.get("x-kubernetes-list-type") or ATOMIC
        keys: tuple[str, ...] = ()
        defaults: dict[str, Any] = {}
        if list_type == MAP_LIST:
            keys = tuple(s.get("x-kubernetes-list-map-keys") or ())
            item_props = (s.get("items") or {}).get("properties") or {}
            for key in keys:
                key_schema = item_props.get(key)
                if isinstance(key_schema, dict) and "default" in key_schema:
                    defaults[key] = key_schema["default"]
        if list_type not in (ATOMIC, SET, MAP_LIST):
            list_type = ATOMIC
        return Node(LIST, element=item, list_type=list_type, keys=keys, key_defaults=defaults)
    if isinstance(props, dict) and props:
        fields = {name: _openapi_node(sub) for name, sub in props.items()}
        return Node(STRUCT, fields=fields, atomic=atomic_map, preserve_unknown=preserve)
    additional = s.get("additionalProperties")
    if isinstance(additional, dict):
        return Node(MAP, element=_openapi_node(additional), atomic=atomic_map)
    if kind == "object" or kind is None or preserve:
        return Node(MAP, element=ANY_NODE, atomic=atomic_map) if atomic_map else ANY_NODE
    return SCALAR_NODE


# ---------------------------------------------------------------------------------------------
# Unknown fields (fieldValidation=Strict/Warn) and pruning.


def unknown_fields(obj: dict[str, Any], node: Node) -> list[str]:
    """Dotted paths of fields in `obj` that `node` does not declare, as the API server prints them.

    Example: `spec.template.spec.containers[0].bogus`. Free-form subtrees never report anything.
    """
    found: list[str] = []
    _walk_unknown(obj, node, "", found)
    return found


def prune_unknown(obj: dict[str, Any], node: Node) -> dict[str, Any]:
    """A copy of `obj` without the fields `unknown_fields` reports."""
    pruned = _walk_unknown(obj, node, "", None)
    return pruned if isinstance(pruned, dict) else {}


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _walk_unknown(value: Any, node: Node, path: str, found: list[str] | None) -> Any:
    """Report unknown fields into `found` (when given) and return the value without them."""
    kind = node.kind
    if isinstance(value, dict):
        if kind == STRUCT:
            out: dict[str, Any] = {}
            for key, sub in value.items():
                declared = node.fields.get(key)
                if declared is None:
                    if node.preserve_unknown:
                        out[key] = sub
                    elif found is not None:
                        found.append(_join(path, key))
                    continue
                out[key] = _walk_unknown(sub, declared, _join(path, key), found)
            return out
        if kind == MAP and node.element is not None and node.element.kind != ANY:
            return {
                key: _walk_unknown(sub, node.element, _join(path, key), found)
                for key, sub in value.items()
            }
        return value
    if isinstance(value, list) and kind == LIST and node.element is not None:
        item = node.element
        if item.kind in (STRUCT, LIST, MAP):
            return [
                _walk_unknown(sub, item, f"{path}[{index}]", found)
                for index, sub in enumerate(value)
            ]
    return value
