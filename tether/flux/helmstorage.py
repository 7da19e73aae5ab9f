"""Helm's release storage read as Helm writes it: one ``sh.helm.release.v1.<name>.v<N>`` Secret
per revision (labels ``owner=helm``, ``name``, ``status``, ``version``), its ``release`` key the
base64 of the gzip of the release's JSON. Reading it directly tells what ``helm history`` would
(status, chart, values, test hooks) without running helm; a release left ``pending-*`` by a
killed run is marked ``failed`` the way Flux unlocks it.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.resources import ResourceKey
from tether.safeyaml import load_all

SECRET_TYPE = "helm.sh/release.v1"
#: a release bigger than this unpacked is refused (Helm's own bound is the 1 MiB Secret)
MAX_RELEASE_BYTES = 32 * 1024 * 1024
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
_GZIP_MAGIC = b"\x1f\x8b\x08"


class StorageError(ValueError):
    """A release Secret that cannot be read."""


@dataclass(frozen=True)
class HookRun:
    name: str
    phase: str


@dataclass(frozen=True)
class Release:
    """One revision of a release, as ``helm history`` shows it and Flux snapshots it."""

    name: str
    namespace: str
    version: int
    status: str
    chart_name: str
    chart_version: str
    app_version: str
    config_digest: str
    first_deployed: str
    last_deployed: str
    description: str
    tests: tuple[HookRun, ...]
    manifest: str

    @property
    def tests_run(self) -> bool:
        return any(hook.phase for hook in self.tests)

    @property
    def tests_failed(self) -> bool:
        return any(hook.phase not in ("", "Succeeded") for hook in self.tests)

    def snapshot(self) -> dict[str, Any]:
        """The entry of a HelmRelease's ``status.history``."""
        entry: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "version": self.version,
            "status": self.status,
            "chartName": self.chart_name,
            "chartVersion": self.chart_version,
            "appVersion": self.app_version,
            "configDigest": self.config_digest,
            "digest": self.digest,
            "firstDeployed": self.first_deployed,
            "lastDeployed": self.last_deployed,
        }
        if self.tests_run:
            entry["testHooks"] = {
                hook.name: {"phase": hook.phase} for hook in self.tests if hook.phase
            }
        return entry

    @property
    def digest(self) -> str:
        """Flux's digest of the release: its identity and what it deployed."""
        text = json.dumps(
            [
                self.name,
                self.namespace,
                self.version,
                self.chart_name,
                self.chart_version,
                self.config_digest,
                self.manifest,
            ],
        )
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def config_digest(values: Mapping[str, Any]) -> str:
    """The digest of a release's values (canonical JSON: the same values, the same digest)."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def decode_payload(data: str) -> dict[str, Any]:
    """The release JSON of a Secret's ``data.release`` (base64 of Helm's base64 of gzip)."""
    try:
        inner = base64.b64decode(data, validate=False)
        raw = base64.b64decode(inner, validate=False)
        if raw.startswith(_GZIP_MAGIC):
            decompressor = zlib.decompressobj(wbits=31)
            raw = decompressor.decompress(raw, MAX_RELEASE_BYTES)
            if decompressor.unconsumed_tail:
                raise StorageError(f"release larger than {MAX_RELEASE_BYTES} bytes unpacked")
        release = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, StorageError):
            raise
        raise StorageError(f"cannot decode the release: {exc}") from None
    if not isinstance(release, dict):
        raise StorageError("the release is not a JSON object")
    return release


def encode_payload(release: Mapping[str, Any]) -> str:
    """What :func:`decode_payload` reads back: the ``data.release`` of a Secret."""
    packed = gzip.compress(json.dumps(release, separators=(",", ":")).encode(), mtime=0)
    return base64.b64encode(base64.b64encode(packed)).decode()


def parse_release(secret: Mapping[str, Any]) -> Release:
    data = (secret.get("data") or {}).get("release")
    if not isinstance(data, str):
        name = (secret.get("metadata") or {}).get("name")
        raise StorageError(f"Secret {name} has no release")
    return release_of(decode_payload(data))


def release_of(release: Mapping[str, Any]) -> Release:
    info = release.get("info") or {}
    meta = (release.get("chart") or {}).get("metadata") or {}
    tests = []
    for hook in release.get("hooks") or ():
        if isinstance(hook, Mapping) and "test" in (hook.get("events") or ()):
            phase = str((hook.get("last_run") or {}).get("phase") or "")
            tests.append(HookRun(str(hook.get("name") or ""), phase))
    return Release(
        name=str(release.get("name") or ""),
        namespace=str(release.get("namespace") or ""),
        version=int(release.get("version") or 0),
        status=str(info.get("status") or "unknown"),
        chart_name=str(meta.get("name") or ""),
        chart_version=str(meta.get("version") or ""),
        app_version=str(meta.get("appVersion") or ""),
        config_digest=config_digest(release.get("config") or {}),
        first_deployed=str(info.get("first_deployed") or ""),
        last_deployed=str(info.get("last_deployed") or ""),
        description=str(info.get("description") or ""),
        tests=tuple(tests),
        manifest=str(release.get("manifest") or ""),
    )


def history(secrets: Iterable[Mapping[str, Any]]) -> list[Release]:
    """The revisions of one release, newest first; Secrets that cannot be read are skipped
    (Helm skips them too) unless none can be."""
    found, errors = [], []
    for secret in secrets:
        if secret.get("type") not in (SECRET_TYPE, None):
            continue
        try:
            found.append(parse_release(secret))
        except StorageError as exc:
            errors.append(str(exc))
    if errors and not found:
        raise StorageError(errors[0])
    return sorted(found, key=lambda release: release.version, reverse=True)


def unlocked(secret: Mapping[str, Any]) -> dict[str, Any]:
    """The Secret of a release left ``pending-*`` marked ``failed`` (data and label), as Flux
    unlocks a release whose operation was interrupted."""
    data = dict(secret.get("data") or {})
    release = decode_payload(str(data.get("release")))
    info = dict(release.get("info") or {})
    info["status"] = "failed"
    info["description"] = (
        f"Release unlocked from stale '{(release.get('info') or {}).get('status')}' state"
    )
    release["info"] = info
    data["release"] = encode_payload(release)
    meta = dict(secret.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), "status": "failed"}
    return {**secret, "metadata": meta, "data": data}


def manifest_keys(manifest: str, namespace: str) -> list[tuple[ResourceKey, str]]:
    """The objects of a release's manifest as (key, version) pairs, namespaced ones without a
    namespace in the release's; :class:`~tether.safeyaml.YamlError` for a manifest that is
    not YAML."""
    keys = []
    for doc in load_all(manifest):
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        meta = doc.get("metadata") or {}
        group, _, version = str(doc.get("apiVersion") or "").rpartition("/")
        key = ResourceKey(
            group=group,
            kind=str(doc["kind"]),
            namespace=str(meta.get("namespace") or namespace),
            name=str(meta.get("name") or ""),
        )
        keys.append((key, version))
    return keys
