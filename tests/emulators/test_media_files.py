"""The Google emulator's media bodies: exact sizes, the same bytes however they are read, distinct per seed."""

from __future__ import annotations

import io

from PIL import Image

from emulators import media_files


def test_a_body_is_the_same_bytes_whatever_the_chunk_size() -> None:
    body = media_files.jpeg(2000, 1500, 1_240_000, "item-1")
    whole = body.read_all()
    assert len(whole) == body.size == 1_240_000
    for chunk_size in (7, 999, 64 * 1024, 800 * 1024, 2_000_000):  # 7: never on an AES block boundary (16)
        chunks = list(body.chunks(chunk_size))
        assert all(len(chunk) == chunk_size for chunk in chunks[:-1])
        assert b"".join(chunks) == whole


def test_padding_differs_per_seed_and_the_jpeg_still_decodes() -> None:
    first = media_files.jpeg(2000, 1500, 1_240_000, "item-1").read_all()
    second = media_files.jpeg(2000, 1500, 1_240_000, "item-2").read_all()
    assert first != second  # else the bot's "no repeats" would take them for one photo
    assert first[-200_000:] != second[-200_000:]
    with Image.open(io.BytesIO(first)) as image:
        image.load()
        assert image.size == (2000, 1500)
