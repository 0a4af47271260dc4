"""The Picker API sandbox: the Google emulator alone on a port, for developers of any Picker API client.

``python -m emulators.sandbox --port 8765`` serves Google OAuth (consent given at once as the signed-in test
user), OpenID userinfo, the Photos Picker API v1, media bytes at ``baseUrl`` and the picking page, exactly as
``emulators/google.py`` models them (its docstring lists where Google is documented and what is assumed),
plus a small HTTP control API at ``/_sandbox/…``, a thin layer over the emulator's Python controls:

- ``GET  /_sandbox/library``               the signed-in user's items (seeded at start)
- ``POST /_sandbox/consent``               who is signed in and what they answer on the consent screen
- ``POST /_sandbox/sessions/{id}/pick``    pick items and tap Done, without a browser
- ``POST /_sandbox/faults``                the next N calls of an endpoint fail with a status (and body)
- ``POST /_sandbox/clock``                 let time pass (tokens, codes, sessions, baseUrls expire)
- ``POST /_sandbox/settings``              poll interval, session timeout, page sparsity and kin
- ``GET  /_sandbox/calls``                 every call answered so far (control calls left out)
- ``GET  /_sandbox/violations``            what a client did that Google may tolerate but should not get

The OAuth client is one ``--client-id``/``--client-secret`` pair with the ``--redirect-uri`` values
registered for it; anything else is refused the way Google refuses it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from aiohttp import web

from emulators.google import ENDPOINTS, Consent, GoogleEmulator, MediaItem

DEFAULT_PORT = 8765
DEFAULT_CLIENT_ID = "sandbox-client.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
DEFAULT_REDIRECT_URI = "http://localhost:8080/oauth/callback"  # the bot's own default PUBLIC_URL
DEFAULT_EMAIL = "alice@example.com"

# What POST /_sandbox/settings may change (emulator attributes) and what each takes.
SETTINGS: dict[str, Literal["seconds", "count or null", "true or false"]] = {
    "poll_interval": "seconds",
    "session_timeout": "seconds",
    "session_lifetime": "seconds",
    "access_token_ttl": "seconds",
    "base_url_ttl": "seconds",
    "media_latency": "seconds",
    "max_live_sessions": "count or null",
    "sparse_pages": "true or false",
    "service_disabled": "true or false",
    "consent_page": "true or false",
}


def seed_library(google: GoogleEmulator, email: str) -> None:
    """A small library of photos and videos; their bytes are made on request from a seed (no files)."""
    google.add_photo(email, filename="beach.jpg", width=4032, height=3024, size=2_400_000)
    google.add_photo(email, filename="portrait.jpg", width=3024, height=4032, size=2_100_000)
    google.add_photo(email, filename="screenshot.png", mime_type="image/png", width=1080, height=2400, size=900_000)
    google.add_photo(email, filename="IMG_0042.HEIC", mime_type="image/heic", width=4032, height=3024, size=1_800_000)
    google.add_video(email, filename="waves.mp4", width=1920, height=1080, size=3_000_000, duration=8.0)
    google.add_video(
        email, filename="phone-clip.mov", mime_type="video/quicktime", width=1080, height=1920, size=2_000_000
    )


def _item_json(item: MediaItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "type": item.type,
        "filename": item.filename,
        "mimeType": item.mime_type,
        "width": item.width,
        "height": item.height,
        "size": item.size,
    }


def _reply(data: Any, status: int = 200) -> web.Response:
    """JSON ending in a newline, so that curl's output in a terminal stays readable."""
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d) + "\n")


