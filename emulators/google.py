"""In-process emulator of Google OAuth 2.0, OpenID userinfo and the Photos Picker API v1.

One aiohttp app on 127.0.0.1 plays accounts.google.com (consent is automatic, per ``GoogleEmulator.consent``),
oauth2.googleapis.com (token, revoke), openidconnect.googleapis.com (userinfo),
photospicker.googleapis.com (``/v1/sessions``, ``/v1/mediaItems``), photos.google.com (the ``pickerUri``
page) and lh3.googleusercontent.com (media bytes at ``baseUrl``). It is strict where Google is strict and
records *violations*: client behaviour that Google may tolerate or answer vaguely but our bot must never show.

Choices where Google's behaviour is not documented:

- Time is the emulator clock (``time.monotonic()`` + the ``advance()`` offset); wall-clock timestamps
  move with it.
- Revoking any token (``/revoke``, ``revoke_grant``) revokes every grant of that user for the client.
- A refresh token is issued for ``access_type=offline`` with ``prompt=consent``, or when the user has no
  live offline grant yet (Google: "only at first consent"); at most ``max_refresh_tokens`` live per user.
- The basic scopes (openid, email, profile) cannot be unticked on the consent screen; ``email``/``profile``
  come back in long form (``…/auth/userinfo.email``) in the ``scope`` of redirect and token responses.
- A failed code exchange (wrong verifier / redirect_uri) still consumes the code.
- ``sessions.get/delete`` and ``mediaItems.list`` on a session of another user, a deleted or an expired one
  answer 404 NOT_FOUND; a session's ``baseUrl`` then answers 403.
- ``=dv`` answers 404 when the listing that issued the baseUrl reported ``processingStatus`` PROCESSING or
  FAILED (Google only says the request "may fail"); it is also a violation (FAILED is final: report it).
  ASSUMPTION: with ``UNSPECIFIED`` or no ``processingStatus`` the transcode is served (the listing just did
  not say); if Google refused it, the bot re-lists once and reports the video unavailable. ``=dv`` on a
  photo answers 404.
- Errors carry Google's ``details[]`` with a ``google.rpc.ErrorInfo`` where Google sends one: a missing scope
  (``ACCESS_TOKEN_SCOPE_INSUFFICIENT``), the API not enabled in the project (``SERVICE_DISABLED``, see
  ``service_disabled``), project quota 429s (``RATE_LIMIT_EXCEEDED``). ASSUMPTION: the per-user "too many
  sessions" 429 carries no ErrorInfo (its reason is unpublished); had it a quota reason, the bot would retry
  it and then say Google is not answering.
- Media downloads: ASSUMPTION (undocumented): lh3 answers ``identity`` unless ``media_encoding`` says
  otherwise, and never redirects unless ``media_redirect`` says so: to another Google media host (modelled
  by ``hop_url``, another port of 127.0.0.1) or to a host that is not Google's (``elsewhere_url``,
  ``localhost``), where a bearer token arriving is a violation.
- ASSUMPTION: one file in two libraries (``add_copy``: a photo saved from a shared album, the same file uploaded
  by two people) is served as the same bytes for the same rendition. Google says nothing either way; if it
  re-encoded per library, the bot would not know the bytes for a repeat and would send them again (never lose).
- The project's Picker API quota (``picker_requests_per_minute``, Google's default 100,000: PICKER_API.md §7) is
  counted over any 60 s; ASSUMPTION (Google does not say how it counts a minute): the strictest reading, so a
  client within it is within any other, and a refused call does not count. Going over it is a violation. If
  Google counted some other way and refused the bot, its refused calls back off and are tried again.
- ``=d`` on a video gives a full-size JPEG still (the image-download meaning of ``d``); ``=w/h`` never
  upscale; ``-c`` crops to the box shrunk (keeping its aspect ratio) to fit the original.
- Media: no ``Authorization`` → 403 (+ violation), invalid/expired token → 401, token of another user or
  without the picker scope → 403; unknown baseUrl → 404; bare baseUrl → 400 (+ violation).
- ``mediaItems.list`` before Done, polling faster than ``pollInterval``, polling after ``timeoutIn: "0s"``,
  retrying a request before its ``Retry-After`` (the same method, path and query again: other requests
  already on their way are not retries), authorize without PKCE S256 or without ``state``, using a baseUrl
  after its session was deleted, and any unknown ``/v1/…`` path are violations.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import hashlib
import html
import json
import math
import mimetypes
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal
from urllib.parse import unquote_plus

from aiohttp import web
from aiohttp.typedefs import Handler
from yarl import URL

from emulators import media_files

PICKER_SCOPE = "https://www.googleapis.com/auth/photospicker.mediaitems.readonly"
EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"
PROFILE_SCOPE = "https://www.googleapis.com/auth/userinfo.profile"
_SCOPE_ALIASES = {"email": EMAIL_SCOPE, "profile": PROFILE_SCOPE}
_BASIC_SCOPES = frozenset({"openid", EMAIL_SCOPE, PROFILE_SCOPE})
KNOWN_SCOPES = _BASIC_SCOPES | {
    PICKER_SCOPE,
    *(
        f"https://www.googleapis.com/auth/photoslibrary{suffix}"
        for suffix in (
            "",
            ".readonly",
            ".sharing",
            ".appendonly",
            ".readonly.appcreateddata",
            ".edit.appcreateddata",
        )
    ),
}
ENDPOINTS = frozenset(
    [
        "authorize",
        "token",
        "revoke",
        "userinfo",
        "sessions.create",
        "sessions.get",
        "sessions.delete",
        "mediaItems.list",
        "media",
    ]
)
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_SYSTEM_PARAMS = frozenset(
    [
        "fields",
        "prettyPrint",
        "quotaUser",
        "alt",
        "key",
        "access_token",
        "oauth_token",
        "callback",
        "upload_protocol",
        "uploadType",
        "$.xgafv",
    ]
)
_SESSION_FIELDS = frozenset(  # PickingSession fields, proto and JSON names
    [
        "id",
        "pickerUri",
        "picker_uri",
        "pollingConfig",
        "polling_config",
        "expireTime",
        "expire_time",
        "pickingConfig",
        "picking_config",
        "mediaItemsSet",
        "media_items_set",
    ]
)
_MISSING_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_INVALID_CREDENTIAL = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_REALM = 'Bearer realm="https://accounts.google.com/"'
_SERVICE = "photospicker.googleapis.com"
_PROJECT = "123456789012"
# RPC names of the Picker API methods, as ErrorInfo metadata names them.
_METHODS = {
    "sessions.create": "CreateSession",
    "sessions.get": "GetSession",
    "sessions.delete": "DeleteSession",
    "mediaItems.list": "ListMediaItems",
}
_CODE_TTL = 600.0
_MAX_ITEMS = 2000
_MIN_RENDITION = 8 * 1024
_VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_ENDPOINT = web.RequestKey("endpoint", str)
_PICKER_ENDPOINTS = frozenset({"sessions.create", "sessions.get", "sessions.delete", "mediaItems.list"})
_NO_STORE = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache"}


_RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Consent:
    """Who is signed in to the browser and what they do on the consent screen."""

    email: str = "alice@example.com"
    decision: Literal["allow", "deny"] = "allow"
    granted_scopes: Collection[str] | None = None  # None: all requested; else the scopes left ticked


@dataclass(eq=False)
class MediaItem:
    """An item in a user's Google Photos library."""

    id: str
    email: str
    type: Literal["PHOTO", "VIDEO"]
    filename: str
    mime_type: str
    width: int
    height: int
    size: int
    create_time: datetime
    camera_make: str
    camera_model: str
    fps: float = 0.0
    processing_status: str | None = "READY"  # None: the listing leaves processingStatus out
    duration: float = 12.0  # seconds, as the =dv transcode's mvhd says
    # The =dv transcode as shown (None: the listed width × height) and the rotation its video track carries.
    # ASSUMPTION: Google lists a video's size as shown and keeps a phone's rotation matrix in the transcode;
    # the bot reads both from the file itself, so a wrong guess here only changes which branch is tested.
    transcode: tuple[int, int] | None = None
    rotation: int = 0
    # ASSUMPTION: where Google's transcode puts moov is undocumented; the bot finds it either way, and sends
    # the video without duration when there is none ("missing": a test's fault, not seen from Google).
    moov: Literal["start", "end", "missing"] = "start"
    frame: bool = True  # False: size parameters answer 404 for this video (a test's fault)
    ready_after_lists: int = 0
    times_listed: int = 0
    same_file_as: str | None = None  # another library's item this one is a copy of: the same bytes (add_copy)

    @property
    def seed(self) -> str:
        """What its generated bytes derive from: a copy's bytes are the original's."""
        return self.same_file_as or self.id

    def current_status(self) -> str | None:
        """Video processing status right now: PROCESSING until listed ``ready_after_lists`` times."""
        return "PROCESSING" if self.times_listed < self.ready_after_lists else self.processing_status


