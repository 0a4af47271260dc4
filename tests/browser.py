"""Headless Chromium for the page tests: Debian's /usr/bin/chromium driven by Playwright (never a downloaded
browser), launched and closed the same way by every test, every wait bounded so a stuck browser cannot stall
the run."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
MISSING = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium); browser tests skipped"
ARGS = [
    "--headless=new",
    "--no-sandbox",  # containers run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    # Containers often give /dev/shm 64 MB, too little for Chromium's tabs: they crash or hang. /tmp instead.
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAUNCH_MS = 60_000
CLOSE_SECONDS = 30.0


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=LAUNCH_MS)
        try:
            yield browser
        finally:
            await close(browser)


async def close(browser: Browser) -> None:
    """Close the browser; one that does not answer within CLOSE_SECONDS (a known Chromium-in-a-container hang)
    is left to Playwright's driver, which kills the browsers it launched when it stops."""
    try:
        await asyncio.wait_for(browser.close(), CLOSE_SECONDS)
    except TimeoutError:
        warnings.warn(f"Chromium did not close within {CLOSE_SECONDS:.0f} s", stacklevel=1)
