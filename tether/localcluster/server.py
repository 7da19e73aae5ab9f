"""The HTTP face of the local cluster: a raw ASGI application speaking the Kubernetes REST API.

Routing is done by hand (the URL space is small and regular) so that a request costs little more
than its JSON encoding; a watch is a chunked response fed from a :class:`Watcher` queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from tether.localcluster import apierrors, bootstrap, discovery, escalation, tables
from tether.localcluster.accesscontrol import AccessControllers
from tether.localcluster.api import (
    MAX_BODY,
    PROTOBUF,
    ClusterApi,
    Result,
    WriteContext,
    decode_body,
    parse_bool,
)
from tether.localcluster.apierrors import ApiError
from tether.localcluster.authapi import AuthApi, is_auth_api
from tether.localcluster.authn import Authenticator, impersonate
from tether.localcluster.controllers import ControlPlane
from tether.localcluster.faults import FaultConfig
from tether.localcluster.kinds import ResourceType, TypeRegistry
from tether.localcluster.persistence import SqliteBackend
from tether.localcluster.protobuf import ProtobufDecodeError, decode_k8s_protobuf
from tether.localcluster.rbac import Identity, RbacAuthorizer, forbidden
from tether.localcluster.requestinfo import Attributes, request_attributes
from tether.localcluster.store import Store
from tether.localcluster.tokens import TokenIssuer
from tether.localcluster.watchstream import WatchStream
from tether.localcluster.workloads import WorkloadOptions, WorkloadSimulator

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"no-cache, private")]


@dataclass
class Route:
    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


class LocalClusterApp:
    """ASGI application serving one in-memory cluster."""

    def __init__(
        self,
        tokens: dict[str, Identity],
        *,
        history_size: int = 10_000,
        crd_establish_delay: float = 0.0,
        bookmark_interval: float = 60.0,
        state_file: Path | None = None,
        workloads: WorkloadOptions | None = None,
        faults: FaultConfig | None = None,
        issuer: TokenIssuer | None = None,
        ca_pem: bytes = b"",
    ) -> None:
        self.faults = faults or FaultConfig()
        self.backend = SqliteBackend(state_file) if state_file is not None else None
        self.store = Store(history_size=history_size, backend=self.backend)
        self.registry = TypeRegistry()
        self.api = ClusterApi(self.store, self.registry)
        self.control = ControlPlane(self.api, crd_establish_delay=crd_establish_delay)
        self.issuer = issuer or TokenIssuer(ec.generate_private_key(ec.SECP256R1()))
        self.rbac = RbacAuthorizer(self.store)
        self.authn = Authenticator(self.store, tokens, self.issuer)
        self.auth_api = AuthApi(self.authn, self.rbac, self.issuer)
        self.access = AccessControllers(self.api, self.issuer, ca_pem)
        self.workloads = WorkloadSimulator(self.api, workloads) if workloads is not None else None
        if self.workloads is not None:
            self.control.extra_handlers.append(self.workloads.on_event)
        self.bookmark_interval = bookmark_interval
        self._tasks: list[asyncio.Task[None]] = []
        self.request_counts: dict[tuple[str, str], int] = {}
        self._seed()

    def _seed(self) -> None:
        ns_rt = self.registry.by_path("", "v1", "namespaces")
        assert ns_rt is not None
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if self.store.get(ns_rt.key, "", name) is not None:
                continue
            self.api.create(
                ns_rt,
                "",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                WriteContext(manager="kube-apiserver"),
            )
        self._seed_rbac()

    def _seed_rbac(self) -> None:
        """Create the bootstrap ClusterRoles and bindings that are missing (kube-apiserver's
        RBAC post-start hook); existing ones are left as they are."""
        for kind, plural, objects in (
            ("ClusterRole", "clusterroles", bootstrap.bootstrap_cluster_roles()),
            (
                "ClusterRoleBinding",
                "clusterrolebindings",
                bootstrap.bootstrap_cluster_role_bindings(),
            ),
        ):
            rt = self.registry.by_path(bootstrap.RBAC_GROUP, "v1", plural)
            assert rt is not None, kind
            for obj in objects:
                if self.store.get(rt.key, "", obj["metadata"]["name"]) is None:
                    self.api.create(rt, "", obj, WriteContext(manager="kube-apiserver"))

    async def start(self) -> None:
        """Start the control loops (called once the event loop runs)."""
        if not self._tasks:
            self._tasks.append(asyncio.create_task(self.control.run()))
            self._tasks.append(asyncio.create_task(self.access.run()))
            if self.workloads is not None:
                self._tasks.append(asyncio.create_task(self.workloads.run()))

    async def stop(self) -> None:
        self.store.close_watchers()
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        if self.backend is not None:
            self.backend.close()

    # ---- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if not self._tasks:
            await self.start()
        try:
            await self._dispatch(scope, receive, send)
        except ApiError as exc:
            await self._send_json(send, exc.code, exc.status(), extra_headers=exc.headers)
        except Exception as exc:  # a server bug must still answer with a Status, not a hang
            log.exception("request failed: %s %s", scope.get("method"), scope.get("path"))
            err = apierrors.internal(str(exc))
            await self._send_json(send, 500, err.status())

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _send_json(
        self,
        send: Send,
        code: int,
        body: Any,
        extra_headers: dict[str, str] | None = None,
        warnings: list[str] | None = None,
        content_type: bytes = b"application/json",
    ) -> None:
        payload = orjson.dumps(body)
        headers = [
            (b"content-type", content_type),
            (b"cache-control", b"no-cache, private"),
            (b"content-length", str(len(payload)).encode()),
        ]
        for key, value in (extra_headers or {}).items():
            headers.append((key.lower().encode(), value.encode()))
        for warning in warnings or []:
            escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
            headers.append((b"warning", f'299 - "{escaped}"'.encode()))
        await send({"type": "http.response.start", "status": code, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _identity(self, scope: Scope) -> Identity:
        """Who the request runs as: its credentials, then its Impersonate-* headers."""
        authorization: str | None = None
        impersonating = False
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
            elif key.startswith(b"impersonate-"):
                impersonating = True
        caller = self.authn.authenticate(scope, authorization)
        if not impersonating:
            return caller
        return impersonate(caller, scope["headers"], self.rbac.authorize, forbidden)

    def _authorize(self, identity: Identity, attrs: Attributes) -> None:
        decision = self.rbac.authorize(identity, attrs)
        if not decision.allowed:
            raise forbidden(identity, attrs, decision.reason)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                raise apierrors.too_large(MAX_BODY)
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path in ("/healthz", "/livez", "/readyz"):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            await send({"type": "http.response.body", "body": b"ok"})
            return
        identity = self._identity(scope)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        params = dict(
            parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        )
        segments = [unquote(s) for s in path.strip("/").split("/") if s]
        attrs = request_attributes(method, path, segments, params)
        self._authorize(identity, attrs)
        accept = headers.get("accept", "")
        if accept and "json" not in accept and "*/*" not in accept and "yaml" not in accept:
            raise ApiError(
                406,
                "NotAcceptable",
                "only the following media types are accepted: application/json, application/yaml",
            )
        if path == "/metrics":
            await self._metrics(send)
            return
        if path == "/tether/v1/faults":
            await self._fault_settings(send, method, receive)
            return
        if is_auth_api(attrs):
            raw = await self._read_body(receive)
            ctype = headers.get("content-type", "application/json")
            result = self.auth_api.handle(identity, method, attrs, raw, ctype)
            await self._send_json(send, result.code, result.body)
            return
        if not segments or segments[0] not in ("api", "apis", "version", "openapi"):
            raise apierrors.route_not_found()
        if segments[0] == "version":
            await self._send_json(send, 200, discovery.KUBE_VERSION)
            return
        if segments[0] == "openapi":
            await self._openapi(send, segments)
            return
        route = self._route(segments, method, params, accept)
        if route is None:
            return await self._discovery(send, segments, accept)
        verb = attrs.verb
        self._count(verb, route)
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        self.faults.maybe_fail(verb, route.rt.group_resource)
        if method == "GET":
            if parse_bool(params.get("watch")) and route.subresource is None:
                await WatchStream(self).serve(
                    receive, send, route, params, tables.wants_table(accept)
                )
                return
            result = self._get(route, params, tables.wants_table(accept))
        else:
            raw = await self._read_body(receive)
            if escalation.needs_check(identity, attrs, method):
                self._check_escalation(identity, attrs, method, route, params, headers, raw)
            result = self._write(method, route, params, headers, raw)
        await self._send_json(send, result.code, result.body, warnings=result.warnings)

    def _count(self, verb: str, route: Route) -> None:
        key = (verb, route.rt.group_resource)
        self.request_counts[key] = self.request_counts.get(key, 0) + 1

    async def _metrics(self, send: Send) -> None:
        """Prometheus text: requests per verb and resource, objects stored, watchers open."""
        lines = [
            "# HELP apiserver_request_total Requests served, by verb and resource.",
            "# TYPE apiserver_request_total counter",
        ]
        for (verb, resource), count in sorted(self.request_counts.items()):
            lines.append(f'apiserver_request_total{{verb="{verb}",resource="{resource}"}} {count}')
        lines += [
            "# HELP apiserver_storage_objects Objects stored, by resource.",
            "# TYPE apiserver_storage_objects gauge",
        ]
        for (group, plural), coll in sorted(self.store.collections.items()):
            resource = f"{plural}.{group}" if group else plural
            lines.append(f'apiserver_storage_objects{{resource="{resource}"}} {len(coll)}')
        lines += [
            "# HELP apiserver_registered_watchers Watches currently open.",
            "# TYPE apiserver_registered_watchers gauge",
            f"apiserver_registered_watchers {len(self.store.watchers)}",
            "# HELP etcd_current_revision The global resourceVersion.",
            "# TYPE etcd_current_revision gauge",
            f"etcd_current_revision {self.store.rv}",
        ]
        body = ("\n".join(lines) + "\n").encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain; version=0.0.4"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _fault_settings(self, send: Send, method: str, receive: Receive) -> None:
        if method == "GET":
            await self._send_json(send, 200, self.faults.to_json())
            return
        if method != "PUT":
            raise apierrors.method_not_allowed()
        raw = await self._read_body(receive)
        body = decode_body(raw, "application/json")
        if not isinstance(body, dict):
            raise apierrors.bad_request("fault settings must be a JSON object")
        self.faults = FaultConfig.from_json(body)
        await self._send_json(send, 200, self.faults.to_json())

    def _check_escalation(
        self,
        identity: Identity,
        attrs: Attributes,
        method: str,
        route: Route,
        params: dict[str, str],
        headers: dict[str, str],
        raw: bytes,
    ) -> None:
        """Refuse a role or binding that grants more than its writer holds; a patch is checked
        on the object it would produce (a dry run)."""
        if method == "PATCH":
            obj = self._write(method, route, {**params, "dryRun": "All"}, headers, raw).body
        else:
            obj = decode_body(raw, headers.get("content-type", "application/json"))
        if isinstance(obj, dict):
            escalation.check_write(self.rbac, identity, attrs, obj)

    # ---- routing -------------------------------------------------------------------------------

    def _route(
        self, segments: list[str], method: str, params: dict[str, str], accept: str
    ) -> Route | None:
        if segments[0] == "api":
            if len(segments) <= 2:
                return None
            group, version, rest = "", segments[1], segments[2:]
        else:
            if len(segments) <= 3:
                return None
            group, version, rest = segments[1], segments[2], segments[3:]
        if rest and rest[0] == "watch":
            params["watch"] = "true"
            rest = rest[1:]
            if not rest:
                raise apierrors.route_not_found()
        namespace: str | None = None
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and not (group == "" and len(rest) == 3 and rest[2] in ("status", "finalize"))
        ):
            namespace = rest[1]
            rest = rest[2:]
        plural = rest[0]
        rt = self.registry.by_path(group, version, plural)
        if rt is None:
            raise apierrors.route_not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3:
            raise apierrors.route_not_found()
        if rt.namespaced and name is not None and namespace is None:
            raise apierrors.route_not_found()
        if not rt.namespaced and namespace is not None:
            raise apierrors.route_not_found()
        if sub is not None:
            allowed = (
                (sub == "status" and rt.has_status)
                or (sub == "scale" and rt.scale is not None)
                or (sub == "finalize" and rt.kind == "Namespace" and not rt.group)
            )
            if not allowed:
                raise apierrors.route_not_found()
        if name is None and method in ("PUT", "PATCH"):
            raise apierrors.method_not_allowed()
        if name is None and method == "POST" and rt.namespaced and namespace is None:
            raise apierrors.method_not_allowed()
        if name is not None and method == "POST":
            raise apierrors.method_not_allowed()
        if name is None and method == "DELETE" and rt.namespaced and namespace is None:
            raise apierrors.method_not_allowed()
        if name is not None and parse_bool(params.get("watch")):
            # GET item?watch=true is a watch of the collection narrowed to that name
            params["fieldSelector"] = f"metadata.name={name}"
            name = None
        return Route(rt, namespace, name, sub)

    async def _discovery(self, send: Send, segments: list[str], accept: str) -> None:
        wants_aggregated = (
            "as=APIGroupDiscoveryList" in accept and "v=v2;" in accept.replace(" ", "") + ";"
        )
        body: dict[str, Any] | None
        if segments == ["api"]:
            if wants_aggregated:
                await self._send_json(
                    send,
                    200,
                    discovery.aggregated(self.registry, core=True),
                    content_type=discovery.AGGREGATED_CT.encode(),
                )
                return
            body = discovery.api_versions()
        elif segments == ["apis"]:
            if wants_aggregated:
                await self._send_json(
                    send,
                    200,
                    discovery.aggregated(self.registry, core=False),
                    content_type=discovery.AGGREGATED_CT.encode(),
                )
                return
            body = discovery.api_group_list(self.registry)
        elif segments[0] == "api" and len(segments) == 2:
            body = discovery.resource_list(self.registry, "", segments[1])
        elif segments[0] == "apis" and len(segments) == 2:
            body = discovery.api_group(self.registry, segments[1])
        elif segments[0] == "apis" and len(segments) == 3:
            body = discovery.resource_list(self.registry, segments[1], segments[2])
        else:
            body = None
        if body is None:
            raise apierrors.route_not_found()
        await self._send_json(send, 200, body)

    async def _openapi(self, send: Send, segments: list[str]) -> None:
        if segments == ["openapi", "v3"]:
            await self._send_json(send, 200, discovery.openapi_index(self.registry))
            return
        if len(segments) >= 4 and segments[1] == "v3":
            if segments[2] == "api" and len(segments) == 4:
                doc = discovery.openapi_gv_document(self.registry, "", segments[3])
            elif segments[2] == "apis" and len(segments) == 5:
                doc = discovery.openapi_gv_document(self.registry, segments[3], segments[4])
            else:
                doc = None
            if doc is not None:
                await self._send_json(send, 200, doc)
                return
        raise apierrors.route_not_found()

    # ---- reads ---------------------------------------------------------------------------------

    def _get(self, route: Route, params: dict[str, str], as_table: bool = False) -> Result:
        rt = route.rt
        if route.name is None:
            listing = self.api.list_objects(rt, route.namespace, params)
            if as_table:
                return Result(200, tables.table(rt, listing["items"], listing["metadata"]))
            return Result(200, listing)
        if as_table and route.subresource is None:
            obj = self.api.get(rt, route.namespace or "", route.name)
            return Result(
                200,
                tables.table(rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}),
            )
        if route.subresource == "scale":
            return Result(200, self.api.get_scale(rt, route.namespace or "", route.name))
        if route.subresource == "finalize":
            raise apierrors.method_not_allowed()
        return Result(200, self.api.get(rt, route.namespace or "", route.name))

    # ---- writes --------------------------------------------------------------------------------

    def _write(
        self,
        method: str,
        route: Route,
        params: dict[str, str],
        headers: dict[str, str],
        raw: bytes,
    ) -> Result:
        rt = route.rt
        dry_run = self._dry_run(params)
        field_validation = params.get("fieldValidation") or "Warn"
        if field_validation not in ("Ignore", "Warn", "Strict"):
            raise ApiError(
                422,
                "Invalid",
                f'fieldValidation: Unsupported value: "{field_validation}": supported values: "Ignore", "Strict", "Warn"',
            )
        manager = params.get("fieldManager")
        if manager is not None and len(manager) > 128:
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes',
            )
        content_type = headers.get("content-type", "application/json")
        is_apply = content_type.split(";")[0].strip().lower() == "application/apply-patch+yaml"
        if not manager:
            manager = "" if is_apply else _manager_from_agent(headers.get("user-agent", ""))
        ctx = WriteContext(
            manager=manager,
            dry_run=dry_run,
            field_validation=field_validation,
            subresource=route.subresource if route.subresource in ("status",) else None,
        )
        ns = route.namespace or ""
        if method == "DELETE":
            options = _delete_options(raw, params, content_type)
            dry_run = dry_run or options.get("dryRun") == ["All"]
            if route.name is None:
                return self.api.delete_collection(rt, route.namespace, params, options, dry_run)
            return self.api.delete(rt, ns, route.name, options, dry_run)
        if method == "POST":
            self._check_content_type(content_type)
            return self.api.create(rt, ns, decode_body(raw, content_type), ctx)
        assert route.name is not None
        if route.subresource == "scale":
            if method == "PUT":
                self._check_content_type(content_type)
                return self.api.update_scale(
                    rt, ns, route.name, decode_body(raw, content_type), ctx
                )
            return self.api.update_scale(
                rt, ns, route.name, decode_body(raw, content_type), ctx, content_type=content_type
            )
        if method == "PUT":
            self._check_content_type(content_type)
            body = decode_body(raw, content_type)
            if route.subresource == "finalize":
                return self._finalize_namespace(rt, route.name, body, ctx)
            return self.api.update(rt, ns, route.name, body, ctx)
        force = parse_bool(params.get("force"))
        return self.api.patch(rt, ns, route.name, raw, content_type, ctx, force)

    def _finalize_namespace(
        self, rt: ResourceType, name: str, body: Any, ctx: WriteContext
    ) -> Result:
        old = self.store.get(rt.key, "", name)
        if old is None:
            raise apierrors.not_found(rt, name)
        if not isinstance(body, dict):
            raise apierrors.bad_request("the body must be a Namespace")
        new = orjson.loads(orjson.dumps(old))
        new["spec"] = body.get("spec") or {}
        ctx.subresource = "finalize"
        obj, _ = self.api._commit(rt, old, new, ctx)
        if not new["spec"].get("finalizers") and obj["metadata"].get("deletionTimestamp"):
            current = self.store.get(rt.key, "", name)
            if current is not None and not current["metadata"].get("finalizers"):
                self.store.remove(rt.key, current, self.store.next_rv())
        return Result(200, obj)

    @staticmethod
    def _check_content_type(content_type: str) -> None:
        ctype = content_type.split(";")[0].strip().lower()
        if ctype not in ("application/json", "application/yaml", PROTOBUF, ""):
            raise apierrors.unsupported_media_type(
                ctype,
                ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"],
            )

    @staticmethod
    def _dry_run(params: dict[str, str]) -> bool:
        value = params.get("dryRun")
        if value is None or value == "":
            return False
        if value != "All":
            raise ApiError(
                422,
                "Invalid",
                f'dryRun: Unsupported value: "{value}": supported values: "All"',
            )
        return True


def _manager_from_agent(agent: str) -> str:
    """Default field manager: the User-Agent up to the first ``/`` (as the real server does)."""
    return agent.split("/", 1)[0] if agent else "unknown"


def _delete_options(raw: bytes, params: dict[str, str], content_type: str) -> dict[str, Any]:
    """The DeleteOptions of a DELETE: its body (JSON, or protobuf from a typed client such as
    helm's), then the query parameters over it."""
    options: dict[str, Any] = {}
    if raw.strip():
        if content_type.split(";")[0].strip().lower() == PROTOBUF:
            try:
                body: Any = decode_k8s_protobuf(raw)
            except ProtobufDecodeError as exc:
                raise apierrors.bad_request(f"error decoding DeleteOptions: {exc}") from exc
        else:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise apierrors.bad_request(f"error decoding DeleteOptions: {exc}") from exc
        if isinstance(body, dict):
            options.update(body)
    if "propagationPolicy" in params:
        options["propagationPolicy"] = params["propagationPolicy"]
    if "orphanDependents" in params:
        options["orphanDependents"] = parse_bool(params["orphanDependents"])
    if "gracePeriodSeconds" in params:
        options["gracePeriodSeconds"] = params["gracePeriodSeconds"]
    return options
