"""Deterministic, streamable media bodies for the Google emulator.

A body is a real file header (a Pillow-made JPEG/PNG/…, or ISO-BMFF ``ftyp`` + ``mdat`` boxes) plus
pseudo-random padding up to an exact byte size. The padding comes from ``random.Random(seed)`` in fixed
64 KB blocks, so the bytes depend only on the seed and never on how the stream is chunked, and a 40 MB
video is never held in memory. JPEG padding sits in COM segments before the scan, so the file stays a
valid, fully decodable JPEG of the stated dimensions.
"""

from __future__ import annotations

import functools
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image

_RNG_BLOCK = 64 * 1024
_COM_SEGMENT_MAX = 4 + 0xFFFF - 2  # marker (2) + length (2) + at most 65533 payload bytes
_PILLOW_FORMATS = {"image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
_HEIF_BRANDS = {"image/heic": b"heic", "image/heif": b"mif1", "image/avif": b"avif"}


class _RandomStream:
    """Endless deterministic byte stream; independent of the sizes asked for."""

    def __init__(self, seed: str) -> None:
        self._rng = random.Random(seed)
        self._buf = bytearray()

    def take(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._buf += self._rng.randbytes(_RNG_BLOCK)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


@dataclass(frozen=True)
class MediaBody:
    """A media file as literal parts (bytes) and runs of pseudo-random bytes (int lengths)."""

    content_type: str
    parts: tuple[bytes | int, ...]
    seed: str

    @property
    def size(self) -> int:
        """Total length in bytes."""
        return sum(len(p) if isinstance(p, bytes) else p for p in self.parts)

    def chunks(self, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        """Yield the body in chunks of ``chunk_size`` bytes (the last one may be shorter)."""
        rng = _RandomStream(self.seed)
        buf = bytearray()
        for part in self.parts:
            left = part if isinstance(part, int) else 0
            if isinstance(part, bytes):
                buf += part
            while left or len(buf) >= chunk_size:
                if len(buf) >= chunk_size:
                    yield bytes(buf[:chunk_size])
                    del buf[:chunk_size]
                    continue
                n = min(left, chunk_size - len(buf))
                buf += rng.take(n)
                left -= n
        if buf:
            yield bytes(buf)

    def read_all(self) -> bytes:
        """The whole body (for tests and small files only)."""
        return b"".join(self.chunks())


@functools.lru_cache(maxsize=32)
def _solid_jpeg(width: int, height: int) -> tuple[bytes, bytes]:
    """A small solid-colour baseline JPEG split into (markers before SOS, SOS…EOI)."""
    buf = io.BytesIO()
    colour = (width * 7 % 256, height * 13 % 256, (width + height) % 256)
    Image.new("RGB", (width, height), colour).save(buf, "JPEG", quality=10, optimize=True, subsampling=2)
    data = buf.getvalue()
    pos = 2
    while data[pos + 1] != 0xDA:
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return data[:pos], data[pos:]


@functools.lru_cache(maxsize=32)
def _pillow_image(fmt: str, width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(buf, fmt)
    return buf.getvalue()


def _com_segments(total: int) -> tuple[list[int], int]:
    """Split ``total`` padding bytes into COM segment sizes (4..65537); returns (sizes, leftover)."""
    full, rest = divmod(total, _COM_SEGMENT_MAX)
    sizes = [_COM_SEGMENT_MAX] * full
    if rest >= 4:
        sizes.append(rest)
    elif rest and sizes:
        sizes[-1] -= 4
        sizes.append(rest + 4)
    else:
        return sizes, rest
    return sizes, 0


def jpeg(width: int, height: int, size: int, seed: str) -> MediaBody:
    """A valid JPEG of ``width``×``height`` padded to ``size`` bytes (or its minimal size if larger)."""
    head, tail = _solid_jpeg(width, height)
    sizes, leftover = _com_segments(max(0, size - len(head) - len(tail)))
    parts: list[bytes | int] = [head]
    for total in sizes:
        parts += [b"\xff\xfe" + (total - 2).to_bytes(2, "big"), total - 4]
    parts.append(tail)
    if leftover:
        parts.append(leftover)
    return MediaBody("image/jpeg", tuple(parts), seed)


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def _isobmff(content_type: str, brand: bytes, compatible: bytes, size: int, seed: str) -> MediaBody:
    """``ftyp`` box followed by one ``mdat`` box filling the file up to ``size``."""
    ftyp = _box(b"ftyp", brand + b"\x00\x00\x02\x00" + compatible)
    rest = size - len(ftyp)
    if rest < 8:
        return MediaBody(content_type, (ftyp,), seed)
    if rest <= 0xFFFFFFFF:
        return MediaBody(content_type, (ftyp, rest.to_bytes(4, "big") + b"mdat", rest - 8), seed)
    return MediaBody(content_type, (ftyp, b"\x00\x00\x00\x01mdat" + rest.to_bytes(8, "big"), rest - 16), seed)


def mp4(size: int, seed: str, content_type: str = "video/mp4") -> MediaBody:
    """An ISO-BMFF video (``ftyp`` isom/qt + ``mdat``) of exactly ``size`` bytes."""
    if content_type == "video/quicktime":
        return _isobmff(content_type, b"qt  ", b"qt  ", size, seed)
    return _isobmff(content_type, b"isom", b"isomiso2avc1mp41", size, seed)


def original(mime_type: str, width: int, height: int, size: int, seed: str) -> MediaBody:
    """The "original file" of a library item: a header matching ``mime_type`` padded to ``size``."""
    if mime_type == "image/jpeg":
        return jpeg(width, height, size, seed)
    if mime_type in _HEIF_BRANDS:
        brand = _HEIF_BRANDS[mime_type]
        return _isobmff(mime_type, brand, b"mif1" + brand, size, seed)
    if mime_type in _PILLOW_FORMATS:
        head = _pillow_image(_PILLOW_FORMATS[mime_type], width, height)
        return MediaBody(mime_type, (head, max(0, size - len(head))), seed)
    if mime_type.startswith("video/"):
        return mp4(size, seed, mime_type)
    return MediaBody(mime_type, (size,), seed)
