"""Argo CD Image Updater's Application annotations on Tether's image automation.

An Application annotated with ``argocd-image-updater.argoproj.io/image-list`` (read by
:func:`tether.images.imageupdater.read_updater_config`) gets, for each image, a real Flux
``ImageRepository`` and ``ImagePolicy`` in the control namespace (named ``<app>-<alias>``,
labelled with the Application, owned by it): they are scanned, evaluated and shown like any other
(``kubectl get imagepolicies``, ``tether image list``, registry webhooks). When their latest
images move, the Application's write-back target (its kustomization's ``images:`` or its Helm
values keys) is updated through the same update step as an ImageUpdateAutomation, with Tether's
pull-request annotations on the Application. Outcomes are Events on the Application.

This module is plain data: the objects wanted for an Application and the job of its update.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from tether.controller.imageupdates import UpdateJob
from tether.images import imageupdater
from tether.images.automationspec import (
    AutomationConfigError,
    PullRequestSettings,
    latest_image,
    observed_policies,
)
from tether.images.imageupdater import ImageUpdaterConfigError, UpdaterConfig
from tether.images.imageupdater_plan import plan_app_updates
from tether.images.setters import LatestImage
from tether.names import (
    APPLICATION,
    ARGO_API_VERSION,
    FLUX_IMAGE_API_VERSION,
    IMAGE_POLICY,
    IMAGE_REPOSITORY,
    IMAGE_UPDATER_APP_LABEL,
)
from tether.source.credentials import RepoCredentials

#: Image Updater's default check interval, the scan interval of the generated repositories
SCAN_INTERVAL = "2m"
#: the commit author Image Updater uses unless configured
AUTHOR_NAME = "argocd-image-updater"
AUTHOR_EMAIL = "noreply@argoproj.io"


def _owner(app: Mapping[str, Any]) -> dict[str, Any]:
    meta = app.get("metadata") or {}
    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": APPLICATION,
        "name": meta.get("name"),
        "uid": meta.get("uid"),
    }


def _loopback(image: str) -> bool:
    """Whether the image's registry is on this host (127.0.0.0/8, ::1, localhost)."""
    host = image.split("/", 1)[0] if "/" in image else ""
    if host.startswith("[") and "]" in host:
        name = host[1 : host.index("]")]
    else:
        name = host.rsplit(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def generated_objects(config: UpdaterConfig, app: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ImageRepository and ImagePolicy of each image of the Application's annotations. A
    registry on a loopback address is read over plain http, as Docker allows for
    127.0.0.0/8 without configuration (Image Updater's registries.conf has no Flux spelling)."""
    labels = {IMAGE_UPDATER_APP_LABEL: config.app_name}
    owners = [_owner(app)] if (app.get("metadata") or {}).get("uid") else []
    objects = []
    for image in config.images:
        name = image.policy.name
        meta = {
            "name": name,
            "namespace": config.app_namespace,
            "labels": labels,
            "ownerReferences": owners,
        }
        objects.append(
            {
                "apiVersion": FLUX_IMAGE_API_VERSION,
                "kind": IMAGE_REPOSITORY,
                "metadata": meta,
                "spec": {
                    "interval": SCAN_INTERVAL,
                    **({"insecure": True} if _loopback(image.repository) else {}),
                    **image.repository_spec,
                },
            }
        )
        objects.append(
            {
                "apiVersion": FLUX_IMAGE_API_VERSION,
                "kind": IMAGE_POLICY,
                "metadata": meta,
                "spec": {**image.policy_spec, "imageRepositoryRef": {"name": name}},
            }
        )
    return objects


def differs(wanted: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """Whether a generated object must be applied again (absent, or its spec or labels moved)."""
    if live is None:
        return True
    labels = (live.get("metadata") or {}).get("labels") or {}
    wanted_labels = wanted["metadata"]["labels"]
    same_labels = all(labels.get(k) == v for k, v in wanted_labels.items())
    return not same_labels or any(
        (live.get("spec") or {}).get(k) != v for k, v in wanted["spec"].items()
    )


def git_credentials(
    config: UpdaterConfig,
    repository_credentials: RepoCredentials | None,
    secret: Mapping[str, str] | None,
) -> RepoCredentials | None:
    """The push credentials ``write-back-method`` names: the repository's (``git`` and
    ``git:repocreds``) or a Secret's ``username``/``password``/``sshPrivateKey``."""
    if config.git_credentials.kind != "secret":
        return repository_credentials
    if not secret:
        ref = config.git_credentials
        raise AutomationConfigError(
            "InvalidSourceConfiguration",
            f"Secret {ref.namespace}/{ref.name} named by write-back-method does not exist or is "
            "empty",
            stalled=False,
        )
    return RepoCredentials(
        url=config.repo_url,
        username=secret.get("username"),
        password=secret.get("password"),
        ssh_private_key=secret.get("sshPrivateKey"),
    )


def updater_job(
    config: UpdaterConfig,
    policies: Mapping[str, Mapping[str, Any]],
    *,
    credentials: RepoCredentials | None,
    pull: PullRequestSettings | None,
    token: str,
    applications: Sequence[Mapping[str, Any]],
) -> UpdateJob:
    """The update of the Application's write-back target to its policies' latest images
    (``policies`` by name: the generated ones)."""
    latest: dict[str, LatestImage | None] = {}
    chosen = {}
    for image in config.images:
        policy = policies.get(image.policy.name)
        latest[image.key] = latest_image(policy) if policy is not None else None
        if policy is not None:
            chosen[(config.app_namespace, image.policy.name)] = policy
    try:
        spec = imageupdater.update_spec(config, author_email=AUTHOR_EMAIL, author_name=AUTHOR_NAME)
    except ImageUpdaterConfigError:
        raise AutomationConfigError(
            "InvalidSourceConfiguration",
            f"Application {config.app_name} follows the repository's HEAD: set "
            "argocd-image-updater.argoproj.io/git-branch to the branch to update",
        ) from None
    return UpdateJob(
        name=f"{config.app_namespace}/{config.app_name}",
        spec=spec,
        url=config.repo_url,
        planner=lambda root: plan_app_updates(root, config, latest),
        credentials=credentials,
        pull=pull,
        token=token,
        applications=applications,
        observed=observed_policies(chosen),
    )
