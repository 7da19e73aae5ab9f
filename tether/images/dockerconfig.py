"""Image references and registry logins, the way Docker names them and hands them out.

`parse_image` reads a reference as Docker and Flux do: `nginx` is `docker.io/library/nginx`,
whose API answers at `registry-1.docker.io`; `host:5000/a/b` and `localhost/x` name their own
registry. `credentials_from_dockerconfig` picks the login for a registry host out of a
`kubernetes.io/dockerconfigjson` Secret, the Secret Flux's ImageRepository `secretRef` names.
`parse_challenges` reads a registry's `WWW-Authenticate`, and `realm_refusal` decides whether
the token service it names may be asked (and be given the login): a registry's answer names
that server, so a hostile or intercepted answer must not be able to collect the login.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from tether.images.errors import ImageError

DOCKER_HUB = "docker.io"
#: where Docker Hub's distribution API answers; `docker.io` itself only redirects
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

# The grammar of github.com/distribution/reference (reference.go): a registry host[:port], a
# component of a repository path, a tag, a digest.
PATH_COMPONENT_PATTERN = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
DOMAIN_PATTERN = re.compile(
    r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
    r"|\[[a-fA-F0-9:]+\])"
    r"(?::[0-9]{1,5})?"
)
TAG_PATTERN = re.compile(r"[\w][\w.-]{0,127}")
DIGEST_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*,?')
_MAX_NAME_LENGTH = 255
_MAX_REFERENCE_LENGTH = 1024
#: a Secret holds at most 1 MiB; a larger value is not a real one
_MAX_DOCKERCONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ImageRef:
    """An image repository (`registry/repository`), with the tag or digest a reference gave."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The canonical repository name: `docker.io/library/nginx`, `ghcr.io/org/app`."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """`host[:port]` that answers the distribution API for this registry."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def _invalid(reference: str, why: str) -> ImageError:
    shown = reference if len(reference) <= 100 else reference[:100] + "..."
    return ImageError(f"invalid image reference {shown!r}: {why}")


def _looks_like_domain(component: str) -> bool:
    # Docker's rule (normalize.go splitDockerDomain): a first component is a registry when it
    # has a dot or a port, is `localhost`, or has an upper-case letter (never valid in a path).
    return (
        "." in component
        or ":" in component
        or component == "localhost"
        or component != component.lower()
    )


def parse_image(reference: str) -> ImageRef:
    """Parse an image reference, with an optional `:tag` and `@digest`.

    `nginx` gives registry `docker.io`, repository `library/nginx`; `index.docker.io` and
    `registry-1.docker.io` are spelled `docker.io`. Raises `ImageError` for anything Docker
    would refuse (a URL scheme, upper case in the path, an empty component, a bad tag or digest,
    a name over 255 characters).
    """
    text = reference.strip()
    if not text:
        raise _invalid(reference, "it is empty")
    if len(text) > _MAX_REFERENCE_LENGTH:
        raise _invalid(reference, f"longer than {_MAX_REFERENCE_LENGTH} characters")
    if "://" in text:
        raise _invalid(reference, "an image name must not start with a protocol such as https://")
    digest: str | None = None
    if "@" in text:
        text, digest = text.rsplit("@", 1)
        if not DIGEST_PATTERN.fullmatch(digest):
            raise _invalid(reference, f"{digest!r} is not a digest (algorithm:hex)")
    tag: str | None = None
    colon = text.rfind(":")
    if colon > text.rfind("/"):
        text, tag = text[:colon], text[colon + 1 :]
        if not TAG_PATTERN.fullmatch(tag):
            raise _invalid(reference, f"{tag!r} is not a valid tag")
    first, slash, rest = text.partition("/")
    if slash and _looks_like_domain(first):
        registry, path = first, rest
        if not DOMAIN_PATTERN.fullmatch(registry):
            raise _invalid(reference, f"{registry!r} is not a registry host[:port]")
    else:
        registry, path = DOCKER_HUB, text
    if registry.lower() in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    for component in path.split("/"):
        if not PATH_COMPONENT_PATTERN.fullmatch(component):
            why = (
                "a path component is empty"
                if not component
                else f"{component!r} is not a valid path component "
                "(lower-case letters, digits and single . _ __ - separators)"
            )
            raise _invalid(reference, why)
    if len(registry) + 1 + len(path) > _MAX_NAME_LENGTH:
        raise _invalid(reference, f"the name is longer than {_MAX_NAME_LENGTH} characters")
    return ImageRef(registry, path, tag, digest)


def parse_repository(reference: str) -> ImageRef:
    """Parse an image repository as Flux's ImageRepository `spec.image` takes it: no tag, no
    digest (Flux refuses both)."""
    image = parse_image(reference)
    if image.tag is not None:
        raise _invalid(
            reference, f"an image repository must not contain a tag; remove ':{image.tag}'"
        )
    if image.digest is not None:
        raise _invalid(reference, "an image repository must not contain a digest")
    return image


@dataclass(frozen=True)
class Credentials:
    """A registry login. The password is hidden from `repr`."""

    username: str
    password: str = field(repr=False)

    def basic_token(self) -> str:
        """The value after `Basic ` in an Authorization header."""
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def secret_values(self) -> tuple[str, ...]:
        """Every spelling of the secret, so that text quoted from a server can be scrubbed."""
        return tuple(v for v in (self.password, self.basic_token()) if v)


def registry_host_key(host: str) -> str:
    """The host a dockerconfig key or an image's registry stands for, for matching: scheme and
    path dropped, lower case, every Docker Hub alias spelled `docker.io`; the port is kept
    (a login for `host:5000` is not one for `host`)."""
    text = host.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0]
    return DOCKER_HUB if text in DOCKER_HUB_ALIASES else text


def _decode_base64(value: str, what: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ImageError(f"{what} is not valid base64 text") from None


def _auths(secret_data: Mapping[str, str]) -> Mapping[str, Any]:
    """The `auths` map of a dockerconfigjson (or legacy dockercfg) Secret's `.data`."""
    key = ".dockerconfigjson" if ".dockerconfigjson" in secret_data else ".dockercfg"
    raw = secret_data.get(key)
    if raw is None:
        raise ImageError(
            "the Secret has no .dockerconfigjson: a registry Secret is of type "
            "kubernetes.io/dockerconfigjson (kubectl create secret docker-registry)"
        )
    if len(raw) > _MAX_DOCKERCONFIG_BYTES * 4 // 3 + 4:
        raise ImageError(f"the Secret's {key} is larger than a Secret can be")
    text = _decode_base64(str(raw), f"the Secret's {key}")
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ImageError(f"the Secret's {key} is not JSON") from None
    if not isinstance(document, dict):
        raise ImageError(f"the Secret's {key} is not a JSON object")
    auths = document.get("auths", {}) if key == ".dockerconfigjson" else document
    if not isinstance(auths, dict):
        raise ImageError(f"`auths` of the Secret's {key} is not an object")
    return auths


