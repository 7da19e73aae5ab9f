"""Secrets in Git: Bitnami-compatible Sealed Secrets and SOPS (age) decryption.

``sealed`` is the kubeseal wire format, ``keys`` the sealing key pairs, ``controller`` the
SealedSecret controller (its Kubernetes calls in ``kubeapi``), ``certserver`` its HTTP
endpoints (``cert_app``), ``sops`` SOPS decryption with MAC verification, ``crd`` the
SealedSecret CRD.

Import the module you need: the package itself imports nothing, so reading SOPS files (every
render's decryption step) does not load the Sealed Secrets controller and its cryptography.
"""
