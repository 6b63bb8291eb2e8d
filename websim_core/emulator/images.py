"""The PNGs the emulator's image URLs point at: real files of the promised size, cheap to draw."""

from __future__ import annotations

import functools
import hashlib
import io

from PIL import Image

# Past this a single request could make the emulator allocate hundreds of megabytes.
MAX_IMAGE_SIDE = 4096


def prompt_digest(prompt: str) -> str:
    """A short stable name for a prompt, so the same prompt always yields the same URL."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


@functools.lru_cache(maxsize=64)
def render_png(width: int, height: int, digest: str) -> bytes:
    """A top-to-bottom gradient between two colours picked by `digest`, encoded as PNG."""
    if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
        raise ValueError(f"image sides must be 1 to {MAX_IMAGE_SIDE} pixels")
    # Hashing the digest again lets any URL-safe name pick colours, not only our own hex digests.
    seed = hashlib.sha256(digest.encode("utf-8")).digest()
    top = (seed[0], seed[1], seed[2])
    bottom = (seed[3], seed[4], seed[5])
    size = (width, height)
    # linear_gradient is a fixed 256x256 ramp; resizing it is far cheaper than drawing per row.
    mask = Image.linear_gradient("L").resize(size)
    image = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
