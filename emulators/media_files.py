"""Deterministic, streamable media bodies for the Google emulator.

A body is a real file header (a Pillow-made JPEG/PNG/…, or ISO-BMFF ``ftyp``, ``moov`` and ``mdat`` boxes) plus
pseudo-random padding up to an exact byte size. The padding is a keystream made from the seed, so the bytes
depend only on the seed and never on how the stream is chunked, and a 40 MB video is never held in memory.
JPEG padding sits in COM segments before the scan, so the file stays a valid, fully decodable JPEG of the
stated dimensions.
"""

from __future__ import annotations

import functools
import hashlib
import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from PIL import Image

_COM_SEGMENT_MAX = 4 + 0xFFFF - 2  # marker (2) + length (2) + at most 65533 payload bytes
_PILLOW_FORMATS = {"image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
_HEIF_BRANDS = {"image/heic": b"heic", "image/heif": b"mif1", "image/avif": b"avif"}


class _RandomStream:
    """Endless deterministic byte stream, independent of the sizes asked for: the AES-CTR keystream of a key made
    from the seed. 3.7 GB/s on a benchmark machine, where random.Random.randbytes made 0.19 GB/s and the emulator's
    own CPU, not the links it models, then held back a crowd's downloads."""

    def __init__(self, seed: str) -> None:
        key = hashlib.sha256(seed.encode()).digest()
        self._keystream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()

    def take(self, n: int) -> bytes:
        return self._keystream.update(bytes(n))


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


@dataclass(frozen=True)
class VideoHeader:
    """What a video's ``moov`` box says, and where it sits in the file."""

    duration: float = 12.0  # seconds (mvhd, at a timescale of 1000)
    width: int = 1920  # the video track as shown, i.e. after ``rotation``
    height: int = 1080
    rotation: int = 0  # degrees clockwise, written as the track's matrix (tkhd)
    moov_at_end: bool = False  # after mdat, as encoders write it unless told to "fast start"
    wide_mdat: bool = False  # mdat with a 64-bit size even where 32 bits would do

    def __post_init__(self) -> None:
        if self.rotation not in _ROTATIONS:
            raise ValueError(f"rotation must be one of {sorted(_ROTATIONS)}")


_TIMESCALE = 1000
_ONE = 0x10000  # 1.0 in 16.16 fixed point
# (a, b, c, d) of the ISO-BMFF/QuickTime transformation matrix [a b u; c d v; x y w] per rotation.
_ROTATIONS = {0: (_ONE, 0, 0, _ONE), 90: (0, _ONE, -_ONE, 0), 180: (-_ONE, 0, 0, -_ONE), 270: (0, -_ONE, _ONE, 0)}


def _full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def _matrix(rotation: int, coded_width: int, coded_height: int) -> bytes:
    a, b, c, d = _ROTATIONS[rotation]
    x = coded_height if rotation == 90 else coded_width if rotation == 180 else 0
    y = coded_height if rotation == 180 else coded_width if rotation == 270 else 0
    return struct.pack(">9i", a, b, 0, c, d, 0, x * _ONE, y * _ONE, 0x40000000)


def _mvhd(ticks: int) -> bytes:
    if ticks > 0xFFFFFFFF:  # version 1: 64-bit times and duration
        times = struct.pack(">QQIQ", 0, 0, _TIMESCALE, ticks)
    else:
        times = struct.pack(">IIII", 0, 0, _TIMESCALE, ticks)
    rest = struct.pack(">IH10x", _ONE, 0x0100) + _matrix(0, 0, 0) + bytes(24) + struct.pack(">I", 3)
    return _full_box(b"mvhd", 1 if ticks > 0xFFFFFFFF else 0, 0, times + rest)


def _trak(track_id: int, ticks: int, handler: bytes, coded: tuple[int, int], rotation: int) -> bytes:
    video = handler == b"vide"
    tkhd = _full_box(
        b"tkhd",
        0,
        3,  # enabled, in movie
        struct.pack(">IIII", 0, 0, track_id, 0)
        + struct.pack(">I8xHHH2x", min(ticks, 0xFFFFFFFF), 0, 0, 0 if video else 0x0100)
        + _matrix(rotation, *coded)
        + struct.pack(">II", coded[0] * _ONE, coded[1] * _ONE),
    )
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, _TIMESCALE, min(ticks, 0xFFFFFFFF), 0x55C4, 0))
    hdlr = _full_box(b"hdlr", 0, 0, bytes(4) + handler + bytes(12) + b"Handler\x00")
    return _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr))


def _moov(header: VideoHeader) -> bytes:
    """An audio track first and then the video track, so a reader must look for the video one."""
    ticks = round(header.duration * _TIMESCALE)
    turned = header.rotation in (90, 270)
    coded = (header.height, header.width) if turned else (header.width, header.height)
    audio = _trak(1, ticks, b"soun", (0, 0), 0)
    return _box(b"moov", _mvhd(ticks) + audio + _trak(2, ticks, b"vide", coded, header.rotation))


def mp4(size: int, seed: str, content_type: str = "video/mp4", header: VideoHeader | None = VideoHeader()) -> MediaBody:
    """An ISO-BMFF video (``ftyp`` isom/qt, ``moov`` per ``header`` — none if None, an unreadable file —
    and ``mdat``) of exactly ``size`` bytes (or its minimal size if larger)."""
    if content_type == "video/quicktime":
        ftyp = _box(b"ftyp", b"qt  \x00\x00\x02\x00qt  ")
    else:
        ftyp = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2avc1mp41")
    moov = _moov(header) if header is not None else b""
    rest = size - len(ftyp) - len(moov)
    wide = (header is not None and header.wide_mdat) or rest > 0xFFFFFFFF
    if rest < (16 if wide else 8):
        return MediaBody(content_type, (ftyp, moov), seed)
    mdat = b"\x00\x00\x00\x01mdat" + rest.to_bytes(8, "big") if wide else rest.to_bytes(4, "big") + b"mdat"
    padding = rest - len(mdat)
    parts = (ftyp, mdat, padding, moov) if header is not None and header.moov_at_end else (ftyp, moov, mdat, padding)
    return MediaBody(content_type, parts, seed)


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
