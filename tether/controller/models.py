"""Typed, validated views of an Argo CD ``Application`` for the controller.

:func:`parse_application` reads the object as the API server stores it (a dict) and returns frozen
dataclasses with Argo CD's defaults filled in. A spec Argo CD would refuse raises
:class:`InvalidSpecError` whose message names the field, so the controller can put it in an
``InvalidSpecError`` condition as it is. Kubernetes objects stay dicts: the source's tool options
(``directory``, ``kustomize``, ``helm``, ``plugin``) are kept raw for the render stage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from tether.engine.ignore import IgnoreRule, IgnoreRuleError
from tether.fields import FieldReader, InvalidSpecError, parse_duration
from tether.names import (
    ARGO_API_VERSION,
    BACKGROUND_RESOURCES_FINALIZER,
    DEFAULT_PROJECT,
    REFRESH_ANNOTATION,
    RESOURCES_FINALIZER,
)

API_VERSION = ARGO_API_VERSION
DEFAULT_PROJECT_NAME = DEFAULT_PROJECT
DEFAULT_REVISION_HISTORY_LIMIT = 10

RefreshType = Literal["normal", "hard"]
SyncStrategy = Literal["apply", "hook"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SYNC_OPTION_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
# Options whose values Argo CD checks; any other key is passed through (Argo CD ignores unknown
# options rather than failing, and so does Tether).
_SYNC_OPTION_VALUES: dict[str, frozenset[str]] = {
    "Validate": frozenset({"true", "false"}),
    "CreateNamespace": frozenset({"true", "false"}),
    "ServerSideApply": frozenset({"true", "false"}),
    "ClientSideApplyMigration": frozenset({"true", "false"}),
    "PruneLast": frozenset({"true", "false"}),
    "Prune": frozenset({"true", "false", "confirm"}),
    "Delete": frozenset({"true", "false", "confirm"}),
    "Replace": frozenset({"true", "false"}),
    "Force": frozenset({"true", "false"}),
    "ApplyOutOfSyncOnly": frozenset({"true", "false"}),
    "RespectIgnoreDifferences": frozenset({"true", "false"}),
    "PrunePropagationPolicy": frozenset({"foreground", "background", "orphan"}),
    "SkipDryRunOnMissingResource": frozenset({"true", "false"}),
    "FailOnSharedResource": frozenset({"true", "false"}),
}


def _seconds(value: Any, where: str) -> float:
    """A backoff duration: Go syntax, or a plain number of seconds as Argo CD also accepts."""
    if isinstance(value, bool):
        raise InvalidSpecError(f"{where} must be a duration such as 5s or 3m")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if re.fullmatch(r"\s*\d+\s*", value):
            return float(value)
        try:
            return parse_duration(value)
        except InvalidSpecError:
            raise InvalidSpecError(
                f'{where}: invalid duration "{value}" (use a number of seconds or 5s, 3m, 1h30m)'
            ) from None
    raise InvalidSpecError(f"{where} must be a duration such as 5s or 3m")


def _is_zero(value: Any) -> bool:
    """Whether an option block says nothing (Argo CD treats ``directory: {jsonnet: {}}`` as unset)."""
    if isinstance(value, Mapping):
        return all(_is_zero(v) for v in value.values())
    if isinstance(value, list):
        return not value
    return value in (None, False, "", 0)


# ---- spec --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppSource:
    """One source: where the manifests are and which tool renders them."""

    repo_url: str
    target_revision: str = "HEAD"
    path: str | None = None
    chart: str | None = None
    #: multi-source only: the name other sources use as ``$ref`` in Helm value files
    ref: str | None = None
    name: str | None = None
    directory: dict[str, Any] | None = None
    kustomize: dict[str, Any] | None = None
    helm: dict[str, Any] | None = None
    plugin: dict[str, Any] | None = None
    #: the source exactly as written, which is what the render stage takes
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def explicit_tool(self) -> str | None:
        """``Directory``, ``Kustomize``, ``Helm`` or ``Plugin`` when the spec names one."""
        for name, options in (
            ("Directory", self.directory),
            ("Kustomize", self.kustomize),
            ("Helm", self.helm),
            ("Plugin", self.plugin),
        ):
            if options is not None and not _is_zero(options):
                return name
        return None


@dataclass(frozen=True)
class Destination:
    """The cluster (by API server URL or by registered name) and the default namespace."""

    server: str | None = None
    name: str | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class Automated:
    """``syncPolicy.automated``: present means on unless ``enabled: false``."""

    enabled: bool = True
    prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    """How failed syncs are retried. ``limit`` 0 never retries, a negative one retries forever."""

    limit: int = 0
    #: seconds before the first retry
    backoff_duration: float = 5.0
    backoff_factor: float = 2.0
    #: upper bound of one wait, in seconds
    backoff_max_duration: float = 180.0
    #: retry against the newest revision instead of the one the sync started with
    refresh: bool = False

    def allows(self, retries_done: int) -> bool:
        """Whether another retry may follow ``retries_done`` retries."""
        return self.limit < 0 or retries_done < self.limit

    def delay(self, retries_done: int) -> float:
        """Seconds to wait before the retry that follows ``retries_done`` retries."""
        wait = self.backoff_duration * self.backoff_factor**retries_done
        return min(wait, self.backoff_max_duration)


@dataclass(frozen=True)
class SyncPolicy:
    """``spec.syncPolicy``."""

    automated: Automated | None = None
    sync_options: tuple[str, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    managed_namespace_metadata: dict[str, Any] | None = None

    @property
    def is_automated(self) -> bool:
        return self.automated is not None and self.automated.enabled

    def option(self, key: str) -> str | None:
        """The value of sync option ``key`` (the last one written wins), or None."""
        return sync_option(self.sync_options, key)


@dataclass(frozen=True)
class InfoItem:
    name: str
    value: str


@dataclass(frozen=True)
class AppSpec:
    """``spec`` of an Application."""

    destination: Destination
    project: str = DEFAULT_PROJECT_NAME
    source: AppSource | None = None
    #: multi-source applications (``spec.sources``; ``source`` is then None)
    sources: tuple[AppSource, ...] = ()
    #: ``spec.sourceHydrator`` as written (parsed only)
    source_hydrator: dict[str, Any] | None = None
    sync_policy: SyncPolicy = field(default_factory=SyncPolicy)
    ignore_differences: tuple[dict[str, Any], ...] = ()
    revision_history_limit: int = DEFAULT_REVISION_HISTORY_LIMIT
    info: tuple[InfoItem, ...] = ()

    @property
    def has_multiple_sources(self) -> bool:
        return bool(self.sources)

    @property
    def all_sources(self) -> tuple[AppSource, ...]:
        """``spec.sources``, or the one ``spec.source`` (empty: neither)."""
        if self.sources:
            return self.sources
        return (self.source,) if self.source is not None else ()


class ResourceRef(NamedTuple):
    """One resource of a selective sync: ``(group, kind, namespace, name)``."""

    group: str
    kind: str
    namespace: str
    name: str


@dataclass(frozen=True)
class SyncOperation:
    """``operation.sync``: a manual sync (or a rollback, which also sets ``source``)."""

    revision: str | None = None
    prune: bool = False
    dry_run: bool = False
    #: empty means every resource of the application
    resources: tuple[ResourceRef, ...] = ()
    sync_options: tuple[str, ...] = ()
    sync_strategy: SyncStrategy = "hook"
    force: bool = False
    #: manifests given inline instead of rendering the source (``argocd app sync --local``)
    manifests: tuple[str, ...] = ()
    #: a rollback's source, overriding ``spec.source``
    source: AppSource | None = None
    revisions: tuple[str, ...] = ()

    def option(self, key: str) -> str | None:
        return sync_option(self.sync_options, key)


@dataclass(frozen=True)
class InitiatedBy:
    username: str = ""
    automated: bool = False


@dataclass(frozen=True)
class Operation:
    """``operation``: how a sync is requested, as in Argo CD."""

    sync: SyncOperation
    initiated_by: InitiatedBy = field(default_factory=InitiatedBy)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    info: tuple[InfoItem, ...] = ()


@dataclass(frozen=True)
class Application:
    """An Application as the controller needs it."""

    name: str
    namespace: str
    spec: AppSpec
    uid: str = ""
    generation: int = 0
    resource_version: str = ""
    operation: Operation | None = None
    finalizers: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict, compare=False)
    labels: dict[str, str] = field(default_factory=dict, compare=False)
    #: the ``argocd.argoproj.io/refresh`` annotation, when a refresh was requested
    refresh: RefreshType | None = None
    #: set once a delete was requested; the finalizers then decide what happens
    deletion_timestamp: str | None = None
    status: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def deleting(self) -> bool:
        return self.deletion_timestamp is not None

    @property
    def cascade_delete(self) -> bool:
        """Whether deleting the Application must delete its resources first."""
        return (
            RESOURCES_FINALIZER in self.finalizers
            or BACKGROUND_RESOURCES_FINALIZER in self.finalizers
        )


# ---- parsing -----------------------------------------------------------------------------------


def sync_option(options: tuple[str, ...], key: str) -> str | None:
    """The value of ``key`` in ``Key=Value`` sync options (last wins), or None."""
    found: str | None = None
    for option in options:
        name, sep, value = option.partition("=")
        if sep and name.strip() == key:
            found = value.strip()
    return found


def _check_sync_options(options: tuple[str, ...], where: str) -> None:
    for i, option in enumerate(options):
        key, sep, value = (part.strip() for part in option.partition("="))
        if not sep or not _SYNC_OPTION_KEY.match(key) or not value:
            raise InvalidSpecError(
                f'{where}[{i}]: sync option "{option}" is not in the form Key=Value '
                "(e.g. CreateNamespace=true)"
            )
        allowed = _SYNC_OPTION_VALUES.get(key)
        if allowed is not None and value.lower() not in allowed:
            raise InvalidSpecError(
                f'{where}[{i}]: invalid value "{value}" for sync option {key} '
                f"(one of {', '.join(sorted(allowed))})"
            )


def _parse_source(reader: FieldReader) -> AppSource:
    repo_url = reader.string("repoURL")
    if not repo_url or not repo_url.strip():
        raise InvalidSpecError(f"{reader.at('repoURL')} is required")
    source = AppSource(
        repo_url=repo_url.strip(),
        target_revision=reader.string("targetRevision") or "HEAD",
        path=reader.string("path"),
        chart=reader.string("chart"),
        ref=reader.string("ref"),
        name=reader.string("name"),
        directory=reader.mapping("directory"),
        kustomize=reader.mapping("kustomize"),
        helm=reader.mapping("helm"),
        plugin=reader.mapping("plugin"),
        raw=dict(reader.obj),
    )
    tools = [
        name
        for name, options in (
            ("Directory", source.directory),
            ("Kustomize", source.kustomize),
            ("Helm", source.helm),
            ("Plugin", source.plugin),
        )
        if options is not None and not _is_zero(options)
    ]
    if len(tools) > 1:
        raise InvalidSpecError(
            f"{reader.path}: multiple application sources defined: {','.join(tools)}"
        )
    return source


def _parse_destination(reader: FieldReader) -> Destination:
    server = reader.string("server") or None
    name = reader.string("name") or None
    namespace = reader.string("namespace") or None
    if server is None and name is None:
        raise InvalidSpecError("spec.destination.server or spec.destination.name is required")
    if server is not None and name is not None:
        raise InvalidSpecError(
            f"application destination can't have both name and server defined: {name} {server}"
        )
    if namespace is not None and (len(namespace) > 63 or not _DNS_LABEL.match(namespace)):
        raise InvalidSpecError(
            f'spec.destination.namespace: "{namespace}" is not a valid namespace name (lowercase '
            "letters, digits and '-', starting and ending with a letter or digit, at most 63)"
        )
    return Destination(
        server=server.rstrip("/") if server else None, name=name, namespace=namespace
    )


def _parse_retry(reader: FieldReader | None) -> RetryPolicy:
    if reader is None:
        return RetryPolicy()
    backoff = reader.child("backoff") or FieldReader({}, reader.at("backoff"))
    defaults = RetryPolicy()
    factor = backoff.obj.get("factor")
    if factor is None:
        factor = defaults.backoff_factor
    elif isinstance(factor, bool) or not isinstance(factor, int | float) or factor < 1:
        raise InvalidSpecError(f"{backoff.at('factor')} must be a number of at least 1")
    duration = backoff.obj.get("duration")
    max_duration = backoff.obj.get("maxDuration")
    policy = RetryPolicy(
        limit=reader.integer("limit", 0),
        backoff_duration=(
            defaults.backoff_duration
            if duration is None
            else _seconds(duration, backoff.at("duration"))
        ),
        backoff_factor=float(factor),
        backoff_max_duration=(
            defaults.backoff_max_duration
            if max_duration is None
            else _seconds(max_duration, backoff.at("maxDuration"))
        ),
        refresh=reader.boolean("refresh"),
    )
    if policy.backoff_duration < 0 or policy.backoff_max_duration < 0:
        raise InvalidSpecError(f"{backoff.path}: durations may not be negative")
    return policy


def _parse_sync_policy(reader: FieldReader | None) -> SyncPolicy:
    if reader is None:
        return SyncPolicy()
    automated_reader = reader.child("automated")
    automated = None
    if automated_reader is not None:
        enabled = automated_reader.obj.get("enabled")
        automated = Automated(
            # Argo CD: a missing `enabled` means on; only an explicit false turns it off.
            enabled=True if enabled is None else automated_reader.boolean("enabled"),
            prune=automated_reader.boolean("prune"),
            self_heal=automated_reader.boolean("selfHeal"),
            allow_empty=automated_reader.boolean("allowEmpty"),
        )
    options = reader.strings("syncOptions")
    _check_sync_options(options, reader.at("syncOptions"))
    return SyncPolicy(
        automated=automated,
        sync_options=options,
        retry=_parse_retry(reader.child("retry")),
        managed_namespace_metadata=reader.mapping("managedNamespaceMetadata"),
    )


def _parse_info(reader: FieldReader, key: str) -> tuple[InfoItem, ...]:
    items = []
    for item in reader.objects(key):
        name, value = item.string("name"), item.string("value")
        if name is None or value is None:
            raise InvalidSpecError(f"{item.path}: name and value are required")
        items.append(InfoItem(name, value))
    return tuple(items)


def _parse_ignore_differences(reader: FieldReader) -> tuple[dict[str, Any], ...]:
    rules = []
    for rule in reader.objects("ignoreDifferences"):
        if not rule.string("kind"):
            raise InvalidSpecError(f"{rule.at('kind')} is required")
        for key in ("jsonPointers", "jqPathExpressions", "managedFieldsManagers"):
            rule.strings(key)
        try:
            # compiles every jq expression (bounded, in a worker), so a bad one fails here
            IgnoreRule.from_spec(rule.obj, where=rule.path)
        except IgnoreRuleError as error:
            raise InvalidSpecError(error.message) from None
        rules.append(dict(rule.obj))
    return tuple(rules)


def parse_spec(spec: Any) -> AppSpec:
    """``spec`` of an Application (a dict) as an :class:`AppSpec`; raises InvalidSpecError."""
    if spec is None:
        raise InvalidSpecError("spec is required")
    reader = FieldReader(spec, "spec")
    source_reader = reader.child("source")
    sources = tuple(_parse_source(s) for s in reader.objects("sources"))
    hydrator = reader.mapping("sourceHydrator")
    if source_reader is not None and sources:
        raise InvalidSpecError("both spec.source and spec.sources are set; use one of them")
    if source_reader is None and not sources and hydrator is None:
        raise InvalidSpecError("spec.source or spec.sources is required")
    destination = reader.child("destination")
    if destination is None:
        raise InvalidSpecError("spec.destination is required")
    limit = reader.integer("revisionHistoryLimit", DEFAULT_REVISION_HISTORY_LIMIT)
    if limit < 0:
        raise InvalidSpecError("spec.revisionHistoryLimit may not be negative")
    return AppSpec(
        destination=_parse_destination(destination),
        project=reader.string("project") or DEFAULT_PROJECT_NAME,
        source=_parse_source(source_reader) if source_reader is not None else None,
        sources=sources,
        source_hydrator=hydrator,
        sync_policy=_parse_sync_policy(reader.child("syncPolicy")),
        ignore_differences=_parse_ignore_differences(reader),
        revision_history_limit=limit,
        info=_parse_info(reader, "info"),
    )


def parse_operation(value: Any) -> Operation | None:
    """``operation`` of an Application (or a recorded ``operationState.operation``), if any."""
    if value is None:
        return None
    reader = FieldReader(value, "operation")
    sync = reader.child("sync")
    if sync is None:
        raise InvalidSpecError("operation.sync is required (the only operation is a sync)")
    resources = []
    for item in sync.objects("resources"):
        kind, name = item.string("kind"), item.string("name")
        if not kind or not name:
            raise InvalidSpecError(f"{item.path}: kind and name are required")
        resources.append(
            ResourceRef(item.string("group") or "", kind, item.string("namespace") or "", name)
        )
    strategy: SyncStrategy = "hook"
    force = False
    strategy_reader = sync.child("syncStrategy")
    if strategy_reader is not None:
        # Argo CD: `apply` runs a plain apply without hooks; `hook` (the default) runs hooks.
        chosen = [s for s in ("apply", "hook") if strategy_reader.obj.get(s) is not None]
        if len(chosen) > 1:
            raise InvalidSpecError(f"{strategy_reader.path}: set only one of apply and hook")
        if chosen:
            strategy = "apply" if chosen[0] == "apply" else "hook"
            force = FieldReader(
                strategy_reader.obj[chosen[0]], strategy_reader.at(chosen[0])
            ).boolean("force")
    options = sync.strings("syncOptions")
    _check_sync_options(options, sync.at("syncOptions"))
    source_reader = sync.child("source")
    initiated = reader.child("initiatedBy") or FieldReader({}, "operation.initiatedBy")
    return Operation(
        sync=SyncOperation(
            revision=sync.string("revision") or None,
            prune=sync.boolean("prune"),
            dry_run=sync.boolean("dryRun"),
            resources=tuple(resources),
            sync_options=options,
            sync_strategy=strategy,
            force=force,
            manifests=sync.strings("manifests"),
            source=_parse_source(source_reader) if source_reader is not None else None,
            revisions=sync.strings("revisions"),
        ),
        initiated_by=InitiatedBy(
            username=initiated.string("username") or "",
            automated=initiated.boolean("automated"),
        ),
        retry=_parse_retry(reader.child("retry")),
        info=_parse_info(reader, "info"),
    )


def parse_application(obj: Mapping[str, Any]) -> Application:
    """An ``argoproj.io/v1alpha1`` Application dict as an :class:`Application`.

    Raises :class:`InvalidSpecError` with an Argo CD-like message naming the field when the
    object is not a valid Application.
    """
    if not isinstance(obj, Mapping):
        raise InvalidSpecError("an Application must be an object")
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version not in (None, API_VERSION) or kind not in (None, "Application"):
        raise InvalidSpecError(f"expected an {API_VERSION} Application, got {api_version} {kind}")
    meta = FieldReader(obj.get("metadata"), "metadata")
    name = meta.string("name")
    if not name:
        raise InvalidSpecError("metadata.name is required")
    annotations = {str(k): str(v) for k, v in (meta.mapping("annotations") or {}).items()}
    labels = {str(k): str(v) for k, v in (meta.mapping("labels") or {}).items()}
    refresh: RefreshType | None = None
    if REFRESH_ANNOTATION in annotations:
        # Argo CD treats any value but "hard" as a normal refresh.
        refresh = "hard" if annotations[REFRESH_ANNOTATION].strip() == "hard" else "normal"
    generation = meta.obj.get("generation") or 0
    status = obj.get("status")
    return Application(
        name=name,
        namespace=meta.string("namespace") or "",
        spec=parse_spec(obj.get("spec")),
        uid=meta.string("uid") or "",
        generation=generation if isinstance(generation, int) else 0,
        resource_version=meta.string("resourceVersion") or "",
        operation=parse_operation(obj.get("operation")),
        finalizers=meta.strings("finalizers"),
        annotations=annotations,
        labels=labels,
        refresh=refresh,
        deletion_timestamp=meta.string("deletionTimestamp"),
        status=dict(status) if isinstance(status, Mapping) else {},
    )


# The controller's first draft imported the private spelling; keep it working.
_parse_operation = parse_operation
