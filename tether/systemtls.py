"""One TLS context with the system's certificate authorities, for every HTTPS client of the
process that trusts them (Git hosts, registries, chart repositories, notification services).

Building such a context reads the whole CA bundle (~30 ms here); each ``httpx2.AsyncClient``
made with ``verify=True`` builds its own. Built once, on first use, and shared: a context is
safe to use from many connections at once. It honours ``SSL_CERT_FILE``/``SSL_CERT_DIR`` as
``verify=True`` does, read when it is first built.
"""

from __future__ import annotations

import functools
import ssl

import httpx2


@functools.cache
def system_context() -> ssl.SSLContext:
    """The context ``verify=True`` would build, built once per process."""
    return httpx2.create_ssl_context(verify=True)
