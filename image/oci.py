"""Assemble the OCI image layout with umoci, and read back what it holds.

umoci adds each layer tar verbatim (it only compresses it) and writes the configuration; every
call passes ``--no-history`` and the configuration's creation time is the commit's, so nothing
in the image depends on when it was built.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .common import ImageBuildError, run
from .layers import ENTRYPOINT
from .rootfs import HOME, UID

#: the controller's API/UI port in deploy/install.yaml
API_PORT = "8080/tcp"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageInfo:
    """Where the image is, what it is called and what identifies it."""

    layout: Path
    tag: str
    commit: str
    version: str
    epoch: int

    @property
    def ref(self) -> str:
        """``layout:tag``, as umoci and ``skopeo``'s ``oci:`` transport name it."""
        return f"{self.layout}:{self.tag}"


def _created(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def config_arguments(info: ImageInfo) -> list[str]:
    """umoci config flags: user, entrypoint, default command, environment, labels."""
    created = _created(info.epoch)
    labels = {
        "org.opencontainers.image.title": "tether",
        "org.opencontainers.image.version": info.version,
        "org.opencontainers.image.revision": info.commit,
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
    args = [
        "--no-history",
        f"--created={created}",
        "--author=tether",
        f"--config.user={UID}:{UID}",
        f"--config.entrypoint=/{ENTRYPOINT}",
        "--config.cmd=controller",
        f"--config.workingdir={HOME}",
        f"--config.exposedports={API_PORT}",
        f"--config.env=PATH={PATH}",
        f"--config.env=HOME={HOME}",
    ]
    for key, value in labels.items():
        args += [f"--config.label={key}={value}", f"--manifest.annotation={key}={value}"]
    return args


def assemble(info: ImageInfo, layer_tars: list[Path], log: Path) -> None:
    """A fresh layout at ``info.layout`` holding one image, tagged ``info.tag``."""
    if info.layout.exists():
        shutil.rmtree(info.layout)
    run(["umoci", "init", "--layout", str(info.layout)], log, what="umoci init")
    run(["umoci", "new", "--image", info.ref], log, what="umoci new")
    for tar in layer_tars:
        run(
            ["umoci", "raw", "add-layer", "--no-history", "--image", info.ref, str(tar)],
            log,
            what=f"umoci raw add-layer {tar.name}",
        )
    run(
        ["umoci", "config", "--image", info.ref, *config_arguments(info)],
        log,
        what="umoci config",
    )
    run(["umoci", "gc", "--layout", str(info.layout)], log, what="umoci gc")


def _blob(layout: Path, digest: str) -> Path:
    algorithm, _, value = digest.partition(":")
    return layout / "blobs" / algorithm / value


def read_json_blob(layout: Path, digest: str) -> Any:
    """A JSON blob (manifest, configuration) of the layout."""
    return json.loads(_blob(layout, digest).read_text())


def manifest_digest(layout: Path, tag: str) -> str:
    """The digest of the manifest tagged ``tag`` in the layout's index."""
    index = json.loads((layout / "index.json").read_text())
    for entry in index.get("manifests", []):
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return str(entry["digest"])
    raise ImageBuildError(f"{layout} has no image tagged {tag}")


def summary(info: ImageInfo, layer_names: list[str], uncompressed: list[int]) -> dict[str, Any]:
    """Digest, sizes and layers of the built image, for report.json."""
    digest = manifest_digest(info.layout, info.tag)
    manifest = read_json_blob(info.layout, digest)
    config = read_json_blob(info.layout, manifest["config"]["digest"])
    layers = [
        {
            "name": name,
            "digest": layer["digest"],
            "compressed_bytes": layer["size"],
            "uncompressed_bytes": size,
            "diff_id": diff_id,
        }
        for name, layer, size, diff_id in zip(
            layer_names, manifest["layers"], uncompressed, config["rootfs"]["diff_ids"], strict=True
        )
    ]
    return {
        "image": f"tether:{info.tag}",
        "version": info.version,
        "commit": info.commit,
        "source_date_epoch": info.epoch,
        "digest": digest,
        "config_digest": manifest["config"]["digest"],
        "compressed_bytes": sum(layer["size"] for layer in manifest["layers"]),
        "uncompressed_bytes": sum(uncompressed),
        "layers": layers,
    }
