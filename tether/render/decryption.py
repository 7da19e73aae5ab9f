"""SOPS decryption at render time, as Flux's kustomize-controller does it.

Runs only when the caller passes age identities (``render(..., decryption=SopsKeys)``), on the
render's private copy of the tree before it is sealed read-only:

* directory apps: every selected manifest file that carries SOPS metadata is decrypted in place;
* kustomize apps: the resources and patches the kustomizations reach are decrypted in place;
  ``secretGenerator`` inputs (``files``, ``envs``, ``env``) are decrypted into a sibling copy the
  generator is pointed at, so a ``configMapGenerator`` reading the same file never receives
  plaintext;
* after any tool: Secret ``data``/``stringData`` values that are themselves SOPS documents are
  decrypted (format from the key's extension, binary otherwise).

A file that fails its MAC or that no given key opens is a :class:`RenderError` naming it, and
the render returns nothing. The copy lives in a private temporary folder removed after the render
(a render that decrypts never reads a shared tree in place).
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any

import yaml

from tether.render.directory import find_manifest_files
from tether.render.errors import RenderError, RenderLimitError
from tether.render.kustomize import find_kustomization, is_remote_reference
from tether.render.manifests import load_yaml_file_text
from tether.render.models import KUSTOMIZE
from tether.render.tree import Workspace, is_inside
from tether.secrets.sops import (
    BINARY,
    SopsError,
    SopsKeys,
    decrypt,
    detect_format,
    looks_encrypted,
)

_DECRYPTED_SUFFIX = ".tether-decrypted"


def _decrypt_file(ws: Workspace, path: Path, keys: SopsKeys) -> bytes | None:
    """The plaintext of ``path`` if it is a SOPS file, else None."""
    data = ws.read(path)
    fmt = detect_format(path.name)
    if not looks_encrypted(data, fmt):
        return None
    try:
        return decrypt(data, fmt, keys)
    except SopsError as exc:
        raise RenderError(f"SOPS decryption failed: {exc}", file=ws.relative(path)) from None


def decrypt_in_place(ws: Workspace, path: Path, keys: SopsKeys) -> bool:
    """Decrypt one file of the copy in place; False when it is not a SOPS file."""
    plain = _decrypt_file(ws, path, keys)
    if plain is None:
        return False
    ws.write_file(path, plain)
    return True


def _entries(data: dict[str, Any], field: str) -> list[Any]:
    # anything but a list is left to the safety check, which names the field
    value = data.get(field)
    return value if isinstance(value, list) else []


class _KustomizeInputs:
    """Walks the kustomizations an app reaches and decrypts what they read."""

    def __init__(self, ws: Workspace, keys: SopsKeys) -> None:
        self.ws = ws
        self.keys = keys
        self.visited: set[str] = set()
        self.done: set[str] = set()

    def _local(self, folder: Path, entry: Any) -> Path | None:
        if not isinstance(entry, str) or "\n" in entry or is_remote_reference(entry, folder):
            return None
        resolved = os.path.realpath(folder / entry)
        if not is_inside(str(self.ws.repo), resolved):
            # the safety check reports escapes; here they are simply not read
            return None
        return Path(resolved)

    def visit(self, start: Path) -> None:
        """Decrypt what ``start`` and every folder it reaches read (a work list, not
        recursion: bases may chain deep)."""
        pending = [start]
        while pending:
            real = os.path.realpath(pending.pop())
            if real not in self.visited:
                self.visited.add(real)
                pending.extend(self._decrypt_folder(Path(real)))

    def _decrypt_folder(self, base: Path) -> list[Path]:
        """Decrypt the inputs of one folder's kustomization; returns the folders it reaches."""
        reached: list[Path] = []
        kfile = find_kustomization(base)
        if kfile is None:
            return reached
        try:
            data = load_yaml_file_text(self.ws.read(kfile), self.ws.relative(kfile), self.ws.limits)
        except RenderLimitError:
            raise
        except RenderError:
            # the safety check that follows reports a broken kustomization, with its line
            return reached
        if not isinstance(data, dict):
            return reached
        for field in ("resources", "bases", "components", "patchesStrategicMerge", "crds"):
            for entry in _entries(data, field):
                target = self._local(base, entry)
                if target is None:
                    continue
                if target.is_dir():
                    reached.append(target)
                elif target.is_file():
                    self._in_place(target)
        for field in ("patches", "patchesJson6902"):
            for entry in _entries(data, field):
                if isinstance(entry, dict):
                    target = self._local(base, entry.get("path"))
                    if target is not None and target.is_file():
                        self._in_place(target)
        changed = False
        for generator in _entries(data, "secretGenerator"):
            if isinstance(generator, dict):
                changed |= self._generator(base, generator)
        if changed:
            self.ws.write_file(
                kfile, yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False).encode()
            )
        return reached

    def _in_place(self, path: Path) -> None:
        if str(path) not in self.done:
            self.done.add(str(path))
            decrypt_in_place(self.ws, path, self.keys)

    def _generator(self, base: Path, generator: dict[str, Any]) -> bool:
        changed = False
        for field in ("files", "envs"):
            entries = generator.get(field)
            if not isinstance(entries, list):
                continue
            for i, entry in enumerate(entries):
                if not isinstance(entry, str):
                    continue
                key, sep, rel = entry.partition("=")
                if not sep:
                    key, rel = "", entry
                copy = self._decrypted_copy(base, rel)
                if copy is None:
                    continue
                if field == "files":
                    # keep the key kustomize would have derived from the original file name
                    entries[i] = f"{key or Path(rel).name}={copy}"
                else:
                    entries[i] = copy
                changed = True
        env = generator.get("env")
        if isinstance(env, str):
            copy = self._decrypted_copy(base, env)
            if copy is not None:
                generator["env"] = copy
                changed = True
        return changed

    def _decrypted_copy(self, base: Path, rel: str) -> str | None:
        """Decrypt a generator input next to itself; the new path relative to ``base``."""
        source = self._local(base, rel)
        if source is None or not source.is_file():
            return None
        plain = _decrypt_file(self.ws, source, self.keys)
        if plain is None:
            return None
        target = source.with_name(source.name + _DECRYPTED_SUFFIX)
        self.ws.write_file(target, plain)
        return os.path.relpath(target, base)


