"""The naive client to compare with: strictly sequential, download one, send one, no pipelining.

It talks to the same emulators over HTTP with httpx, in the benchmark's own process: creates a Picker
session, polls it at pollInterval, lists the picked items, then for each item downloads the same
rendition the bot would fetch (into memory) and sends it with one sendPhoto / sendVideo, waiting out a
429's retry_after when Telegram refuses; finally one summary message. Nothing overlaps.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from emulators.google import GoogleEmulator
from tests.harness import TOKEN

PHOTO_RENDITION = "=w2560-h2560"  # what bot/delivery.py fetches for a photo: the same bytes must move
VIDEO_RENDITION = "=dv"


class NaiveClient:
    def __init__(self, http: httpx.AsyncClient, google: GoogleEmulator, telegram_url: str, access_token: str) -> None:
        self._http = http
        self._google = google
        self._bot_api = f"{telegram_url}/bot{TOKEN}"
        self._auth = {"Authorization": f"Bearer {access_token}"}
        self.session_id: str | None = None

    async def create_session(self) -> str:
        response = await self._http.post(f"{self._google.picker_api_url}/sessions", json={}, headers=self._auth)
        response.raise_for_status()
        self.session_id = str(response.json()["id"])
        return self.session_id

    async def run(self, chat_id: int) -> None:
        """Poll until Done, then deliver every item to `chat_id` one by one, then the summary."""
        assert self.session_id is not None
        api = self._google.picker_api_url
        while True:
            response = await self._http.get(f"{api}/sessions/{self.session_id}", headers=self._auth)
            response.raise_for_status()
            state = response.json()
            if state.get("mediaItemsSet"):
                break
            await asyncio.sleep(float(state["pollingConfig"]["pollInterval"].rstrip("s")))
        items: list[dict[str, Any]] = []
        page_token: str | None = None
        while True:
            params = {"sessionId": self.session_id, "pageSize": "100"}
            if page_token:
                params["pageToken"] = page_token
            response = await self._http.get(f"{api}/mediaItems", params=params, headers=self._auth)
            response.raise_for_status()
            page = response.json()
            items += page.get("mediaItems") or []
            page_token = page.get("nextPageToken")
            if not page_token:
                break
        for item in items:
            media = item["mediaFile"]
            video = item["type"] == "VIDEO"
            download = await self._http.get(
                media["baseUrl"] + (VIDEO_RENDITION if video else PHOTO_RENDITION), headers=self._auth
            )
            download.raise_for_status()
            field = "video" if video else "photo"
            await self._telegram(
                "sendVideo" if video else "sendPhoto",
                {"chat_id": str(chat_id)},
                {field: (media["filename"], download.content, media["mimeType"])},
            )
        await self._telegram("sendMessage", {"chat_id": str(chat_id), "text": f"✅ Delivered all {len(items)}."})
        await self._http.delete(f"{api}/sessions/{self.session_id}", headers=self._auth)

    async def _telegram(self, method: str, data: dict[str, str], files: dict[str, Any] | None = None) -> None:
        while True:
            response = await self._http.post(f"{self._bot_api}/{method}", data=data, files=files)
            if response.status_code == 429:
                await asyncio.sleep(float(response.json()["parameters"]["retry_after"]))
                continue
            response.raise_for_status()
            return
