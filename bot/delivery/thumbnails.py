"""Video thumbnails as Telegram takes them. Bot API, sendVideo.thumbnail: "JPEG format and less than 200 kB
in size. A thumbnail's width and height should not exceed 320." Anything else Telegram ignores."""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image

# A baseUrl with size parameters gives an image of the item, for a video a frame of it (Picker media-items
# guide); w and h bound the longer side, keeping the aspect ratio.
RENDITION = "=w320-h320"
MAX_BYTES = 199_999
MAX_SIDE = 320

log = logging.getLogger(__name__)


def keep_if_usable(path: Path) -> Path | None:
    """The file if Telegram will show it as a thumbnail; else it is removed."""
    if usable(path):
        return path
    log.info("Google's video frame %s is not a thumbnail Telegram takes", path.name)
    path.unlink(missing_ok=True)
    return None


def usable(path: Path) -> bool:
    """Whether the file is a thumbnail Telegram will show (reads the JPEG header only)."""
    try:
        if path.stat().st_size > MAX_BYTES:
            return False
        with Image.open(path, formats=["JPEG"]) as image:
            return max(image.size) <= MAX_SIDE
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False
