"""Reading an OCI manifest, and choosing the layer Tether unpacks from it.

A Helm chart is the manifest's one layer of media type
`application/vnd.cncf.helm.chart.content.v1.tar+gzip` (or the legacy `application/tar+gzip`
of charts pushed before Helm 3.8); a provenance layer beside it is ignored.

An artifact of plain manifests follows Argo CD's rules: a layer whose media type ends in `tar`
or `tar+gzip` is a content layer; every content layer must be of an accepted media type, and
there must be exactly one (other layers, such as attestations, are skipped). At most ten
layers in all. Accepted by default: Argo CD's defaults (`application/vnd.oci.image.layer.v1.tar`,
`...tar+gzip`, the Helm chart type) and Argo CD's own content type
`application/vnd.cncf.argoproj.argocd.content.v1.tar+gzip`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson

from tether.charts.errors import OciArtifactError
from tether.charts.models import OciLayer
from tether.charts.ociref import MANIFEST_DIGEST

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
#: what a manifest request accepts; an index is asked for only to refuse it clearly
ACCEPT_MANIFESTS = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_LIST))

HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_LEGACY_CHART_LAYER = "application/tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ARGOCD_CONTENT_LAYER = "application/vnd.cncf.argoproj.argocd.content.v1.tar+gzip"
DEFAULT_LAYER_MEDIA_TYPES: tuple[str, ...] = (
    OCI_LAYER_TAR,
    OCI_LAYER_TAR_GZIP,
    HELM_CHART_LAYER,
    ARGOCD_CONTENT_LAYER,
)
#: Argo CD's guard against a manifest of absurdly many layers
MAX_LAYERS = 10
_ANNOTATION_PREFIX = "org.opencontainers.image."
_MAX_ANNOTATION = 1024


@dataclass(frozen=True)
class OciManifest:
    """The parts of a manifest Tether uses."""

    media_type: str
    config_media_type: str
    layers: tuple[OciLayer, ...]
    #: the `org.opencontainers.image.*` annotations (title, version, source, ...)
    annotations: tuple[tuple[str, str], ...] = ()


def _refuse(what: str, problem: str) -> OciArtifactError:
    return OciArtifactError(f"{what}: {problem}")


def _descriptor(item: Any, what: str, where: str) -> OciLayer:
    if not isinstance(item, dict):
        raise _refuse(what, f"{where} of the manifest is not a descriptor object")
    media_type, digest, size = item.get("mediaType"), item.get("digest"), item.get("size")
    if not isinstance(media_type, str) or not media_type or len(media_type) > 255:
        raise _refuse(what, f"{where} of the manifest has no mediaType")
    if not isinstance(digest, str) or not MANIFEST_DIGEST.fullmatch(digest):
        shown = repr(digest)[:100]
        raise _refuse(
            what,
            f"{where} of the manifest has the digest {shown}; Tether checks sha256 digests "
            "only (sha256:<64 lower-case hex digits>)",
        )
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _refuse(what, f"{where} of the manifest has no valid size")
    return OciLayer(media_type, digest, size)


def _annotations(document: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    annotations = document.get("annotations")
    if not isinstance(annotations, dict):
        return ()
    return tuple(
        sorted(
            (key, value[:_MAX_ANNOTATION])
            for key, value in annotations.items()
            if isinstance(key, str)
            and key.startswith(_ANNOTATION_PREFIX)
            and isinstance(value, str)
        )
    )


def parse_manifest(body: bytes, content_type: str, what: str) -> OciManifest:
    """Read a manifest's bytes (`content_type` is the registry's Content-Type).

    Raises `OciArtifactError` for anything but an image manifest (OCI or Docker schema 2):
    an image index (a multi-platform image), another schema, a malformed descriptor, more
    than `MAX_LAYERS` layers.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _refuse(what, "the manifest is not JSON") from None
    if not isinstance(document, dict):
        raise _refuse(what, "the manifest is not a JSON object")
    declared = document.get("mediaType")
    media_type = declared if isinstance(declared, str) and declared else content_type
    media_type = media_type.split(";", 1)[0].strip()
    if media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST) or "manifests" in document:
        raise _refuse(
            what,
            "it is an image index (several manifests, as a multi-platform image), not one "
            "artifact; point targetRevision at one of its manifests by digest",
        )
    if document.get("schemaVersion") != 2:
        raise _refuse(what, "the manifest is not of schema version 2")
    if media_type and media_type not in (OCI_MANIFEST, DOCKER_MANIFEST):
        raise _refuse(what, f"the manifest is of the media type {media_type[:100]!r}")
    config = _descriptor(document.get("config"), what, "the config")
    layers = document.get("layers")
    if not isinstance(layers, list):
        raise _refuse(what, "the manifest has no list of layers")
    if len(layers) > MAX_LAYERS:
        raise _refuse(what, f"the manifest has {len(layers)} layers; at most {MAX_LAYERS} are read")
    parsed = tuple(_descriptor(item, what, f"layer {i + 1}") for i, item in enumerate(layers))
    return OciManifest(
        media_type or OCI_MANIFEST, config.media_type, parsed, _annotations(document)
    )