def decrypt_sources(
    ws: Workspace, app_dir: Path, tool: str, options: dict[str, Any], keys: SopsKeys
) -> None:
    """Decrypt the SOPS files an app reads, in the (not yet sealed) copy."""
    if tool == KUSTOMIZE:
        _KustomizeInputs(ws, keys).visit(app_dir)
        return
    for _, path in find_manifest_files(app_dir, options):
        if not path.name.endswith(".jsonnet"):
            decrypt_in_place(ws, path, keys)


def decrypt_secret_values(objects: list[dict[str, Any]], keys: SopsKeys) -> None:
    """Decrypt Secret values that are SOPS documents themselves (Flux's "inside" case)."""
    for obj in objects:
        if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1":
            continue
        name = (obj.get("metadata") or {}).get("name")
        for field in ("data", "stringData"):
            values = obj.get(field)
            if not isinstance(values, dict):
                continue
            for key, value in list(values.items()):
                if not isinstance(value, str):
                    continue
                if field == "data":
                    try:
                        raw = base64.b64decode(value, validate=True)
                    except (binascii.Error, ValueError):
                        continue
                else:
                    raw = value.encode()
                fmt = detect_format(key) if "." in key else BINARY
                if not looks_encrypted(raw, fmt):
                    continue
                try:
                    plain = decrypt(raw, fmt, keys)
                except SopsError as exc:
                    raise RenderError(
                        f"SOPS decryption of Secret {name} {field}[{key!r}] failed: {exc}"
                    ) from None
                values[key] = (
                    base64.b64encode(plain).decode() if field == "data" else plain.decode()
                )
