"""One controller on the real stack per test module that asks for ``env``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.controller.stack import Env, running_stack
from tether.localcluster.cluster import LocalCluster


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Env]:
    async with running_stack(local_cluster, tmp_path_factory.mktemp("gitops")) as stack:
        yield stack
