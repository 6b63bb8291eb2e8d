"""The PNGs the emulator's image URLs point at: real files of the promised size, drawn from the
request so a demo's picture is recognisably the one asked for, and cheap to draw.

Each picture shows its aspect ratio and its prompt, wrapped, on a gradient with a few soft
shapes whose colours and places come from a hash of the prompt: the same prompt always gives
the same picture, and two prompts look different at a glance.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import io
import threading
from collections import OrderedDict

from PIL import Image, ImageChops, ImageDraw, ImageFont

from websim_core.catalog import ASPECT_RATIOS

# Past this a single request could make the emulator allocate hundreds of megabytes.
MAX_IMAGE_SIDE = 4096
# Image URLs carry a digest, not the prompt (a long prompt would not fit in a request line), so
# the prompts behind the latest digests are kept here for the picture to show.
REMEMBERED_PROMPTS = 256
# Below this the picture is too small to read: gradient and shapes only.
MIN_TEXT_SIDE = 96
# Found by Pillow in the system's font folders when installed.
SYSTEM_FONT = "DejaVuSans.ttf"
# More would be a wall of text; the rest of a long prompt ends in "…".
MAX_PROMPT_LINES = 5
# zlib's fastest level: a gradient still compresses well, and encoding is most of the time.
PNG_COMPRESS_LEVEL = 1

_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

_prompts: OrderedDict[str, str] = OrderedDict()
_prompts_lock = threading.Lock()  # the app's demo answers on one thread and draws on others


def prompt_digest(prompt: str) -> str:
    """A short stable name for a prompt, so the same prompt always yields the same URL.

    The prompt is remembered under it (the latest `REMEMBERED_PROMPTS`) so its picture can
    show it.
    """
    digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]
    with _prompts_lock:
        _prompts[digest] = prompt
        _prompts.move_to_end(digest)
        while len(_prompts) > REMEMBERED_PROMPTS:
            _prompts.popitem(last=False)
    return digest


def render_png(width: int, height: int, digest: str) -> bytes:
    """The picture for `digest` at `width` x `height`, encoded as PNG.

    Its prompt is shown when this emulator answered it recently; otherwise the picture shows
    only its ratio.
    """
    if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
        raise ValueError(f"image sides must be 1 to {MAX_IMAGE_SIDE} pixels")
    with _prompts_lock:
        prompt = _prompts.get(digest, "")
    return _render(width, height, digest, prompt)


def ratio_of(width: int, height: int) -> str:
    """The catalog's aspect ratio nearest to `width` x `height`."""
    return min(ASPECT_RATIOS, key=lambda ratio: abs(_value(ratio) - width / height))


@functools.lru_cache(maxsize=64)
def _render(width: int, height: int, digest: str, prompt: str) -> bytes:
    # Hashing the digest again lets any URL-safe name pick colours, not only our own hex digests.
    seed = hashlib.sha256(digest.encode("utf-8")).digest()
    image = _background(width, height, seed)
    draw = ImageDraw.Draw(image, "RGBA")  # RGBA fills blend onto the RGB picture
    _shapes(draw, width, height, seed)
    if min(width, height) >= MIN_TEXT_SIDE:
        _caption(draw, width, height, prompt)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def _value(ratio: str) -> float:
    width_part, height_part = (int(part) for part in ratio.split(":"))
    return width_part / height_part


