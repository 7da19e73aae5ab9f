"""SOPS decryption with age keys: YAML, JSON, dotenv and binary files, MAC verified.

The format (flux-and-secrets.md §7): every encrypted leaf is
``ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]``, AES-256-GCM under a 32-byte data key with a 32-byte
IV and the leaf's key path joined by ``:`` (plus a trailing ``:``) as associated data. The data
key is age-encrypted to each recipient in the ``sops`` metadata block. The MAC is SHA-512 over the
plaintext of every leaf in document order, upper-case hex, itself encrypted with ``lastmodified``
as associated data. Nothing decrypted is returned unless that MAC matches.

Errors name the file and the key path at fault, never a value: a message may end up in a status
condition or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyrage
import yaml

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tether import safeyaml
from tether.errors import TetherError

YAML = "yaml"
JSON = "json"
DOTENV = "dotenv"
BINARY = "binary"
FORMATS = (YAML, JSON, DOTENV, BINARY)

# sha256(b"sops"): seeds the MAC when only encrypted values are authenticated, so the two MAC
# flavours can never be confused (SOPS's MACOnlyEncryptedInitialization)
_MAC_ONLY_ENCRYPTED_SEED = hashlib.sha256(b"sops").digest()
_ENC = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")
_AGE_IDENTITY = re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]+")
_FRACTION = re.compile(r"\.\d+(?=(?:Z|[+-]\d\d:\d\d)$)")
_DOTENV_PREFIX = "sops_"


class SopsError(TetherError):
    """A SOPS file could not be decrypted; nothing from it may be used."""


class SopsFormatError(SopsError):
    """The file is not valid YAML/JSON/dotenv, or a value is not in SOPS's ``ENC[…]`` form."""


class SopsMetadataMissingError(SopsError):
    """The file has no ``sops`` metadata block, so it is not a SOPS-encrypted file."""


class SopsNoKeyError(SopsError):
    """None of the given age identities can decrypt the file's data key."""


class SopsMacMismatchError(SopsError):
    """The recomputed MAC differs from the stored one: the file was changed after encryption."""


def _where(file: str, path: Iterable[str] = ()) -> str:
    keys = ":".join(path)
    return f"{file or 'SOPS file'}{f' (at {keys})' if keys else ''}"


@dataclass(frozen=True)
class SopsKeys:
    """Age identities (``AGE-SECRET-KEY-1…``) that may decrypt SOPS files.

    The identities never appear in ``repr``; :meth:`fingerprint` identifies the set (for cache
    keys) by its public recipients.
    """

    identities: tuple[str, ...] = field(repr=False)

    def __post_init__(self) -> None:
        for identity in self.identities:
            try:
                pyrage.x25519.Identity.from_str(identity)
            except Exception:
                raise SopsError(
                    "an age identity is not valid (expected AGE-SECRET-KEY-1…; post-quantum "
                    "AGE-SECRET-KEY-PQ-1… keys are not supported)"
                ) from None

    def __repr__(self) -> str:
        return f"SopsKeys(recipients={list(self.recipients())!r})"

    @classmethod
    def from_text(cls, text: str) -> SopsKeys:
        """Every ``AGE-SECRET-KEY-1…`` line of an age key file (comments ignored)."""
        found: list[str] = []
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("#"):
                continue
            found.extend(_AGE_IDENTITY.findall(line))
        return cls(tuple(dict.fromkeys(found)))

    @classmethod
    def from_files(cls, paths: Iterable[Path | str]) -> SopsKeys:
        """The identities of several age key files."""
        found: list[str] = []
        for path in paths:
            found.extend(cls.from_text(Path(path).read_text()).identities)
        return cls(tuple(dict.fromkeys(found)))

    @classmethod
    def from_secret(cls, secret: Mapping[str, Any]) -> SopsKeys:
        """Identities from a Kubernetes Secret (dict), as Flux reads a decryption Secret:
        every ``data`` or ``stringData`` value (``*.agekey`` by convention) holding age keys."""
        found: list[str] = []
        for key, value in (secret.get("data") or {}).items():
            try:
                text = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, ValueError):
                raise SopsError(f"decryption Secret key {key!r} is not valid base64") from None
            found.extend(cls.from_text(text).identities)
        for value in (secret.get("stringData") or {}).values():
            found.extend(cls.from_text(str(value)).identities)
        return cls(tuple(dict.fromkeys(found)))

    def recipients(self) -> tuple[str, ...]:
        """The public age recipients (``age1…``) of the identities, in order."""
        return tuple(str(pyrage.x25519.Identity.from_str(i).to_public()) for i in self.identities)

    def fingerprint(self) -> str:
        """A stable digest of the recipient set: equal for the same keys, reveals none."""
        joined = "\n".join(sorted(self.recipients())).encode()
        return hashlib.sha256(joined).hexdigest()

    def _parsed(self) -> list[pyrage.x25519.Identity]:
        return [pyrage.x25519.Identity.from_str(i) for i in self.identities]