@dataclass(eq=False)
class SessionRecord:
    """A picking session; times are on the emulator clock."""

    id: str
    email: str
    picker_uri: str
    max_item_count: int
    created: float
    timeout_at: float
    expire_at: float
    expire_time: datetime
    request_id: str | None = None
    deleted: bool = False
    media_items_set: bool = False
    picked: list[MediaItem] = field(default_factory=list)
    polls: list[float] = field(default_factory=list)  # times of successful sessions.get calls
    opened: int = 0  # GETs of the pickerUri page
    told_interval: float | None = None  # pollInterval in the last sessions.get reply (None: no pollingConfig)
    told_stop: bool = False  # the last sessions.get reply said timeoutIn "0s"


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the emulator answered."""

    endpoint: str
    method: str
    path: str
    query: dict[str, str]
    had_bearer: bool
    status: int
    time: float


@dataclass(frozen=True)
class Served:
    """A media response whose body was sent completely."""

    item_id: str
    suffix: str
    size: int
    sha256: str
    content_type: str


@dataclass(eq=False)
class _Grant:
    email: str
    scopes: frozenset[str]
    refresh_token: str | None
    revoked: bool = False


@dataclass(eq=False)
class _AccessToken:
    grant: _Grant
    scopes: frozenset[str]
    expires_at: float


@dataclass(eq=False)
class _AuthCode:
    email: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str | None
    method: str
    issue_refresh: bool
    nonce: str | None
    expires_at: float
    used: bool = False


@dataclass(eq=False)
class _BaseUrl:
    item: MediaItem
    session: SessionRecord
    status: str | None  # video processing status reported by the listing that issued it
    expires_at: float


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: int | None
    body: Mapping[str, Any] | str | None
    location: str | None = None


def _canon(scope: str) -> str:
    return _SCOPE_ALIASES.get(scope, scope)


def _scope_str(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scopes))


def _duration(seconds: float) -> str:
    """google.protobuf.Duration JSON form: 0, 3, 6 or 9 fractional digits and an ``s``."""
    whole, nanos = divmod(round(max(seconds, 0.0) * 1e9), 10**9)
    if not nanos:
        return f"{whole}s"
    digits = next(d for d in (3, 6, 9) if nanos % 10 ** (9 - d) == 0)
    return f"{whole}.{nanos // 10 ** (9 - digits):0{digits}d}s"


def _timestamp(dt: datetime) -> str:
    """RFC 3339 UTC with ``Z``, microseconds only when non-zero."""
    dt = dt.astimezone(UTC)
    frac = f".{dt.microsecond:06d}" if dt.microsecond else ""
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sub(email: str) -> str:
    return str(int(hashlib.sha256(email.encode()).hexdigest(), 16))[:21]


def _json(
    data: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None, pretty: bool = True
) -> web.Response:
    text = json.dumps(data, indent=2 if pretty else None)
    return web.Response(text=text, status=status, content_type="application/json", headers=headers)


def _google_error(
    code: int,
    message: str,
    status: str | None = None,
    headers: Mapping[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> web.Response:
    """Google API error body ``{"error": {"code", "message", "status", "details"}}`` (AIP-193)."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status or _STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        error["details"] = details
    return _json({"error": error}, code, headers)


def _error_info(reason: str, **metadata: str) -> dict[str, Any]:
    """A ``google.rpc.ErrorInfo`` detail of the googleapis.com domain (google/rpc/error_details.proto; the
    reasons are google/api/error_reason.proto's)."""
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": _SERVICE, **metadata},
    }


def _quota_error(retry_after: int | None) -> web.Response:
    """A project quota 429, as Google's quota system answers every API (developers' reports; the reference:
    "project quota hit → exponential backoff")."""
    return _google_error(
        429,
        f"Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service '{_SERVICE}' "
        f"for consumer 'project_number:{_PROJECT}'.",
        headers={} if retry_after is None else {"Retry-After": str(retry_after)},
        details=[
            _error_info(
                "RATE_LIMIT_EXCEEDED",
                consumer=f"projects/{_PROJECT}",
                quota_metric=f"{_SERVICE}/requests",
                quota_limit="RequestsPerMinutePerProject",
            )
        ],
    )


def _service_disabled_error() -> web.Response:
    """The Picker API not enabled in the OAuth client's project: 403 PERMISSION_DENIED with reason
    SERVICE_DISABLED (real-service-notes.md, "error body"; the text as developers report it)."""
    activation = f"https://console.developers.google.com/apis/api/{_SERVICE}/overview?project={_PROJECT}"
    return _google_error(
        403,
        f"Photos Picker API has not been used in project {_PROJECT} before or it is disabled. Enable it by "
        f"visiting {activation} then retry. If you enabled this API recently, wait a few minutes for the "
        "action to propagate to our systems and retry.",
        details=[
            _error_info(
                "SERVICE_DISABLED",
                consumer=f"projects/{_PROJECT}",
                activationUrl=activation,
                serviceTitle="Photos Picker API",
                containerInfo=_PROJECT,
            ),
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Google developers console API activation", "url": activation}],
            },
        ],
    )


def _oauth_error(code: int, error: str, description: str | None = None) -> web.Response:
    body = {"error": error} if description is None else {"error": error, "error_description": description}
    return _json(body, code, _NO_STORE)


def _page(status: int, title: str, body_html: str) -> web.Response:
    head = f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
    text = f"{head}<body>{body_html}</body></html>"
    return web.Response(text=text, status=status, content_type="text/html")


_PAGE_STYLE = """<meta name="viewport" content="width=device-width, initial-scale=1"><style>
body { font-family: system-ui, sans-serif; margin: 0; background: #fff; color: #1f1f1f; }
main { max-width: 30rem; margin: 0 auto; padding: 1.5rem 1rem 5rem; }
h1 { font-size: 1.4rem; font-weight: 400; }
.account { display: inline-block; border: 1px solid #c4c7c5; border-radius: 1rem; padding: .3rem .8rem; }
.actions { display: flex; justify-content: flex-end; gap: .75rem; margin-top: 2rem; }
button { font: inherit; border-radius: 1.25rem; padding: .55rem 1.4rem; border: 0; cursor: pointer; }
.primary { background: #0b57d0; color: #fff; } .primary:disabled { background: #c4c7c5; }
.secondary { background: transparent; color: #0b57d0; }
.grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 3px; }
.tile { position: relative; aspect-ratio: 1; overflow: hidden; background: #eee; }
.tile img { width: 100%; height: 100%; object-fit: cover; display: block; }
.tile input { position: absolute; top: .4rem; left: .4rem; width: 1.3rem; height: 1.3rem; }
.tile:has(input:checked) img { transform: scale(.86); border-radius: .6rem; }
.badge { position: absolute; right: .3rem; bottom: .3rem; color: #fff; font-size: .8rem;
         background: rgba(0,0,0,.55); border-radius: .3rem; padding: 0 .3rem; }
.bar { position: fixed; left: 0; right: 0; bottom: 0; background: #fff; border-top: 1px solid #ddd;
       display: flex; justify-content: space-between; align-items: center; padding: .6rem 1rem; }
</style>"""


