"""Typed, validated views of Flux's ``HelmRepository`` and ``HelmRelease`` specs.

Fields, defaults and names follow ``source.toolkit.fluxcd.io/v1`` and ``helm.toolkit.fluxcd.io/v2``.
A spec Flux would refuse raises :class:`~tether.fields.InvalidSpecError` naming the field; a field
Flux accepts that Tether does not carry out raises :class:`~tether.flux.specs.Unsupported`, so
the object says so in its ``Ready`` condition instead of being reconciled differently.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tether.engine.ignore import IgnoreRule, IgnoreRuleError, parse_pointer
from tether.fields import FieldReader, InvalidSpecError
from tether.flux.ocispecs import VerifySpec, parse_verify
from tether.flux.specs import (
    KubeConfigRef,
    ObjectRef,
    Unsupported,
    parse_depends_on,
    parse_kube_config,
    required_duration,
    required_string,
    valid_name,
)

#: Flux's default timeout of every Helm action
DEFAULT_HELM_TIMEOUT = 300.0
#: Flux's default ``spec.maxHistory``
DEFAULT_MAX_HISTORY = 5
#: the longest release name Helm accepts; longer ones are shortened as Flux does
MAX_RELEASE_NAME = 53
#: the retry interval of the RetryOnFailure strategy when none is given
DEFAULT_STRATEGY_RETRY = 300.0
MAX_VALUES_FROM = 100
#: chart sources Flux's HelmChart may name, and those Tether reads
CHART_SOURCE_KINDS: tuple[str, ...] = ("HelmRepository", "GitRepository", "Bucket")
SUPPORTED_CHART_SOURCE_KINDS: tuple[str, ...] = ("HelmRepository", "GitRepository")

_CHART_NAME = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]*$")
_RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


# ---- HelmRepository ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HelmRepositorySpec:
    url: str
    oci: bool
    interval: float
    timeout: float
    secret_ref: str | None
    pass_credentials: bool
    insecure: bool
    suspend: bool


def parse_helm_repository(spec: Any) -> HelmRepositorySpec:
    reader = FieldReader(spec, "spec")
    url = required_string(reader, "url")
    kind = reader.string("type", "default") or "default"
    if kind not in ("default", "oci"):
        raise InvalidSpecError(f"spec.type: {kind!r} is not default or oci")
    oci = kind == "oci"
    if oci and not url.startswith("oci://"):
        raise InvalidSpecError("spec.url: a HelmRepository of type oci needs an oci:// URL")
    if not oci and not re.match(r"^https?://\S+$", url):
        raise InvalidSpecError(f"spec.url: {url[:200]!r} is not an http(s) URL")
    provider = reader.string("provider", "generic") or "generic"
    if provider != "generic":
        raise Unsupported(f"spec.provider: {provider} is not supported by Tether yet")
    if reader.obj.get("certSecretRef"):
        raise Unsupported("spec.certSecretRef: TLS client certificates are not supported yet")
    secret = reader.child("secretRef")
    return HelmRepositorySpec(
        url=url,
        oci=oci,
        interval=reader.duration("interval", 600.0) or 600.0,
        timeout=reader.duration("timeout", 60.0) or 60.0,
        secret_ref=required_string(secret, "name") if secret is not None else None,
        pass_credentials=reader.boolean("passCredentials"),
        insecure=reader.boolean("insecure"),
        suspend=reader.boolean("suspend"),
    )


# ---- HelmRelease -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartTemplate:
    """``spec.chart.spec``: what the generated HelmChart fetches."""

    chart: str
    version: str
    source: ObjectRef
    interval: float
    reconcile_strategy: str
    values_files: tuple[str, ...]
    #: ``verify``: the chart's cosign signature (charts of an OCI HelmRepository)
    verify: VerifySpec | None = None


@dataclass(frozen=True)
class ValuesReference:
    kind: Literal["ConfigMap", "Secret"]
    name: str
    values_key: str
    target_path: str | None
    optional: bool


@dataclass(frozen=True)
class Remediation:
    """The remediation of one action (install or upgrade)."""

    retries: int
    ignore_test_failures: bool | None
    remediate_last_failure: bool | None
    #: upgrades only: rollback or uninstall
    strategy: str
    #: ``RemediateOnFailure`` (Flux's default) or ``RetryOnFailure``
    on_failure: str
    retry_interval: float

    @property
    def retries_infinite(self) -> bool:
        return self.retries < 0

    def exhausted(self, failures: int) -> bool:
        return not self.retries_infinite and failures > self.retries

    @property
    def must_remediate_last_failure(self) -> bool:
        """Flux: ``remediateLastFailure`` defaults to true when retries are configured."""
        if self.remediate_last_failure is not None:
            return self.remediate_last_failure
        return self.retries != 0


@dataclass(frozen=True)
class ActionOptions:
    """What one Helm action is run with."""

    timeout: float
    disable_wait: bool = False
    disable_wait_for_jobs: bool = False
    disable_hooks: bool = False
    force: bool = False
    create_namespace: bool = False
    skip_crds: bool = False
    cleanup_on_fail: bool = False
    keep_history: bool = False


@dataclass(frozen=True)
class TestOptions:
    enable: bool
    timeout: float
    ignore_failures: bool


@dataclass(frozen=True)
class HelmReleaseSpec:
    chart: ChartTemplate
    interval: float
    release_name: str
    target_namespace: str
    storage_namespace: str
    timeout: float
    max_history: int
    service_account: str | None
    suspend: bool
    depends_on: tuple[ObjectRef, ...]
    values: Mapping[str, Any]
    values_from: tuple[ValuesReference, ...]
    install: ActionOptions
    install_remediation: Remediation
    upgrade: ActionOptions
    upgrade_remediation: Remediation
    test: TestOptions
    rollback: ActionOptions
    uninstall: ActionOptions
    #: ``driftDetection.mode``: disabled, warn or enabled
    drift_mode: str = "disabled"
    drift_ignore: tuple[IgnoreRule, ...] = ()
    #: ``postRenderers``: each a kustomize ``{"patches": [...], "images": [...]}``
    post_renderers: tuple[Mapping[str, Any], ...] = ()
    kube_config: KubeConfigRef | None = None


def release_name(name: str, target_namespace: str | None) -> str:
    """Flux's default release name: ``[<targetNamespace>-]<name>``, shortened past 53
    characters to 40 and a hash of the whole."""
    full = f"{target_namespace}-{name}" if target_namespace else name
    if len(full) <= MAX_RELEASE_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:12]
    return f"{full[:40]}-{digest}".lower()


def parse_helm_release(spec: Any, namespace: str, name: str) -> HelmReleaseSpec:
    """``spec`` of the HelmRelease ``namespace/name``."""
    reader = FieldReader(spec, "spec")
    interval = required_duration(reader, "interval")
    timeout = reader.duration("timeout", DEFAULT_HELM_TIMEOUT) or DEFAULT_HELM_TIMEOUT
    target = reader.string("targetNamespace") or None
    if target is not None:
        valid_name(target, "spec.targetNamespace")
    given_name = reader.string("releaseName") or None
    if given_name is not None and (
        len(given_name) > MAX_RELEASE_NAME or not _RELEASE_NAME.match(given_name)
    ):
        raise InvalidSpecError(
            f"spec.releaseName: {given_name!r} is not a valid Helm release name "
            f"(lower case, at most {MAX_RELEASE_NAME} characters)"
        )
    account = reader.string("serviceAccountName") or None
    install = reader.child("install") or FieldReader({}, "spec.install")
    upgrade = reader.child("upgrade") or FieldReader({}, "spec.upgrade")
    return HelmReleaseSpec(
        chart=_parse_chart(reader, namespace),
        interval=interval,
        release_name=given_name or release_name(name, target),
        target_namespace=target or namespace,
        storage_namespace=_storage_namespace(reader, target or namespace),
        timeout=timeout,
        max_history=reader.integer("maxHistory", DEFAULT_MAX_HISTORY),
        service_account=valid_name(account, "spec.serviceAccountName") if account else None,
        suspend=reader.boolean("suspend"),
        depends_on=parse_depends_on(reader, namespace, "HelmRelease"),
        values=reader.mapping("values") or {},
        values_from=_parse_values_from(reader),
        install=_action(install, timeout, install=True),
        install_remediation=_remediation(install, upgrade=False),
        upgrade=_action(upgrade, timeout),
        upgrade_remediation=_remediation(upgrade, upgrade=True),
        test=_test(reader.child("test"), timeout),
        rollback=_action(reader.child("rollback") or FieldReader({}, "spec.rollback"), timeout),
        uninstall=_action(reader.child("uninstall") or FieldReader({}, "spec.uninstall"), timeout),
        drift_mode=_drift_mode(reader),
        post_renderers=_post_renderers(reader),
        kube_config=parse_kube_config(reader),
        drift_ignore=_drift_ignore(reader),
    )


def _storage_namespace(reader: FieldReader, target: str) -> str:
    """Helm keeps a release where it installs it: the storage namespace is the target one
    (Flux's default storage namespace, the HelmRelease's own, differs only with
    ``targetNamespace``; ``helm ls -n <target>`` finds the release)."""
    given = reader.string("storageNamespace") or None
    if given is not None and valid_name(given, "spec.storageNamespace") != target:
        raise Unsupported("spec.storageNamespace: a storage namespace other than the release's "
                          "target namespace is not supported by Tether")  # fmt: skip
    return target


MAX_POST_RENDERERS = 10
MAX_PATCHES = 100


def _post_renderers(reader: FieldReader) -> tuple[Mapping[str, Any], ...]:
    """``postRenderers[].kustomize``: inline ``patches`` (with a ``target``) and ``images``
    (Flux's deprecated ``patchesStrategicMerge``/``patchesJson6902`` are refused by name)."""
    entries = reader.objects("postRenderers")
    if len(entries) > MAX_POST_RENDERERS:
        raise InvalidSpecError(f"spec.postRenderers: more than {MAX_POST_RENDERERS}")
    found = []
    for entry in entries:
        kustomize = entry.child("kustomize")
        if kustomize is None:
            raise InvalidSpecError(f"{entry.at('kustomize')} is required")
        for key in kustomize.obj:
            if key not in ("patches", "images"):
                raise Unsupported(f"{kustomize.at(key)} is not supported by Tether; use patches")
        patches = []
        for patch in kustomize.objects("patches"):
            if not isinstance(patch.obj.get("patch"), str):
                raise InvalidSpecError(f"{patch.at('patch')} must be an inline patch (a string)")
            patches.append(
                {k: v for k, v in patch.obj.items() if k in ("patch", "target", "options")}
            )
        images = []
        for image in kustomize.objects("images"):
            required_string(image, "name")
            images.append({k: v for k, v in image.obj.items()
                           if k in ("name", "newName", "newTag", "digest") and isinstance(v, str)})  # fmt: skip
        if len(patches) > MAX_PATCHES or len(images) > MAX_PATCHES:
            raise InvalidSpecError(f"{kustomize.path}: more than {MAX_PATCHES} patches or images")
        found.append({"patches": patches, "images": images})
    return tuple(found)


def _drift_mode(reader: FieldReader) -> str:
    drift = reader.child("driftDetection")
    mode = (drift.string("mode") if drift is not None else None) or "disabled"
    if mode not in ("disabled", "warn", "enabled"):
        raise InvalidSpecError(
            f"spec.driftDetection.mode: {mode!r} is not disabled, warn or enabled"
        )
    return mode


def _drift_ignore(reader: FieldReader) -> tuple[IgnoreRule, ...]:
    """``driftDetection.ignore``: JSON pointers left alone, on the objects ``target`` selects
    (every object without one)."""
    drift = reader.child("driftDetection")
    rules = []
    for entry in drift.objects("ignore") if drift is not None else ():
        pointers = entry.strings("paths")
        if not pointers:
            raise InvalidSpecError(f"{entry.at('paths')} is required")
        for pointer in pointers:
            try:
                parse_pointer(pointer, where=entry.at("paths"))
            except IgnoreRuleError as exc:
                raise InvalidSpecError(str(exc)) from None
        target = entry.child("target") or FieldReader({}, entry.at("target"))
        for selector in ("labelSelector", "annotationSelector"):
            if target.obj.get(selector):
                raise Unsupported(f"{target.at(selector)}: selecting drift targets by "
                                  "selector is not supported by Tether yet")  # fmt: skip
        rules.append(
            IgnoreRule(
                kind=target.string("kind") or "*",
                group=target.string("group", "*") or "",
                name=target.string("name") or "",
                namespace=target.string("namespace") or "",
                json_pointers=pointers,
            )
        )
    return tuple(rules)


def _parse_chart(reader: FieldReader, namespace: str) -> ChartTemplate:
    chart = reader.child("chart")
    template = chart.child("spec") if chart is not None else None
    ref = reader.child("chartRef")
    if ref is not None:
        if template is not None:
            raise InvalidSpecError("spec.chart and spec.chartRef: give only one of them")
        return _chart_ref(ref, namespace, reader.duration("interval") or 600.0)
    if template is None:
        raise InvalidSpecError("spec.chart.spec is required (or spec.chartRef)")
    name = required_string(template, "chart")
    ref = template.child("sourceRef")
    if ref is None:
        raise InvalidSpecError("spec.chart.spec.sourceRef is required")
    kind = required_string(ref, "kind")
    if kind not in CHART_SOURCE_KINDS:
        raise InvalidSpecError(
            f"spec.chart.spec.sourceRef.kind: {kind!r} is not one of {', '.join(CHART_SOURCE_KINDS)}"
        )
    if kind not in SUPPORTED_CHART_SOURCE_KINDS:
        raise Unsupported(f"spec.chart.spec.sourceRef.kind: {kind} is not supported by Tether yet")
    if kind == "HelmRepository" and not _CHART_NAME.match(name):
        raise InvalidSpecError(f"spec.chart.spec.chart: {name[:200]!r} is not a chart name")
    strategy = template.string("reconcileStrategy", "ChartVersion") or "ChartVersion"
    if strategy not in ("ChartVersion", "Revision"):
        raise InvalidSpecError(
            f"spec.chart.spec.reconcileStrategy: {strategy!r} is not ChartVersion or Revision"
        )
    if strategy == "Revision":
        raise Unsupported("spec.chart.spec.reconcileStrategy: Revision is not supported by Tether "
                          "yet; a chart is upgraded when its version changes")  # fmt: skip
    files = list(template.strings("valuesFiles"))
    single = template.string("valuesFile")
    if single:
        files.append(single)
    return ChartTemplate(
        chart=name,
        version=template.string("version") or "*",
        source=ObjectRef(
            kind=kind,
            name=valid_name(required_string(ref, "name"), ref.at("name")),
            namespace=valid_name(ref.string("namespace") or namespace, ref.at("namespace")),
        ),
        interval=template.duration("interval") or reader.duration("interval") or 600.0,
        reconcile_strategy=strategy,
        values_files=tuple(files),
        verify=parse_verify(template.child("verify")),
    )


def _chart_ref(ref: FieldReader, namespace: str, interval: float) -> ChartTemplate:
    """``spec.chartRef``: the chart an OCIRepository holds (a HelmChart: not yet)."""
    kind = required_string(ref, "kind")
    if kind not in ("OCIRepository", "HelmChart"):
        raise InvalidSpecError(f"spec.chartRef.kind: {kind!r} is not OCIRepository or HelmChart")
    if kind == "HelmChart":
        raise Unsupported("spec.chartRef.kind: HelmChart references are not supported by Tether "
                          "yet; use spec.chart or an OCIRepository")  # fmt: skip
    source = ObjectRef(
        kind=kind,
        name=valid_name(required_string(ref, "name"), ref.at("name")),
        namespace=valid_name(ref.string("namespace") or namespace, ref.at("namespace")),
    )
    return ChartTemplate("", "*", source, interval, "ChartVersion", ())


def _parse_values_from(reader: FieldReader) -> tuple[ValuesReference, ...]:
    entries = reader.objects("valuesFrom")
    if len(entries) > MAX_VALUES_FROM:
        raise InvalidSpecError(f"spec.valuesFrom: more than {MAX_VALUES_FROM} entries")
    found = []
    for entry in entries:
        kind = required_string(entry, "kind")
        if kind not in ("ConfigMap", "Secret"):
            raise InvalidSpecError(f"{entry.at('kind')}: {kind!r} is not ConfigMap or Secret")
        found.append(
            ValuesReference(
                kind=kind,  # type: ignore[arg-type]
                name=valid_name(required_string(entry, "name"), entry.at("name")),
                values_key=entry.string("valuesKey") or "values.yaml",
                target_path=entry.string("targetPath") or None,
                optional=entry.boolean("optional"),
            )
        )
    return tuple(found)


def _action(reader: FieldReader, timeout: float, *, install: bool = False) -> ActionOptions:
    crds = reader.string("crds", "Create" if install else "Skip") or "Skip"
    if crds not in ("Skip", "Create", "CreateReplace"):
        raise InvalidSpecError(
            f"{reader.at('crds')}: {crds!r} is not Skip, Create or CreateReplace"
        )
    if crds == "CreateReplace":
        raise Unsupported(f"{reader.at('crds')}: CreateReplace is not supported by Tether yet")
    return ActionOptions(
        timeout=reader.duration("timeout", timeout) or timeout,
        disable_wait=reader.boolean("disableWait"),
        disable_wait_for_jobs=reader.boolean("disableWaitForJobs"),
        disable_hooks=reader.boolean("disableHooks"),
        force=reader.boolean("force"),
        create_namespace=reader.boolean("createNamespace"),
        # an upgrade leaves CRDs alone unless asked (Helm never upgrades them)
        skip_crds=reader.boolean("skipCRDs") or (install and crds == "Skip"),
        cleanup_on_fail=reader.boolean("cleanupOnFail"),
        keep_history=reader.boolean("keepHistory"),
    )


def _remediation(reader: FieldReader, *, upgrade: bool) -> Remediation:
    remediation = reader.child("remediation") or FieldReader({}, reader.at("remediation"))
    strategy = reader.child("strategy")
    on_failure = (strategy.string("name") if strategy is not None else None) or "RemediateOnFailure"
    if on_failure not in ("RemediateOnFailure", "RetryOnFailure"):
        raise InvalidSpecError(
            f"{reader.at('strategy.name')}: {on_failure!r} is not RemediateOnFailure or RetryOnFailure"
        )
    retry = strategy.duration("retryInterval") if strategy is not None else None
    kind = remediation.string("strategy", "rollback") or "rollback"
    if kind not in ("rollback", "uninstall"):
        raise InvalidSpecError(
            f"{remediation.at('strategy')}: {kind!r} is not rollback or uninstall"
        )
    last = remediation.obj.get("remediateLastFailure")
    return Remediation(
        retries=remediation.integer("retries", 0),
        ignore_test_failures=remediation.obj.get("ignoreTestFailures")
        if isinstance(remediation.obj.get("ignoreTestFailures"), bool)
        else None,
        remediate_last_failure=last if isinstance(last, bool) else None,
        strategy=kind if upgrade else "uninstall",
        on_failure=on_failure,
        retry_interval=retry or DEFAULT_STRATEGY_RETRY,
    )


def _test(reader: FieldReader | None, timeout: float) -> TestOptions:
    if reader is None:
        return TestOptions(False, timeout, False)
    if reader.obj.get("filters"):
        raise Unsupported("spec.test.filters: filtering Helm tests is not supported by Tether yet")
    return TestOptions(
        enable=reader.boolean("enable"),
        timeout=reader.duration("timeout", timeout) or timeout,
        ignore_failures=reader.boolean("ignoreFailures"),
    )
