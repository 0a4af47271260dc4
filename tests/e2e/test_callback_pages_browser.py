"""The OAuth callback pages as a person sees them on a phone: headless Chromium, the real bot, real redirects.

The browser taps through the bot's "Sign in with Google" link itself; the Google emulator consents at once
and redirects to the bot's /oauth/callback, so the page is reached exactly the way a user reaches it.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Page, Request, Response, expect

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.browser import CHROMIUM, MISSING, chromium
from tests.harness import CLIENT_SECRET, TOKEN, BotProcess, Person, url_button

if not CHROMIUM.exists():
    pytest.skip(MISSING, allow_module_level=True)

WIDTH, HEIGHT, SCALE = 390, 844, 3  # an iPhone 12–15 sized screen, in CSS pixels
MIN_TAP_HEIGHT = 40  # CSS px; Apple asks for 44 pt, Material for 48 dp — below 40 is hard to hit
BACK_URL = "https://t.me/photos_test_bot"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def phone() -> AsyncIterator[Page]:
    """A fresh tab in headless Chromium emulating a phone (touch, mobile viewport, 3x pixels)."""
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": WIDTH, "height": HEIGHT},
            device_scale_factor=SCALE,
            is_mobile=True,
            has_touch=True,
            locale="en-US",
        )
        context.set_default_timeout(10_000)
        yield await context.new_page()


async def open_sign_in(person: Person, page: Page) -> str:
    """/link in Telegram, then open the "Sign in with Google" button's URL in the browser: the bot's own
    sign-in page. Returns that URL."""
    person.google.consent.email = person.email
    prompt = await person.reply_to("/link", lambda m: url_button(m, "Sign in with Google") is not None)
    sign_in_url = url_button(prompt, "Sign in with Google")
    assert sign_in_url is not None and "/oauth/start?s=" in sign_in_url
    response = await page.goto(sign_in_url, wait_until="load")
    assert response is not None and response.status == 200
    return sign_in_url


async def tap_sign_in(person: Person, page: Page) -> Response:
    """Open the sign-in page and tap Continue there; the landing response."""
    sign_in_url = await open_sign_in(person, page)
    async with page.expect_navigation(wait_until="load") as navigation:
        await page.get_by_role("button", name="Continue").tap()
    response = await navigation.value
    assert response is not None
    # The browser got there by following Google's redirect, not by being pointed at the callback.
    hops: list[Request] = []
    request: Request | None = response.request.redirected_from
    while request is not None:
        hops.append(request)
        request = request.redirected_from
    assert hops[-1].url == sign_in_url.split("?")[0] and hops[-1].method == "POST"  # the page's Continue
    assert hops[-2].url.startswith(person.google.auth_url) and len(hops) <= 3  # a settled outcome: one more
    return response


def callback_params(page: Page, bot: BotProcess, response: Response) -> dict[str, str]:
    """The query of the callback URL the browser came through (it holds the one-time state and code)."""
    request: Request | None = response.request
    while request is not None and not request.url.startswith(bot.base_url + "/oauth/callback?"):
        request = request.redirected_from
    assert request is not None, page.url
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}


def assert_on_result_page(page: Page, bot: BotProcess, result: str) -> None:
    """A settled outcome ends on a page whose address holds the outcome word and nothing else."""
    assert page.url == f"{bot.base_url}/oauth/done?result={result}&lang=en", page.url


async def assert_looks_right_on_a_phone(
    page: Page,
    response: Response,
    *,
    status: int,
    heading: str,
    secrets: list[str],
    screenshot: Path,
) -> None:
    """What a person sees: the heading, a big visible way back to Telegram, no sideways scrolling, no secrets."""
    assert response.status == status
    assert response.headers["content-type"].startswith("text/html")

    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)

    back = page.get_by_role("link", name="Back to Telegram")
    await expect(back).to_be_visible()
    await expect(back).to_have_attribute("href", BACK_URL)
    box = await back.bounding_box()
    assert box is not None
    assert box["height"] >= MIN_TAP_HEIGHT, box
    # On the first screen, without scrolling in any direction.
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, box
    assert box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT, box

    scroll_width, inner_width = await page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert inner_width == WIDTH  # the page declares a mobile viewport (else Chromium lays it out 980px wide)
    assert scroll_width <= inner_width

    text = await page.locator("body").inner_text()
    source = await page.content()
    for secret in secrets:
        assert secret, "empty secret would match anything"
        assert secret not in text and secret not in source, f"page shows a secret: {secret[:12]}…"

    await page.screenshot(path=screenshot, full_page=True)
    png = screenshot.read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 1000
    width, height = struct.unpack(">II", png[16:24])  # IHDR: the image size in device pixels
    assert width == WIDTH * SCALE and height >= HEIGHT * SCALE


def known_secrets(google: GoogleEmulator, params: dict[str, str]) -> list[str]:
    values = [params[k] for k in ("state", "code") if k in params]
    return [*values, *google.issued_secrets(), TOKEN, CLIENT_SECRET]


async def test_success_page_on_a_phone(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator, phone: Page, tmp_path: Path
) -> None:
    requested: list[str] = []
    phone.on("request", lambda r: requested.append(r.url))

    response = await tap_sign_in(alice, phone)
    params = callback_params(phone, bot, response)
    assert {"state", "code"} <= params.keys()
    assert_on_result_page(phone, bot, "linked")
    await assert_looks_right_on_a_phone(
        phone,
        response,
        status=200,
        heading="Account linked",
        secrets=known_secrets(google, params),
        screenshot=tmp_path / "linked.png",
    )
    await expect(phone.locator("main")).to_contain_text("Your Google account is linked")
    await tg.wait_for_message(alice.user_id, lambda m: "Linked to alice@example.com" in (m.text or ""))
    # Self-contained: nothing was fetched from anywhere but the two local servers.
    assert requested and all(urlsplit(url).hostname == "127.0.0.1" for url in requested), requested


@pytest.mark.parametrize(
    ("decision", "ticked", "heading", "message"),
    [
        pytest.param("deny", None, "Linking cancelled", "cancelled", id="access_denied"),
        pytest.param("allow", ["openid", "email"], "Photos permission missing", "unticked", id="scope_missing"),
    ],
)
async def test_failure_page_on_a_phone(
    bot: BotProcess,
    alice: Person,
    tg: TelegramEmulator,
    google: GoogleEmulator,
    phone: Page,
    tmp_path: Path,
    decision: Literal["allow", "deny"],
    ticked: list[str] | None,
    heading: str,
    message: str,
) -> None:
    google.consent.decision = decision
    google.consent.granted_scopes = ticked

    response = await tap_sign_in(alice, phone)
    params = callback_params(phone, bot, response)
    assert_on_result_page(phone, bot, "denied" if decision == "deny" else "scope_missing")
    if decision == "deny":
        assert params.get("error") == "access_denied" and "code" not in params
    await assert_looks_right_on_a_phone(
        phone,
        response,
        status=200,
        heading=heading,
        secrets=known_secrets(google, params),
        screenshot=tmp_path / f"{heading.lower().replace(' ', '-')}.png",
    )
    await expect(phone.locator("main")).not_to_contain_text("alice@example.com")
    await tg.wait_for_message(alice.user_id, lambda m: message in (m.text or ""))


async def test_reloaded_success_page_still_says_linked(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator, phone: Page, tmp_path: Path
) -> None:
    """The callback redirects to a result page: reloading it replays nothing and still shows success (it
    used to replay the used state and say "This link is not valid" to someone who had just linked)."""
    first = await tap_sign_in(alice, phone)
    assert first.status == 200
    params = callback_params(phone, bot, first)
    await tg.wait_for_message(alice.user_id, lambda m: "Linked to" in (m.text or ""))
    calls = len(tg.calls)

    again = await phone.reload(wait_until="load")
    assert again is not None
    assert again.request.redirected_from is None  # the callback was not asked again
    assert_on_result_page(phone, bot, "linked")
    await assert_looks_right_on_a_phone(
        phone,
        again,
        status=200,
        heading="Account linked",
        secrets=known_secrets(google, params),
        screenshot=tmp_path / "reloaded.png",
    )
    await expect(phone.locator("main")).not_to_contain_text("alice@example.com")
    assert "alice@example.com" in (await alice.reply_to("/status")).text  # the link stands
    assert not [m for m in tg.messages(alice.user_id) if "not valid" in (m.text or "")]
    assert len([c for c in tg.calls[calls:] if c.method == "sendMessage"]) == 1  # the /status answer only


async def test_forged_state_page(bot: BotProcess, google: GoogleEmulator, phone: Page, tmp_path: Path) -> None:
    state, code = "forged-state-Zx81qT0v", "4/0Aforged-code-Kd93jW"
    response = await phone.goto(f"{bot.base_url}/oauth/callback?state={state}&code={code}", wait_until="load")
    assert response is not None
    await assert_looks_right_on_a_phone(
        phone,
        response,
        status=400,
        heading="This link is not valid",
        secrets=known_secrets(google, {"state": state, "code": code}),
        screenshot=tmp_path / "forged.png",
    )


async def assert_tappable_on_first_screen(page: Page, name: str) -> None:
    button = page.get_by_role("button", name=name, exact=True)
    await expect(button).to_be_visible()
    box = await button.bounding_box()
    assert box is not None and box["height"] >= MIN_TAP_HEIGHT, box
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, box
    assert box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT, box


async def test_sign_in_page_on_a_phone(
    bot: BotProcess, alice: Person, google: GoogleEmulator, phone: Page, tmp_path: Path
) -> None:
    """The forwarded-button defence: before Google, the bot's own page says whose Telegram account it links."""
    requested: list[str] = []
    phone.on("request", lambda r: requested.append(r.url))
    sign_in_url = await open_sign_in(alice, phone)
    assert phone.url == sign_in_url
    await expect(phone.get_by_role("heading", level=1)).to_have_text("Sign in with Google")
    await expect(phone.locator("main")).to_contain_text(
        "You are giving Telegram user Alice (@alice) access to the photos you pick."
    )
    await expect(phone.locator("main b")).to_have_text("Alice (@alice)")
    await assert_tappable_on_first_screen(phone, "Continue")
    await assert_tappable_on_first_screen(phone, "This isn't me")
    scroll_width, inner_width = await phone.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert inner_width == WIDTH and scroll_width <= inner_width
    source = await phone.content()
    for secret in (google.auth_url, TOKEN, CLIENT_SECRET, "code_challenge"):
        assert secret not in source
    await phone.screenshot(path=tmp_path / "sign-in.png", full_page=True)
    assert (tmp_path / "sign-in.png").read_bytes().startswith(PNG_SIGNATURE)
    assert not [r for r in google.requests if r.endpoint == "authorize"]  # Google not reached before Continue
    assert requested and all(urlsplit(url).hostname == "127.0.0.1" for url in requested), requested


