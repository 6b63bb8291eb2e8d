"""The app's settings from WEBSIM_STUDIO_* variables, and the one-sentence failure messages."""

from __future__ import annotations

import pytest

from studio.config import DEFAULT_CONCURRENCY, StudioSettings
from studio.failures import describe_failure
from websim_core import (
    ConfigurationError,
    InvalidRequestError,
    RateLimitError,
    ResponseFormatError,
    UpstreamError,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
)


def test_defaults_are_generous_and_the_secret_random() -> None:
    first, second = StudioSettings.from_env({}), StudioSettings.from_env({})

    assert first.concurrency == DEFAULT_CONCURRENCY >= 256
    assert first.queue_size > first.concurrency
    assert first.requests_per_minute == 20
    assert not first.browser_secret_is_fixed and first.browser_secret != second.browser_secret


def test_variables_override_the_defaults() -> None:
    settings = StudioSettings.from_env(
        {
            "WEBSIM_STUDIO_CONCURRENCY": "64",
            "WEBSIM_STUDIO_QUEUE_SIZE": "100",
            "WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "0",
            "WEBSIM_STUDIO_MAX_IMAGE_MB": "5",
            "WEBSIM_STUDIO_SECRET": "s3cret",
        }
    )

    assert (settings.concurrency, settings.queue_size) == (64, 100)
    assert (settings.requests_per_minute, settings.max_image_mb) == (0, 5)
    assert settings.browser_secret == "s3cret" and settings.browser_secret_is_fixed


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEBSIM_STUDIO_CONCURRENCY", "lots", "must be a whole number, not 'lots'"),
        ("WEBSIM_STUDIO_CONCURRENCY", "0", "must be at least 1, not 0"),
        ("WEBSIM_STUDIO_REQUESTS_PER_MINUTE", "-1", "must be at least 0, not -1"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{name} {message}$"):
        StudioSettings.from_env({name: value})


BASE = "https://websim.ai"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            UpstreamError("Websim answered 403 Forbidden: a Cloudflare challenge page", status=403),
            "Websim answered 403 Forbidden: a Cloudflare challenge page. Websim refused this "
            "server; an operator can set WEBSIM_EXTRA_HEADERS (for example a cookie) or point "
            "WEBSIM_BASE_URL at a reachable endpoint.",
        ),
        (
            UpstreamError("Websim answered 401 Unauthorized", status=401),
            "Websim answered 401 Unauthorized. Websim refused this server; an operator can set "
            "WEBSIM_EXTRA_HEADERS (for example a cookie) or point WEBSIM_BASE_URL at a reachable "
            "endpoint.",
        ),
        (
            WebsimConnectionError("could not connect to websim.ai: Name or service not known"),
            "Websim cannot be reached at https://websim.ai: Could not connect to websim.ai: Name "
            "or service not known. An operator can set WEBSIM_BASE_URL, or WEBSIM_PROXY if this "
            "server needs a proxy.",
        ),
        (
            WebsimTimeoutError("Websim did not answer within 120 s"),
            "Websim did not answer within 120 s. An operator can raise WEBSIM_TIMEOUT or check "
            "WEBSIM_BASE_URL.",
        ),
        (
            RateLimitError("Websim answered 429 Too Many Requests", status=429),
            "Websim answered 429 Too Many Requests. Websim is limiting requests; wait a little "
            "and retry.",
        ),
        (
            InvalidRequestError("prompt", "must not be blank"),
            "That request cannot be sent: prompt must not be blank.",
        ),
        (ResponseFormatError("Websim's reply was not JSON"), "Websim's reply was not JSON."),
    ],
)
def test_failures_read_as_one_sentence_for_the_user(error: WebsimError, expected: str) -> None:
    assert describe_failure(error, BASE) == expected
