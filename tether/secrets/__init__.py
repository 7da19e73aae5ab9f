"""Secrets in Git: Bitnami-compatible Sealed Secrets and SOPS (age) decryption.

``sealed`` is the kubeseal wire format, ``keys`` the sealing key pairs, ``controller`` the
SealedSecret controller (its Kubernetes calls in ``kubeapi``), ``certserver`` its HTTP endpoints (``cert_app``), ``sops`` SOPS
decryption with MAC verification, ``crd`` the SealedSecret CRD.
"""

from tether.secrets.controller import (
    ControllerOptions,
    SealedSecretsController,
    SyncResult,
)
from tether.secrets.keys import KeyMaterialError, KeyPair, KeyRing, generate_key_pair
from tether.secrets.kubeapi import ClusterKubeApi, KubeApi
from tether.secrets.sealed import (
    CorruptedValueError,
    NoMatchingKeyError,
    PlainSecret,
    Scope,
    SealingError,
    reseal,
    seal_secret,
    seal_value,
    unseal_data,
    unseal_value,
)
from tether.secrets.sops import (
    SopsError,
    SopsFormatError,
    SopsKeys,
    SopsMacMismatchError,
    SopsMetadataMissingError,
    SopsNoKeyError,
)

__all__ = [
    "ClusterKubeApi",
    "ControllerOptions",
    "CorruptedValueError",
    "KeyMaterialError",
    "KeyPair",
    "KeyRing",
    "KubeApi",
    "NoMatchingKeyError",
    "PlainSecret",
    "Scope",
    "SealedSecretsController",
    "SealingError",
    "SopsError",
    "SopsFormatError",
    "SopsKeys",
    "SopsMacMismatchError",
    "SopsMetadataMissingError",
    "SopsNoKeyError",
    "SyncResult",
    "generate_key_pair",
    "reseal",
    "seal_secret",
    "seal_value",
    "unseal_data",
    "unseal_value",
]
