"""The loopback Websim emulator, driven over real sockets the way clients and browsers will."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import ssl
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from PIL import Image

from websim_core.catalog import ASPECT_RATIOS, CHAT_PATH, IMAGE_PATH, aspect_ratio_size
from websim_core.emulator import Emulator, Fault
from websim_core.emulator.__main__ import main as cli_main
from websim_core.emulator.images import prompt_digest, ratio_of, render_png
from websim_core.emulator.recording import MAX_RECORDED_BYTES

ROOT = Path(__file__).resolve().parent.parent
# What the real client sends: JSON text under a text/plain label.
TEXT_PLAIN = {"content-type": "text/plain;charset=UTF-8"}


def chat_body(*messages: Any, **extra: Any) -> dict[str, Any]:
    return {"project_id": "ke3_xh5gai3gjkmruomu", "messages": list(messages), **extra}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def image_body(prompt: str = "a red fox", aspect_ratio: str = "1:1") -> dict[str, Any]:
    return {"project_id": "kx0m131_rzz66qb2xoy7", "prompt": prompt, "aspect_ratio": aspect_ratio}


async def post(
    session: aiohttp.ClientSession, url: str, body: Any
) -> tuple[int, dict[str, str], str]:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    async with session.post(url, data=data, headers=TEXT_PLAIN) as response:
        return response.status, dict(response.headers), await response.text()


async def chat(session: aiohttp.ClientSession, emulator: Emulator, body: Any = None) -> Any:
    return await post(session, emulator.base_url + CHAT_PATH, body or chat_body(user("hi")))


async def image(session: aiohttp.ClientSession, emulator: Emulator, body: Any = None) -> Any:
    return await post(session, emulator.base_url + IMAGE_PATH, body or image_body())


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator() as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


# -- chat -----------------------------------------------------------------------------------------


async def test_chat_reply_is_padded_and_deterministic(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    body = chat_body({"role": "system", "content": "be brief"}, user("hello there"))
    status, headers, text = await chat(session, emulator, body)
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    content = json.loads(text)["content"]
    assert content != content.strip(), "the reply must be padded so clients learn to strip it"
    assert content.strip() == "Emulator reply to 2 messages. You said: hello there"
    assert (await chat(session, emulator, body))[2] == text
    assert (await chat(session, emulator, chat_body(user("bye"))))[2] != text


async def test_chat_reply_quotes_the_last_user_message_and_counts_images(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    parts = [
        {"type": "text", "text": "what is"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "text", "text": "this?"},
    ]
    body = chat_body(user("first"), {"role": "assistant", "content": "ok"}, user(parts))
    content = json.loads((await chat(session, emulator, body))[2])["content"].strip()
    assert content == "Emulator reply to 3 messages. You said: what is this? (with 1 image)"

    long_text = "x" * 500
    content = json.loads((await chat(session, emulator, chat_body(user(long_text))))[2])["content"]
    assert content.strip().endswith("You said: " + "x" * 200)


async def test_chat_json_mode_replies_with_json_text(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    _, _, text = await chat(session, emulator, chat_body(user("hi"), json=True))
    reply = json.loads(json.loads(text)["content"])
    assert reply == {"reply": "Emulator reply to 1 message. You said: hi"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("not json at all", "body"),
        ([1, 2], "body"),
        ({"messages": [user("hi")]}, "project_id"),
        ({"project_id": "", "messages": [user("hi")]}, "project_id"),
        (chat_body(), "messages"),
        ({"project_id": "p", "messages": "hi"}, "messages"),
        (chat_body("hi"), "messages[0]"),
        (chat_body(user("hi"), {"role": "robot", "content": "x"}), "messages[1].role"),
        (chat_body({"role": "user", "content": 42}), "messages[0].content"),
        (chat_body(user([{"type": "video"}])), "messages[0].content[0].type"),
        (chat_body(user([{"type": "text", "text": 1}])), "messages[0].content[0].text"),
        (chat_body(user([{"type": "image_url", "image_url": "x"}])), "image_url.url"),
    ],
)
async def test_chat_validation_names_the_field(
    emulator: Emulator, session: aiohttp.ClientSession, body: Any, field: str
) -> None:
    status, _, text = await chat(session, emulator, body)
    assert status == 400
    assert field in json.loads(text)["error"]["message"]


# -- images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("aspect_ratio", ASPECT_RATIOS)
async def test_image_url_points_back_at_a_png_of_the_ratio_size(
    emulator: Emulator, session: aiohttp.ClientSession, aspect_ratio: str
) -> None:
    status, _, text = await image(session, emulator, image_body(aspect_ratio=aspect_ratio))
    assert status == 200
    url = json.loads(text)["url"]
    assert url.startswith(emulator.base_url + "/images/")
    async with session.get(url) as response:
        assert response.status == 200
        assert response.content_type == "image/png"
        png = await response.read()
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG"
        assert picture.size == aspect_ratio_size(aspect_ratio, 512)


async def test_image_long_side_is_configurable(session: aiohttp.ClientSession) -> None:
    async with Emulator(image_long_side=300) as emulator:
        _, _, text = await image(session, emulator, image_body(aspect_ratio="16:9"))
        async with session.get(json.loads(text)["url"]) as response:
            png = await response.read()
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.size == (300, 169)


async def test_image_url_depends_on_the_prompt_only(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    first = json.loads((await image(session, emulator, image_body("a fox")))[2])["url"]
    again = json.loads((await image(session, emulator, image_body("a fox")))[2])["url"]
    other = json.loads((await image(session, emulator, image_body("an owl")))[2])["url"]
    assert first == again != other
    pixels = []
    for url in (first, other):
        async with session.get(url) as response:
            with Image.open(io.BytesIO(await response.read())) as picture:
                pixels.append(picture.convert("RGB").getpixel((0, 0)))
    assert pixels[0] != pixels[1]


def white_pixels(png: bytes, box: tuple[float, float, float, float]) -> int:
    """Pure white pixels inside `box` (fractions of the picture): the emulator's text is white,
    and nothing else it draws is."""
    with Image.open(io.BytesIO(png)) as picture:
        width, height = picture.size
        left, top, right, bottom = box
        region = picture.convert("RGB").crop(
            (round(left * width), round(top * height), round(right * width), round(bottom * height))
        )
        colours = region.getcolors(maxcolors=region.width * region.height) or []
        return sum(count for count, colour in colours if colour == (255, 255, 255))


MIDDLE = (0.0, 0.3, 1.0, 0.7)
TOP_LEFT = (0.0, 0.0, 0.3, 0.25)


@pytest.mark.parametrize("aspect_ratio", ["16:9", "9:21", "1:1"])
def test_a_picture_shows_its_prompt_and_ratio(aspect_ratio: str) -> None:
    width, height = aspect_ratio_size(aspect_ratio, 512)
    short = render_png(width, height, prompt_digest("a fox"))
    longer = render_png(width, height, prompt_digest("a fox asleep in the snow under a pine"))
    unknown = render_png(width, height, "never-asked-for")

    assert white_pixels(unknown, MIDDLE) == 0  # no prompt known: nothing written there
    assert 0 < white_pixels(short, MIDDLE) < white_pixels(longer, MIDDLE)
    assert white_pixels(unknown, TOP_LEFT) > 0  # the ratio badge, prompt or not
    assert ratio_of(width, height) == aspect_ratio


def test_a_prompt_of_the_longest_kind_is_drawn_quickly_within_the_picture() -> None:
    prompt = " ".join(["watercolour"] * 360)  # about 4,000 characters
    started = time.perf_counter()
    png = render_png(512, 288, prompt_digest(prompt))
    took = time.perf_counter() - started

    assert took < 0.25, f"{took * 1000:.0f} ms"
    # Cut to a few lines: the rows above and below the text card stay unwritten.
    assert white_pixels(png, (0.3, 0.0, 1.0, 0.2)) == white_pixels(png, (0, 0.8, 1, 1)) == 0
    assert white_pixels(png, MIDDLE) > 0


@pytest.mark.parametrize(("width", "height"), [(1, 1), (4, 3), (95, 4096)])
def test_tiny_or_thin_pictures_are_drawn_without_text(width: int, height: int) -> None:
    with Image.open(io.BytesIO(render_png(width, height, prompt_digest("a fox")))) as picture:
        assert picture.size == (width, height)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/images/4097x10/abc.png", 400), ("/images/0x10/abc.png", 400), ("/images/ax1/a.png", 404)],
)
async def test_image_route_refuses_bad_sizes(
    emulator: Emulator, session: aiohttp.ClientSession, path: str, status: int
) -> None:
    async with session.get(emulator.base_url + path) as response:
        assert response.status == status


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "x", "aspect_ratio": "1:1"}, "project_id"),
        (image_body(prompt="   "), "prompt"),
        ({"project_id": "p", "aspect_ratio": "1:1"}, "prompt"),
        (image_body(aspect_ratio="7:5"), "aspect_ratio"),
        ("[]", "body"),
    ],
)
async def test_image_validation_names_the_field(
    emulator: Emulator, session: aiohttp.ClientSession, body: Any, field: str
) -> None:
    status, _, text = await image(session, emulator, body)
    assert status == 400
    assert field in json.loads(text)["error"]["message"]


# -- faults ---------------------------------------------------------------------------------------


async def test_status_fault_sends_retry_headers_and_json_error(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    emulator.script("chat", Fault.status(429, retry_after="3", retry_after_ms="2500"))
    emulator.script("chat", Fault.status(503, message="down for a nap"))
    status, headers, text = await chat(session, emulator)
    assert status == 429
    assert headers["Retry-After"] == "3"
    assert headers["retry-after-ms"] == "2500"
    assert json.loads(text) == {"error": {"message": "Too Many Requests"}}
    status, headers, text = await chat(session, emulator)
    assert (status, json.loads(text)) == (503, {"error": {"message": "down for a nap"}})
    assert "Retry-After" not in headers


async def test_html_fault_is_a_cloudflare_like_page(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    emulator.script("image", Fault.html())
    status, headers, text = await image(session, emulator)
    assert status == 403
    assert headers["Content-Type"].startswith("text/html")
    assert text.startswith("<!DOCTYPE html>")
    assert "<title>Just a moment...</title>" in text
    assert "<script" in text
    assert text.count("\n") > 10


async def test_hang_fault_outlasts_a_client_timeout_then_the_server_recovers(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    emulator.script("chat", Fault.hang(3600))
    with pytest.raises(asyncio.TimeoutError):
        async with session.post(
            emulator.base_url + CHAT_PATH,
            data=json.dumps(chat_body(user("hi"))),
            timeout=aiohttp.ClientTimeout(total=0.2),
        ):
            pass
    # handler_cancellation: the abandoned handler must end now, not sleep out its hour.
    for _ in range(100):
        if not emulator._in_flight:
            break
        await asyncio.sleep(0.01)
    assert not emulator._in_flight
    assert (await chat(session, emulator))[0] == 200


async def test_short_hang_answers_normally_after_the_wait(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    emulator.script("chat", Fault.hang(0.15))
    started = time.monotonic()
    status, _, text = await chat(session, emulator)
    assert time.monotonic() - started >= 0.15
    assert status == 200 and "Emulator reply" in text


async def test_malformed_json_fault(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    emulator.script("chat", Fault.malformed_json())
    status, headers, text = await chat(session, emulator)
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


@pytest.mark.parametrize(("kind", "field"), [("chat", "content"), ("image", "url")])
async def test_missing_field_fault(
    emulator: Emulator, session: aiohttp.ClientSession, kind: Any, field: str
) -> None:
    emulator.script(kind, Fault.missing_field())
    status, _, text = await (chat if kind == "chat" else image)(session, emulator)
    reply = json.loads(text)
    assert status == 200 and isinstance(reply, dict)
    assert field not in reply


async def test_disconnect_fault_closes_without_reply(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    emulator.script("image", Fault.disconnect())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await image(session, emulator)
    assert (await image(session, emulator))[0] == 200


async def test_scripted_faults_are_consumed_in_order_per_kind(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    emulator.script("chat", Fault.status(500), Fault.status(503))
    emulator.script("image", Fault.status(429))
    assert (await image(session, emulator))[0] == 429
    assert (await chat(session, emulator))[0] == 500
    assert (await chat(session, emulator))[0] == 503
    assert (await chat(session, emulator))[0] == 200
    assert (await image(session, emulator))[0] == 200


async def test_fault_rate_one_always_faults_and_a_seed_repeats_the_sequence(
    session: aiohttp.ClientSession,
) -> None:
    runs = []
    for _ in range(2):
        async with Emulator(fault_rate=1.0, seed=7) as emulator:
            replies = [await chat(session, emulator) for _ in range(12)]
        runs.append([status for status, _, _ in replies])
        assert set(runs[-1]) <= {429, 500, 502, 503}
        for status, headers, _ in replies:
            if status == 429:
                assert headers["Retry-After"] == "1"
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 1, "random faults should vary, not repeat one status"


async def test_fault_rate_zero_never_faults(session: aiohttp.ClientSession) -> None:
    async with Emulator(fault_rate=0.0, seed=7) as emulator:
        statuses = {(await chat(session, emulator))[0] for _ in range(10)}
    assert statuses == {200}


async def test_latency_delays_every_api_reply(session: aiohttp.ClientSession) -> None:
    async with Emulator(latency=0.1) as emulator:
        started = time.monotonic()
        await image(session, emulator)
        assert time.monotonic() - started >= 0.1


def test_fault_round_trips_through_its_dict_form() -> None:
    faults = [
        Fault.status(429, message="slow down", retry_after="2", retry_after_ms="1500"),
        Fault.html(521, title="Web server is down"),
        Fault.hang(1.5),
        Fault.malformed_json(),
        Fault.missing_field(),
        Fault.disconnect(),
    ]
    for fault in faults:
        assert Fault.from_dict(json.loads(json.dumps(fault.to_dict()))) == fault
    assert Fault.from_dict({"type": "html"}) == Fault.html()
    assert Fault.status(500).to_dict() == {"type": "status", "code": 500}


@pytest.mark.parametrize(
    "data",
    [
        {"type": "explode"},
        {"code": 500},
        {"type": "status"},
        {"type": "status", "code": 200},
        {"type": "status", "code": "500"},
        {"type": "hang", "seconds": -1},
        {"type": "hang"},
        {"type": "disconnect", "seconds": 1},
        {"type": "status", "code": 429, "retry_after": "1\r\nX-Evil: 1"},
    ],
)
def test_fault_from_dict_refuses_nonsense(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Fault.from_dict(data)


# -- control endpoint -----------------------------------------------------------------------------


async def test_control_endpoint_queues_and_clears_faults(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    control = emulator.base_url + "/emulator/faults"
    faults = [Fault.status(502).to_dict(), {"type": "missing_field"}]
    async with session.post(control, json={"kind": "image", "faults": faults}) as response:
        assert (response.status, await response.json()) == (200, {"queued": 2})
    assert (await image(session, emulator))[0] == 502
    assert "url" not in json.loads((await image(session, emulator))[2])
    assert (await image(session, emulator))[0] == 200

    async with session.post(control, json={"kind": "chat", "faults": faults}) as response:
        assert response.status == 200
    async with session.delete(control) as response:
        assert (response.status, await response.json()) == (200, {"cleared": 2})
    assert (await chat(session, emulator))[0] == 200


async def test_state_endpoint_shows_a_hung_request_until_its_client_hangs_up(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    state = emulator.base_url + "/emulator/state"

    async def in_flight() -> int:
        async with session.get(state) as response:
            answer: dict[str, int] = await response.json()
        return answer["in_flight"]

    emulator.script("image", Fault.hang(3600))
    pending = asyncio.create_task(image(session, emulator))
    for _ in range(500):
        if await in_flight() == 1:
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the hanging request never showed as in flight")
    pending.cancel()  # the client hangs up
    for _ in range(500):
        if await in_flight() == 0:
            break
        await asyncio.sleep(0.01)
    assert await in_flight() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ("{", "body"),
        ({"kind": "video", "faults": []}, "kind"),
        ({"kind": "chat", "faults": {"type": "disconnect"}}, "faults"),
        ({"kind": "chat", "faults": [{"type": "disconnect"}, {"type": "boom"}]}, "faults[1].type"),
        ({"kind": "chat", "faults": [{"type": "status", "code": 99}]}, "faults[0].code"),
    ],
)
async def test_control_endpoint_refuses_bad_input(
    emulator: Emulator, session: aiohttp.ClientSession, payload: Any, field: str
) -> None:
    status, _, text = await post(session, emulator.base_url + "/emulator/faults", payload)
    assert status == 400
    assert field in json.loads(text)["error"]["message"]
    # Nothing is queued when any fault is bad.
    assert (await chat(session, emulator))[0] == 200


async def test_index_page_names_the_emulator(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    async with session.get(emulator.base_url + "/") as response:
        text = await response.text()
    assert response.content_type == "text/plain"
    assert "Websim emulator" in text and CHAT_PATH in text and IMAGE_PATH in text


# -- recording and connections --------------------------------------------------------------------


async def test_requests_are_recorded_including_faulted_ones(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    emulator.script("chat", Fault.status(500))
    body = chat_body(user("hi"))
    await chat(session, emulator, body)
    await image(session, emulator, "not json")
    assert [request.kind for request in emulator.requests] == ["chat", "image"]
    first, second = emulator.requests
    assert first.body == body
    assert first.raw == json.dumps(body).encode()
    assert first.headers["content-type"] == "text/plain;charset=UTF-8"
    assert first.peer[0] == "127.0.0.1" and first.peer[1] > 0
    assert (second.body, second.raw) == (None, b"not json")


async def test_one_keep_alive_session_uses_one_connection(emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            assert (await chat(session, emulator))[0] == 200
    assert emulator.connections == 1


async def test_separate_sessions_use_separate_connections(emulator: Emulator) -> None:
    for _ in range(3):
        async with aiohttp.ClientSession() as session:
            assert (await chat(session, emulator))[0] == 200
    assert emulator.connections == 3


async def test_only_the_most_recent_requests_are_kept(session: aiohttp.ClientSession) -> None:
    async with Emulator(max_recorded=3) as emulator:
        for n in range(5):
            await chat(session, emulator, chat_body(user(f"call {n}")))
        said = [request.body["messages"][0]["content"] for request in emulator.requests]
        assert said == ["call 2", "call 3", "call 4"]
        assert [request.body["messages"][0]["content"] for request in emulator.requests[-2:]] == [
            "call 3",
            "call 4",
        ]
        assert emulator.requests[0] is emulator.requests[-3]
        assert emulator.requests == list(emulator.requests)
    async with Emulator(max_recorded=0) as silent:
        assert (await chat(session, silent))[0] == 200
        assert silent.requests == []


async def test_a_flood_of_large_bodies_stays_under_the_byte_cap(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    photo = "data:image/png;base64," + "A" * (6 * 2**20)
    for n in range(10):  # 60 MiB sent in all
        parts = [
            {"type": "text", "text": f"photo {n}"},
            {"type": "image_url", "image_url": {"url": photo}},
        ]
        # A stream, not bytes: aiohttp warns about sending large bytes bodies in one piece.
        data = io.BytesIO(json.dumps(chat_body(user(parts))).encode())
        url = emulator.base_url + CHAT_PATH
        async with session.post(url, data=data, headers=TEXT_PLAIN) as response:
            assert response.status == 200
    recorded = sum(len(request.raw) for request in emulator.requests)
    assert recorded == emulator.requests.raw_bytes <= MAX_RECORDED_BYTES
    assert len(emulator.requests) == 5  # five of 6 MiB fit in 32 MiB; the oldest went first
    assert emulator.requests[-1].body["messages"][0]["content"][0]["text"] == "photo 9"


# -- strict HTTP parsing --------------------------------------------------------------------------


async def raw_post(base_url: str, header_line: bytes) -> bytes:
    """POST a chat body over a bare socket: aiohttp's client refuses to send an invalid header."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    body = json.dumps(chat_body(user("hi"))).encode()
    request = (
        f"POST {CHAT_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "content-type: text/plain;charset=UTF-8\r\n"
    ).encode()
    request += header_line + b"\r\n"
    request += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_strict_parser_refuses_a_semicolon_in_a_header_name(emulator: Emulator) -> None:
    refused = await raw_post(emulator.base_url, b"websim-flags;: ")
    assert refused.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400"))
    accepted = await raw_post(emulator.base_url, b"websim-flags: ")
    assert accepted.startswith(b"HTTP/1.1 200")
    assert emulator.requests[-1].headers["websim-flags"] == ""


