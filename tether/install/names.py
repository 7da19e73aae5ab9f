"""Names of the objects ``tether install`` puts on a cluster.

The Argo CD names it shares with the server and the controller command (the initial admin Secret,
``argocd-cmd-params-cm``) live in :mod:`tether.names` with every other Argo CD name.
"""

from __future__ import annotations

from typing import Final

# Argo CD's names live with the others in tether.names; re-exported for the install's modules
from tether.names import (
    ARGOCD_WORKLOADS,
    CMD_PARAMS_CONFIGMAP,
    INITIAL_ADMIN_PASSWORD_KEY,
    INITIAL_ADMIN_SECRET,
)

__all__ = [
    "ARGOCD_WORKLOADS",
    "CMD_PARAMS_CONFIGMAP",
    "INITIAL_ADMIN_PASSWORD_KEY",
    "INITIAL_ADMIN_SECRET",
]

# ---- Tether's own objects -------------------------------------------------------------------

#: Placeholder: no image is published; build one (docs/image.md) and pass ``--image``.
DEFAULT_IMAGE: Final = "ghcr.io/tether/tether:0.1.0"
CONTROLLER_NAME: Final = "tether-controller"
SERVER_NAME: Final = "tether-server"
METRICS_SERVICE: Final = "tether-metrics"
SECRETS_CONTROLLER_NAME: Final = "tether-secrets-controller"
#: the API, UI and webhooks
API_PORT: Final = 8080
#: unauthenticated Prometheus metrics (Argo CD's application controller uses the same port)
METRICS_PORT: Final = 8082
#: the Sealed Secrets controller's certificate endpoint
SECRETS_PORT: Final = 8080
#: the label every installed object carries; ``tether install`` recognises its objects by it
PART_OF_LABEL: Final = "app.kubernetes.io/part-of"
PART_OF: Final = "tether"
NAME_LABEL: Final = "app.kubernetes.io/name"
#: the namespace the Sealed Secrets controller keeps its keys in (Bitnami's default)
SEALING_KEYS_NAMESPACE: Final = "kube-system"
