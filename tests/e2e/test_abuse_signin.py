"""Issue 12, points 8 and 11, as an attacker would try them against the real bot process: a forwarded sign-in
button, a bearer token sent off Google's hosts, the bot token printed at start-up, grants left behind."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import link
from tests.harness import CLIENT_ID, BotExited, BotProcess, Person, answer_sign_in, query_of, url_button

REJECTED_TOKEN = "987654321:AAE-rejected_token-Value42"
HOSTILE_NAME = '<img src=x onerror="alert(1)">&Mallory'


async def sign_in_button(person: Person) -> tuple[str, str]:
    """/link: the prompt's text and its "Sign in with Google" URL."""
    prompt = await person.reply_to("/link", lambda m: url_button(m) is not None)
    url = url_button(prompt, "Sign in with Google")
    assert url is not None
    return prompt.text or "", url


def authorize_requests(google: GoogleEmulator) -> int:
    return len([r for r in google.requests if r.endpoint == "authorize"])


async def test_forwarded_sign_in_button_names_its_owner_and_can_be_refused(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Alice forwards her button to Bob: before anything reaches Google, the bot's own page tells Bob whose
    Telegram account would get his photos, and "This isn't me" ends that sign-in for good."""
    text, url = await sign_in_button(alice)
    assert "Don't forward this link" in text
    # The button holds one opaque id on the bot's own domain: no state, client id or consent URL of Google's.
    assert url.startswith(bot.base_url + "/oauth/start?s=") and set(query_of(url)) == {"s"}
    assert len(query_of(url)["s"]) >= 43  # 256 bits
    async with httpx.AsyncClient() as client:
        page = await client.get(url)
        assert page.status_code == 200
        assert "You are giving Telegram user <b>Alice (@alice)</b> access to the photos you pick." in page.text
        assert "Continue" in page.text and "This isn&#x27;t me" in page.text
        for google_thing in (google.auth_url, CLIENT_ID, "state", "code_challenge"):
            assert google_thing not in page.text
        assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "no-referrer"
    refused = await answer_sign_in(url, "not_me")
    assert refused.status_code == 303 and refused.headers["location"] == "done?result=cancelled&lang=en"
    done = await bob.open_url(url.split("/start?")[0] + "/" + refused.headers["location"])
    assert done.status_code == 200 and "Sign-in cancelled" in done.text
    await tg.wait_for_message(alice.user_id, lambda m: "This isn't me" in (m.text or ""))
    # The forwarded link is dead: neither its page nor its Continue lead anywhere any more.
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 400
        late = await client.post(url.split("?")[0], data={"s": query_of(url)["s"], "answer": "continue"})
        assert late.status_code == 400 and "not valid" in late.text
    assert authorize_requests(google) == 0 and not [r for r in google.requests if r.endpoint == "token"]
    assert "haven't linked" in (await alice.reply_to("/status")).text


async def test_sign_in_page_escapes_the_name_and_continues_once(
    bot: BotProcess, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_user(333, HOSTILE_NAME, username="mallory")
    mallory = Person(tg, google, 333, HOSTILE_NAME, "mallory@example.com")
    google.consent.email = mallory.email
    _, url = await sign_in_button(mallory)
    async with httpx.AsyncClient() as client:
        page = await client.get(url)
    assert "<img" not in page.text and 'onerror="' not in page.text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;Mallory (@mallory)" in page.text
    go = await answer_sign_in(url)
    assert go.status_code == 303 and go.headers["location"].startswith(google.auth_url)
    assert query_of(go.headers["location"])["state"] != query_of(url)["s"]  # the page id is not the state
    again = await answer_sign_in_twice(url)
    assert again.status_code == 400 and "not valid" in again.text
    assert (await mallory.open_url(go.headers["location"])).status_code == 200
    await tg.wait_for_message(mallory.user_id, lambda m: "Linked to mallory@example.com" in (m.text or ""))


async def answer_sign_in_twice(url: str) -> httpx.Response:
    """Continue pressed on a page that was continued already (the browser's back button, or a second tab)."""
    async with httpx.AsyncClient() as client:
        return await client.post(url.split("?")[0], data={"s": query_of(url)["s"], "answer": "continue"})


async def test_rejected_bot_token_is_never_printed(make_bot: Callable[..., BotProcess], tg: TelegramEmulator) -> None:
    bot = make_bot(TELEGRAM_BOT_TOKEN=REJECTED_TOKEN)
    with pytest.raises(BotExited) as exited:
        await bot.start()
    assert exited.value.code == 1
    logs = bot.logs()
    assert "Cannot start: Telegram rejected TELEGRAM_BOT_TOKEN" in logs, logs
    assert REJECTED_TOKEN not in logs and REJECTED_TOKEN.split(":")[1] not in logs, logs
    assert tg.violations == ["getMe: request with a wrong bot token"]
    tg.violations.clear()  # the wrong token was the point


async def test_relinking_another_account_revokes_the_previous_grant(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await link(alice)
    await link(alice)  # the same account again: its fresh grant must survive
    assert live_grants(google, alice.email) and not revocations(google)
    alice.email = "alice.work@example.com"
    await link(alice)
    assert not live_grants(google, "alice@example.com")  # nothing left behind at Google for the old account
    assert live_grants(google, alice.email) and revocations(google) == [200]
    assert "alice.work@example.com" in (await alice.reply_to("/status")).text


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        pytest.param("userinfo", "did not accept", id="userinfo_fails"),
        pytest.param("scope", "unticked", id="scope_missing"),
    ],
)
async def test_grant_revoked_when_linking_fails_after_the_exchange(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator, failure: str, message: str
) -> None:
    if failure == "userinfo":
        google.fail_next("userinfo", status=500)
    else:
        google.consent.granted_scopes = ["openid", "email"]
    await alice.link()
    await tg.wait_for_message(alice.user_id, lambda m: message in (m.text or ""))
    assert [r for r in google.requests if r.endpoint == "token"]  # Google did issue a grant
    assert not live_grants(google, alice.email) and revocations(google) == [200]
    assert "haven't linked" in (await alice.reply_to("/status")).text


def live_grants(google: GoogleEmulator, email: str) -> list[object]:
    return list(google._live_grants(email))


def revocations(google: GoogleEmulator) -> list[int]:
    return [r.status for r in google.requests if r.endpoint == "revoke"]


async def test_forged_sign_in_requests_change_nothing(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    _, url = await sign_in_button(alice)
    page, real = url.split("?")[0], query_of(url)["s"]
    calls = len(tg.calls)
    forged_pages = [{}, {"s": ""}, {"s": "s" * 5000}, {"s": "'; DROP TABLE oauth_states; --"}, {"s": "😀"}]
    forged_answers: list[dict[str, str]] = [
        {"answer": "continue"},
        {"s": real[:-1], "answer": "continue"},
        {"s": real + "x", "answer": "not_me"},
        {"s": "s" * 5000, "answer": "continue"},
        {"s": real, "answer": "delete"},
        {"s": real},
    ]
    async with httpx.AsyncClient() as client:
        for params in forged_pages:
            response = await client.get(page, params=params)
            assert response.status_code == 400 and "not valid" in response.text, params
        for form in forged_answers:
            response = await client.post(page, data=form)
            assert response.status_code == 400, form
        for body in (b'{"s": "' + real.encode() + b'", "answer": "continue"}', b"\xff\xfe" * 100):
            response = await client.post(page, content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 400, body
        assert (await client.put(page, data={"s": real, "answer": "continue"})).status_code == 405
    assert len(tg.calls) == calls and authorize_requests(google) == 0
    # Alice's own sign-in survived all of it.
    assert (await alice.open_url(url)).status_code == 200
    assert (await answer_sign_in(url)).status_code == 303
