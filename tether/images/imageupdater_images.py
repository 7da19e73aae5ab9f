"""The images of an Application's Image Updater annotations: ``image-list`` and each image's
options, read into :class:`ImageConfig` (see :mod:`tether.images.imageupdater`, which reads
the rest and documents the mapping)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tether import names
from tether.images.dockerconfig import TAG_PATTERN, parse_repository
from tether.images.errors import ImageError, InvalidPolicyError
from tether.images.policy import DEFAULT_DIGEST_INTERVAL_SECONDS, parse_policy
from tether.images.registry import DEFAULT_EXCLUSIONS
from tether.images.setters import PolicyRef
from tether.images.tagfilter import compile_re2

MAX_IMAGES = 50
MAX_IGNORE_PATTERNS = 50
#: Image Updater's semver strategy without a constraint: every version, prereleases too
ANY_VERSION = ">=0.0.0-0"
PREFIX = names.IMAGE_UPDATER_PREFIX + "/"
#: the annotations of the Application as a whole (not options of its images)
APP_KEYS = (
    names.IMAGE_UPDATER_IMAGE_LIST,
    names.IMAGE_UPDATER_WRITE_BACK_METHOD,
    names.IMAGE_UPDATER_WRITE_BACK_TARGET,
    names.IMAGE_UPDATER_GIT_BRANCH,
    names.IMAGE_UPDATER_GIT_REPOSITORY,
)
DNS_NAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_ALIAS = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_./-]{0,46}[A-Za-z0-9])?")
_HELM_KEY = re.compile(r"[^.\[\]\s]+(\[[0-9]{1,4}\])?(\.[^.\[\]\s]+(\[[0-9]{1,4}\])?)*")
_GLOB_SPECIAL = frozenset(".^$*+?()[]{}|\\")
_CLASS_SPECIAL = "\\]^-["


class ImageUpdaterConfigError(ImageError):
    """An Image Updater annotation is invalid, or asks what Tether does not do; the message
    names the annotation and what to write instead."""


class Strategy(StrEnum):
    SEMVER = "semver"
    ALPHABETICAL = "alphabetical"
    DIGEST = "digest"


class TargetKind(StrEnum):
    KUSTOMIZATION = "kustomization"
    HELM_VALUES = "helmvalues"


@dataclass(frozen=True)
class HelmParams:
    """The values keys (dotted, ``a.b[0].c``) an image sets; ``spec`` set means name and tag
    are not (empty strings)."""

    name: str = names.IMAGE_UPDATER_HELM_NAME_DEFAULT
    tag: str = names.IMAGE_UPDATER_HELM_TAG_DEFAULT
    spec: str = ""


@dataclass(frozen=True)
class SecretRef:
    """A Secret named by an annotation: ``kind`` is ``pullsecret`` (a dockerconfigjson
    Secret), ``secret`` (``field`` holds ``user:password``, or for Git the Secret's
    ``username``/``password``/``sshPrivateKey``) or ``repocreds`` (Argo CD's repository
    credentials; no name)."""

    kind: str
    namespace: str = ""
    name: str = ""
    field: str = ""


@dataclass(frozen=True)
class ImageConfig:
    """One image of ``image-list``: ``image`` is the repository as written (what manifests
    name), ``repository`` its canonical name; ``policy_spec`` an ImagePolicy ``spec`` without
    its ``imageRepositoryRef``, ``repository_spec`` an ImageRepository ``spec`` without its
    ``interval``; ``policy`` a name for the ImagePolicy, in the Application's namespace."""

    alias: str
    image: str
    repository: str
    strategy: Strategy
    constraint: str
    policy_spec: Mapping[str, Any]
    repository_spec: Mapping[str, Any]
    policy: PolicyRef
    kustomize_name: str = ""
    helm: HelmParams = field(default_factory=HelmParams)
    pull_secret: SecretRef | None = None
    force_update: bool = False

    @property
    def key(self) -> str:
        """The image's key in the ``latest`` mapping of ``plan_app_updates``: its alias, or
        the image as written when it has none."""
        return self.alias or self.image


def fail(annotation: str, problem: str) -> ImageUpdaterConfigError:
    return ImageUpdaterConfigError(f"annotation {annotation}: {problem}")


