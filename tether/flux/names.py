"""Names Flux's kustomize-controller uses when it prepares a source folder for ``kustomize build``.

Spelled here once, exactly as Flux (fluxcd/pkg ``kustomize`` and kustomize-controller's
``kustomize.toolkit.fluxcd.io/v1`` API) spells them; code imports them instead of writing the
strings again.
"""

from __future__ import annotations

from typing import Final

# ---- the kustomization file Flux writes ------------------------------------------------------

#: the file Flux creates in a folder that has no kustomization of its own
GENERATED_KUSTOMIZATION_FILE: Final = "kustomization.yaml"
#: what Flux writes as a kustomization's type when the file does not say
KUSTOMIZE_API_VERSION: Final = "kustomize.config.k8s.io/v1beta1"
KUSTOMIZE_KIND: Final = "Kustomization"
#: the namespace Flux gives a generated kustomization listing no resource, so that kustomize
#: (>= 5.3) does not refuse it as empty; nothing is built, so no object ever carries it
PLACEHOLDER_NAMESPACE: Final = "_placeholder"
#: the file extensions Flux lists as resources of a generated kustomization
MANIFEST_EXTENSIONS: Final = (".yaml", ".yml")

# ---- kustomize buildMetadata options ---------------------------------------------------------

ORIGIN_ANNOTATIONS: Final = "originAnnotations"
TRANSFORMER_ANNOTATIONS: Final = "transformerAnnotations"
#: the options the Kustomization API's ``spec.buildMetadata`` enumerates
BUILD_METADATA_OPTIONS: Final = (ORIGIN_ANNOTATIONS, TRANSFORMER_ANNOTATIONS)

# ---- remote references ------------------------------------------------------------------------

#: prefixes (compared case-insensitively) that make a component remote in Flux's eyes; taken by
#: Flux from kustomize's repository-spec parser, without ``file://``
REMOTE_PREFIXES: Final = (
    "git::",
    "gh:",
    "ssh://",
    "https://",
    "http://",
    "git@",
    "github.com:",
    "github.com/",
)
FILE_URL_PREFIX: Final = "file://"
