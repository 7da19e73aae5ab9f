"""The API-semantics tests here run on a bare API server: no simulated controllers racing them.

``test_workloads.py`` and the tests of other packages get the default cluster, whose simulated
controllers and kubelet make workloads run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tether.localcluster.cluster import LocalCluster


@pytest.fixture(scope="package")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    workdir = tmp_path_factory.mktemp("bare-cluster")
    with LocalCluster(kubeconfig=workdir / "kubeconfig", workloads=None) as cluster:
        yield cluster
