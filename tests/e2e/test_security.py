"""Security properties of the running bot, end to end: no secret in its files or its logs, owner-only files, and
the exact OAuth redirect URI."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.crypto import KEY_FILE_NAME
from bot.webhook import SECRET_FILE_NAME, WEBHOOK_PATH
from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.conftest import ON_POSTGRESQL
from tests.e2e.picking import link, no_active_picks, start_pick, wait_summary
from tests.harness import (
    CLIENT_SECRET,
    ENCRYPTION_KEY,
    TOKEN,
    BotProcess,
    Person,
    at_rest,
    callback_data,
    consent_url,
    query_of,
    rows,
    url_button,
)


def data_dir(bot: BotProcess) -> Path:
    return bot.workdir / "data"


def database_files(bot: BotProcess) -> list[Path]:
    db = data_dir(bot) / "bot.sqlite3"
    return [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()]


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """Run with this umask (the bot inherits it), so "0600" is the bot's doing and not the environment's."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


async def pending_verifiers(bot: BotProcess, key: str) -> list[str]:
    """The PKCE verifiers of the sign-ins under way, decrypted (they must never show up anywhere else)."""
    found = await rows(bot, "SELECT code_verifier FROM oauth_states")
    return [Fernet(key.encode()).decrypt(row["code_verifier"]).decode() for row in found]


async def sign_in(person: Person, bot: BotProcess, key: str, seen: list[str]) -> None:
    """/link and consent, keeping the state and the PKCE verifier of the attempt in `seen`."""
    person.google.consent.email = person.email
    prompt = await person.reply_to("/link", lambda m: url_button(m) is not None)
    sign_in_page = url_button(prompt) or ""
    url = await consent_url(sign_in_page)
    seen += [query_of(sign_in_page)["s"], query_of(url)["state"], *await pending_verifiers(bot, key)]
    assert (await person.open_url(url)).status_code == 200
    await person.tg.wait_for_message(person.user_id, lambda m: "Linked to" in (m.text or ""))


async def full_flow(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator, key: str, seen: list[str]
) -> None:
    """Link, a refused sign-in, refresh, pick (photos, a video, the QR code), cancel, settings, unlink."""
    await sign_in(alice, bot, key, seen)
    google.fail_next("token", status=400)  # a sign-in whose code Google refuses
    prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
    url = await consent_url(url_button(prompt) or "")
    seen += [query_of(url)["state"], *await pending_verifiers(bot, key)]
    assert (await alice.open_url(url)).status_code == 502
    google.expire_access_tokens()  # the next Google call refreshes the access token
    items = [google.add_photo(alice.email), google.add_video(alice.email, size=300_000)]
    prompt, session = await start_pick(alice)
    await alice.press(prompt, callback_data(prompt, "QR code"))
    await tg.wait_for_message(alice.user_id, lambda m: m.kind == "photo")
    google.pick(session.id, items)
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 2."
    _, waiting = await start_pick(alice)
    await alice.say("/cancel")
    await google.wait_for(lambda: waiting.deleted)
    menu = await alice.reply_to("/settings")
    await alice.press(menu, callback_data(menu, "Original files"))
    await alice.reply_to("/status")