class _Problem(Exception):
    """A control call that cannot be done as asked: answered with `status` and the message, nothing changed."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def _body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is ``{}``)."""
    text = await request.text()
    try:
        body = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise _Problem(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise _Problem("the body must be a JSON object")
    return body


def _number(value: Any, name: str, low: float = 0, high: float = math.inf, *, whole: bool = False) -> Any:
    """`value` if it is a finite JSON number from `low` to `high` (an integer when `whole`). JSON's true and
    false are no numbers, although Python's bool is an int; Python's json reads NaN and Infinity."""
    kinds = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high or value == math.inf:
        upper = "or more" if high == math.inf else f"to {high}"
        raise _Problem(f"{name} must be {'an integer' if whole else 'a number'} from {low} {upper}")
    return value


_Handler = Callable[[GoogleEmulator, web.Request, dict[str, Any]], Awaitable[web.Response]]


async def _library(google: GoogleEmulator, request: web.Request, body: dict[str, Any]) -> web.Response:
    email = request.query.get("email", google.consent.email)
    return _reply({"email": email, "items": [_item_json(i) for i in google.library.get(email, [])]})


async def _consent(google: GoogleEmulator, request: web.Request, body: dict[str, Any]) -> web.Response:
    email = body.get("email", google.consent.email)
    decision = body.get("decision", "allow")
    scopes = body.get("granted_scopes")
    if not isinstance(email, str) or "@" not in email:
        raise _Problem("email must be an address")
    if decision not in ("allow", "deny"):
        raise _Problem('decision must be "allow" or "deny"')
    if scopes is not None and not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
        raise _Problem("granted_scopes must be a list of scopes, or null for all that were asked")
    google.consent = Consent(email, decision, scopes)
    if email not in google.library:  # a new test user gets the same sample library
        seed_library(google, email)
    return _reply({"email": email, "decision": decision, "granted_scopes": scopes})


async def _pick(google: GoogleEmulator, request: web.Request, body: dict[str, Any]) -> web.Response:
    sid = request.match_info["sid"]
    session = google.sessions.get(sid)
    if session is None:
        raise _Problem(f"no session {sid}", 404)
    library = google.library.get(session.email, [])
    if "ids" in body:
        ids = body["ids"]
        by_id = {i.id: i for i in library}
        if not isinstance(ids, list) or not all(isinstance(i, str) and i in by_id for i in ids):
            raise _Problem(f"ids must list items of {session.email}'s library (GET /_sandbox/library)")
        items = [by_id[i] for i in ids]
    else:
        count = _number(
            body.get("count", min(len(library), session.max_item_count)), "count", 1, len(library), whole=True
        )
        items = library[:count]
    try:
        google.pick(sid, items)
    except ValueError as exc:  # not open (done, timed out, deleted) or too many items
        raise _Problem(str(exc), 409) from exc
    return _reply({"picked": [i.id for i in items]})


async def _faults(google: GoogleEmulator, request: web.Request, body: dict[str, Any]) -> web.Response:
    endpoint = body.get("endpoint")
    if endpoint not in ENDPOINTS:
        raise _Problem(f"endpoint must be one of {sorted(ENDPOINTS)}")
    status = _number(body.get("status", 503), "status", 400, 599, whole=True)
    times = _number(body.get("times", 1), "times", 1, 1000, whole=True)
    retry_after = body.get("retry_after")
    if retry_after is not None:
        _number(retry_after, "retry_after (whole seconds, or null)", whole=True)
    error_body = body.get("body")
    if error_body is not None and not isinstance(error_body, dict | str):
        raise _Problem("body must be a JSON object, a string, or null for Google's usual error")
    google.fail_next(endpoint, status, times, retry_after, error_body)
    queued = {"endpoint": endpoint, "status": status, "times": times, "retry_after": retry_after}
    return _reply({"queued": queued})


async def _clock(google: GoogleEmulator, request: web.Request, body: dict[str, Any]) -> web.Response:
    seconds = _number(body.get("advance"), "advance (seconds: time never goes back)", 0, 10**7)
    google.advance(seconds)
    return _reply({"advanced": seconds})


async def _settings(google: GoogleEmulator, request: web.Request, body: dict[str, Any]) -> web.Response:
    for name, value in body.items():
        if name not in SETTINGS:
            raise _Problem(f"unknown setting {name!r}; one of {sorted(SETTINGS)}")
        kind = SETTINGS[name]
        if kind == "true or false" and not isinstance(value, bool):
            raise _Problem(f"{name} must be true or false")
        if kind == "seconds" or (kind == "count or null" and value is not None):
            _number(value, name, whole=kind != "seconds")
    for name, value in body.items():
        setattr(google, name, value)
    return _reply({name: getattr(google, name) for name in SETTINGS})


async def _calls(google: GoogleEmulator, request: web.Request, body: dict[str, Any]) -> web.Response:
    started = google.requests[0].time if google.requests else google.now()
    calls = [
        {
            "endpoint": r.endpoint,
            "method": r.method,
            "path": r.path,
            "query": r.query,
            "bearer": r.had_bearer,
            "status": r.status,
            "at": round(r.time - started, 3),  # seconds on the emulator clock (advances included)
        }
        for r in google.requests
        if not r.path.startswith("/_sandbox/")
    ]
    return _reply(calls)


async def _violations(google: GoogleEmulator, request: web.Request, body: dict[str, Any]) -> web.Response:
    return _reply(google.violations)


def control_app(google: GoogleEmulator) -> web.Application:
    """The HTTP control API, to mount at ``/_sandbox``."""
    app = web.Application()

    def route(handler: _Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def wrapped(request: web.Request) -> web.Response:
            try:
                return await handler(google, request, await _body(request) if request.method == "POST" else {})
            except _Problem as problem:
                return _reply({"error": str(problem)}, problem.status)

        return wrapped

    app.router.add_get("/library", route(_library))
    app.router.add_post("/consent", route(_consent))
    app.router.add_post("/sessions/{sid}/pick", route(_pick))
    app.router.add_post("/faults", route(_faults))
    app.router.add_post("/clock", route(_clock))
    app.router.add_post("/settings", route(_settings))
    app.router.add_get("/calls", route(_calls))
    app.router.add_get("/violations", route(_violations))
    return app


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.sandbox", description="Google Photos Picker API sandbox (emulated Google)."
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="the one OAuth client accepted")
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET, help="its secret")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        help=f"a redirect URI registered for the client (repeatable; default {DEFAULT_REDIRECT_URI})",
    )
    parser.add_argument("--email", default=DEFAULT_EMAIL, help="the Google account signed in to the browser")
    parser.add_argument(
        "--consent-page", action="store_true", help="ask on a consent page (Allow / Cancel) instead of at once"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGINT or SIGTERM."""
    google = GoogleEmulator(args.client_id, args.client_secret, args.redirect_uris or [DEFAULT_REDIRECT_URI])
    google.consent = Consent(args.email)
    google.consent_page = args.consent_page
    seed_library(google, args.email)
    await google.start(args.port, control=control_app(google))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"Picker API sandbox on {google.url}", flush=True)
    print(f"  OAuth client: {google.client_id} / {google.client_secret}", flush=True)
    print(f"  redirect URIs: {' '.join(sorted(google.redirect_uris))}", flush=True)
    print(f"  signed in as: {google.consent.email} ({len(google.library[args.email])} items)", flush=True)
    try:
        await stop.wait()
    finally:
        await google.stop()


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
