"""The Picker API sandbox: its README examples run as written against `python -m emulators.sandbox`, and its
control API refuses bad input without changing anything."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import shlex
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from emulators.google import GoogleEmulator
from emulators.sandbox import control_app, seed_library
from tests.harness import ROOT, free_port

README_PORT = "8765"


def readme_blocks() -> list[str]:
    """The bash blocks of the README's "Picker API sandbox" section, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Picker API sandbox\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def test_the_readme_names_the_port_it_is_started_on() -> None:
    start, *examples = readme_blocks()
    assert start.startswith("python -m emulators.sandbox ") and f"--port {README_PORT}" in start
    assert examples and f"SANDBOX=http://127.0.0.1:{README_PORT}" in examples[0]


async def test_readme_examples_run_as_written(tmp_path: Path) -> None:
    for tool in ("curl", "jq"):
        assert shutil.which(tool), f"{tool} is needed to run the README's sandbox examples (.ci/run installs it)"
    start, *examples = readme_blocks()
    port = str(free_port())
    argv = shlex.split(start.replace(f"--port {README_PORT}", f"--port {port}"))
    assert argv[:3] == ["python", "-m", "emulators.sandbox"]
    sandbox = await asyncio.create_subprocess_exec(
        sys.executable, *argv[1:], cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        assert sandbox.stdout is not None
        first = await asyncio.wait_for(sandbox.stdout.readline(), 30)
        assert first.decode().strip() == f"Picker API sandbox on http://127.0.0.1:{port}"
        script = "\n".join(examples).replace(f":{README_PORT}", f":{port}")
        run = await asyncio.create_subprocess_exec(
            "bash", "-euo", "pipefail", "-c", script, cwd=tmp_path, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(run.communicate(), 60)
    finally:
        sandbox.terminate()
        await sandbox.wait()
    text = out.decode()
    assert run.returncode == 0, text
    lines = text.splitlines()
    assert lines[0] == "alice@example.com"  # userinfo with the token from the code exchange
    assert lines[1].startswith('{"picked": [') and lines[1].count("AF1Qip") == 5
    assert lines[2] == "true"  # mediaItemsSet
    assert lines[3:8] == [
        "PHOTO\timage/jpeg\tbeach.jpg",
        "PHOTO\timage/jpeg\tportrait.jpg",
        "PHOTO\timage/png\tscreenshot.png",
        "PHOTO\timage/heic\tIMG_0042.HEIC",
        "VIDEO\tvideo/mp4\twaves.mp4",
    ]
    with Image.open(tmp_path / "original.jpg") as original:
        assert (original.format, original.size) == ("JPEG", (4032, 3024))
    assert (tmp_path / "original.jpg").stat().st_size == 2_400_000
    with Image.open(tmp_path / "small.jpg") as small:
        assert (small.format, small.size) == ("JPEG", (512, 384))
    video = (tmp_path / "video.mp4").read_bytes()
    assert video[4:8] == b"ftyp" and len(video) == 3_000_000
    assert lines[8].startswith('{"queued": {"endpoint": "sessions.get", "status": 503')
    assert lines[9] == "503"
    assert lines[10] == '{"advanced": 5}'
    assert lines[11] == "200"  # sessions.delete
    calls = lines[12:-3]
    assert calls[:4] == [
        "302 GET /o/oauth2/v2/auth",
        "200 POST /token",
        "200 GET /v1/userinfo",
        "200 POST /v1/sessions",
    ]
    assert calls[-2:] == [f"503 GET /v1/sessions/{calls[-1].split('/')[-1]}", calls[-1]]
    assert calls[-1].startswith("200 DELETE /v1/sessions/")
    assert sum(c.startswith("200 GET /lh3/ppa/") for c in calls) == 3
    assert lines[-3] == "[]"  # no violations
    assert lines[-2:] == ["200", "401"]  # revoked: the token no longer works


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[GoogleEmulator, httpx.AsyncClient]]:
    google = GoogleEmulator()
    seed_library(google, google.consent.email)
    await google.start(control=control_app(google))
    async with httpx.AsyncClient(base_url=google.url + "/_sandbox", timeout=10) as client:
        yield google, client
    await google.stop()


async def test_control_api_refuses_bad_input_and_changes_nothing(
    sandbox: tuple[GoogleEmulator, httpx.AsyncClient],
) -> None:
    google, http = sandbox
    bad = [
        ("/faults", '{"endpoint": "nope"}'),
        ("/faults", '{"endpoint": "token", "status": 200}'),
        ("/faults", '{"endpoint": "token", "times": 0}'),
        ("/faults", '{"endpoint": "token", "retry_after": "soon"}'),
        ("/faults", "[1, 2]"),
        ("/faults", "not json"),
        ("/clock", '{"advance": -5}'),
        ("/clock", '{"advance": true}'),
        ("/settings", '{"poll_interval": "fast"}'),
        ("/settings", '{"poll_interval": 1, "url": "http://elsewhere"}'),
        ("/settings", '{"service_disabled": 1}'),
        ("/settings", '{"poll_interval": NaN}'),
        ("/settings", '{"session_timeout": Infinity}'),
        ("/settings", '{"max_live_sessions": 1.5}'),
        ("/settings", '{"max_live_sessions": -1}'),
        ("/faults", '{"endpoint": "token", "retry_after": -5}'),
        ("/faults", '{"endpoint": "token", "times": 2.5}'),
        ("/sessions/unknown/pick", '{"ids": [{"not": "an id"}]}'),
        ("/consent", '{"decision": "maybe"}'),
        ("/consent", '{"email": 5}'),
        ("/sessions/unknown/pick", "{}"),
    ]
    before = (google.now(), google.poll_interval, google.consent, dict(google._failures))
    for path, body in bad:
        response = await http.post(path, content=body)
        assert response.status_code in (400, 404), (path, body, response.text)
        assert response.json()["error"], (path, body)
    assert (google.poll_interval, google.consent, dict(google._failures)) == before[1:]
    assert google.now() - before[0] < 5  # the clock did not move on


async def test_pick_without_a_browser_then_the_picker_is_closed(
    sandbox: tuple[GoogleEmulator, httpx.AsyncClient],
) -> None:
    google, http = sandbox
    google.add_photo("bob@example.com")
    async with httpx.AsyncClient() as client:
        code = await _code(client, google)
        token = (await client.post(google.token_url, data=_exchange(google, code))).json()["access_token"]
        created = await client.post(google.picker_api_url + "/sessions", headers={"Authorization": f"Bearer {token}"})
    sid = created.json()["id"]
    library = (await http.get("/library")).json()["items"]
    assert len(library) == 6
    foreign = google.library["bob@example.com"][0].id
    for ids in ([foreign], [{"id": foreign}], foreign):
        refused = await http.post(f"/sessions/{sid}/pick", json={"ids": ids})
        assert refused.status_code == 400 and not google.sessions[sid].media_items_set
    picked = await http.post(f"/sessions/{sid}/pick", json={"ids": [library[4]["id"], library[0]["id"]]})
    assert picked.json() == {"picked": [library[4]["id"], library[0]["id"]]}
    again = await http.post(f"/sessions/{sid}/pick", json={"count": 1})
    assert again.status_code == 409 and "not open" in again.json()["error"]
    assert [i.filename for i in google.sessions[sid].picked] == ["waves.mp4", "beach.jpg"]


async def test_consent_and_settings_reach_the_emulator(sandbox: tuple[GoogleEmulator, httpx.AsyncClient]) -> None:
    google, http = sandbox
    consent = await http.post("/consent", json={"email": "carol@example.com", "decision": "deny"})
    assert consent.status_code == 200
    assert (google.consent.email, google.consent.decision) == ("carol@example.com", "deny")
    assert len((await http.get("/library")).json()["items"]) == 6  # a new account gets the samples
    async with httpx.AsyncClient() as client:
        denied = await client.get(google.auth_url, params=_authorize(google))
    assert "error=access_denied" in denied.headers["location"]
    settings = await http.post("/settings", json={"poll_interval": 0.5, "max_live_sessions": 2, "consent_page": True})
    assert settings.json()["poll_interval"] == 0.5 and google.max_live_sessions == 2
    unlimited = await http.post("/settings", json={"max_live_sessions": None})
    assert unlimited.status_code == 200 and google.max_live_sessions is None
    async with httpx.AsyncClient() as client:
        page = await client.get(google.auth_url, params=_authorize(google))
    assert page.status_code == 200 and 'id="allow"' in page.text


REDIRECT = "http://localhost:8080/oauth/callback"
VERIFIER = "v" * 43


def _authorize(google: GoogleEmulator) -> dict[str, str]:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
    google.redirect_uris.add(REDIRECT)
    return {
        "client_id": google.client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid email https://www.googleapis.com/auth/photospicker.mediaitems.readonly",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


async def _code(client: httpx.AsyncClient, google: GoogleEmulator) -> str:
    location = (await client.get(google.auth_url, params=_authorize(google))).headers["location"]
    return str(httpx.URL(location).params["code"])


def _exchange(google: GoogleEmulator, code: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": VERIFIER,
        "redirect_uri": REDIRECT,
        "client_id": google.client_id,
        "client_secret": google.client_secret,
    }
