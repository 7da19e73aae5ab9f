"""The authentication and authorization APIs: TokenRequest, access and rules reviews, TokenReview.

* ``POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`` (TokenRequest, what
  ``kubectl create token`` sends): a signed token for the account, ``expirationSeconds``
  defaulting to 3600 and at least 600, ``audiences`` defaulting to the API server's;
* ``authorization.k8s.io/v1``: ``selfsubjectaccessreviews`` (``kubectl auth can-i``),
  ``subjectaccessreviews``, ``namespaces/<ns>/localsubjectaccessreviews`` and
  ``selfsubjectrulesreviews`` (``kubectl auth can-i --list``);
* ``authentication.k8s.io/v1``: ``tokenreviews`` and ``selfsubjectreviews`` (``kubectl auth
  whoami``).

Each answers 201 with the request object and its ``status``, as kube-apiserver does; nothing is
stored.
"""

from __future__ import annotations

import datetime
from typing import Any

from tether.localcluster import apierrors, authproto, validation
from tether.localcluster.api import Result, decode_body, now_rfc3339
from tether.localcluster.authn import SERVICE_ACCOUNTS, Authenticator
from tether.localcluster.kinds import ResourceType
from tether.localcluster.rbac import Identity, RbacAuthorizer, Rule
from tether.localcluster.requestinfo import Attributes
from tether.localcluster.tokens import (
    API_AUDIENCES,
    DEFAULT_EXPIRATION_SECONDS,
    MAX_EXPIRATION_SECONDS,
    MIN_EXPIRATION_SECONDS,
    TokenIssuer,
)

AUTHZ = "authorization.k8s.io"
AUTHN = "authentication.k8s.io"
REVIEWS = {
    (AUTHZ, "selfsubjectaccessreviews"): "SelfSubjectAccessReview",
    (AUTHZ, "subjectaccessreviews"): "SubjectAccessReview",
    (AUTHZ, "localsubjectaccessreviews"): "LocalSubjectAccessReview",
    (AUTHZ, "selfsubjectrulesreviews"): "SelfSubjectRulesReview",
    (AUTHN, "tokenreviews"): "TokenReview",
    (AUTHN, "selfsubjectreviews"): "SelfSubjectReview",
}


def is_auth_api(attrs: Attributes) -> bool:
    """Whether this module answers the request (the server routes it here)."""
    if not attrs.resource_request:
        return False
    if attrs.api_group == "" and attrs.resource == "serviceaccounts":
        return attrs.subresource == "token"
    return (attrs.api_group, attrs.resource) in REVIEWS


def _kind_type(group: str, kind: str, plural: str) -> ResourceType:
    """A ResourceType describing a review kind, for the shared error helpers."""
    return ResourceType(group, "v1", kind, plural, kind.lower(), False)


