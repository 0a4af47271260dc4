"""How much of an upload is still in its socket when the HTTP client has read its files to the end.

The upload clock (bot/flood.py: UploadClock) stops then, but megabytes may still wait in the kernel's send
queue or be on their way, unacknowledged: the clock alone reads an upload several times faster than it is.
Linux tells how many bytes written to a TCP socket its peer has not acknowledged yet (ioctl TIOCOUTQ, the
same as SIOCOUTQ); elsewhere this is unknown and the clock stays as it was.

httpx takes no httpcore network backend of our choosing (encode/httpx#3749 would add one), so the Telegram
transport's connection pool gets its own backend wrapped: its streams note their socket for the upload in
progress and when it first wrote, found through a context variable that MediaSender sets around its sends
(the rate limiter, httpx and httpcore run the request in the sender's own task).
"""

from __future__ import annotations

import fcntl
import ssl
import struct
import termios
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from bot.flood import UploadClock

# python-telegram-bot's pool size for its requests; httpx ignores the client's limits beside a transport.
CONNECTIONS = 256
TIOCOUTQ: int | None = getattr(termios, "TIOCOUTQ", None)  # Linux's; other systems may lack it


@dataclass
class _Upload:
    clock: UploadClock
    fd: int | None = None  # the socket the upload was last written to


_UPLOADING: ContextVar[_Upload | None] = ContextVar("uploading", default=None)


def upload_transport() -> httpx.AsyncHTTPTransport:
    """httpx's own transport, as the client would make it, whose connections note their socket for `unsent`."""
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=CONNECTIONS))
    pool = transport._pool
    pool._network_backend = _NotingBackend(pool._network_backend)
    return transport


@contextmanager
def watched(clock: UploadClock) -> Iterator[None]:
    """Within it, this task's request notes in `clock` when it first writes to its socket (each attempt, from
    `clock.restart()`), and `unsent` tells of the socket it last wrote to."""
    token = _UPLOADING.set(_Upload(clock))
    try:
        yield
    finally:
        _UPLOADING.reset(token)


def unsent() -> int | None:
    """Bytes the request in progress has written to its socket that the server has not acknowledged yet; None
    when unknown (not watched, another system, a socket already closed)."""
    upload = _UPLOADING.get()
    if upload is None or upload.fd is None or TIOCOUTQ is None:
        return None
    try:
        queued: int = struct.unpack("i", fcntl.ioctl(upload.fd, TIOCOUTQ, bytes(4)))[0]
    except OSError:
        return None
    return queued


class _NotingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _NotingStream(await self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _NotingStream(httpcore.AsyncNetworkStream):
    """A connection's stream (plain, or TLS over it) that notes its socket on every write of a watched task."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        sock = stream.get_extra_info("socket")
        self._fd: int | None = sock.fileno() if sock is not None else None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        upload = _UPLOADING.get()
        if upload is not None:
            upload.fd = self._fd
            if upload.clock.wrote_at is None:
                upload.clock.wrote_at = time.monotonic()
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        return _NotingStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
