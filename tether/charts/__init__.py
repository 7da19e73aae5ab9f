"""Charts from Helm repositories (Argo CD's `spec.source.chart`): index, resolution, archives,
credentials and dependencies. `ChartSource` is the face the controller uses."""

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
)
from tether.charts.index import parse_index
from tether.charts.limits import DEFAULT_LIMITS, ChartLimits
from tether.charts.models import (
    ChartDependencyRef,
    ChartIndex,
    ChartVersion,
    FetchedChart,
    MaterializedChart,
    ResolvedChart,
)
from tether.charts.resolve import resolve_chart, select_version
from tether.charts.source import ChartSource, DependencyCredentials

__all__ = [
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
    "RepoAccess",
    "ResolvedChart",
    "parse_index",
    "resolve_chart",
    "select_version",
]
