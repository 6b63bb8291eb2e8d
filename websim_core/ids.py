"""Project IDs: Websim files every request under a project, and anonymous callers make one up."""

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits


def _random_text(length: int) -> str:
    # `secrets`, not `random`: IDs must not be guessable from earlier ones.
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def generate_project_id(for_image: bool = False) -> str:
    """A fresh project ID: 3+15 characters (`ke3_xh5gai3gjkmruomu`) for chat, 7+12 for images."""
    if for_image:
        return f"{_random_text(7)}_{_random_text(12)}"
    return f"{_random_text(3)}_{_random_text(15)}"
