"""Flux's HelmRepositories and the charts HelmReleases install, on Tether's chart source.

A ``HelmRepository`` (``type: default``) is its index: fetched with its ``secretRef``
credentials through :class:`tether.charts.ChartSource` (bounded, re-validated by a conditional
request), its artifact revision the index's sha256, as source-controller writes it. One of
``type: oci`` has no artifact: it is Ready once its spec is valid, charts are pulled from the
registry by tag. A chart is resolved from the index (or the registry's tags) by name and semver
range, fetched once by digest and unpacked with its dependencies into the cache; a chart from a
``GitRepository`` is the folder of the GitRepository's current artifact.

A chart template's ``verify`` (charts of an OCI HelmRepository) checks the chart's cosign
signature before the chart is downloaded (as an OCIRepository's, :mod:`.ociverify`); a digest
that verified is not checked again for the same ``verify``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.charts import ChartError, ChartSource, ResolvedArtifact, ResolvedChart
from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.cluster.secretdata import decoded
from tether.controller.flux.gitrepos import GitRepositories, Outcome
from tether.fields import InvalidSpecError
from tether.flux import status as fluxstatus
from tether.flux.helmspecs import ChartTemplate, HelmRepositorySpec, parse_helm_repository
from tether.flux.ocispecs import VerifySpec
from tether.safeyaml import YamlError, load
from tether.sigstore.errors import SignatureError
from tether.source.credentials import RepoCredentials
from tether.source.trust import RepoTrust

CHART_PULL_FAILED = "ChartPullError"
CHART_PULL_SUCCEEDED = "ChartPullSucceeded"
INDEXATION_FAILED = "IndexationFailed"


class ChartUnavailable(Exception):
    """The chart cannot be had now; the message is Flux-shaped, ``reason`` the generated
    HelmChart's."""

    def __init__(self, message: str, reason: str = CHART_PULL_FAILED) -> None:
        super().__init__(message)
        self.reason = reason


#: ``(namespace, verify, artifact, credentials, CA)`` -> who signed, or a SignatureError
VerifyArtifact = Callable[
    [str, VerifySpec, ResolvedArtifact, RepoCredentials | None, str | None], Awaitable[str]
]


async def trusted_ca(trust: RepoTrust | None, url: str, plain_http: bool = False) -> str | None:
    """The CA (PEM) the controller's TLS certificates (``argocd-tls-certs-cm``) give the host of
    a source's ``https://`` or ``oci://`` URL; None: the system's CAs (or plain http)."""
    if trust is None or plain_http:
        return None
    https = "https://" + url.removeprefix("oci://") if url.startswith("oci://") else url
    path = trust.ca_file_for(https)
    return None if path is None else await asyncio.to_thread(path.read_text)


class SourceNotFetched(ChartUnavailable):
    """The chart's source has no artifact in this process (yet)."""


@dataclass(frozen=True)
class ChartArtifact:
    """An unpacked chart ready for helm: where, which, and Flux's revision of it."""

    path: Path
    name: str
    version: str
    digest: str
    #: the SourceVerified message of a chart whose signature was verified
    verified: str | None = None


async def source_secret(client: ClusterClient, namespace: str, name: str) -> dict[str, Any]:
    """The Secret a source's ``secretRef`` names (in its own namespace); a missing or
    unreadable one is :class:`ChartUnavailable` with Flux's message."""
    info = await client.resource_for("v1", "Secret")
    try:
        return await client.get(info, name, namespace)
    except NotFound:
        raise ChartUnavailable(f"failed to get secret '{namespace}/{name}': not found") from None
    except ClusterError as exc:
        raise ChartUnavailable(
            f"failed to get secret '{namespace}/{name}': {exc.message}"
        ) from None