# ---- image-list and the options of each image ---------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    alias: str
    image: str  # the repository as written
    repository: str  # its canonical name
    constraint: str

    @property
    def key(self) -> str:
        return self.alias or self.image

    @property
    def option_name(self) -> str:  # the alias as annotation names spell it
        return self.alias.replace("/", "_")


def _split_image(text: str) -> tuple[str, str, bool]:
    """(repository as written, constraint, whether a ``:`` gave one) of ``image[:constraint]``;
    a first component with a dot or a port, or ``localhost``, is a registry (Docker's rule)."""
    first, slash, rest = text.partition("/")
    registry = ""
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, text = first + "/", rest
    name, colon, constraint = text.partition(":")
    return registry + name, constraint.strip(), bool(colon)


def _entry(item: str) -> _Entry:
    key = names.IMAGE_UPDATER_IMAGE_LIST
    alias, equals, reference = item.partition("=")
    if ":" in alias:  # an = of the constraint (>=1.0), not an alias's
        equals = ""
    alias, reference = (alias.strip(), reference.strip()) if equals else ("", item)
    if equals and not _ALIAS.fullmatch(alias):
        raise fail(
            key, f"alias {alias!r} must be 1-48 letters, digits and _ . / - (not first or last)"
        )
    if "@" in reference:
        raise fail(
            key,
            f"{item!r} pins a digest: write the tag to follow ({alias or 'alias'}="
            "<image>:<tag>) with the digest update strategy",
        )
    image, constraint, colon = _split_image(reference)
    if colon and not constraint:
        raise fail(key, f"{item!r} has an empty version constraint after ':'")
    try:
        repository = parse_repository(image).name
    except ImageError as exc:
        raise fail(key, str(exc)) from None
    return _Entry(alias, image, repository, constraint)


def _image_list(value: str) -> list[_Entry]:
    key = names.IMAGE_UPDATER_IMAGE_LIST
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise fail(key, "lists no image; write [<alias>=]<image>[:<constraint>], comma-separated")
    if len(items) > MAX_IMAGES:
        raise fail(
            key, f"lists {len(items)} images; Tether follows at most {MAX_IMAGES} per Application"
        )
    entries = [_entry(item) for item in items]
    seen: set[str] = set()
    for entry in entries:
        for name in {entry.key, entry.option_name} - {""}:
            if name in seen:
                raise fail(key, f"{name!r} is listed twice; give each image its own alias")
            seen.add(name)
    return entries


