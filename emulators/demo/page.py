"""The demo page and its small JSON API, mounted on the bot's own web server (bot.web's ``mount`` hook).

The page plays the Telegram client: it reads the chats from the Telegram emulator (long polling
``/demo/api/state``) and acts through the emulator's control API, as a user's app would through Telegram.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from emulators.demo.world import CHANNEL_ID, GROUP_ID, MEMBERS
from emulators.google import GoogleEmulator
from emulators.telegram import MessageRecord, TelegramEmulator

JSON = dict[str, Any]
_STATIC = {"demo.js": "text/javascript", "demo.css": "text/css"}
_POLL_SECONDS = 25.0
# Telegram's HTML entities as the page shows them (text_link and url become links).
_TAGS = {
    "bold": "b",
    "italic": "i",
    "underline": "u",
    "strikethrough": "s",
    "code": "code",
    "pre": "pre",
    "spoiler": "mark",
    "blockquote": "blockquote",
    "expandable_blockquote": "blockquote",
}
_MAGIC = ((b"\xff\xd8", "image/jpeg"), (b"\x89PNG", "image/png"))


def entities_html(text: str, entities: list[JSON]) -> str:
    """``text`` as HTML with its formatting entities (offsets and lengths in UTF-16 code units)."""
    units = text.encode("utf-16-le")
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    for entity in sorted(entities, key=lambda e: (e["offset"], -e["length"])):
        start, end = entity["offset"], entity["offset"] + entity["length"]
        kind = entity["type"]
        if kind in ("text_link", "url"):
            target = entity.get("url") or units[2 * start : 2 * end].decode("utf-16-le")
            opens.setdefault(start, []).append(f'<a href="{html.escape(target)}" target="_blank" rel="noopener">')
            closes.setdefault(end, []).insert(0, "</a>")
        elif kind in _TAGS:
            opens.setdefault(start, []).append(f"<{_TAGS[kind]}>")
            closes.setdefault(end, []).insert(0, f"</{_TAGS[kind]}>")
    out: list[str] = []
    for at in range(0, len(units) // 2 + 1):
        out += closes.get(at, []) + opens.get(at, [])
        if at < len(units) // 2:
            unit = units[2 * at : 2 * at + 2]
            if 0xDC00 <= int.from_bytes(unit, "little") <= 0xDFFF:
                continue  # the second half of a surrogate pair, written with the first
            pair = units[2 * at : 2 * at + 4] if 0xD800 <= int.from_bytes(unit, "little") <= 0xDBFF else unit
            out.append(html.escape(pair.decode("utf-16-le")))
    return "".join(out).replace("\n", "<br>")


class DemoPage:
    """What the page shows and does, for one person at a time (the page says whom)."""

    def __init__(self, tg: TelegramEmulator, google: GoogleEmulator) -> None:
        self.tg = tg
        self.google = google
        self._actions = 0  # the page's own actions, part of the version a long poll waits to change
        self._queries: dict[int, list[str]] = {}  # callback query ids of each person's button presses

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_get("/demo/static/{name}", self._static)
        app.router.add_get("/demo/files/{sha}", self._file)
        app.router.add_get("/demo/api/state", self._state)
        for name, action in (
            ("send", self._send),
            ("press", self._press),
            ("share", self._share),
            ("advance", self._advance),
        ):
            app.router.add_post(f"/demo/api/{name}", self._acting(action))

    # ------------------------------------------------------------------ files

    async def _index(self, request: web.Request) -> web.Response:
        page = resources.files(__package__).joinpath("static", "index.html").read_text(encoding="utf-8")
        return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        text = resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")
        return web.Response(text=text, content_type=_STATIC[name], headers={"Cache-Control": "no-store"})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """A file the bot uploaded, as the Telegram emulator kept it."""
        path = self.tg.stored_file(request.match_info["sha"])
        if path is None:
            raise web.HTTPNotFound()
        with path.open("rb") as fh:
            head = fh.read(8)
        kind = next((mime for magic, mime in _MAGIC if head.startswith(magic)), "application/octet-stream")
        return web.FileResponse(path, headers={"Content-Type": kind, "Cache-Control": "max-age=3600"})

    # ------------------------------------------------------------------ state

    def _version(self) -> str:
        answered = sum(1 for call in self.tg.calls if call.status)
        return f"{len(self.tg.calls)}.{answered}.{self._actions}"

    async def _state(self, request: web.Request) -> web.Response:
        try:
            user, chat = _ids(request.rel_url.query)
        except (ValueError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        since = request.rel_url.query.get("since")
        if since is None:  # the page opened, or switched person
            self.person_switched(user)
        elif since == self._version():
            with contextlib.suppress(TimeoutError):
                await self.tg.wait_for(lambda: self._version() != since, _POLL_SECONDS, what="a change")
        return web.json_response(self.snapshot(user, chat))

    def snapshot(self, user_id: int, chat_id: int) -> JSON:
        """Everything the page draws for ``user_id`` looking at ``chat_id`` (their private chat if they cannot
        see that one)."""
        chats = self._chats(user_id)
        if chat_id not in {c["id"] for c in chats}:
            chat_id = user_id
        history = [m for m in self.tg.history(chat_id) if not m.deleted]
        return {
            "version": self._version(),
            "bot": self.tg.bot_username,
            "user": user_id,
            "chat": chat_id,
            "people": [{"id": m.user_id, "name": m.name, "email": m.email} for m in MEMBERS],
            "chats": chats,
            "messages": [self._message(m) for m in history],
            "keyboard": _reply_keyboard(history),
            "commands": self._commands(chat_id),
            "canWrite": self.tg.chats[chat_id].type != "channel",
            "toasts": self._toasts(user_id),
        }

    def _toasts(self, user_id: int) -> list[JSON]:
        """The bot's answers to this person's button presses that carry a text (Telegram shows them briefly)."""
        answers = ((q, self.tg.answered_callbacks.get(q, {})) for q in self._queries.get(user_id, []))
        return [{"id": q, "text": a["text"], "alert": bool(a.get("show_alert"))} for q, a in answers if a.get("text")]

    def _chats(self, user_id: int) -> list[JSON]:
        chats: list[JSON] = [{"id": user_id, "title": self.tg.bot_first_name, "kind": "bot"}]
        for chat_id in (GROUP_ID, CHANNEL_ID):
            group = self.tg.chats[chat_id]
            if user_id in group.members:
                chats.append({"id": group.id, "title": group.title, "kind": group.type})
        for chat in chats:
            last = next((m for m in reversed(self.tg.history(int(chat["id"]))) if not m.deleted), None)
            chat["last"] = (last.content or _kind_label(last)) if last else ""
        return chats

    def _commands(self, chat_id: int) -> list[JSON]:
        scope = "all_private_chats" if chat_id > 0 else "all_group_chats"
        commands = self.tg.commands.get(self.tg.scope_key({"type": scope})) or self.tg.commands.get("default", [])
        return [{"command": c["command"], "description": c["description"]} for c in commands]

    def _message(self, rec: MessageRecord) -> JSON:
        sender = self.tg.users.get(rec.sender_id)
        out: JSON = {
            "id": rec.message_id,
            "fromBot": rec.from_bot,
            "sender": self.tg.bot_first_name if rec.from_bot or sender is None else sender.first_name,
            "time": rec.date,
            "edited": rec.edit_date is not None,
            "album": rec.media_group_id,
            "html": entities_html(rec.content or "", rec.entities) if rec.content else "",
            "buttons": (rec.reply_markup or {}).get("inline_keyboard", []),
        }
        if rec.kind == "service":
            out["service"] = _service_text(rec.service or {})
        if rec.file is not None:
            media = rec.file
            thumb = media.thumbnail.sha256 if media.thumbnail is not None else None
            out["media"] = {
                "kind": media.kind,
                "url": f"/demo/files/{media.sha256}",
                "thumb": f"/demo/files/{thumb}" if thumb else None,
                "width": media.width,
                "height": media.height,
                "duration": media.duration,
                "name": media.filename,
                "size": media.size,
            }
        return out

    # ------------------------------------------------------------------ actions

    def _acting(self, action: Callable[[JSON], Awaitable[None]]) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Run one of the page's actions; answer the fresh state, or 400 with what was wrong."""

        async def handler(request: web.Request) -> web.Response:
            try:
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object")
                user, chat = _ids(body)
                self.person_switched(user)
                await action(body)
            except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
            self._actions += 1
            return web.json_response(self.snapshot(user, chat))

        return handler

    async def _send(self, body: JSON) -> None:
        user, chat = _ids(body)
        text = str(body["text"]).strip()
        if not text or len(text) > 4096:
            raise ValueError("a message is 1 to 4096 characters")
        self.tg.send_text(user, text, chat_id=chat)

    async def _press(self, body: JSON) -> None:
        user, chat = _ids(body)
        query = self.tg.press_button(user, chat, int(body["message"]), str(body["data"]))
        self._queries.setdefault(user, []).append(query)

    async def _share(self, body: JSON) -> None:
        """A chat chosen with a request_chat keyboard button (the user must be in it)."""
        user, _ = _ids(body)
        shared = int(body["shared"])
        if user not in self.tg.chats[shared].members:
            raise ValueError("you are not in that chat")
        self.tg.share_chat(user, int(body["request"]), shared)

    async def _advance(self, body: JSON) -> None:
        """Fast-forward Google's clock: picking sessions time out, tokens and links expire."""
        minutes = float(body["minutes"])
        if not 0 < minutes <= 24 * 60:
            raise ValueError("minutes from 1 to 1440")
        self.google.advance(minutes * 60)

    def person_switched(self, user_id: int) -> None:
        """The browser now belongs to this person: Google's consent and picking pages are theirs."""
        self.google.consent.email = next(m.email for m in MEMBERS if m.user_id == user_id)


def _ids(source: Any) -> tuple[int, int]:
    """The acting person and the chat they look at, from a query or a JSON body."""
    user, chat = int(source["user"]), int(source["chat"])
    if user not in {m.user_id for m in MEMBERS}:
        raise ValueError(f"no person {user} in the demo")
    return user, chat


def _reply_keyboard(history: list[MessageRecord]) -> JSON | None:
    """The reply keyboard shown under the input: the bot's latest one, unless removed or, one-time, used."""
    for at in range(len(history) - 1, -1, -1):
        markup = history[at].reply_markup or {}
        if history[at].from_bot and "remove_keyboard" in markup:
            return None
        if history[at].from_bot and "keyboard" in markup:
            used = any(not m.from_bot for m in history[at + 1 :])
            return None if used and markup.get("one_time_keyboard") else {"rows": markup["keyboard"]}
    return None


def _service_text(service: JSON) -> str:
    if "chat_shared" in service:
        return "You shared a chat with the bot"
    return "Service message"


def _kind_label(rec: MessageRecord) -> str:
    return {"photo": "Photo", "video": "Video", "document": "File"}.get(rec.kind, "")