def _colour(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


@functools.cache
def _diagonal_ramp() -> Image.Image:
    """A 256x256 ramp from the top-left corner to the bottom-right one."""
    down = Image.linear_gradient("L")
    return ImageChops.add(down, down.rotate(90), scale=2)


def _background(width: int, height: int, seed: bytes) -> Image.Image:
    """Two neighbouring hues, light at the top left and deeper at the bottom right."""
    hue = seed[0] / 255
    light = _colour(hue, 0.45 + seed[1] / 1275, 0.95)
    deep = _colour(hue + 0.08 + seed[2] / 1600, 0.7 + seed[3] / 1275, 0.55 + seed[4] / 1275)
    # A fixed ramp stretched (its 256 steps are finer than the eye sees), then each colour
    # channel mapped from it through a table: far cheaper than computing every pixel.
    ramp = _diagonal_ramp().resize((width, height), Image.Resampling.NEAREST)
    channels = [
        ramp.point([start + (end - start) * step // 255 for step in range(256)])
        for start, end in zip(light, deep, strict=True)
    ]
    return Image.merge("RGB", channels)


def _shapes(draw: ImageDraw.ImageDraw, width: int, height: int, seed: bytes) -> None:
    """Four translucent discs and rings, placed and coloured by the seed."""
    short = min(width, height)
    for index in range(4):
        byte = seed[8 + index * 5 : 13 + index * 5]
        centre_x = byte[0] / 255 * width
        centre_y = byte[1] / 255 * height
        radius = short * (0.12 + byte[2] / 255 * 0.35)
        red, green, blue = _colour(seed[0] / 255 + byte[3] / 1024, 0.35, 1.0)
        box = (centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius)
        if byte[4] % 3 == 0:
            ring = max(1, round(short / 60))
            draw.ellipse(box, outline=(red, green, blue, 110), width=ring)
        else:
            draw.ellipse(box, fill=(red, green, blue, 45 + byte[4] % 40))


def _caption(draw: ImageDraw.ImageDraw, width: int, height: int, prompt: str) -> None:
    """The ratio in a badge at the top left; the prompt, wrapped, on a card in the middle."""
    short = min(width, height)
    # Sized by area, so a wide or tall picture's text is not sized by its thin side alone.
    scale = (width * height) ** 0.5
    margin = round(short * 0.06)
    badge_font = _font(max(10, round(scale * 0.06)))
    ratio = ratio_of(width, height)
    _, _, right, bottom = draw.textbbox((0, 0), ratio, font=badge_font)
    pad = round(short * 0.02)
    draw.rounded_rectangle(
        (margin, margin, margin + right + 2 * pad, margin + bottom + 2 * pad),
        radius=pad * 2,
        fill=(0, 0, 0, 110),
    )
    draw.text((margin + pad, margin + pad), ratio, font=badge_font, fill="white")

    words = prompt.split()
    if not words:
        return
    size = max(9, round(scale * 0.05))
    font = _font(size)
    line_height = round(size * 1.3)
    text_width = width - 4 * margin
    badge_room = margin + bottom + 3 * pad
    max_lines = min(MAX_PROMPT_LINES, max(1, (height - 2 * badge_room) // line_height))
    lines = _wrapped(words, size, text_width, max_lines)
    block_height = line_height * len(lines)
    block_width = max(_length(line, size) for line in lines)
    top_y = (height - block_height) // 2
    draw.rounded_rectangle(
        (
            (width - block_width) / 2 - margin,
            top_y - margin // 2,
            (width + block_width) / 2 + margin,
            top_y + block_height + margin // 2,
        ),
        radius=margin,
        fill=(0, 0, 0, 95),
    )
    for number, line in enumerate(lines):
        y = top_y + number * line_height + (line_height - size) // 2
        draw.text((width / 2, y), line, font=font, fill="white", anchor="mt")


def _wrapped(words: list[str], size: int, width: float, max_lines: int) -> list[str]:
    """`words` in lines at most `width` wide; past `max_lines` the last line ends with "…".

    Stops reading once the lines are full, so a 4,000-character prompt costs no more than a
    short one.
    """
    lines: list[str] = []
    line = ""
    for word in words:
        # A word wider than a line is cut to fit rather than overflowing the picture.
        while _length(word, size) > width and len(word) > 1:
            word = word[: max(1, len(word) * 3 // 4)]
        candidate = f"{line} {word}" if line else word
        if _length(candidate, size) <= width:
            line = candidate
            continue
        lines.append(line)
        line = word
        if len(lines) == max_lines:
            break
    else:
        lines.append(line)
        return lines
    last = lines[-1]
    while last and _length(last + " …", size) > width:
        last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
    lines[-1] = f"{last} …" if last else "…"
    return lines


def _length(text: str, size: int) -> float:
    """How wide `text` is drawn at `size`: the sum of its letters' widths (kerning aside), each
    measured once, since measuring a whole line with FreeType costs as much as drawing it."""
    return sum(_advance(letter, size) for letter in text)


@functools.lru_cache(maxsize=4096)
def _advance(letter: str, size: int) -> float:
    return _font(size).getlength(letter)


@functools.cache
def _font(size: int) -> _Font:
    # DejaVu where the system has it (most Linux desktops and CI images): it draws accents and
    # most scripts. Pillow's bundled font otherwise, so the emulator needs nothing installed.
    try:
        return ImageFont.truetype(SYSTEM_FONT, size)
    except OSError:
        return ImageFont.load_default(size)
