"""The bytes alone: what moving a delivery's bytes costs the libraries the bot uses, before any of its own work.

A bare client in its own process (`python -m benchmarks.bytes_alone PORT SIZE,…`), on uvloop as the bot is,
downloads each file with aiohttp into a file in 256 KB chunks and uploads them ten to a multipart request with
httpx, from the open files, as the bot does; a local server in the benchmark's process serves and reads them
at loopback speed. Its CPU per GB is the reference for the bot's: a lower bound, since loopback at full speed
takes fewer, larger reads and writes than the emulators' paced links.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import uvloop
from aiohttp import web

CHUNK = 256 * 1024  # as bot/google/picker.py reads media
ALBUM = 10


async def cpu_per_byte(sizes: list[int]) -> tuple[float, int]:
    """(CPU seconds of the bare client, bytes it moved down and up) for files of these sizes."""
    body = os.urandom(max(sizes))

    async def media(request: web.Request) -> web.Response:
        return web.Response(body=body[: sizes[int(request.match_info["index"])]], content_type="image/jpeg")

    async def upload(request: web.Request) -> web.Response:
        reader = await request.multipart()
        taken = 0
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            while chunk := await part.read_chunk(CHUNK):
                taken += len(chunk)
        return web.json_response({"taken": taken})

    app = web.Application(client_max_size=ALBUM * max(sizes) * 2)
    app.add_routes([web.get("/media/{index}", media), web.post("/upload", upload)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.bytes_alone", str(port), ",".join(map(str, sizes)), stdout=-1
        )
        out, _ = await client.communicate()
        if client.returncode != 0:
            raise RuntimeError(f"the bare client exited {client.returncode}")
        cpu, moved = out.split()
        return float(cpu), int(moved)
    finally:
        await runner.cleanup()


async def _move(port: int, sizes: list[int], folder: Path) -> tuple[float, int]:
    base = f"http://127.0.0.1:{port}"
    moved = 0
    async with aiohttp.ClientSession() as google, httpx.AsyncClient(timeout=60) as telegram:
        started = time.process_time()
        for first in range(0, len(sizes), ALBUM):
            paths = []
            for index in range(first, min(len(sizes), first + ALBUM)):
                path = folder / f"{index}.jpg"
                async with google.get(f"{base}/media/{index}") as response:
                    with path.open("wb") as file:
                        async for chunk in response.content.iter_chunked(CHUNK):
                            file.write(chunk)
                            moved += len(chunk)
                paths.append(path)
            handles = [path.open("rb") for path in paths]
            try:
                files = [
                    (f"file{n}", (path.name, handle, "image/jpeg"))
                    for n, (path, handle) in enumerate(zip(paths, handles, strict=True))
                ]
                answer = await telegram.post(f"{base}/upload", files=files)
                moved += int(answer.json()["taken"])
            finally:
                for handle in handles:
                    handle.close()
            for path in paths:
                path.unlink()
        return time.process_time() - started, moved


def main() -> None:
    port, sizes = int(sys.argv[1]), [int(size) for size in sys.argv[2].split(",")]
    with tempfile.TemporaryDirectory() as folder:
        cpu, moved = uvloop.run(_move(port, sizes, Path(folder)))
    print(f"{cpu:.4f} {moved}")


if __name__ == "__main__":
    main()
