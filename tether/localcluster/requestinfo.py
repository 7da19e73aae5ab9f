"""What a request asks for, in the terms authorization speaks: kube-apiserver's RequestInfo.

The reading follows the real server's ``RequestInfoFactory``: ``/api/v1/...`` and
``/apis/<group>/<version>/...`` with at least one segment past the version are resource requests
(verb from the method, ``list``/``watch`` for a nameless GET, ``deletecollection`` for a nameless
DELETE, ``namespaces/<ns>/...`` giving the namespace); everything else (discovery, ``/version``,
``/metrics``, ...) is a non-resource request whose verb is the lower-cased method. Authorization runs
on this reading before routing, so a caller without rights gets 403 even for a resource the
server does not serve, as from kube-apiserver.
"""

from __future__ import annotations

from typing import NamedTuple

from tether.localcluster.api import parse_bool

METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
#: namespace subresources: ``namespaces/<ns>/status`` is the namespace's own status
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


class Attributes(NamedTuple):
    """One authorization question (kube's ``authorizer.Attributes`` without the user)."""

    verb: str
    resource_request: bool = True
    namespace: str = ""
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""
    api_version: str = ""


def non_resource(method: str, path: str) -> Attributes:
    """A non-resource request: verb is the lower-cased HTTP method."""
    return Attributes(verb=method.lower(), resource_request=False, path=path)


def request_attributes(
    method: str, path: str, segments: list[str], params: dict[str, str]
) -> Attributes:
    """Read a request as kube-apiserver's RequestInfoFactory does (see the module docstring)."""
    if len(segments) < 3 or segments[0] not in ("api", "apis"):
        return non_resource(method, path)
    parts = segments[1:]
    group = ""
    if segments[0] == "apis":
        if len(parts) < 3:
            return non_resource(method, path)
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    verb = METHOD_VERBS.get(method, method.lower())
    if parts[0] == "watch":
        verb, parts = "watch", parts[1:]
        if not parts:
            return non_resource(method, path)
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 else ""
    if verb == "get" and name and parse_bool(params.get("watch")) and not subresource:
        # this server answers GET item?watch=true with a watch narrowed to the name
        verb = "watch"
    if not name and verb == "get":
        verb = "watch" if parse_bool(params.get("watch")) else "list"
        name = _exact_name(params.get("fieldSelector"))
    elif not name and verb == "watch":
        name = _exact_name(params.get("fieldSelector"))
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(verb, True, namespace, group, resource, subresource, name, path, version)


def _exact_name(selector: str | None) -> str:
    """The name a ``metadata.name=x`` field selector pins (kube authorizes it as the name)."""
    if not selector:
        return ""
    for term in selector.split(","):
        key, sep, value = term.partition("==") if "==" in term else term.partition("=")
        if sep and key.strip() == "metadata.name" and not key.endswith("!"):
            value = value.strip()
            if value and value not in (".", "..") and "/" not in value and "%" not in value:
                return value
    return ""
