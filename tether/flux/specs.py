"""Typed, validated views of Flux's ``GitRepository`` and ``Kustomization`` specs.

Fields, defaults and precedences follow Flux (``source.toolkit.fluxcd.io/v1``,
``kustomize.toolkit.fluxcd.io/v1``; shared/reference/flux-and-secrets.md §1.1 and 1.2). A spec Flux
would refuse raises :class:`~tether.fields.InvalidSpecError` naming the field; a field Flux
accepts that Tether does not do yet raises :class:`Unsupported`, so the object says so in its
``Ready`` condition instead of being reconciled differently from Flux. The Kustomization's build
options (``targetNamespace``, ``patches``, ``images``...) are read by
:mod:`tether.flux.kustomizations`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tether.fields import FieldReader, InvalidSpecError
from tether.flux.cel import CelError, Program, compile_expr

#: the ref Flux checks out when ``spec.ref`` is absent
DEFAULT_BRANCH = "master"
#: Flux's default Git operation timeout
DEFAULT_GIT_TIMEOUT = 60.0
#: the shortest timeout Flux gives a Kustomization when it derives one from the interval
MIN_KUSTOMIZATION_TIMEOUT = 30.0
MAX_DEPENDENCIES = 100
MAX_HEALTH_CHECKS = 1000
MAX_VARIABLES = 1000

DeletionPolicy = Literal["MirrorPrune", "Delete", "WaitForTermination", "Orphan"]
DELETION_POLICIES: tuple[str, ...] = ("MirrorPrune", "Delete", "WaitForTermination", "Orphan")
#: source kinds a Kustomization may name, as Flux's CRD enumerates them
SOURCE_KINDS: tuple[str, ...] = ("GitRepository", "OCIRepository", "Bucket", "ExternalArtifact")
#: the kinds Tether reads as sources so far
SUPPORTED_SOURCE_KINDS: tuple[str, ...] = ("GitRepository", "OCIRepository", "ExternalArtifact")

_URL = re.compile(r"^(http|https|ssh)://\S+$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_VARIABLE = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")


class Unsupported(InvalidSpecError):
    """A field Flux accepts and Tether does not carry out (yet); the message names it."""


class InvalidExpression(InvalidSpecError):
    """A CEL expression of the spec that cannot be parsed (Flux's ``InvalidCELExpression``)."""


@dataclass(frozen=True)
class HealthExpr:
    """One ``healthCheckExprs`` entry: how objects of one apiVersion and kind report."""

    api_version: str
    kind: str
    current: Program
    in_progress: Program | None
    failed: Program | None


# ---- GitRepository -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GitRef:
    """``spec.ref``: the one reference that wins under Flux's precedence."""

    kind: Literal["branch", "tag", "semver", "name", "commit"]
    value: str
    #: the branch a ``commit`` is looked up on (Flux clones that branch), if given
    branch: str | None = None

    @property
    def pointer(self) -> str | None:
        """The named pointer of Flux's revision string (``main`` in ``main@sha1:…``); a bare
        commit has none."""
        if self.kind == "commit":
            return self.branch
        if self.kind == "name":
            return self.value
        if self.kind == "semver":
            return None  # the tag that satisfied the range names the revision
        return self.value


@dataclass(frozen=True)
class GitRepositorySpec:
    url: str
    ref: GitRef
    interval: float
    timeout: float
    secret_ref: str | None
    ignore: str | None
    suspend: bool
    includes: tuple[GitInclude, ...] = ()


#: ``spec.include`` entries of one GitRepository
MAX_INCLUDES = 32


@dataclass(frozen=True)
class GitInclude:
    """``spec.include[]``: the artifact of the GitRepository ``name`` (same namespace), its
    folder ``from_path`` ("": all of it) placed at ``to_path`` of this one's."""

    name: str
    from_path: str
    to_path: str


def _include_path(reader: FieldReader, key: str, default: str) -> str:
    """A relative path that stays inside the artifact, normalised ("" for its root)."""
    text = (reader.string(key) or "").strip()
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if text.startswith("/") or ".." in parts:
        raise InvalidSpecError(f"{reader.at(key)}: {text[:200]!r} must stay inside the artifact")
    return "/".join(parts) if parts else default


def _parse_includes(reader: FieldReader) -> tuple[GitInclude, ...]:
    entries = reader.obj.get("include") or []
    if not isinstance(entries, list) or len(entries) > MAX_INCLUDES:
        raise InvalidSpecError(f"spec.include must be a list of at most {MAX_INCLUDES}")
    includes = []
    for index, item in enumerate(entries):
        entry = FieldReader(item, f"spec.include[{index}]")
        repository = entry.child("repository")
        if repository is None:
            raise InvalidSpecError(f"{entry.at('repository')} is required")
        name = required_string(repository, "name")
        to_path = _include_path(entry, "toPath", name)
        includes.append(GitInclude(name, _include_path(entry, "fromPath", ""), to_path))
    return tuple(includes)


def parse_git_repository(spec: Any) -> GitRepositorySpec:
    reader = FieldReader(spec, "spec")
    url = required_string(reader, "url")
    if not _URL.match(url):
        raise InvalidSpecError(
            f"spec.url: {url!r} is not an http, https or ssh URL (Flux does not take the "
            "scp-like user@host:path form)"
        )
    for key, what in (
        ("verify", "commit signature verification"),
        ("proxySecretRef", "a proxy"),
        ("sparseCheckout", "sparse checkouts"),
    ):
        if reader.obj.get(key):
            raise Unsupported(f"spec.{key}: {what} is not supported by Tether yet")
    if reader.boolean("recurseSubmodules"):
        raise Unsupported("spec.recurseSubmodules: Git submodules are not supported by Tether yet")
    provider = reader.string("provider", "generic")
    if provider != "generic":
        raise Unsupported(f"spec.provider: {provider!r} is not supported by Tether yet")
    secret = reader.child("secretRef")
    return GitRepositorySpec(
        url=url,
        ref=_parse_ref(reader.child("ref")),
        interval=required_duration(reader, "interval"),
        timeout=reader.duration("timeout", DEFAULT_GIT_TIMEOUT) or DEFAULT_GIT_TIMEOUT,
        secret_ref=required_string(secret, "name") if secret is not None else None,
        ignore=reader.string("ignore"),
        suspend=reader.boolean("suspend"),
        includes=_parse_includes(reader),
    )


def _parse_ref(reader: FieldReader | None) -> GitRef:
    if reader is None:
        return GitRef("branch", DEFAULT_BRANCH)
    branch = reader.string("branch") or None
    # later fields win, as in Flux: branch < tag < semver < name < commit
    if commit := reader.string("commit"):
        if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
            raise InvalidSpecError(f"{reader.at('commit')}: {commit!r} is not a full commit SHA")
        return GitRef("commit", commit, branch)
    for kind in ("name", "semver", "tag"):
        if value := reader.string(kind):
            return GitRef(kind, value)
    return GitRef("branch", branch or DEFAULT_BRANCH)


# ---- Kustomization -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectRef:
    kind: str
    name: str
    namespace: str
    api_version: str | None = None
    #: ``dependsOn[].readyExpr``: when the dependency counts as ready (CEL over ``dep`` and
    #: ``self``) instead of its Ready condition
    ready_expr: Program | None = None


def source_ref_of(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """The source a Kustomization (``sourceRef``) or a HelmRelease (``chartRef``, or its
    ``chart.spec.sourceRef``) reads, as written; empty when it names none."""
    ref = (
        spec.get("sourceRef")
        or spec.get("chartRef")
        or ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef")
    )
    return ref if isinstance(ref, Mapping) else {}


def ready_expr(entry: FieldReader) -> Program | None:
    """A ``dependsOn`` entry's ``readyExpr``, parsed (:class:`InvalidExpression` names where
    it does not parse)."""
    text = entry.string("readyExpr")
    if not text:
        return None
    try:
        return compile_expr(text)
    except CelError as exc:
        raise InvalidExpression(
            f"{entry.at('readyExpr')}: invalid CEL expression: {exc.message}"
        ) from None


@dataclass(frozen=True)
class KubeConfigRef:
    """``spec.kubeConfig.secretRef``: the Secret (of the object's namespace) holding the
    kubeconfig of the cluster to deploy to, and its key (None: ``value``, else ``value.yaml``)."""

    secret: str
    key: str | None


def parse_kube_config(reader: FieldReader) -> KubeConfigRef | None:
    kube = reader.child("kubeConfig")
    if kube is None or not kube.obj:
        return None
    if kube.obj.get("configMapRef"):
        raise Unsupported("spec.kubeConfig.configMapRef: cloud provider credentials are not "
                          "supported by Tether yet; use secretRef")  # fmt: skip
    secret = kube.child("secretRef")
    if secret is None:
        raise InvalidSpecError("spec.kubeConfig.secretRef is required")
    return KubeConfigRef(
        valid_name(required_string(secret, "name"), secret.at("name")), secret.string("key") or None
    )


@dataclass(frozen=True)
class VarsFrom:
    """One ``postBuild.substituteFrom`` entry."""

    kind: Literal["ConfigMap", "Secret"]
    name: str
    optional: bool


@dataclass(frozen=True)
class KustomizationSpec:
    source: ObjectRef
    path: str
    interval: float
    retry_interval: float
    timeout: float
    prune: bool
    wait: bool
    force: bool
    suspend: bool
    health_checks: tuple[ObjectRef, ...]
    depends_on: tuple[ObjectRef, ...]
    service_account: str | None
    deletion_policy: str
    #: whether ``postBuild`` is set at all (no postBuild: no substitution)
    post_build: bool
    substitute: Mapping[str, str]
    substitute_from: tuple[VarsFrom, ...]
    #: ``postBuild.substituteStrategy: Always``: substitute even without any variable
    substitute_always: bool
    decryption_secret: str | None
    decrypt: bool
    health_check_exprs: tuple[HealthExpr, ...] = ()
    kube_config: KubeConfigRef | None = None


def parse_kustomization(spec: Any, namespace: str) -> KustomizationSpec:
    """``spec`` of a Kustomization living in ``namespace`` (the default of every reference)."""
    reader = FieldReader(spec, "spec")
    interval = required_duration(reader, "interval")
    if "prune" not in reader.obj:
        raise InvalidSpecError("spec.prune is required (true or false)")
    timeout = reader.duration("timeout")
    if timeout is None:
        timeout = max(interval - MIN_KUSTOMIZATION_TIMEOUT, MIN_KUSTOMIZATION_TIMEOUT)
    deletion_policy = reader.string("deletionPolicy", "MirrorPrune") or "MirrorPrune"
    if deletion_policy not in DELETION_POLICIES:
        raise InvalidSpecError(
            f"spec.deletionPolicy: {deletion_policy!r} is not one of {', '.join(DELETION_POLICIES)}"
        )
    decrypt, decryption_secret = _parse_decryption(reader.child("decryption"))
    post_build = reader.child("postBuild")
    substitute, substitute_from = _parse_post_build(post_build)
    strategy = (post_build.string("substituteStrategy") if post_build else None) or "WithVariables"
    if strategy not in ("WithVariables", "Always"):
        raise InvalidSpecError(
            f"spec.postBuild.substituteStrategy: {strategy!r} is not WithVariables or Always"
        )
    service_account = reader.string("serviceAccountName") or None
    return KustomizationSpec(
        source=_parse_source_ref(reader, namespace),
        path=_parse_path(reader.string("path", "") or ""),
        interval=interval,
        retry_interval=reader.duration("retryInterval", interval) or interval,
        timeout=timeout,
        prune=reader.boolean("prune"),
        wait=reader.boolean("wait"),
        force=reader.boolean("force"),
        suspend=reader.boolean("suspend"),
        health_checks=_parse_health_checks(reader, namespace),
        depends_on=parse_depends_on(reader, namespace),
        service_account=valid_name(service_account, "spec.serviceAccountName")
        if service_account
        else None,
        deletion_policy=deletion_policy,
        post_build=post_build is not None,
        substitute=substitute,
        substitute_from=substitute_from,
        substitute_always=strategy == "Always",
        decryption_secret=decryption_secret,
        decrypt=decrypt,
        health_check_exprs=_parse_health_exprs(reader),
        kube_config=parse_kube_config(reader),
    )


def _parse_source_ref(reader: FieldReader, namespace: str) -> ObjectRef:
    ref = reader.child("sourceRef")
    if ref is None:
        raise InvalidSpecError("spec.sourceRef is required")
    kind = required_string(ref, "kind")
    if kind not in SOURCE_KINDS:
        raise InvalidSpecError(
            f"spec.sourceRef.kind: {kind!r} is not one of {', '.join(SOURCE_KINDS)}"
        )
    if kind not in SUPPORTED_SOURCE_KINDS:
        raise Unsupported(f"spec.sourceRef.kind: {kind} sources are not supported by Tether yet")
    return ObjectRef(
        kind=kind,
        name=valid_name(required_string(ref, "name"), ref.at("name")),
        namespace=valid_name(ref.string("namespace") or namespace, ref.at("namespace")),
        api_version=ref.string("apiVersion"),
    )


def _parse_path(path: str) -> str:
    """The folder in the source, relative and normalised (``./apps/x`` → ``apps/x``; root: "").

    As Flux's secure join: ``..`` never climbs above the source's root (``../x`` is ``x``)."""
    parts: list[str] = []
    for part in path.replace("\\", "/").split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def parse_depends_on(
    reader: FieldReader, namespace: str, kind: str = "Kustomization"
) -> tuple[ObjectRef, ...]:
    """``spec.dependsOn``: objects of ``kind`` (the object's own), each with its ``readyExpr``."""
    entries = reader.objects("dependsOn")
    if len(entries) > MAX_DEPENDENCIES:
        raise InvalidSpecError(f"spec.dependsOn: more than {MAX_DEPENDENCIES} dependencies")
    refs = []
    for entry in entries:
        refs.append(
            ObjectRef(
                kind=kind,
                name=valid_name(required_string(entry, "name"), entry.at("name")),
                namespace=valid_name(entry.string("namespace") or namespace, entry.at("namespace")),
                ready_expr=ready_expr(entry),
            )
        )
    return tuple(refs)


def _parse_health_checks(reader: FieldReader, namespace: str) -> tuple[ObjectRef, ...]:
    entries = reader.objects("healthChecks")
    if len(entries) > MAX_HEALTH_CHECKS:
        raise InvalidSpecError(f"spec.healthChecks: more than {MAX_HEALTH_CHECKS} entries")
    return tuple(
        ObjectRef(
            kind=required_string(entry, "kind"),
            name=required_string(entry, "name"),
            namespace=entry.string("namespace") or namespace,
            api_version=entry.string("apiVersion"),
        )
        for entry in entries
    )


def _parse_health_exprs(reader: FieldReader) -> tuple[HealthExpr, ...]:
    entries = reader.objects("healthCheckExprs")
    if len(entries) > MAX_HEALTH_CHECKS:
        raise InvalidSpecError(f"spec.healthCheckExprs: more than {MAX_HEALTH_CHECKS} entries")
    found = []
    for entry in entries:
        programs: dict[str, Program | None] = {}
        for key in ("current", "inProgress", "failed"):
            text = entry.string(key)
            if not text:
                if key == "current":
                    raise InvalidSpecError(f"{entry.at('current')} is required")
                programs[key] = None
                continue
            try:
                programs[key] = compile_expr(text)
            except CelError as exc:
                raise InvalidExpression(
                    f"{entry.at(key)}: invalid CEL expression: {exc.message}"
                ) from None
        current = programs["current"]
        assert current is not None
        found.append(HealthExpr(required_string(entry, "apiVersion"), required_string(entry, "kind"),
                                current, programs["inProgress"], programs["failed"]))  # fmt: skip
    return tuple(found)


def _parse_post_build(reader: FieldReader | None) -> tuple[dict[str, str], tuple[VarsFrom, ...]]:
    if reader is None:
        return {}, ()
    substitute: dict[str, str] = {}
    for key, value in (reader.mapping("substitute") or {}).items():
        if not _VARIABLE.match(str(key)):
            raise InvalidSpecError(
                f"spec.postBuild.substitute: {key!r} is not a valid variable name "
                "(letters, digits and _, not starting with a digit)"
            )
        if not isinstance(value, str):
            raise InvalidSpecError(f"spec.postBuild.substitute.{key} must be a string")
        substitute[str(key)] = value
    if len(substitute) > MAX_VARIABLES:
        raise InvalidSpecError(f"spec.postBuild.substitute: more than {MAX_VARIABLES} variables")
    sources = []
    for entry in reader.objects("substituteFrom"):
        kind = required_string(entry, "kind")
        if kind not in ("ConfigMap", "Secret"):
            raise InvalidSpecError(f"{entry.at('kind')}: {kind!r} is not ConfigMap or Secret")
        name = valid_name(required_string(entry, "name"), entry.at("name"))
        sources.append(VarsFrom(kind, name, entry.boolean("optional")))  # type: ignore[arg-type]
    return substitute, tuple(sources)


def _parse_decryption(reader: FieldReader | None) -> tuple[bool, str | None]:
    if reader is None:
        return False, None
    provider = required_string(reader, "provider")
    if provider != "sops":
        raise InvalidSpecError(f"spec.decryption.provider: {provider!r} is not sops")
    secret = reader.child("secretRef")
    return True, (required_string(secret, "name") if secret is not None else None)


# ---- fields ------------------------------------------------------------------------------------


def required_string(reader: FieldReader, key: str) -> str:
    value = reader.string(key)
    if not value:
        raise InvalidSpecError(f"{reader.at(key)} is required")
    return value


def required_duration(reader: FieldReader, key: str) -> float:
    value = reader.duration(key)
    if value is None:
        raise InvalidSpecError(f"{reader.at(key)} is required (a duration such as 5m)")
    if value <= 0:
        raise InvalidSpecError(f"{reader.at(key)} must be longer than 0s")
    return value


def valid_name(value: str, where: str) -> str:
    if len(value) > 253 or not _NAME.match(value):
        raise InvalidSpecError(f"{where}: {value!r} is not a valid Kubernetes name")
    return value
