"""The app's settings from WEBSIM_STUDIO_* variables, and the one-sentence failure messages."""

from __future__ import annotations

import logging

import pytest

from studio.services.config import DEFAULT_CONCURRENCY, StudioSettings
from studio.turns import failures
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
            "Websim refused this server's request (403). Try again later.",
        ),
        (
            UpstreamError("Websim answered 401 Unauthorized", status=401),
            "Websim refused this server's request (401). Try again later.",
        ),
        (
            WebsimConnectionError("could not connect to websim.ai: Name or service not known"),
            "Websim cannot be reached: Could not connect to websim.ai: Name or service not "
            "known. Try again later.",
        ),
        (
            WebsimTimeoutError("Websim did not answer within 120 s"),
            "Websim did not answer within 120 s. Try again.",
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
        (
            UpstreamError(
                "Websim answered 500 Internal Server Error (after 4 attempts)", status=500
            ),
            "Websim answered 500 Internal Server Error (after 4 attempts). Try again in a moment.",
        ),
        (
            UpstreamError(
                "Websim answered 301 Moved Permanently (moved to https://websim.com/); set "
                "WEBSIM_BASE_URL to the new address",
                status=301,
            ),
            "Websim answered from another address (301). Try again later.",
        ),
        (
            UpstreamPausedError(
                "Websim keeps refusing this server (403 Forbidden); nothing is sent for another "
                "30 s: try again after 12:00:30 UTC",
                status=403,
                retry_after=30,
            ),
            "Websim keeps refusing this server (403 Forbidden); nothing is sent for another 30 s: "
            "try again after 12:00:30 UTC.",
        ),
    ],
)
def test_failures_read_as_one_sentence_for_the_user(error: WebsimError, expected: str) -> None:
    assert describe_failure(error, BASE) == expected
    assert "WEBSIM_" not in expected  # settings are for the log and the docs


@pytest.mark.parametrize(
    ("error", "kind", "settings"),
    [
        (UpstreamError("Websim answered 403", status=403), "refused", ["WEBSIM_EXTRA_HEADERS"]),
        (
            UpstreamPausedError("Websim keeps refusing this server", status=401),
            "refused",
            ["WEBSIM_EXTRA_HEADERS", "WEBSIM_BASE_URL"],
        ),
        (UpstreamError("Websim answered 308", status=308), "moved", ["WEBSIM_BASE_URL"]),
        (WebsimTimeoutError("slow"), "timeout", ["WEBSIM_TIMEOUT", "WEBSIM_STUDIO_DEADLINE"]),
        (WebsimConnectionError("no route"), "unreachable", ["WEBSIM_BASE_URL", "WEBSIM_PROXY"]),
        (UpstreamError("Websim answered 500", status=500), None, []),
        (RateLimitError("Websim answered 429", status=429), None, []),
    ],
)
def test_what_an_operator_can_change_is_logged_once_per_kind(
    error: WebsimError,
    kind: str | None,
    settings: list[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failures, "_hinted", set())
    caplog.set_level(logging.INFO, "websim_studio.failures")

    for _ in range(3):
        failures.log_operator_hint(error, BASE)

    assert failures.operator_hint(error) == kind
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == (0 if kind is None else 1)
    for setting in settings:
        assert setting in lines[0]


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
