"""What Websim offers: model names, aspect ratios and the API paths.

The chat body carries no model name, so these lists are the client's own catalogue: choosing
a model here decides nothing upstream today, but callers and the UI need one honest list.
"""

from typing import Final, Literal

Kind = Literal["chat", "image"]

DEFAULT_CHAT_MODEL: Final = "gemini-1.5-pro"
DEFAULT_IMAGE_MODEL: Final = "flux"
CHAT_MODELS: Final[tuple[str, ...]] = (DEFAULT_CHAT_MODEL, "gemini-1.5-flash")
IMAGE_MODELS: Final[tuple[str, ...]] = (DEFAULT_IMAGE_MODEL,)

# The ratios Flux-family image APIs accept; Websim's image endpoint is one of them.
ASPECT_RATIOS: Final[tuple[str, ...]] = (
    "1:1",
    "16:9",
    "9:16",
    "4:3",
    "3:4",
    "3:2",
    "2:3",
    "4:5",
    "5:4",
    "21:9",
    "9:21",
)
DEFAULT_ASPECT_RATIO: Final = "1:1"

DEFAULT_BASE_URL: Final = "https://websim.ai"
CHAT_PATH: Final = "/api/v1/inference/run_chat_completion"
IMAGE_PATH: Final = "/api/v1/inference/run_image_generation"
API_PATHS: Final[dict[Kind, str]] = {"chat": CHAT_PATH, "image": IMAGE_PATH}


def aspect_ratio_size(aspect_ratio: str, long_side: int = 1024) -> tuple[int, int]:
    """Width and height in pixels for `aspect_ratio`, the longer side `long_side` long."""
    width_part, height_part = (int(part) for part in aspect_ratio.split(":"))
    if width_part >= height_part:
        return long_side, round(long_side * height_part / width_part)
    return round(long_side * width_part / height_part), long_side
