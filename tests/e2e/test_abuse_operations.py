"""Abuse of the operators' side, through the real bot process: /metrics scraped at scale or by anyone,
connections left idle or half-sent, picks' items kept forever, secrets readable by others."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.conftest import ON_POSTGRESQL
from tests.e2e.picking import link, start_pick, wait_items_sent, wait_summary
from tests.harness import BotProcess, Person, execute, rows

MILLION = 1_000_000
TOKEN = "s3cret-metrics-token-0123456789"


async def add_finished_pick(bot: BotProcess, google_id: str, ended_at: float, items: int) -> int:
    """A finished pick of `items` delivered items, last updated at `ended_at`."""
    [row] = await rows(
        bot,
        "INSERT INTO pick_sessions (google_session_id, user_id, chat_id, status, picker_uri, delivery_mode,"
        " poll_interval, poll_deadline, expire_time, created_at, updated_at, prompt_chat_id, target_chat_id,"
        " report_chat_id) VALUES (?, 111, 111, 'done', 'https://picker', 'photos', 5, 0, 0, ?, ?, 111, 111, 111)"
        " RETURNING id",
        (google_id, ended_at, ended_at),
    )
    session_id = int(row["id"])
    # The items in one statement, counted by a recursive query both engines know: a million inserted one by one
    # would take minutes on PostgreSQL.
    await execute(
        bot,
        "INSERT INTO pick_items (session_id, position, media_id, kind, filename, mime_type, status, sent_at)"
        f" WITH RECURSIVE n (position) AS (SELECT 0 UNION ALL SELECT position + 1 FROM n WHERE position < {items - 1})"
        f" SELECT {session_id}, position, 'media-' || position, 'photo', 'IMG.jpg', 'image/jpeg', 'sent', 0 FROM n",
    )
    return session_id


async def timed_scrape(client: httpx.AsyncClient, bot: BotProcess) -> tuple[float, str]:
    started = time.perf_counter()
    response = await client.get(bot.base_url + "/metrics")
    took = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return took, response.text


def delivered(exposition: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "bot_items_delivered_total":
                return sample.value
    raise AssertionError("no bot_items_delivered_total")


async def test_a_scrape_at_a_million_items_does_not_scan_them(make_bot: Callable[..., BotProcess]) -> None:
    bot = make_bot()
    await bot.start()  # creates the schema
    await bot.stop()
    await add_finished_pick(bot, "big", time.time(), MILLION)
    await bot.start()
    try:
        async with httpx.AsyncClient() as client:
            timings = []
            for _ in range(10):
                took, text = await timed_scrape(client, bot)
                timings.append(took)
        assert delivered(text) == MILLION
        median = statistics.median(timings)
        print(
            f"/metrics scrape at {MILLION} item rows: median {median * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms"
        )
        assert median < 0.1, timings  # a scan of the items took ~0.5 s here
    finally:
        assert await bot.stop() == 0


async def test_metrics_wants_the_token_when_one_is_set(make_bot: Callable[..., BotProcess]) -> None:
    bot = make_bot(METRICS_TOKEN=TOKEN)
    await bot.start()
    try:
        async with httpx.AsyncClient() as client:
            url = bot.base_url + "/metrics"
            for headers in (
                {},
                {"Authorization": "Bearer wrong-token-0123456789abcdef"},
                {"Authorization": f"Bearer {TOKEN}x"},
                {"Authorization": f"Basic {TOKEN}"},
                {"Authorization": TOKEN},
                {"Authorization": "Bearer"},
            ):
                response = await client.get(url, headers=headers)
                assert response.status_code == 401, headers
                assert "bot_items_delivered" not in response.text
            response = await client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.status_code == 200 and "bot_items_delivered" in response.text
            assert (await client.get(bot.base_url + "/healthz")).status_code == 200  # probes stay open
        for raw in (b"Bearer \xff\xfe", "Bearer tök".encode(), b"Bearer " + TOKEN.encode() + b"\xff"):
            sock = _connect(bot, b"GET /metrics HTTP/1.1\r\nHost: bot\r\nAuthorization: " + raw + b"\r\n\r\n")
            with sock:
                assert sock.recv(12) == b"HTTP/1.1 401", raw  # not a server error
    finally:
        assert await bot.stop() == 0


def _connect(bot: BotProcess, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", int(bot.env["HTTP_PORT"])))
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


async def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes the connection within `seconds` (reading away any answer it sends)."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    deadline = loop.time() + seconds
    try:
        while loop.time() < deadline:
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), deadline - loop.time())
            except TimeoutError:
                return False
            except ConnectionResetError:
                return True
            if not chunk:
                return True
        return False
    finally:
        sock.close()


async def test_idle_and_half_sent_connections_are_closed(make_bot: Callable[..., BotProcess]) -> None:
    bot = make_bot(HTTP_IDLE_TIMEOUT="1")
    await bot.start()
    try:
        silent = [_connect(bot, b"") for _ in range(20)]
        half_line = _connect(bot, b"GET /heal")
        half_headers = _connect(bot, b"GET /healthz HTTP/1.1\r\nHost: bot\r\nX-Slow: ")
        kept_alive = _connect(bot, b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n")
        then_half = _connect(bot, b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\nGET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        closed = await asyncio.gather(
            *(_closed_within(sock, 5.0) for sock in [*silent, half_line, half_headers, kept_alive, then_half])
        )
        assert all(closed), closed
        print(f"{len(closed)} idle or half-sent connections closed within {time.monotonic() - started:.1f} s")
        async with httpx.AsyncClient() as client:
            assert (await client.get(bot.base_url + "/healthz")).status_code == 200
    finally:
        assert await bot.stop() == 0


async def items_of(bot: BotProcess) -> dict[int, int]:
    found = await rows(bot, "SELECT session_id, count(*) AS n FROM pick_items GROUP BY session_id")
    return {row["session_id"]: row["n"] for row in found}


async def test_finished_picks_lose_their_items_after_the_retention_period(
    make_bot: Callable[..., BotProcess],
) -> None:
    bot = make_bot()
    await bot.start()
    await bot.stop()
    month_ago = time.time() - 31 * 86_400
    old = await add_finished_pick(bot, "old", month_ago, 3)
    recent = await add_finished_pick(bot, "recent", time.time() - 86_400, 3)
    stuck = await add_finished_pick(bot, "stuck", month_ago, 3)
    await execute(bot, "UPDATE pick_sessions SET status = 'delivering' WHERE id = ?", (stuck,))
    await bot.start()
    try:
        for _ in range(100):
            if old not in await items_of(bot):
                break
            await asyncio.sleep(0.1)
        assert await items_of(bot) == {recent: 3, stuck: 3}  # a pick under way keeps its items, however old
        async with httpx.AsyncClient() as client:
            _, text = await timed_scrape(client, bot)
        assert delivered(text) == 9  # the counters still count what was deleted
    finally:
        assert await bot.stop() == 0
    assert "retention: deleted 3 items" in bot.logs()


@pytest.mark.skipif(ON_POSTGRESQL, reason="about the SQLite file's mode: PostgreSQL's files are its server's")
async def test_a_database_open_to_others_is_warned_about_at_start_up(make_bot: Callable[..., BotProcess]) -> None:
    bot = make_bot()
    await bot.start()
    await bot.stop()
    path = Path(bot.env["DATABASE_URL"].removeprefix("sqlite:///"))
    assert path.stat().st_mode & 0o077 == 0  # created owner-only
    assert "open to other users" not in bot.logs()
    key = path.parent / "encryption.key"
    key.write_text("not used: ENCRYPTION_KEY is set\n")
    for exposed, mode in ((path, 0o644), (key, 0o640)):
        exposed.chmod(mode)
    await bot.start()
    assert await bot.stop() == 0
    for exposed, shown in ((path, "644"), (key, "640")):
        assert f"{exposed} is open to other users of this machine (mode {shown})" in bot.logs()


async def test_a_delivered_item_keeps_no_telegram_ids(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photo = google.add_photo(alice.email)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [photo])
    await wait_summary(tg, alice.user_id)
    await wait_items_sent(bot, 1)
    kept = await rows(bot, "SELECT message_id, file_id, filename FROM pick_items")
    assert kept == [
        {"message_id": None, "file_id": None, "filename": photo.filename}
    ]  # the name is read back (documents), Telegram's ids are not
