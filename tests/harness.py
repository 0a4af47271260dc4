"""Runs the real bot (`python -m bot`) as a subprocess against the emulators, and drives it like a person."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from emulators.google import GoogleEmulator
from emulators.telegram import MessageRecord, TelegramEmulator
from storage.postgres import to_postgres

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:TEST-token_secret-value"
CLIENT_ID = "test-client.apps.googleusercontent.com"
CLIENT_SECRET = "test-client-secret-value"
ENCRYPTION_KEY = "u6X0m5XvKJ9Zg0wq5Y2lRr1b1dDk0m2tQm8Yy9eQf3E="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_python() -> str:
    """The interpreter that runs the bot: BOT_PYTHON when set (CI points it at a venv holding only the
    runtime dependencies, to catch one the dev extra would hide), else the one running the tests."""
    return os.environ.get("BOT_PYTHON") or sys.executable


def sqlite_url(workdir: Path) -> str:
    """The bot's SQLite database in `workdir`, as a DATABASE_URL."""
    return f"sqlite:///{workdir / 'data' / 'bot.sqlite3'}"


def bot_env(workdir: Path, tg: TelegramEmulator, google: GoogleEmulator, **overrides: str) -> dict[str, str]:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": tg.url,
        "GOOGLE_CLIENT_ID": CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        # The tests' browser is on the bot's machine: the sign-in page and the callback, not sign-in by paste
        # (which a loopback PUBLIC_URL turns on by default; tests/e2e/test_sign_in_by_paste.py turns it on).
        "SIGN_IN_BY_PASTE": "false",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "DATABASE_URL": sqlite_url(workdir),
        "GOOGLE_AUTH_URL": google.auth_url,
        "GOOGLE_TOKEN_URL": google.token_url,
        "GOOGLE_REVOKE_URL": google.revoke_url,
        "GOOGLE_USERINFO_URL": google.userinfo_url,
        "PICKER_API_URL": google.picker_api_url,
        "LOG_LEVEL": "DEBUG",
        # Tests exercise flood handling explicitly; elsewhere the bot may send as fast as the emulator lets it.
        "TELEGRAM_PRIVATE_RATE": "1000",
        "TELEGRAM_GROUP_RATE_PER_MINUTE": "60000",
    }
    env.update(overrides)
    return env


class BotExited(Exception):
    """The bot process ended while starting up; `code` is its exit status."""

    def __init__(self, code: int, logs: str) -> None:
        super().__init__(f"the bot exited with {code} while starting:\n{logs[-3000:]}")
        self.code = code


@dataclass
class BotProcess:
    """The bot as users run it. Its combined output goes to a log file the tests can read."""

    env: dict[str, str]
    workdir: Path
    tg: TelegramEmulator
    name: str = "bot"  # its log files are <name>-<run>.log: several replicas may share one workdir
    proc: asyncio.subprocess.Process | None = None
    runs: int = 0
    log_paths: list[Path] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.env["PUBLIC_URL"]

    @property
    def local_url(self) -> str:
        """Where this process listens (replicas behind one balancer share PUBLIC_URL, not this)."""
        return f"http://{self.env['HTTP_HOST']}:{self.env['HTTP_PORT']}"

    @property
    def webhook_mode(self) -> bool:
        return bool(self.env.get("TELEGRAM_WEBHOOK_URL"))

    async def start(self, timeout: float = 20.0, *, receiving: bool = True) -> None:  # noqa: ASYNC109
        """Start and wait until it serves /healthz and receives updates; with `receiving=False` (a replica while
        another holds the getUpdates lease) only /healthz."""
        self.runs += 1
        log_path = self.workdir / f"{self.name}-{self.runs}.log"
        self.log_paths.append(log_path)
        # Ready when it serves /healthz and receives updates: long polling started, or the webhook is set.
        method = "setWebhook" if self.webhook_mode else "getUpdates"
        before = len(self.tg.calls_of(method))
        with log_path.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                bot_python(), "-m", "bot", cwd=self.workdir, env=self.env, stdout=out, stderr=out
            )

        def getting_updates() -> bool:
            calls = self.tg.calls_of(method)[before:]  # a long poll is recorded while still open
            return any(call.status == 200 for call in calls) if self.webhook_mode else bool(calls)

        ready = asyncio.ensure_future(
            self.tg.wait_for(getting_updates, timeout) if receiving else self.healthy(timeout)
        )
        exited = asyncio.ensure_future(self.proc.wait())
        await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            raise BotExited(exited.result(), self.logs())
        exited.cancel()
        ready.result()  # a TimeoutError if it never started receiving
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.local_url}/healthz")
            assert response.status_code == 200, response.text

    async def healthy(self, timeout: float) -> None:  # noqa: ASYNC109
        """Until /healthz answers 200 (the process is in another address space: asking is the only way)."""
        async with asyncio.timeout(timeout), httpx.AsyncClient() as client:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.local_url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.05)

    async def stop(self) -> int:
        """SIGTERM, as a process manager would; returns the exit code."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 20)
        self.proc = None
        return code

    async def kill(self) -> None:
        """SIGKILL: a crash, no chance to clean up."""
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()
        self.proc = None

    async def restart(self) -> None:
        await self.kill()
        await self.start()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_paths if p.exists())

    async def wait_log(self, text: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Until the process has logged `text` (another process's log: looking again is the only way)."""
        async with asyncio.timeout(timeout):
            while text not in self.logs():  # noqa: ASYNC110
                await asyncio.sleep(0.05)


