"""Every page the bot serves, on the narrowest and widest common phones, in real headless Chromium; the
sign-in page inside an app's embedded web view, where Google refuses to sign in.

PAGE_SCREENSHOTS=docs .venv/bin/pytest tests/e2e/test_pages_on_phones.py -k screenshots  refreshes the
README's pictures (docs/pages/<page>-<language>.png).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from bot import texts
from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.browser import CHROMIUM, MISSING, chromium
from tests.harness import BotProcess, Person, url_button

if not CHROMIUM.exists():
    pytest.skip(MISSING, allow_module_level=True)

HEIGHT = 800
MIN_TAP = 44  # CSS px: Apple's 44 pt (Material asks 48 dp)
MIN_TEXT = 16  # CSS px: below it phones zoom into fields and people squint
ANDROID_WEBVIEW = (  # Android System WebView inside an app: the "; wv)" token
    "Mozilla/5.0 (Linux; Android 14; Pixel 7; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
    "Chrome/126.0.6478.71 Mobile Safari/537.36"
)
IOS_WEBVIEW = (  # WKWebView inside an app: no "Safari/"
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 "
    "Mobile Safari/537.36"
)
IOS_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
RESULTS = ["linked", "denied", "scope_missing", "exchange_failed", "misconfigured", "cancelled"]


@pytest.fixture(name="chromium")
async def launched_chromium() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


async def phone(browser: Browser, width: int, user_agent: str = ANDROID_CHROME, language: str = "en") -> Page:
    context = await browser.new_context(
        viewport={"width": width, "height": HEIGHT},
        device_scale_factor=2,
        is_mobile=True,  # honours the viewport meta: without one Chromium lays the page out 980 px wide
        has_touch=True,
        user_agent=user_agent,
        locale=language,  # Accept-Language, for a page whose Telegram user is unknown
    )
    context.set_default_timeout(10_000)
    return await context.new_page()


async def sign_in_url(person: Person, language: str = "en") -> str:
    button = texts.speaker(language)(texts.BUTTON_SIGN_IN)
    prompt = await person.reply_to("/link", lambda m: url_button(m, button) is not None)
    url = url_button(prompt, button)
    assert url is not None and "/oauth/start?s=" in url
    return url


Opener = Callable[[BotProcess, Person, Page], Awaitable[None]]


async def open_sign_in(bot: BotProcess, person: Person, page: Page) -> None:
    await page.goto(await sign_in_url(person), wait_until="load")


def open_result(result: str) -> Opener:
    async def opener(bot: BotProcess, person: Person, page: Page) -> None:
        await page.goto(f"{bot.base_url}/oauth/done?result={result}&lang=en", wait_until="load")

    return opener


async def open_not_valid(bot: BotProcess, person: Person, page: Page) -> None:
    await page.goto(f"{bot.base_url}/oauth/callback?state=forged&code=forged", wait_until="load")


PAGES: dict[str, tuple[Opener, str]] = {  # page: how a person reaches it, the user agent they use
    "sign-in": (open_sign_in, ANDROID_CHROME),
    "sign-in-in-app": (open_sign_in, ANDROID_WEBVIEW),
    **{result.replace("_", "-"): (open_result(result), ANDROID_CHROME) for result in RESULTS},
    "not-valid": (open_not_valid, ANDROID_CHROME),
}


async def problems_on_a_phone(page: Page, width: int) -> list[str]:
    """What breaks the page on a screen `width` px wide: sideways scroll, small tap targets, small text. (A phone
    zooms out a page wider than its screen, so innerWidth grows with it: the screen's width is the measure.)"""
    return list(
        await page.evaluate(
            """([width, minTap, minText]) => {
  const found = [];
  const scroller = document.scrollingElement;
  const wide = Math.max(scroller.scrollWidth, innerWidth);
  if (wide > width) found.push(`scrolls sideways: ${wide} > ${width}`);
  for (const el of document.querySelectorAll("a, button, input:not([type=hidden])")) {
    const box = el.getBoundingClientRect();
    if (box.height < minTap) found.push(`tap target ${el.outerHTML.slice(0, 60)} is ${box.height}px high`);
    if (box.right > width || box.left < 0) found.push(`tap target ${el.outerHTML.slice(0, 60)} off screen`);
  }
  for (const el of document.body.querySelectorAll("*")) {
    const text = [...el.childNodes].some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    const size = parseFloat(getComputedStyle(el).fontSize);
    if ((text || el.matches("input, button")) && el.getClientRects().length && size < minText)
      found.push(`text in ${el.tagName} is ${size}px`);
  }
  return found;
}""",
            [width, MIN_TAP, MIN_TEXT],
        )
    )


@pytest.mark.parametrize("width", [360, 430])
@pytest.mark.parametrize("name", list(PAGES))
async def test_every_page_fits_a_phone(
    bot: BotProcess, alice: Person, chromium: Browser, name: str, width: int
) -> None:
    opener, user_agent = PAGES[name]
    page = await phone(chromium, width, user_agent)
    await opener(bot, alice, page)
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert await page.locator('meta[name="viewport"]').get_attribute("content") == (
        "width=device-width, initial-scale=1"
    )
    assert await page.evaluate("innerWidth") == width  # the viewport meta took effect
    assert await problems_on_a_phone(page, width) == []


async def test_a_right_to_left_page_with_a_long_name_does_not_overflow(
    bot: BotProcess, tg: TelegramEmulator, google: GoogleEmulator, chromium: Browser
) -> None:
    """No language of ours is right-to-left yet: the sign-in page, turned rtl, names a long Arabic user."""
    name = "عبدالرحمنبنمحمدالعبداللهالمنصوري" * 3  # one word longer than the screen
    tg.add_user(444, name, username="abd")
    page = await phone(chromium, 360)
    await open_sign_in(bot, Person(tg, google, 444, name, "abd@example.com"), page)
    shown = page.locator("main b")
    # The name takes its own direction, isolated from the sentence around it (dir="auto" in CSS).
    assert await shown.evaluate("b => getComputedStyle(b).unicodeBidi") == "plaintext"
    await page.evaluate("document.documentElement.dir = 'rtl'")
    assert await problems_on_a_phone(page, 360) == []
    box = await shown.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    # The check sees the name's overflow once long words may no longer wrap.
    await page.evaluate("document.querySelector('main').style.overflowWrap = 'normal'")
    assert any("scrolls sideways" in problem for problem in await problems_on_a_phone(page, 360))
    # Mirrors as a whole: the style uses logical properties only.
    style = await page.locator("style").inner_text()
    assert re.findall(r"[\w-]*(?:left|right)[\w-]*\s*:|:\s*(?:left|right)\b", style) == []  # no physical side


@pytest.mark.parametrize("user_agent", [ANDROID_WEBVIEW, IOS_WEBVIEW], ids=["android-webview", "ios-wkwebview"])
async def test_in_an_app_the_sign_in_page_says_open_it_in_the_browser(
    bot: BotProcess, alice: Person, google: GoogleEmulator, chromium: Browser, user_agent: str
) -> None:
    page = await phone(chromium, 390, user_agent)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    url = await sign_in_url(alice)
    await page.goto(url, wait_until="load")
    await expect(page.get_by_role("heading", level=2)).to_have_text("Open in your browser")
    await expect(page.locator("main")).to_contain_text("Google doesn't allow signing in inside apps.")
    await expect(page.get_by_role("button", name="Continue")).to_have_count(0)  # it would end in Google's 403
    address = page.get_by_role("textbox", name="Open in your browser")
    await expect(address).to_have_value(url)  # the visible fallback: the address, to copy by hand
    await page.get_by_role("button", name="Copy link").tap()
    await expect(page.get_by_role("status")).to_have_text("Copied. Paste it into your browser's address bar.")
    assert await page.evaluate("navigator.clipboard.readText()") == url
    await expect(page.get_by_role("button", name="This isn't me")).to_be_visible()
    assert not [r for r in google.requests if r.endpoint == "authorize"]

    # The copied address, opened in the phone's browser, gets Continue and reaches Google.
    browser = await phone(chromium, 390, ANDROID_CHROME)
    await browser.goto(url, wait_until="load")
    await expect(browser.get_by_role("textbox")).to_have_count(0)
    async with browser.expect_navigation(wait_until="load"):
        await browser.get_by_role("button", name="Continue").tap()
    assert [r for r in google.requests if r.endpoint == "authorize"]


async def test_in_an_app_where_the_clipboard_is_refused_the_address_is_selected(
    bot: BotProcess, alice: Person, chromium: Browser
) -> None:
    page = await phone(chromium, 390, ANDROID_WEBVIEW)  # no clipboard permission granted: writeText rejects
    url = await sign_in_url(alice)
    await page.goto(url, wait_until="load")
    await page.evaluate("() => { navigator.clipboard.writeText = () => Promise.reject(new Error('denied')) }")
    await page.get_by_role("button", name="Copy link").tap()
    await expect(page.get_by_role("status")).to_have_text(
        "Copying was blocked: the address above is selected, copy it from there."
    )
    selected = "(f => f === document.activeElement && f.value.slice(f.selectionStart, f.selectionEnd))(address)"
    assert (
        await page.evaluate(f"(() => {{ const address = document.getElementById('address'); return {selected} }})()")
        == url
    )


@pytest.mark.parametrize("user_agent", [ANDROID_CHROME, IOS_SAFARI], ids=["android-chrome", "ios-safari"])
async def test_in_a_browser_the_sign_in_page_has_continue(
    bot: BotProcess, alice: Person, chromium: Browser, user_agent: str
) -> None:
    page = await phone(chromium, 390, user_agent)
    await page.goto(await sign_in_url(alice), wait_until="load")
    await expect(page.get_by_role("button", name="Continue")).to_be_visible()
    await expect(page.get_by_role("button", name="Copy link")).to_have_count(0)
    await expect(page.locator("main")).not_to_contain_text("Open in your browser")


HEADINGS = {  # the English heading of each page
    "sign-in": texts.PAGE_SIGN_IN_TITLE,
    "sign-in-in-app": texts.PAGE_SIGN_IN_TITLE,
    "linked": texts.PAGE_LINKED[0],
    "denied": texts.PAGE_DENIED[0],
    "scope-missing": texts.PAGE_SCOPE_MISSING[0],
    "exchange-failed": texts.PAGE_EXCHANGE_FAILED[0],
    "misconfigured": texts.PAGE_MISCONFIGURED[0],
    "cancelled": texts.PAGE_CANCELLED[0],
    "not-valid": texts.PAGE_BAD_STATE[0],
}


@pytest.mark.parametrize("language", ["en", "bn"])
async def test_screenshots_of_every_page(
    bot: BotProcess, tg: TelegramEmulator, google: GoogleEmulator, chromium: Browser, language: str
) -> None:
    """Each page at phone size in its reader's language (their Telegram one, else the browser's); saved as
    $PAGE_SCREENSHOTS/pages/<page>-<language>.png when that is set."""
    tg.add_user(555, "Rina", username="rina", language_code=language)
    person = Person(tg, google, 555, "Rina", "rina@example.com")
    folder = os.environ.get("PAGE_SCREENSHOTS")
    assert HEADINGS.keys() == PAGES.keys()
    for name, (opener, user_agent) in PAGES.items():
        page = await phone(chromium, 390, user_agent, language)
        if opener is open_sign_in:
            await page.goto(await sign_in_url(person, language), wait_until="load")
        elif name == "not-valid":
            await open_not_valid(bot, person, page)
        else:
            await page.goto(f"{bot.base_url}/oauth/done?result={name.replace('-', '_')}&lang={language}")
        assert await page.locator("html").get_attribute("lang") == language, name
        await expect(page.get_by_role("heading", level=1)).to_have_text(texts.speaker(language)(HEADINGS[name]))
        if folder:
            (Path(folder) / "pages").mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(Path(folder) / "pages" / f"{name}-{language}.png"))
        await page.context.close()