async def test_this_isnt_me_on_a_phone(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator, phone: Page, tmp_path: Path
) -> None:
    sign_in_url = await open_sign_in(alice, phone)
    async with phone.expect_navigation(wait_until="load") as navigation:
        await phone.get_by_role("button", name="This isn't me").tap()
    response = await navigation.value
    assert response is not None
    assert_on_result_page(phone, bot, "cancelled")
    await assert_looks_right_on_a_phone(
        phone,
        response,
        status=200,
        heading="Sign-in cancelled",
        secrets=[query_of_url(sign_in_url)["s"], TOKEN, CLIENT_SECRET],
        screenshot=tmp_path / "cancelled.png",
    )
    await tg.wait_for_message(alice.user_id, lambda m: "This isn't me" in (m.text or ""))
    again = await phone.goto(sign_in_url, wait_until="load")  # the forwarded link, opened once more
    assert again is not None and again.status == 400
    await expect(phone.get_by_role("heading", level=1)).to_have_text("This link is not valid")
    assert not [r for r in google.requests if r.endpoint == "authorize"]


async def test_sign_in_page_shows_a_hostile_name_as_text(
    bot: BotProcess, tg: TelegramEmulator, google: GoogleEmulator, phone: Page
) -> None:
    name = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    tg.add_user(333, name, username="mallory")
    dialogs: list[str] = []
    phone.on("dialog", lambda d: dialogs.append(d.message))
    await open_sign_in(Person(tg, google, 333, name, "mallory@example.com"), phone)
    await expect(phone.locator("main b")).to_have_text(f"{name} (@mallory)")
    assert await phone.locator("main img, main script").count() == 0
    assert dialogs == []


def query_of_url(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