async def rows(bot: BotProcess, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    """Run one statement on the bot's database (SQLite or PostgreSQL, running or not) and return its rows by
    column name. SQL in the dialect both engines share, `?` placeholders (rewritten to $n for PostgreSQL as the
    bot's own seam does). A connection of its own, closed at once: the bot runs in another process."""
    url = bot.env["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db, db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql, params)]
    conn = await asyncpg.connect(url)
    try:
        return [dict(row) for row in await conn.fetch(to_postgres(sql)[0], *params)]
    finally:
        await conn.close()


async def metric(bot: BotProcess, name: str, **labels: str) -> float:
    """The value of one sample of the bot's /metrics, read now."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(bot.base_url + "/metrics")).text
    return next(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.labels == labels
    )


async def execute(bot: BotProcess, sql: str, params: Sequence[object] = ()) -> None:
    """Run one statement that returns nothing on the bot's database (see rows)."""
    await rows(bot, sql, params)


async def tables(bot: BotProcess) -> list[str]:
    """The names of the tables in the bot's database."""
    if bot.env["DATABASE_URL"].startswith("sqlite:///"):
        found = await rows(bot, "SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        found = await rows(
            bot, "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    return sorted(row["name"] for row in found)


async def at_rest(bot: BotProcess) -> bytes:
    """What the bot keeps at rest, to search for secrets: on SQLite the bytes of its database files (the write-
    ahead log included, where fresh rows sit first); on PostgreSQL, whose files are the server's, every value of
    every row of every table."""
    url = bot.env["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        files = (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
        return b"".join(p.read_bytes() for p in files if p.exists())
    values = [
        value
        for table in await tables(bot)
        for row in await rows(bot, f"SELECT * FROM {table}")
        for value in row.values()
    ]
    return b"\n".join(v if isinstance(v, bytes) else str(v).encode() for v in values)


def message_ids(tg: TelegramEmulator, chat_id: int) -> set[int]:
    """The ids of the bot's messages in a chat so far, deleted ones too, for new_messages to tell what came after."""
    return {m.message_id for m in tg.messages(chat_id, include_deleted=True)}


def new_messages(tg: TelegramEmulator, chat_id: int, known: set[int]) -> list[MessageRecord]:
    """The bot's messages in a chat (deleted ones left out) whose ids are not in `known` (from message_ids). By id,
    not by position: a message deleted meanwhile (an ended pick's prompt) would shift the new ones back."""
    return [m for m in tg.messages(chat_id) if m.message_id not in known]


@dataclass
class Person:
    """A Telegram user with a Google account, acting through the emulators."""

    tg: TelegramEmulator
    google: GoogleEmulator
    user_id: int
    name: str
    email: str

    async def say(self, text: str, chat_id: int | None = None) -> None:
        self.tg.send_text(self.user_id, text, chat_id=chat_id)

    async def reply_to(
        self, text: str, predicate: Callable[[Any], bool] | None = None, chat_id: int | None = None
    ) -> Any:
        """Send `text` and wait for the bot's next message in that chat (matching `predicate`)."""
        chat = chat_id if chat_id is not None else self.user_id
        known = message_ids(self.tg, chat)
        await self.say(text, chat_id)
        return await self.tg.wait_for(
            lambda: next((m for m in new_messages(self.tg, chat, known) if predicate is None or predicate(m)), None)
        )

    async def press(self, message: Any, data: str, chat_id: int | None = None) -> str:
        chat = chat_id if chat_id is not None else self.user_id
        return self.tg.press_button(self.user_id, chat, message.message_id, data)

    async def open_url(self, url: str) -> httpx.Response:
        """Follow a link the way a browser would (Google's consent redirects back to the bot)."""
        async with httpx.AsyncClient(follow_redirects=True, timeout=30) as client:
            return await client.get(url)

    async def link(self) -> httpx.Response:
        """/link, tap Sign in, Continue on the bot's sign-in page, consent at Google; returns the callback page."""
        self.google.consent.email = self.email
        prompt = await self.reply_to("/link", lambda m: url_button(m) is not None)
        url = url_button(prompt)
        assert url is not None
        return await self.open_url(await consent_url(url))


async def answer_sign_in(url: str, answer: str = "continue") -> httpx.Response:
    """Open the bot's sign-in page at `url` (the "Sign in with Google" button) and press one of its buttons
    ("continue" or "not_me"); the answer, redirects not followed."""
    async with httpx.AsyncClient(timeout=30) as client:
        page = await client.get(url)
        assert page.status_code == 200, page.text
        return await client.post(url.split("?")[0], data={"s": query_of(url)["s"], "answer": answer})


async def consent_url(url: str) -> str:
    """Google's consent URL behind the sign-in page at `url` (pressing Continue there)."""
    response = await answer_sign_in(url)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def buttons(message: Any) -> list[dict[str, Any]]:
    markup = message.reply_markup or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def url_button(message: Any, text: str | None = None) -> str | None:
    for button in buttons(message):
        if "url" in button and (text is None or button["text"] == text):
            return str(button["url"])
    return None


def callback_data(message: Any, text: str) -> str:
    for button in buttons(message):
        if button["text"].endswith(text) and "callback_data" in button:
            return str(button["callback_data"])
    raise AssertionError(f"no button {text!r} in {buttons(message)}")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
