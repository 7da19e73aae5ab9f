"""Names of the objects ``tether install`` puts on a cluster, and the Argo CD names it shares.

Kept apart from the manifests so that the server (which writes the initial admin Secret) and the
controller command (which reads ``argocd-cmd-params-cm``) can import them without the install.
"""

from __future__ import annotations

from typing import Final

# ---- Argo CD's names (spelled as Argo CD does, so its documentation applies unchanged) --------

#: the Secret holding the generated admin password in clear text, key ``password``
INITIAL_ADMIN_SECRET: Final = "argocd-initial-admin-secret"
INITIAL_ADMIN_PASSWORD_KEY: Final = "password"
#: the ConfigMap of command-line parameters every Argo CD component reads at start
CMD_PARAMS_CONFIGMAP: Final = "argocd-cmd-params-cm"
#: the Argo CD workloads whose presence means a running Argo CD owns the namespace
ARGOCD_WORKLOADS: Final = ("argocd-server", "argocd-application-controller")

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