def _consent_page(email: str, scopes: Collection[str]) -> web.Response:
    """The consent screen (demo): who signs in, what the app may see, Cancel or Allow. The form posts back
    to the same address, query included."""
    wants = "<li>See and download the photos and videos you select</li>" if PICKER_SCOPE in scopes else ""
    return _page(
        200,
        "Sign in - Google Accounts",
        f"{_PAGE_STYLE}<main><p>Sign in with Google</p><h1>The app wants access to your Google Account</h1>"
        f'<p class="account">{html.escape(email)}</p><ul><li>Your name, email address and profile picture</li>'
        f'{wants}</ul><form method="post" class="actions">'
        '<button class="secondary" id="deny" name="decision" value="deny">Cancel</button>'
        '<button class="primary" id="allow" name="decision" value="allow">Allow</button></form></main>',
    )


def _picker_tile(s: SessionRecord, item: MediaItem) -> str:
    name = html.escape(item.filename)
    seconds = int(item.duration)
    badge = f'<span class="badge">▶ {seconds // 60}:{seconds % 60:02d}</span>' if item.type == "VIDEO" else ""
    return (
        f'<label class="tile"><input type="checkbox" name="item" value="{item.id}" aria-label="{name}">'
        f'<img src="/picker/{s.id}/thumb/{item.id}" alt="{name}">{badge}</label>'
    )


def _picker_grid(s: SessionRecord, library: list[MediaItem]) -> web.Response:
    """The pickerUri page: the library as a grid of tiles to tick (up to maxItemCount), then Done."""
    tiles = "".join(_picker_tile(s, i) for i in library)
    script = (
        "<script>const f=document.forms[0],n=document.getElementById('count'),d=document.getElementById('done');"
        "f.addEventListener('change',()=>{const c=f.querySelectorAll('input:checked').length;"
        f"n.textContent=c?c+' selected':'Select items';d.disabled=!c||c>{s.max_item_count}}});</script>"
    )
    return _page(
        200,
        "Google Photos – Select items",
        f'{_PAGE_STYLE}<form method="post"><main><h1>Google Photos</h1><div class="grid">{tiles}</div></main>'
        '<div class="bar"><span id="count">Select items</span>'
        f'<button class="primary" type="submit" id="done" disabled>Done</button></div></form>{script}',
    )


def _auth_error_page(status: int, error: str, detail: str) -> web.Response:
    return _page(
        status,
        f"Error {status}: {error}",
        f"<h1>Access blocked: Authorization Error</h1><p>Error {status}: {html.escape(error)}</p>"
        f"<p>{html.escape(detail)}</p>",
    )


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _fit(w0: int, h0: int, w: int | None, h: int | None, crop: bool) -> tuple[int, int]:
    """Rendition size: inside the box keeping aspect ratio, never upscaled."""
    if crop and w and h:
        f = min(1.0, w0 / w, h0 / h)
        return max(1, round(w * f)), max(1, round(h * f))
    f = min(1.0, w / w0 if w else math.inf, h / h0 if h else math.inf)
    return max(1, round(w0 * f)), max(1, round(h0 * f))


