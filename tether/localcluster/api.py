"""The API semantics of the local cluster: create, read, update, patch, apply, delete, list.

HTTP lives in ``server.py``; this module takes decoded requests and answers ``(code, body)`` or
raises :class:`ApiError`. Every write goes through :meth:`ClusterApi._commit`, which applies the
rules a real API server applies in the same order: subresource resets, unknown-field handling,
defaulting, validation, generation, finalizer rules, managedFields, no-op detection, dry run,
persistence.
"""

from __future__ import annotations

import base64
import random
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from tether import safeyaml
from tether.localcluster import (
    apierrors,
    crdschema,
    defaults,
    fieldmanager,
    patch,
    protobuf,
    schema,
    secretdecode,
    validation,
)
from tether.localcluster.apierrors import ApiError
from tether.localcluster.kinds import ResourceType, TypeRegistry
from tether.localcluster.selectors import (
    name_from_field_selector,
    parse_field_selector,
    parse_label_selector,
    selector_to_string,
)
from tether.localcluster.store import Key, Store, deep_copy

MAX_BODY = 3 * 1024 * 1024
GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
UNTRACKED_META = ("managedFields", "resourceVersion", "generation")
APPLY_TYPE = "application/apply-patch+yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    APPLY_TYPE,
)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_bool(value: str | None) -> bool:
    """Go ``strconv.ParseBool`` spellings, as the API server accepts them in query strings."""
    if value is None:
        return False
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False", ""):
        return False
    raise apierrors.bad_request(f'strconv.ParseBool: parsing "{value}": invalid syntax')


@dataclass
class WriteContext:
    """What a write request carries besides the object: who, how, and with which options."""

    manager: str
    dry_run: bool = False
    field_validation: str = "Warn"
    subresource: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Result:
    code: int
    body: Any
    warnings: list[str] = field(default_factory=list)


def decode_body(raw: bytes, content_type: str) -> Any:
    """JSON, or YAML when the client says so; malformed input is a 400 like the real decoder's."""
    if len(raw) > MAX_BODY:
        raise apierrors.too_large(MAX_BODY)
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == PROTOBUF:
        try:
            return protobuf.decode_k8s_protobuf(raw)
        except protobuf.ProtobufDecodeError as exc:
            raise apierrors.bad_request(str(exc)) from exc
    if ctype in ("application/yaml", "application/apply-patch+yaml"):
        try:
            return safeyaml.load(raw, loader=safeyaml.KubernetesLoader)
        except safeyaml.YamlError as exc:
            raise apierrors.bad_request(f"error decoding YAML: {exc}") from exc
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise apierrors.bad_request(
            f"couldn't get version/kind; json parse error: {exc}"
            if ctype != "application/json-patch+json"
            else f"error decoding patch: {exc}"
        ) from exc


