"""websim_core: an async client for Websim's chat and image API, and an emulator of it."""

from .attempts import AttemptRecord
from .catalog import ASPECT_RATIOS, CHAT_MODELS, IMAGE_MODELS
from .client import WebsimClient
from .errors import (
    ConfigurationError,
    InvalidRequestError,
    RateLimitError,
    ResponseFormatError,
    UpstreamError,
    UpstreamPausedError,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
)
from .guard import GuardState, UpstreamGuard
from .headers import build_headers
from .ids import generate_project_id
from .image_fetch import FetchedImage, ImageFetcher
from .progress import Progress
from .provider import Websim
from .replies import ImageResponse
from .retry import RetryPolicy
from .settings import Settings

__all__ = [
    "ASPECT_RATIOS",
    "CHAT_MODELS",
    "IMAGE_MODELS",
    "AttemptRecord",
    "ConfigurationError",
    "FetchedImage",
    "GuardState",
    "ImageFetcher",
    "ImageResponse",
    "InvalidRequestError",
    "Progress",
    "RateLimitError",
    "ResponseFormatError",
    "RetryPolicy",
    "Settings",
    "UpstreamError",
    "UpstreamGuard",
    "UpstreamPausedError",
    "Websim",
    "WebsimClient",
    "WebsimConnectionError",
    "WebsimError",
    "WebsimTimeoutError",
    "build_headers",
    "generate_project_id",
]
