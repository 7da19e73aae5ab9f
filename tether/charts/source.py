"""Charts from Helm repositories: Argo CD's `spec.source.chart` with `repoURL` and
`targetRevision`, resolved, fetched, checked and unpacked for `helm template`.

`ChartSource` is long-lived (one per controller) and safe to share between asyncio tasks. It
keeps each repository's parsed index in memory, per set of credentials, and re-validates it
with a conditional GET (`ETag` / `Last-Modified`), so a poll of a repository where nothing moved
downloads nothing. Archives are kept on disk by digest. Concurrent requests for the same index
or archive share one download; no lock is held across I/O, and hashing and unpacking run in
worker threads.

Charts from OCI registries (`repoURL: oci://...`, or a repoURL without a scheme whose Secret
says `enableOCI`) take the same path: `resolve` answers a `ResolvedChart` whose `artifact` says
where its chart layer is, and `fetch`, `materialize` and `check_for_update` dispatch on it.
`artifacts` (`tether.charts.oci.OciArtifacts`) serves Argo CD's OCI sources of plain
manifests; its layers share the archive store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar, cast

import httpx2

from tether.charts.access import RepoAccess
from tether.charts.archive import unpack_chart
from tether.charts.dependencies import chart_metadata, place_dependencies
from tether.charts.errors import (
    ChartArchiveError,
    ChartDigestError,
    ChartError,
    ChartIndexError,
    ChartNotFoundError,
    ChartRepositoryError,
    ChartVersionNotFoundError,
)
from tether.charts.index import parse_index
from tether.charts.limits import DEFAULT_LIMITS, ChartLimits
from tether.charts.models import (
    ChartIndex,
    FetchedChart,
    MaterializedChart,
    ResolvedChart,
    Validators,
)
from tether.charts.oci import OciArtifacts
from tether.charts.ociref import is_oci_url
from tether.charts.resolve import resolve_chart
from tether.charts.store import ChartStore, sha256_hex
from tether.charts.transport import RepoTransport
from tether.charts.urls import check_chart_name, check_repo_url, index_url, origin
from tether.images.registry import RegistryLimits
from tether.source.credentials import RepoCredentials
from tether.source.urls import scrub_url

log = logging.getLogger(__name__)

T = TypeVar("T")
#: the credentials and CA (PEM) for a dependency's repository URL
DependencyCredentials = Callable[[str], tuple[RepoCredentials | None, str | None]]


@dataclass(frozen=True)
class _IndexAnswer:
    index: ChartIndex
    changed: bool
    asked: bool  # a request went to the repository for this answer


class ChartSource:
    """Resolves, fetches and unpacks charts of Helm repositories (see the module's docstring).

    `cache_root` is where archives are kept (created when missing). `transport` lets tests
    route requests; `clock` (seconds, monotonic) decides when a cached index is stale.
    `registry_limits` bound what OCI registries answer (manifests, tag lists, tokens).
    """

    def __init__(
        self,
        cache_root: Path,
        limits: ChartLimits = DEFAULT_LIMITS,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        registry_limits: RegistryLimits | None = None,
    ) -> None:
        self.limits = limits
        self._store = ChartStore(Path(cache_root))
        self._http = RepoTransport(limits, transport)
        #: artifacts of OCI registries: charts (through `resolve`) and plain manifests
        self.artifacts = OciArtifacts(
            self._store,
            self._shared,
            self._http._context,
            limits,
            registry_limits=registry_limits,
            transport=transport,
        )
        self._clock = clock
        self._indexes: OrderedDict[tuple[str, str], ChartIndex] = OrderedDict()
        self._flights: dict[Hashable, asyncio.Task[object]] = {}
        #: what went over the network, for tests and metrics
        self.index_downloads = 0
        self.index_not_modified = 0
        self.archive_downloads = 0

    async def aclose(self) -> None:
        """Stop downloads in flight and close the connection pool."""
        flights = list(self._flights.values())
        for flight in flights:
            flight.cancel()
        await asyncio.gather(*flights, return_exceptions=True)
        await self._http.aclose()
        await self.artifacts.aclose()

    # --- indexes -----------------------------------------------------------------------------

    def _access(
        self,
        repo_url: str,
        creds: RepoCredentials | None,
        ca_pem: str | None,
        pass_credentials: bool = False,
    ) -> RepoAccess:
        return RepoAccess(check_repo_url(repo_url), creds, ca_pem or None, pass_credentials)

    async def _shared(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work` once for every concurrent caller asking for `key`; a caller that is
        cancelled does not cancel it for the others."""
        flight = self._flights.get(key)
        if flight is None:

            async def run() -> object:
                return await work()

            flight = asyncio.ensure_future(run())
            self._flights[key] = flight

            def forget(done: asyncio.Task[object]) -> None:
                if self._flights.get(key) is done:
                    del self._flights[key]
                if not done.cancelled():
                    done.exception()  # retrieved: no "never retrieved" warning when all left

            flight.add_done_callback(forget)
        return cast(T, await asyncio.shield(flight))

    def _remember(self, key: tuple[str, str], index: ChartIndex) -> None:
        self._indexes[key] = index
        self._indexes.move_to_end(key)
        while len(self._indexes) > self.limits.max_cached_indexes:
            self._indexes.popitem(last=False)

    async def _index(self, access: RepoAccess, *, force: bool) -> _IndexAnswer:
        key = (access.repo_url, access.fingerprint())
        cached = self._indexes.get(key)
        fresh = cached is not None and self._clock() - cached.fetched_at < self.limits.index_max_age
        if cached is not None and fresh and not force:
            self._indexes.move_to_end(key)
            return _IndexAnswer(cached, changed=False, asked=False)
        return await self._shared(("index", *key), lambda: self._download_index(key, access))

    async def _download_index(self, key: tuple[str, str], access: RepoAccess) -> _IndexAnswer:
        cached = self._indexes.get(key)
        shown = scrub_url(access.repo_url)
        url = index_url(access.repo_url)
        try:
            download = await self._http.get(
                url,
                access,
                max_bytes=self.limits.max_index_bytes,
                what=f"the index of the Helm repository {shown}",
                validators=cached.validators if cached else None,
            )
        except ChartRepositoryError as exc:
            if exc.status != 404:
                raise
            raise ChartIndexError(
                f"the Helm repository {shown} has no index.yaml ({scrub_url(url)} answered "
                "404): is repoURL the URL of a Helm repository?",
                shown,
                404,
            ) from None
        now = self._clock()
        if download.status == 304 and cached is not None:
            self.index_not_modified += 1
            validators = Validators(
                etag=download.validators.etag or cached.validators.etag,
                last_modified=download.validators.last_modified or cached.validators.last_modified,
            )
            index = replace(cached, fetched_at=now, validators=validators)
            self._remember(key, index)
            return _IndexAnswer(index, changed=False, asked=True)
        if download.status == 304:
            raise ChartIndexError(f"{scrub_url(url)} answered 304 to a plain request", shown)
        self.index_downloads += 1
        content = await asyncio.to_thread(sha256_hex, download.body)
        if cached is not None and cached.content_sha256 == content:
            index = replace(cached, fetched_at=now, validators=download.validators)
            self._remember(key, index)
            return _IndexAnswer(index, changed=False, asked=True)
        parsed = await asyncio.to_thread(parse_index, download.body, access.repo_url, self.limits)
        index = replace(parsed, validators=download.validators, fetched_at=now)
        self._remember(key, index)
        if index.skipped:
            log.warning("%s: %d malformed entries of index.yaml skipped", shown, index.skipped)
        return _IndexAnswer(index, changed=True, asked=True)

    async def index(
        self, repo_url: str, creds: RepoCredentials | None = None, ca_pem: str | None = None
    ) -> ChartIndex:
        """The repository's index: the cached one while it is fresh (`index_max_age`), else
        downloaded again (conditionally when one is cached)."""
        answer = await self._index(self._access(repo_url, creds, ca_pem), force=False)
        return answer.index

    async def refresh(
        self, repo_url: str, creds: RepoCredentials | None = None, ca_pem: str | None = None
    ) -> bool:
        """Ask the repository whether its index changed (a conditional GET, whatever the age of
        the cached one); True when this call saw it change (or nothing was cached yet).

        Applications sharing a repository share its cached index, so only one caller sees
        True for a change: to decide per application, use `check_for_update`."""
        answer = await self._index(self._access(repo_url, creds, ca_pem), force=True)
        return answer.changed

    # --- resolving -----------------------------------------------------------------------------

    async def resolve(
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
        """The version of `chart` that `target_revision` selects (an exact version, a semver
        range, `*` or empty for the newest release), from the cached index while it is fresh.

        When a cached index has no match, it is re-validated once first: a version published
        since the last poll is found at once. Raises `InvalidChartSourceError`,
        `ChartNotFoundError`, `ChartVersionNotFoundError` or the repository's errors.

        An OCI repoURL (`oci://host/path`; without a scheme when `enable_oci`, the Secret's
        `enableOCI`) is read from the registry: the chart is `host/path/<chart>`, its tags
        are its versions (see `OciArtifacts.resolve_chart`); `plain_http` speaks http to it.
        """
        if is_oci_url(repo_url, enable_oci):
            return await self.artifacts.resolve_chart(
                repo_url,
                chart,
                target_revision,
                creds,
                ca_pem,
                plain_http=plain_http,
                enable_oci=enable_oci,
            )
        access = self._access(repo_url, creds, ca_pem)
        check_chart_name(chart)
        answer = await self._index(access, force=False)
        try:
            return resolve_chart(answer.index, chart, target_revision)
        except (ChartNotFoundError, ChartVersionNotFoundError):
            if answer.asked:
                raise
        answer = await self._index(access, force=True)
        return resolve_chart(answer.index, chart, target_revision)

    async def check_for_update(
        self,
        previous: ResolvedChart,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
    ) -> ResolvedChart | None:
        """One poll: re-validate the index (a 304 when nothing moved), resolve
        `previous.target_revision` again from it (no request) and answer the new resolution
        when it names another archive than `previous`, else None.

        For a chart from an OCI registry: a manifest HEAD (after a tag list when
        targetRevision is a range), nothing downloaded when nothing moved."""
        if previous.artifact is not None:
            return await self.artifacts.check_chart_for_update(previous, creds, ca_pem)
        await self.refresh(previous.repo_url, creds, ca_pem)
        current = await self.resolve(
            previous.repo_url, previous.name, previous.target_revision, creds, ca_pem
        )
        return current if current.differs_from(previous) else None

    # --- archives ------------------------------------------------------------------------------

    async def fetch(
        self,
        resolved: ResolvedChart,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
        *,
        pass_credentials: bool = False,
    ) -> FetchedChart:
        """The chart's archive in the on-disk cache, downloaded when not there yet and checked
        against the index's digest (`ChartDigestError` on a mismatch). Without a digest in the
        index, the archive is downloaded every time and accepted unchecked (`verified` False).
        `pass_credentials` sends the login to archive URLs on other hosts too. A chart from
        an OCI registry is its chart layer, checked against the manifest's digest."""
        if resolved.artifact is not None:
            return await self.artifacts.fetch_chart(resolved, creds, ca_pem)
        access = self._access(resolved.repo_url, creds, ca_pem, pass_credentials)
        expected = _expected_hex(resolved)
        if expected is not None:
            hit = await asyncio.to_thread(self._store.cached, expected)
            if hit is not None:
                return FetchedChart(resolved, hit, f"sha256:{expected}", True, cached=True)
            key: Hashable = ("archive", expected)
        else:
            key = ("archive", resolved.urls, access.fingerprint())
        return await self._shared(key, lambda: self._download_archive(resolved, access, expected))

    async def _download_archive(
        self, resolved: ResolvedChart, access: RepoAccess, expected: str | None
    ) -> FetchedChart:
        what = f"chart {resolved.name} {resolved.version}"
        if not resolved.urls:
            raise ChartIndexError(f"{what}: the index gives no URL for it", resolved.repo_url)
        url = resolved.urls[0]
        if origin(url)[0] not in ("http", "https"):
            raise ChartIndexError(
                f"{what}: the index gives {scrub_url(url)[:200]!r} as its URL, which is not "
                "http(s)",
                scrub_url(resolved.repo_url),
            )
        download = await self._http.get(
            url, access, max_bytes=self.limits.max_chart_bytes, what=what, compressed=False
        )
        self.archive_downloads += 1
        actual = await asyncio.to_thread(sha256_hex, download.body)
        if expected is not None and actual != expected:
            raise ChartDigestError(
                f"{what}: the archive from {scrub_url(url)} has the sha256 digest {actual}, but "
                f"the repository index says {expected}; refusing it (the archive was replaced "
                "after the index was written, or altered on the way)"
            )
        if expected is None:
            log.warning(
                "%s: the index gives no digest; archive accepted as sha256 %s", what, actual
            )
        path = await asyncio.to_thread(self._store.put, download.body, actual)
        return FetchedChart(resolved, path, f"sha256:{actual}", expected is not None, cached=False)

    async def _unpack(self, fetched: FetchedChart, target: Path) -> None:
        """Unpack a fetched archive into `target` and check it is the chart it should be."""
        chart = fetched.chart
        what = f"chart {chart.name} {chart.version}"
        await asyncio.to_thread(unpack_chart, fetched.archive, target, self.limits, what)
        meta = await asyncio.to_thread(chart_metadata, target, self.limits, what)
        if str(meta.get("name")) != chart.name:
            raise ChartArchiveError(
                f"{what}: the archive holds the chart {str(meta.get('name'))[:100]!r}, not "
                f"{chart.name!r}; the repository index does not describe it"
            )

    async def materialize(
        self,
        resolved: ResolvedChart,
        dest: Path,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
        *,
        pass_credentials: bool = False,
        dependency_credentials: DependencyCredentials | None = None,
    ) -> Path:
        """`materialize_chart`, answering only the chart folder (`dest/<chart name>`)."""
        materialized = await self.materialize_chart(
            resolved,
            dest,
            creds,
            ca_pem,
            pass_credentials=pass_credentials,
            dependency_credentials=dependency_credentials,
        )
        return materialized.path

    async def materialize_chart(
        self,
        resolved: ResolvedChart,
        dest: Path,
        creds: RepoCredentials | None = None,
        ca_pem: str | None = None,
        *,
        pass_credentials: bool = False,
        dependency_credentials: DependencyCredentials | None = None,
    ) -> MaterializedChart:
        """Fetch the chart, unpack it as `dest/<chart name>` and place its remote dependencies
        in its `charts/`, ready for `helm template` without network. Nothing appears in
        `dest` unless all of it succeeded.

        A dependency's repository gets `dependency_credentials(url)`; without that function, a
        dependency on the chart's own origin gets the chart's credentials and CA, any other
        none. Raises the errors of `fetch`, `ChartArchiveError`, `ChartLimitError` and
        `ChartDependencyError`.
        """
        fetched = await self.fetch(resolved, creds, ca_pem, pass_credentials=pass_credentials)
        warnings: list[str] = []
        self._note_unverified(fetched, warnings)
        dest = Path(dest)
        final = dest / resolved.name
        staging = Path(await asyncio.to_thread(_staging_folder, dest, final))
        try:
            chart_dir = staging / resolved.name
            await self._unpack(fetched, chart_dir)

            def access_for(url: str) -> tuple[RepoCredentials | None, str | None]:
                if dependency_credentials is not None:
                    return dependency_credentials(url)
                same = origin(check_repo_url(url)) == origin(resolved.repo_url)
                return (creds, ca_pem) if same else (None, None)

            async def resolve_dependency(url: str, name: str, version: str) -> ResolvedChart:
                dep_creds, dep_ca = access_for(url)
                return await self.resolve(url, name, version, dep_creds, dep_ca)

            async def unpack_dependency(dep: ResolvedChart, target: Path) -> None:
                dep_creds, dep_ca = access_for(dep.repo_url)
                dep_fetched = await self.fetch(dep, dep_creds, dep_ca)
                self._note_unverified(dep_fetched, warnings)
                await self._unpack(dep_fetched, target)

            what = f"chart {resolved.name} {resolved.version}"
            placed = await place_dependencies(
                chart_dir, self.limits, resolve_dependency, unpack_dependency, what
            )
            await asyncio.to_thread(os.rename, chart_dir, final)
        except OSError as exc:
            raise ChartError(f"cannot place chart {resolved.name} in {dest}: {exc}") from None
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)
        return MaterializedChart(final, resolved, fetched.digest, placed, tuple(warnings))

    @staticmethod
    def _note_unverified(fetched: FetchedChart, warnings: list[str]) -> None:
        if not fetched.verified:
            chart = fetched.chart
            warnings.append(
                f"the index of {scrub_url(chart.repo_url)} gives no digest for chart "
                f"{chart.name} {chart.version}: its archive was not checked "
                f"(its digest is {fetched.digest})"
            )


def _expected_hex(resolved: ResolvedChart) -> str | None:
    digest = resolved.digest
    if digest is None:
        return None
    if not digest.startswith("sha256:"):
        raise ChartDigestError(
            f"chart {resolved.name} {resolved.version}: the index gives the digest "
            f"{digest[:100]!r}, which is not a sha256 digest; the archive cannot be checked"
        )
    return digest.removeprefix("sha256:")


def _staging_folder(dest: Path, final: Path) -> str:
    """A private folder in `dest` to build the chart in; `final` must not exist yet."""
    dest.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise ChartError(f"cannot place the chart: {final} already exists")
    return tempfile.mkdtemp(prefix=".tether-chart-", dir=dest)