def _spec_view(rt: ResourceType, obj: dict[str, Any]) -> Any:
    """The part of an object whose change bumps ``metadata.generation`` for its kind."""
    if rt.generation == "custom":
        return {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    if rt.generation == "spec+annotations":
        return (obj.get("spec"), (obj.get("metadata") or {}).get("annotations"))
    return obj.get("spec")


def _without_volatile(obj: dict[str, Any]) -> dict[str, Any]:
    """The object minus what a no-op write may change anyway (managedFields timestamps)."""
    meta = dict(obj.get("metadata") or {})
    managed = meta.get("managedFields")
    if managed:
        meta["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in managed]
    meta.pop("resourceVersion", None)
    return {**obj, "metadata": meta}


class ClusterApi:
    """Request semantics over a :class:`Store` and a :class:`TypeRegistry`."""

    def __init__(self, store: Store, registry: TypeRegistry, *, page_ttl: float = 300.0) -> None:
        self.store = store
        self.registry = registry
        self._pages: dict[str, tuple[float, int, list[dict[str, Any]]]] = {}
        self._page_ttl = page_ttl
        self._cluster_ips: set[str] = set()
        self.after_write: list[Any] = []

    # ---- helpers -------------------------------------------------------------------------------

    def _node(self, rt: ResourceType) -> Any:
        if rt.openapi_schema is not None:
            return schema.schema_from_openapi(rt.openapi_schema)
        return schema.schema_for(rt.group, rt.kind)

    def _allocate_cluster_ip(self) -> str:
        while True:
            ip = f"10.96.{random.randint(0, 255)}.{random.randint(1, 254)}"
            if ip not in self._cluster_ips:
                self._cluster_ips.add(ip)
                return ip

    def _check_namespace_for_create(self, rt: ResourceType, namespace: str, name: str) -> None:
        if not rt.namespaced:
            return
        ns = self.store.get(("", "namespaces"), "", namespace)
        if ns is None:
            raise apierrors.namespace_not_found(namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise apierrors.forbidden(
                f'{rt.group_resource} "{name}" is forbidden: unable to create new content in '
                f"namespace {namespace} because it is being terminated",
                {
                    "name": name,
                    **({"group": rt.group} if rt.group else {}),
                    "kind": rt.plural,
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    def _check_type_meta(
        self, rt: ResourceType, body: Any, *, patched: bool = False
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise apierrors.bad_request(
                f"the object provided is unrecognized (must be of type {rt.kind}): "
                f"couldn't get version/kind; json parse error: expected an object"
            )
        api_version = body.get("apiVersion")
        kind = body.get("kind")
        if api_version is not None and api_version != rt.api_version:
            raise apierrors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version})"
            )
        if kind is not None and kind != rt.kind:
            raise apierrors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        meta = body.get("metadata")
        if meta is None:
            body["metadata"] = {}
        elif not isinstance(meta, dict):
            raise apierrors.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                "json: cannot unmarshal into Go struct field .metadata of type v1.ObjectMeta"
            )
        body["apiVersion"] = rt.api_version
        body["kind"] = rt.kind
        if rt.kind == "Secret" and not rt.group:
            self._decode_secret(rt, body, patched)
        return body

    def _decode_secret(self, rt: ResourceType, body: dict[str, Any], patched: bool) -> None:
        """Secret data must fit Go's types (see `secretdecode`): 400, or 422 after a patch."""
        try:
            secretdecode.decode_secret(body)
        except secretdecode.SecretDecodeError as exc:
            if not patched:
                raise apierrors.bad_request(
                    f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                    f"{exc.message}"
                ) from None
            shown = validation.go_quote(orjson.dumps(body).decode())
            raise apierrors.patch_invalid(shown, exc.message) from None

    def _set_namespace(self, rt: ResourceType, obj: dict[str, Any], namespace: str) -> None:
        meta = obj["metadata"]
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != namespace:
                raise apierrors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)

    def _handle_unknown_fields(
        self, rt: ResourceType, obj: dict[str, Any], ctx: WriteContext
    ) -> dict[str, Any]:
        if rt.openapi_schema is not None:
            pruned, unknown = crdschema.prune(obj, rt.openapi_schema)
        else:
            node = self._node(rt)
            if node is None:
                return obj
            unknown = schema.unknown_fields(obj, node)
            pruned = schema.prune_unknown(obj, node) if unknown else obj
        if not unknown:
            return obj
        if ctx.field_validation == "Strict":
            fields = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise apierrors.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                f"strict decoding error: {fields}"
            )
        if ctx.field_validation == "Warn":
            ctx.warnings.extend(f'unknown field "{u}"' for u in unknown)
        return pruned

    def _default(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if rt.openapi_schema is not None:
            crdschema.apply_schema_defaults(obj, rt.openapi_schema)
        else:
            defaults.apply_defaults(
                rt.group, rt.kind, obj, old=old, allocate_cluster_ip=self._allocate_cluster_ip
            )

    def _validate(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        errors = validation.validate_object(rt.group, rt.kind, obj, old)
        if rt.openapi_schema is not None:
            errors = errors + crdschema.validate_custom_resource(obj, rt.openapi_schema)
        if rt.kind == "CustomResourceDefinition" and rt.group == "apiextensions.k8s.io":
            errors = errors + self._crd_conflicts(obj)
        if errors:
            name = obj["metadata"].get("name") or ""
            message = validation.invalid_message(rt.kind, rt.group, name, errors)
            raise apierrors.invalid(rt, name, message, [e.cause() for e in errors])

    def _crd_conflicts(self, crd: dict[str, Any]) -> list[validation.FieldError]:
        """A CRD may not serve a group/version/kind that is already built in."""
        spec = crd.get("spec") or {}
        group = spec.get("group", "")
        kind = (spec.get("names") or {}).get("kind", "")
        for version in spec.get("versions") or []:
            existing = self.registry.by_gvk(group, version.get("name", ""), kind)
            if existing is not None and not existing.is_custom:
                return [
                    validation.FieldError(
                        "FieldValueInvalid",
                        "spec.group",
                        f"{group}/{version.get('name')} {kind} is a built-in kind",
                        group,
                    )
                ]
        return []

    # ---- the write pipeline --------------------------------------------------------------------

    def _commit(
        self,
        rt: ResourceType,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        ctx: WriteContext,
        *,
        managed_fields_done: bool = False,
        validate: bool = True,
    ) -> tuple[dict[str, Any], bool]:
        """Run the server-side write rules and persist. Returns (object, changed)."""
        meta = new["metadata"]
        sub = ctx.subresource
        if old is not None:
            old_meta = old["metadata"]
            for key in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ):
                if key in old_meta and key not in meta:
                    meta[key] = old_meta[key]
                elif meta.get(key) != old_meta.get(key):
                    name = meta.get("name", "")
                    shown = meta.get(key)
                    value = f'"{shown}"' if isinstance(shown, str) else str(shown)
                    err = validation.FieldError(
                        "FieldValueInvalid", f"metadata.{key}", "field is immutable", shown
                    )
                    raise apierrors.invalid(
                        rt,
                        name,
                        f'{rt.kind}{"." + rt.group if rt.group else ""} "{name}" is invalid: '
                        f"metadata.{key}: Invalid value: {value}: field is immutable",
                        [err.cause()],
                    )
            if "generation" in old_meta:
                meta["generation"] = old_meta["generation"]
            if rt.kind == "Namespace" and not rt.group and sub != "finalize":
                # spec.finalizers changes only through /finalize; other writes keep the stored value
                old_finalizers = (old.get("spec") or {}).get("finalizers")
                if old_finalizers is not None:
                    new.setdefault("spec", {})["finalizers"] = old_finalizers
                elif isinstance(new.get("spec"), dict):
                    new["spec"].pop("finalizers", None)
            if sub == "status":
                new = self._status_only(rt, old, new)
                meta = new["metadata"]
            elif rt.has_status:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
        elif rt.has_status and sub is None:
            new.pop("status", None)

        new = self._handle_unknown_fields(rt, new, ctx)
        meta = new["metadata"]
        self._default(rt, new, old)
        if validate:
            self._validate(rt, new, old)

        if rt.generation != "none":
            if old is None:
                meta["generation"] = 1
            elif sub != "status" and _spec_view(rt, old) != _spec_view(rt, new):
                meta["generation"] = int(old["metadata"].get("generation", 1)) + 1

        if old is not None and old["metadata"].get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
            if added:
                name = meta.get("name", "")
                err = validation.FieldError(
                    "FieldValueForbidden",
                    "metadata.finalizers",
                    f"no new finalizers can be added if the object is being deleted, found new "
                    f"finalizers {sorted(added)!r}".replace("'", '"'),
                )
                raise apierrors.invalid(
                    rt,
                    name,
                    validation.invalid_message(rt.kind, rt.group, name, [err]),
                    [err.cause()],
                )

        if not managed_fields_done:
            managed = fieldmanager.update_managed_fields(
                old,
                new,
                manager=ctx.manager,
                api_version=rt.api_version,
                now=now_rfc3339(),
                subresource=sub,
                node=self._node(rt),
            )
            if managed:
                meta["managedFields"] = managed
            else:
                meta.pop("managedFields", None)

        if old is not None and _without_volatile(old) == _without_volatile(new):
            return old, False

        if ctx.dry_run:
            if old is not None:
                meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            else:
                meta.pop("resourceVersion", None)
            return new, True

        rv = self.store.next_rv()
        meta["resourceVersion"] = str(rv)
        if (
            old is not None
            and meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not (rt.kind == "Namespace" and (new.get("spec") or {}).get("finalizers"))
        ):
            self.store.put(rt.key, new, old)
            self.store.remove(rt.key, new, self.store.next_rv())
            return new, True
        self.store.put(rt.key, new, old)
        return new, True

    def _status_only(
        self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any]
    ) -> dict[str, Any]:
        """A write through ``/status`` changes ``.status`` only (plus Deployment annotations)."""
        result = deep_copy(old)
        if "status" in new:
            result["status"] = new["status"]
        else:
            result.pop("status", None)
        if rt.kind == "Deployment" and rt.group == "apps":
            annotations = new["metadata"].get("annotations")
            if annotations is None:
                result["metadata"].pop("annotations", None)
            else:
                result["metadata"]["annotations"] = annotations
        if "managedFields" in new["metadata"]:
            result["metadata"]["managedFields"] = new["metadata"]["managedFields"]
        return result

    # ---- verbs ---------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise apierrors.not_found(rt, name)
        return self._present(rt, obj)

    def _present(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Objects are stored in the storage version; a CRD may serve several versions."""
        if obj.get("apiVersion") != rt.api_version:
            return {**obj, "apiVersion": rt.api_version}
        return obj

    def create(self, rt: ResourceType, namespace: str, body: Any, ctx: WriteContext) -> Result:
        obj = self._check_type_meta(rt, body)
        self._set_namespace(rt, obj, namespace)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
        if not meta.get("name"):
            generate = meta.get("generateName")
            if generate:
                meta["name"] = generate + "".join(random.choices(GENERATE_NAME_ALPHABET, k=5))
            else:
                err = validation.FieldError(
                    "FieldValueRequired", "metadata.name", "name or generateName is required"
                )
                raise apierrors.invalid(
                    rt, "", validation.invalid_message(rt.kind, rt.group, "", [err]), [err.cause()]
                )
        name = meta["name"]
        ns_key = namespace if rt.namespaced else ""
        self._check_namespace_for_create(rt, ns_key, name)
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "generation", "managedFields"):
            if key == "managedFields" and meta.get(key) and meta[key] != [{}]:
                continue
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if self.store.get(rt.key, ns_key, name) is not None:
            # validation first would be closer for invalid names; existence wins for valid ones
            self._validate(rt, deep_copy(obj), None)
            raise apierrors.already_exists(rt, name)
        created, _ = self._commit(rt, None, obj, ctx)
        return Result(201, self._present(rt, created), ctx.warnings)

    def update(
        self, rt: ResourceType, namespace: str, name: str, body: Any, ctx: WriteContext
    ) -> Result:
        obj = self._check_type_meta(rt, body)
        self._set_namespace(rt, obj, namespace)
        meta = obj["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise apierrors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        ns_key = namespace if rt.namespaced else ""
        old = self.store.get(rt.key, ns_key, name)
        if old is None:
            raise apierrors.not_found(rt, name)
        sent_rv = meta.get("resourceVersion")
        if sent_rv:
            if sent_rv != old["metadata"]["resourceVersion"]:
                raise apierrors.conflict(rt, name)
        elif rt.is_custom:
            err = validation.FieldError(
                "FieldValueInvalid",
                "metadata.resourceVersion",
                "must be specified for an update",
                0,
            )
            raise apierrors.invalid(
                rt,
                name,
                f'{rt.group_resource} "{name}" is invalid: metadata.resourceVersion: Invalid value: 0: '
                "must be specified for an update",
                [err.cause()],
                kind=rt.plural,
            )
        if meta.get("managedFields") == []:
            meta["managedFields"] = old["metadata"].get("managedFields", [])
        updated, _ = self._commit(rt, old, obj, ctx)
        return Result(200, self._present(rt, updated), ctx.warnings)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        raw: bytes,
        content_type: str,
        ctx: WriteContext,
        force: bool,
    ) -> Result:
        ctype = content_type.split(";")[0].strip().lower()
        accepted = [t for t in PATCH_TYPES if not (rt.is_custom and "strategic" in t)]
        if ctype not in accepted:
            raise apierrors.unsupported_media_type(ctype, accepted)
        if force and ctype != APPLY_TYPE:
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
                {
                    "group": "meta.k8s.io",
                    "kind": "PatchOptions",
                    "causes": [
                        {
                            "reason": "FieldValueForbidden",
                            "message": "Forbidden: may not be specified for non-apply patch",
                            "field": "force",
                        }
                    ],
                },
            )
        body = decode_body(raw, ctype)
        ns_key = namespace if rt.namespaced else ""
        old = self.store.get(rt.key, ns_key, name)
        if old is not None:
            old = self._present(rt, old)  # patched in the version of the request
        if ctype == APPLY_TYPE:
            return self._apply(rt, namespace, name, old, body, ctx, force)
        if old is None:
            raise apierrors.not_found(rt, name)
        base = deep_copy(old)
        try:
            if ctype == "application/json-patch+json":
                if not isinstance(body, list):
                    raise apierrors.bad_request(
                        "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
                    )
                patched = patch.json_patch(base, body)
            elif ctype == "application/merge-patch+json":
                patched = patch.merge_patch(base, body)
            else:
                if not isinstance(body, dict):
                    raise apierrors.bad_request(
                        "unable to decode strategic merge patch: not an object"
                    )
                patched = patch.strategic_merge_patch(base, body, self._node(rt))
        except patch.PatchError as exc:
            if exc.reason == "Invalid":
                raise ApiError(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request",
                    {"causes": [{"message": exc.message}]},
                ) from exc
            if exc.reason == "RequestEntityTooLarge":
                raise ApiError(413, "RequestEntityTooLarge", exc.message) from exc
            raise apierrors.bad_request(exc.message) from exc
        if not isinstance(patched, dict):
            raise apierrors.bad_request("the patch did not produce an object")
        patched = self._check_type_meta(rt, patched, patched=True)
        pmeta = patched["metadata"]
        if pmeta.get("name") != name:
            raise apierrors.bad_request(
                f"the name of the object ({pmeta.get('name')}) does not match the name on the URL ({name})"
            )
        self._set_namespace(rt, patched, namespace)
        sent_rv = pmeta.get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise apierrors.conflict(rt, name)
        updated, _ = self._commit(rt, old, patched, ctx)
        return Result(200, self._present(rt, updated), ctx.warnings)

    def _apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        old: dict[str, Any] | None,
        body: Any,
        ctx: WriteContext,
        force: bool,
    ) -> Result:
        if not ctx.manager or ctx.manager == "__from_user_agent__":
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
                {
                    "group": "meta.k8s.io",
                    "kind": "PatchOptions",
                    "causes": [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: is required for apply patch",
                            "field": "fieldManager",
                        }
                    ],
                },
            )
        intent = self._check_type_meta(rt, body)
        imeta = intent["metadata"]
        if imeta.get("managedFields") is not None:
            raise apierrors.bad_request("metadata.managedFields must be nil")
        if imeta.get("name") and imeta["name"] != name:
            raise apierrors.bad_request(
                f"the name of the object ({imeta['name']}) does not match the name on the URL ({name})"
            )
        imeta["name"] = name
        self._set_namespace(rt, intent, namespace)
        sent_rv = imeta.pop("resourceVersion", None)
        if sent_rv and (old is None or sent_rv != old["metadata"]["resourceVersion"]):
            raise apierrors.conflict(rt, name)
        # The status of a kind with a status subresource is applied through /status only.
        if rt.has_status:
            if ctx.subresource == "status":
                intent = {
                    "apiVersion": intent["apiVersion"],
                    "kind": intent["kind"],
                    "metadata": {
                        "name": name,
                        **({"namespace": namespace} if rt.namespaced else {}),
                    },
                    **({"status": intent["status"]} if "status" in intent else {}),
                }
            else:
                intent.pop("status", None)
        if old is None:
            if ctx.subresource:
                raise apierrors.not_found(rt, name)
            ns_key = namespace if rt.namespaced else ""
            self._check_namespace_for_create(rt, ns_key, name)
        node = self._node(rt)
        try:
            merged = fieldmanager.apply(
                old,
                intent,
                manager=ctx.manager,
                force=force,
                node=node,
                api_version=rt.api_version,
                now=now_rfc3339(),
                subresource=ctx.subresource,
            )
        except fieldmanager.ApplyConflict as exc:
            raise ApiError(409, "Conflict", exc.message, {"causes": exc.causes()}) from exc
        if old is None:
            meta = merged["metadata"]
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            created, _ = self._commit(rt, None, merged, ctx, managed_fields_done=True)
            return Result(201, self._present(rt, created), ctx.warnings)
        updated, _ = self._commit(rt, old, merged, ctx, managed_fields_done=True)
        return Result(200, self._present(rt, updated), ctx.warnings)

    # ---- scale ---------------------------------------------------------------------------------

    def get_scale(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.get(rt, namespace, name)
        return self._scale_of(rt, obj)

    def _scale_of(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        assert rt.scale is not None
        meta = obj["metadata"]
        spec_replicas = _read_path(obj, rt.scale.spec_replicas)
        status_replicas = _read_path(obj, rt.scale.status_replicas) or 0
        status: dict[str, Any] = {"replicas": status_replicas}
        if rt.scale.label_selector:
            selector = _read_path(obj, rt.scale.label_selector)
            if not rt.is_custom:
                selector = (obj.get("spec") or {}).get("selector")
                if isinstance(selector, dict):
                    status["selector"] = selector_to_string(selector)
            elif isinstance(selector, str):
                status["selector"] = selector
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": meta["name"],
                **({"namespace": meta["namespace"]} if meta.get("namespace") else {}),
                "uid": meta["uid"],
                "resourceVersion": meta["resourceVersion"],
                "creationTimestamp": meta["creationTimestamp"],
            },
            "spec": {"replicas": spec_replicas or 0},
            "status": status,
        }

    def update_scale(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        ctx: WriteContext,
        content_type: str | None = None,
    ) -> Result:
        assert rt.scale is not None
        current = self.get_scale(rt, namespace, name)
        if content_type is not None:
            ctype = content_type.split(";")[0].strip().lower()
            try:
                if ctype == "application/json-patch+json":
                    scale = patch.json_patch(current, body)
                elif ctype in (
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                ):
                    scale = patch.merge_patch(current, body)
                else:
                    raise apierrors.unsupported_media_type(ctype, list(PATCH_TYPES[:3]))
            except patch.PatchError as exc:
                raise apierrors.bad_request(exc.message) from exc
        else:
            scale = body
        if not isinstance(scale, dict):
            raise apierrors.bad_request("the body must be a Scale object")
        sent_rv = (scale.get("metadata") or {}).get("resourceVersion")
        obj = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        assert obj is not None
        if sent_rv and sent_rv != obj["metadata"]["resourceVersion"]:
            raise apierrors.conflict(rt, name)
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            err = validation.FieldError(
                "FieldValueInvalid", "spec.replicas", "must be greater than or equal to 0", replicas
            )
            raise ApiError(
                422,
                "Invalid",
                f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {replicas}: '
                "must be greater than or equal to 0",
                {"name": name, "group": "autoscaling", "kind": "Scale", "causes": [err.cause()]},
            )
        new = deep_copy(obj)
        _write_path(new, rt.scale.spec_replicas, replicas)
        ctx.subresource = "scale"
        updated, _ = self._commit(rt, obj, new, ctx)
        return Result(200, self._scale_of(rt, updated), ctx.warnings)

    # ---- delete --------------------------------------------------------------------------------

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        options: dict[str, Any],
        dry_run: bool,
    ) -> Result:
        ns_key = namespace if rt.namespaced else ""
        obj = self.store.get(rt.key, ns_key, name)
        if obj is None:
            raise apierrors.not_found(rt, name)
        if rt.kind == "Namespace" and name in PROTECTED_NAMESPACES:
            raise apierrors.forbidden(
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                {"name": name, "kind": "namespaces"},
            )
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"].get("uid"):
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rt.group_resource} "{name}": Precondition failed: '
                f"UID in precondition: {pre['uid']}, UID in object meta: {obj['metadata'].get('uid')}",
                {"name": name, **({"group": rt.group} if rt.group else {}), "kind": rt.plural},
            )
        if (
            pre.get("resourceVersion")
            and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]
        ):
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rt.group_resource} "{name}": Precondition failed: '
                f"ResourceVersion in precondition: {pre['resourceVersion']}, ResourceVersion in "
                f"object meta: {obj['metadata']['resourceVersion']}",
                {"name": name, **({"group": rt.group} if rt.group else {}), "kind": rt.plural},
            )
        policy = options.get("propagationPolicy")
        orphan = options.get("orphanDependents")
        if policy is not None and orphan is not None:
            raise ApiError(
                422,
                "Invalid",
                'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: '
                f'"{policy}": orphanDependents and deletionPropagation cannot be both set',
                {"kind": "DeleteOptions", "group": "meta.k8s.io"},
            )
        if policy is None:
            if orphan is True:
                policy = "Orphan"
            elif orphan is False:
                policy = "Background"
            else:
                policy = rt.default_propagation
        if policy not in ("Foreground", "Background", "Orphan"):
            raise ApiError(
                422,
                "Invalid",
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "{policy}": '
                'supported values: "Foreground", "Background", "Orphan", "nil"',
                {"kind": "DeleteOptions", "group": "meta.k8s.io"},
            )
        warnings = []
        if rt.kind == "Job" and options.get("propagationPolicy") is None and orphan is None:
            warnings.append(
                "child pods are preserved by default when jobs are deleted; set "
                "propagationPolicy=Background to remove them or set propagationPolicy=Orphan to "
                "suppress this warning"
            )
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp"):
            # already terminating: a second delete may only switch to foreground/orphan handling
            return Result(200, self._present(rt, obj), warnings)
        extra = []
        if policy == "Foreground":
            extra = ["foregroundDeletion"]
        elif policy == "Orphan" and self.store.dependents.get(meta.get("uid", "")):
            extra = ["orphan"]
        elif policy == "Orphan":
            extra = []
        needs_finalize = bool(finalizers or extra) or rt.kind == "Namespace"
        if rt.kind == "CustomResourceDefinition":
            extra.append("customresourcecleanup.apiextensions.k8s.io")
            needs_finalize = True
        if needs_finalize:
            new = deep_copy(obj)
            nmeta = new["metadata"]
            nmeta["finalizers"] = finalizers + [f for f in extra if f not in finalizers]
            if not nmeta["finalizers"]:
                nmeta.pop("finalizers")
            nmeta["deletionTimestamp"] = now_rfc3339()
            nmeta["deletionGracePeriodSeconds"] = 0
            if rt.generation != "none":
                nmeta["generation"] = int(meta.get("generation", 1)) + 1
            if rt.kind == "Namespace":
                new.setdefault("status", {})["phase"] = "Terminating"
            if dry_run:
                nmeta["resourceVersion"] = meta["resourceVersion"]
                return Result(200, self._present(rt, new), warnings)
            nmeta["resourceVersion"] = str(self.store.next_rv())
            self.store.put(rt.key, new, obj)
            return Result(200, self._present(rt, new), warnings)
        if dry_run:
            return Result(200, self._deleted_answer(rt, obj), warnings)
        self.store.remove(rt.key, obj, self.store.next_rv())
        return Result(200, self._deleted_answer(rt, obj), warnings)

    def _deleted_answer(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if rt.return_deleted_object:
            return self._present(rt, obj)
        details: dict[str, Any] = {"name": obj["metadata"]["name"]}
        if rt.group:
            details["group"] = rt.group
        details["kind"] = rt.plural
        details["uid"] = obj["metadata"].get("uid")
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        params: dict[str, str],
        options: dict[str, Any],
        dry_run: bool,
    ) -> Result:
        listing = self.list_objects(
            rt,
            namespace,
            {k: v for k, v in params.items() if k in ("labelSelector", "fieldSelector")},
        )
        items = []
        for item in listing["items"]:
            meta = item["metadata"]
            try:
                result = self.delete(rt, meta.get("namespace", ""), meta["name"], options, dry_run)
            except ApiError as exc:
                if exc.code == 404:
                    continue
                raise
            body = result.body
            items.append(body if body.get("kind") != "Status" else item)
        return Result(
            200,
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self.store.rv)},
                "items": items,
            },
        )

    # ---- list ----------------------------------------------------------------------------------

    def list_objects(
        self, rt: ResourceType, namespace: str | None, params: dict[str, str]
    ) -> dict[str, Any]:
        label_match = parse_label_selector(params.get("labelSelector"))
        field_text = params.get("fieldSelector")
        field_match = parse_field_selector(
            field_text, rt.group, rt.kind, rt.is_custom, rt.selectable_fields
        )
        rv_match = params.get("resourceVersionMatch")
        if rv_match:
            if rv_match not in ("NotOlderThan", "Exact"):
                raise _list_options_invalid(
                    "resourceVersionMatch",
                    f'Unsupported value: "{rv_match}": supported values: "Exact", "NotOlderThan"',
                )
            if not params.get("resourceVersion") or params.get("continue"):
                raise _list_options_invalid(
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                )
        limit = _int_param(params.get("limit"), "limit")
        token = params.get("continue")
        if token:
            items, snapshot_rv, start = self._resume_page(token)
        else:
            snapshot_rv = self.store.rv
            name = name_from_field_selector(field_text)
            if name is not None and namespace is not None:
                found = self.store.get(rt.key, namespace if rt.namespaced else "", name)
                items = [found] if found is not None else []
            else:
                items = self.store.objects(rt.key, namespace if rt.namespaced else None)
            if label_match is not None or field_match is not None:
                items = [
                    o
                    for o in items
                    if (label_match is None or label_match(o))
                    and (field_match is None or field_match(o))
                ]
            start = 0
        meta: dict[str, Any] = {"resourceVersion": str(snapshot_rv)}
        page = items[start:]
        if limit and limit > 0 and len(page) > limit:
            page = page[:limit]
            next_token = self._save_page(items, snapshot_rv, start + limit)
            meta["continue"] = next_token
            if not params.get("labelSelector") and not field_text:
                meta["remainingItemCount"] = len(items) - start - limit
        strip = not rt.is_custom
        out_items = []
        for obj in page:
            if strip:
                out_items.append(
                    {k: v for k, v in obj.items() if k != "kind" and k != "apiVersion"}
                )
            else:
                out_items.append(self._present(rt, obj))
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": meta,
            "items": out_items,
        }

    def _save_page(self, items: list[dict[str, Any]], rv: int, start: int) -> str:
        now = time.monotonic()
        for key, (created, _, _) in list(self._pages.items()):
            if now - created > self._page_ttl:
                del self._pages[key]
        page_id = secrets.token_hex(8)
        self._pages[page_id] = (now, rv, items)
        raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start, "id": page_id})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _resume_page(self, token: str) -> tuple[list[dict[str, Any]], int, int]:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = orjson.loads(base64.urlsafe_b64decode(padded))
            page_id, rv, start = data["id"], int(data["rv"]), int(data["start"])
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            raise apierrors.bad_request(f"continue key is not valid: {exc}") from exc
        saved = self._pages.get(page_id)
        if saved is None or time.monotonic() - saved[0] > self._page_ttl:
            raise apierrors.expired(
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter, or use the continue "
                "token in this response to retrieve the remainder of the results. Continuing with "
                "the provided token results in an inconsistent list - objects that were created, "
                "modified, or deleted between the time the first chunk was returned and now may "
                "show up in the list."
            )
        return saved[2], rv, start


def _int_param(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise apierrors.bad_request(f'invalid value for "{name}": {value}') from exc


def _list_options_invalid(field_name: str, message: str) -> ApiError:
    return ApiError(
        422,
        "Invalid",
        f'ListOptions.meta.k8s.io "" is invalid: {field_name}: {message}',
        {
            "group": "meta.k8s.io",
            "kind": "ListOptions",
            "causes": [{"field": field_name, "message": message}],
        },
    )


def _read_path(obj: dict[str, Any], dotted: str) -> Any:
    cur: Any = obj
    for part in dotted.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _write_path(obj: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.strip(".").split(".")
    cur = obj
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value


__all__ = ["MAX_BODY", "ClusterApi", "Key", "Result", "WriteContext", "decode_body", "parse_bool"]
