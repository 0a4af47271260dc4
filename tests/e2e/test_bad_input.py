"""Bad input, tried systematically: a corpus of hostile and malformed inputs, each sent through the real bot
process, each with a clear answer (or a safe ignore) and no state change.

Every case is checked the same way: the bot logs no traceback, still answers /healthz, and the case's own
expectations hold (the answer given, the database rows unchanged, nothing posted where nothing is due). Cases
are data; each test function runs one family of them against one bot process and reports every failing
case at once. `pytest -s` prints how many inputs were tried.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import pytest
from yarl import URL

from bot import texts
from emulators.google import GoogleEmulator, SessionRecord
from emulators.telegram import GENERAL_TOPIC_ID, Call, TelegramEmulator
from tests.e2e.picking import (
    RENDITION,
    assert_delivered_in_order,
    link,
    media,
    start_pick,
    wait_prompt_stored,
    wait_summary,
)
from tests.harness import (
    BotProcess,
    Person,
    callback_data,
    consent_url,
    execute,
    message_ids,
    new_messages,
    query_of,
    rows,
    url_button,
)

BOT = "photos_test_bot"
GROUP = -1001234
FORUM = -1001235
TRIED: list[str] = []  # every input tried in this module, by case id
TABLES = (
    "google_links",
    "oauth_states",
    "chat_settings",
    "pick_sessions",
    "pick_items",
    "chat_intents",
    "destinations",
    "chat_memory",
)
VOLATILE = {"pick_sessions": {"last_polled_at", "poll_interval", "updated_at"}}  # move while a pick waits
WRITES = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendVideo",
        "sendDocument",
        "sendMediaGroup",
        "editMessageText",
        "editMessageReplyMarkup",
        "deleteMessage",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
    }
)
USAGE = texts.PICK_USAGE.format(max=2000)

Rows = dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="module", autouse=True)
def _count_inputs() -> Iterator[None]:
    yield
    print(f"\n[bad input] {len(TRIED)} hostile or malformed inputs tried through the real bot process")


@pytest.fixture
async def bot(make_bot: Callable[..., BotProcess]) -> AsyncIterator[BotProcess]:
    """One bot for a whole family of cases: the hourly pick limit would otherwise refuse the later ones."""
    process = make_bot(PICKS_PER_HOUR="10000", MAX_ACTIVE_PICKS="100")
    await process.start()
    yield process
    assert await process.stop() == 0, process.logs()[-3000:]
    assert "Traceback" not in process.logs(), process.logs()[-5000:]


# --------------------------------------------------------------------------------------------- plumbing


async def snapshot(bot: BotProcess, *tables: str) -> Rows:
    """The rows of `tables` (all by default) in the bot's database, columns that move on their own left out."""
    snapshots: Rows = {}
    for table in tables or TABLES:
        volatile = VOLATILE.get(table, set())
        found = [
            tuple(v for k, v in row.items() if k not in volatile) for row in await rows(bot, f"SELECT * FROM {table}")
        ]
        snapshots[table] = sorted(found, key=repr)
    return snapshots


def writes(tg: TelegramEmulator, since: int) -> list[Call]:
    """Calls after `since` that post, edit or delete something in a chat."""
    return [c for c in tg.calls[since:] if c.method in WRITES]


def shown(calls: list[Call]) -> list[str]:
    return [f"{c.method}({c.params.get('chat_id')}): {str(c.params.get('text', ''))[:60]!r}" for c in calls]


async def healthy(bot: BotProcess) -> None:
    assert bot.proc is not None and bot.proc.returncode is None, "the bot process ended"
    async with httpx.AsyncClient() as client:
        response = await client.get(bot.base_url + "/healthz")
    assert response.status_code == 200, f"/healthz answered {response.status_code}"


async def quiet(tg: TelegramEmulator, period: float = 0.1) -> None:
    """Wait until the bot has made no Bot API call (long polls aside) for `period` seconds."""
    while True:
        busy = [c for c in tg.calls if c.method not in ("getUpdates", "getMe")]
        last = busy[-1].time if busy else 0.0
        wait = last + period - time.monotonic()
        if wait <= 0:
            return
        await asyncio.sleep(wait)


async def answer_to(tg: TelegramEmulator, query: str) -> dict[str, Any]:
    """How the bot answered the button press `query` (waits for it)."""
    return await tg.wait_for(lambda: tg.answered_callbacks.get(query), 3.0, what=f"an answer to button press {query}")


async def bot_says(tg: TelegramEmulator, chat_id: int, seen: set[int], text: str) -> None:
    """Wait until the bot's messages in `chat_id` not in `seen` (from message_ids) include one containing `text`."""
    await tg.wait_for(lambda: any(text in (m.text or "") for m in new_messages(tg, chat_id, seen)), what=repr(text))


async def settle(tg: TelegramEmulator, person: Person, chat_id: int | None = None) -> None:
    """Everything sent so far has been handled: a /help sent after it is answered, then all is quiet."""
    chat = person.user_id if chat_id is None else chat_id
    seen = message_ids(tg, chat)
    await person.say("/help" if chat_id is None else f"/help@{BOT}", chat_id)
    await tg.wait_for(lambda: not tg.pending_updates, what="the bot to take every pending update")
    await bot_says(tg, chat, seen, "How it works")
    await quiet(tg)


async def polled(google: GoogleEmulator, session: SessionRecord, count: int) -> None:
    await google.wait_for(lambda: len(session.polls) >= count, timeout=15)


async def deleted(google: GoogleEmulator, session: SessionRecord) -> None:
    await google.wait_for(lambda: session.deleted, timeout=15)


def refused(tg: TelegramEmulator, since: int, description: str) -> Callable[[], bool]:
    """Telegram has refused a call after `since` with `description`."""
    return lambda: any(description in str(c.response) for c in tg.calls[since:])


def back_to(token: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda page: {**page, "nextPageToken": token}


@dataclass
class Corpus:
    """Runs cases against one bot: failures are collected, not raised, so one run shows every failing case."""

    bot: BotProcess
    failures: list[str] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def case(self, name: str) -> AsyncIterator[None]:
        TRIED.append(name)
        logged = len(self.bot.logs())
        try:
            yield
            fresh = self.bot.logs()[logged:]
            assert "Traceback" not in fresh, "traceback in the log:\n" + fresh[fresh.index("Traceback") - 300 :][:2500]
            await healthy(self.bot)
        except (AssertionError, TimeoutError) as exc:
            self.failures.append(f"[{name}] {type(exc).__name__}: {exc}"[:3000])

    def assert_ok(self) -> None:
        assert not self.failures, f"{len(self.failures)} case(s) failed:\n\n" + "\n\n".join(self.failures)


def private_chat(person: Person) -> dict[str, Any]:
    return {"id": person.user_id, "type": "private", "first_name": person.name}


def user(person: Person) -> dict[str, Any]:
    return {"id": person.user_id, "is_bot": False, "first_name": person.name, "language_code": "en"}


def group_chat(chat_id: int = GROUP, kind: str = "supergroup") -> dict[str, Any]:
    return {"id": chat_id, "type": kind, "title": "Family"}


def text_message(chat: dict[str, Any], sender: dict[str, Any] | None, text: str, **extra: Any) -> dict[str, Any]:
    """A Message as Telegram sends it; a leading /command gets its bot_command entity."""
    message: dict[str, Any] = {"message_id": 900_000 + len(TRIED), "date": int(time.time()), "chat": chat, "text": text}
    if sender is not None:
        message["from"] = sender
    if text.startswith("/"):
        command = text.split()[0] if text.split() else text
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]
    message.update(extra)
    return message


# ------------------------------------------------------------------------------------ the OAuth callback

# Requests to the callback that carry no valid state: every one gets the "not valid" page and changes nothing.
FORM = "application/x-www-form-urlencoded"
FORGED_CALLBACKS: list[tuple[str, str]] = [
    ("no parameters", ""),
    ("code only", "code=4/0Aforged"),
    ("empty state", "state="),
    ("empty state and code", "state=&code="),
    ("forged state", "state=forged&code=x"),
    ("forged state, error", "state=forged&error=access_denied"),
    ("error only", "error=access_denied"),
    ("oversized state", "state=" + "s" * 2049 + "&code=x"),
    ("oversized code", "state=forged&code=" + "c" * 2049),
    ("oversized error", "state=forged&error=" + "e" * 2049),
    ("state at the length limit", "state=" + "s" * 2048 + "&code=x"),
    ("unicode state", "state=%F0%9F%98%80&error=x"),
    ("unicode-heavy state", "state=" + "%C3%A9" * 1300 + "&code=x"),
    ("right-to-left override", "state=%E2%80%AEetats&code=x"),
    ("invalid percent-encoding", "state=%ZZ&code=%"),
    ("broken UTF-8", "state=%FF%FE%FD&code=%C3"),
    ("NUL bytes", "state=%00&code=%00"),
    ("SQL injection", "state=%27%3B%20DROP%20TABLE%20google_links%3B%20--&code=x"),
    ("SQL wildcard", "state=%25&code=x"),
    ("HTML injection", "state=%3Cscript%3Ealert(1)%3C%2Fscript%3E&code=%3Cb%3E"),
    ("HTML in error", "error=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"),
    ("header injection", "state=x%0D%0ASet-Cookie:%20pwned=1&code=x"),
    ("path traversal", "state=..%2F..%2Fetc%2Fpasswd&code=x"),
    ("array-style parameters", "state[]=x&code[]=y"),
    ("repeated parameters", "state=a&state=b&code=x&code=y"),
    ("format string", "state=%25s%25s%25n%7B0%7D%7Bemail%7D&code=x"),
    ("parameter without value", "state&code"),
    ("semicolon separated", "state=x;code=y"),
    ("plus and spaces", "state=+a+b+&code=++"),
]

