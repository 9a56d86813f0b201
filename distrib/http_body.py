"""Read an HTTP response body under a hard size cap: a lying or missing Content-Length cannot beat it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests


class TooLarge(Exception):
    """The body is over the cap; `detail` reads 'is 6,000,000 bytes; the limit is 5,000,000'."""

    def __init__(self, size: int | None, limit: int) -> None:
        self.size = size
        self.limit = limit
        if size is not None:
            self.detail = f"is {size:,} bytes; the limit is {limit:,}"
        else:
            self.detail = f"is larger than the limit of {limit:,} bytes"
        super().__init__(self.detail)


def read_capped(response: requests.Response, max_bytes: int, chunk_size: int = 64 * 1024) -> bytes:
    """The whole body of a streamed response, or TooLarge without reading past the cap."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(int(declared), max_bytes)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size):
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(None, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)
