"""Charts from Helm repositories (Argo CD's `spec.source.chart`): index, resolution, archives,
credentials and dependencies; charts and plain-manifest artifacts from OCI registries
(`repoURL: oci://...`). `ChartSource` is the face the controller uses; its `artifacts`
(`OciArtifacts`) serves OCI sources without `chart`."""

from __future__ import annotations

from tether.charts.access import RepoAccess
from tether.charts.errors import (
    ChartArchiveError,
    ChartAuthError,
    ChartDependencyError,
    ChartDigestError,
    ChartError,
    ChartIndexError,
    ChartLimitError,
    ChartNotFoundError,
    ChartRepositoryError,
    ChartRepositoryUnreachableError,
    ChartVersionNotFoundError,
    InvalidChartSourceError,
    OciArtifactError,
)
from tether.charts.index import parse_index
from tether.charts.limits import DEFAULT_LIMITS, ChartLimits
from tether.charts.models import (
    ChartDependencyRef,
    ChartIndex,
    ChartVersion,
    FetchedChart,
    MaterializedChart,
    OciLayer,
    OciLocation,
    ResolvedArtifact,
    ResolvedChart,
)
from tether.charts.oci import OciArtifacts
from tether.charts.ocimanifest import DEFAULT_LAYER_MEDIA_TYPES
from tether.charts.ociref import (
    OciSecretFlags,
    is_oci_url,
    oci_flags_from_secret,
    parse_oci_url,
)
from tether.charts.resolve import resolve_chart, select_version
from tether.charts.source import ChartSource, DependencyCredentials

__all__ = [
    "DEFAULT_LAYER_MEDIA_TYPES",
    "DEFAULT_LIMITS",
    "ChartArchiveError",
    "ChartAuthError",
    "ChartDependencyError",
    "ChartDependencyRef",
    "ChartDigestError",
    "ChartError",
    "ChartIndex",
    "ChartIndexError",
    "ChartLimitError",
    "ChartLimits",
    "ChartNotFoundError",
    "ChartRepositoryError",
    "ChartRepositoryUnreachableError",
    "ChartSource",
    "ChartVersion",
    "ChartVersionNotFoundError",
    "DependencyCredentials",
    "FetchedChart",
    "InvalidChartSourceError",
    "MaterializedChart",
    "OciArtifactError",
    "OciArtifacts",
    "OciLayer",
    "OciLocation",
    "OciSecretFlags",
    "RepoAccess",
    "ResolvedArtifact",
    "ResolvedChart",
    "is_oci_url",
    "oci_flags_from_secret",
    "parse_index",
    "parse_oci_url",
    "resolve_chart",
    "select_version",
]
