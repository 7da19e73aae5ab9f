"""Errors of image automation: each says what failed, for which image or file, and what to do.

No message ever carries a credential or a token.
"""

from __future__ import annotations

from tether.errors import TetherError


class ImageError(TetherError):
    """Base class of every error raised by `tether.images`."""


class InvalidPolicyError(ImageError):
    """An ImagePolicy's spec cannot be used: an invalid semver range, a bad regular expression,
    an unknown order, a filter whose ``extract`` names a group the pattern lacks."""


class NoMatchingTagError(ImageError):
    """No tag of the repository satisfies the policy (after its filter)."""


class RegistryError(ImageError):
    """A registry request failed; ``image`` names the repository (without credentials)."""

    def __init__(self, message: str, image: str) -> None:
        super().__init__(message)
        self.image = image


class RegistryUnreachableError(RegistryError):
    """The registry could not be reached (DNS, connection refused, TLS, timeout)."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials (401/403), or its token service did."""


class RegistryResponseError(RegistryError):
    """The registry answered something that is not what the distribution API specifies: a
    malformed tag list, a missing digest, an answer past the size or page limits."""


class RegistryLimitError(RegistryResponseError):
    """An answer of the registry is larger than the bound it is read within."""


class SetterError(ImageError):
    """A setter marker cannot be applied: malformed marker, a marker naming a policy that does
    not exist, a file too large or not YAML; ``path`` names the file."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path
