"""The HTTP protocol the local cluster serves with: uvicorn's, plus the client certificate.

uvicorn does not put the TLS peer certificate into the ASGI scope, so this protocol reads it
once per connection (the TLS layer has verified it against the cluster CA by then) and hands
its CN and O entries to the application under :data:`CLIENT_CERT_SCOPE_KEY`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tether.localcluster.authn import CLIENT_CERT_SCOPE_KEY
from tether.localcluster.pki import peer_identity


class ClientCertProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that passes on a verified client certificate's identity."""

    _peer: tuple[str, tuple[str, ...]] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object: Any = transport.get_extra_info("ssl_object")
        self._peer = peer_identity(ssl_object.getpeercert()) if ssl_object is not None else None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._peer is not None:
            scope: dict[str, Any] = self.scope  # type: ignore[assignment]
            scope[CLIENT_CERT_SCOPE_KEY] = self._peer
