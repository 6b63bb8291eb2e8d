"""Configuration from the environment, and arguments over it."""

from __future__ import annotations

import pytest

from websim_core import ConfigurationError, Settings, Websim, WebsimClient


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.base_url == "https://websim.ai"
    assert settings.proxy is None
    assert settings.timeout == 120.0
    assert settings.max_retries == 3
    assert dict(settings.extra_headers) == {}
    assert settings.project_id is None


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "WEBSIM_BASE_URL": "https://api.websim.com/",
            "WEBSIM_PROXY": "http://proxy.local:3128",
            "WEBSIM_TIMEOUT": "12.5",
            "WEBSIM_MAX_RETRIES": "0",
            "WEBSIM_EXTRA_HEADERS": '{"Cookie": "sid=abc"}',
            "WEBSIM_PROJECT_ID": " k4wd9mpr_n3xq7 ",
        }
    )
    assert settings.base_url == "https://api.websim.com"
    assert settings.proxy == "http://proxy.local:3128"
    assert settings.timeout == 12.5
    assert settings.max_retries == 0
    assert dict(settings.extra_headers) == {"cookie": "sid=abc"}
    assert settings.project_id == "k4wd9mpr_n3xq7"


def test_blank_variables_mean_the_default() -> None:
    assert Settings.from_env({"WEBSIM_TIMEOUT": "  ", "WEBSIM_BASE_URL": ""}) == Settings()


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("WEBSIM_BASE_URL", "websim.ai", "http:// or https:// URL"),
        ("WEBSIM_BASE_URL", "ftp://websim.ai", "http:// or https:// URL"),
        ("WEBSIM_PROXY", "socks5://x:1", "http:// or https:// URL"),
        ("WEBSIM_TIMEOUT", "soon", "number of seconds"),
        ("WEBSIM_TIMEOUT", "0", "more than 0"),
        ("WEBSIM_TIMEOUT", "inf", "more than 0"),
        ("WEBSIM_MAX_RETRIES", "2.5", "whole number"),
        ("WEBSIM_MAX_RETRIES", "11", "from 0 to 10"),
        ("WEBSIM_EXTRA_HEADERS", "{cookie}", "JSON object"),
        ("WEBSIM_EXTRA_HEADERS", "[1]", "JSON object"),
        ("WEBSIM_EXTRA_HEADERS", '{"websim-flags;": ""}', "not a legal header name"),
        ("WEBSIM_EXTRA_HEADERS", '{"x": "a\\r\\nb"}', "one line"),
        ("WEBSIM_EXTRA_HEADERS", '{"x": 1}', "one line of text"),
        ("WEBSIM_PROJECT_ID", "my project", "1 to 64 ASCII letters"),
        ("WEBSIM_PROJECT_ID", "proj/../admin", "1 to 64 ASCII letters"),
        ("WEBSIM_PROJECT_ID", "ké3_xh5gai3gjkmruomu", "1 to 64 ASCII letters"),
        ("WEBSIM_PROJECT_ID", "p" * 65, "1 to 64 ASCII letters"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({variable: value})
    assert variable in str(caught.value)
    assert words in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSIM_BASE_URL", "https://api.websim.com")
    monkeypatch.setenv("WEBSIM_TIMEOUT", "5")
    monkeypatch.setenv("WEBSIM_MAX_RETRIES", "1")
    client = WebsimClient("http://127.0.0.1:9", timeout=2, max_retries=0)
    assert client.settings.base_url == "http://127.0.0.1:9"
    assert client.settings.timeout == 2
    assert client.retry_policy.max_retries == 0
    from_env = WebsimClient()
    assert from_env.settings.base_url == "https://api.websim.com"
    assert from_env.settings.timeout == 5
    assert from_env.retry_policy.attempts == 2


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ConfigurationError, match=r"^timeout must be more than 0"):
        WebsimClient(timeout=-1)
    with pytest.raises(ConfigurationError, match=r"^base_url must be"):
        WebsimClient("localhost:8000")
    with pytest.raises(ConfigurationError, match=r"^project_id must be 1 to 64"):
        WebsimClient(project_id="a project")


def test_provider_endpoints_follow_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Websim.url == "https://websim.ai"
    assert Websim.chat_api_endpoint == "https://websim.ai/api/v1/inference/run_chat_completion"
    monkeypatch.setenv("WEBSIM_BASE_URL", "https://api.websim.com/")
    assert Websim.url == "https://api.websim.com"
    assert Websim.chat_api_endpoint == "https://api.websim.com/api/v1/inference/run_chat_completion"
    assert (
        Websim.image_api_endpoint == "https://api.websim.com/api/v1/inference/run_image_generation"
    )