def _listed(layers: Collection[OciLayer]) -> str:
    return ", ".join(layer.media_type[:100] for layer in layers) or "none"


def chart_layer(manifest: OciManifest, what: str) -> OciLayer:
    """The manifest's one Helm chart layer; raises `OciArtifactError` when there is none or
    more than one."""
    found = [
        layer
        for layer in manifest.layers
        if layer.media_type in (HELM_CHART_LAYER, HELM_LEGACY_CHART_LAYER)
    ]
    if not found:
        raise _refuse(
            what,
            f"the artifact holds no Helm chart layer ({HELM_CHART_LAYER}); its layers are: "
            f"{_listed(manifest.layers)}. Is it a chart pushed with 'helm push'? An artifact "
            "of plain manifests is a source without `chart` (use `path`)",
        )
    if len(found) > 1:
        raise _refuse(what, f"the artifact holds {len(found)} Helm chart layers; a chart has one")
    return found[0]


def selected_layer(media_type: str | None, manifest: OciManifest, what: str) -> OciLayer:
    """Flux's ``layerSelector``: the first layer of ``media_type``, or the first layer at all
    when none is named; raises `OciArtifactError` when there is no such layer."""
    for layer in manifest.layers:
        if media_type is None or layer.media_type == media_type:
            return layer
    wanted = f"of the media type {media_type[:100]!r}" if media_type else "at all"
    raise _refuse(
        what, f"the artifact holds no layer {wanted}; its layers are: {_listed(manifest.layers)}"
    )


def is_content_layer(media_type: str) -> bool:
    """Argo CD's rule: a layer that is a tar archive (maybe gzip-compressed) is content."""
    return media_type.endswith(("tar", "tar+gzip"))


def content_layer(manifest: OciManifest, accepted: Collection[str], what: str) -> OciLayer:
    """The artifact's one content layer (see the module's docstring); raises
    `OciArtifactError` when a content layer's media type is not `accepted`, or when there is
    none or more than one."""
    content = [layer for layer in manifest.layers if is_content_layer(layer.media_type)]
    for layer in content:
        if layer.media_type not in accepted:
            raise _refuse(
                what,
                f"the artifact's layer {layer.digest} is of the media type "
                f"{layer.media_type[:100]!r}, which is not accepted (accepted: "
                f"{', '.join(accepted)})",
            )
    if not content:
        raise _refuse(
            what,
            "the artifact holds no content layer (a tar or tar+gzip archive of the "
            f"manifests); its layers are: {_listed(manifest.layers)}",
        )
    if len(content) > 1:
        raise _refuse(
            what,
            f"the artifact holds {len(content)} content layers ({_listed(content)}); Tether, "
            "as Argo CD, reads an artifact with exactly one: push the folder as one tar+gzip "
            "layer (for example 'oras push REF .')",
        )
    return content[0]