# -- lifecycle ------------------------------------------------------------------------------------


async def test_stop_is_fast_with_a_hanging_handler_and_idempotent() -> None:
    emulator = Emulator()
    with pytest.raises(RuntimeError):
        _ = emulator.base_url
    await emulator.start()
    emulator.script("chat", Fault.hang(3600))
    async with aiohttp.ClientSession() as session:
        pending = asyncio.create_task(chat(session, emulator))
        for _ in range(500):
            if emulator.requests:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the hanging request never arrived")
        started = time.monotonic()
        await emulator.stop()
        assert time.monotonic() - started < 1.0
        with pytest.raises(aiohttp.ClientConnectionError):
            await pending
    await emulator.stop()
    with pytest.raises(RuntimeError):
        _ = emulator.base_url


def test_constructor_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="fault_rate"):
        Emulator(fault_rate=1.5)
    with pytest.raises(ValueError, match="latency"):
        Emulator(latency=-1)
    with pytest.raises(ValueError, match="image_long_side"):
        Emulator(image_long_side=5000)
    with pytest.raises(ValueError, match="max_recorded"):
        Emulator(max_recorded=-1)


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_tls_serves_https_urls(ca: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    connector = aiohttp.TCPConnector(ssl=client_tls(ca))
    async with (
        Emulator(ssl_context=server_context) as emulator,
        aiohttp.ClientSession(connector=connector) as session,
    ):
        assert emulator.base_url.startswith("https://127.0.0.1:")
        assert (await chat(session, emulator))[0] == 200
        url = json.loads((await image(session, emulator))[2])["url"]
        assert url.startswith(emulator.base_url + "/images/")
        async with session.get(url) as response:
            assert response.content_type == "image/png"


# -- CLI ------------------------------------------------------------------------------------------


async def run_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "websim_core.emulator",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_cli_serves_on_port_zero_and_exits_cleanly_on_signal(
    stop_signal: signal.Signals,
) -> None:
    process = await run_cli("--port", "0", "--seed", "1")
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 15)).decode()
        prefix = "Websim emulator serving on "
        assert line.startswith(prefix + "http://127.0.0.1:"), line
        base_url = line.removeprefix(prefix).strip()
        assert not base_url.endswith(":0")
        async with aiohttp.ClientSession() as session:
            status, _, text = await post(session, base_url + CHAT_PATH, chat_body(user("hi")))
        assert status == 200 and "Emulator reply" in text
        process.send_signal(stop_signal)
        rest, errors = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0, errors.decode()
        assert rest == b"", "stdout must carry exactly one line"
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()


async def test_cli_serves_https_with_cert_files(ca: trustme.CA, tmp_path: Path) -> None:
    server_cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    server_cert.cert_chain_pems[0].write_to_path(str(certfile))
    server_cert.private_key_pem.write_to_path(str(keyfile))
    process = await run_cli("--port", "0", "--certfile", str(certfile), "--keyfile", str(keyfile))
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 15)).decode()
        base_url = line.removeprefix("Websim emulator serving on ").strip()
        assert base_url.startswith("https://127.0.0.1:")
        connector = aiohttp.TCPConnector(ssl=client_tls(ca))
        async with aiohttp.ClientSession(connector=connector) as session:
            status, _, _ = await post(session, base_url + IMAGE_PATH, image_body())
        assert status == 200
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--port", "0", "--fault-rate", "1.5"], "--fault-rate"),
        (["--port", "0", "--latency", "-1"], "--latency"),
        (["--port", "70000"], "--port"),
        (["--port", "0", "--keyfile", "k.pem"], "--keyfile"),
        ([], "--port"),
    ],
)
def test_cli_refuses_bad_arguments(
    args: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(args)
    assert exit_info.value.code == 2
    assert complaint in capsys.readouterr().err