def detect_format(filename: str) -> str:
    """SOPS's store for a file name: YAML, JSON, dotenv by extension, anything else binary."""
    name = filename.lower()
    if name.endswith((".yaml", ".yml")):
        return YAML
    if name.endswith(".json"):
        return JSON
    if name.endswith(".env"):
        return DOTENV
    return BINARY


def looks_encrypted(data: bytes, fmt: str) -> bool:
    """A cheap test for SOPS metadata, before parsing anything: the MAC is always an ENC value."""
    if b"ENC[AES256_GCM" not in data:
        return False
    if fmt == DOTENV:
        return re.search(rb"(?m)^sops_mac=", data) is not None
    return b"sops" in data and b"mac" in data and b"lastmodified" in data


# --- loading -----------------------------------------------------------------------------------


class _GoYamlLoader(safeyaml.SafeLoader):
    """The bounded loader with Go yaml.v3's scalar types, so unencrypted leaves hash as SOPS
    hashes them.

    YAML 1.1 extras that yaml.v3 reads as strings (yes/no/on/off, sexagesimal numbers,
    timestamps) stay strings here too.
    """


_GoYamlLoader.yaml_implicit_resolvers = {}
_GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)


def _load_yaml(data: bytes, file: str) -> list[Any]:
    try:
        return safeyaml.load_all(data, loader=_GoYamlLoader)
    except safeyaml.YamlLimitError as exc:
        raise SopsFormatError(f"{_where(file)}: {exc}") from None
    except safeyaml.YamlError as exc:
        line = f" line {exc.line}" if exc.line is not None else ""
        raise SopsFormatError(f"{_where(file)}: invalid YAML{line}") from None


