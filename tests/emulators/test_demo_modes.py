"""What the emulators do for the demo: Google's consent as a page with Allow and Cancel, the picking page as a
grid of tiles, and the Telegram emulator keeping uploaded bytes for the page to show."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import httpx
from authlib.common.security import generate_token
from PIL import Image
from telegram import Bot

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.emulators.conftest import ALICE, TOKEN
from tests.emulators.test_google_emulator import ALICE as ALICE_EMAIL
from tests.emulators.test_google_emulator import link, new_session, oauth_client


async def consent_url(google: GoogleEmulator) -> str:
    async with oauth_client() as client:
        url, _ = client.create_authorization_url(
            google.auth_url, state=generate_token(20), code_verifier=generate_token(48), prompt="consent"
        )
        return str(url)


async def test_consent_page_asks_and_allow_or_cancel_decides(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    google.consent_page = True
    url = await consent_url(google)
    page = await http.get(url)
    assert page.status_code == 200 and ALICE_EMAIL in page.text and 'id="allow"' in page.text
    assert "photos and videos you select" in page.text

    allowed = await http.post(url, data={"decision": "allow"})
    assert allowed.status_code == 302 and "code" in httpx.URL(allowed.headers["location"]).params
    denied = await http.post(await consent_url(google), data={"decision": "deny"})
    assert httpx.URL(denied.headers["location"]).params["error"] == "access_denied"


async def test_picker_page_is_a_grid_of_tiles(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    photo = google.add_photo(ALICE_EMAIL, width=4000, height=3000)
    video = google.add_video(ALICE_EMAIL, duration=75)
    session = await new_session(google, http, await link(google, http))
    page = await http.get(session["pickerUri"])
    assert page.text.count('class="tile"') == 2 and "▶ 1:15" in page.text and 'id="done" disabled' in page.text

    tile = await http.get(f"{google.url}/picker/{session['id']}/thumb/{photo.id}")
    assert tile.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(tile.content)).size == (256, 192)
    assert (await http.get(f"{google.url}/picker/{session['id']}/thumb/unknown")).status_code == 404
    google.pick(session["id"], [video])
    assert (await http.get(f"{google.url}/picker/{session['id']}/thumb/{photo.id}")).status_code == 404  # done


async def test_telegram_emulator_keeps_uploads_when_asked(tmp_path: Path) -> None:
    tg = TelegramEmulator(token=TOKEN, files_dir=tmp_path)
    await tg.start()
    tg.add_user(ALICE, "Alice")
    tg.send_text(ALICE, "/start")
    body = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(body, "PNG")
    try:
        async with Bot(TOKEN, base_url=f"{tg.url}/bot") as bot:
            await bot.send_photo(ALICE, body.getvalue())
        sent = tg.messages(ALICE)[-1]
        assert sent.file is not None
        kept = tg.stored_file(sent.file.sha256)
        assert kept is not None and kept.read_bytes() == body.getvalue()
        assert hashlib.sha256(kept.read_bytes()).hexdigest() == sent.file.sha256
        assert tg.stored_file("../" + sent.file.sha256) is None
        assert [m.text for m in tg.history(ALICE) if not m.from_bot] == ["/start"]
    finally:
        await tg.stop()
