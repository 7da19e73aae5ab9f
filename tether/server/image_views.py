"""What the API shows of Flux's image automation: pure functions over the objects' dicts.

Each ImageRepository, ImagePolicy and ImageUpdateAutomation becomes a flat summary for people
and scripts (`summary`); an Application's desired manifests become the container images it runs,
each matched with the policies that follow its repository (`application_images`). Summaries
carry what the specs and statuses say and the names of the Secrets they use, never annotations
or anything read from a Secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.images.automationspec import AutomationConfigError, selected_policies, source_ref
from tether.images.dockerconfig import parse_image, parse_repository
from tether.images.errors import ImageError
from tether.images.reflector import image_repository_ref
from tether.names import IMAGE_POLICY, IMAGE_REPOSITORY, IMAGE_UPDATE_AUTOMATION

#: the kinds of workloads whose pod template is read, and where the pod spec is
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}

Objects = Mapping[str, Mapping[str, Any]]


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _name(obj: Mapping[str, Any]) -> str:
    return str(_map(obj.get("metadata")).get("name") or "")


def ready_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """The Ready condition as ``{status, reason, message}`` (``Unknown`` before the first run)."""
    for condition in _map(obj.get("status")).get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            return {
                "status": str(condition.get("status") or "Unknown"),
                "reason": str(condition.get("reason") or ""),
                "message": str(condition.get("message") or ""),
            }
    return {"status": "Unknown", "reason": "", "message": ""}


def _image_ref(value: Any) -> dict[str, str] | None:
    """A ``latestRef``-shaped ``{name, tag, digest?}``, or None."""
    ref = _map(value)
    name, tag = _text(ref.get("name")), _text(ref.get("tag"))
    if name is None or tag is None:
        return None
    out = {"name": name, "tag": tag}
    if _text(ref.get("digest")):
        out["digest"] = str(ref["digest"])
    return out


def _common(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    status = _map(obj.get("status"))
    return {
        "kind": kind,
        "name": _name(obj),
        "suspended": _map(obj.get("spec")).get("suspend") is True,
        "ready": ready_of(obj),
        "lastHandledReconcileAt": _text(status.get("lastHandledReconcileAt")),
    }


def repository_summary(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An ImageRepository: its image, scan interval, Secret name and last scan."""
    spec, status = _map(obj.get("spec")), _map(obj.get("status"))
    scan = _map(status.get("lastScanResult"))
    return {
        **_common(IMAGE_REPOSITORY, obj),
        "image": _text(spec.get("image")),
        "canonicalImageName": _text(status.get("canonicalImageName")),
        "interval": _text(spec.get("interval")),
        "secretRef": _text(_map(spec.get("secretRef")).get("name")),
        "tagCount": scan.get("tagCount") if isinstance(scan.get("tagCount"), int) else None,
        "lastScanTime": _text(scan.get("scanTime")),
        "latestTags": [t for t in scan.get("latestTags") or [] if isinstance(t, str)],
    }


def policy_summary(obj: Mapping[str, Any], repositories: Objects, namespace: str) -> dict[str, Any]:
    """An ImagePolicy: its repository, the image it follows, its latest and previous choice."""
    spec, status = _map(obj.get("spec")), _map(obj.get("status"))
    ref_namespace, ref_name = image_repository_ref(obj)
    repository = repositories.get(ref_name) if ref_namespace in ("", namespace) else None
    repo_spec = _map(_map(repository).get("spec"))
    scan = _map(_map(_map(repository).get("status")).get("lastScanResult"))
    latest, previous = (
        _image_ref(status.get("latestRef")),
        _image_ref(status.get("observedPreviousRef")),
    )
    image = _text(repo_spec.get("image")) or (latest or {}).get("name")
    return {
        **_common(IMAGE_POLICY, obj),
        "repository": ref_name
        if ref_namespace in ("", namespace)
        else f"{ref_namespace}/{ref_name}",
        "image": image,
        "policy": dict(_map(spec.get("policy"))),
        "latest": latest,
        "latestTag": (latest or {}).get("tag"),
        "previous": previous,
        "previousTag": (previous or {}).get("tag"),
        "tagCount": scan.get("tagCount") if isinstance(scan.get("tagCount"), int) else None,
        "lastScanTime": _text(scan.get("scanTime")),
    }


