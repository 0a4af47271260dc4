"""Errors raised by the Google clients, named for what the caller must do about them."""

from __future__ import annotations


class GoogleError(Exception):
    """A Google call failed; `status` is the HTTP status (0 for network errors)."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class GoogleUnavailable(GoogleError):
    """Network errors, 429 or 5xx that outlasted the retries: try again later."""


class LinkBroken(GoogleError):
    """The user's grant is gone (revoked, expired, scope removed): they must /link again."""


class NotLinked(GoogleError):
    """The user has no Google account linked."""


class SessionGone(GoogleError):
    """The picking session no longer exists at Google (deleted or expired)."""


class MediaUnavailable(GoogleError):
    """A media item could not be fetched (403/404 on its baseUrl, or a truncated body)."""


class TooLarge(GoogleError):
    """The media is bigger than we could upload; `size` is what Google announced."""

    def __init__(self, size: int) -> None:
        super().__init__(f"media of {size} bytes is over the limit")
        self.size = size
