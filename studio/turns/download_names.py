"""Names for files people save: made from what they asked for, not from a hash."""

from __future__ import annotations

import re
import unicodedata

SLUG_CHARS = 40


def image_stem(prompt: str, aspect_ratio: str) -> str:
    """`websim-<first words of the prompt>-<ratio>`, such as `websim-a-lighthouse-at-dusk-16x9`."""
    ascii_text = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > SLUG_CHARS:
        # Cut at a word's end where there is one, so the name does not end mid-word.
        cut = slug[: SLUG_CHARS + 1].rfind("-")
        slug = slug[: cut if cut > 0 else SLUG_CHARS]
    return f"websim-{slug or 'image'}-{aspect_ratio.replace(':', 'x')}"
