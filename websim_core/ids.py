"""Project IDs: Websim files every request under a project.

The seed made one up for every call, and so does WebsimClient unless given one. Clients written
later send one fixed ID of a real project instead (`WEBSIM_PROJECT_ID`); random ones may be part
of why the seed stopped being answered.
"""

import secrets
import string

_ALPHABET = string.digits + string.ascii_lowercase


def _random_text(length: int) -> str:
    # `secrets`, not `random`: IDs must not be guessable from earlier ones. One draw below
    # 36**length, written in base 36, is as uniform as drawing each character apart, and costs
    # one read of the system's random source instead of one or more per character.
    number = secrets.randbelow(len(_ALPHABET) ** length)
    digits = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        digits.append(_ALPHABET[digit])
    return "".join(digits)


def generate_project_id(for_image: bool = False) -> str:
    """A fresh project ID: 3+15 characters (`ke3_xh5gai3gjkmruomu`) for chat, 7+12 for images."""
    head, tail = (7, 12) if for_image else (3, 15)
    text = _random_text(head + tail)
    return f"{text[:head]}_{text[head:]}"
