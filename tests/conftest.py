"""Shared fixtures: a clean environment for every test, recorded retry waits, a live emulator."""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest.mock import Mock

import aiohttp
import pytest
from aioresponses import aioresponses

from websim_core import RetryPolicy
from websim_core.emulator import Emulator

# The browser tests' fixtures (the app, Chromium, a page per test, emulator faults).
pytest_plugins = ["tests.browser_support"]

CHAT_URL = "https://websim.ai/api/v1/inference/run_chat_completion"
IMAGE_URL = "https://websim.ai/api/v1/inference/run_image_generation"
HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="session", autouse=True)
def no_analytics() -> Iterator[None]:
    """gradio_client reports usage from a thread per Client unless told not to."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        yield


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No WEBSIM_* variable of the machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith("WEBSIM_"):
            monkeypatch.delenv(name)
    yield


class _ResponseForAioresponses(aiohttp.ClientResponse):
    """aiohttp 3.14 made `stream_writer` a required argument that aioresponses 0.7.9 does not
    pass (pnuckowski/aioresponses#289, fix pending in #288); aiohttp reads only its
    `output_size`. Drop this class once a fixed aioresponses is released."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", Mock(output_size=0))
        super().__init__(*args, **kwargs)


class MockedWebsim(aioresponses):
    """aioresponses whose canned replies work on every aiohttp this project allows."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
            kwargs.setdefault("response_class", _ResponseForAioresponses)
        super().add(*args, **kwargs)


@pytest.fixture
def mocked() -> Iterator[MockedWebsim]:
    """HTTP faked at the client session: register canned replies, read `.requests` after."""
    with MockedWebsim() as mock:
        yield mock


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry waits the client asked for, recorded instead of slept."""
    recorded: list[float] = []

    async def record(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr("websim_core.client._sleep", record)
    return recorded


@pytest.fixture
def fast_retries() -> RetryPolicy:
    """A retry policy with millisecond waits, for tests that really wait over real sockets."""
    return RetryPolicy(max_retries=3, initial_delay=0.001, max_delay=0.002)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """The Websim emulator on a free loopback port, stopped after the test."""
    async with Emulator() as running:
        yield running