def _options(
    ours: Mapping[str, str], entries: list[_Entry]
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(Application-wide options, each alias's options), by option name; refuses the rest."""
    aliases = {entry.option_name: entry.alias for entry in entries if entry.alias}
    options = sorted(names.IMAGE_UPDATER_IMAGE_OPTIONS, key=len, reverse=True)
    app_wide: dict[str, str] = {}
    per_alias: dict[str, dict[str, str]] = {name: {} for name in aliases}
    for key, value in ours.items():
        name = key.removeprefix(PREFIX)
        if key in APP_KEYS:
            continue
        if name in names.IMAGE_UPDATER_APP_WIDE_OPTIONS:
            app_wide[name] = value
            continue
        option = next((option for option in options if name.endswith("." + option)), None)
        if option is None:
            raise fail(
                key,
                "is not an Image Updater annotation Tether knows: write image-list, "
                "write-back-method, write-back-target, git-branch, git-repository, or "
                "<alias>.<option> with update-strategy, allow-tags, ignore-tags, force-update, "
                "pull-secret, helm.image-name, helm.image-tag, helm.image-spec or "
                "kustomize.image-name",
            )
        alias = name[: -len(option) - 1]
        if alias not in per_alias:
            known = ", ".join(sorted(aliases.values())) or "none"
            raise fail(
                key,
                f"names alias {alias!r}, which image-list does not give to an image "
                f"(its aliases: {known}; write an alias as <alias>=<image>)",
            )
        per_alias[alias][option] = value
    return app_wide, per_alias


def _strategy(value: str, annotation: str) -> Strategy:
    lowered = value.lower()
    if lowered in ("", "semver"):
        return Strategy.SEMVER
    if lowered in ("alphabetical", "name"):
        return Strategy.ALPHABETICAL
    if lowered == "digest":
        return Strategy.DIGEST
    if lowered in ("newest-build", "latest"):
        raise fail(
            annotation,
            f"{value!r} picks the most recently built image, from the images' build dates, "
            "which Flux's image policies do not read: use semver (versioned tags), alphabetical "
            "with allow-tags keeping tags that sort by time (such as a timestamp prefix), or "
            "digest (to follow a mutable tag such as latest)",
        )
    raise fail(
        annotation, f"{value!r} is not an update strategy: write semver, alphabetical or digest"
    )


def _allow_pattern(value: str, annotation: str) -> str | None:
    if not value or value.lower() == "any":
        return None
    kind, colon, pattern = value.partition(":")
    if kind.lower() != "regexp" or not colon or not pattern:
        raise fail(annotation, f"{value!r}: write regexp:<regular expression> or any")
    try:
        compile_re2(pattern)
    except InvalidPolicyError as exc:
        raise fail(annotation, f"regular expression {pattern!r}: {exc}") from None
    return pattern


def _regex_literal(char: str) -> str:
    return "\\" + char if char in _GLOB_SPECIAL else char


def _glob_char(glob: str, index: int) -> tuple[str, int]:
    if index >= len(glob) or glob[index] in "-]":
        raise ValueError("a malformed character class")
    if glob[index] == "\\":
        index += 1
        if index >= len(glob):
            raise ValueError("a trailing backslash")
    return glob[index], index + 1


def _glob_class(glob: str, index: int) -> tuple[str, int]:
    """The regular expression of the class starting after ``[`` at ``index`` (Go's syntax:
    ``^`` negates, ``\\`` escapes, ``lo-hi`` ranges), and the index after its ``]``."""
    negate = index < len(glob) and glob[index] == "^"
    index += negate
    parts: list[str] = []
    while not (index < len(glob) and glob[index] == "]" and parts):
        low, index = _glob_char(glob, index)
        part = "\\" + low if low in _CLASS_SPECIAL else low
        if index < len(glob) and glob[index] == "-":
            high, index = _glob_char(glob, index + 1)
            if high < low:
                raise ValueError(f"the range {low}-{high} is reversed")
            part += "-" + ("\\" + high if high in _CLASS_SPECIAL else high)
        parts.append(part)
    return "[" + "^" * negate + "".join(parts) + "]", index + 1


def glob_to_regex(glob: str) -> str:
    """An anchored regular expression (the same in RE2 and Python) matching the tags Go's
    ``filepath.Match(glob, tag)`` matches; ``ValueError`` for a malformed glob."""
    out, index = ["^"], 0
    while index < len(glob):
        char = glob[index]
        if char == "*":
            if out[-1] != ".*":
                out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            text, index = _glob_class(glob, index + 1)
            out.append(text)
            continue
        elif char == "\\":
            literal, index = _glob_char(glob, index)
            out.append(_regex_literal(literal))
            continue
        else:
            out.append(_regex_literal(char))
        index += 1
    return "".join(out) + "$"


def _exclusions(value: str, annotation: str) -> tuple[str, ...]:
    globs = [item.strip() for item in value.split(",") if item.strip()]
    if len(globs) > MAX_IGNORE_PATTERNS:
        raise fail(annotation, f"lists more than {MAX_IGNORE_PATTERNS} patterns")
    patterns = []
    for glob in globs:
        try:
            pattern = glob_to_regex(glob)
            compile_re2(pattern)
        except ValueError as exc:
            raise fail(annotation, f"glob {glob!r} has {exc}") from None
        except InvalidPolicyError:
            raise fail(
                annotation,
                f"glob {glob!r} has too many '*' to match in bounded time; use fewer wildcards",
            ) from None
        patterns.append(pattern)
    return (*DEFAULT_EXCLUSIONS, *patterns) if patterns else ()


def _pull_secret(value: str, annotation: str) -> SecretRef | None:
    if not value:
        return None
    kind, _, rest = value.partition(":")
    if kind in ("env", "ext"):
        raise fail(
            annotation,
            f"{kind}: reads a login from Image Updater's own environment or a script it runs, "
            "which Tether does not have: store the login in a kubernetes.io/dockerconfigjson "
            "Secret and write pullsecret:<namespace>/<name>",
        )
    reference, hashed, secret_field = rest.partition("#")
    namespace, slash, name = reference.partition("/")
    well_formed = (
        kind in ("pullsecret", "secret")
        and slash
        and DNS_LABEL.fullmatch(namespace)
        and DNS_NAME.fullmatch(name)
        and bool(hashed) == (kind == "secret")
        and (not hashed or re.fullmatch(r"[-._a-zA-Z0-9]{1,253}", secret_field))
    )
    if not well_formed:
        raise fail(
            annotation,
            f"{value!r}: write pullsecret:<namespace>/<name> or secret:<namespace>/<name>#<field>",
        )
    return SecretRef(kind, namespace, name, secret_field)


def _flag(value: str, annotation: str) -> bool:
    if value not in ("", "true", "false"):
        raise fail(annotation, f"{value!r}: write true or false")
    return value == "true"


def _policy_spec(
    entry: _Entry, strategy: Strategy, pattern: str | None, key_of: Callable[[str], str]
) -> dict[str, Any]:
    """The ImagePolicy spec choosing what the strategy chooses (checked by ``parse_policy``)."""
    spec: dict[str, Any]
    if strategy is Strategy.DIGEST:
        if pattern is not None:
            raise fail(
                key_of("allow-tags"),
                "has no effect with the digest strategy, which "
                "follows exactly the tag written in image-list: remove it",
            )
        if not TAG_PATTERN.fullmatch(entry.constraint):
            raise fail(
                names.IMAGE_UPDATER_IMAGE_LIST,
                f"the digest strategy of {entry.key!r} follows one tag: write it as "
                f"{entry.alias or '<alias>'}={entry.image}:<tag> (found {entry.constraint!r})",
            )
        minutes = f"{DEFAULT_DIGEST_INTERVAL_SECONDS / 60:g}m"
        spec = {
            "policy": {"alphabetical": {"order": "asc"}},
            "filterTags": {"pattern": "^" + entry.constraint.replace(".", "\\.") + "$"},
            "digestReflectionPolicy": "Always",
            "interval": minutes,
        }
    elif strategy is Strategy.ALPHABETICAL:
        spec = {"policy": {"alphabetical": {"order": "asc"}}}
    else:
        spec = {"policy": {"semver": {"range": entry.constraint or ANY_VERSION}}}
    if pattern is not None:
        spec["filterTags"] = {"pattern": pattern}
    try:
        parse_policy(spec)
    except InvalidPolicyError as exc:  # only the constraint can still be wrong
        raise fail(
            names.IMAGE_UPDATER_IMAGE_LIST, f"the version constraint of {entry.key!r}: {exc}"
        ) from None
    return spec


def _helm_key(value: str, annotation: str) -> str:
    if len(value) > 256 or not _HELM_KEY.fullmatch(value):
        raise fail(annotation, f"{value!r} is not a values key such as image.tag or images[0].tag")
    return value


def _write_options(
    entry: _Entry, own: Mapping[str, str], target: TargetKind, key_of: Callable[[str], str]
) -> tuple[HelmParams, str]:
    """The image's Helm values keys and Kustomize image name, for its write-back target."""
    helm_options = [option for option in own if option.startswith("helm.")]
    if target is TargetKind.KUSTOMIZATION:
        if helm_options:
            raise fail(
                key_of(helm_options[0]),
                "has no effect with write-back-target "
                "kustomization: remove it, or write helmvalues:<values file>",
            )
        name = own.get("kustomize.image-name", "") or entry.image
        if any(c.isspace() for c in name) or len(name) > 255:
            raise fail(key_of("kustomize.image-name"), f"{name!r} is not an image name")
        return HelmParams(), name
    if "kustomize.image-name" in own:
        raise fail(
            key_of("kustomize.image-name"),
            "has no effect with write-back-target helmvalues: remove it, or write kustomization",
        )
    if not entry.alias:
        raise fail(
            names.IMAGE_UPDATER_IMAGE_LIST,
            f"{entry.image!r} has no alias: with "
            "helmvalues each image needs one (<alias>=<image>) to name its values keys",
        )
    if "helm.image-spec" in own:
        if "helm.image-name" in own or "helm.image-tag" in own:
            raise fail(
                key_of("helm.image-spec"),
                "is set with helm.image-name or "
                "helm.image-tag, which it makes ignored: keep one of the two forms",
            )
        spec = _helm_key(own["helm.image-spec"], key_of("helm.image-spec"))
        return HelmParams(name="", tag="", spec=spec), ""
    defaults = HelmParams()
    name = _helm_key(own.get("helm.image-name", defaults.name), key_of("helm.image-name"))
    tag = _helm_key(own.get("helm.image-tag", defaults.tag), key_of("helm.image-tag"))
    return HelmParams(name=name, tag=tag), ""


def _image_config(
    entry: _Entry,
    app_wide: Mapping[str, str],
    own: Mapping[str, str],
    target: TargetKind,
    policy: PolicyRef,
) -> ImageConfig:
    def key_of(option: str) -> str:
        if option in own or option not in names.IMAGE_UPDATER_APP_WIDE_OPTIONS:
            return f"{PREFIX}{entry.option_name}.{option}"
        return PREFIX + option

    def get(option: str) -> str:
        return own.get(option, app_wide.get(option, ""))

    for refused, why in (
        ("platforms", "Flux's policies do not choose by platform: remove it"),
        ("tag-match", "is Image Updater's old name of allow-tags: rename it"),
    ):
        if refused in own:
            raise fail(key_of(refused), why)
    strategy = _strategy(get("update-strategy"), key_of("update-strategy"))
    pattern = _allow_pattern(get("allow-tags"), key_of("allow-tags"))
    policy_spec = _policy_spec(entry, strategy, pattern, key_of)
    exclusions = _exclusions(get("ignore-tags"), key_of("ignore-tags"))
    pull_secret = _pull_secret(get("pull-secret"), key_of("pull-secret"))
    force_update = _flag(get("force-update"), key_of("force-update"))
    helm, kustomize_name = _write_options(entry, own, target, key_of)
    repository_spec: dict[str, Any] = {"image": entry.image}
    if exclusions:
        repository_spec["exclusionList"] = list(exclusions)
    if (
        pull_secret
        and pull_secret.kind == "pullsecret"
        and pull_secret.namespace == policy.namespace
    ):
        repository_spec["secretRef"] = {"name": pull_secret.name}
    return ImageConfig(
        entry.alias,
        entry.image,
        entry.repository,
        strategy,
        entry.constraint,
        policy_spec,
        repository_spec,
        policy,
        kustomize_name,
        helm,
        pull_secret,
        force_update,
    )


def _policy_names(app_name: str, entries: list[_Entry]) -> list[str]:
    """A DNS name for each image's ImagePolicy: ``<app>-<alias or image>``, made valid and
    unique (a clash gets a number)."""
    found: list[str] = []
    for entry in entries:
        slug = re.sub(r"[^a-z0-9]+", "-", f"{app_name}-{entry.key}".lower()).strip("-")
        name, number = slug[:240].rstrip("-"), 2
        while name in found:
            name, number = f"{slug[:240].rstrip('-')}-{number}", number + 1
        found.append(name)
    return found


def _check_clashes(images: tuple[ImageConfig, ...], target: TargetKind) -> None:
    """Two images may not write the same kustomization entry or values key."""
    seen: dict[str, str] = {}
    for image in images:
        if target is TargetKind.KUSTOMIZATION:
            written = [image.kustomize_name]
        else:
            written = [key for key in (image.helm.spec, image.helm.name, image.helm.tag) if key]
        for key in written:
            if key in seen:
                what = (
                    "kustomization images entry"
                    if target is TargetKind.KUSTOMIZATION
                    else "values key"
                )
                raise fail(
                    f"{PREFIX}{image.alias.replace('/', '_') or '<alias>'}."
                    f"{'kustomize.image-name' if target is TargetKind.KUSTOMIZATION else 'helm.*'}",
                    f"{image.key!r} and {seen[key]!r} would both set the {what} {key!r}: "
                    "give each its own",
                )
            seen[key] = image.key


def image_configs(
    ours: Mapping[str, str], app_name: str, namespace: str, target: TargetKind
) -> tuple[ImageConfig, ...]:
    """The images of ``image-list`` with their options (``ours``: every annotation under the
    prefix, values stripped), for a write-back target; refuses any other annotation."""
    entries = _image_list(ours[names.IMAGE_UPDATER_IMAGE_LIST])
    app_wide, per_alias = _options(ours, entries)
    images = tuple(
        _image_config(
            entry,
            app_wide,
            per_alias.get(entry.option_name, {}) if entry.alias else {},
            target,
            PolicyRef(namespace, name),
        )
        for entry, name in zip(entries, _policy_names(app_name, entries), strict=True)
    )
    _check_clashes(images, target)
    return images
