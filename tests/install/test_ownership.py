"""Which live objects are Tether's, what a mode switch leaves behind: pure functions of apply."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tether.install.apply import _decoded, is_tethers, stale_objects
from tether.install.manifests import InstallOptions, install_manifests


def _live(labels: dict[str, str] | None = None, *fields: tuple[str, str]) -> dict[str, Any]:
    managed = [
        {"manager": m, "operation": "Apply", **({"subresource": sub} if sub else {})}
        for m, sub in fields
    ]
    return {"metadata": {"name": "x", "labels": labels or {}, "managedFields": managed}}


def test_tethers_by_label_or_by_one_of_its_field_managers() -> None:
    assert is_tethers(_live({"app.kubernetes.io/part-of": "tether"}))
    assert is_tethers(_live(None, ("kubectl-edit", ""), ("tether", "")))
    assert is_tethers(_live(None, ("tether-server", "")))
    assert not is_tethers(_live({"app.kubernetes.io/part-of": "argocd"}, ("argocd", "")))
    # writing an object's status does not make it one's own
    assert not is_tethers(_live(None, ("helm", ""), ("tether", "status")))


def test_a_secret_value_that_is_not_base64_reads_as_empty() -> None:
    assert _decoded({"data": {"password": "c2VjcmV0"}}, "password") == "secret"
    assert _decoded({"data": {"password": "not base64!"}}, "password") == ""
    assert _decoded({"data": None}, "password") == ""


def test_a_mode_switch_never_leaves_data_or_shared_roles_behind_as_stale() -> None:
    wide = InstallOptions(namespace="cd")
    narrow = replace(wide, namespaced=True, managed_namespaces=("a",))
    stale = stale_objects(install_manifests(narrow), install_manifests(wide), "cd")
    names = {(o["kind"], o["metadata"]["name"]) for o in stale}
    assert ("ClusterRoleBinding", "tether-controller-cd") in names
    assert ("Deployment", "tether-secrets-controller") in names
    assert not {k for k, _ in names} & {"CustomResourceDefinition", "Namespace", "ClusterRole"}
    back = stale_objects(install_manifests(wide), install_manifests(narrow), "cd")
    assert {(o["kind"], o["metadata"]["name"]) for o in back} >= {
        ("ClusterRole", "tether-controller-read-cd"),
        ("ClusterRoleBinding", "tether-controller-read-cd"),
    }
    # the Role of the control namespace is the same object in both modes: never stale
    roles = {o["metadata"].get("namespace") for o in back if o["kind"] == "Role"}
    assert roles == {"a"}
