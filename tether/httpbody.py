"""Reading an HTTP answer's body within a size limit, for every client of a remote service."""

from __future__ import annotations

import httpx2


async def read_bounded(response: httpx2.Response, limit: int, truncate: bool) -> bytes | None:
    """The body up to ``limit`` bytes (decoded, so a compressed bomb stops there too); past it,
    the first ``limit`` bytes when ``truncate``, else None."""
    declared = response.headers.get("content-length", "")
    if not truncate and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        if size + len(chunk) > limit:
            if not truncate:
                return None
            chunks.append(chunk[: limit - size])
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
