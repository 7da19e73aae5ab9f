"""Fixtures of the chart tests: charts packaged once per session by the pinned helm,
repositories serving a private copy of them on loopback, and OCI registries (docker-registry,
plain, htpasswd, token auth, TLS; a programmable fake) from `tests.charts.ociregistry` and the
image tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.charts.ociregistry import basic_oci as basic_oci
from tests.charts.ociregistry import helm_home as helm_home
from tests.charts.ociregistry import open_oci as open_oci
from tests.charts.ociregistry import pushed as pushed
from tests.charts.servers import ChartRepoServer, ServerTLS, copy_repo, package, run_helm
from tests.images.conftest import fake_registry as fake_registry
from tests.images.conftest import other_server as other_server
from tests.images.conftest import tls_registry as tls_registry
from tests.images.conftest import token_registry as token_registry
from tether.charts import ChartSource

WEB_VERSIONS = ["1.0.0", "1.2.0", "1.2.5", "1.3.0-rc.1", "2.0.0", "2.1.0-beta.1"]
LIB_VERSIONS = ["0.1.0", "0.1.3", "0.2.0"]

PLACEHOLDER_URL = "http://repository.invalid/charts"

RepoFactory = Callable[..., ChartRepoServer]


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`helm package` of every version of the charts `web` and `lib` (no index yet)."""
    base = tmp_path_factory.mktemp("packaged")
    out = base / "charts"
    package({"web": WEB_VERSIONS, "lib": LIB_VERSIONS}, out, base / "helm-home")
    # indexed once by helm for a placeholder URL; each server writes in its own URL
    run_helm("repo", "index", str(out), "--url", PLACEHOLDER_URL, home=base / "helm-home")
    return out


@pytest.fixture
def chart_repo(packaged: Path, tmp_path: Path) -> Iterator[RepoFactory]:
    """Start a repository serving a copy of the packaged charts, indexed for its own URL."""
    servers: list[ChartRepoServer] = []

    def start(
        *,
        username: str | None = None,
        password: str | None = None,
        tls: ServerTLS | None = None,
        **_: Any,
    ) -> ChartRepoServer:
        root = copy_repo(packaged, tmp_path / f"repo-{len(servers)}" / "charts")
        server = ChartRepoServer(root, username=username, password=password, tls=tls)
        servers.append(server)
        index = root / "index.yaml"
        index.write_text(index.read_text().replace(PLACEHOLDER_URL, server.url))
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[ChartSource]:
    charts = ChartSource(tmp_path / "chart-cache")
    yield charts
    await charts.aclose()
