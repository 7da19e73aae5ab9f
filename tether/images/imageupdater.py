"""Argo CD Image Updater's Application annotations, read as Tether's (Flux's) image automation.

An Application annotated ``argocd-image-updater.argoproj.io/image-list`` asks Image Updater to
follow images; :func:`read_updater_config` reads those annotations into an
:class:`UpdaterConfig`: for each image a Flux ImagePolicy ``spec`` that chooses what Image
Updater's strategy would, the ImageRepository settings its tag filters need, and where the new
tag is written in Git. :func:`tether.images.imageupdater_plan.plan_app_updates` then computes
the edit of that file as an :class:`~tether.images.setters.UpdatePlan`, which
:func:`~tether.images.automation.run_update` commits and pushes (its ``planner`` argument).

How each annotation maps (``<alias>.`` options also have an Application-wide form without the
alias, the default of every image, as in Image Updater):

* ``image-list``: ``[alias=]image[:constraint]``, comma-separated, at most 50 (each
  annotation value at most 16 KiB). Options are looked up by alias (``/`` written ``_``); an
  image without one gets only the Application-wide options, as in Image Updater. A first
  component with a dot, a port or ``localhost`` is a registry (Docker's rule, so
  ``localhost:5000/app:^1.0`` works); an ``=`` after a ``:`` belongs to the constraint
  (``app:>=1.0``). A digest (``@sha256:..``) is refused. The ImagePolicy is named
  ``<app>-<alias or image>`` made a DNS name.
* ``<alias>.update-strategy``: ``semver`` (default) is ``policy.semver.range``: the constraint,
  or ``>=0.0.0-0`` without one (Image Updater then takes the highest version, prereleases
  included); ``alphabetical`` (``name``) is ``policy.alphabetical.order: asc``; ``digest``
  follows the tag written as the constraint: a policy keeping exactly that tag, with
  ``digestReflectionPolicy: Always``. ``newest-build`` (``latest``) needs the images' build
  dates, which no Flux policy reads: refused. Other values (Image Updater falls back to
  semver) are refused. A constraint given with ``alphabetical`` is ignored, as Image Updater
  ignores it.
* ``<alias>.allow-tags``: ``regexp:<RE2>`` is ``filterTags.pattern`` (both search the tag
  unanchored); ``any`` is no filter. Refused with ``digest``, which keeps one tag.
* ``<alias>.ignore-tags``: Go ``filepath.Match`` globs, each turned into an anchored regular
  expression of the ImageRepository's ``exclusionList`` (after Flux's default ``^.*\\.sig$``,
  which a list given replaces): a policy's filter cannot exclude (RE2 has no lookahead).
* ``<alias>.pull-secret``: ``pullsecret:<ns>/<name>`` (a dockerconfigjson Secret: the
  ImageRepository's ``secretRef`` when it is in the Application's namespace) and
  ``secret:<ns>/<name>#<field>`` (a ``user:password`` field) are kept as data; ``env:`` and
  ``ext:`` (the updater's environment, a script) are refused.
* ``<alias>.force-update``: ``true``/``false``, accepted and ignored: Tether edits the file
  whether or not the image shows in the Application's status.
* ``<alias>.kustomize.image-name``, ``<alias>.helm.image-name|image-tag|image-spec``: which
  entry or values keys are set (see the plan module); each only with its write-back target.
  ``<alias>.platforms`` and the old ``<alias>.tag-match`` are refused.
* ``write-back-method``: ``git``, ``git:repocreds`` or ``git:secret:[<ns>/]<name>``. Image
  Updater's default, ``argocd`` (changing the Application in the cluster), is refused: Tether
  changes clusters only through Git.
* ``write-back-target``: ``kustomization[:<dir>]`` and ``helmvalues[:<file>]`` (default
  ``values.yaml``), relative to the Application's path or, starting with ``/``, to the
  repository. The default, the parameter file ``.argocd-source-<app>.yaml``, is refused.
* ``git-branch``: ``<base>[:<target>]``; ``<base>`` defaults to ``spec.source.targetRevision``
  (``HEAD`` or empty: the remote's default branch; a tag, a SHA or a range is refused),
  ``<target>`` to ``<base>``. Templates (``{{.SHA256}}``...) are refused: Tether decides the
  push branch before it sees the changes. A target branch that exists is rebuilt from the base
  on each update (Flux's force push, with a lease), where Image Updater commits on top of it.
* ``git-repository`` replaces ``spec.source.repoURL`` (needed for a Helm chart source).

Every unknown, invalid or unsupported annotation under the prefix raises
:class:`ImageUpdaterConfigError`, naming it and saying what to write instead (Image Updater
logs most of them and goes on with a default). An Application with ``spec.sources`` is refused.
:func:`update_spec` gives the :class:`~tether.images.automation.UpdateSpec` to run.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tether import names
from tether.images.automation import AutomationObject, CheckoutRef, UpdateSpec
from tether.images.imageupdater_images import (
    ANY_VERSION,
    DNS_LABEL,
    DNS_NAME,
    MAX_IMAGES,
    PREFIX,
    HelmParams,
    ImageConfig,
    ImageUpdaterConfigError,
    SecretRef,
    Strategy,
    TargetKind,
    fail,
    glob_to_regex,
    image_configs,
)

MAX_ANNOTATION_CHARS = 16_384
_BAD_BRANCH = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|//|@\{|^[-/]|/$|\.$|\.lock$|(^|/)\.")
_SHA = re.compile(r"[0-9a-f]{40}")
_RANGE_CHARS = re.compile(r"[*^~<>=,\s]")


@dataclass(frozen=True)
class WriteBackTarget:
    """Where new tags are written: for ``kustomization`` the directory holding the
    kustomization file, for ``helmvalues`` the values file; relative to the repository root
    (``""``: the root itself)."""

    kind: TargetKind
    path: str


@dataclass(frozen=True)
class UpdaterConfig:
    """An Application's Image Updater settings. ``base_branch`` is the branch checked out
    (``""``: the remote's default branch, for the caller to resolve), ``push_branch`` the one
    pushed; ``app_path`` is ``spec.source.path`` normalized (``""``: the root)."""

    app_name: str
    app_namespace: str
    repo_url: str
    app_path: str
    target_revision: str
    images: tuple[ImageConfig, ...]
    target: WriteBackTarget
    base_branch: str
    push_branch: str
    git_credentials: SecretRef

    def image(self, key: str) -> ImageConfig:
        """The image of that key (alias, or image as written); ``KeyError`` if none."""
        for image in self.images:
            if image.key == key:
                return image
        raise KeyError(key)


def _string(mapping: Mapping[str, Any], key: str, where: str) -> str:
    value = mapping.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ImageUpdaterConfigError(f"{where}.{key} must be a string")
    return value


def _annotations(app: Mapping[str, Any]) -> dict[str, str]:
    meta = app.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    if not isinstance(annotations, Mapping):
        return {}
    ours: dict[str, str] = {}
    for key, value in annotations.items():
        if isinstance(key, str) and key.startswith(PREFIX):
            if not isinstance(value, str):
                raise fail(key, "the value must be a string")
            if len(value) > MAX_ANNOTATION_CHARS:
                raise fail(key, f"the value is longer than {MAX_ANNOTATION_CHARS} characters")
            ours[key] = value.strip()
    return ours


# ---- the Application's source, method, target and branches -----------------------------------


def _relative_path(value: str, annotation: str) -> str:
    """A normalized repository-relative path, ``""`` for the root; refuses leaving it."""
    path = posixpath.normpath(value or ".")
    if path.startswith("/") or path == ".." or path.startswith("../"):
        raise fail(annotation, f"path {value!r} leads out of the repository")
    return "" if path == "." else path


def _source(app: Mapping[str, Any], ours: Mapping[str, str]) -> tuple[str, str, str]:
    """(repository URL, application path, target revision)."""
    spec = app.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    source = spec.get("source")
    if not isinstance(source, Mapping):
        why = "has spec.sources" if spec.get("sources") else "has no spec.source"
        raise ImageUpdaterConfigError(
            f"the Application {why}: Tether maps Image Updater annotations for an Application "
            "with one spec.source only"
        )
    url = ours.get(names.IMAGE_UPDATER_GIT_REPOSITORY) or _string(source, "repoURL", "spec.source")
    if not url or any(c.isspace() for c in url):
        raise fail(names.IMAGE_UPDATER_GIT_REPOSITORY, f"no Git repository to write to ({url!r})")
    if source.get("chart") and names.IMAGE_UPDATER_GIT_REPOSITORY not in ours:
        raise fail(
            names.IMAGE_UPDATER_GIT_REPOSITORY,
            "the source is a Helm chart repository, which cannot be written to: set "
            f"{names.IMAGE_UPDATER_GIT_REPOSITORY} to the Git repository holding the values",
        )
    path = _relative_path(_string(source, "path", "spec.source"), "spec.source.path")
    return url, path, _string(source, "targetRevision", "spec.source")


def _git_credentials(ours: Mapping[str, str], namespace: str) -> SecretRef:
    key = names.IMAGE_UPDATER_WRITE_BACK_METHOD
    method = ours.get(key, "")
    if method in ("", "argocd"):
        raise fail(
            key,
            f"{'argocd (the default when absent)' if not method else 'argocd'} changes the "
            "Application in the cluster; Tether changes clusters only through Git (commits and "
            f"pull requests): set {key}: git (or git:secret:<namespace>/<name>)",
        )
    kind, _, credentials = method.partition(":")
    if kind != "git":
        raise fail(key, f"{method!r} is not a write-back method; write git")
    if credentials in ("", "repocreds"):
        return SecretRef("repocreds")
    secret = credentials.removeprefix("secret:")
    secret_ns, _, secret_name = secret.rpartition("/")
    secret_ns = secret_ns or namespace
    if (
        secret == credentials
        or not DNS_LABEL.fullmatch(secret_ns)
        or not DNS_NAME.fullmatch(secret_name)
    ):
        raise fail(
            key, f"{method!r}: write git, git:repocreds or git:secret:<namespace>/<secret name>"
        )
    return SecretRef("secret", secret_ns, secret_name)


def _target(ours: Mapping[str, str], app_path: str, app_name: str) -> WriteBackTarget:
    key = names.IMAGE_UPDATER_WRITE_BACK_TARGET
    value = ours.get(key, "")
    kind, colon, where = value.partition(":")
    if kind not in ("kustomization", "helmvalues"):
        default = names.IMAGE_UPDATER_OVERRIDE_FILE.format(app=app_name)
        shown = f"{value!r} (a parameter override file)" if value else f"absent, {default}"
        raise fail(
            key,
            f"the target is {shown}: Tether does not write Argo CD parameter override files; "
            f"set {key}: kustomization[:<directory>] (Kustomize) or helmvalues:<values file> "
            "(Helm)",
        )
    if colon and not where:
        raise fail(key, f"{value!r} names no path after ':'")
    default = "." if kind == "kustomization" else "values.yaml"
    where = where or default
    if where.startswith("/"):
        path = _relative_path(where.lstrip("/"), key)
    else:
        path = _relative_path(posixpath.join(app_path or ".", where), key)
    if kind == "helmvalues" and not path:
        raise fail(key, f"{value!r} names the repository root, not a values file")
    return WriteBackTarget(TargetKind(kind), path)


def _check_branch(name: str, what: str) -> str:
    if not name or name == "@" or _BAD_BRANCH.search(name) or len(name) > 255:
        raise fail(names.IMAGE_UPDATER_GIT_BRANCH, f"{what} {name!r} is not a valid branch name")
    return name


def _branches(ours: Mapping[str, str], target_revision: str) -> tuple[str, str]:
    """(base branch, push branch); a base of ``""`` is the remote's default branch."""
    key = names.IMAGE_UPDATER_GIT_BRANCH
    base, colon, push = ours.get(key, "").partition(":")
    if "{{" in base + push:
        raise fail(
            key,
            "templates ({{...}}) are not supported: Tether chooses the branch it pushes before "
            "it sees the changes, and rebuilds that branch on each update; write a fixed name, "
            "such as main:image-updates",
        )
    if colon and not push:
        raise fail(key, f"{ours[key]!r} names no branch after ':'; write <base>:<target>")
    if not base:
        revision = target_revision.removeprefix("refs/heads/")
        if (
            revision.startswith("refs/")
            or _SHA.fullmatch(revision)
            or _RANGE_CHARS.search(revision)
        ):
            raise fail(
                key,
                f"spec.source.targetRevision {target_revision!r} is not a branch to commit to: "
                f"set {key}: <branch>",
            )
        base = "" if revision == "HEAD" else revision
    if base:
        _check_branch(base, "base branch")
    if push:
        _check_branch(push, "target branch")
    return base, push or base


def read_updater_config(app: Mapping[str, Any]) -> UpdaterConfig | None:
    """The Image Updater settings of an Application (a parsed ``argoproj.io`` object), or
    ``None`` when it has no ``image-list`` annotation. Raises :class:`ImageUpdaterConfigError`
    for every annotation under the prefix that is invalid or not supported."""
    ours = _annotations(app)
    if names.IMAGE_UPDATER_IMAGE_LIST not in ours:
        return None
    meta = app.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    app_name = _string(meta, "name", "metadata")
    namespace = _string(meta, "namespace", "metadata") or names.DEFAULT_NAMESPACE
    if not DNS_NAME.fullmatch(app_name):
        raise ImageUpdaterConfigError(f"the Application's metadata.name {app_name!r} is not valid")
    url, app_path, revision = _source(app, ours)
    credentials = _git_credentials(ours, namespace)
    target = _target(ours, app_path, app_name)
    base, push = _branches(ours, revision)
    images = image_configs(ours, app_name, namespace, target.kind)
    return UpdaterConfig(
        app_name, namespace, url, app_path, revision, images, target, base, push, credentials
    )


def update_spec(
    config: UpdaterConfig,
    *,
    author_email: str,
    author_name: str = "",
    message_template: str = "",
    default_branch: str = "",
) -> UpdateSpec:
    """The :class:`~tether.images.automation.UpdateSpec` of an Application's update (its
    ``update_path`` is the Application's path); ``default_branch`` is the remote's default
    branch, needed when the base branch is ``HEAD``."""
    base = config.base_branch or default_branch
    if not base:
        raise ImageUpdaterConfigError(
            f"the base branch of Application {config.app_name} is the remote's default branch "
            f"(HEAD): resolve it and pass it, or set {names.IMAGE_UPDATER_GIT_BRANCH}"
        )
    return UpdateSpec(
        url=config.repo_url,
        checkout=CheckoutRef(branch=base),
        author_email=author_email,
        author_name=author_name,
        message_template=message_template,
        push_branch=config.push_branch or base,
        update_path=config.app_path,
        automation=AutomationObject(config.app_namespace, config.app_name),
    )


__all__ = [
    "ANY_VERSION",
    "MAX_IMAGES",
    "HelmParams",
    "ImageConfig",
    "ImageUpdaterConfigError",
    "SecretRef",
    "Strategy",
    "TargetKind",
    "UpdaterConfig",
    "WriteBackTarget",
    "glob_to_regex",
    "read_updater_config",
    "update_spec",
]
