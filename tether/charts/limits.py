"""The bounds of everything Tether reads from a Helm repository."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class ChartLimits:
    """Sizes, counts and times past which a chart or an index is refused.

    The unpacking bounds are Helm's own defaults (`--max-chart-size`, `--max-file-size`), so a
    chart that Helm unpacks unpacks here too.
    """

    #: `index.yaml` as downloaded (after any Content-Encoding)
    max_index_bytes: int = 32 * MIB
    #: one chart archive (`.tgz`) as downloaded
    max_chart_bytes: int = 64 * MIB
    #: all files of one archive, unpacked
    max_unpacked_bytes: int = 100 * MIB
    #: one file of an archive, unpacked
    max_file_bytes: int = 5 * MIB
    #: files and folders of one archive
    max_files: int = 10_000
    #: one request, redirects included (seconds)
    request_timeout: float = 60.0
    max_redirects: int = 5
    #: `resolve` downloads an index again (conditionally) once the cached one is this old
    index_max_age: float = 180.0
    #: parsed indexes kept in memory (one per repository and set of credentials)
    max_cached_indexes: int = 256
    #: remote dependencies fetched for one chart, all levels together
    max_dependencies: int = 64
    #: dependencies of dependencies ... (the chart itself is level 0)
    max_dependency_depth: int = 5
    #: Chart.yaml, Chart.lock, requirements.yaml of a chart
    max_metadata_bytes: int = 1 * MIB


DEFAULT_LIMITS = ChartLimits()
