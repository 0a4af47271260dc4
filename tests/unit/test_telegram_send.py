"""Which failed sends may have arrived, which may be retried, and how files reach Telegram."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from telegram import Message
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import ExtBot

from bot.flood import SendInfo, failed_item
from bot.telegram_send import MediaSender, TooLarge, Unconfirmed, Upload, never_sent, refused_as_too_large


def failure(cause: Exception | None, message: str = "Bad Gateway") -> NetworkError:
    error = NetworkError(f"httpx.{type(cause).__name__}" if cause else message)
    error.__cause__ = cause
    return error


def test_only_a_request_that_never_got_out_is_known_not_to_have_arrived() -> None:
    assert never_sent(failure(httpx.ConnectError("refused")))
    assert never_sent(failure(httpx.WriteError("broken pipe")))
    assert not never_sent(failure(httpx.RemoteProtocolError("Server disconnected without sending a response.")))
    assert not never_sent(failure(httpx.ReadError("connection reset")))
    assert not never_sent(failure(None))  # Telegram answered 5xx: it may have sent messages first


def test_413_is_told_apart_from_other_answers() -> None:
    assert refused_as_too_large(failure(None, "Request Entity Too Large"))  # the Bot API server's JSON
    assert refused_as_too_large(failure(None, "Request Entity Too Large (413). Parsing the server response failed"))
    assert not refused_as_too_large(failure(None, "Internal Server Error"))


def test_the_album_item_an_error_names() -> None:
    error = BadRequest('Failed to send message #3 with the error message "photo_invalid_dimensions"')
    assert failed_item(error) == 3
    assert failed_item(BadRequest("Chat not found")) is None


class FakeBot:
    """Records sends; fails them with the errors queued in `errors` first."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.sent: list[tuple[str, Any]] = []

    async def _send(self, method: str, media: Any) -> Message:
        self.sent.append((method, media))
        if self.errors:
            raise self.errors.pop(0)
        return cast(Message, object())

    async def send_document(self, chat_id: int, document: Any, **kwargs: Any) -> Message:
        return await self._send("sendDocument", document)

    async def send_media_group(self, chat_id: int, media: Any, **kwargs: Any) -> tuple[Message, ...]:
        return (await self._send("sendMediaGroup", media),)


def sender(bot: FakeBot, **options: Any) -> MediaSender:
    return MediaSender(cast(ExtBot[SendInfo], bot), album_limit=options.pop("album_limit", 1000), **options)


def upload(tmp_path: Path, name: str = "00001", size: int = 10, filename: str = "IMG 1.HEIC") -> Upload:
    path = tmp_path / name
    path.write_bytes(bytes(size))
    return Upload(1, path, filename, "document")


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (failure(None, "Internal Server Error"), Unconfirmed),  # a 5xx: it may have arrived
        (failure(httpx.ReadError("reset")), Unconfirmed),  # no answer
        (failure(None, "Request Entity Too Large"), TooLarge),
    ],
)
async def test_a_send_that_may_have_arrived_or_was_too_large_is_not_retried(
    tmp_path: Path, error: Exception, raised: type[TelegramError]
) -> None:
    bot = FakeBot(error)
    with pytest.raises(raised):
        await sender(bot).send(1, [upload(tmp_path)], [])
    assert len(bot.sent) == 1


async def test_a_send_that_never_got_out_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_pause(seconds: float) -> None:
        pass

    monkeypatch.setattr("bot.telegram_send.asyncio.sleep", no_pause)
    bot = FakeBot(failure(httpx.ConnectError("refused")))
    await sender(bot).send(1, [upload(tmp_path)], [])
    assert len(bot.sent) == 2


async def test_local_files_go_by_path_under_their_own_name(tmp_path: Path) -> None:
    bot = FakeBot()
    item = upload(tmp_path, filename="../IMG 1.HEIC")
    await sender(bot, local_files=True).send(1, [item], [])
    [(_, sent)] = bot.sent
    assert sent == (tmp_path / "00001.send" / "IMG 1.HEIC").as_uri()  # the server names it by its path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00001"]  # the link is gone after the send


def test_albums_stay_within_their_upload_limit(tmp_path: Path) -> None:
    two = [upload(tmp_path, "a", 600), upload(tmp_path, "b", 600)]
    assert not sender(FakeBot()).fits_one_album(two)
    assert sender(FakeBot()).fits_one_album(two[:1])  # a single item always goes
    assert sender(FakeBot(), local_files=True).fits_one_album(two)  # nothing is uploaded