class HelmSources:
    """HelmRepositories reconciled, and charts fetched for HelmReleases."""

    def __init__(
        self,
        client: ClusterClient,
        git: GitRepositories,
        charts: ChartSource,
        root: Path,
        oci_chart: Callable[[str, str], Awaitable[ChartArtifact]] | None = None,
        verify: VerifyArtifact | None = None,
        trust: RepoTrust | None = None,
    ) -> None:
        """``oci_chart(namespace, name)``: the chart an OCIRepository holds (``chartRef``);
        ``verify``: checks a chart's signature (a template's ``verify``); ``trust``: the per-host
        CAs of https repositories and registries."""
        self.client = client
        self.trust = trust
        self.verify = verify
        #: (chart digest, verify) -> the SourceVerified message
        self._verified: dict[tuple[str, VerifySpec], str] = {}
        self.git = git
        self.oci_chart = oci_chart
        self.charts = charts
        self.root = root
        #: (namespace, name) -> the spec of a Ready HelmRepository
        self._repositories: dict[tuple[str, str], HelmRepositorySpec] = {}
        self._unpacking: dict[str, asyncio.Task[Path]] = {}

    def forget(self, namespace: str, name: str) -> None:
        self._repositories.pop((namespace, name), None)

    # ---- HelmRepository ----------------------------------------------------------------------

    async def reconcile(self, obj: Mapping[str, Any], now: str) -> Outcome:
        seen = fluxstatus.Observed.of(obj)
        previous, generation = seen.status, seen.generation
        key = (seen.namespace, seen.name)
        try:
            spec = parse_helm_repository(obj.get("spec"))
        except InvalidSpecError as exc:
            self._repositories.pop(key, None)
            reason = fluxstatus.refusal_reason(exc)
            return Outcome(fluxstatus.refused(previous, reason, exc.message, generation, now), None)
        if spec.suspend:
            return Outcome(None, None)
        if spec.oci:
            self._repositories[key] = spec
            message = "Helm repository is Ready"
            wanted = [(fluxstatus.READY, True, fluxstatus.SUCCEEDED, message)]
            status = fluxstatus.updated(previous, wanted, generation, now)
            status.pop("artifact", None)
            return Outcome(status, None)
        try:
            creds = await self.credentials(seen.namespace, spec)
            ca_pem = await trusted_ca(self.trust, spec.url)
            index = await self.charts.index(spec.url, creds, ca_pem)
        except (ChartUnavailable, ChartError) as exc:
            message = f"failed to fetch Helm repository index: {_text(exc)}"
            wanted = [(fluxstatus.READY, False, fluxstatus.FETCH_FAILED, message),
                      (fluxstatus.FETCH_FAILED, True, INDEXATION_FAILED, message)]  # fmt: skip
            return Outcome(fluxstatus.updated(previous, wanted, generation, now), spec.interval)
        self._repositories[key] = spec
        revision = f"sha256:{index.content_sha256}"
        message = f"stored artifact: revision '{revision}'"
        status = fluxstatus.stored(previous, revision, message, generation, now,
                                   digest=revision, url=spec.url)  # fmt: skip
        return Outcome(status, spec.interval)

    async def credentials(self, namespace: str, spec: HelmRepositorySpec) -> RepoCredentials | None:
        """``secretRef``'s ``username``/``password`` (read in the repository's namespace)."""
        if not spec.secret_ref:
            return None
        data = decoded(await source_secret(self.client, namespace, spec.secret_ref))
        return RepoCredentials(
            url=spec.url,
            username=data.get("username") or None,
            password=data.get("password") or None,
            type="helm",
        )

    # ---- charts ------------------------------------------------------------------------------

    async def chart(self, template: ChartTemplate) -> ChartArtifact:
        """The chart the template names, unpacked; :class:`ChartUnavailable` otherwise."""
        source = template.source
        if source.kind == "GitRepository":
            return await self._git_chart(template)
        if source.kind == "OCIRepository" and self.oci_chart is not None:
            return await self.oci_chart(source.namespace, source.name)
        spec = self._repositories.get((source.namespace, source.name))
        if spec is None:
            raise SourceNotFetched(
                f"HelmRepository '{source.namespace}/{source.name}' is not ready"
            )
        url = spec.url
        try:
            creds = await self.credentials(source.namespace, spec)
            ca_pem = await trusted_ca(self.trust, url, spec.oci and spec.insecure)
            resolved = await self.charts.resolve(
                url, template.chart, template.version, creds, ca_pem, plain_http=spec.insecure
            )
            verified = await self._verified_by(source.namespace, template, resolved, creds, ca_pem)
            path = await self._unpacked(resolved, creds, ca_pem, spec.pass_credentials)
        except ChartError as exc:
            raise ChartUnavailable(_text(exc)) from None
        digest = resolved.digest or ""
        return ChartArtifact(path, resolved.name, resolved.version, digest, verified)

    async def _verified_by(
        self,
        namespace: str,
        template: ChartTemplate,
        resolved: ResolvedChart,
        creds: RepoCredentials | None,
        ca_pem: str | None,
    ) -> str | None:
        """The SourceVerified message of a chart whose signature verifies (None without
        ``verify``); ChartUnavailable (reason ``VerificationError``) otherwise."""
        if template.verify is None:
            return None
        provider = template.verify.described
        if resolved.artifact is None or self.verify is None:
            raise ChartUnavailable(
                f"failed to verify the signature using provider '{provider}': only charts of "
                "an OCI HelmRepository can be verified",
                fluxstatus.VERIFICATION_ERROR,
            )
        key = (resolved.artifact.digest, template.verify)
        if key not in self._verified:
            try:
                who = await self.verify(
                    namespace, template.verify, resolved.artifact, creds, ca_pem
                )
            except SignatureError as exc:
                raise ChartUnavailable(
                    f"failed to verify the signature using provider '{provider}': {exc.message}",
                    fluxstatus.VERIFICATION_ERROR,
                ) from None
            self._verified[key] = f"verified signature of version {resolved.version} ({who})"
        return self._verified[key]

    async def _unpacked(
        self,
        resolved: ResolvedChart,
        creds: RepoCredentials | None,
        ca_pem: str | None,
        pass_credentials: bool,
    ) -> Path:
        identity = f"{resolved.repo_url}\0{resolved.name}\0{resolved.version}\0{resolved.digest}"
        key = hashlib.sha256(identity.encode()).hexdigest()[:32]
        final = self.root / key / resolved.name
        if await asyncio.to_thread(os.path.isdir, final):
            return final
        task = self._unpacking.get(key)
        if task is None:

            async def unpack() -> Path:
                await asyncio.to_thread(os.makedirs, self.root / key, exist_ok=True)
                done = await self.charts.materialize_chart(
                    resolved, self.root / key, creds, ca_pem, pass_credentials=pass_credentials
                )
                return done.path

            task = asyncio.create_task(unpack())
            self._unpacking[key] = task
            task.add_done_callback(lambda _: self._unpacking.pop(key, None))
        return await asyncio.shield(task)

    async def _git_chart(self, template: ChartTemplate) -> ChartArtifact:
        source = template.source
        artifact = self.git.artifact(source.namespace, source.name)
        if artifact is None:
            raise SourceNotFetched(f"GitRepository '{source.namespace}/{source.name}' is not ready")
        tree = await self.git.tree(artifact)
        if tree.escaping_link is not None:
            raise ChartUnavailable(
                f"the GitRepository's revision has a link leaving it: {tree.escaping_link[0]}"
            )
        path = Path(os.path.normpath(tree.root / template.chart.lstrip("/")))
        if path != tree.root and tree.root not in path.parents:
            raise ChartUnavailable(f"chart path '{template.chart}' leaves the source")
        meta = await asyncio.to_thread(chart_yaml, path)
        version = str(meta.get("version") or "")
        return ChartArtifact(path, str(meta.get("name") or ""), version, artifact.revision)


def chart_yaml(path: Path) -> dict[str, Any]:
    try:
        text = (path / "Chart.yaml").read_text()
    except OSError:
        raise ChartUnavailable(f"no chart found at '{path.name}': Chart.yaml is missing") from None
    try:
        meta = load(text)
    except YamlError as exc:
        raise ChartUnavailable(f"Chart.yaml: {exc.message}") from None
    if not isinstance(meta, dict) or not meta.get("name") or not meta.get("version"):
        raise ChartUnavailable("Chart.yaml must give the chart's name and version")
    return meta


def _text(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc)
