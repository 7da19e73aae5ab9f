"""``matchOIDCIdentity``: the issuer and subject regular expressions a keyless signature's
certificate must match (RE2, unanchored as Go matches them, in linear time)."""

from __future__ import annotations

from dataclasses import dataclass

from tether.errors import TetherError
from tether.notify.expr.re2 import Regex, compile_regex
from tether.sigstore.errors import SignatureError


@dataclass(frozen=True)
class IdentityMatch:
    """``matchOIDCIdentity``: the certificate's issuer and one of its subjects must match."""

    issuer: Regex
    subject: Regex


def identity_match(issuer: str, subject: str) -> IdentityMatch:
    """Both patterns compiled, or a SignatureError naming the bad one."""
    compiled = []
    for field, pattern in (("issuer", issuer), ("subject", subject)):
        try:
            compiled.append(compile_regex(pattern, 0))
        except TetherError as exc:
            raise SignatureError(f"{field} {pattern[:100]!r}: {exc.message}") from None
    return IdentityMatch(compiled[0], compiled[1])