async def test_raw_database_files_hold_no_token_or_code_after_a_full_flow(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    seen: list[str] = []
    await full_flow(bot, alice, tg, google, ENCRYPTION_KEY, seen)
    assert len(google.issued_secrets()) >= 5  # codes, access tokens (one refreshed), a refresh token

    async def leaks() -> list[str]:
        raw = await at_rest(bot)  # on PostgreSQL, every value of every row
        assert raw
        secrets = [*google.issued_secrets(), *seen, TOKEN, CLIENT_SECRET, ENCRYPTION_KEY]
        return [s[:12] + "…" for s in secrets if s.encode() in raw]

    if not ON_POSTGRESQL:
        running = [p.name for p in database_files(bot)]
        assert "bot.sqlite3-wal" in running  # the write-ahead log, where fresh rows sit first, is read too
    assert await leaks() == [], "in the running bot's database"
    await bot.stop()
    assert await leaks() == [], "in the database after shutdown"


@pytest.mark.skipif(ON_POSTGRESQL, reason="the SQLite file and a generated key: PostgreSQL requires ENCRYPTION_KEY")
async def test_generated_key_secret_and_database_are_owner_only(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    bot = make_bot(ENCRYPTION_KEY="")  # no key given: the bot generates one
    bot.env["TELEGRAM_WEBHOOK_URL"] = bot.env["PUBLIC_URL"] + WEBHOOK_PATH  # and a webhook secret
    with umask(0o022):  # a usual umask: files would be world-readable unless the bot sees to it
        await bot.start()
        photo = google.add_photo(alice.email)
        await link(alice)
        _, session = await start_pick(alice)
        tg.set_latency("sendPhoto", 1.0)  # the downloaded photo waits on disk for its upload a while
        google.pick(session.id, [photo])
        downloads = await tg.wait_for(lambda: [p for p in (data_dir(bot) / "tmp").rglob("*") if p.is_file()] or None)
        download_modes = {oct(stat.S_IMODE(p.stat().st_mode)) for p in downloads}
        assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
        assert download_modes == {"0o600"}, f"someone's photo sat on disk with mode {download_modes}"
        files = [*database_files(bot), data_dir(bot) / KEY_FILE_NAME, data_dir(bot) / SECRET_FILE_NAME]
        assert {p.name for p in files} >= {
            "bot.sqlite3",
            "bot.sqlite3-wal",
            "bot.sqlite3-shm",
            KEY_FILE_NAME,
            SECRET_FILE_NAME,
        }
        modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
        assert modes == dict.fromkeys(modes, "0o600"), modes
        key = (data_dir(bot) / KEY_FILE_NAME).read_text().strip()
        secret = (data_dir(bot) / SECRET_FILE_NAME).read_text().strip()
        # The generated key is the one in use: after a restart the stored link still reads. (Once the pick is done: a
        # crash between its summary and that mark would resume it, and the summary would come again.)
        await no_active_picks(bot)
        await bot.restart()
        assert "alice@example.com" in (await alice.reply_to("/status")).text
    assert await bot.stop() == 0
    logs = bot.logs()
    assert "Traceback" not in logs
    assert key not in logs and secret not in logs
    assert tg.calls_of("setWebhook")[-1].params["secret_token"] == secret


async def test_logs_of_full_flows_hold_no_secret(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Everything a user can do, logged at DEBUG in both formats: no token, code, state, verifier or key."""
    # A generated key and webhook secret on SQLite; on PostgreSQL, which requires them, the configured ones.
    bot = make_bot(LOG_LEVEL="DEBUG") if ON_POSTGRESQL else make_bot(ENCRYPTION_KEY="", LOG_LEVEL="DEBUG")
    bot.env["TELEGRAM_WEBHOOK_URL"] = bot.env["PUBLIC_URL"] + WEBHOOK_PATH
    await bot.start()
    key = bot.env["ENCRYPTION_KEY"] or (data_dir(bot) / KEY_FILE_NAME).read_text().strip()
    seen: list[str] = []
    await full_flow(bot, alice, tg, google, key, seen)
    assert "revoked" in (await alice.reply_to("/unlink")).text
    await bot.stop()
    bot.env["LOG_FORMAT"] = "json"
    await bot.start()
    await sign_in(alice, bot, key, seen)
    photo = google.add_photo(alice.email)
    _, session = await start_pick(alice)
    google.pick(session.id, [photo])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    assert "revoked" in (await alice.reply_to("/unlink")).text
    await bot.stop()

    logs = bot.logs()
    assert "refreshed the access token" in logs and '"level": "DEBUG"' in logs  # both formats, really at DEBUG
    webhook_secret = bot.env.get("TELEGRAM_WEBHOOK_SECRET") or (data_dir(bot) / SECRET_FILE_NAME).read_text().strip()
    secrets = {
        "bot token": TOKEN,
        "client secret": CLIENT_SECRET,
        "encryption key": key,
        "webhook secret": webhook_secret,
        **{f"Google secret {n}": s for n, s in enumerate(google.issued_secrets())},
        **{f"state or verifier {n}": s for n, s in enumerate(seen)},
    }
    assert len(seen) >= 6
    leaked = [name for name, value in secrets.items() if value in logs]
    assert leaked == [], leaked
    assert "Traceback" not in logs


@dataclass
class SlashedBot(BotProcess):
    """A bot whose PUBLIC_URL ends with a slash (as operators often write it); the tests reach it without."""

    @property
    def base_url(self) -> str:
        return self.env["PUBLIC_URL"].rstrip("/")


async def test_redirect_uri_is_exactly_public_url_oauth_callback(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    plain = make_bot()
    exact = plain.env["PUBLIC_URL"] + "/oauth/callback"
    assert google.redirect_uris == {exact}  # Google knows this one URI and refuses any other
    bot = SlashedBot(env={**plain.env, "PUBLIC_URL": plain.env["PUBLIC_URL"] + "/"}, workdir=plain.workdir, tg=tg)
    await bot.start()
    await link(alice)
    [authorize] = [r for r in google.requests if r.endpoint == "authorize"]
    assert authorize.query["redirect_uri"] == exact
    # The code exchange repeats it (the emulator refuses a code redeemed with another redirect_uri).
    assert [r.status for r in google.requests if r.endpoint == "token"] == [200]
    assert "alice@example.com" in (await alice.reply_to("/status")).text

    # Google's check is real: one character off and the sign-in is refused before it reaches the bot.
    google.redirect_uris = {exact + "/"}
    prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
    page = await alice.open_url(await consent_url(url_button(prompt) or ""))
    assert page.status_code == 400 and "redirect_uri_mismatch" in page.text
    assert [r.status for r in google.requests if r.endpoint == "token"] == [200]  # no second exchange
    assert await bot.stop() == 0
    assert "Traceback" not in bot.logs()
