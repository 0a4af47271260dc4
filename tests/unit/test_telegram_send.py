"""Which network errors leave an upload in doubt (it may have arrived) and which may be retried."""

from __future__ import annotations

import httpx
from telegram.error import NetworkError

from bot.telegram_send import unanswered


def failure(cause: Exception | None) -> NetworkError:
    error = NetworkError(f"httpx.{type(cause).__name__}" if cause else "Bad Gateway")
    error.__cause__ = cause
    return error


def test_a_connection_broken_after_sending_leaves_the_upload_in_doubt() -> None:
    assert unanswered(failure(httpx.RemoteProtocolError("Server disconnected without sending a response.")))
    assert unanswered(failure(httpx.ReadError("connection reset")))


def test_an_answer_or_a_request_that_never_got_out_may_be_retried() -> None:
    assert not unanswered(failure(None))  # Telegram answered 502/5xx
    assert not unanswered(failure(httpx.ConnectError("refused")))
    assert not unanswered(failure(httpx.WriteError("broken pipe")))
