"""An upload's clock counts what was still in its socket when the HTTP client had read its files."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bot import upload_socket
from bot.flood import LEAD_JITTER, LEAD_SAFETY, FloodControl, SendInfo
from bot.metrics import RequestMetrics
from bot.telegram_send import MediaSender, Upload

SIZE = 4_000_000  # the least upload that teaches the pacer the uplink's speed (MEASURED_UPLOAD)
RATE = 8_000_000  # bytes/s the server reads: the upload takes about half a second
ANSWER = b'{"ok": true, "result": {"message_id": 1, "date": 0, "chat": {"id": 7, "type": "private"}}}'


async def serve_slowly(listener: socket.socket) -> float:
    """Answer one request after reading its body at RATE; returns when its last byte was read. The listener's
    small receive buffer keeps what is not read yet in the sender's queue, as a long path keeps it in flight."""
    loop = asyncio.get_running_loop()
    connection, _ = await loop.sock_accept(listener)
    with connection:
        received = b""
        while b"\r\n\r\n" not in received:
            received += await loop.sock_recv(connection, 65536)
        head, _, body = received.partition(b"\r\n\r\n")
        length = int(re.findall(rb"content-length: (\d+)", head, re.IGNORECASE)[0])
        began, read = time.monotonic(), len(body)
        while read < length:
            read += len(await loop.sock_recv(connection, 16384))
            await asyncio.sleep(max(0.0, began + read / RATE - time.monotonic()))
        read_all_at = time.monotonic()
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(ANSWER)
        await loop.sock_sendall(connection, answer + ANSWER)
    return read_all_at


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux tells what a socket's peer has not acknowledged")
async def test_an_upload_is_timed_to_its_last_byte_received_not_to_its_last_byte_read(tmp_path: Path) -> None:
    """The client reads the whole file into the socket's send queue long before the server has it: timed to that
    read, the upload seemed several times faster than it was."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    server = asyncio.create_task(serve_slowly(listener))
    request = HTTPXRequest(httpx_kwargs={"transport": upload_socket.upload_transport()})  # as bot/app.py makes it
    flood = FloodControl(1000, 60000, RequestMetrics(CollectorRegistry(), "telegram", "method"))
    bot = ExtBot[SendInfo](
        "1:token", base_url=f"http://127.0.0.1:{listener.getsockname()[1]}/bot", request=request, rate_limiter=flood
    )
    path = tmp_path / "video"
    path.write_bytes(bytes(SIZE))
    try:
        started = time.monotonic()
        await MediaSender(bot, album_limit=SIZE).send(7, [Upload(1, path, "video.mp4", "document")], [])
        took = await server - started
    finally:
        server.cancel()  # already done, unless the send failed
        await request.shutdown()
        listener.close()
    assert upload_socket.unsent() is None  # only within the send
    timed = (flood._uplink.lead(SIZE) + LEAD_JITTER) / LEAD_SAFETY  # what the pacer thinks SIZE bytes take
    assert timed == pytest.approx(took, rel=0.25)
