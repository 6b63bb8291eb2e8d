"""`websim_core.g4f.Websim` driven by gpt4free's own `AsyncClient`, answered by the emulator.

Every test watches the process's sockets through an audit hook (threads included) and fails if
anything other than loopback was looked up or connected to: g4f can reach out on its own (a
version check, cookies, model lists, image downloads).
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import g4f.client
import g4f.cookies
import g4f.debug
import g4f.errors
import pytest
from g4f.client import AsyncClient
from g4f.providers.base_provider import AsyncGeneratorProvider, ProviderModelMixin
from g4f.providers.response import ImageResponse as G4fImageResponse

import websim_core
from websim_core.emulator import Emulator, Fault
from websim_core.g4f import Websim
from websim_core.provider import _pool

from .app_process import EmulatorThread
from .conftest import HELLO

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Socket events of the running test, (event, host, port); None while no test is watching.
_socket_events: list[tuple[str, Any, Any]] | None = None
_hook_installed = False


def _watch_sockets(event: str, args: tuple[Any, ...]) -> None:
    if _socket_events is None:
        return
    if event == "socket.connect" and isinstance(args[1], tuple):
        _socket_events.append((event, *args[1][:2]))
    elif event == "socket.getaddrinfo":
        _socket_events.append((event, args[0], args[1]))


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture
def sockets() -> Iterator[list[tuple[str, Any, Any]]]:
    """Every DNS lookup and connection the process makes during the test; loopback only."""
    global _socket_events, _hook_installed
    if not _hook_installed:
        sys.addaudithook(_watch_sockets)  # audit hooks cannot be removed: install one, once
        _hook_installed = True
    events: list[tuple[str, Any, Any]] = []
    _socket_events = events
    try:
        yield events
    finally:
        _socket_events = None
    assert all(_is_loopback(host) for _, host, _ in events), events


@pytest.fixture
async def websim(
    emulator: Emulator,
    sockets: list[tuple[str, Any, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Emulator]:
    """The provider pointed at the emulator, g4f kept offline and its files in `tmp_path`."""
    monkeypatch.setenv("WEBSIM_BASE_URL", emulator.base_url)
    # g4f checks PyPI for a newer version from a thread on some paths; never from a test.
    monkeypatch.setattr(g4f.debug, "version_check", False)
    # It appends usage records under its cookies folder (~/.g4f/cookies) after each chat.
    monkeypatch.setattr(g4f.cookies.CookiesConfig, "cookies_dir", str(tmp_path / "g4f"))
    monkeypatch.setattr("g4f.image.copy_images.media_dir", str(tmp_path / "media"))
    yield emulator
    await Websim.close()


@pytest.fixture
def client() -> AsyncClient:
    return AsyncClient(provider=Websim)


def test_a_real_g4f_provider_with_the_seeds_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert issubclass(Websim, AsyncGeneratorProvider)
    assert issubclass(Websim, ProviderModelMixin)
    assert issubclass(Websim, websim_core.Websim)
    assert Websim.get_parent() == "Websim"
    assert Websim.get_dict() == {"name": "Websim", "url": "https://websim.ai", "label": None}
    assert Websim.login_url is None
    assert (Websim.working, Websim.needs_auth, Websim.use_nodriver) == (True, False, False)
    assert (Websim.supports_stream, Websim.supports_system_message) == (False, True)
    assert Websim.supports_message_history is True
    assert Websim.default_model == "gemini-1.5-pro"
    assert Websim.default_image_model == "flux"
    assert Websim.image_models == ["flux"]
    assert Websim.get_models() == ["gemini-1.5-pro", "gemini-1.5-flash", "flux"]
    assert len(Websim.generate_project_id(for_image=True)) == 20
    # g4f's API server lists a provider's parameters from this signature.
    assert {"model", "messages", "prompt", "aspect_ratio"} <= set(Websim.get_parameters())
    monkeypatch.setenv("WEBSIM_BASE_URL", "http://127.0.0.1:8000")
    assert Websim.url == "http://127.0.0.1:8000"
    assert Websim.chat_api_endpoint == "http://127.0.0.1:8000/api/v1/inference/run_chat_completion"
    assert Websim.image_api_endpoint == (
        "http://127.0.0.1:8000/api/v1/inference/run_image_generation"
    )


async def test_chat_is_answered_by_the_emulator(websim: Emulator, client: AsyncClient) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *HELLO]
    reply = await client.chat.completions.create(messages=messages, model="gemini-1.5-flash")
    assert reply.choices[0].message.content == "Emulator reply to 2 messages. You said: Hello"
    assert (reply.provider, reply.model) == ("Websim", "gemini-1.5-flash")
    [request] = websim.requests
    assert request.kind == "chat" and request.body["messages"] == messages


async def test_no_model_means_the_default_chat_model(websim: Emulator, client: AsyncClient) -> None:
    reply = await client.chat.completions.create(messages=HELLO)
    assert reply.choices[0].message.content.startswith("Emulator reply to 1 message")


async def test_streaming_yields_the_reply_then_the_finish(
    websim: Emulator, client: AsyncClient
) -> None:
    chunks = [chunk async for chunk in client.chat.completions.create(HELLO, stream=True)]
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "Emulator reply to 1 message. You said: Hello"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len(websim.requests) == 1


async def test_images_return_the_emulators_url_untouched(
    websim: Emulator, client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies: list[list[str]] = []

    async def record_copy(images: list[str], *args: Any, **kwargs: Any) -> list[str]:
        copies.append(images)
        return images

    monkeypatch.setattr(g4f.client, "copy_media", record_copy)
    result = await client.images.generate(
        "a red fox", model="flux", response_format="url", aspect_ratio="16:9"
    )
    [image] = result.data
    url = urlsplit(image.url)
    assert f"{url.scheme}://{url.netloc}" == websim.base_url
    assert url.path.startswith("/images/512x288/") and url.path.endswith(".png")
    assert image.revised_prompt == "a red fox"
    assert (result.provider, result.model) == ("Websim", "flux")
    # The prompt itself is drawn, not g4f's "Generate a image: ..." message.
    assert websim.requests[0].body["prompt"] == "a red fox"
    assert websim.requests[0].body["aspect_ratio"] == "16:9"
    assert copies == []  # "url" hands the URL back: nothing downloaded or copied
    # Without "url", g4f copies images into its media folder (it refuses loopback URLs itself).
    await client.images.generate("a red fox", model="flux")
    assert len(copies) == 1


async def test_images_without_a_model_use_the_image_model(
    websim: Emulator, client: AsyncClient
) -> None:
    result = await client.images.generate("a lighthouse", response_format="url")
    assert result.data[0].url.startswith(websim.base_url + "/images/512x512/")
    assert websim.requests[0].kind == "image"


async def test_the_generator_yields_g4fs_own_image_response(websim: Emulator) -> None:
    messages = [{"role": "user", "content": "a blue whale"}]
    [image] = [item async for item in Websim.create_async_generator("flux", messages)]
    assert isinstance(image, G4fImageResponse)
    assert image.get_list()[0].startswith(websim.base_url) and image.alt == "a blue whale"


async def test_chat_with_the_image_model_answers_with_the_image_in_markdown(
    websim: Emulator, client: AsyncClient
) -> None:
    reply = await client.chat.completions.create([{"role": "user", "content": "a fox"}], "flux")
    content = reply.choices[0].message.content  # g4f keeps the ImageResponse itself here
    assert isinstance(content, G4fImageResponse)
    assert str(content).startswith(f"[![a fox]({websim.base_url}/images/512x512/")


@pytest.mark.parametrize(
    ("fault", "websim_error", "g4f_error"),
    [
        (Fault.status(400, message="bad body"), websim_core.UpstreamError, "BadRequestError"),
        (Fault.status(401), websim_core.UpstreamError, "MissingAuthError"),
        (Fault.html(403), websim_core.UpstreamError, "MissingAuthError"),
        (Fault.status(404), websim_core.UpstreamError, "ResponseStatusError"),
        (Fault.status(429, retry_after="1"), websim_core.RateLimitError, "RateLimitError"),
    ],
)
async def test_a_refusal_is_websim_cores_error_and_g4fs(
    websim: Emulator,
    client: AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault,
    websim_error: type[websim_core.UpstreamError],
    g4f_error: str,
) -> None:
    monkeypatch.setenv("WEBSIM_MAX_RETRIES", "0")
    websim.script("chat", fault)
    with pytest.raises(websim_error) as raised:
        await client.chat.completions.create(HELLO)
    assert isinstance(raised.value, getattr(g4f.errors, g4f_error))
    assert raised.value.status == fault.code
    assert str(raised.value).startswith(f"Websim answered {fault.code}")
    assert len(websim.requests) == 1


async def test_refusals_surface_from_streams_and_images_too(
    websim: Emulator, client: AsyncClient
) -> None:
    websim.script("chat", Fault.status(403))
    with pytest.raises(g4f.errors.MissingAuthError, match="Websim answered 403"):
        _ = [chunk async for chunk in client.chat.completions.create(HELLO, stream=True)]
    websim.script("image", Fault.status(400, message="prompt refused"))
    with pytest.raises(websim_core.UpstreamError, match="prompt refused") as raised:
        await client.images.generate("a fox", model="flux", response_format="url")
    assert isinstance(raised.value, g4f.errors.BadRequestError)


async def test_an_unknown_model_is_g4fs_model_not_found(
    websim: Emulator, client: AsyncClient
) -> None:
    with pytest.raises(websim_core.InvalidRequestError, match=r"^model: ") as raised:
        await client.chat.completions.create(HELLO, model="gpt-4o")
    assert isinstance(raised.value, g4f.errors.ModelNotFoundError)
    assert raised.value.field == "model"
    assert websim.requests == []


async def test_many_calls_share_one_pooled_session_and_connection(
    websim: Emulator,
    client: AsyncClient,
    sockets: list[tuple[str, Any, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions: list[aiohttp.ClientSession] = []
    open_session = aiohttp.ClientSession.__init__

    def count_session(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        sessions.append(self)
        open_session(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "__init__", count_session)
    for _ in range(10):
        await client.chat.completions.create(HELLO)
        _ = [chunk async for chunk in client.chat.completions.create(HELLO, stream=True)]
        await client.images.generate("a fox", model="flux", response_format="url")
    assert len(websim.requests) == 30
    assert len(sessions) == 1
    assert sessions[0] is (await _pool.client(None))._session
    assert websim.connections == 1
    host, port = urlsplit(websim.base_url).hostname, urlsplit(websim.base_url).port
    assert sockets == [("socket.connect", host, port)]


def test_without_g4f_the_core_works_and_the_import_says_what_to_install() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["g4f"] = None  # as if gpt4free were not installed
        from websim_core import Websim
        assert Websim.models == ["gemini-1.5-pro", "gemini-1.5-flash", "flux"]
        try:
            import websim_core.g4f
        except ImportError as error:
            print(error)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "pip install 'websim-studio[g4f]'" in done.stdout


def test_the_synchronous_client_is_answered_too(
    sockets: list[tuple[str, Any, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """g4f's `Client` runs each call on an event loop of its own, away from the emulator's."""
    upstream = EmulatorThread()
    try:
        monkeypatch.setenv("WEBSIM_BASE_URL", upstream.url)
        monkeypatch.setattr(g4f.debug, "version_check", False)
        monkeypatch.setattr(g4f.cookies.CookiesConfig, "cookies_dir", str(tmp_path / "g4f"))
        client = g4f.client.Client(provider=Websim)

        reply = client.chat.completions.create(messages=HELLO, model="gemini-1.5-flash")
        image = client.images.generate("a red fox", model="flux", response_format="url")

        assert reply.choices[0].message.content == "Emulator reply to 1 message. You said: Hello"
        assert image.data[0].url.startswith(upstream.url)
        assert [request.kind for request in upstream.emulator.requests] == ["chat", "image"]
    finally:
        upstream.close()
