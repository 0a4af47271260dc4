"""The bot on PostgreSQL, end to end through the real process: link → pick → delivery, a crash mid-delivery,
start-up errors that never show the database password."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import RENDITION, assert_delivered_in_order, link, media, start_pick, temp_files, wait_summary
from tests.harness import BotExited, BotProcess, Person, bot_python, sqlite_url
from tests.postgres import PostgresCluster

SECRET = "shared-by-the-replicas"  # PostgreSQL wants it set in webhook mode (E2E_MODE=webhook)


async def wait_sent(url: str, count: int) -> None:
    """Until the database records `count` items as sent (the bot runs in another process)."""
    conn = await asyncpg.connect(url)
    try:
        async with asyncio.timeout(20):
            while await conn.fetchval("SELECT count(*) FROM pick_items WHERE status = 'sent'") < count:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        await conn.close()


async def test_link_pick_and_deliver_albums(
    make_bot: Callable[..., BotProcess],
    postgres: PostgresCluster,
    alice: Person,
    tg: TelegramEmulator,
    google: GoogleEmulator,
) -> None:
    bot = make_bot(TELEGRAM_WEBHOOK_SECRET=SECRET, DATABASE_URL=await postgres.create_database())
    await bot.start()
    items = [google.add_photo(alice.email) for _ in range(12)] + [google.add_video(alice.email)]
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, items)
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 13."
    assert_delivered_in_order(
        tg, google, alice.user_id, [(item, RENDITION) for item in items[:12]] + [(items[12], "=dv")]
    )
    await google.wait_for(lambda: session.deleted)
    assert temp_files(bot) == []
    assert await bot.stop() == 0
    assert "Traceback" not in bot.logs()


async def test_a_crash_mid_delivery_resumes_with_what_was_not_sent(
    make_bot: Callable[..., BotProcess],
    postgres: PostgresCluster,
    alice: Person,
    tg: TelegramEmulator,
    google: GoogleEmulator,
) -> None:
    url = await postgres.create_database()
    # Paced: the plug is pulled between albums. The same REPLICA_NAME after the restart, as a process manager would
    # give it: its leases are its own again at once (another name would wait LEASE_SECONDS, test_replicas.py).
    bot = make_bot(TELEGRAM_WEBHOOK_SECRET=SECRET, DATABASE_URL=url, TELEGRAM_PRIVATE_RATE="1", REPLICA_NAME="only")
    await bot.start()
    items = [google.add_photo(alice.email) for _ in range(25)]
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, items)
    await wait_sent(url, 10)
    await bot.kill()
    bot.env["TELEGRAM_PRIVATE_RATE"] = "1000"
    await bot.start()
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 25."
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])
    assert len(media(tg, alice.user_id)) == 25
    assert await bot.stop() == 0


async def test_a_wrong_password_stops_start_up_with_one_line_without_it(
    make_bot: Callable[..., BotProcess], postgres: PostgresCluster
) -> None:
    url = await postgres.create_database()
    wrong = "not-the-Password-42"
    bot = make_bot(TELEGRAM_WEBHOOK_SECRET=SECRET, DATABASE_URL=url.replace(postgres.password, wrong))
    try:
        await bot.start()
    except BotExited as exited:
        assert exited.code == 1
    else:
        raise AssertionError("the bot started with a wrong database password")
    output = bot.logs()
    assert wrong not in output and postgres.password not in output
    [line] = [line for line in output.splitlines() if line.startswith("Cannot start")]
    assert line.startswith(f"Cannot start: Cannot use the PostgreSQL database 127.0.0.1:{postgres.port}/test_")
    assert "password authentication failed" in line
    assert "Traceback" not in output


async def test_a_newer_schema_stops_start_up(make_bot: Callable[..., BotProcess], postgres: PostgresCluster) -> None:
    url = await postgres.create_database()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE bot_schema (version integer NOT NULL); INSERT INTO bot_schema VALUES (99)")
    finally:
        await conn.close()
    bot = make_bot(TELEGRAM_WEBHOOK_SECRET=SECRET, DATABASE_URL=url)
    try:
        await bot.start()
    except BotExited as exited:
        assert exited.code == 1
    else:
        raise AssertionError("the bot started on a newer schema")
    assert "has schema version 99 but this bot only knows up to" in bot.logs()
    assert postgres.password not in bot.logs()


async def migrate_db(bot: BotProcess, to: str) -> tuple[int, str]:
    """`python -m bot migrate-db --to …` with the bot's own settings; its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        bot_python(), "-m", "bot", "migrate-db", "--to", to,
        cwd=bot.workdir, env=bot.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, output.decode()


async def test_an_sqlite_database_moves_into_postgresql(
    make_bot: Callable[..., BotProcess],
    postgres: PostgresCluster,
    tmp_path: Path,
    alice: Person,
    tg: TelegramEmulator,
    google: GoogleEmulator,
) -> None:
    photos = [google.add_photo(alice.email) for _ in range(2)]
    bot = make_bot(DATABASE_URL=sqlite_url(tmp_path))  # SQLite, as today
    await bot.start()
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, photos[:1])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    assert await bot.stop() == 0
    url = await postgres.create_database()
    code, output = await migrate_db(bot, url)
    assert code == 0, output
    assert "1 links, 1 picks, 1 items" in output and postgres.password not in output
    code, output = await migrate_db(bot, url)  # not twice: the copy goes only into an empty database
    assert code == 1 and "already holds links or picks" in output and postgres.password not in output
    bot.env.update(DATABASE_URL=url, TELEGRAM_WEBHOOK_SECRET=SECRET)
    await bot.start()
    # The link came along (the same ENCRYPTION_KEY reads its token): /pick works without linking again.
    _, session = await start_pick(alice)
    google.pick(session.id, photos[1:])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    assert len(media(tg, alice.user_id)) == 2
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{bot.local_url}/metrics")).text
    assert "bot_items_delivered_total 2.0" in metrics  # the copied count, and the new pick's item
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT max(id) FROM pick_sessions") == 2  # new picks continue the ids
    finally:
        await conn.close()
    assert await bot.stop() == 0