# Bytes that are not (quite) HTTP, sent straight to the bot's port: refused, and no traceback in the log.
RAW_REQUESTS: list[tuple[str, bytes]] = [
    ("a TLS handshake", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40)),
    ("a garbage line", b"GARBAGE\r\n\r\n"),
    ("an unknown method", b"BREW /oauth/callback HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("HTTP/9.9", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"),
    ("a header without a colon", b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n"),
    ("NUL in the request line", b"GET /oauth/callback?state=\x00 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("bare CR line ends", b"GET /healthz HTTP/1.1\rHost: x\r\r"),
    ("a body longer than announced", b"POST /oauth/callback HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nabcdef"),
    (
        "broken chunked encoding",
        b"POST /oauth/callback HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ),
    (
        "Content-Length and chunked together",
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    ("two Content-Lengths", b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
    ("a request cut off midway", b"GET /oauth/callback?state=x HTTP/1.1\r\nHo"),
    ("100 000 header lines", b"GET /healthz HTTP/1.1\r\n" + b"X: y\r\n" * 100_000 + b"\r\n"),
]


async def send_raw(port: int, data: bytes) -> bytes:
    """Write `data` to the port and return the first bytes of whatever comes back (b"" for nothing)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b""
    try:
        writer.write(data)
        await writer.drain()
        with contextlib.suppress(TimeoutError, ConnectionError):
            head = await asyncio.wait_for(reader.read(200), 2)
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return head


async def test_hostile_oauth_callbacks(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    corpus = Corpus(bot)
    callback = bot.base_url + "/oauth/callback"
    # A state that is really waiting (Alice's /link) must survive every forged request.
    prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
    waiting = query_of(await consent_url(url_button(prompt) or ""))
    before, calls = await snapshot(bot), len(tg.calls)
    async with aiohttp.ClientSession() as http:
        for name, raw_query in FORGED_CALLBACKS:
            async with corpus.case(f"oauth callback: {name}"):
                async with http.get(URL(f"{callback}?{raw_query}", encoded=True)) as response:
                    html = await response.text(errors="replace")
                    assert response.status == 400, response.status
                    assert "not valid" in html
                    assert "pwned" not in str(response.headers) and "Set-Cookie" not in response.headers
                    assert response.headers.get("Cache-Control") == "no-store"
                    for reflected in ("<script", "<img", "onerror", "%s", "DROP TABLE", "passwd"):
                        assert reflected not in html, f"the page reflects {reflected!r}"
                assert await snapshot(bot) == before
                assert writes(tg, calls) == [], shown(writes(tg, calls))

        # The same hostile values as the sign-in page's id (s), shown (GET) and answered (POST Continue and
        # "This isn't me"): refused as not valid, nothing reflected, nothing changed, nobody told.
        sign_in = bot.base_url + "/oauth/start"
        for name, raw_query in FORGED_CALLBACKS:
            forged = raw_query.replace("state", "s")
            for action, answer in (("shown", None), ("continued", "continue"), ("refused", "not_me")):
                async with corpus.case(f"sign-in page {action}: {name}"):
                    if answer is None:
                        request = http.get(URL(f"{sign_in}?{forged}", encoded=True))
                    else:
                        form = f"{forged}&answer={answer}".encode()
                        request = http.post(sign_in, data=form, headers={"Content-Type": FORM})
                    async with request as response:
                        html = await response.text(errors="replace")
                        assert response.status == 400, response.status
                        assert response.headers.get("Cache-Control") == "no-store"
                        for reflected in ("<script", "<img", "onerror", "%s", "DROP TABLE", "passwd"):
                            assert reflected not in html, f"the page reflects {reflected!r}"
                    assert await snapshot(bot) == before
                    assert writes(tg, calls) == [], shown(writes(tg, calls))

        # Other methods and paths near the callback: refused by the router, nothing else happens.
        for method, path, statuses in [
            ("POST", f"/oauth/callback?state={waiting['state']}&code=x", {405}),
            ("PUT", "/oauth/callback", {405}),
            ("DELETE", "/oauth/callback", {405}),
            ("GET", "/oauth/callback/", {404}),
            ("GET", "/oauth/done", {404}),  # the outcome pages exist for the settled outcomes only
            ("GET", "/oauth/done?result=%3Cscript%3Ealert(1)%3C/script%3E", {404}),
            ("GET", "/oauth/done?result=bad_state", {404}),
            ("POST", "/oauth/done?result=linked", {405}),
            ("GET", "/OAUTH/CALLBACK?state=x", {404}),
            ("GET", "/oauth//callback?state=x", {404}),
            ("GET", "/oauth/callback%00?state=x", {404}),
            ("GET", "/%2e%2e/%2e%2e/etc/passwd", {404}),
            ("GET", "/oauth/callback/..%2F..%2Fdata%2Fbot.sqlite3", {404}),
            ("GET", "/data/bot.sqlite3", {404}),
            ("GET", "/encryption.key", {404}),
            ("POST", "/telegram/webhook", {404, 405}),  # polling mode: no webhook route at all
            ("GET", "/oauth/callback?" + "a=1&" * 3000, {400, 414, 431}),  # a request line over aiohttp's limit
        ]:
            if method == "POST" and path == "/telegram/webhook" and bot.webhook_mode:
                continue
            async with corpus.case(f"http: {method} {path[:50]}"):
                async with http.request(method, URL(bot.base_url + path, encoded=True)) as response:
                    raw = await response.read()
                    assert response.status in statuses, (response.status, raw[:200])
                    assert b"Fernet" not in raw and b"SQLite format" not in raw
                assert await snapshot(bot) == before
                assert writes(tg, calls) == [], shown(writes(tg, calls))
        async with corpus.case("http: headers 64 KB long"):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(callback, headers={"X-Junk": "j" * 65536}) as response:
                    assert response.status in (400, 431), response.status
            assert await snapshot(bot) == before

    for name, data in RAW_REQUESTS:
        async with corpus.case(f"raw http: {name}"):
            head = await send_raw(int(bot.env["HTTP_PORT"]), data)
            assert head == b"" or head[:9] in (b"HTTP/1.0 ", b"HTTP/1.1 "), head[:100]
            assert head[9:10] != b"5", head[:100]  # refused as the client's fault, never a server error
            assert await snapshot(bot) == before
            assert writes(tg, calls) == [], shown(writes(tg, calls))

    # Requests that carry a state that is really waiting: the state is used up, nobody is linked, and the
    # person who asked for the link is told how it ended.
    async def fresh_state() -> dict[str, str]:
        prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
        return query_of(await consent_url(url_button(prompt) or ""))

    async def bobs_code() -> str:
        """A genuine authorization code, but issued for Bob's sign-in (another PKCE challenge)."""
        google.consent.email = bob.email
        prompt = await bob.reply_to("/link", lambda m: url_button(m) is not None)
        async with httpx.AsyncClient() as client:
            consent = await client.get(await consent_url(url_button(prompt) or ""))
        google.consent.email = alice.email
        return query_of(consent.headers["location"])["code"]

    outcomes: list[tuple[str, Callable[[str], dict[str, str]], int, str, str]] = [
        ("oversized code with a valid state", lambda s: {"state": s, "code": "c" * 3000}, 400, "not valid", ""),
        (
            "SQL injection as code",
            lambda s: {"state": s, "code": "'; DROP TABLE google_links; --"},
            502,
            "Google did not accept",
            "did not accept",
        ),
        (
            "unicode code",
            lambda s: {"state": s, "code": "😀\u202e\u0000"},
            502,
            "Google did not accept",
            "did not accept",
        ),
        ("access denied", lambda s: {"state": s, "error": "access_denied"}, 200, "Linking cancelled", "cancelled"),
        (
            "HTML as error",
            lambda s: {"state": s, "error": "<script>alert(1)</script>", "code": "x"},
            200,
            "Linking cancelled",
            "cancelled",
        ),
        ("state in upper case", lambda s: {"state": s.upper(), "code": "x"}, 400, "not valid", ""),
        ("state with a trailing space", lambda s: {"state": s + " ", "code": "x"}, 400, "not valid", ""),
        ("state twice", lambda s: {"state": s + s, "code": "x"}, 400, "not valid", ""),
    ]
    for name, params, status, expected_page, told in outcomes:
        async with corpus.case(f"oauth callback: {name}"):
            state = (await fresh_state())["state"]
            links, seen = await snapshot(bot, "google_links"), message_ids(tg, alice.user_id)
            async with httpx.AsyncClient(follow_redirects=True) as client:  # to the outcome's page
                page = await client.get(callback, params=params(state))
            assert page.status_code == status and expected_page in page.text, (page.status_code, name)
            assert "<script>" not in page.text
            assert await snapshot(bot, "google_links") == links
            if told:
                await bot_says(tg, alice.user_id, seen, told)
                async with httpx.AsyncClient() as client:  # and the state is gone: single use
                    again = await client.get(callback, params={"state": state, "code": "x"})
                assert again.status_code == 400

    async with corpus.case("oauth callback: a code issued for someone else's sign-in (PKCE)"):
        state, code = (await fresh_state())["state"], await bobs_code()
        async with httpx.AsyncClient(follow_redirects=True) as client:
            page = await client.get(callback, params={"state": state, "code": code})
        assert page.status_code == 502, page.status_code
        assert (await snapshot(bot, "google_links"))["google_links"] == []
        assert "haven't linked" in (await alice.reply_to("/status")).text

    # Google's OAuth endpoints answering with a redirect off Google's hosts: never followed (it would carry the
    # code, the client secret or a token there); the sign-in fails as Google refusing it would.
    for endpoint in ("token", "userinfo"):
        async with corpus.case(f"oauth: the {endpoint} endpoint redirects to a host that is not Google's"):
            prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
            seen = message_ids(tg, alice.user_id)
            async with httpx.AsyncClient() as client:
                redirect = (await client.get(await consent_url(url_button(prompt) or ""))).headers["location"]
                google.fail_next(endpoint, status=302, location=f"{google.elsewhere_url}/elsewhere/{endpoint}")
                page = await client.get(redirect, follow_redirects=True)
            assert page.status_code == 502 and "did not accept" in page.text, (page.status_code, page.text[:300])
            await bot_says(tg, alice.user_id, seen, "did not accept")
            assert not [r for r in google.requests if r.endpoint == "elsewhere"]
            assert (await snapshot(bot, "google_links"))["google_links"] == []

    async with corpus.case("oauth callback: expired state"):
        state = (await fresh_state())["state"]
        await execute(bot, "UPDATE oauth_states SET expires_at = 0")
        async with httpx.AsyncClient() as client:
            page = await client.get(callback, params={"state": state, "code": "x"})
        assert page.status_code == 400
        await tg.wait_for_message(alice.user_id, lambda m: "expired" in (m.text or ""))
        assert (await snapshot(bot, "google_links"))["google_links"] == []

    async with corpus.case("oauth callback: replayed state and code"):
        prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
        async with httpx.AsyncClient() as client:
            redirect = (await client.get(await consent_url(url_button(prompt) or ""))).headers["location"]
            assert (await client.get(redirect)).status_code == 303  # to the "Account linked" page
            linked = await snapshot(bot, "google_links")
            for replay in (redirect, redirect.replace("code=", "code=x"), redirect + "&error=access_denied"):
                TRIED.append("oauth callback: replay")
                assert (await client.get(replay)).status_code == 400
        assert await snapshot(bot, "google_links") == linked
        assert "alice@example.com" in (await alice.reply_to("/status")).text
    corpus.assert_ok()


async def test_hostile_pasted_sign_in_addresses(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """The forged callbacks again, as addresses pasted into the chat (sign-in by paste), and Alice's real waiting
    state on another host, port, scheme or path: each refused in a sentence, deleted, nothing else changed."""
    corpus = Corpus(bot)
    callback = bot.base_url + "/oauth/callback"
    prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
    waiting = query_of(await consent_url(url_button(prompt) or ""))["state"]
    host = bot.base_url.removeprefix("http://")
    pasted = [(f"pasted address: {name}", f"{callback}?{query}") for name, query in FORGED_CALLBACKS]
    pasted += [
        (f"pasted address: Alice's state, {name}", f"{address}?state={waiting}&code=4/0Aforged")
        for name, address in (
            ("another host", "http://evil.example/oauth/callback"),
            ("another port", f"http://{host}0/oauth/callback"),
            ("another scheme", f"https://{host}/oauth/callback"),
            ("another path", f"{bot.base_url}/oauth/done"),
            ("a longer path", f"{callback}/x"),
            ("userinfo in the host", f"http://evil@{host}/oauth/callback"),
            ("no host", "/oauth/callback"),
        )
    ]
    pasted += [
        ("pasted address: words around it", f"look {callback}?state={waiting}&code=x here"),
        ("pasted address: only the query", f"?state={waiting}&code=x"),
    ]
    before = await snapshot(bot)
    for name, text in pasted:
        if len(text) > 4096:  # more than one Telegram message holds
            continue
        async with corpus.case(name):
            calls, seen = len(tg.calls), message_ids(tg, alice.user_id)
            sent = tg.send_text(alice.user_id, text)
            await bot_says(tg, alice.user_id, seen, "doesn't finish a sign-in of yours")
            assert tg.message(alice.user_id, sent["message_id"]).deleted
            assert [c.method for c in writes(tg, calls)] == ["deleteMessage", "sendMessage"], shown(writes(tg, calls))
            assert await snapshot(bot) == before
            assert not [r for r in google.requests if r.endpoint == "token"]
    corpus.assert_ok()


# ---------------------------------------------------------------------------------- /pick's arguments

BAD_PICK_ARGUMENTS = [
    "abc",
    "0",
    "00",
    "-1",
    "+5",
    "2001",
    "99999",
    "02000",
    "1 2",
    "5 5",
    "1.5",
    "1,5",
    "1e3",
    "0x10",
    "1_000",
    "５",
    "٣",
    "⁵",
    "Ⅴ",
    "5😀",
    "😀",
    "NaN",
    "inf",
    "-0",
    "null",
    "None",
    "{max}",
    "%s",
    "<b>5</b>",
    "&lt;5&gt;",
    "'; DROP TABLE pick_sessions; --",
    "5\n6",
    "9" * 4000,
    "x" * 4090,
]


async def test_bad_pick_arguments(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    corpus = Corpus(bot)
    tg.add_group(GROUP, "Family", members={alice.user_id: "member", bob.user_id: "member"})
    await link(alice)
    before = await snapshot(bot)
    for argument in BAD_PICK_ARGUMENTS:
        for where, command, chat_id in (("private", "/pick", None), ("group", f"/pick@{BOT}", GROUP)):
            async with corpus.case(f"/pick {argument[:20]!r} ({where})"):
                answer = await alice.reply_to(f"{command} {argument}"[:4096], chat_id=chat_id)
                assert answer.text == USAGE, answer.text
                assert await snapshot(bot) == before and google.sessions == {}
    async with corpus.case("/pick 5 from someone not linked"):
        answer = await bob.reply_to("/pick 5")
        assert "haven't linked" in answer.text and callback_data(answer, "Link Google account") == "link"
        assert await snapshot(bot) == before and google.sessions == {}
    async with corpus.case("/pick abc from someone not linked"):
        assert (await bob.reply_to("/pick abc")).text == USAGE
    # Commands meant for another bot, or not commands at all: ignored, in groups and privately.
    for name, chat, text in [
        ("/pick@other_bot in a group", group_chat(), "/pick@other_bot"),
        ("/pick@other_bot 5 in a group", group_chat(), "/pick@other_bot 5"),
        ("/settings@other_bot in a group", group_chat(), "/settings@other_bot"),
        ("/cancel@other_bot in a group", group_chat(), "/cancel@other_bot"),
        ("/link@other_bot in a group", group_chat(), "/link@other_bot"),
        ("/pick@ in a group", group_chat(), "/pick@"),
        ("/pick@other_bot privately", private_chat(alice), "/pick@other_bot"),
        ("/unlink@other_bot privately", private_chat(alice), "/unlink@other_bot"),
        ("/start@other_bot p_x privately", private_chat(alice), "/start@other_bot p_x"),
    ]:
        async with corpus.case(name):
            calls = len(tg.calls)
            tg.inject_update({"message": text_message(chat, user(alice), text)})
            await settle(tg, alice, GROUP if chat["id"] == GROUP else None)
            assert [c for c in writes(tg, calls) if "How it works" not in str(c.params.get("text"))] == []
            assert await snapshot(bot) == before and google.sessions == {}
    corpus.assert_ok()


# ------------------------------------------------------------------------------------- deep links


async def test_forged_deep_links(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    corpus = Corpus(bot)
    tg.add_group(GROUP, "Family", members={alice.user_id: "member", bob.user_id: "member"})
    await link(alice)
    # Bob (not linked) asks in the group: he gets a real single-use deep link to keep for later.
    invite = await bob.reply_to(f"/pick@{BOT}", chat_id=GROUP)
    bobs_payload = (url_button(invite) or "").rsplit("start=", 1)[1]
    before = await snapshot(bot)
    expired, linked = texts.CLAIM_EXPIRED, "is linked"
    cases = [
        ("p_", expired),
        ("p_x", expired),
        ("p_" + "A" * 62, expired),
        ("p_" + "A" * 4000, expired),
        ("p_😀", expired),
        ("p_\u202e", expired),
        ("p_%00", expired),
        ("p_' OR '1'='1", expired),
        ("p_<b>x</b>", expired),
        ("p_{max}", expired),
        ("p_x p_y", expired),
        ("p_" + bobs_payload[2:].upper(), expired),
        (bobs_payload, texts.CLAIM_NOT_YOURS),
        (bobs_payload + "x", expired),
        (bobs_payload[:-1], expired),
        ("P_abc", linked),
        ("link extra", linked),
        ("LINK", linked),
        ("link😀", linked),
        ("x" * 64, linked),
        ("😀", linked),
        ("<script>", linked),
        ("p", linked),
        ("_p", linked),
    ]
    for payload, expected in cases:
        async with corpus.case(f"/start {payload[:24]!r}"):
            answer = await alice.reply_to(f"/start {payload}"[:4096])
            assert expected in (answer.text or ""), answer.text
            assert await snapshot(bot) == before and google.sessions == {}
    async with corpus.case("/start with Bob's payload, in the group"):
        answer = await alice.reply_to(f"/start@{BOT} {bobs_payload}", chat_id=GROUP)
        assert "is linked" in (answer.text or ""), answer.text
        assert await snapshot(bot) == before and google.sessions == {}
    async with corpus.case("/start with Bob's payload after it expired"):
        await execute(bot, "UPDATE chat_intents SET expires_at = 0")
        assert texts.CLAIM_EXPIRED in ((await bob.reply_to(f"/start {bobs_payload}")).text or "")
        assert (await snapshot(bot, "chat_intents"))["chat_intents"] == [] and google.sessions == {}
        kept = ("oauth_states", "pick_sessions")
        assert await snapshot(bot, *kept) == {table: before[table] for table in kept}
    corpus.assert_ok()


# ----------------------------------------------------------------------------------- button presses


async def test_tampered_and_foreign_button_presses(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    corpus = Corpus(bot)
    tg.add_group(GROUP, "Family", members={alice.user_id: "administrator", bob.user_id: "member"})
    await link(alice)
    await link(bob)
    alice_prompt, _ = await start_pick(alice)
    bob_prompt, _ = await start_pick(bob)
    a_id = callback_data(alice_prompt, "Cancel").rsplit(":", 1)[1]
    b_id = callback_data(bob_prompt, "Cancel").rsplit(":", 1)[1]
    menu = await alice.reply_to(f"/settings@{BOT}", chat_id=GROUP)  # Alice's settings menu in the group
    help_text = await bob.reply_to("/help")

    not_yours, over, unknown = texts.SESSION_NOT_YOURS, texts.SESSION_OVER, texts.BUTTON_UNKNOWN
    # (who presses, on which message, data, the alert expected (None: any answer), a message expected)
    presses: list[tuple[Person, Any, int, str, str | None, str | None]] = [
        (bob, bob_prompt, bob.user_id, f"pick:cancel:{a_id}", not_yours, None),
        (bob, bob_prompt, bob.user_id, f"pick:qr:{a_id}", not_yours, None),
        (bob, menu, GROUP, f"pick:cancel:{a_id}", not_yours, None),
        (bob, bob_prompt, bob.user_id, "pick:cancel:0", over, None),
        (bob, bob_prompt, bob.user_id, "pick:cancel:999999999999999999", over, None),
        (bob, bob_prompt, bob.user_id, "pick:cancel:9999999999999999999", over, None),
        (bob, bob_prompt, bob.user_id, "pick:cancel:-1", over, None),
        (bob, bob_prompt, bob.user_id, "pick:cancel:", over, None),
        (bob, bob_prompt, bob.user_id, "pick:qr:1e3", over, None),
        (bob, bob_prompt, bob.user_id, f"pick:qr: {b_id}", over, None),
        (bob, bob_prompt, bob.user_id, f"pick:delete:{b_id}", over, None),
        (bob, bob_prompt, bob.user_id, f"pick:cancel:{b_id}:x", over, None),
        (bob, bob_prompt, bob.user_id, f"pick:cancel:{b_id}%00", over, None),
        (bob, bob_prompt, bob.user_id, "pick:", over, None),
        (bob, bob_prompt, bob.user_id, "pick:new:x", over, None),
        (bob, bob_prompt, bob.user_id, "pick:😀", over, None),
        (bob, menu, GROUP, f"set:originals:{alice.user_id}", texts.SETTINGS_NOT_YOURS, None),
        (bob, menu, GROUP, f"set:originals:{bob.user_id}", unknown, None),
        (bob, bob_prompt, bob.user_id, f"set:originals:{bob.user_id}", unknown, None),
        (bob, menu, GROUP, "set:originals:", unknown, None),
        (bob, menu, GROUP, "set:evil:1", unknown, None),
        (bob, menu, GROUP, f"set:ORIGINALS:{alice.user_id}", unknown, None),
        (bob, menu, GROUP, f"set:originals:{alice.user_id}:x", unknown, None),
        (bob, menu, GROUP, f"set:originals:{alice.user_id}\n", unknown, None),
        (bob, menu, GROUP, f"set:originals:{'9' * 19}", unknown, None),
        (bob, menu, GROUP, "set:", unknown, None),
        (bob, bob_prompt, bob.user_id, f"rep:{a_id}", texts.REPEATS_NOT_YOURS, None),
        (bob, menu, GROUP, f"rep:{a_id}", texts.REPEATS_NOT_YOURS, None),
        (bob, bob_prompt, bob.user_id, f"rep:{b_id}", texts.REPEATS_OVER, None),  # his, but no summary offered it
        (bob, bob_prompt, bob.user_id, "rep:0", texts.REPEATS_OVER, None),
        (bob, menu, GROUP, "rep:999999999999999999", texts.REPEATS_OVER, None),
        (bob, bob_prompt, bob.user_id, "rep:", unknown, None),
        (bob, bob_prompt, bob.user_id, "rep:-1", unknown, None),
        (bob, bob_prompt, bob.user_id, "rep:1e3", unknown, None),
        (bob, bob_prompt, bob.user_id, f"rep:{b_id}:x", unknown, None),
        (bob, bob_prompt, bob.user_id, f"rep: {b_id}", unknown, None),
        (bob, menu, GROUP, "rep:" + "9" * 19, unknown, None),
        (bob, menu, GROUP, "rep:😀", unknown, None),
        (bob, bob_prompt, bob.user_id, f"arch:zip:{a_id}", texts.ARCHIVE_OFFER_NOT_YOURS, None),
        (bob, menu, GROUP, f"arch:albums:{a_id}", texts.ARCHIVE_OFFER_NOT_YOURS, None),
        (bob, bob_prompt, bob.user_id, f"arch:zip:{b_id}", texts.ARCHIVE_OFFER_OVER, None),  # his, but never offered
        (bob, bob_prompt, bob.user_id, "arch:albums:0", texts.ARCHIVE_OFFER_OVER, None),
        (bob, menu, GROUP, "arch:zip:999999999999999999", texts.ARCHIVE_OFFER_OVER, None),
        (bob, bob_prompt, bob.user_id, "arch:zip:", unknown, None),
        (bob, bob_prompt, bob.user_id, "arch:evil:1", unknown, None),
        (bob, bob_prompt, bob.user_id, f"arch:ZIP:{b_id}", unknown, None),
        (bob, bob_prompt, bob.user_id, f"arch:zip:{b_id}:x", unknown, None),
        (bob, bob_prompt, bob.user_id, "arch:zip:-1", unknown, None),
        (bob, menu, GROUP, "arch:zip:" + "9" * 19, unknown, None),
        (bob, menu, GROUP, "arch:😀", unknown, None),
        (bob, menu, GROUP, f"cap:date:{alice.user_id}", texts.SETTINGS_NOT_YOURS, None),
        (bob, menu, GROUP, f"cap:camera:{bob.user_id}", unknown, None),
        (bob, menu, GROUP, "cap:evil:1", unknown, None),
        (bob, menu, GROUP, f"cap:date:{alice.user_id}:x", unknown, None),
        (bob, help_text, bob.user_id, "go:", None, texts.CLAIM_EXPIRED),
        (bob, help_text, bob.user_id, "go:not-a-token", None, texts.CLAIM_EXPIRED),
        (bob, help_text, bob.user_id, "go:" + "x" * 61, None, texts.CLAIM_EXPIRED),
        (bob, help_text, bob.user_id, "go:😀", None, texts.CLAIM_EXPIRED),
        (bob, help_text, bob.user_id, "go:'; DROP TABLE chat_intents; --", None, texts.CLAIM_EXPIRED),
        (bob, menu, GROUP, "go:x", None, texts.CLAIM_EXPIRED),
        (bob, help_text, bob.user_id, "fwd:here:" + "A" * 22, unknown, None),
        (bob, help_text, bob.user_id, "fwd:here:", unknown, None),
        (bob, help_text, bob.user_id, "fwd:here:" + "x" * 55, unknown, None),
        (bob, help_text, bob.user_id, "fwd:here:../" + "A" * 19, unknown, None),
        (bob, menu, GROUP, "fwd:here:" + "A" * 22, unknown, None),
    ]
    # Data no button of ours carries: answered (the spinner stops), nothing else happens.
    # Pressed all at once (the bot takes updates concurrently), then checked one by one.
    junk = [
        "garbage",
        "x" * 64,
        "😀" * 16,
        "é" * 32,
        "пик:qr:1",
        "PICK:QR:1",
        "pick",
        "go",
        "set",
        "fwd",
        "fwd:on",
        "fwd:off:x",
        "rep",
        "arch",
        "REP:1",
        "link:x",
        "LINK",
        "link ",
        "\x00",
        " ",
        "null",
        '{"a": 1}',
        "%s%s%n",
        "<b>x</b>",
        "callback_data",
    ]
    before, calls = await snapshot(bot), len(tg.calls)
    pressed = [
        (data, chat_id, tg.press_button(bob.user_id, chat_id, message.message_id, data, forged=True))
        for data in junk
        for message, chat_id in ((bob_prompt, bob.user_id), (menu, GROUP))
    ]
    for data, chat_id, query in pressed:
        async with corpus.case(f"press {data[:30]!r} in {'group' if chat_id == GROUP else 'private'}"):
            answered = await answer_to(tg, query)
            assert answered.get("text") == unknown and answered.get("show_alert") is True, answered
    async with corpus.case("presses of unknown data: nothing written, nothing stored"):
        await quiet(tg)
        assert writes(tg, calls) == [], shown(writes(tg, calls))
        assert await snapshot(bot) == before
        for message, chat_id in ((bob_prompt, bob.user_id), (menu, GROUP)):
            now = tg.message(chat_id, message.message_id)
            assert (now.text, now.reply_markup) == (message.text, message.reply_markup), "a pressed message changed"
    for who, message, chat_id, data, alert, reply in presses:
        async with corpus.case(f"press {data[:30]!r} in {'group' if chat_id == GROUP else 'private'}"):
            before, calls, seen = await snapshot(bot), len(tg.calls), message_ids(tg, chat_id)
            markup = tg.message(chat_id, message.message_id).reply_markup
            text = tg.message(chat_id, message.message_id).text
            query = tg.press_button(who.user_id, chat_id, message.message_id, data, forged=True)
            answered = await answer_to(tg, query)
            if alert is not None:
                assert answered.get("text") == alert and answered.get("show_alert") is True, answered
            if reply is not None:
                await bot_says(tg, chat_id, seen, reply)
            await quiet(tg)
            expected = [] if reply is None else [reply]
            assert [c.params.get("text") for c in writes(tg, calls)] == expected, shown(writes(tg, calls))
            assert await snapshot(bot) == before
            now = tg.message(chat_id, message.message_id)
            assert (now.text, now.reply_markup) == (text, markup), "the pressed message changed"
    # "Stop forwarding" pressed where there is no such button: it must not rewrite the message it was on.
    for who, message, chat_id in [
        (bob, bob_prompt, bob.user_id),
        (bob, menu, GROUP),
        (alice, alice_prompt, alice.user_id),
    ]:
        async with corpus.case(f"press 'fwd:off' on a message without it ({chat_id})"):
            before, calls = await snapshot(bot), len(tg.calls)
            original = tg.message(chat_id, message.message_id)
            text, markup = original.text, original.reply_markup
            query = tg.press_button(who.user_id, chat_id, message.message_id, "fwd:off", forged=True)
            assert (await answer_to(tg, query)).get("text") == unknown
            await quiet(tg)
            assert writes(tg, calls) == [], shown(writes(tg, calls))
            now = tg.message(chat_id, message.message_id)
            assert (now.text, now.reply_markup) == (text, markup), "the pressed message changed"
            assert await snapshot(bot) == before
    async with corpus.case("a settings button pressed by its opener, no longer an admin"):
        before = await snapshot(bot)
        tg.chats[GROUP].members[alice.user_id] = "member"
        answered = await answer_to(tg, await alice.press(menu, callback_data(menu, "Original files"), GROUP))
        tg.chats[GROUP].members[alice.user_id] = "administrator"
        assert answered.get("text") == texts.SETTINGS_ADMINS_ONLY, answered
        await quiet(tg)
        assert await snapshot(bot) == before
    async with corpus.case("press 'link' in a group: no sign-in link lands there"):
        calls = len(tg.calls)
        await answer_to(tg, tg.press_button(bob.user_id, GROUP, menu.message_id, "link", forged=True))
        await tg.wait_for(lambda: writes(tg, calls))
        await quiet(tg)
        assert google.auth_url not in str([c.params for c in writes(tg, calls)])
    # The picks that were waiting all along are untouched by all of it.
    async with corpus.case("both picks still waiting"):
        sessions = (await snapshot(bot, "pick_sessions"))["pick_sessions"]
        assert len(sessions) == 2 and all("waiting" in row for row in sessions), sessions
        assert not any(s.deleted for s in google.sessions.values())
        assert [m for m in tg.messages(bob.user_id) if m.kind == "photo"] == []  # no QR code went out
    corpus.assert_ok()


# ---------------------------------------------------------------------------------- odd updates


async def test_updates_that_must_change_nothing(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    corpus = Corpus(bot)
    tg.add_group(GROUP, "Family", members={alice.user_id: "administrator", bob.user_id: "member"})
    tg.add_group(-1009000, "News", type="channel", members={alice.user_id: "administrator"}, bot_status="administrator")
    tg.add_group(FORUM, "Class", members={alice.user_id: "member"}, forum=True)
    await link(alice)
    channel = {"id": -1009000, "type": "channel", "title": "News"}
    forum = {"id": FORUM, "type": "supergroup", "title": "Class", "is_forum": True}
    edited = {"edit_date": int(time.time())}
    now = int(time.time())
    updates: list[tuple[str, dict[str, Any]]] = []
    for command in (
        "/pick",
        "/pick 5",
        "/start",
        "/start link",
        "/link",
        "/unlink",
        "/settings",
        "/cancel",
        "/forward",
        "/forward off",
        "/status",
        "/help",
    ):
        updates.append(
            (f"edited {command}", {"edited_message": text_message(private_chat(alice), user(alice), command, **edited)})
        )
    updates += [
        (
            "edited /pick in a group",
            {"edited_message": text_message(group_chat(), user(alice), f"/pick@{BOT}", **edited)},
        ),
        ("channel post /pick", {"channel_post": text_message(channel, None, "/pick", sender_chat=channel)}),
        ("channel post /pick@bot", {"channel_post": text_message(channel, None, f"/pick@{BOT}", sender_chat=channel)}),
        ("channel post /settings", {"channel_post": text_message(channel, None, "/settings", sender_chat=channel)}),
        ("channel post /start p_x", {"channel_post": text_message(channel, None, "/start p_x", sender_chat=channel)}),
        (
            "edited channel post /pick",
            {"edited_channel_post": text_message(channel, None, "/pick", sender_chat=channel, **edited)},
        ),
        ("a message with no sender", {"message": text_message(group_chat(), None, f"/pick@{BOT}")}),
        (
            "/help in a forum topic that does not exist",
            {"message": text_message(forum, user(alice), f"/help@{BOT}", message_thread_id=777, is_topic_message=True)},
        ),
        (
            "/help with a thread id that is no topic",
            {"message": text_message(forum, user(alice), f"/help@{BOT}", message_thread_id=GENERAL_TOPIC_ID)},
        ),
        (
            "/pick without its command entity",
            {"message": {**text_message(private_chat(alice), user(alice), "/pick"), "entities": []}},
        ),
        ("plain text", {"message": text_message(private_chat(alice), user(alice), "pick please")}),
        ("4096 characters of junk", {"message": text_message(private_chat(alice), user(alice), "☃" * 4096)}),
        (
            "a sticker",
            {
                "message": {
                    **text_message(private_chat(alice), user(alice), ""),
                    "text": None,
                    "sticker": {
                        "file_id": "x",
                        "file_unique_id": "y",
                        "type": "regular",
                        "width": 1,
                        "height": 1,
                        "is_animated": False,
                        "is_video": False,
                    },
                }
            },
        ),
        (
            "a message with fields from the future",
            {
                "message": text_message(
                    private_chat(alice), user(alice), "hello", future_field={"nested": [1, 2]}, paid_star_count=5
                )
            },
        ),
        (
            "an unknown chat type",
            {"message": text_message({"id": 777, "type": "future_chat", "title": "?"}, user(alice), "/pick")},
        ),
        (
            "a chat_shared with an unknown request",
            {
                "message": {
                    **text_message(private_chat(alice), user(alice), ""),
                    "text": None,
                    "chat_shared": {"request_id": 99, "chat_id": GROUP},
                }
            },
        ),
        (
            "the bot promoted in a group",
            {
                "my_chat_member": {
                    "chat": group_chat(),
                    "from": user(alice),
                    "date": now,
                    "old_chat_member": {
                        "user": {"id": tg.bot_id, "is_bot": True, "first_name": "B"},
                        "status": "member",
                    },
                    "new_chat_member": {
                        "user": {"id": tg.bot_id, "is_bot": True, "first_name": "B"},
                        "status": "administrator",
                        **dict.fromkeys(
                            [
                                "can_be_edited",
                                "is_anonymous",
                                "can_manage_chat",
                                "can_delete_messages",
                                "can_manage_video_chats",
                                "can_restrict_members",
                                "can_promote_members",
                                "can_change_info",
                                "can_invite_users",
                                "can_post_stories",
                                "can_edit_stories",
                                "can_delete_stories",
                            ],
                            False,
                        ),
                    },
                }
            },
        ),
        (
            "the bot removed from a chat it never knew",
            {
                "my_chat_member": {
                    "chat": group_chat(-1005555),
                    "from": user(alice),
                    "date": now,
                    "old_chat_member": {
                        "user": {"id": tg.bot_id, "is_bot": True, "first_name": "B"},
                        "status": "member",
                    },
                    "new_chat_member": {"user": {"id": tg.bot_id, "is_bot": True, "first_name": "B"}, "status": "left"},
                }
            },
        ),
        (
            "someone else's membership",
            {
                "chat_member": {
                    "chat": group_chat(),
                    "from": user(alice),
                    "date": now,
                    "old_chat_member": {"user": user(bob), "status": "member"},
                    "new_chat_member": {"user": user(bob), "status": "left"},
                }
            },
        ),
        (
            "a reaction",
            {
                "message_reaction": {
                    "chat": private_chat(alice),
                    "message_id": 1,
                    "user": user(alice),
                    "date": now,
                    "old_reaction": [],
                    "new_reaction": [{"type": "emoji", "emoji": "👍"}],
                }
            },
        ),
        ("an inline query", {"inline_query": {"id": "1", "from": user(alice), "query": "/pick", "offset": ""}}),
        (
            "a poll",
            {
                "poll": {
                    "id": "1",
                    "question": "/pick?",
                    "options": [],
                    "total_voter_count": 0,
                    "is_closed": False,
                    "is_anonymous": True,
                    "type": "regular",
                    "allows_multiple_answers": False,
                    "allows_revoting": False,
                    "members_only": False,
                }
            },
        ),
        (
            "a join request",
            {"chat_join_request": {"chat": group_chat(), "from": user(bob), "user_chat_id": bob.user_id, "date": now}},
        ),
        (
            "a business message /pick",
            {"business_message": text_message(private_chat(alice), user(alice), "/pick", business_connection_id="b1")},
        ),
    ]
    before = await snapshot(bot)
    for name, update in updates:
        async with corpus.case(f"update: {name}"):
            calls = len(tg.calls)
            tg.inject_update(update)
            await settle(tg, alice)
            assert [c for c in writes(tg, calls) if "How it works" not in str(c.params.get("text"))] == [], shown(
                writes(tg, calls)
            )
            assert await snapshot(bot) == before and google.sessions == {}
    # Update types this bot version has never heard of: Telegram adds new ones from time to time.
    for name in ("future_update", "message_reaction_count_v2", "x"):
        async with corpus.case(f"update of unknown type {name!r}"):
            calls = len(tg.calls)
            tg.pending_updates.append(tg.inject_update({name: {"id": 1, "from": user(alice), "text": "/pick"}}))
            await settle(tg, alice)
            assert [c for c in writes(tg, calls) if "How it works" not in str(c.params.get("text"))] == []
            assert await snapshot(bot) == before and google.sessions == {}
    corpus.assert_ok()


# ---------------------------------------------------------------------------------- Picker API answers


def session_json(google: GoogleEmulator, **changes: Any) -> dict[str, Any]:
    """A PickingSession as Google would create it right now, with `changes`."""
    expire = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    data = {
        "id": "forged-session",
        "pickerUri": f"{google.url}/picker/forged-session",
        "pollingConfig": {"pollInterval": "0.2s", "timeoutIn": "1800s"},
        "expireTime": expire,
        "mediaItemsSet": False,
    }
    data.update(changes)
    return data


async def test_odd_answers_from_the_picker_api(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    corpus = Corpus(bot)
    google.poll_interval = 0.1
    await link(alice)
    down = texts.GOOGLE_DOWN
    # sessions.create answers 200 with something that is not a usable PickingSession: a clear refusal, and
    # no pick is recorded.
    create_answers: list[tuple[str, dict[str, Any] | str]] = [
        ("an empty object", {}),
        ("not JSON", "<html><body>Sorry…</body></html>"),
        ("a JSON array", '["id", "pickerUri"]'),
        ("the id as a number", session_json(google, id=5)),
        ("no pickerUri", {k: v for k, v in session_json(google).items() if k != "pickerUri"}),
        ("pickerUri null", session_json(google, pickerUri=None)),
        ("a javascript: pickerUri", session_json(google, pickerUri="javascript:alert(1)")),
        ("a pickerUri that is not a URL", session_json(google, pickerUri="photos.google.com")),
        ("expireTime in words", session_json(google, expireTime="tomorrow")),
        ("expireTime as a number", session_json(google, expireTime=1_900_000_000)),
        ("an error object with status 200", {"error": {"code": 500, "status": "INTERNAL"}}),
    ]
    for name, created in create_answers:
        async with corpus.case(f"sessions.create answers 200 with {name}"):
            before = await snapshot(bot)
            google.fail_next("sessions.create", status=200, body=created)
            answer = await alice.reply_to("/pick")
            assert answer.text == down, answer.text
            assert await snapshot(bot) == before
    # The Picker API answering with a redirect off Google's hosts: an answer, never followed with the token.
    for status in (301, 302, 307, 308):
        async with corpus.case(f"sessions.create answers {status} to a host that is not Google's"):
            before = await snapshot(bot)
            google.fail_next("sessions.create", status=status, location=f"{google.elsewhere_url}/elsewhere/v1")
            answer = await alice.reply_to("/pick")
            assert answer.text == down, answer.text
            assert await snapshot(bot) == before
            assert not [r for r in google.requests if r.endpoint == "elsewhere"]
    errors: list[tuple[str, int, dict[str, Any] | str, str]] = [
        ("400 with an error that is a string", 400, {"error": "bad"}, down),
        ("400 with a numeric status", 400, {"error": {"status": 5}}, down),
        ("409 with HTML", 409, "<html>conflict</html>", down),
        ("403 with no body", 403, "", texts.LINK_BROKEN),
    ]
    for name, status, error, expected in errors:
        async with corpus.case(f"sessions.create answers {name}"):
            before = await snapshot(bot)
            google.fail_next("sessions.create", status=status, body=error)
            answer = await alice.reply_to("/pick")
            assert answer.text == expected, answer.text
            assert await snapshot(bot) == before

    # Odd answers while a pick waits (two in a row): polling goes on, never faster than Google's pace, and
    # the pick still arrives.
    polls: list[tuple[str, Callable[[dict[str, Any]], object]]] = [
        ("unexpected fields", lambda s: {**s, "futureField": {"a": [1]}, "pickingConfig": {"maxItemCount": "x"}}),
        ("not JSON", lambda s: "<html>oops</html>"),
        ("no expireTime", lambda s: {k: v for k, v in s.items() if k != "expireTime"}),
        ("a negative pollInterval", lambda s: {**s, "pollingConfig": {"pollInterval": "-5s", "timeoutIn": "100s"}}),
        ("a zero pollInterval", lambda s: {**s, "pollingConfig": {"pollInterval": "0s", "timeoutIn": "100s"}}),
        ("a pollInterval in words", lambda s: {**s, "pollingConfig": {"pollInterval": "soon", "timeoutIn": "x"}}),
        ("pollingConfig as a list", lambda s: {**s, "pollingConfig": [1, 2]}),
        ("pollingConfig as a string", lambda s: {**s, "pollingConfig": "5s"}),
        ("mediaItemsSet as a string", lambda s: {**s, "mediaItemsSet": "true"}),
        ("a JSON array", lambda s: [s]),
    ]
    for name, rewrite in polls:
        async with corpus.case(f"sessions.get answers 200 with {name}"):
            photo = google.add_photo(alice.email)
            _, session = await start_pick(alice)
            await polled(google, session, 1)
            current = {
                "id": session.id,
                "pickerUri": session.picker_uri,
                "pollingConfig": {"pollInterval": "0.1s", "timeoutIn": "100s"},
                "expireTime": session.expire_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "mediaItemsSet": False,
            }
            answer = rewrite(current)
            google.fail_next(
                "sessions.get",
                status=200,
                body=answer if isinstance(answer, dict | str) else json.dumps(answer),
                times=2,
            )
            await polled(google, session, len(session.polls) + 1)
            google.pick(session.id, [photo])
            assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
            times = [r.time for r in google.requests if r.endpoint == "sessions.get" and session.id in r.path]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert min(gaps) > 0.07, f"polled {min(gaps):.3f}s after the previous poll (pollInterval 0.1s)"

    # Odd pages of mediaItems.list: unknown media types, missing and unexpected fields, bad page tokens.
    def retype(kind: object) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def change(page: dict[str, Any]) -> dict[str, Any]:
            for item in page.get("mediaItems", []):
                item["type"] = kind
            return page

        return change

    def odd_fields(page: dict[str, Any]) -> dict[str, Any]:
        for item in page.get("mediaItems", []):
            item["futureField"] = {"x": 1}
            item["mediaFile"]["mediaFileMetadata"] = {"width": "wide", "height": None, "photoMetadata": "?"}
            item["mediaFile"]["filename"] = "../../<b>etc</b>/passwd\u202e.jpg"
            item["mediaFile"].pop("mimeType")
        page["futureTopLevel"] = [1, 2, 3]
        return page

    def bad_token(page: dict[str, Any]) -> dict[str, Any]:
        return {**page, "nextPageToken": 12345}

    def not_a_list(page: dict[str, Any]) -> dict[str, Any]:
        return {**page, "mediaItems": {"0": page.get("mediaItems")}}

    def no_mime_type(page: dict[str, Any]) -> dict[str, Any]:
        for item in page.get("mediaItems", []):
            item["mediaFile"]["mimeType"] = None
            item["mediaFile"]["filename"] = ""
        return page

    def odd_nesting(page: dict[str, Any]) -> dict[str, Any]:
        for item in page.get("mediaItems", []):
            item["mediaFile"]["mediaFileMetadata"] = ["width", 1]
        page["mediaItems"] = [
            *page.get("mediaItems", []),
            {"id": "x", "mediaFile": ["not", "an", "object"]},
            {"id": "y", "mediaFile": {"baseUrl": 5}},
            {"id": "z", "mediaFile": "x"},
        ]
        return page

    for name, transform in [
        ("an unknown media type", retype("MOTION_PHOTO")),
        ("an unspecified media type", retype("TYPE_UNSPECIFIED")),
        ("a numeric media type", retype(7)),
        ("unexpected and missing fields", odd_fields),
        ("no mimeType and an empty filename", no_mime_type),
        ("objects where lists are and lists where objects are", odd_nesting),
        ("a nextPageToken that is a number", bad_token),
        ("a nextPageToken that leads back to the first page", None),
        ("mediaItems that is not a list", not_a_list),
    ]:
        async with corpus.case(f"mediaItems.list with {name}"):
            photo = google.add_photo(alice.email)
            _, session = await start_pick(alice)
            shown_before = len(media(tg, alice.user_id))
            if transform is None:  # a real page token, but the one of the first page: paging would never end
                transform = back_to(google._page_token(session.id, 0, 1))
            google.page_transform = transform
            google.pick(session.id, [photo])
            summary = await tg.wait_for_message(
                alice.user_id,
                lambda m: "Delivered" in (m.text or "") or m.text == texts.PICK_NOTHING_PICKED,
                timeout=30,
            )
            google.page_transform = None
            lists = [
                r for r in google.requests if r.endpoint == "mediaItems.list" and r.query["sessionId"] == session.id
            ]
            assert len(lists) < 20, f"{len(lists)} mediaItems.list calls"
            if transform is not_a_list:
                assert summary.text == texts.PICK_NOTHING_PICKED, summary.text
            else:
                assert summary.text == "✅ Delivered 1 item.", summary.text
                assert len(media(tg, alice.user_id)[shown_before:]) == 1
            await deleted(google, session)
    async with corpus.case("mediaItems.list with a baseUrl on a host that is not Google's"):
        photo = google.add_photo(alice.email, filename="foreign.jpg")
        _, session = await start_pick(alice)
        shown_before = len(media(tg, alice.user_id))

        def foreign_base_url(page: dict[str, Any]) -> dict[str, Any]:
            for item in page.get("mediaItems", []):
                item["mediaFile"]["baseUrl"] = f"{google.elsewhere_url}/elsewhere/{item['id']}"
            return page

        google.page_transform = foreign_base_url
        google.pick(session.id, [photo])
        summary = await wait_summary(tg, alice.user_id)
        google.page_transform = None
        assert summary.text == f"⚠️ Delivered 0 of 1\n· 1 {texts.REASON_UNAVAILABLE}: foreign.jpg", summary.text
        assert not [r for r in google.requests if r.endpoint == "elsewhere"]
        assert media(tg, alice.user_id)[shown_before:] == []
    async with corpus.case("mediaItems.list: a huge page (2500 items)"):
        photo = google.add_photo(alice.email)
        _, session = await start_pick(alice)
        junk = [
            {
                "id": f"junk{n}",
                "type": "PHOTO",
                "mediaFile": {
                    "baseUrl": f"{google.url}/lh3/ppa/none{n}",
                    "mimeType": "image/jpeg",
                    "filename": f"{n}.jpg",
                },
            }
            for n in range(2500)
        ]
        google.fail_next("mediaItems.list", status=200, body={"mediaItems": junk})
        google.pick(session.id, [photo])
        answer = await tg.wait_for_message(alice.user_id, lambda m: "2,500" in (m.text or ""))
        assert "more than the 2,000" in (answer.text or "")
        await google.wait_for(lambda: session.deleted)
        assert media(tg, alice.user_id) == [] or all(m.message_id < answer.message_id for m in media(tg, alice.user_id))
    async with corpus.case("mediaItems.list: a page of 5000 malformed items"):
        photo = google.add_photo(alice.email)
        _, session = await start_pick(alice)
        logged = len(bot.logs())
        google.fail_next("mediaItems.list", status=200, body={"mediaItems": [{}, None, 5, "x", []] * 1000})
        google.pick(session.id, [photo])
        answer = await tg.wait_for_message(
            alice.user_id, lambda m: "Delivered" in (m.text or "") or texts.PICK_NOTHING_PICKED in (m.text or "")
        )
        assert answer.text is not None
        assert bot.logs()[logged:].count("\n") < 200, "one log line per malformed item"

    # Media bytes that are not media: an error page served with 200, a body cut short.
    async with corpus.case("media: an HTML page with status 200, once"):
        photo = google.add_photo(alice.email)
        _, session = await start_pick(alice)
        shown_before = len(media(tg, alice.user_id))
        google.fail_next("media", status=200, body="<html><body>Quota exceeded</body></html>")
        google.pick(session.id, [photo])
        assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
        delivered = media(tg, alice.user_id)[shown_before:]
        assert [m.kind for m in delivered] == ["photo"]
        assert delivered[0].file is not None and delivered[0].file.sha256 == next(
            s.sha256 for s in google.served if s.item_id == photo.id and s.suffix == RENDITION
        )
    async with corpus.case("media: JSON with status 200, every time"):
        photo = google.add_photo(alice.email, filename="json.jpg")
        _, session = await start_pick(alice)
        shown_before = len(media(tg, alice.user_id))
        google.fail_next("media", status=200, body={"error": "nope"}, times=2)
        google.pick(session.id, [photo])
        summary = await wait_summary(tg, alice.user_id)
        assert (summary.text or "").startswith("⚠️ Delivered 0 of 1") and "json.jpg" in (summary.text or "")
        assert media(tg, alice.user_id)[shown_before:] == []
    async with corpus.case("media: a body cut short, once"):
        photo = google.add_photo(alice.email)
        _, session = await start_pick(alice)
        shown_before = len(media(tg, alice.user_id))
        google.cut_next_media(1000)
        google.pick(session.id, [photo])
        assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
        assert len(media(tg, alice.user_id)[shown_before:]) == 1
    async with corpus.case("media: a body cut short, every time"):
        photo = google.add_photo(alice.email, filename="cut.jpg")
        _, session = await start_pick(alice)
        shown_before = len(media(tg, alice.user_id))
        google.cut_next_media(1000, times=5)  # every attempt of the download
        google.pick(session.id, [photo])
        summary = await wait_summary(tg, alice.user_id, timeout=40)
        assert (summary.text or "").startswith("⚠️ Delivered 0 of 1") and "cut.jpg" in (summary.text or "")
        assert media(tg, alice.user_id)[shown_before:] == []
    corpus.assert_ok()


# ---------------------------------------------------------------------------------- Telegram's errors

BLOCKED = "Forbidden: bot was blocked by the user"
CHAT_NOT_FOUND = "Bad Request: chat not found"
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
DELETE_NOT_FOUND = "Bad Request: message to delete not found"
CANT_EDIT = "Bad Request: message can't be edited"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


async def test_telegram_errors(bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator) -> None:
    corpus = Corpus(bot)
    await link(alice)
    # A command whose answer Telegram refuses: nobody to tell, nothing to crash.
    for command in ("/help", "/status", "/start", "/settings", "/pick abc", "/cancel", "/forward"):
        for status, description in ((403, BLOCKED), (400, CHAT_NOT_FOUND)):
            async with corpus.case(f"{command} answered with {description}"):
                before = await snapshot(bot)
                tg.fail_next("sendMessage", status=status, description=description)
                calls = len(tg.calls)
                await alice.say(command)
                await tg.wait_for(refused(tg, calls, description))
                await settle(tg, alice)
                assert await snapshot(bot) == before
    async with corpus.case("/pick whose prompt Telegram refuses (blocked)"):
        before = await snapshot(bot, "google_links", "chat_settings")
        tg.fail_next("sendMessage", status=403, description=BLOCKED)
        await alice.say("/pick")
        await google.wait_for(lambda: bool(google.sessions) and all(s.deleted for s in google.sessions.values()))
        await settle(tg, alice)
        sessions = (await snapshot(bot, "pick_sessions"))["pick_sessions"]
        assert not any("waiting" in row for row in sessions), sessions
        assert await snapshot(bot, "google_links", "chat_settings") == before
    # Buttons whose message is gone, or whose query Telegram has forgotten.
    menu = await alice.reply_to("/settings")
    for description in (EDIT_NOT_FOUND, CANT_EDIT):
        async with corpus.case(f"settings button, edit fails: {description}"):
            tg.fail_next("editMessageText", status=400, description=description)
            answered = await answer_to(tg, await alice.press(menu, callback_data(menu, "Original files")))
            assert "Saved" in answered.get("text", "")
            await quiet(tg)
            assert (await snapshot(bot, "chat_settings"))["chat_settings"] == [(alice.user_id, "originals", "none")]
            await execute(bot, "DELETE FROM chat_settings")
    async with corpus.case("settings button, query too old"):
        tg.fail_next("answerCallbackQuery", status=400, description=QUERY_TOO_OLD)
        calls = len(tg.calls)
        await alice.press(menu, callback_data(menu, "Original files"))
        await tg.wait_for(lambda: any(c.method == "editMessageText" for c in tg.calls[calls:]))
        await quiet(tg)
        assert (await snapshot(bot, "chat_settings"))["chat_settings"] == [(alice.user_id, "originals", "none")]
        await execute(bot, "DELETE FROM chat_settings")
    async with corpus.case("stop forwarding, edit fails: message to edit not found"):
        tg.fail_next("editMessageText", status=400, description=EDIT_NOT_FOUND)
        help_message = await alice.reply_to("/help")
        tg.message(alice.user_id, help_message.message_id).reply_markup = {
            "inline_keyboard": [[{"text": "Stop forwarding", "callback_data": "fwd:off"}]]
        }
        query = await alice.press(help_message, "fwd:off")
        await tg.wait_for(lambda: tg.answered_callbacks.get(query) is not None)
        await quiet(tg)
    async with corpus.case("link button, query too old: the sign-in link still comes"):
        status = await alice.reply_to("/unlink")
        assert "revoked" in (status.text or "")
        prompt = await alice.reply_to("/status", lambda m: "link" in str(m.reply_markup))
        tg.fail_next("answerCallbackQuery", status=400, description=QUERY_TOO_OLD)
        seen = message_ids(tg, alice.user_id)
        await alice.press(prompt, "link")
        sign_in = await tg.wait_for(
            lambda: next((url_button(m) for m in new_messages(tg, alice.user_id, seen) if url_button(m)), None)
        )
        assert (await alice.open_url(await consent_url(sign_in))).status_code == 200
        await bot_says(tg, alice.user_id, seen, "Linked to")
    # A pick whose messages disappear under it: cancelled and delivered all the same.
    async with corpus.case("cancel a pick whose prompt was deleted"):
        _, session = await start_pick(alice)
        await wait_prompt_stored(bot, session.id)  # so that /cancel does edit the prompt
        tg.fail_next("editMessageText", status=400, description=EDIT_NOT_FOUND)
        await alice.say("/cancel")
        await google.wait_for(lambda: session.deleted)
        await settle(tg, alice)
    async with corpus.case("a pick whose progress message is gone and whose summary is refused"):
        photos = [google.add_photo(alice.email) for _ in range(2)]
        _, session = await start_pick(alice)
        tg.fail_next("editMessageText", status=400, description=EDIT_NOT_FOUND, times=3)
        tg.fail_next("deleteMessage", status=400, description=DELETE_NOT_FOUND, times=2)
        google.pick(session.id, photos)
        await google.wait_for(lambda: session.deleted, timeout=20)
        assert_delivered_in_order(tg, google, alice.user_id, [(p, RENDITION) for p in photos])
        await settle(tg, alice)
    async with corpus.case("a pick whose album Telegram refuses: chat not found"):
        photos = [google.add_photo(alice.email, filename=f"gone{n}.jpg") for n in range(2)]
        _, session = await start_pick(alice)
        tg.fail_next("sendMediaGroup", status=400, description=CHAT_NOT_FOUND)
        google.pick(session.id, photos)
        summary = await wait_summary(tg, alice.user_id)
        assert summary.text is not None
        await google.wait_for(lambda: session.deleted)
    async with corpus.case("a pick whose QR code Telegram refuses"):
        prompt, session = await start_pick(alice)
        tg.fail_next("sendPhoto", status=403, description=BLOCKED)
        query = await alice.press(prompt, callback_data(prompt, "QR code"))
        await tg.wait_for(lambda: tg.answered_callbacks.get(query) is not None)
        await quiet(tg)
        await alice.say("/cancel")
        await google.wait_for(lambda: session.deleted)
    corpus.assert_ok()


# ------------------------------------------------------------- found here, to be fixed where they live
# Each is a regression test waiting for its fix (in a file outside this change); strict, so it turns red
# the moment the fix lands and the marker should go.


async def test_a_prompt_telegram_refuses_leaves_no_pick_behind(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    TRIED.append("/pick whose prompt Telegram refuses (chat not found)")
    bot = make_bot()
    await bot.start()
    try:
        await link(alice)
        tg.fail_next("sendMessage", status=400, description=CHAT_NOT_FOUND)
        calls = len(tg.calls)
        await alice.say("/pick")
        session = await google.wait_for_session()
        await tg.wait_for(refused(tg, calls, CHAT_NOT_FOUND))
        await google.wait_for(lambda: session.deleted)  # deleted in the background, at once
        await quiet(tg, 0.3)
        assert not any("waiting" in row for row in (await snapshot(bot, "pick_sessions"))["pick_sessions"])
    finally:
        await bot.stop()


async def test_a_listing_google_refuses_is_reported_not_crashed(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    TRIED.append("mediaItems.list answering 400 FAILED_PRECONDITION")
    bot = make_bot()
    await bot.start()
    try:
        photo = google.add_photo(alice.email)
        await link(alice)
        _, session = await start_pick(alice)
        google.fail_next(
            "mediaItems.list",
            status=400,
            body={"error": {"code": 400, "message": "x", "status": "FAILED_PRECONDITION"}},
        )
        google.pick(session.id, [photo])
        await tg.wait_for(lambda: session.deleted or "went wrong" in str([m.text for m in tg.messages(alice.user_id)]))
        assert "Traceback" not in bot.logs()
        assert "done" in str((await snapshot(bot, "pick_sessions"))["pick_sessions"])
    finally:
        await bot.stop()
