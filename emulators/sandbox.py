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
from typing import Any

from aiohttp import web

from emulators.google import ENDPOINTS, Consent, GoogleEmulator, MediaItem

DEFAULT_PORT = 8765
DEFAULT_CLIENT_ID = "sandbox-client.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
DEFAULT_REDIRECT_URI = "http://localhost:8080/oauth/callback"  # the bot's own default PUBLIC_URL
DEFAULT_EMAIL = "alice@example.com"

# What POST /_sandbox/settings may change (emulator attributes) and the JSON types each takes.
SETTINGS: dict[str, type | tuple[type, ...]] = {
    "poll_interval": (int, float),
    "session_timeout": (int, float),
    "session_lifetime": (int, float),
    "access_token_ttl": (int, float),
    "base_url_ttl": (int, float),
    "media_latency": (int, float),
    "max_live_sessions": (int, type(None)),
    "sparse_pages": bool,
    "service_disabled": bool,
    "consent_page": bool,
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


def _problem(status: int, message: str) -> web.Response:
    return _reply({"error": message}, status)


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    """The request's JSON object (an empty body is ``{}``), or a 400 answer saying what is wrong."""
    text = await request.text()
    try:
        body = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        return _problem(400, f"the body is not JSON: {exc}")
    return body if isinstance(body, dict) else _problem(400, "the body must be a JSON object")


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int | web.Response:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return _problem(400, f"{name} must be an integer from {low} to {high}")
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
        return _problem(400, "email must be an address")
    if decision not in ("allow", "deny"):
        return _problem(400, 'decision must be "allow" or "deny"')
    if scopes is not None and not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
        return _problem(400, "granted_scopes must be a list of scopes, or null for all that were asked")
    google.consent = Consent(email, decision, scopes)
    if email not in google.library:  # a new test user gets the same sample library
        seed_library(google, email)
    return _reply({"email": email, "decision": decision, "granted_scopes": scopes})


async def _pick(google: GoogleEmulator, request: web.Request, body: dict[str, Any]) -> web.Response:
    sid = request.match_info["sid"]
    session = google.sessions.get(sid)
    if session is None:
        return _problem(404, f"no session {sid}")
    library = google.library.get(session.email, [])
    if "ids" in body:
        ids = body["ids"]
        by_id = {i.id: i for i in library}
        if not isinstance(ids, list) or not all(isinstance(i, str) and i in by_id for i in ids):
            return _problem(400, f"ids must list items of {session.email}'s library (GET /_sandbox/library)")
        items = [by_id[i] for i in ids]
    else:
        count = _int(body, "count", min(len(library), session.max_item_count), 1, len(library))
        if isinstance(count, web.Response):
            return count
        items = library[:count]
    try:
        google.pick(sid, items)
    except ValueError as exc:  # not open (done, timed out, deleted) or too many items
        return _problem(409, str(exc))
    return _reply({"picked": [i.id for i in items]})


async def _faults(google: GoogleEmulator, request: web.Request, body: dict[str, Any]) -> web.Response:
    endpoint = body.get("endpoint")
    if endpoint not in ENDPOINTS:
        return _problem(400, f"endpoint must be one of {sorted(ENDPOINTS)}")
    status = _int(body, "status", 503, 400, 599)
    times = _int(body, "times", 1, 1, 1000)
    retry_after = body.get("retry_after")
    error_body = body.get("body")
    if isinstance(status, web.Response):
        return status
    if isinstance(times, web.Response):
        return times
    if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int)):
        return _problem(400, "retry_after must be whole seconds, or null")
    if error_body is not None and not isinstance(error_body, dict | str):
        return _problem(400, "body must be a JSON object, a string, or null for Google's usual error")
    google.fail_next(endpoint, status, times, retry_after, error_body)
    queued = {"endpoint": endpoint, "status": status, "times": times, "retry_after": retry_after}
    return _reply({"queued": queued})


async def _clock(google: GoogleEmulator, request: web.Request, body: dict[str, Any]) -> web.Response:
    seconds = body.get("advance")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 10**7:
        return _problem(400, "advance must be a number of seconds from 0 (time never goes back)")
    google.advance(seconds)
    return _reply({"advanced": seconds})


async def _settings(google: GoogleEmulator, request: web.Request, body: dict[str, Any]) -> web.Response:
    for name, value in body.items():
        if name not in SETTINGS:
            return _problem(400, f"unknown setting {name!r}; one of {sorted(SETTINGS)}")
        kind = SETTINGS[name]
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            return _problem(400, f"{name} has the wrong type")
        if isinstance(value, int | float) and not 0 <= value < math.inf:
            return _problem(400, f"{name} must be a finite number, 0 or more")
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
            body = await _body(request) if request.method == "POST" else {}
            return body if isinstance(body, web.Response) else await handler(google, request, body)

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