def automation_summary(obj: Mapping[str, Any], policies: Objects) -> dict[str, Any]:
    """An ImageUpdateAutomation: its source, branches, policies, last push and pull request."""
    spec, status = _map(obj.get("spec")), _map(obj.get("status"))
    git = _map(spec.get("git"))
    kind, ref_namespace, ref_name = source_ref(obj)
    try:
        chosen = sorted(name for _, name in selected_policies(obj, policies))
    except AutomationConfigError:
        chosen = []
    pull = _map(status.get("pullRequest"))
    return {
        **_common(IMAGE_UPDATE_AUTOMATION, obj),
        "source": {"kind": kind, "namespace": ref_namespace, "name": ref_name},
        "checkoutBranch": _text(_map(_map(git.get("checkout")).get("ref")).get("branch")),
        "pushBranch": _text(_map(git.get("push")).get("branch")),
        "updatePath": _text(_map(spec.get("update")).get("path")),
        "policies": chosen,
        "lastRunTime": _text(status.get("lastAutomationRunTime")),
        "lastPushCommit": _text(status.get("lastPushCommit")),
        "lastPushTime": _text(status.get("lastPushTime")),
        "observedPolicies": {
            str(k): ref
            for k, v in _map(status.get("observedPolicies")).items()
            if (ref := _image_ref(v))
        },
        "pullRequest": dict(pull) if pull else None,
    }


# ---- an application's images ---------------------------------------------------------------------


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    path = POD_SPEC_PATHS.get(str(obj.get("kind") or ""))
    if path is None:
        return {}
    found: Mapping[str, Any] = obj
    for key in path:
        found = _map(found.get(key))
    return found


def workload_images(desired: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Every image the pod templates of ``desired`` run (``containers`` and ``initContainers``),
    with the workloads and containers that run it, in the order first seen."""
    images: dict[str, list[dict[str, Any]]] = {}
    for obj in desired:
        pod = _pod_spec(obj)
        meta = _map(obj.get("metadata"))
        for key, init in (("initContainers", True), ("containers", False)):
            for container in pod.get(key) or []:
                image = _text(_map(container).get("image"))
                if image is None:
                    continue
                images.setdefault(image, []).append(
                    {
                        "kind": obj.get("kind"),
                        "namespace": meta.get("namespace") or "",
                        "name": meta.get("name") or "",
                        "container": _map(container).get("name") or "",
                        "init": init,
                    }
                )
    return images


def _repository_name(reference: str | None, *, repository: bool) -> str | None:
    """The canonical repository (``docker.io/library/nginx``) of an image or a repository."""
    if not reference:
        return None
    try:
        return (parse_repository if repository else parse_image)(reference).name
    except ImageError:
        return None


def policy_repository(policy: Mapping[str, Any]) -> str | None:
    """The canonical repository a policy summary follows."""
    return _repository_name(policy.get("image"), repository=True) or _repository_name(
        (policy.get("latest") or {}).get("name"), repository=False
    )


def _update_available(image: str, latest: Mapping[str, str] | None) -> bool:
    """Whether ``image`` differs from the policy's latest choice (by tag; by digest when the
    image is pinned by digest alone)."""
    if latest is None:
        return False
    try:
        ref = parse_image(image)
    except ImageError:
        return False
    if ref.tag is None and ref.digest is not None:
        return bool(latest.get("digest")) and latest.get("digest") != ref.digest
    return (ref.tag or "latest") != latest.get("tag")


def _policy_entry(image: str, policy: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": policy["name"],
        "latestTag": policy.get("latestTag"),
        "latestImage": policy.get("latest"),
        "previousTag": policy.get("previousTag"),
        "ready": policy.get("ready"),
        "updateAvailable": _update_available(image, policy.get("latest")),
    }


def _pull_requests(names: set[str], automations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pull requests of the automations that select one of the policies ``names``."""
    pulls = []
    for automation in automations:
        pull = automation.get("pullRequest")
        if pull and names & set(automation.get("policies") or []):
            pulls.append({"automation": automation["name"], **pull})
    return pulls


def application_images(
    desired: list[dict[str, Any]], policies: list[dict[str, Any]], automations: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each image of the app's desired manifests, with the policy summaries that follow its
    repository and the pull requests of the app's ``automations`` that select those policies."""
    out = []
    for image, workloads in workload_images(desired).items():
        try:
            ref = parse_image(image)
        except ImageError:
            ref = None
        repository = ref.name if ref is not None else None
        matched = [p for p in policies if repository and policy_repository(p) == repository]
        entries = [_policy_entry(image, p) for p in matched]
        latest = next((e["latestTag"] for e in entries if e["latestTag"]), None)
        out.append(
            {
                "image": image,
                "repository": repository,
                # an image without tag or digest runs the tag ``latest``
                "tag": (ref.tag or (None if ref.digest else "latest")) if ref is not None else None,
                "digest": ref.digest if ref is not None else None,
                "workloads": workloads,
                "policies": entries,
                "latestTag": latest,
                "updateAvailable": any(e["updateAvailable"] for e in entries),
                "pullRequests": _pull_requests({p["name"] for p in matched}, automations),
            }
        )
    return out
