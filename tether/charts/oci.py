"""Artifacts from OCI registries: Helm charts (`repoURL: oci://...` with `chart`) and Argo CD's
OCI sources of plain manifests (`repoURL: oci://...` without `chart`), resolved, downloaded,
checked and unpacked.

Resolving asks the registry for the manifest of the tag targetRevision names (or, for a
range, lists the tags first and picks the newest match); the manifest's digest is checked
against the registry's `Docker-Content-Digest`, or against targetRevision when that is a
digest. Its chart or content layer is downloaded once, checked against the manifest's sha256
digest and kept in the same content-addressed store as the archives of Helm repositories, so
a layer is never downloaded twice. A poll (`check_for_update`) costs one manifest HEAD (after
a tag list when targetRevision is a range) and downloads nothing when nothing moved.

Requests go through `tether.images.registry.RegistryClient`: the registry's challenge is
answered with the repository Secret's login (Basic, or a token from the registry's token
service), every answer is read within a bound, and a blob redirected to a storage service is
followed without the registry's Authorization header. Nothing secret reaches a message.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import httpx2

from tether.charts.access import TLSMaterial
from tether.charts.errors import (
    ChartDigestError,
    ChartError,
    ChartLimitError,
    ChartRepositoryError,
    ChartRepositoryUnreachableError,
    ChartVersionNotFoundError,
)
from tether.charts.layer import unpack_layer
from tether.charts.limits import DEFAULT_LIMITS, ChartLimits
from tether.charts.models import (
    FetchedChart,
    OciLayer,
    OciLocation,
    ResolvedArtifact,
    ResolvedChart,
)
from tether.charts.ocimanifest import (
    ACCEPT_MANIFESTS,
    DEFAULT_LAYER_MEDIA_TYPES,
    OciManifest,
    chart_layer,
    content_layer,
    parse_manifest,
    selected_layer,
)
from tether.charts.ociref import (
    MANIFEST_DIGEST,
    exact_tag,
    is_digest,
    parse_oci_url,
    select_tag,
)
from tether.charts.ocirequests import (
    WORDING,
    artifact_what,
    chart_error,
    manifest_url,
    registry_login,
    staging_folder,
)
from tether.charts.store import ChartStore, sha256_hex
from tether.images.dockerconfig import ImageRef
from tether.images.errors import (
    RegistryError,
)
from tether.images.registry import (
    RegistryAnswer,
    RegistryClient,
    RegistryLimits,
    RegistrySession,
    error_detail,
)
from tether.source.credentials import RepoCredentials

T = TypeVar("T")
_UNAVAILABLE = frozenset({429, 502, 503, 504})
_VERSION_ANNOTATION = "org.opencontainers.image.version"
_CREATED_ANNOTATION = "org.opencontainers.image.created"

#: picks the layer to unpack from a manifest (`what` names the artifact in messages)
LayerChoice = Callable[[OciManifest, str], OciLayer]


class SharedWork(Protocol):
    """Runs `work` once for every concurrent caller asking for `key` (`ChartSource._shared`)."""

    def __call__(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> Awaitable[T]: ...


@dataclass(frozen=True)
class _Found:
    """A manifest a targetRevision selected."""

    tag: str | None
    exact: bool
    digest: str
    manifest: OciManifest


class OciArtifacts:
    """Resolves, checks and unpacks artifacts of OCI registries (see the module's docstring).

    Made by `ChartSource` (its `artifacts`), with whose archive store, single-flight and
    cache of TLS contexts (`tls_context`) it shares. `layer_media_types` are the content layers accepted from an artifact of plain
    manifests (Argo CD's `ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES`).
    """

    def __init__(
        self,
        store: ChartStore,
        shared: SharedWork,
        tls_context: Callable[[TLSMaterial], Awaitable[ssl.SSLContext]],
        limits: ChartLimits = DEFAULT_LIMITS,
        *,
        registry_limits: RegistryLimits | None = None,
        layer_media_types: Collection[str] = DEFAULT_LAYER_MEDIA_TYPES,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.limits = limits
        self.registry_limits = registry_limits or RegistryLimits()
        self.layer_media_types = tuple(layer_media_types)
        self._store = store
        self._shared = shared
        self._tls_context = tls_context
        self._client = RegistryClient(
            limits=self.registry_limits, transport=transport, user_agent="tether-oci-client"
        )
        #: what went over the network, for tests and metrics
        self.tag_lists = 0
        self.manifest_heads = 0
        self.manifest_gets = 0
        self.blob_downloads = 0

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    # --- sessions ------------------------------------------------------------------------------

    async def _tls(
        self, location: OciLocation, creds: RepoCredentials | None, ca_pem: str | None
    ) -> ssl.SSLContext | None:
        if location.plain_http:
            return None
        material = TLSMaterial(
            insecure=bool(creds and creds.insecure),
            ca_pem=ca_pem or None,
            client_certificate=creds.tls_client_cert_data if creds else None,
            client_key=creds.tls_client_cert_key if creds else None,
        )
        return None if material.is_default else await self._tls_context(material)

    @asynccontextmanager
    async def _session(
        self, location: OciLocation, creds: RepoCredentials | None, ca_pem: str | None
    ) -> AsyncIterator[RegistrySession]:
        """A registry session whose errors come out as `ChartError`s."""
        login = registry_login(creds)
        context = await self._tls(location, creds, ca_pem)
        image = ImageRef(location.registry, location.repository)
        try:
            async with self._client.session(
                image,
                login,
                location.plain_http,
                None,
                self.limits.request_timeout,
                tls_context=context,
                wording=WORDING,
            ) as session:
                yield session
        except RegistryError as exc:
            raise chart_error(exc, location) from None

    @staticmethod
    def _expect_success(
        session: RegistrySession, answer: RegistryAnswer, location: OciLocation, what: str
    ) -> None:
        if 200 <= answer.status < 300:
            return
        detail = error_detail(session, answer)
        if answer.status in _UNAVAILABLE or answer.status >= 500:
            raise ChartRepositoryUnreachableError(
                f"{what}: the registry is unavailable ({detail})", location.url, answer.status
            )
        raise ChartRepositoryError(
            f"{what}: the registry answered {detail}", location.url, answer.status
        )

    # --- manifests -----------------------------------------------------------------------------

    async def _tags(self, session: RegistrySession) -> list[str]:
        self.tag_lists += 1
        return await self._client.all_tags(session)

    async def _manifest(
        self, session: RegistrySession, location: OciLocation, reference: str
    ) -> tuple[str, OciManifest] | None:
        """The manifest of a tag or digest, and its digest; None when the registry has none."""
        got = await self._manifest_bytes(session, location, reference)
        if got is None:
            return None
        actual, body, content_type = got
        return actual, parse_manifest(body, content_type, artifact_what(location, reference))

    async def _manifest_bytes(
        self, session: RegistrySession, location: OciLocation, reference: str
    ) -> tuple[str, bytes, str] | None:
        what = artifact_what(location, reference)
        answer = await self._client.request(
            session,
            "GET",
            manifest_url(session, location, reference),
            max_bytes=self.registry_limits.max_manifest_bytes,
            accept=ACCEPT_MANIFESTS,
        )
        self.manifest_gets += 1
        if answer.status == 404:
            return None
        self._expect_success(session, answer, location, what)
        actual = "sha256:" + await asyncio.to_thread(sha256_hex, answer.body)
        claimed = reference if is_digest(reference) else answer.headers.get("docker-content-digest")
        if claimed and claimed.startswith("sha256:") and claimed != actual:
            raise ChartDigestError(
                f"{what}: the registry sent a manifest whose sha256 digest is {actual}, not "
                f"{claimed}; refusing it (altered on the way, or a broken registry)"
            )
        return actual, answer.body, answer.headers.get("content-type", "")

    async def raw_manifest(
        self,
        resolved: ResolvedArtifact,
        reference: str,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
    ) -> bytes | None:
        """The bytes of the manifest ``reference`` (a tag or digest) in the artifact's
        repository (bounded, checked against its digest); None when there is none."""
        async with self._session(resolved.location, creds, ca_pem) as session:
            got = await self._manifest_bytes(session, resolved.location, reference)
        return None if got is None else got[1]

    async def blob(
        self,
        resolved: ResolvedArtifact,
        layer: OciLayer,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
    ) -> bytes:
        """A blob of the artifact's repository, of at most ``layer.size`` bytes, checked
        against ``layer.digest``; not kept in the store."""
        what = artifact_what(resolved.location, resolved.tag or resolved.digest)
        return await self._blob(resolved.location, layer, creds, ca_pem, what)

    async def _head_digest(
        self, session: RegistrySession, location: OciLocation, tag: str
    ) -> str | None:
        """The digest the registry reports for `tag` ("" when it reports none, None when it
        has no such tag)."""
        answer = await self._client.request(
            session,
            "HEAD",
            manifest_url(session, location, tag),
            max_bytes=0,
            accept=ACCEPT_MANIFESTS,
        )
        self.manifest_heads += 1
        if answer.status == 404:
            return None
        if answer.status == 405:
            return ""
        self._expect_success(session, answer, location, artifact_what(location, tag))
        digest = answer.headers.get("docker-content-digest") or ""
        return digest if MANIFEST_DIGEST.fullmatch(digest) else ""

    async def _find(
        self, session: RegistrySession, location: OciLocation, target_revision: str
    ) -> _Found:
        """The manifest `target_revision` selects: a digest, a tag, else a semver range."""
        wanted = target_revision.strip()
        subject = f"the OCI repository {location.reference}"
        if is_digest(wanted):
            got = await self._manifest(session, location, wanted)
            if got is None:
                raise ChartVersionNotFoundError(f"{subject} has no manifest {wanted}")
            return _Found(None, True, *got)
        tag = exact_tag(wanted) if wanted else None
        if tag is not None:
            got = await self._manifest(session, location, tag)
            if got is not None:
                return _Found(tag, True, *got)
        chosen = select_tag(await self._tags(session), wanted, subject)
        got = await self._manifest(session, location, chosen)
        if got is None:
            raise ChartVersionNotFoundError(
                f"{subject} lists the tag {chosen!r} but has no manifest for it; try again"
            )
        return _Found(chosen, False, *got)

    def _artifact(
        self,
        repo_url: str,
        location: OciLocation,
        target_revision: str,
        found: _Found,
        choose: LayerChoice,
    ) -> ResolvedArtifact:
        what = artifact_what(location, found.tag or found.digest)
        layer = choose(found.manifest, what)
        if layer.size > self.limits.max_chart_bytes:
            raise ChartLimitError(
                f"{what}: its layer is {layer.size} bytes, more than the limit of "
                f"{self.limits.max_chart_bytes} bytes"
            )
        return ResolvedArtifact(
            repo_url=repo_url,
            location=location,
            target_revision=target_revision,
            tag=found.tag,
            digest=found.digest,
            layer=layer,
            exact=found.exact,
            annotations=found.manifest.annotations,
        )

    def _content_layer(self, manifest: OciManifest, what: str) -> OciLayer:
        return content_layer(manifest, self.layer_media_types, what)

    async def _resolve(
        self,
        repo_url: str,
        location: OciLocation,
        target_revision: str,
        creds: RepoCredentials | None,
        ca_pem: str | None,
        choose: LayerChoice,
    ) -> ResolvedArtifact:
        async with self._session(location, creds, ca_pem) as session:
            found = await self._find(session, location, target_revision)
        return self._artifact(repo_url, location, target_revision, found, choose)

    async def _recheck(
        self,
        previous: ResolvedArtifact,
        creds: RepoCredentials | None,
        ca_pem: str | None,
        choose: LayerChoice,
    ) -> ResolvedArtifact | None:
        """One poll: None when `previous.target_revision` still selects the same manifest."""
        if previous.tag is None:
            return None  # a digest names one manifest forever
        location, target = previous.location, previous.target_revision
        subject = f"the OCI repository {location.reference}"
        async with self._session(location, creds, ca_pem) as session:
            tag = previous.tag
            if not previous.exact:
                tag = select_tag(await self._tags(session), target, subject)
            digest = await self._head_digest(session, location, tag)
            if tag == previous.tag and digest == previous.digest:
                return None
            got = await self._manifest(session, location, tag) if digest is not None else None
            if got is None:
                found = await self._find(session, location, target)
            else:
                found = _Found(tag, previous.exact, *got)
        current = self._artifact(previous.repo_url, location, target, found, choose)
        return current if current.differs_from(previous) else None

    # --- plain manifests -----------------------------------------------------------------------

    async def resolve(
        self,
        repo_url: str,
        target_revision: str,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
        *,
        plain_http: bool = False,
        enable_oci: bool = False,
    ) -> ResolvedArtifact:
        """The artifact of plain manifests `target_revision` selects in the repository
        `repo_url` names: a tag, a digest (`sha256:...`) or a semver range (empty: the newest
        release). `plain_http` speaks http (Argo CD's `insecureOCIForceHttp`); `enable_oci`
        reads a repoURL without a scheme as an OCI one.

        Raises `InvalidChartSourceError`, `ChartVersionNotFoundError`, `OciArtifactError`
        (no single accepted content layer), `ChartLimitError`, `ChartDigestError` or the
        registry's errors (`ChartAuthError`, `ChartRepositoryUnreachableError`, ...).
        """
        location = parse_oci_url(repo_url, enable_oci=enable_oci, plain_http=plain_http)
        return await self._resolve(
            repo_url, location, target_revision, creds, ca_pem, self._content_layer
        )

    async def resolve_selected(
        self,
        repo_url: str,
        target_revision: str,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
        *,
        plain_http: bool = False,
        media_type: str | None = None,
    ) -> ResolvedArtifact:
        """As `resolve`, the layer chosen by Flux's ``layerSelector`` instead of Argo CD's
        rules: the first of ``media_type`` (None: the first layer)."""
        location = parse_oci_url(repo_url, plain_http=plain_http)
        return await self._resolve(
            repo_url, location, target_revision, creds, ca_pem,
            functools.partial(selected_layer, media_type),
        )  # fmt: skip

    async def check_for_update(
        self,
        previous: ResolvedArtifact,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
    ) -> ResolvedArtifact | None:
        """One poll: the new resolution when `previous.target_revision` now selects another
        manifest (a moved tag, a newer version in the range), else None. Costs a manifest
        HEAD (after a tag list for a range; nothing for a digest); a manifest is read only
        when something moved, and no layer is downloaded."""
        return await self._recheck(previous, creds, ca_pem, self._content_layer)

    async def fetch_layer(
        self,
        resolved: ResolvedArtifact,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
    ) -> tuple[Path, bool]:
        """The artifact's layer in the on-disk store (and whether it was there already),
        downloaded when missing and checked against the manifest's digest."""
        hex_digest = resolved.layer.digest.removeprefix("sha256:")
        hit = await asyncio.to_thread(self._store.cached, hex_digest)
        if hit is not None:
            return hit, True
        path = await self._shared(
            ("oci-blob", hex_digest), lambda: self._download_layer(resolved, creds, ca_pem)
        )
        return path, False

    async def _download_layer(
        self, resolved: ResolvedArtifact, creds: RepoCredentials | None, ca_pem: str | None
    ) -> Path:
        what = artifact_what(resolved.location, resolved.tag or resolved.digest)
        body = await self._blob(resolved.location, resolved.layer, creds, ca_pem, what)
        hex_digest = resolved.layer.digest.removeprefix("sha256:")
        return await asyncio.to_thread(self._store.put, body, hex_digest)

    async def _blob(
        self,
        location: OciLocation,
        layer: OciLayer,
        creds: RepoCredentials | None,
        ca_pem: str | None,
        what: str,
    ) -> bytes:
        try:
            async with self._session(location, creds, ca_pem) as session:
                answer = await self._client.request(
                    session,
                    "GET",
                    f"{session.origin}/v2/{location.repository}/blobs/{layer.digest}",
                    max_bytes=layer.size,
                    max_redirects=self.limits.max_redirects,
                )
                if answer.status == 404:
                    raise ChartRepositoryError(
                        f"{what}: the registry has no blob {layer.digest}, which its manifest "
                        "names",
                        location.url,
                        404,
                    )
                self._expect_success(session, answer, location, what)
        except ChartLimitError:
            raise ChartDigestError(
                f"{what}: the registry sent more than the {layer.size} bytes the manifest gives "
                f"the layer {layer.digest}; refusing it"
            ) from None
        self.blob_downloads += 1
        actual = await asyncio.to_thread(sha256_hex, answer.body)
        if f"sha256:{actual}" != layer.digest:
            raise ChartDigestError(
                f"{what}: the layer downloaded has the sha256 digest {actual}, but the manifest "
                f"says {layer.digest}; refusing it (the blob was altered in the registry or on "
                "the way)"
            )
        return answer.body

    async def materialize(
        self,
        resolved: ResolvedArtifact,
        dest: Path,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
    ) -> Path:
        """Fetch the artifact's layer and unpack it as the folder `dest` (which must not exist
        yet; its parents are made); answers `dest`, the root of the tree the Application's
        `path` is relative to. Nothing appears at `dest` unless all of it succeeded.

        Raises the errors of `fetch_layer`, `ChartArchiveError` and `ChartLimitError`.
        """
        blob, _ = await self.fetch_layer(resolved, creds, ca_pem)
        dest = Path(dest)
        what = artifact_what(resolved.location, resolved.tag or resolved.digest)
        staging = Path(await asyncio.to_thread(staging_folder, dest))
        try:
            tree = staging / "tree"
            media_type = resolved.layer.media_type
            await asyncio.to_thread(unpack_layer, blob, tree, media_type, self.limits, what)
            await asyncio.to_thread(os.rename, tree, dest)
        except OSError as exc:
            raise ChartError(f"cannot place {what} in {dest}: {exc.strerror}") from None
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)
        return dest

    # --- charts --------------------------------------------------------------------------------

    async def resolve_chart(
        self,
        repo_url: str,
        chart: str,
        target_revision: str,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
        *,
        plain_http: bool = False,
        enable_oci: bool = False,
    ) -> ResolvedChart:
        """The chart `chart` of the registry path `repo_url` (`oci://host/path` holds it as
        `host/path/chart`) at the version `target_revision` selects, as `ChartSource.resolve`
        answers for a Helm repository; its `digest` is the chart layer's."""
        location = parse_oci_url(repo_url, chart, enable_oci=enable_oci, plain_http=plain_http)
        artifact = await self._resolve(
            repo_url, location, target_revision, creds, ca_pem, chart_layer
        )
        return _chart_of(artifact, chart)

    async def check_chart_for_update(
        self,
        previous: ResolvedChart,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
    ) -> ResolvedChart | None:
        """`check_for_update` for a chart: the new resolution when another chart layer is
        selected, else None."""
        if previous.artifact is None:
            raise ChartError(f"chart {previous.name} is not from an OCI registry")
        artifact = await self._recheck(previous.artifact, creds, ca_pem, chart_layer)
        if artifact is None:
            return None
        current = _chart_of(artifact, previous.name)
        return current if current.differs_from(previous) else None

    async def fetch_chart(
        self,
        resolved: ResolvedChart,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
    ) -> FetchedChart:
        """The chart's archive (its chart layer) in the on-disk store, as `ChartSource.fetch`
        answers it."""
        if resolved.artifact is None:
            raise ChartError(f"chart {resolved.name} is not from an OCI registry")
        path, cached = await self.fetch_layer(resolved.artifact, creds, ca_pem)
        return FetchedChart(resolved, path, resolved.artifact.layer.digest, True, cached=cached)


def _chart_of(artifact: ResolvedArtifact, chart: str) -> ResolvedChart:
    annotations = dict(artifact.annotations)
    version = artifact.version
    if artifact.tag is None:
        version = annotations.get(_VERSION_ANNOTATION) or artifact.digest
    return ResolvedChart(
        repo_url=artifact.repo_url,
        name=chart,
        version=version,
        digest=artifact.layer.digest,
        urls=(),
        target_revision=artifact.target_revision,
        created=annotations.get(_CREATED_ANNOTATION, ""),
        artifact=artifact,
    )