@dataclass(frozen=True)
class _MediaParams:
    download: bool = False
    video: bool = False
    crop: bool = False
    width: int | None = None
    height: int | None = None


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (RFC 9110 §12.5.3: ``gzip`` or ``*``, q not 0)."""
    for entry in accept_encoding.lower().split(","):
        coding, *params = (part.strip() for part in entry.split(";"))
        weight = next((param[2:] for param in params if param.startswith("q=")), "1")
        try:
            if coding in ("gzip", "*") and float(weight) > 0:
                return True
        except ValueError:
            continue
    return False


def _parse_media_params(params: str) -> _MediaParams | None:
    """Parse ``d``, ``dv``, ``w123``, ``h123``, ``c``, ``no`` joined with ``-``; None if invalid."""
    opts: dict[str, Any] = {}
    for opt in params.split("-"):
        if opt in ("d", "dv", "c"):
            opts[{"d": "download", "dv": "video", "c": "crop"}[opt]] = True
        elif opt == "no":
            continue
        elif re.fullmatch(r"[wh][1-9]\d{0,4}", opt):
            opts["width" if opt[0] == "w" else "height"] = int(opt[1:])
        else:
            return None
    parsed = _MediaParams(**opts)
    sized = parsed.width is not None or parsed.height is not None
    if parsed.video and (sized or parsed.download or parsed.crop):
        return None
    if parsed.crop and (parsed.width is None or parsed.height is None):
        return None
    return parsed if (sized or parsed.download or parsed.video) else None


def _transcode_header(item: MediaItem) -> media_files.VideoHeader | None:
    if item.moov == "missing":
        return None
    width, height = item.transcode or (item.width, item.height)
    return media_files.VideoHeader(item.duration, width, height, item.rotation, item.moov == "end")


class GoogleEmulator:
    """Google OAuth + OpenID userinfo + Photos Picker API v1 + media bytes, on 127.0.0.1."""

    def __init__(
        self,
        client_id: str = "cid.apps.googleusercontent.com",
        client_secret: str = "secret",
        redirect_uris: Iterable[str] = (),
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris: set[str] = set(redirect_uris)
        self.consent = Consent()
        # False: consent is automatic, per ``consent`` (tests). True: a page asks, with Allow and Cancel (demo).
        self.consent_page = False
        self.access_token_ttl = 3600.0
        self.poll_interval = 5.0
        self.session_timeout = 1800.0
        self.session_lifetime = 3600.0
        self.base_url_ttl = 3600.0
        self.media_latency = 0.0
        # Seconds every Picker API call (sessions.*, mediaItems.list) waits before its answer. Google publishes no
        # latency; the benchmark assumes one (benchmarks/profile.py PICKER_LATENCY), tests leave it at 0.
        self.api_latency = 0.0
        self.media_bandwidth: float | None = None  # bytes per second
        self.sparse_pages = False  # every other page of mediaItems.list is empty but has nextPageToken
        self.max_live_sessions: int | None = None  # per user; beyond → 429 RESOURCE_EXHAUSTED
        self.service_disabled = False  # the Picker API is not enabled in the project: every call → 403
        # The project's Picker API requests a minute (module docstring); beyond it a call answers 429
        # RATE_LIMIT_EXCEEDED, and that is a violation: the bot keeps under it.
        self.picker_requests_per_minute = 100_000
        # How lh3 encodes media: "identity", "gzip_if_accepted" (when Accept-Encoding allows gzip), "gzip".
        self.media_encoding: Literal["identity", "gzip_if_accepted", "gzip"] = "identity"
        # Where a baseUrl download is redirected (302): None, "google" (hop_url) or "elsewhere" (elsewhere_url).
        self.media_redirect: Literal["google", "elsewhere"] | None = None
        self.max_refresh_tokens = 100  # live refresh tokens per user; older ones silently die
        self.no_photos_account: set[str] = set()  # no Google Photos: create → FAILED_PRECONDITION
        # Rewrites each mediaItems.list answer before it is sent (odd fields, unknown types, bad page tokens):
        # a page as Google built it in, the page to send out.
        self.page_transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self.url = ""
        self.hop_url = ""  # another Google media host (another port of 127.0.0.1)
        self.elsewhere_url = ""  # a host that is not Google's (localhost)
        self.library: dict[str, list[MediaItem]] = {}
        self.sessions: dict[str, SessionRecord] = {}
        self.requests: list[RequestRecord] = []
        self.served: list[Served] = []
        self.violations: list[str] = []
        self._offset = 0.0
        self._grants: list[_Grant] = []
        self._codes: dict[str, _AuthCode] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _Grant] = {}
        self._base_urls: dict[str, _BaseUrl] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._not_before: dict[str, tuple[float, int]] = {}
        self._picker_calls: deque[float] = deque()  # when the Picker API calls of the last minute were served
        self._cuts: deque[int] = deque()
        self._holds: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # ----------------------------------------------------------------- lifecycle and URLs

    async def start(self, port: int = 0, control: web.Application | None = None) -> None:
        """Serve on 127.0.0.1 (a free port by default) and set ``url``; ``control`` (the sandbox's HTTP
        control API) is mounted at ``/_sandbox``."""
        app = web.Application(middlewares=[self._middleware])
        if control is not None:
            app.add_subapp("/_sandbox", control)
        routes: list[tuple[str, str, str, _RouteHandler]] = [
            ("GET", "/o/oauth2/v2/auth", "authorize", self._authorize),
            ("POST", "/o/oauth2/v2/auth", "authorize", self._authorize),
            ("POST", "/token", "token", self._token),
            ("POST", "/revoke", "revoke", self._revoke),
            ("GET", "/v1/userinfo", "userinfo", self._userinfo),
            ("GET", "/oauth2/v3/userinfo", "userinfo", self._userinfo),
            ("POST", "/v1/sessions", "sessions.create", self._sessions_create),
            ("GET", "/v1/sessions/{sid}", "sessions.get", self._sessions_get),
            ("DELETE", "/v1/sessions/{sid}", "sessions.delete", self._sessions_delete),
            ("GET", "/v1/mediaItems", "mediaItems.list", self._media_items_list),
            ("GET", "/lh3/ppa/{key}", "media", self._media),
            ("GET", "/lh3/hop/{key}", "media", self._media),
            ("GET", "/elsewhere/{key}", "elsewhere", self._elsewhere),
        ]
        for path in ("/picker/{sid}", "/picker/{sid}/autoclose"):
            routes += [
                ("GET", path, "picker", self._picker_page),
                ("POST", path, "picker", self._picker_done),
            ]
        routes.append(("GET", "/picker/{sid}/thumb/{item}", "picker", self._picker_thumb))
        for method, path, endpoint, handler in routes:
            app.router.add_route(method, path, self._endpoint(endpoint, handler))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()  # the hop_url of media_redirect "google"
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self.hop_url = f"http://127.0.0.1:{self._runner.addresses[1][1]}"
        self.elsewhere_url = f"http://localhost:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> GoogleEmulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def auth_url(self) -> str:
        """Authorization endpoint (accounts.google.com/o/oauth2/v2/auth)."""
        return f"{self.url}/o/oauth2/v2/auth"

    @property
    def token_url(self) -> str:
        """Token endpoint (oauth2.googleapis.com/token)."""
        return f"{self.url}/token"

    @property
    def revoke_url(self) -> str:
        """Revocation endpoint (oauth2.googleapis.com/revoke)."""
        return f"{self.url}/revoke"

    @property
    def userinfo_url(self) -> str:
        """OpenID userinfo endpoint (openidconnect.googleapis.com/v1/userinfo)."""
        return f"{self.url}/v1/userinfo"

    @property
    def picker_api_url(self) -> str:
        """Picker API root (photospicker.googleapis.com/v1)."""
        return f"{self.url}/v1"

    # ----------------------------------------------------------------- clock and waiting

    def now(self) -> float:
        """Emulator clock: ``time.monotonic()`` plus everything passed to ``advance``."""
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for tokens, codes, sessions, baseUrls and pacing checks."""
        self._offset += seconds
        self._notify()

    def _wall(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until ``predicate()`` holds; re-checked after every request and state change."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"Google emulator: condition not met within {timeout}s") from None

    async def wait_for_session(
        self,
        predicate: Callable[[SessionRecord], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> SessionRecord:
        """Wait until a picking session (matching ``predicate``) exists and return it."""
        found: list[SessionRecord] = []

        def match() -> bool:
            found[:] = [s for s in self.sessions.values() if predicate is None or predicate(s)][:1]
            return bool(found)

        await self.wait_for(match, timeout)
        return found[0]

    # ----------------------------------------------------------------- test controls

    def _new_item(
        self,
        email: str,
        kind: Literal["PHOTO", "VIDEO"],
        filename: str | None,
        mime_type: str,
        create_time: datetime | None,
        **fields: Any,
    ) -> MediaItem:
        n = sum(len(items) for items in self.library.values()) + 1
        ext = mimetypes.guess_extension(mime_type) or ""
        item = MediaItem(
            id="AF1Qip" + _b64url(hashlib.sha256(f"{email}#{n}".encode()).digest())[:38],
            email=email,
            type=kind,
            mime_type=mime_type,
            filename=filename or f"{'IMG' if kind == 'PHOTO' else 'VID'}_{n:04d}{ext.upper()}",
            create_time=create_time or datetime(2024, 6, 1, 12, tzinfo=UTC) + timedelta(minutes=n),
            **fields,
        )
        self.library.setdefault(email, []).append(item)
        return item

    def add_photo(
        self,
        email: str,
        *,
        filename: str | None = None,
        width: int = 4032,
        height: int = 3024,
        size: int = 3_000_000,
        mime_type: str = "image/jpeg",
        create_time: datetime | None = None,
        camera_make: str = "Google",
        camera_model: str = "Pixel 8",
    ) -> MediaItem:
        """Add a photo to ``email``'s library."""
        return self._new_item(
            email,
            "PHOTO",
            filename,
            mime_type,
            create_time,
            width=width,
            height=height,
            size=size,
            camera_make=camera_make,
            camera_model=camera_model,
        )

    def add_copy(self, email: str, original: MediaItem) -> MediaItem:
        """Add to ``email``'s library a copy of another library's photo or video: its own id, the same bytes."""
        copy = self._new_item(
            email,
            original.type,
            original.filename,
            original.mime_type,
            original.create_time,
            width=original.width,
            height=original.height,
            size=original.size,
            camera_make=original.camera_make,
            camera_model=original.camera_model,
        )
        copy.same_file_as = original.seed
        return copy

    def add_video(
        self,
        email: str,
        *,
        filename: str | None = None,
        size: int = 40_000_000,
        width: int = 1920,
        height: int = 1080,
        mime_type: str = "video/mp4",
        fps: float = 30.0,
        processing_status: str | None = "READY",
        ready_after_lists: int = 0,
        create_time: datetime | None = None,
        camera_make: str = "Google",
        camera_model: str = "Pixel 8",
        duration: float = 12.0,
        transcode: tuple[int, int] | None = None,
        rotation: int = 0,
        moov: Literal["start", "end", "missing"] = "start",
        frame: bool = True,
    ) -> MediaItem:
        """Add a video: PROCESSING until listed ``ready_after_lists`` times, then ``processing_status``
        (UNSPECIFIED, PROCESSING, READY, FAILED; None leaves the field out);
        ``duration``, ``transcode`` (size as shown), ``rotation`` and ``moov`` shape its =dv bytes, and
        ``frame=False`` makes its thumbnail (size parameters) answer 404."""
        return self._new_item(
            email,
            "VIDEO",
            filename,
            mime_type,
            create_time,
            width=width,
            height=height,
            size=size,
            camera_make=camera_make,
            camera_model=camera_model,
            fps=fps,
            processing_status=processing_status,
            ready_after_lists=ready_after_lists,
            duration=duration,
            transcode=transcode,
            rotation=rotation,
            moov=moov,
            frame=frame,
        )

    def _picker_live(self, s: SessionRecord) -> bool:
        now = self.now()
        return not (s.deleted or s.media_items_set or now >= s.timeout_at or now >= s.expire_at)

    def pick(self, session_id: str, items: Iterable[MediaItem]) -> None:
        """The user picks ``items`` in the picker and taps Done."""
        s = self.sessions.get(session_id)
        if s is None or not self._picker_live(s):
            raise ValueError(f"picker for session {session_id!r} is not open (unknown, done, timed out or gone)")
        chosen = list(items)
        if not chosen or len(chosen) > s.max_item_count:
            raise ValueError(f"must pick 1..{s.max_item_count} items, got {len(chosen)}")
        if len({id(i) for i in chosen}) != len(chosen) or any(i.email != s.email for i in chosen):
            raise ValueError("items must be distinct and from the session owner's library")
        s.picked = chosen
        s.media_items_set = True
        self._notify()

    def expire_access_tokens(self, email: str | None = None) -> None:
        """Make current access tokens (of ``email``, or all) expired."""
        now = self.now()
        for tok in self._access.values():
            if email is None or tok.grant.email == email:
                tok.expires_at = min(tok.expires_at, now)

    def revoke_grant(self, email: str) -> None:
        """The user removed the app's access (myaccount.google.com): all tokens die."""
        for grant in self._grants:
            if grant.email == email:
                grant.revoked = True

    def expire_base_urls(self) -> None:
        """Every baseUrl issued so far answers 403 from now on."""
        for base in self._base_urls.values():
            base.expires_at = -math.inf

    def fail_next(
        self,
        endpoint: str,
        status: int = 503,
        times: int = 1,
        retry_after: int | None = None,
        body: Mapping[str, Any] | str | None = None,
        location: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``endpoint`` with an error (and ``Retry-After``), or with a
        redirect to ``location`` (a 3xx ``status``: what a hijacked or misconfigured endpoint would send)."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {sorted(ENDPOINTS)}")
        failure = _Failure(status, retry_after, body, location)
        self._failures.setdefault(endpoint, deque()).extend([failure] * times)

    def hold_media(self, item: MediaItem) -> asyncio.Event:
        """Keep every download of ``item`` waiting before its first byte until the returned event is set."""
        return self._holds.setdefault(item.id, asyncio.Event())

    def cut_next_media(self, after_bytes: int, times: int = 1) -> None:
        """The next ``times`` successful media responses close the connection after ``after_bytes`` bytes."""
        self._cuts.extend([after_bytes] * times)

    def issued_secrets(self) -> list[str]:
        """Every authorization code, access token and refresh token issued so far (for leak checks)."""
        return [*self._codes, *self._access, *self._refresh]

    def assert_no_violations(self) -> None:
        """Fail if the client did anything recorded as a violation."""
        if self.violations:
            raise AssertionError("Google emulator violations:\n- " + "\n- ".join(self.violations))

    def _violation(self, message: str) -> None:
        self.violations.append(message)

    # ----------------------------------------------------------------- plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        start, status = self.now(), 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            if _ENDPOINT in request or not request.path.startswith("/v1/"):
                raise
            self._violation(f"unknown Picker/OpenID API path: {request.method} {request.path} (Google: 404)")
            status = 404
            return _page(
                404,
                "Error 404 (Not Found)!!1",
                f"<p>The requested URL <code>{html.escape(request.path)}</code> was not found on "
                "this server. That’s all we know.</p>",
            )
        finally:
            self.requests.append(
                RequestRecord(
                    endpoint=request.get(_ENDPOINT, "unknown"),
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    had_bearer=_bearer(request) is not None,
                    status=status,
                    time=start,
                )
            )
            self._notify()

    def _endpoint(self, endpoint: str, handler: _RouteHandler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            request[_ENDPOINT] = endpoint
            now = self.now()
            # A retry is the same request again; others already on their way when the error went out are not.
            retry_key = f"{request.method} {request.path_qs}"
            if retry_key in self._not_before:
                not_before, retry_after = self._not_before.pop(retry_key)
                if now < not_before - max(0.05 * retry_after, 0.02):
                    self._violation(
                        f"{endpoint} retried {retry_after - (not_before - now):.3f}s after an "
                        f"error with Retry-After: {retry_after}"
                    )
            queue = self._failures.get(endpoint)
            if queue:
                failure = queue.popleft()
                if failure.retry_after is not None:
                    self._not_before[retry_key] = (now + failure.retry_after, failure.retry_after)
                return self._failure_response(endpoint, failure)
            if endpoint in _PICKER_ENDPOINTS and self._over_quota(now):
                self._violation(
                    f"{endpoint}: over the project's {self.picker_requests_per_minute} Picker API requests a minute"
                )
                return _quota_error(None)
            if self.api_latency and endpoint in _PICKER_ENDPOINTS:
                await asyncio.sleep(self.api_latency)
            return await handler(request)

        return wrapped

    def _over_quota(self, now: float) -> bool:
        """Whether a Picker API call now is over the project's quota; if not, it counts."""
        calls = self._picker_calls
        while calls and calls[0] <= now - 60:
            calls.popleft()
        if len(calls) >= self.picker_requests_per_minute:
            return True
        calls.append(now)
        return False

    @staticmethod
    def _failure_response(endpoint: str, failure: _Failure) -> web.Response:
        headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
        code = failure.status
        if failure.location is not None:
            return web.Response(status=code, headers={**headers, "Location": failure.location})
        if isinstance(failure.body, str):
            response = web.Response(text=failure.body, status=code, content_type="text/plain")
        elif failure.body is not None:
            response = _json(failure.body, code)
        elif endpoint in ("authorize", "media"):
            response = _page(code, f"Error {code}", f"<p>Error {code}. That’s an error.</p>")
        elif endpoint in ("token", "revoke"):
            fallback = "server_error" if code >= 500 else "invalid_request"
            error = {429: "rate_limit_exceeded", 503: "temporarily_unavailable"}.get(code, fallback)
            response = _oauth_error(code, error, f"Injected failure (HTTP {code})")
        elif code == 429:
            response = _quota_error(None)
        else:
            messages = {
                500: "Internal error encountered.",
                503: "The service is currently unavailable.",
            }
            response = _google_error(code, messages.get(code, f"Injected failure (HTTP {code})."))
        response.headers.update(headers)
        return response

    def _live_access(self, raw: str | None) -> _AccessToken | None:
        tok = self._access.get(raw or "")
        if tok is None or tok.grant.revoked or tok.expires_at <= self.now():
            return None
        return tok

    def _live_grants(self, email: str) -> list[_Grant]:
        return [g for g in self._grants if g.email == email and not g.revoked]

    def _issue(
        self, grant: _Grant, scopes: frozenset[str], nonce: str | None = None, with_refresh: bool = False
    ) -> web.Response:
        """Mint an access token (+ id_token when ``openid`` is granted); the token endpoint response."""
        access = "ya29.a0" + secrets.token_urlsafe(90)
        self._access[access] = _AccessToken(grant, scopes, self.now() + self.access_token_ttl)
        body: dict[str, Any] = {"access_token": access, "expires_in": round(self.access_token_ttl)}
        if with_refresh:
            body["refresh_token"] = grant.refresh_token
        body |= {"scope": _scope_str(scopes), "token_type": "Bearer"}
        if "openid" in scopes:
            claims: dict[str, Any] = {
                "iss": "https://accounts.google.com",
                "azp": self.client_id,
                "aud": self.client_id,
                "sub": _sub(grant.email),
                "iat": int(time.time() + self._offset),
                "exp": int(time.time() + self._offset + 3600),
            }
            if EMAIL_SCOPE in scopes:
                claims |= {"email": grant.email, "email_verified": True}
            if nonce is not None:
                claims["nonce"] = nonce
            header = {"alg": "RS256", "kid": "google-emulator", "typ": "JWT"}
            body["id_token"] = ".".join(
                [
                    _b64url(json.dumps(header).encode()),
                    _b64url(json.dumps(claims).encode()),
                    _b64url(secrets.token_bytes(256)),
                ]
            )
        return _json(body, headers=_NO_STORE)

    # ----------------------------------------------------------------- OAuth: authorize

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        for name in ("client_id", "redirect_uri", "response_type", "scope"):
            if not q.get(name):
                return _auth_error_page(400, "invalid_request", f"Required parameter is missing: {name}")
        if q["client_id"] != self.client_id:
            return _auth_error_page(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = q["redirect_uri"]
        if redirect_uri not in self.redirect_uris:
            return _auth_error_page(
                400,
                "redirect_uri_mismatch",
                f"You can't sign in to this app because it doesn't comply with Google's "
                f"OAuth 2.0 policy. redirect_uri={redirect_uri}",
            )
        if q["response_type"] != "code":
            return _auth_error_page(400, "unsupported_response_type", f"Invalid response_type: {q['response_type']}")
        requested = q["scope"].split()
        invalid = [s for s in requested if _canon(s) not in KNOWN_SCOPES]
        if invalid:
            return _auth_error_page(400, "invalid_scope", f"Some requested scopes were invalid. {{invalid={invalid}}}")
        access_type = q.get("access_type", "online")
        if access_type not in ("online", "offline"):
            return _auth_error_page(400, "invalid_request", f"Invalid access_type: {access_type}")
        prompts = set(q.get("prompt", "").split())
        if not prompts <= {"none", "consent", "select_account"} or ("none" in prompts and len(prompts) > 1):
            return _auth_error_page(400, "invalid_request", f"Invalid prompt: {q['prompt']}")
        challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
        if method not in (None, "S256", "plain") or (method and not challenge):
            return _auth_error_page(400, "invalid_request", "Invalid code_challenge / code_challenge_method.")
        if challenge is not None and not _VERIFIER_RE.fullmatch(challenge):
            return _auth_error_page(400, "invalid_request", "Invalid code_challenge.")
        if challenge is None:
            self._violation("authorization request without PKCE (code_challenge)")
        elif method != "S256":
            self._violation(f"PKCE code_challenge_method {method or 'plain (default)'} instead of S256")
        state = q.get("state")
        if state is None:
            self._violation("authorization request without state")

        def back(params: dict[str, str]) -> web.Response:
            query = ({"state": state} if state is not None else {}) | params
            return web.Response(status=302, headers={"Location": str(URL(redirect_uri).update_query(query))})

        email = self.consent.email
        wanted = frozenset(_canon(s) for s in requested)
        live = self._live_grants(email)
        decision = self.consent.decision
        if self.consent_page and "none" not in prompts:
            if request.method == "GET":
                return _consent_page(email, wanted)
            decision = "allow" if (await request.post()).get("decision") == "allow" else "deny"
        if "none" in prompts:
            if not any(wanted <= g.scopes for g in live):
                return back({"error": "consent_required"})
        elif decision == "deny":
            return back({"error": "access_denied"})
        ticked = self.consent.granted_scopes
        granted = wanted if ticked is None else wanted & ({_canon(s) for s in ticked} | _BASIC_SCOPES)
        if q.get("include_granted_scopes") == "true":
            granted = granted.union(*(g.scopes for g in live))
        code = "4/0A" + secrets.token_urlsafe(60)
        self._codes[code] = _AuthCode(
            email=email,
            redirect_uri=redirect_uri,
            scopes=granted,
            challenge=challenge,
            method=method or "plain",
            issue_refresh=access_type == "offline" and ("consent" in prompts or not any(g.refresh_token for g in live)),
            nonce=q.get("nonce"),
            expires_at=self.now() + _CODE_TTL,
        )
        return back(
            {
                "code": code,
                "scope": _scope_str(granted),
                "authuser": "0",
                "prompt": "none" if "none" in prompts else "consent",
            }
        )

    # ----------------------------------------------------------------- OAuth: token, revoke, userinfo

    def _client_error(self, request: web.Request, form: Mapping[str, str]) -> web.Response | None:
        """Authenticate the client (client_secret_basic or client_secret_post); an error response or None."""
        client_id, secret = form.get("client_id"), form.get("client_secret")
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                raw_id, _, raw_secret = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return _oauth_error(401, "invalid_client", "Invalid client authentication.")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if not client_id:
            return _oauth_error(400, "invalid_request", "Could not determine client ID from request.")
        if client_id != self.client_id:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if secret != self.client_secret:
            return _oauth_error(401, "invalid_client", "Unauthorized")
        return None

    async def _token(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded.")
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        error = self._client_error(request, form)
        if error is not None:
            return error
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._exchange_code(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _exchange_code(self, form: Mapping[str, str]) -> web.Response:
        if not form.get("code"):
            return _oauth_error(400, "invalid_request", "Missing required parameter: code")
        rec = self._codes.get(form["code"])
        if rec is None or rec.used or rec.expires_at <= self.now():
            return _oauth_error(400, "invalid_grant", "Bad Request")
        rec.used = True
        if form.get("redirect_uri") != rec.redirect_uri:
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        if rec.challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                return _oauth_error(400, "invalid_grant", "Missing code verifier.")
            expected = verifier if rec.method == "plain" else _b64url(hashlib.sha256(verifier.encode()).digest())
            if not _VERIFIER_RE.fullmatch(verifier) or expected != rec.challenge:
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        refresh = "1//0" + secrets.token_urlsafe(70) if rec.issue_refresh else None
        grant = _Grant(rec.email, rec.scopes, refresh)
        self._grants.append(grant)
        if refresh is not None:
            self._refresh[refresh] = grant
            holders = [g for g in self._live_grants(rec.email) if g.refresh_token]
            for old in holders[: max(0, len(holders) - self.max_refresh_tokens)]:
                old.revoked = True
        return self._issue(grant, rec.scopes, rec.nonce, with_refresh=refresh is not None)

    def _refresh_grant(self, form: Mapping[str, str]) -> web.Response:
        if not form.get("refresh_token"):
            return _oauth_error(400, "invalid_request", "Missing required parameter: refresh_token")
        grant = self._refresh.get(form["refresh_token"])
        if grant is None or grant.revoked:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        scopes = grant.scopes
        if form.get("scope"):
            scopes = frozenset(_canon(s) for s in form["scope"].split())
            if not scopes <= grant.scopes:
                return _oauth_error(400, "invalid_scope", "Bad Request")
        return self._issue(grant, scopes)

    async def _revoke(self, request: web.Request) -> web.Response:
        form = await request.post()
        raw = form.get("token") or request.query.get("token")
        grant = None
        if isinstance(raw, str):
            tok = self._live_access(raw)
            grant = tok.grant if tok is not None else self._refresh.get(raw)
        if grant is None or grant.revoked:
            return _oauth_error(400, "invalid_token", "Token expired or revoked")
        self.revoke_grant(grant.email)
        return _json({})

    async def _userinfo(self, request: web.Request) -> web.Response:
        tok = self._live_access(_bearer(request))
        if tok is None or not tok.scopes & _BASIC_SCOPES:
            headers = {"WWW-Authenticate": _REALM + ', error="invalid_token"'}
            return _json({"error": "invalid_request", "error_description": "Invalid Credentials"}, 401, headers)
        email = tok.grant.email
        info: dict[str, Any] = {"sub": _sub(email)}
        if PROFILE_SCOPE in tok.scopes:
            name = email.split("@")[0].replace(".", " ").title()
            info |= {"name": name, "given_name": name.split()[0]}
        info["picture"] = "https://lh3.googleusercontent.com/a/default-user=s96-c"
        if EMAIL_SCOPE in tok.scopes:
            info |= {"email": email, "email_verified": True}
        return _json(info)

    # ----------------------------------------------------------------- Picker API

    def _api_auth(self, request: web.Request, allowed_params: Collection[str]) -> _AccessToken | web.Response:
        """Authenticate a Picker API call and reject unknown query parameters."""
        raw = _bearer(request) or request.query.get("access_token")
        if raw is None:
            return _google_error(401, _MISSING_CREDENTIAL, headers={"WWW-Authenticate": _REALM})
        tok = self._live_access(raw)
        if tok is None:
            return _google_error(
                401, _INVALID_CREDENTIAL, headers={"WWW-Authenticate": _REALM + ', error="invalid_token"'}
            )
        if self.service_disabled:
            return _service_disabled_error()
        if PICKER_SCOPE not in tok.scopes:
            www = f'{_REALM}, error="insufficient_scope", scope="{PICKER_SCOPE}"'
            method = f"google.photos.picker.v1.PickingService.{_METHODS[request[_ENDPOINT]]}"
            return _google_error(
                403,
                "Request had insufficient authentication scopes.",
                headers={"WWW-Authenticate": www},
                details=[_error_info("ACCESS_TOKEN_SCOPE_INSUFFICIENT", method=method)],
            )
        for name in request.query:
            if name not in allowed_params and name not in _SYSTEM_PARAMS:
                return _google_error(
                    400,
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind '
                    f"query parameter. Field '{name}' could not be found in request message.",
                )
        return tok

    def _api_json(self, request: web.Request, data: Mapping[str, Any]) -> web.Response:
        return _json(data, pretty=request.query.get("prettyPrint", "true") != "false")

    def _owned_session(self, tok: _AccessToken, sid: str) -> SessionRecord | None:
        s = self.sessions.get(sid)
        if s is None or s.deleted or s.email != tok.grant.email or self.now() >= s.expire_at:
            return None
        return s

    @staticmethod
    def _not_found(sid: str) -> web.Response:
        return _google_error(404, f"Requested entity was not found. (session {sid})")

    def _session_json(self, s: SessionRecord) -> dict[str, Any]:
        data: dict[str, Any] = {"id": s.id, "pickerUri": s.picker_uri}
        if not s.media_items_set:
            data["pollingConfig"] = {
                "pollInterval": _duration(self.poll_interval),
                "timeoutIn": _duration(s.timeout_at - self.now()),
            }
        data |= {
            "expireTime": _timestamp(s.expire_time),
            "pickingConfig": {"maxItemCount": str(s.max_item_count)},
            "mediaItemsSet": s.media_items_set,
        }
        return data

    async def _sessions_create(self, request: web.Request) -> web.Response:
        tok = self._api_auth(request, {"requestId", "request_id"})
        if isinstance(tok, web.Response):
            return tok
        request_id = request.query.get("requestId") or request.query.get("request_id")
        if request_id is not None:
            try:
                valid = uuid.UUID(request_id).version == 4
            except ValueError:
                valid = False
            if not valid:
                return _google_error(400, "requestId must be a UUID v4 string.")
        text = await request.text()
        try:
            body = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            return _google_error(400, "Invalid JSON payload received. Unexpected token.")
        if not isinstance(body, dict):
            return _google_error(400, "Invalid JSON payload received. Expected an object.")
        config = body.get("pickingConfig", body.get("picking_config")) or {}
        if not isinstance(config, dict):
            return _google_error(400, "Invalid value at 'session.picking_config': expected an object.")
        unknown = [k for k in body if k not in _SESSION_FIELDS]
        unknown += [k for k in config if k not in ("maxItemCount", "max_item_count")]
        if unknown:
            return _google_error(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
        raw_max = config.get("maxItemCount", config.get("max_item_count", 0))
        if isinstance(raw_max, bool) or not isinstance(raw_max, int | str) or not re.fullmatch(r"-?\d+", str(raw_max)):
            return _google_error(
                400,
                f"Invalid value at 'session.picking_config.max_item_count' (TYPE_INT64), {json.dumps(raw_max)}",
            )
        max_items = int(raw_max)
        if max_items < 0:
            return _google_error(400, "pickingConfig.maxItemCount must not be negative.")
        email = tok.grant.email
        if email in self.no_photos_account:
            return _google_error(400, "The user does not have an active Google Photos account.", "FAILED_PRECONDITION")
        live = [s for s in self.sessions.values() if self._owned_session(tok, s.id)]
        if self.max_live_sessions is not None and len(live) >= self.max_live_sessions:
            # Picker reference, sessions.create: RESOURCE_EXHAUSTED when the app made too many sessions for
            # this user; retrying does not help until some end or are deleted (no ErrorInfo: see the top).
            return _google_error(429, "Too many picking sessions for this user. Delete unused sessions.")
        now, sid = self.now(), str(uuid.uuid4())
        s = SessionRecord(
            id=sid,
            email=email,
            picker_uri=f"{self.url}/picker/{sid}",
            max_item_count=min(max_items, _MAX_ITEMS) or _MAX_ITEMS,
            created=now,
            timeout_at=now + self.session_timeout,
            expire_at=now + self.session_lifetime,
            expire_time=self._wall() + timedelta(seconds=self.session_lifetime),
            request_id=request_id,
        )
        self.sessions[sid] = s
        return self._api_json(request, self._session_json(s))

    async def _sessions_get(self, request: web.Request) -> web.Response:
        tok = self._api_auth(request, ())
        if isinstance(tok, web.Response):
            return tok
        s = self._owned_session(tok, request.match_info["sid"])
        if s is None:
            return self._not_found(request.match_info["sid"])
        now = self.now()
        if s.told_stop:
            self._violation(f'session {s.id} polled again after timeoutIn "0s"')
        elif s.polls and s.told_interval is not None:
            gap, need = now - s.polls[-1], s.told_interval
            if gap < need - max(0.05 * need, 0.02):
                self._violation(f"session {s.id} polled {gap:.3f}s after the previous poll (pollInterval {need}s)")
        s.polls.append(now)
        data = self._session_json(s)
        s.told_interval = None if s.media_items_set else self.poll_interval
        s.told_stop = not s.media_items_set and now >= s.timeout_at
        return self._api_json(request, data)

    async def _sessions_delete(self, request: web.Request) -> web.Response:
        tok = self._api_auth(request, ())
        if isinstance(tok, web.Response):
            return tok
        s = self._owned_session(tok, request.match_info["sid"])
        if s is None:
            return self._not_found(request.match_info["sid"])
        s.deleted = True
        return self._api_json(request, {})

    def _page_token(self, sid: str, offset: int, page: int) -> str:
        return _b64url(json.dumps([sid, offset, page]).encode())

    def _read_page_token(self, sid: str, token: str) -> tuple[int, int] | None:
        try:
            tsid, offset, page = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (ValueError, TypeError):
            return None
        valid = tsid == sid and isinstance(offset, int) and isinstance(page, int) and offset >= 0
        return (offset, page) if valid else None

    async def _media_items_list(self, request: web.Request) -> web.Response:
        q = request.query
        tok = self._api_auth(request, {"sessionId", "session_id", "pageSize", "page_size", "pageToken", "page_token"})
        if isinstance(tok, web.Response):
            return tok
        sid = q.get("sessionId") or q.get("session_id")
        if not sid:
            return _google_error(400, "sessionId is required.")
        raw_size = q.get("pageSize") or q.get("page_size") or "0"
        if not re.fullmatch(r"-?\d+", raw_size):
            return _google_error(400, f"Invalid value at 'page_size' (TYPE_INT32), \"{raw_size}\"")
        if int(raw_size) < 0:
            return _google_error(400, "pageSize must not be negative.")
        page_size = min(int(raw_size) or 50, 100)
        s = self._owned_session(tok, sid)
        if s is None:
            return self._not_found(sid)
        if not s.media_items_set:
            self._violation(f"mediaItems.list for session {sid} before mediaItemsSet")
            return _google_error(400, "The user has not finished picking media items yet.", "FAILED_PRECONDITION")
        raw_token = q.get("pageToken") or q.get("page_token")
        position = (0, 0) if not raw_token else self._read_page_token(sid, raw_token)
        if position is None:
            return _google_error(400, "Invalid page token.")
        offset, page = position
        if self.sparse_pages and page % 2 == 0 and offset < len(s.picked):
            return self._api_json(request, {"nextPageToken": self._page_token(sid, offset, page + 1)})
        items = s.picked[offset : offset + page_size]
        data: dict[str, Any] = {}
        if items:
            data["mediaItems"] = [self._item_json(s, item) for item in items]
        if offset + len(items) < len(s.picked):
            data["nextPageToken"] = self._page_token(sid, offset + len(items), page + 1)
        if self.page_transform is not None:
            data = self.page_transform(data)
        return self._api_json(request, data)

    def _item_json(self, s: SessionRecord, item: MediaItem) -> dict[str, Any]:
        """A PickedMediaItem with a fresh baseUrl; counts as one listing of the item."""
        status = item.current_status()
        item.times_listed += 1
        key = "AP1Gcz" + secrets.token_urlsafe(60)
        self._base_urls[key] = _BaseUrl(item, s, status, self.now() + self.base_url_ttl)
        meta: dict[str, Any] = {"width": item.width, "height": item.height}
        if item.camera_make:
            meta["cameraMake"] = item.camera_make
        if item.camera_model:
            meta["cameraModel"] = item.camera_model
        if item.type == "PHOTO":
            meta["photoMetadata"] = {
                "focalLength": 6.81,
                "apertureFNumber": 1.68,
                "isoEquivalent": 50,
                "exposureTime": "0.008s",
            }
        else:
            meta["videoMetadata"] = {"fps": item.fps}
            if status is not None:
                meta["videoMetadata"]["processingStatus"] = status
        return {
            "id": item.id,
            "createTime": _timestamp(item.create_time),
            "type": item.type,
            "mediaFile": {
                "baseUrl": f"{self.url}/lh3/ppa/{key}",
                "mimeType": item.mime_type,
                "filename": item.filename,
                "mediaFileMetadata": meta,
            },
        }

    # ----------------------------------------------------------------- pickerUri page (photos.google.com)

    def _picker_session(self, request: web.Request) -> SessionRecord | web.Response:
        s = self.sessions.get(request.match_info["sid"])
        if s is None or not self._picker_live(s):
            return _page(404, "Google Photos", "<p>This link is no longer valid. Go back to the app and try again.</p>")
        if self.consent.email != s.email:
            return _page(
                403,
                "Google Photos",
                f"<p>You're signed in as {html.escape(self.consent.email)}. "
                "Switch to the account that started this selection.</p>",
            )
        return s

    async def _picker_page(self, request: web.Request) -> web.Response:
        s = self._picker_session(request)
        if isinstance(s, web.Response):
            return s
        s.opened += 1
        return _picker_grid(s, self.library.get(s.email, []))

    async def _picker_thumb(self, request: web.Request) -> web.Response:
        """A tile of the picking grid (the page's own images, like photos.google.com's; not the API's baseUrl)."""
        s = self._picker_session(request)
        if isinstance(s, web.Response):
            return s
        item = next((i for i in self.library.get(s.email, []) if i.id == request.match_info["item"]), None)
        if item is None:
            raise web.HTTPNotFound()
        w, h = _fit(item.width, item.height, 256, 256, crop=False)
        body = await asyncio.to_thread(media_files.jpeg, w, h, 0, f"{item.seed}|tile")
        return web.Response(body=body.read_all(), content_type=body.content_type, headers=_NO_STORE)

    async def _picker_done(self, request: web.Request) -> web.Response:
        s = self._picker_session(request)
        if isinstance(s, web.Response):
            return s
        wanted = (await request.post()).getall("item", [])
        items = [i for i in self.library.get(s.email, []) if i.id in wanted]
        try:
            self.pick(s.id, items)
        except ValueError as exc:
            return _page(400, "Google Photos", f"<p>{html.escape(str(exc))}</p>")
        if request.path.endswith("/autoclose"):
            return _page(200, "Google Photos", "<script>window.close()</script>")
        return _page(200, "Google Photos", "<p>Done! Go back to the app to continue.</p>")

    # ----------------------------------------------------------------- media bytes (lh3)

    async def _media(self, request: web.Request) -> web.StreamResponse:
        key, sep, params = request.match_info["key"].partition("=")
        forbidden = _page(403, "Error 403 (Forbidden)!!1", "<p>Your client does not have permission.</p>")
        if not sep:
            self._violation(f"bare baseUrl requested (no =params): {request.path}")
            return _page(400, "Error 400 (Bad Request)!!1", "<p>Your client has issued a malformed request.</p>")
        base = self._base_urls.get(key)
        parsed = _parse_media_params(params)
        if base is None:
            return _page(404, "Error 404 (Not Found)!!1", "<p>The requested URL was not found.</p>")
        if parsed is None:
            return _page(400, "Error 400 (Bad Request)!!1", f"<p>Bad parameters: {html.escape(params)}</p>")
        raw = _bearer(request)
        if raw is None:
            self._violation(f"media request without Authorization: Bearer (={params})")
            return forbidden
        tok = self._live_access(raw)
        if tok is None:
            return _page(401, "Error 401 (Unauthorized)!!1", "<p>Invalid credentials.</p>")
        s, item = base.session, base.item
        if s.deleted:
            self._violation(f"baseUrl of deleted session {s.id} used (delete after downloading)")
        if (
            tok.grant.email != s.email
            or PICKER_SCOPE not in tok.scopes
            or s.deleted
            or self.now() >= min(base.expires_at, s.expire_at)
        ):
            return forbidden
        if self.media_redirect is not None and request.path.startswith("/lh3/ppa/"):  # ASSUMPTION: see the top
            hop = self.media_redirect == "google"
            where = f"{self.hop_url}/lh3/hop/" if hop else f"{self.elsewhere_url}/elsewhere/"
            return web.Response(status=302, headers={"Location": where + request.match_info["key"]})
        if parsed.video:
            if item.type != "VIDEO":
                return _page(404, "Error 404 (Not Found)!!1", "<p>No video for this item.</p>")
            if base.status in ("PROCESSING", "FAILED"):  # UNSPECIFIED or missing: see the ASSUMPTION at the top
                self._violation(f"=dv requested for video {item.id} listed with processingStatus {base.status}")
                return _page(404, "Error 404 (Not Found)!!1", "<p>The video is not ready.</p>")
            # =dv is "a high-quality transcode", an MP4 whatever the original was (Picker media-items guide).
            body = media_files.mp4(item.size, f"{item.seed}|dv", header=_transcode_header(item))
        elif parsed.width or parsed.height:
            # For a video too: "a thumbnail image of the video", a JPEG frame (Picker media-items guide).
            if not item.frame:
                return _page(404, "Error 404 (Not Found)!!1", "<p>The requested URL was not found.</p>")
            w, h = _fit(item.width, item.height, parsed.width, parsed.height, parsed.crop)
            estimate = item.size * w * h / (item.width * item.height) if item.type == "PHOTO" else w * h / 5
            body = await asyncio.to_thread(
                media_files.jpeg, w, h, max(_MIN_RENDITION, round(estimate)), f"{item.seed}|{w}x{h}"
            )
        elif item.type == "PHOTO":
            body = await asyncio.to_thread(
                media_files.original, item.mime_type, item.width, item.height, item.size, f"{item.seed}|d"
            )
        else:
            size = max(_MIN_RENDITION, item.width * item.height // 5)
            body = await asyncio.to_thread(media_files.jpeg, item.width, item.height, size, f"{item.seed}|d")
        return await self._stream(request, body, item, f"={params}")

    async def _elsewhere(self, request: web.Request) -> web.Response:
        """A host that is not Google's, where a media download was redirected: it serves some image, and a
        Google bearer token arriving here is a leak."""
        if _bearer(request) is not None:
            self._violation(f"Google bearer token sent to a host that is not Google's: {request.host}")
        body = await asyncio.to_thread(media_files.jpeg, 64, 64, _MIN_RENDITION, "elsewhere")
        return web.Response(body=body.read_all(), content_type=body.content_type)

    def _gzips(self, request: web.Request) -> bool:
        """Whether this media answer is gzip-encoded (``media_encoding``; the request's Accept-Encoding)."""
        if self.media_encoding == "gzip_if_accepted":
            return _accepts_gzip(request.headers.get("Accept-Encoding", ""))
        return self.media_encoding == "gzip"

    async def _stream(
        self, request: web.Request, body: media_files.MediaBody, item: MediaItem, suffix: str
    ) -> web.StreamResponse:
        """Send ``body`` with Content-Length (of the encoded body when gzipped), honouring holds, latency,
        bandwidth and pending cuts."""
        hold = self._holds.get(item.id)
        if hold is not None:
            await hold.wait()
        if self.media_latency:
            await asyncio.sleep(self.media_latency)
        bandwidth = self.media_bandwidth
        chunk_size = 256 * 1024 if not bandwidth else min(max(int(bandwidth / 20), 64 * 1024), 1024 * 1024)
        response = web.StreamResponse(headers={"Content-Type": body.content_type})
        digest = hashlib.sha256()
        chunks: Iterable[bytes] = body.chunks(chunk_size)
        if self._gzips(request):
            raw = await asyncio.to_thread(body.read_all)
            packed = await asyncio.to_thread(gzip.compress, raw)
            digest.update(raw)
            chunks = (packed[at : at + chunk_size] for at in range(0, len(packed), chunk_size))
            response.headers["Content-Encoding"] = "gzip"
            response.content_length = len(packed)
        else:
            response.content_length = body.size
        await response.prepare(request)
        cut = self._cuts.popleft() if self._cuts else None
        loop = asyncio.get_running_loop()
        sent, started = 0, loop.time()
        for chunk in chunks:
            if cut is not None and sent + len(chunk) > cut:
                await response.write(chunk[: cut - sent])
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write(chunk)
            if "Content-Encoding" not in response.headers:
                digest.update(chunk)
            sent += len(chunk)
            if bandwidth:
                await asyncio.sleep(max(0.0, started + sent / bandwidth - loop.time()))
        self.served.append(Served(item.id, suffix, body.size, digest.hexdigest(), body.content_type))
        await response.write_eof()
        return response