def _entry_credentials(key: str, entry: Any) -> Credentials:
    if not isinstance(entry, dict):
        raise ImageError(f"the login for {key!r} in the Secret is not an object")
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        username, colon, password = _decode_base64(auth, f"`auth` of {key!r}").partition(":")
        if not colon:
            raise ImageError(f"`auth` of {key!r} is not base64 of username:password")
        return Credentials(username, password)
    user, secret = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(secret, str) and (user or secret):
        return Credentials(user, secret)
    raise ImageError(
        f"the login for {key!r} has neither `auth` nor `username` and `password` "
        "(identity tokens are not supported)"
    )


def credentials_from_dockerconfig(secret_data: Mapping[str, str], host: str) -> Credentials | None:
    """The login for registry `host` in a dockerconfigjson Secret's `.data` (base64 values).

    A key equal to `host` wins; otherwise the first key naming the same host (a scheme and a
    path such as `https://index.docker.io/v1/` are ignored, Docker Hub's aliases are one host,
    the port must match). An entry gives `auth` (base64 `user:pass`) or `username` and
    `password`. Returns None when no key names the host; raises `ImageError` for a Secret that
    is not a dockerconfigjson or an entry without usable credentials. Nothing secret appears
    in an error message.
    """
    auths = _auths(secret_data)
    if host in auths:
        return _entry_credentials(host, auths[host])
    wanted = registry_host_key(host)
    for key, entry in auths.items():
        if isinstance(key, str) and registry_host_key(key) == wanted:
            return _entry_credentials(key, entry)
    return None


@dataclass(frozen=True)
class Challenge:
    """One `WWW-Authenticate` challenge: its scheme (lower case) and parameters."""

    scheme: str
    params: dict[str, str]


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Parse `WWW-Authenticate` values: `Bearer realm="...",service="..."`, `Basic realm=...`.
    A header holding several challenges is split at each new scheme."""
    challenges: list[Challenge] = []
    for value in values:
        rest = value.strip()
        while rest:
            scheme, _, rest = rest.partition(" ")
            params: dict[str, str] = {}
            while (match := _CHALLENGE_PARAM.match(rest)) is not None and match.end() > 0:
                raw = match.group(2)
                if raw.startswith('"'):
                    raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                params[match.group(1).lower()] = raw
                rest = rest[match.end() :]
            challenges.append(Challenge(scheme.strip(",").lower(), params))
            rest = rest.strip().lstrip(",").strip()
    return challenges


def realm_refusal(registry_url: str, realm: str, *, with_login: bool) -> str | None:
    """Why the token service `realm` named by the registry at `registry_url` must not be asked
    for a token (sent the login when `with_login`), or None when it may.

    - a realm over https may be asked, with the login (as Docker does: Docker Hub's realm is
      another host, and TLS verification vouches for it);
    - a realm over plain http only when the registry itself is plain http (marked `insecure`
      by the user), and with the login only on the registry's own host: a login never travels
      in clear to a host the user did not mark; an https registry pointing to an http realm is
      a downgrade, refused;
    - anything but an http(s) URL with a host and without user info is refused.
    """
    try:
        url = urlsplit(realm)
        host = url.hostname or ""
    except ValueError:
        url, host = None, ""
    if url is None or url.scheme not in ("http", "https") or not host or "@" in url.netloc:
        shown = realm if len(realm) <= 100 else realm[:100] + "..."
        return f"the registry's token realm {shown!r} is not a usable http(s) URL"
    if url.scheme == "https":
        return None
    registry = urlsplit(registry_url)
    if registry.scheme != "http":
        return (
            f"the registry (https) sends Tether to a token service over plain http ({host}); "
            "refused as a downgrade"
        )
    if with_login and host != (registry.hostname or ""):
        return (
            f"the token service http://{host} is not on the registry's host "
            f"{registry.hostname}; Tether sends a login over plain http only to the host marked "
            "insecure"
        )
    return None
