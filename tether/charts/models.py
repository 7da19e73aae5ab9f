"""The plain records passed between the stages of `tether.charts`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tether.images.semver import Version


@dataclass(frozen=True)
class ChartDependencyRef:
    """A dependency as the index (or a Chart.yaml) declares it."""

    name: str
    version: str = ""
    repository: str = ""
    alias: str = ""


@dataclass(frozen=True, slots=True)
class ChartVersion:
    """One version of a chart in a repository index.

    `digest` is `sha256:<hex>` when the index gives a well-formed one, the index's text as it is
    when it gives something else (refused when the archive is fetched), None when it gives none.
    `urls` are as written in the index (maybe relative to the repository). `semver` is the
    parsed version, None when the version is not strict SemVer 2 (then only an exact
    targetRevision selects it).
    """

    name: str
    version: str
    digest: str | None
    urls: tuple[str, ...]
    created: str = ""
    app_version: str = ""
    dependencies: tuple[ChartDependencyRef, ...] = ()
    semver: Version | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Validators:
    """What a conditional request sends back (`If-None-Match`, `If-Modified-Since`)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class ChartIndex:
    """A repository's parsed `index.yaml`: chart name -> versions, newest first.

    `content_sha256` identifies the downloaded text: a refresh that gets the same text again
    changes nothing. `skipped` counts entries left out as malformed (as Helm skips them).
    """

    repo_url: str
    charts: Mapping[str, tuple[ChartVersion, ...]]
    content_sha256: str
    skipped: int = 0
    validators: Validators = Validators()
    #: when it was last confirmed by the server (the ChartSource's clock)
    fetched_at: float = 0.0


@dataclass(frozen=True)
class OciLocation:
    """A repository in an OCI registry: `registry` is its `host[:port]` as written in repoURL
    (`docker.io` stands for Docker Hub), `repository` its path there. `plain_http` speaks
    http instead of https (Argo CD's `insecureOCIForceHttp`)."""

    registry: str
    repository: str
    plain_http: bool = False

    @property
    def reference(self) -> str:
        """`registry/repository`, as an image reference names it."""
        return f"{self.registry}/{self.repository}"

    @property
    def url(self) -> str:
        """`oci://registry/repository`, as a repoURL names it."""
        return f"oci://{self.reference}"


@dataclass(frozen=True)
class OciLayer:
    """A layer of an OCI manifest: its media type, its digest (`sha256:<hex>`) and size."""

    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class ResolvedArtifact:
    """The OCI artifact (one manifest) a targetRevision selects, and its content layer.

    `tag` is the registry's tag (None when targetRevision is a digest); `digest` is the
    manifest's, what Argo CD reports as the synced revision of an OCI source. `exact` is true
    when targetRevision named the tag itself (or a digest): a poll then needs no tag list.
    `annotations` are the manifest's `org.opencontainers.image.*` ones, as Argo CD shows them.
    """

    repo_url: str
    location: OciLocation
    target_revision: str
    tag: str | None
    digest: str
    layer: OciLayer
    exact: bool = False
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def revision(self) -> str:
        """The manifest digest, as Argo CD shows it in `status.sync.revision`."""
        return self.digest

    @property
    def version(self) -> str:
        """The tag read as a version (Helm stores `+` as `_` in tags), else the digest."""
        return self.tag.replace("_", "+") if self.tag is not None else self.digest

    def differs_from(self, other: ResolvedArtifact | None) -> bool:
        """Whether this resolution names another manifest than `other` (None: nothing before)."""
        if other is None:
            return True
        return (self.location.reference, self.digest) != (other.location.reference, other.digest)


@dataclass(frozen=True)
class ResolvedChart:
    """The chart version a targetRevision selects, ready to be fetched.

    `urls` are absolute (none for a chart from an OCI registry: `artifact` says where it is). `revision` is what Argo CD reports as the synced revision of a Helm
    repository source (the chart version); `differs_from` is the cheap "anything to render
    again?" check of a poll.
    """

    repo_url: str
    name: str
    version: str
    digest: str | None
    urls: tuple[str, ...]
    target_revision: str = ""
    app_version: str = ""
    created: str = ""
    #: for a chart from an OCI registry: its manifest and chart layer (`digest` is the layer's)
    artifact: ResolvedArtifact | None = None

    @property
    def revision(self) -> str:
        """The chart version, as Argo CD shows it in `status.sync.revision`."""
        return self.version

    def differs_from(self, other: ResolvedChart | None) -> bool:
        """Whether this resolution names another archive than `other` (None: nothing before).

        Without a digest in the index only the version can tell; with one, a version
        re-published with other content differs too.
        """
        if other is None:
            return True
        return (self.repo_url, self.name, self.version, self.digest) != (
            other.repo_url,
            other.name,
            other.version,
            other.digest,
        )


@dataclass(frozen=True)
class FetchedChart:
    """A chart archive in the on-disk cache; `digest` (`sha256:<hex>`) is of its bytes."""

    chart: ResolvedChart
    archive: Path
    digest: str
    #: False when the index gave no digest to check the archive against
    verified: bool
    #: True when the cache already held it and nothing was downloaded
    cached: bool


@dataclass(frozen=True)
class MaterializedChart:
    """A chart unpacked for `helm template`, its remote dependencies placed in `charts/`."""

    path: Path
    chart: ResolvedChart
    digest: str
    dependencies: tuple[ResolvedChart, ...] = ()
    warnings: tuple[str, ...] = ()
