"""The app's settings from WEBSIM_STUDIO_* variables, and the one-sentence failure messages."""

from __future__ import annotations

import pytest

from studio.services.config import DEFAULT_CONCURRENCY, StudioSettings
from studio.turns.failures import describe_failure
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
from websim_core.errors import UpstreamPausedError


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
        ("WEBSIM_STUDIO_SHUTDOWN_GRACE", "0", "must be at least 1, not 0"),
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
            "Websim did not answer within 120 s. Try again; an operator can raise WEBSIM_TIMEOUT "
            "or WEBSIM_STUDIO_DEADLINE.",
        ),
        (
            RateLimitError("Websim answered 429 Too Many Requests", status=429),
            "Websim answered 429 Too Many Requests. Websim is limiting requests; try again in a "
            "minute.",
        ),
        (
            RateLimitError("Websim answered 429", status=429, retry_after=3600),
            "Websim answered 429. Websim is limiting requests; try again in 60 min.",
        ),
        (
            RateLimitError(
                "Websim answered 429; Websim asks to wait 60 min: try again after 13:00:00 UTC",
                status=429,
                retry_after=3600,
            ),
            "Websim answered 429; Websim asks to wait 60 min: try again after 13:00:00 UTC.",
        ),
        (
            UpstreamPausedError(
                "Websim asked this server to wait (rate limited, 429); nothing is sent for "
                "another 27 s: try again after 12:00:03 UTC",
                status=429,
                retry_after=27,
            ),
            "Websim asked this server to wait (rate limited, 429); nothing is sent for another "
            "27 s: try again after 12:00:03 UTC.",
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


def test_new_settings_are_read_and_checked() -> None:
    settings = StudioSettings.from_env(
        {
            "WEBSIM_STUDIO_TRUSTED_PROXIES": "2",
            "WEBSIM_STUDIO_LIMITS_STORAGE": "redis://cache:6379/0",
            "WEBSIM_STUDIO_DEADLINE": "20",
            "WEBSIM_STUDIO_MAX_REQUEST_MB": "1.5",
            "WEBSIM_STUDIO_SHUTDOWN_GRACE": "30",
        }
    )
    assert settings.shutdown_grace == 30
    assert StudioSettings.from_env({}).shutdown_grace == 5
    assert settings.trusted_proxies.hops == 2
    assert settings.limits_storage == "redis://cache:6379/0"
    assert settings.deadline == 20.0
    assert settings.max_request_bytes == 1536 * 1024
    with pytest.raises(ConfigurationError, match="WEBSIM_STUDIO_TRUSTED_PROXIES must be"):
        StudioSettings.from_env({"WEBSIM_STUDIO_TRUSTED_PROXIES": "10.0.0.0/8,nonsense"})
    with pytest.raises(ConfigurationError, match="WEBSIM_STUDIO_LIMITS_STORAGE must be"):
        StudioSettings.from_env({"WEBSIM_STUDIO_LIMITS_STORAGE": "mongodb://x"})
    with pytest.raises(ConfigurationError, match="WEBSIM_STUDIO_DEADLINE must be more than 0"):
        StudioSettings.from_env({"WEBSIM_STUDIO_DEADLINE": "0"})


def test_the_default_trusts_only_private_networks_as_proxies() -> None:
    proxies = StudioSettings.from_env({}).trusted_proxies
    assert proxies.hops == 0
    assert {str(network) for network in proxies.networks} == {
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    }


def test_api_keys_are_a_comma_separated_list_and_stay_out_of_the_repr() -> None:
    assert StudioSettings.from_env({}).api_keys == ()
    settings = StudioSettings.from_env({"WEBSIM_STUDIO_API_KEYS": " sk-one , sk-two,, "})
    assert settings.api_keys == ("sk-one", "sk-two")
    assert "sk-one" not in repr(settings)
    with pytest.raises(ConfigurationError, match=r"^WEBSIM_STUDIO_API_KEYS must be comma-sep"):
        StudioSettings.from_env({"WEBSIM_STUDIO_API_KEYS": "sk-one,has space"})
