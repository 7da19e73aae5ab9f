"""Protobuf schemas of the token and review kinds kubectl sends (``kubectl create token``,
``kubectl auth can-i``, ``kubectl auth whoami``), added to the decoder of ``protobuf.py``.

Field numbers are those of k8s.io/api ``authentication/v1`` and ``authorization/v1``
``generated.proto``. They live here, beside the APIs that read them, and are registered when
:class:`~tether.localcluster.authapi.AuthApi` starts.
"""

from __future__ import annotations

from tether.localcluster import protobuf
from tether.localcluster.protobuf import _i64, _list, _m, _s

_SCHEMAS = {
    "authz.ResourceAttributes": {
        1: _s("namespace"),
        2: _s("verb"),
        3: _s("group"),
        4: _s("version"),
        5: _s("resource"),
        6: _s("subresource"),
        7: _s("name"),
    },
    "authz.NonResourceAttributes": {1: _s("path"), 2: _s("verb")},
    "authz.SelfSubjectAccessReviewSpec": {
        1: _m("resourceAttributes", "authz.ResourceAttributes"),
        2: _m("nonResourceAttributes", "authz.NonResourceAttributes"),
    },
    "authz.SubjectAccessReviewSpec": {
        1: _m("resourceAttributes", "authz.ResourceAttributes"),
        2: _m("nonResourceAttributes", "authz.NonResourceAttributes"),
        3: _s("user"),
        4: _list("groups"),
        6: _s("uid"),
    },
    "authz.SelfSubjectRulesReviewSpec": {1: _s("namespace")},
    "authz.SelfSubjectAccessReview": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "authz.SelfSubjectAccessReviewSpec"),
    },
    "authz.SubjectAccessReview": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "authz.SubjectAccessReviewSpec"),
    },
    "authz.SelfSubjectRulesReview": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "authz.SelfSubjectRulesReviewSpec"),
    },
    "authn.BoundObjectReference": {
        1: _s("kind"),
        2: _s("apiVersion"),
        3: _s("name"),
        4: _s("uid"),
    },
    "authn.TokenRequestSpec": {
        1: _list("audiences"),
        3: _m("boundObjectRef", "authn.BoundObjectReference"),
        4: _i64("expirationSeconds", keep=True),
    },
    "authn.TokenRequest": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "authn.TokenRequestSpec"),
    },
    "authn.TokenReviewSpec": {1: _s("token"), 2: _list("audiences")},
    "authn.TokenReview": {
        1: _m("metadata", "meta.ObjectMeta"),
        2: _m("spec", "authn.TokenReviewSpec"),
    },
    "authn.SelfSubjectReview": {1: _m("metadata", "meta.ObjectMeta")},
}

_AUTHZ = "authorization.k8s.io/v1"
_AUTHN = "authentication.k8s.io/v1"
_KINDS = {
    (_AUTHZ, "SelfSubjectAccessReview"): "authz.SelfSubjectAccessReview",
    (_AUTHZ, "SubjectAccessReview"): "authz.SubjectAccessReview",
    (_AUTHZ, "LocalSubjectAccessReview"): "authz.SubjectAccessReview",
    (_AUTHZ, "SelfSubjectRulesReview"): "authz.SelfSubjectRulesReview",
    (_AUTHN, "TokenRequest"): "authn.TokenRequest",
    (_AUTHN, "TokenReview"): "authn.TokenReview",
    (_AUTHN, "SelfSubjectReview"): "authn.SelfSubjectReview",
}


def register() -> None:
    """Teach the protobuf decoder these kinds (idempotent)."""
    protobuf._MESSAGES.update(_SCHEMAS)
    protobuf._KINDS.update(_KINDS)
