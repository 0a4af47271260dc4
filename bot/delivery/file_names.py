"""A file's name that says what its bytes are: Google's `=dv` of IMG_1234.MOV is an MP4, and a photo's
sized rendition is a JPEG whatever the original was, so the original name would lie about them."""

from __future__ import annotations

from pathlib import Path

HEAD = 12  # enough for every signature below
# Extensions that already name each kind of bytes correctly (the first is the one given).
_EXTENSIONS = {
    "jpeg": (".jpg", ".jpeg", ".jpe"),
    "png": (".png",),
    "gif": (".gif",),
    "webp": (".webp",),
    "heic": (".heic", ".heif", ".hif"),
    "avif": (".avif",),
    "mov": (".mov", ".qt"),
    "mp4": (".mp4", ".m4v"),
}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def sniff(head: bytes) -> str | None:
    """The kind of file these first bytes start, or None when it is none we name."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":  # ISO base media file: the major brand tells which
        brand = head[8:12]
        if brand == b"qt  ":
            return "mov"
        if brand in (b"avif", b"avis"):
            return "avif"
        return "heic" if brand in _HEIF_BRANDS else "mp4"
    return None


def matching_name(filename: str, head: bytes) -> str:
    """`filename` with the extension of the bytes it names (kept when it already fits or the bytes are
    unknown)."""
    kind = sniff(head)
    if kind is None:
        return filename
    extensions = _EXTENSIONS[kind]
    stem, dot, suffix = filename.rpartition(".")
    if not (dot and stem):  # no extension ("IMG_1234", ".hidden")
        stem, suffix = filename, ""
    if f".{suffix}".lower() in extensions:
        return filename
    return stem + extensions[0]


def name_for_file(filename: str, path: Path) -> str:
    with path.open("rb") as file:
        return matching_name(filename, file.read(HEAD))
