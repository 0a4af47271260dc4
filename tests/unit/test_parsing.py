"""Pure logic: Picker API parsing, rendition plans, /pick arguments, summaries, retry delays."""

from __future__ import annotations

import pytest

from bot import texts
from bot.delivery.fetching import PHOTO_RENDITION, plan_for
from bot.google.picker import _item, parse_duration, parse_timestamp
from bot.google.retry import RetryPolicy, parse_retry_after
from handlers.picking import parse_max_items
from storage.picks import PickItem


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("5s", 5.0), ("1799.5s", 1799.5), ("0s", 0.0), ("0.000000001s", 1e-9), ("5", None), ("", None), (5, None)],
)
def test_duration(raw: object, seconds: float | None) -> None:
    assert parse_duration(raw) == seconds


def test_timestamp_accepts_nanoseconds_and_offsets() -> None:
    assert parse_timestamp("1970-01-01T00:00:10Z") == 10.0
    assert parse_timestamp("1970-01-01T00:00:10.123456789Z") == pytest.approx(10.123456)
    assert parse_timestamp("1970-01-01T01:00:10+01:00") == 10.0
    assert parse_timestamp("yesterday") is None


def test_item_parsing_is_defensive() -> None:
    assert _item({"id": "x"}) is None  # no baseUrl: nothing to fetch
    item = _item(
        {
            "id": "v1",
            "mediaFile": {
                "baseUrl": "https://lh3/x",
                "mimeType": "video/mp4",
                "mediaFileMetadata": {
                    "width": "1920",
                    "height": 1080,
                    "videoMetadata": {"processingStatus": "PROCESSING"},
                },
                "unexpected": {"nested": True},
            },
            "type": "SOMETHING_NEW",
        }
    )
    assert item is not None
    assert (item.type, item.width, item.height, item.filename) == ("VIDEO", 1920, 1080, "v1")
    assert item.processing_status == "PROCESSING"


def _photo(width: int | None, height: int | None, kind: str = "PHOTO") -> PickItem:
    return PickItem(0, "m", kind, "a.jpg", "image/jpeg", width, height)


def test_plans() -> None:
    assert plan_for(_photo(4032, 3024), originals=False).suffix == PHOTO_RENDITION
    assert plan_for(_photo(4032, 3024), originals=False).kind == "photo"
    assert (plan_for(_photo(4032, 3024), originals=True).suffix, plan_for(_photo(1, 1), True).kind) == (
        "=d",
        "document",
    )
    assert plan_for(_photo(21000, 1000), originals=False).kind == "document"  # ratio over 20
    assert plan_for(_photo(None, None), originals=False).kind == "photo"
    video = _photo(1920, 1080, "VIDEO")
    assert (plan_for(video, False).suffix, plan_for(video, False).kind) == ("=dv", "video")
    assert plan_for(video, True).kind == "document"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], None),
        (["3"], 3),
        (["2000"], 2000),
        (["0"], "usage"),
        (["5000"], "usage"),
        (["abc"], "usage"),
        (["-1"], "usage"),
        (["1", "2"], "usage"),
        (["٣"], "usage"),
        (["00003"], "usage"),
    ],
)
def test_pick_arguments(args: list[str], expected: object) -> None:
    assert parse_max_items(args, 2000) == expected


def test_summary_groups_reasons() -> None:
    text = texts.ENGLISH.summary(40, 38, {"over 50 MB": ["a.mp4 (61 MB)", "b.mp4 (70 MB)"]})
    assert text.splitlines() == ["✅ Delivered 38 of 40", "· 2 over 50 MB: a.mp4 (61 MB), b.mp4 (70 MB)"]
    assert texts.ENGLISH.summary(3, 3, {}) == "✅ Delivered all 3."
    assert texts.ENGLISH.summary(1, 1, {}) == "✅ Delivered 1 item."
    russian = texts.speaker("ru")  # three plural forms: 21 takes the form of 1, which keeps its number
    assert [russian.summary(n, n, {}) for n in (1, 3, 21)] == [
        "✅ Доставлено всё: 1 объект.",
        "✅ Доставлено всё: 3 объекта.",
        "✅ Доставлено всё: 21 объект.",
    ]
    many = texts.ENGLISH.summary(9, 0, {"x": [f"f{i}<" for i in range(9)]})
    assert "and 4 more" in many and "f0&lt;" in many


def test_retry_policy() -> None:
    policy = RetryPolicy(attempts=5, base_delay=0.5, max_delay=30)
    assert policy.delay(0, "3") == 3
    assert policy.delay(0, "999") == 30
    assert all(0 <= policy.delay(n) <= min(30, 0.5 * 2**n) for n in range(8))
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None


def test_qr_code_and_button_carry_the_plain_picker_uri() -> None:
    import io

    import qrcode
    from PIL import Image

    from bot.keyboards import prompt
    from bot.pick_messages import qr_png

    uri = "https://photos.google.com/picker/abc"
    png = qr_png(uri)
    assert Image.open(io.BytesIO(png)).format == "PNG"
    expected = qrcode.QRCode(border=2, box_size=8)
    expected.add_data(uri)
    expected.make(fit=True)
    image = Image.open(io.BytesIO(png)).convert("1")
    modules = expected.modules_count + 4
    assert image.size == (modules * 8, modules * 8)  # the QR of exactly this URI (no /autoclose suffix)
    # Google keeps /autoclose for web apps opening a browser tab, not for links a phone's Photos app opens.
    assert prompt(texts.ENGLISH, 7, uri).inline_keyboard[0][0].url == uri
