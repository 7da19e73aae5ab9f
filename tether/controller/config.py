"""Settings of one controller process (Argo CD's names where they exist)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from tether.cluster.config import ClientSettings
from tether.cluster.tracking import Tracking
from tether.names import CONTROLLER_FIELD_MANAGER, DEFAULT_NAMESPACE


@dataclass
class ControllerConfig:
    """Settings of one controller process."""

    namespace: str = DEFAULT_NAMESPACE
    #: timeout.reconciliation: how often refs are polled and every app compared again
    reconcile_interval: float = 120.0
    jitter: float = 0.1
    cache_dir: Path | None = None
    #: reconciles at once (Argo CD's status processors: 20). A reconcile mostly waits on git, a
    #: renderer or the API server, so more than the cores is the point; what protects the API
    #: server is the client's bound on requests in flight, not this (docs/controller.md,
    #: "Scaling": 64 against 20 measured 18.1 against 21.4 s at 1,000 apps)
    workers: int = 64
    #: syncs running at once, among ``workers`` (Argo CD's operation processors: 10). A sync
    #: holds its slot for its writes and the health of its waves before the last, not while
    #: the last wave rolls out
    sync_workers: int = 64
    tracking: Tracking = field(default_factory=Tracking)
    field_manager: str = CONTROLLER_FIELD_MANAGER
    wave_timeout: float = 300.0
    #: first self-heal after drift waits this long; repeated drift doubles it up to the cap
    self_heal_delay: float = 0.2
    self_heal_max_delay: float = 60.0
    leader_election: bool = True
    lease_duration: float = 15.0
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    client_settings: ClientSettings = field(default_factory=ClientSettings)
    #: install the Application/AppProject CRDs and the default AppProject when missing
    bootstrap: bool = True
    #: accept ``file://`` URLs and local paths as repoURL (demos and tests; never the cache)
    allow_local_repositories: bool = False
    #: the Sigstore trusted root keyless signatures are verified against (cosign's
    #: ``--trusted-root``); None: the public-good instance's, shipped with Tether
    sigstore_trusted_root: Path | None = None
    #: Flux objects reconciled at once (Flux's ``--concurrent``); each may run a helm or a
    #: kustomize process
    flux_workers: int = 8
    #: namespaced mode (Argo CD's namespace-install): the only namespaces of the cluster the
    #: controller runs in that it watches and writes; cluster-scoped kinds are neither watched
    #: nor applied there. Empty: cluster-wide.
    managed_namespaces: tuple[str, ...] = ()
