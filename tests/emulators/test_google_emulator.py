"""Tests of the Google emulator, driven the way the bot drives Google: authlib + httpx."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from PIL import Image

from emulators.google import PICKER_SCOPE, Consent, GoogleEmulator, MediaItem
from tests.emulators.conftest import CLIENT_ID, REDIRECT, SECRET

SCOPES = f"openid email {PICKER_SCOPE}"
ALICE = "alice@example.com"


def oauth_client(scope: str = SCOPES) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(CLIENT_ID, SECRET, scope=scope, redirect_uri=REDIRECT, code_challenge_method="S256")


async def authorize(
    g: GoogleEmulator, http: httpx.AsyncClient, client: AsyncOAuth2Client
) -> tuple[dict[str, str], str]:
    """Open the consent URL like a browser; returns the callback query and the PKCE verifier."""
    verifier = generate_token(48)
    url, state = client.create_authorization_url(
        g.auth_url,
        state=generate_token(20),
        code_verifier=verifier,
        access_type="offline",
        prompt="consent",
    )
    response = await http.get(url)
    assert response.status_code == 302, response.text
    location = httpx.URL(response.headers["location"])
    assert str(location).split("?")[0] == REDIRECT
    params = dict(location.params)
    assert params["state"] == state
    return params, verifier


async def link(g: GoogleEmulator, http: httpx.AsyncClient, scope: str = SCOPES) -> dict[str, Any]:
    """Full web-server flow; returns the token response."""
    async with oauth_client(scope) as client:
        params, verifier = await authorize(g, http, client)
        token: dict[str, Any] = await client.fetch_token(
            g.token_url, code=params["code"], code_verifier=verifier, redirect_uri=REDIRECT
        )
        return token


def bearer(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['access_token']}"}


async def new_session(
    g: GoogleEmulator, http: httpx.AsyncClient, token: dict[str, Any], body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await http.post(f"{g.picker_api_url}/sessions", json=body or {}, headers=bearer(token))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def list_all(
    g: GoogleEmulator, http: httpx.AsyncClient, token: dict[str, Any], sid: str, page_size: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Page through mediaItems.list; returns items and the number of pages."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"sessionId": sid} | ({"pageSize": page_size} if page_size else {})
    pages = 0
    while True:
        response = await http.get(f"{g.picker_api_url}/mediaItems", params=params, headers=bearer(token))
        assert response.status_code == 200, response.text
        pages += 1
        data = response.json()
        items += data.get("mediaItems", [])
        if "nextPageToken" not in data:
            return items, pages
        params["pageToken"] = data["nextPageToken"]


async def picked_session(
    g: GoogleEmulator, http: httpx.AsyncClient, items: list[MediaItem]
) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    """Link, create a session, pick ``items`` and list them."""
    token = await link(g, http)
    sid = (await new_session(g, http, token))["id"]
    g.pick(sid, items)
    listed, _ = await list_all(g, http, token, sid)
    return token, sid, listed


# ----------------------------------------------------------------------------- OAuth


async def test_full_oauth_flow_refresh_userinfo_and_revoke(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    async with oauth_client() as client:
        params, verifier = await authorize(google, http, client)
        assert params["code"].startswith("4/")
        assert set(params["scope"].split()) == {
            "openid",
            "https://www.googleapis.com/auth/userinfo.email",
            PICKER_SCOPE,
        }
        token = await client.fetch_token(
            google.token_url, code=params["code"], code_verifier=verifier, redirect_uri=REDIRECT
        )
        assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
        assert PICKER_SCOPE in token["scope"].split() and token["refresh_token"] and token["id_token"].count(".") == 2

        info = await http.get(google.userinfo_url, headers=bearer(token))
        assert info.status_code == 200
        assert info.json()["email"] == ALICE and info.json()["email_verified"] is True and info.json()["sub"]

        refreshed = await client.refresh_token(google.token_url, refresh_token=token["refresh_token"])
        assert refreshed["access_token"] != token["access_token"]
        assert refreshed["refresh_token"] == token["refresh_token"]  # kept by authlib: Google sends none

        revoked = await client.revoke_token(google.revoke_url, token=refreshed["access_token"])
        assert revoked.status_code == 200 and revoked.json() == {}
        with pytest.raises(OAuthError, match="invalid_grant"):
            await client.refresh_token(google.token_url, refresh_token=token["refresh_token"])
        assert (await http.get(google.userinfo_url, headers=bearer(refreshed))).status_code == 401
        again = await client.revoke_token(google.revoke_url, token=token["refresh_token"])
        assert again.status_code == 400 and again.json()["error"] == "invalid_token"
    assert [r.endpoint for r in google.requests][:2] == ["authorize", "token"]
    secrets = google.issued_secrets()
    assert params["code"] in secrets and token["refresh_token"] in secrets and refreshed["access_token"] in secrets
    google.assert_no_violations()


async def test_authorize_rejects_bad_client_redirect_and_scope(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    base = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPES,
        "state": "s",
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
    }
    cases = [
        ({"redirect_uri": "http://127.0.0.1:1/other"}, 400, "redirect_uri_mismatch"),
        ({"client_id": "nope"}, 401, "invalid_client"),
        ({"scope": "openid https://www.googleapis.com/auth/bogus"}, 400, "invalid_scope"),
        ({"response_type": "token"}, 400, "unsupported_response_type"),
    ]
    for override, status, error in cases:
        response = await http.get(google.auth_url, params=base | override)
        assert response.status_code == status and error in response.text
        assert "location" not in response.headers


async def test_pkce_mismatch_reused_code_and_client_auth(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    async with oauth_client() as client:
        params, _ = await authorize(google, http, client)
        with pytest.raises(OAuthError, match="Invalid code verifier"):
            await client.fetch_token(
                google.token_url, code=params["code"], code_verifier=generate_token(48), redirect_uri=REDIRECT
            )
        params, verifier = await authorize(google, http, client)
        await client.fetch_token(google.token_url, code=params["code"], code_verifier=verifier, redirect_uri=REDIRECT)
        with pytest.raises(OAuthError, match="invalid_grant"):
            await client.fetch_token(
                google.token_url, code=params["code"], code_verifier=verifier, redirect_uri=REDIRECT
            )
        reused = await http.post(
            google.token_url,
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "code_verifier": verifier,
                "redirect_uri": REDIRECT,
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
            },
        )
        assert reused.status_code == 400 and reused.json() == {
            "error": "invalid_grant",
            "error_description": "Bad Request",
        }

    params, verifier = await authorize(google, http, oauth_client())
    form = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "code_verifier": verifier,
        "redirect_uri": REDIRECT,
    }
    wrong = await http.post(google.token_url, data=form, auth=(CLIENT_ID, "wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    params, verifier = await authorize(google, http, oauth_client())
    form |= {
        "code": params["code"],
        "code_verifier": verifier,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    post_auth = await http.post(google.token_url, data=form)  # client_secret_post
    assert post_auth.status_code == 200 and "access_token" in post_auth.json()
    google.assert_no_violations()


async def test_missing_pkce_and_state_are_violations(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    response = await http.get(
        google.auth_url,
        params={"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code", "scope": SCOPES},
    )
    assert response.status_code == 302 and "code=" in response.headers["location"]
    assert len(google.violations) == 2


async def test_denied_consent_redirects_with_access_denied(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    google.consent = Consent(email=ALICE, decision="deny")
    params, _ = await authorize(google, http, oauth_client())
    assert params["error"] == "access_denied" and "code" not in params


async def test_unticked_picker_scope_gives_403_on_picker(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    google.consent = Consent(email=ALICE, granted_scopes={"openid", "email"})
    token = await link(google, http)
    assert PICKER_SCOPE not in token["scope"].split()
    response = await http.post(f"{google.picker_api_url}/sessions", json={}, headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": 403,
        "message": "Request had insufficient authentication scopes.",
        "status": "PERMISSION_DENIED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "domain": "googleapis.com",
                "metadata": {
                    "service": "photospicker.googleapis.com",
                    "method": "google.photos.picker.v1.PickingService.CreateSession",
                },
            }
        ],
    }


async def test_a_disabled_picker_api_answers_service_disabled(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    token = await link(google, http)
    google.service_disabled = True
    for response in (
        await http.post(f"{google.picker_api_url}/sessions", json={}, headers=bearer(token)),
        await http.get(f"{google.picker_api_url}/sessions/whatever", headers=bearer(token)),
    ):
        error = response.json()["error"]
        assert response.status_code == 403 and error["status"] == "PERMISSION_DENIED"
        assert "has not been used in project" in error["message"]
        [info] = [d for d in error["details"] if d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"]
        assert info["reason"] == "SERVICE_DISABLED" and info["metadata"]["service"] == "photospicker.googleapis.com"
    google.service_disabled = False
    assert (await http.post(f"{google.picker_api_url}/sessions", json={}, headers=bearer(token))).status_code == 200


async def test_the_projects_quota_is_counted_over_any_minute_and_going_over_it_is_a_violation(
    google: GoogleEmulator, http: httpx.AsyncClient
) -> None:
    token = await link(google, http)
    google.picker_requests_per_minute = 3
    url = f"{google.picker_api_url}/sessions"
    assert (await http.post(url, json={}, headers=bearer(token))).status_code == 200
    google.advance(30)
    for _ in range(2):
        assert (await http.post(url, json={}, headers=bearer(token))).status_code == 200
    refused = await http.post(url, json={}, headers=bearer(token))
    assert refused.status_code == 429 and refused.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert [d["reason"] for d in refused.json()["error"]["details"]] == ["RATE_LIMIT_EXCEEDED"]
    assert google.violations == ["sessions.create: over the project's 3 Picker API requests a minute"]
    google.violations.clear()
    google.advance(30)  # the first has left the last 60 s; the refused one never counted
    assert (await http.post(url, json={}, headers=bearer(token))).status_code == 200
    assert (await http.post(url, json={}, headers=bearer(token))).status_code == 429
    google.violations.clear()


async def test_revoked_grant_and_expired_access_token(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    token = await link(google, http)
    google.expire_access_tokens()
    expired = await http.post(f"{google.picker_api_url}/sessions", json={}, headers=bearer(token))
    assert expired.status_code == 401 and expired.json()["error"]["status"] == "UNAUTHENTICATED"
    google.revoke_grant(ALICE)
    async with oauth_client() as client:
        with pytest.raises(OAuthError, match="Token has been expired or revoked"):
            await client.refresh_token(google.token_url, refresh_token=token["refresh_token"])


async def test_refresh_token_only_at_first_consent_without_prompt(
    google: GoogleEmulator, http: httpx.AsyncClient
) -> None:
    await link(google, http)
    async with oauth_client() as client:
        verifier = generate_token(48)
        url, _ = client.create_authorization_url(
            google.auth_url, state="s", code_verifier=verifier, access_type="offline"
        )
        code = httpx.URL((await http.get(url)).headers["location"]).params["code"]
        token = await client.fetch_token(google.token_url, code=code, code_verifier=verifier, redirect_uri=REDIRECT)
    assert "refresh_token" not in token


async def test_prompt_none_userinfo_scopes_and_no_photos_account(
    google: GoogleEmulator, http: httpx.AsyncClient
) -> None:
    query = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code", "state": "s"}
    query |= {"scope": SCOPES, "code_challenge": "x" * 43, "code_challenge_method": "S256", "prompt": "none"}
    silent = await http.get(google.auth_url, params=query)
    assert httpx.URL(silent.headers["location"]).params["error"] == "consent_required"
    picker_only = await link(google, http, scope=PICKER_SCOPE)
    assert "id_token" not in picker_only
    assert (await http.get(google.userinfo_url, headers=bearer(picker_only))).status_code == 401
    silent = await http.get(google.auth_url, params=query | {"scope": PICKER_SCOPE})
    assert "code" in httpx.URL(silent.headers["location"]).params
    google.no_photos_account.add(ALICE)
    refused = await http.post(f"{google.picker_api_url}/sessions", json={}, headers=bearer(picker_only))
    assert refused.status_code == 400 and refused.json()["error"]["status"] == "FAILED_PRECONDITION"
    google.assert_no_violations()


# ----------------------------------------------------------------------------- Picker sessions


async def test_session_lifecycle_and_poll_pacing(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    google.poll_interval = 0.05
    photo = google.add_photo(ALICE)
    token = await link(google, http)
    created = await new_session(google, http, token, {"pickingConfig": {"maxItemCount": "5000"}})
    assert created["pickerUri"] == f"{google.url}/picker/{created['id']}"
    assert created["pollingConfig"]["pollInterval"] == "0.050s"
    assert 1799 < float(created["pollingConfig"]["timeoutIn"].rstrip("s")) <= 1800
    assert created["pickingConfig"] == {"maxItemCount": "2000"} and created["mediaItemsSet"] is False
    assert created["expireTime"].endswith("Z")
    record = await google.wait_for_session(lambda s: s.email == ALICE)
    url = f"{google.picker_api_url}/sessions/{record.id}"

    for _ in range(2):  # paced polls: no violation
        assert (await http.get(url, headers=bearer(token))).json()["mediaItemsSet"] is False
        await asyncio.sleep(0.06)
    await http.get(url, headers=bearer(token))
    await http.get(url, headers=bearer(token))  # too fast
    assert len(google.violations) == 1 and "polled" in google.violations[0]
    google.violations.clear()

    early = await http.get(
        f"{google.picker_api_url}/mediaItems", params={"sessionId": record.id}, headers=bearer(token)
    )
    assert early.status_code == 400 and early.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert google.violations and "before mediaItemsSet" in google.violations[0]
    google.violations.clear()

    google.pick(record.id, [photo])
    await asyncio.sleep(0.06)
    done = (await http.get(url, headers=bearer(token))).json()
    assert done["mediaItemsSet"] is True and "pollingConfig" not in done
    with pytest.raises(ValueError):
        google.pick(record.id, [photo])  # the pickerUri is dead after Done
    assert len(record.polls) == 5

    deleted = await http.delete(url, headers=bearer(token))
    assert deleted.status_code == 200 and deleted.json() == {}
    assert record.deleted
    assert (await http.get(url, headers=bearer(token))).status_code == 404
    gone = await http.get(f"{google.picker_api_url}/mediaItems", params={"sessionId": record.id}, headers=bearer(token))
    assert gone.status_code == 404 and gone.json()["error"]["status"] == "NOT_FOUND"
    google.assert_no_violations()


async def test_session_of_other_user_is_not_found(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    alice = await link(google, http)
    sid = (await new_session(google, http, alice))["id"]
    google.consent = Consent(email="bob@example.com")
    bob = await link(google, http)
    assert (await http.get(f"{google.picker_api_url}/sessions/{sid}", headers=bearer(bob))).status_code == 404
    assert (await http.get(f"{google.picker_api_url}/sessions/{sid}")).status_code == 401


async def test_timeout_and_expiry(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    google.access_token_ttl = 10_000
    google.add_photo(ALICE)
    token = await link(google, http)
    sid = (await new_session(google, http, token))["id"]
    google.advance(1800)
    polled = (await http.get(f"{google.picker_api_url}/sessions/{sid}", headers=bearer(token))).json()
    assert polled["pollingConfig"]["timeoutIn"] == "0s" and polled["mediaItemsSet"] is False
    with pytest.raises(ValueError):
        google.pick(sid, google.library[ALICE])
    google.advance(10)
    await http.get(f"{google.picker_api_url}/sessions/{sid}", headers=bearer(token))
    assert google.violations == [f'session {sid} polled again after timeoutIn "0s"']
    google.advance(1800)
    assert (await http.get(f"{google.picker_api_url}/sessions/{sid}", headers=bearer(token))).status_code == 404


async def test_create_validation(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    token = await link(google, http)
    url = f"{google.picker_api_url}/sessions"
    assert (await new_session(google, http, token, {"pickingConfig": {"maxItemCount": 7}}))["pickingConfig"] == {
        "maxItemCount": "7"
    }
    for body in (
        {"bogus": 1},
        {"pickingConfig": {"maxItemCount": "x"}},
        {"pickingConfig": {"maxItemCount": -1}},
    ):
        bad = await http.post(url, json=body, headers=bearer(token))
        assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT", body
    assert (await http.post(url, params={"requestId": "nope"}, json={}, headers=bearer(token))).status_code == 400
    google.max_live_sessions = 2
    exhausted = await http.post(url, json={}, headers=bearer(token))
    assert exhausted.status_code == 200
    exhausted = await http.post(url, json={}, headers=bearer(token))
    assert exhausted.status_code == 429 and exhausted.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "details" not in exhausted.json()["error"]  # no quota reason: not the project's quota


# ----------------------------------------------------------------------------- mediaItems.list


async def test_list_pagination_order_and_shapes(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    photos = [google.add_photo(ALICE) for _ in range(119)]
    video = google.add_video(ALICE)
    token, sid, listed = await picked_session(google, http, [*photos, video])
    assert [i["id"] for i in listed] == [i.id for i in [*photos, video]]
    first = listed[0]
    assert first["type"] == "PHOTO" and first["createTime"].endswith("Z")
    meta = first["mediaFile"]["mediaFileMetadata"]
    assert meta["width"] == 4032 and meta["height"] == 3024 and "photoMetadata" in meta
    assert listed[-1]["mediaFile"]["mediaFileMetadata"]["videoMetadata"]["processingStatus"] == "READY"

    items, pages = await list_all(google, http, token, sid, page_size=50)
    assert len(items) == 120 and pages == 3
    items, pages = await list_all(google, http, token, sid, page_size=500)
    assert pages == 2  # clamped to 100
    google.sparse_pages = True
    items, pages = await list_all(google, http, token, sid, page_size=50)
    assert [i["id"] for i in items] == [i["id"] for i in listed] and pages == 6
    url = f"{google.picker_api_url}/mediaItems"
    for params in (
        {"sessionId": sid, "pageSize": "-1"},
        {"sessionId": sid, "pageToken": "garbage"},
        {"sessionId": sid, "foo": "1"},
    ):
        bad = await http.get(url, params=params, headers=bearer(token))
        assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    google.assert_no_violations()

    wrong = await http.get(f"{google.picker_api_url}/sessions/{sid}/mediaItems", headers=bearer(token))
    assert wrong.status_code == 404 and len(google.violations) == 1


# ----------------------------------------------------------------------------- media bytes


async def test_photo_original_and_rendition(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    photo = google.add_photo(ALICE, filename="IMG_1.JPG", size=3_000_000)
    token, _, listed = await picked_session(google, http, [photo])
    base = listed[0]["mediaFile"]["baseUrl"]

    original = await http.get(f"{base}=d", headers=bearer(token))
    assert original.status_code == 200 and original.headers["content-type"] == "image/jpeg"
    assert len(original.content) == 3_000_000 == int(original.headers["content-length"])
    assert Image.open(io.BytesIO(original.content)).size == (4032, 3024)
    again = await http.get(f"{base}=d", headers=bearer(token))
    assert again.content == original.content

    small = await http.get(f"{base}=w2560-h2560", headers=bearer(token))
    assert Image.open(io.BytesIO(small.content)).size == (2560, 1920)
    assert 8192 <= len(small.content) < 3_000_000
    assert Image.open(io.BytesIO((await http.get(f"{base}=h300", headers=bearer(token))).content)).size == (
        400,
        300,
    )
    crop = await http.get(f"{base}=w100-h100-c", headers=bearer(token))
    assert Image.open(io.BytesIO(crop.content)).size == (100, 100)
    huge = await http.get(f"{base}=w9000-h9000", headers=bearer(token))
    assert Image.open(io.BytesIO(huge.content)).size == (4032, 3024)  # never upscaled

    assert [s.suffix for s in google.served] == [
        "=d",
        "=d",
        "=w2560-h2560",
        "=h300",
        "=w100-h100-c",
        "=w9000-h9000",
    ]
    assert google.served[0].sha256 == hashlib.sha256(original.content).hexdigest()
    google.assert_no_violations()


async def test_video_processing_then_ready(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    video = google.add_video(ALICE, filename="VID_1.mp4", size=2_000_000, ready_after_lists=1)
    token, sid, listed = await picked_session(google, http, [video])
    assert listed[0]["mediaFile"]["mediaFileMetadata"]["videoMetadata"]["processingStatus"] == "PROCESSING"
    not_ready = await http.get(listed[0]["mediaFile"]["baseUrl"] + "=dv", headers=bearer(token))
    assert not_ready.status_code == 404 and len(google.violations) == 1
    google.violations.clear()

    listed, _ = await list_all(google, http, token, sid)
    assert listed[0]["mediaFile"]["mediaFileMetadata"]["videoMetadata"]["processingStatus"] == "READY"
    base = listed[0]["mediaFile"]["baseUrl"]
    ready = await http.get(f"{base}=dv", headers=bearer(token))
    assert ready.status_code == 200 and ready.headers["content-type"] == "video/mp4"
    assert len(ready.content) == 2_000_000 and ready.content[4:8] == b"ftyp"
    thumb = await http.get(f"{base}=w512-h512", headers=bearer(token))
    assert thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size == (512, 288)
    google.assert_no_violations()


async def test_failed_unspecified_and_missing_processing_status(
    google: GoogleEmulator, http: httpx.AsyncClient
) -> None:
    failed = google.add_video(ALICE, size=100_000, processing_status="FAILED")
    unspecified = google.add_video(ALICE, size=100_000, processing_status="UNSPECIFIED")
    missing = google.add_video(ALICE, size=100_000, processing_status=None)
    token, _, listed = await picked_session(google, http, [failed, unspecified, missing])
    statuses = [item["mediaFile"]["mediaFileMetadata"]["videoMetadata"].get("processingStatus") for item in listed]
    assert statuses == ["FAILED", "UNSPECIFIED", None]
    bases = [item["mediaFile"]["baseUrl"] for item in listed]
    for base in bases[1:]:
        assert (await http.get(f"{base}=dv", headers=bearer(token))).status_code == 200
    google.assert_no_violations()
    assert (await http.get(f"{bases[0]}=dv", headers=bearer(token))).status_code == 404
    assert google.violations == [f"=dv requested for video {failed.id} listed with processingStatus FAILED"]


async def test_media_gzip_when_asked_or_always(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    token, _, listed = await picked_session(google, http, [google.add_video(ALICE, size=300_000)])
    url = listed[0]["mediaFile"]["baseUrl"] + "=dv"
    plain = await http.get(url, headers={**bearer(token), "Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers  # identity by default
    google.media_encoding = "gzip_if_accepted"
    identity = await http.get(url, headers={**bearer(token), "Accept-Encoding": "identity"})
    assert "content-encoding" not in identity.headers and identity.content == plain.content
    refused = await http.get(url, headers={**bearer(token), "Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers
    packed = await http.get(url, headers={**bearer(token), "Accept-Encoding": "gzip, deflate"})
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(plain.content)  # gzip's length, not the media's
    assert packed.content == plain.content  # httpx decoded it
    google.media_encoding = "gzip"
    forced = await http.get(url, headers={**bearer(token), "Accept-Encoding": "identity"})
    assert forced.headers["content-encoding"] == "gzip" and forced.content == plain.content
    assert {(s.size, s.sha256) for s in google.served} == {(300_000, hashlib.sha256(plain.content).hexdigest())}


async def test_media_redirects_to_another_google_host_or_elsewhere(
    google: GoogleEmulator, http: httpx.AsyncClient
) -> None:
    token, _, listed = await picked_session(google, http, [google.add_photo(ALICE, size=100_000)])
    url = listed[0]["mediaFile"]["baseUrl"] + "=d"
    google.media_redirect = "google"
    hop = await http.get(url, headers=bearer(token))
    assert hop.status_code == 302 and hop.headers["location"].startswith(google.hop_url + "/lh3/hop/")
    assert (await http.get(hop.headers["location"])).status_code == 403  # the bearer is needed there too
    assert (await http.get(hop.headers["location"], headers=bearer(token))).status_code == 200
    google.violations.clear()
    google.media_redirect = "elsewhere"
    away = await http.get(url, headers=bearer(token))
    assert away.status_code == 302 and away.headers["location"].startswith(google.elsewhere_url + "/elsewhere/")
    assert (await http.get(away.headers["location"])).status_code == 200
    google.assert_no_violations()
    await http.get(away.headers["location"], headers=bearer(token))
    assert google.violations == ["Google bearer token sent to a host that is not Google's: " + google.elsewhere_url[7:]]


async def test_media_access_rules(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    token, sid, listed = await picked_session(google, http, [google.add_photo(ALICE, size=100_000)])
    base = listed[0]["mediaFile"]["baseUrl"]
    assert (await http.get(f"{base}=d")).status_code == 403
    assert (await http.get(base, headers=bearer(token))).status_code == 400
    assert len(google.violations) == 2
    google.violations.clear()
    assert (await http.get(f"{base}=d", headers={"Authorization": "Bearer nope"})).status_code == 401

    google.expire_base_urls()
    assert (await http.get(f"{base}=d", headers=bearer(token))).status_code == 403
    listed, _ = await list_all(google, http, token, sid)
    fresh = listed[0]["mediaFile"]["baseUrl"]
    assert (await http.get(f"{fresh}=d", headers=bearer(token))).status_code == 200

    google.expire_access_tokens()
    assert (await http.get(f"{fresh}=d", headers=bearer(token))).status_code == 401
    async with oauth_client() as client:
        token = await client.refresh_token(google.token_url, refresh_token=token["refresh_token"])
    await http.delete(f"{google.picker_api_url}/sessions/{sid}", headers=bearer(token))
    assert (await http.get(f"{fresh}=d", headers=bearer(token))).status_code == 403
    assert google.violations and "deleted session" in google.violations[0]


async def test_fail_next_with_retry_after(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    token = await link(google, http)
    google.fail_next("sessions.create", status=429, retry_after=3)
    url = f"{google.picker_api_url}/sessions"
    failed = await http.post(url, json={}, headers=bearer(token))
    assert failed.status_code == 429 and failed.headers["retry-after"] == "3"
    assert failed.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert [d["reason"] for d in failed.json()["error"]["details"]] == ["RATE_LIMIT_EXCEEDED"]  # project quota
    google.advance(3)
    assert (await http.post(url, json={}, headers=bearer(token))).status_code == 200
    google.assert_no_violations()

    google.fail_next("token", status=503, times=2, retry_after=1)
    async with oauth_client() as client:
        for _ in range(2):
            with pytest.raises(httpx.HTTPStatusError):
                await client.refresh_token(google.token_url, refresh_token=token["refresh_token"])
        assert google.violations and "Retry-After" in google.violations[0]
        assert (await client.refresh_token(google.token_url, refresh_token=token["refresh_token"]))["access_token"]
    assert [r.status for r in google.requests if r.endpoint == "token"][-3:] == [503, 503, 200]


async def test_retry_after_binds_the_request_retried_not_others_on_their_way(
    google: GoogleEmulator, http: httpx.AsyncClient
) -> None:
    token = await link(google, http)
    url = f"{google.picker_api_url}/sessions"
    first = (await http.post(url, json={}, headers=bearer(token))).json()["id"]
    second = (await http.post(url, json={}, headers=bearer(token))).json()["id"]
    google.fail_next("sessions.get", status=429, retry_after=2)
    assert (await http.get(f"{url}/{first}", headers=bearer(token))).status_code == 429
    # Another session's poll was already on its way: not a retry.
    assert (await http.get(f"{url}/{second}", headers=bearer(token))).status_code == 200
    google.assert_no_violations()
    await http.get(f"{url}/{first}", headers=bearer(token))  # the same request again, too early
    assert any("Retry-After" in v for v in google.violations)


async def test_cut_media_latency_and_bandwidth(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    token, _, listed = await picked_session(google, http, [google.add_video(ALICE, size=1_000_000)])
    url = listed[0]["mediaFile"]["baseUrl"] + "=dv"
    google.cut_next_media(300_000)
    with pytest.raises(httpx.RemoteProtocolError):
        await http.get(url, headers=bearer(token))
    assert google.served == []
    google.media_latency, google.media_bandwidth = 0.1, 4_000_000
    started = time.monotonic()
    whole = await http.get(url, headers=bearer(token))
    assert time.monotonic() - started >= 0.3 and len(whole.content) == 1_000_000
    await google.wait_for(lambda: bool(google.served))  # recorded once the server has finished writing
    assert google.served[0].sha256 == hashlib.sha256(whole.content).hexdigest()


async def test_api_latency_delays_every_picker_call(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    token = await link(google, http)
    google.api_latency = 0.2
    started = time.monotonic()
    session = await new_session(google, http, token)
    await http.get(f"{google.picker_api_url}/sessions/{session['id']}", headers=bearer(token))
    assert time.monotonic() - started >= 0.4
    google.assert_no_violations()


# ----------------------------------------------------------------------------- picker page and waiting


async def test_picker_page_done_and_autoclose(google: GoogleEmulator, http: httpx.AsyncClient) -> None:
    photos = [google.add_photo(ALICE) for _ in range(3)]
    token = await link(google, http)
    session = await new_session(google, http, token)
    page = await http.get(session["pickerUri"])
    assert page.status_code == 200 and photos[0].filename in page.text

    google.consent = Consent(email="bob@example.com")
    assert (await http.get(session["pickerUri"])).status_code == 403
    google.consent = Consent(email=ALICE)

    waiter = asyncio.create_task(google.wait_for(lambda: google.sessions[session["id"]].media_items_set))
    done = await http.post(session["pickerUri"] + "/autoclose", data={"item": [photos[2].id, photos[0].id]})
    assert done.status_code == 200 and "window.close" in done.text
    await waiter
    assert google.sessions[session["id"]].picked == [photos[0], photos[2]]
    assert google.sessions[session["id"]].opened == 1
    assert (await http.get(session["pickerUri"])).status_code == 404  # dead after Done

    with pytest.raises(TimeoutError):
        await google.wait_for(lambda: False, timeout=0.05)
