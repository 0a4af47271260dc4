"""Errors raised by the Google clients, named for what the caller must do about them."""

from __future__ import annotations


class GoogleError(Exception):
    """A Google call failed. `status` is the HTTP status (0 for network errors); from Google's error body,
    `google_status` is its `error.status` (e.g. FAILED_PRECONDITION) and `reason` the `ErrorInfo` reason of
    its `error.details` (e.g. SERVICE_DISABLED), empty when Google gave none."""

    def __init__(self, message: str, status: int = 0, google_status: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.google_status = google_status
        self.reason = reason


class GoogleUnavailable(GoogleError):
    """Network errors, 429 or 5xx that outlasted the retries: try again later."""


class LinkBroken(GoogleError):
    """The user's grant is gone (revoked, expired, scope removed): they must /link again."""


class NotLinked(GoogleError):
    """The user has no Google account linked."""


class Misconfigured(GoogleError):
    """Google refuses the bot's own configuration: its OAuth client (`invalid_client`, `unauthorized_client`:
    a wrong or rotated GOOGLE_CLIENT_SECRET) or its Cloud project (the Picker API not enabled). Only the
    operator can fix it; no user's link is at fault, and each works again once it is fixed."""


class TooManySessions(GoogleError):
    """sessions.create refused: the user has too many picking sessions open at Google. Retrying does not
    help until some of them end or are deleted."""


class SessionGone(GoogleError):
    """The picking session no longer exists at Google (deleted or expired)."""


class MediaUnavailable(GoogleError):
    """A media item could not be fetched (403/404 on its baseUrl, a redirect off Google's hosts, or a
    truncated body)."""


class TooLarge(GoogleError):
    """The media is bigger than we could upload; `size` is what Google announced."""

    def __init__(self, size: int) -> None:
        super().__init__(f"media of {size} bytes is over the limit")
        self.size = size
