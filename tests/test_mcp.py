"""The app as an MCP server, driven by the official `mcp` client over streamable HTTP.

The app runs as its own process against the emulator; each test is one MCP host.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client
from mcp.types import CallToolResult, ImageContent, TextContent
from PIL import Image

from studio.mcp import CALLER_HEADER, McpCallers
from tests.app_process import (
    LOCAL,
    EmulatorProcess,
    RunningApp,
    emulator_process,
    nothing_sent_to,
    running_app,
)
from websim_core.catalog import ASPECT_RATIOS
from websim_core.emulator import Fault

PER_MINUTE = 3


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmulatorProcess]:
    with emulator_process() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def app(
    upstream: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    log = tmp_path_factory.mktemp("mcp") / "app.log"
    settings = {
        "WEBSIM_BASE_URL": upstream.url,
        "WEBSIM_STUDIO_REQUESTS_PER_MINUTE": str(PER_MINUTE),
        # The tests stand in for a proxy on loopback that says which client it forwards.
        "WEBSIM_STUDIO_TRUSTED_PROXIES": "127.0.0.1/32",
        # As on a Space, where Gradio would otherwise prefix the tools' names.
        "SYSTEM": "spaces",
        "SPACE_ID": "someone/websim-studio",
    }
    with running_app([], log, **settings) as running:
        yield running


@asynccontextmanager
async def mcp_host(app: RunningApp, client: str) -> AsyncIterator[ClientSession]:
    """An MCP session with the app, as seen from `client` (through the trusted proxy)."""
    url = app.url + "gradio_api/mcp/"
    async with (
        create_mcp_http_client(headers={"X-Forwarded-For": client}) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: CallToolResult) -> str:
    return " ".join(item.text for item in result.content if isinstance(item, TextContent))


async def test_exactly_the_two_tools_are_listed_with_what_an_agent_needs(app: RunningApp) -> None:
    async with mcp_host(app, "198.51.100.1") as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}

    assert set(tools) == {"chat", "generate_image"}
    chat, image = tools["chat"], tools["generate_image"]
    assert "history" in chat.inputSchema["properties"]
    assert chat.inputSchema["required"] == ["message"]
    assert "Websim" in (chat.description or "")
    assert image.inputSchema["required"] == ["prompt"]
    ratios = image.inputSchema["properties"]["aspect_ratio"]["description"]
    assert all(ratio in ratios for ratio in ASPECT_RATIOS)


async def test_chat_answers_with_the_conversation_so_far(app: RunningApp) -> None:
    async with mcp_host(app, "198.51.100.2") as session:
        result = await session.call_tool(
            "chat",
            {
                "message": "And the second?",
                "history": [
                    {"role": "user", "content": "First question"},
                    {"role": "assistant", "content": "First answer"},
                ],
            },
        )

    assert not result.isError
    assert text_of(result) == "Emulator reply to 3 messages. You said: And the second?"


async def test_generate_image_returns_an_image_the_host_can_show(app: RunningApp) -> None:
    async with mcp_host(app, "198.51.100.3") as session:
        result = await session.call_tool(
            "generate_image", {"prompt": "A lighthouse at dawn", "aspect_ratio": "16:9"}
        )

    assert not result.isError
    images = [item for item in result.content if isinstance(item, ImageContent)]
    assert len(images) == 1
    picture = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
    width, height = picture.size
    assert abs(width / height - 16 / 9) < 0.02
    assert images[0].mimeType == f"image/{(picture.format or 'png').lower()}"
    # Its address is this server's public one for kept images, naming none of its folders.
    [address] = [
        item.text.removeprefix("Image URL: ")
        for item in result.content
        if isinstance(item, TextContent) and item.text.startswith("Image URL: ")
    ]
    assert re.fullmatch(re.escape(app.url) + r"v1/images/files/[0-9a-f]{32}\.png", address)
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        fetched = await http.get(address)
    assert fetched.status_code == 200 and fetched.content[:8] == b"\x89PNG\r\n\x1a\n"


async def test_bad_input_is_a_tool_error_in_words_and_nothing_is_sent(
    app: RunningApp, upstream: EmulatorProcess
) -> None:
    async with mcp_host(app, "198.51.100.4") as session, asyncio.timeout(30):
        with nothing_sent_to(upstream):
            result = await session.call_tool(
                "generate_image", {"prompt": "x", "aspect_ratio": "7:5"}
            )

    assert result.isError
    assert "aspect_ratio" in text_of(result)
    assert "Traceback" not in text_of(result)


async def test_each_mcp_client_has_its_own_limit(app: RunningApp) -> None:
    async with mcp_host(app, "203.0.113.7") as session:
        for turn in range(PER_MINUTE):
            answered = await session.call_tool("chat", {"message": f"turn {turn}"})
            assert not answered.isError, text_of(answered)
        refused = await session.call_tool("chat", {"message": "one too many"})
    assert refused.isError
    assert "the most this app allows" in text_of(refused)

    # Another client is counted on its own, though every tool call reaches the queue from
    # loopback.
    async with mcp_host(app, "203.0.113.8") as session:
        other = await session.call_tool("chat", {"message": "my first"})
    assert not other.isError, text_of(other)


# -- the caller stamp, as ASGI -----------------------------------------------------------------


SEEN: dict[str, Any] = {}


async def remember(scope: Any, receive: Any, send: Any) -> None:
    """An app that keeps the scope it was given."""
    SEEN.clear()
    SEEN.update(scope)


async def through(
    callers: McpCallers, path: str, headers: list[tuple[bytes, bytes]], peer: str
) -> dict[str, Any]:
    """The scope the app behind `callers` sees for a request from `peer`."""
    scope = {
        "type": "http",
        "path": path,
        "headers": headers,
        "client": (peer, 0),
        "websim_studio.peer": peer,
    }
    await callers(scope, None, None)  # type: ignore[arg-type]
    return dict(SEEN)


async def test_an_mcp_request_is_stamped_and_only_a_true_stamp_from_loopback_is_believed() -> None:
    ended: list[str] = []

    async def end(event: str) -> None:
        ended.append(event)

    callers = McpCallers(remember, end)
    forged = (CALLER_HEADER, b"192.0.2.66 0123456789abcdef 0000")

    mcp = await through(callers, "/gradio_api/mcp/", [forged], "198.51.100.9")
    stamps = [v for k, v in mcp["headers"] if k == CALLER_HEADER]
    assert len(stamps) == 1 and stamps[0].startswith(b"198.51.100.9 ")

    loopback = await through(callers, "/gradio_api/queue/join", [(CALLER_HEADER, stamps[0])], "::1")
    assert loopback["client"] == ("198.51.100.9", 0)
    assert CALLER_HEADER not in dict(loopback["headers"])

    for headers, peer in (([forged], "127.0.0.1"), ([(CALLER_HEADER, stamps[0])], "192.0.2.1")):
        untouched = await through(callers, "/gradio_api/queue/join", headers, peer)
        assert untouched["client"] == (peer, 0)
        assert CALLER_HEADER not in dict(untouched["headers"])
    assert ended == []  # the MCP request joined nothing


def test_mcp_can_be_turned_off(tmp_path: Path) -> None:
    with running_app([], tmp_path / "app.log", WEBSIM_STUDIO_MCP="0") as app:
        request = app.url + "gradio_api/mcp/"
        try:
            with LOCAL.open(request, timeout=5) as response:
                status = response.status
        except OSError as error:
            status = getattr(error, "code", 0)
    assert status == 404


def in_flight(upstream: EmulatorProcess) -> int:
    with LOCAL.open(upstream.url + "/emulator/state", timeout=5) as response:
        count: int = json.load(response)["in_flight"]
        return count


async def test_a_host_that_leaves_mid_call_cancels_the_websim_request(
    app: RunningApp, upstream: EmulatorProcess
) -> None:
    upstream.script("chat", Fault.hang(30))

    async def call() -> None:
        async with mcp_host(app, "198.51.100.5") as session:
            await session.call_tool("chat", {"message": "never answered"})

    calling = asyncio.create_task(call())
    for _ in range(100):
        if await asyncio.to_thread(in_flight, upstream):
            break
        await asyncio.sleep(0.05)
    assert await asyncio.to_thread(in_flight, upstream) == 1

    calling.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await calling
    for _ in range(100):
        if not await asyncio.to_thread(in_flight, upstream):
            break
        await asyncio.sleep(0.05)
    assert await asyncio.to_thread(in_flight, upstream) == 0
