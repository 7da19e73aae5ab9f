"""One controller on the real stack per test module that asks for ``env``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.controller.stack import Env, running_stack
from tests.sigstore.standin import StandInSigstore
from tether.localcluster.cluster import LocalCluster


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Env]:
    async with running_stack(local_cluster, tmp_path_factory.mktemp("gitops")) as stack:
        yield stack


@pytest.fixture(scope="module")
def sigstore() -> StandInSigstore:
    return StandInSigstore()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def verifying_env(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory, sigstore: StandInSigstore
) -> AsyncIterator[Env]:
    """A stack whose controller checks keyless signatures against the stand-in Sigstore's
    trusted root (``--sigstore-trusted-root``); a module asking for it names it ``env``."""
    root = tmp_path_factory.mktemp("gitops")
    trusted = root / "trusted_root.json"
    trusted.write_bytes(sigstore.trusted_root())
    async with running_stack(local_cluster, root, sigstore_trusted_root=trusted) as stack:
        yield stack