class AuthApi:
    """Answers the review and token APIs for one cluster."""

    def __init__(self, authn: Authenticator, rbac: RbacAuthorizer, issuer: TokenIssuer) -> None:
        self.authn = authn
        self.rbac = rbac
        self.issuer = issuer
        authproto.register()

    def handle(
        self, identity: Identity, method: str, attrs: Attributes, raw: bytes, content_type: str
    ) -> Result:
        """Answer one request to these APIs (the caller has already authorized it)."""
        if method != "POST" or (attrs.name and attrs.subresource != "token"):
            raise apierrors.method_not_allowed()
        body = decode_body(raw, content_type)
        if not isinstance(body, dict):
            raise apierrors.bad_request("the body must be an object")
        if attrs.resource == "serviceaccounts":
            return self.token_request(attrs.namespace, attrs.name, body)
        kind = REVIEWS[(attrs.api_group, attrs.resource)]
        spec = _spec(body)
        if kind == "SelfSubjectReview":
            status = {"userInfo": _user_info(identity)}
        elif kind == "TokenReview":
            status = self._token_review(spec)
        elif kind == "SelfSubjectRulesReview":
            status = self._rules_review(identity, str(spec.get("namespace") or ""))
        else:
            status = self._access_review(kind, identity, spec, attrs.namespace)
        answer = {
            "kind": kind,
            "apiVersion": f"{attrs.api_group}/v1",
            "metadata": {"creationTimestamp": None, **(_metadata(body))},
            "spec": spec,
            "status": status,
        }
        if kind == "SelfSubjectReview":
            answer.pop("spec")
        return Result(201, answer)

    # ---- TokenRequest --------------------------------------------------------------------------

    def token_request(self, namespace: str, name: str, body: dict[str, Any]) -> Result:
        rt = _kind_type("", "ServiceAccount", "serviceaccounts")
        account = self.authn.store.get(SERVICE_ACCOUNTS, namespace, name)
        if account is None:
            raise apierrors.not_found(rt, name)
        spec = _spec(body)
        seconds = spec.get("expirationSeconds") or DEFAULT_EXPIRATION_SECONDS
        audiences = spec.get("audiences") or list(API_AUDIENCES)
        errors = _token_request_errors(seconds, audiences)
        if errors:
            token_rt = _kind_type(AUTHN, "TokenRequest", "tokenrequests")
            message = validation.invalid_message("TokenRequest", AUTHN, name, errors)
            raise apierrors.invalid(token_rt, name, message, [e.cause() for e in errors])
        uid = account["metadata"]["uid"]
        token, expires = self.issuer.issue(namespace, name, uid, audiences, int(seconds))
        stamp = datetime.datetime.fromtimestamp(expires, datetime.UTC)
        return Result(
            201,
            {
                "kind": "TokenRequest",
                "apiVersion": f"{AUTHN}/v1",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "creationTimestamp": now_rfc3339(),
                },
                "spec": {
                    "audiences": audiences,
                    "expirationSeconds": int(seconds),
                    "boundObjectRef": spec.get("boundObjectRef"),
                },
                "status": {
                    "token": token,
                    "expirationTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            },
        )

    # ---- reviews -------------------------------------------------------------------------------

    def _access_review(
        self, kind: str, identity: Identity, spec: dict[str, Any], namespace: str
    ) -> dict[str, Any]:
        errors = _access_review_errors(kind, spec, namespace)
        if errors:
            rt = _kind_type(AUTHZ, kind, kind.lower() + "s")
            message = validation.invalid_message(kind, AUTHZ, "", errors)
            raise apierrors.invalid(rt, "", message, [e.cause() for e in errors])
        subject = identity
        if kind != "SelfSubjectAccessReview":
            subject = Identity(
                str(spec.get("user") or ""),
                tuple(str(g) for g in spec.get("groups") or []),
                str(spec.get("uid") or ""),
            )
        decision = self.rbac.authorize(subject, _review_attributes(spec))
        status: dict[str, Any] = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        return status

    def _rules_review(self, identity: Identity, namespace: str) -> dict[str, Any]:
        rules, errors = self.rbac.rules_for(identity, namespace)
        status: dict[str, Any] = {
            "resourceRules": [_resource_rule(r) for r in rules if not r.urls],
            "nonResourceRules": [_non_resource_rule(r) for r in rules if r.urls],
            "incomplete": bool(errors),
        }
        if errors:
            status["evaluationError"] = (
                errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
            )
        return status

    def _token_review(self, spec: dict[str, Any]) -> dict[str, Any]:
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            rt = _kind_type(AUTHN, "TokenReview", "tokenreviews")
            errors = [validation.required("spec.token")]
            message = validation.invalid_message("TokenReview", AUTHN, "", errors)
            raise apierrors.invalid(rt, "", message, [e.cause() for e in errors])
        wanted = tuple(str(a) for a in spec.get("audiences") or API_AUDIENCES)
        identity = self.authn.from_token(token, wanted)
        if identity is None:
            return {"user": {}, "error": "invalid bearer token"}
        return {"authenticated": True, "user": _user_info(identity), "audiences": list(wanted)}


def _spec(body: dict[str, Any]) -> dict[str, Any]:
    spec = body.get("spec")
    return spec if isinstance(spec, dict) else {}


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    meta = body.get("metadata")
    return (
        {k: v for k, v in meta.items() if k != "creationTimestamp"}
        if isinstance(meta, dict)
        else {}
    )


def _user_info(identity: Identity) -> dict[str, Any]:
    info: dict[str, Any] = {"username": identity.name}
    if identity.uid:
        info["uid"] = identity.uid
    if identity.groups:
        info["groups"] = list(identity.groups)
    if identity.extra:
        info["extra"] = {k: list(v) for k, v in identity.extra}
    return info


def _review_attributes(spec: dict[str, Any]) -> Attributes:
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict):
        return Attributes(
            str(resource.get("verb") or ""),
            True,
            str(resource.get("namespace") or ""),
            str(resource.get("group") or ""),
            str(resource.get("resource") or ""),
            str(resource.get("subresource") or ""),
            str(resource.get("name") or ""),
            "",
            str(resource.get("version") or ""),
        )
    other = spec.get("nonResourceAttributes") or {}
    return Attributes(str(other.get("verb") or ""), False, path=str(other.get("path") or ""))


def _access_review_errors(
    kind: str, spec: dict[str, Any], namespace: str
) -> list[validation.FieldError]:
    resource = spec.get("resourceAttributes")
    other = spec.get("nonResourceAttributes")
    errors = []
    if resource is not None and other is not None:
        errors.append(
            validation.invalid(
                "spec.nonResourceAttributes",
                other,
                "cannot be specified in combination with resourceAttributes",
            )
        )
    if resource is None and other is None:
        errors.append(
            validation.invalid(
                "spec.resourceAttributes",
                None,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        )
    third_party = kind in ("SubjectAccessReview", "LocalSubjectAccessReview")
    if third_party and not spec.get("user") and not spec.get("groups"):
        errors.append(
            validation.invalid("spec.user", "", "at least one of user or group must be specified")
        )
    asked = (resource.get("namespace") or "") if isinstance(resource, dict) else namespace
    if kind == "LocalSubjectAccessReview" and asked != namespace:
        errors.append(
            validation.invalid(
                "spec.resourceAttributes.namespace",
                asked,
                "must match metadata.namespace",
            )
        )
    return errors


def _token_request_errors(seconds: Any, audiences: Any) -> list[validation.FieldError]:
    errors = []
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        errors.append(validation.invalid("spec.expirationSeconds", seconds, "must be an integer"))
    elif seconds < MIN_EXPIRATION_SECONDS:
        errors.append(
            validation.invalid(
                "spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes"
            )
        )
    elif seconds > MAX_EXPIRATION_SECONDS:
        errors.append(
            validation.invalid(
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration larger than 2^32 seconds",
            )
        )
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        errors.append(validation.invalid("spec.audiences", audiences, "must be a list of strings"))
    return errors


def _resource_rule(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"verbs": list(rule.source.get("verbs") or [])}
    for key, values in (
        ("apiGroups", rule.groups),
        ("resources", rule.resources),
        ("resourceNames", rule.names),
    ):
        if values:
            out[key] = list(rule.source.get(key) or [])
    return out


def _non_resource_rule(rule: Rule) -> dict[str, Any]:
    return {
        "verbs": list(rule.source.get("verbs") or []),
        "nonResourceURLs": list(rule.source["nonResourceURLs"]),
    }