def _load_json(data: bytes, file: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SopsFormatError(f"{_where(file)}: invalid JSON (line {exc.lineno})") from None


def _load_dotenv(data: bytes, file: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values, flattened metadata): SOPS's dotenv store, ``\\n`` escapes decoded."""
    values: dict[str, Any] = {}
    flat: dict[str, Any] = {}
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw or raw.startswith(b"#"):
            continue
        key, sep, value = raw.decode("utf-8", errors="replace").partition("=")
        if not sep:
            raise SopsFormatError(f"{_where(file)}: line {number} is not KEY=VALUE")
        value = value.replace("\\n", "\n")
        if key.startswith(_DOTENV_PREFIX):
            flat[key[len(_DOTENV_PREFIX) :]] = value
        else:
            values[key] = value
    return values, _unflatten(flat)


def _unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Undo SOPS's metadata flattening (``age__list_0__map_enc``) for dotenv files."""
    root: dict[str, Any] = {}
    for flat_key, value in flat.items():
        parts = re.split(r"(__map_|__list_)", flat_key)
        tokens: list[str | int] = [parts[0]]
        for sep, part in zip(parts[1::2], parts[2::2], strict=True):
            tokens.append(int(part) if sep == "__list_" and part.isdigit() else part)
        node: Any = root
        for token, nxt in zip(tokens, [*tokens[1:], None], strict=True):
            if nxt is None:
                _assign(node, token, value)
                break
            child = _child(node, token)
            if child is None:
                child = [] if isinstance(nxt, int) else {}
                _assign(node, token, child)
            node = child
    if root.get("mac_only_encrypted") is not None:
        root["mac_only_encrypted"] = root["mac_only_encrypted"] == "true"
    return root


def _child(node: Any, token: str | int) -> Any:
    if isinstance(node, list):
        assert isinstance(token, int)
        return node[token] if token < len(node) else None
    return node.get(token)


def _assign(node: Any, token: str | int, value: Any) -> None:
    if isinstance(node, list):
        assert isinstance(token, int)
        while len(node) <= token:
            node.append(None)
        node[token] = value
    else:
        node[token] = value


# --- metadata and the data key -----------------------------------------------------------------


@dataclass(frozen=True)
class _Metadata:
    raw: dict[str, Any]

    def text(self, key: str) -> str:
        value = self.raw.get(key)
        return value if isinstance(value, str) else ""

    def age_stanzas(self) -> list[str]:
        groups: list[dict[str, Any]] = []
        key_groups = self.raw.get("key_groups")
        if key_groups:
            if len(key_groups) > 1:
                raise SopsNoKeyError(
                    "several key_groups (Shamir secret sharing) are not supported; only files "
                    "encrypted to plain age recipients are"
                )
            groups = [g for g in key_groups if isinstance(g, dict)]
        else:
            groups = [self.raw]
        stanzas: list[str] = []
        for group in groups:
            for entry in group.get("age") or []:
                if isinstance(entry, dict) and isinstance(entry.get("enc"), str):
                    stanzas.append(entry["enc"])
        return stanzas

    def age_recipients(self) -> list[str]:
        groups = self.raw.get("key_groups") or [self.raw]
        return [
            str(entry.get("recipient", ""))
            for group in groups
            if isinstance(group, dict)
            for entry in group.get("age") or []
            if isinstance(entry, dict)
        ]

    def other_key_types(self) -> list[str]:
        present = []
        for kind in ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"):
            if self.raw.get(kind):
                present.append(kind)
        return present


def _metadata(obj: Any, file: str) -> _Metadata:
    raw = obj.get("sops") if isinstance(obj, dict) else None
    if not isinstance(raw, dict):
        raise SopsMetadataMissingError(
            f"{_where(file)}: no sops metadata block; the file is not SOPS-encrypted"
        )
    if not isinstance(raw.get("mac"), str) or not raw.get("lastmodified"):
        raise SopsFormatError(f"{_where(file)}: the sops metadata has no mac or lastmodified")
    return _Metadata(raw)


def _data_key(meta: _Metadata, keys: SopsKeys, file: str) -> bytes:
    stanzas = meta.age_stanzas()
    if not stanzas:
        others = meta.other_key_types()
        kinds = ", ".join(others) if others else "no master keys at all"
        raise SopsNoKeyError(
            f"{_where(file)}: no usable key: the file is encrypted for {kinds}, and Tether "
            "decrypts SOPS files with age keys only"
        )
    identities = keys._parsed()
    if identities:
        for armored in stanzas:
            try:
                key = pyrage.decrypt(armored.encode(), identities)
            except Exception:
                # another recipient's stanza, or one of a kind pyrage cannot read: try the next
                continue
            if len(key) == 32:
                return bytes(key)
    recipients = meta.age_recipients()
    hint = ""
    if any(r.startswith("age1pq1") for r in recipients):
        hint = "; post-quantum age recipients (age1pq1…) are not supported"
    shown = ", ".join(r if len(r) <= 24 else r[:20] + "…" for r in recipients)
    raise SopsNoKeyError(
        f"{_where(file)}: no usable key: none of the {len(identities)} age identities given "
        f"decrypts the data key (the file is encrypted for {shown or 'unknown recipients'})"
        f"{hint}"
    )


# --- the tree walk -----------------------------------------------------------------------------


def _go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest round-trip digits, no exponent."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)).normalize(), "f")
    return text


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return _go_float(value).encode()
    return str(value).encode()


class _Walk:
    """Decrypts the leaves of one file's tree in document order and hashes them for the MAC."""

    def __init__(self, meta: _Metadata, key: bytes, file: str) -> None:
        if meta.text("unencrypted_comment_regex") or meta.text("encrypted_comment_regex"):
            raise SopsFormatError(
                f"{_where(file)}: comment-based encryption rules (unencrypted_comment_regex, "
                "encrypted_comment_regex) are not supported"
            )
        self.file = file
        # cryptography loads only when a file is decrypted (~40 ms of every start otherwise)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.aes = AESGCM(key)
        self.mac_only_encrypted = meta.raw.get("mac_only_encrypted") is True
        self.hash = hashlib.sha512()
        if self.mac_only_encrypted:
            self.hash.update(_MAC_ONLY_ENCRYPTED_SEED)
        rules = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex")
        self.unencrypted_suffix = meta.text("unencrypted_suffix")
        if not any(meta.text(rule) for rule in rules):
            # SOPS's default when a file names no rule at all
            self.unencrypted_suffix = "_unencrypted"
        self.encrypted_suffix = meta.text("encrypted_suffix")
        self.unencrypted_regex = _compile(meta.text("unencrypted_regex"), file)
        self.encrypted_regex = _compile(meta.text("encrypted_regex"), file)

    def should_encrypt(self, path: list[str]) -> bool:
        encrypted = True
        if self.unencrypted_suffix and any(p.endswith(self.unencrypted_suffix) for p in path):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex is not None and any(
            self.unencrypted_regex.search(p) for p in path
        ):
            encrypted = False
        if self.encrypted_regex is not None:
            encrypted = any(self.encrypted_regex.search(p) for p in path)
        return encrypted

    def value(self, node: Any, path: list[str]) -> Any:
        if isinstance(node, dict):
            return {k: self.value(v, [*path, str(k)]) for k, v in node.items()}
        if isinstance(node, list):
            # list items share their parent's path: SOPS adds no index
            return [self.value(item, path) for item in node]
        if node is None:
            return None
        encrypted = self.should_encrypt(path)
        plain = self.decrypt(node, path) if encrypted else node
        if encrypted or not self.mac_only_encrypted:
            self.hash.update(_to_bytes(plain))
        return plain

    def decrypt(self, node: Any, path: list[str]) -> Any:
        if node == "":
            return ""
        if not isinstance(node, str):
            raise SopsFormatError(
                f"{_where(self.file, path)}: value should be encrypted but is a plain "
                f"{type(node).__name__}"
            )
        return decrypt_value(self.aes, node, ":".join(path) + ":", _where(self.file, path))

    def mac(self) -> str:
        return self.hash.hexdigest().upper()


def _compile(pattern: str, file: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error:
        raise SopsFormatError(f"{_where(file)}: invalid regular expression in metadata") from None


def decrypt_value(aes: AESGCM, text: str, aad: str, where: str) -> Any:
    """One ``ENC[AES256_GCM,…]`` value, typed as its ``type:`` says."""
    match = _ENC.match(text)
    if match is None:
        raise SopsFormatError(f"{where}: value is not in SOPS's ENC[AES256_GCM,…] form")
    try:
        data, iv, tag = (base64.b64decode(match.group(i), validate=True) for i in (1, 2, 3))
    except (binascii.Error, ValueError):
        raise SopsFormatError(f"{where}: ENC value has invalid base64") from None
    kind = match.group(4)
    from cryptography.exceptions import InvalidTag

    try:
        plain = aes.decrypt(iv, data + tag, aad.encode())
    except (InvalidTag, ValueError):
        raise SopsMacMismatchError(
            f"{where}: value does not authenticate (changed, moved, or encrypted with another "
            "data key)"
        ) from None
    text_value = plain.decode("utf-8", errors="surrogateescape")
    try:
        if kind == "str":
            return text_value
        if kind in ("int", "int64"):
            return int(text_value)
        if kind == "float":
            return float(text_value)
        if kind == "bool":
            return text_value.lower() in ("true", "t", "1")
        if kind == "bytes":
            return plain
    except ValueError:
        raise SopsFormatError(f"{where}: decrypted value does not parse as {kind}") from None
    raise SopsFormatError(f"{where}: unknown value type {kind!r}")


# --- whole files -------------------------------------------------------------------------------


def _verify(walk: _Walk, meta: _Metadata, file: str) -> None:
    # SOPS formats lastmodified with Go's time.RFC3339, which drops fractional seconds
    aad = _FRACTION.sub("", meta.text("lastmodified") or str(meta.raw.get("lastmodified")))
    stored = decrypt_value(walk.aes, meta.text("mac"), aad, f"{_where(file)} MAC")
    if not isinstance(stored, str) or not hmac.compare_digest(stored.upper(), walk.mac()):
        raise SopsMacMismatchError(
            f"{_where(file)}: MAC mismatch: the file was changed after it was encrypted"
        )


def decrypt_tree(
    data: bytes, fmt: str, keys: SopsKeys, *, file: str = ""
) -> list[dict[str, Any]] | dict[str, Any]:
    """The decrypted documents of a YAML (list) or JSON/binary/dotenv (one mapping) file, with
    the ``sops`` block removed, after the MAC was verified."""
    if fmt not in FORMATS:
        raise SopsFormatError(f"{_where(file)}: unknown SOPS format {fmt!r}")
    if fmt == DOTENV:
        values, meta_raw = _load_dotenv(data, file)
        meta = _metadata({"sops": meta_raw or None}, file)
        walk = _Walk(meta, _data_key(meta, keys, file), file)
        plain_env = walk.value(values, [])
        _verify(walk, meta, file)
        return dict(plain_env)
    if fmt == YAML:
        docs = _load_yaml(data, file)
        meta_doc = next((d for d in docs if isinstance(d, dict) and "sops" in d), None)
        meta = _metadata(meta_doc, file)
        walk = _Walk(meta, _data_key(meta, keys, file), file)
        out: list[dict[str, Any]] = []
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise SopsFormatError(f"{_where(file)}: a YAML document is not a mapping")
            body = {k: v for k, v in doc.items() if k != "sops"}
            out.append(walk.value(body, []))
        _verify(walk, meta, file)
        return out
    obj = _load_json(data, file)
    meta = _metadata(obj, file)
    walk = _Walk(meta, _data_key(meta, keys, file), file)
    plain = walk.value({k: v for k, v in obj.items() if k != "sops"}, [])
    _verify(walk, meta, file)
    if fmt == BINARY and (set(plain) != {"data"}):
        raise SopsFormatError(f"{_where(file)}: a binary SOPS file holds exactly one 'data' key")
    return dict(plain)


def decrypt(data: bytes, fmt: str, keys: SopsKeys, *, file: str = "") -> bytes:
    """The plaintext file a SOPS file was made from, in the same format (binary: the raw data).

    Raises :class:`SopsMetadataMissingError`, :class:`SopsNoKeyError`,
    :class:`SopsMacMismatchError` or :class:`SopsFormatError`; messages name ``file`` and the
    key path, never a value.
    """
    tree = decrypt_tree(data, fmt, keys, file=file)
    if fmt == YAML:
        assert isinstance(tree, list)
        return "---\n".join(
            yaml.dump(doc, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True)
            for doc in tree
        ).encode()
    assert isinstance(tree, dict)
    if fmt == DOTENV:
        return "".join(f"{k}={_dotenv_value(v)}\n" for k, v in tree.items()).encode()
    if fmt == BINARY:
        value = tree["data"]
        return value if isinstance(value, bytes) else str(value).encode()
    return orjson.dumps(tree, option=orjson.OPT_INDENT_2)


def _dotenv_value(value: Any) -> str:
    text = value.decode() if isinstance(value, bytes) else str(value)
    return text.replace("\n", "\\n")
