"""The OpenAI-compatible `/v1` API, driven by the official `openai` package against `python app.py`
in its own process, with the emulator (in this process, so its requests can be watched) as Websim.

Two apps: an open one, and one that wants keys, allows 3 calls a minute per key, has a 1.5 s
deadline and trusts loopback as a proxy.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import openai
import pytest
from PIL import Image

from studio.openai.wire import aspect_ratio_for_size, chat_request, cut_at_stop
from tests.app_process import EmulatorThread, RunningApp, running_app
from tests.test_public_server import metric
from websim_core import InvalidRequestError
from websim_core.emulator import Emulator, Fault

KEYS = ("sk-first", "sk-second", "sk-third", "sk-fourth")
HELLO = [{"role": "user", "content": "Hello"}]
T = TypeVar("T")


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmulatorThread]:
    running = EmulatorThread()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def websim(upstream: EmulatorThread) -> Iterator[EmulatorThread]:
    yield upstream
    upstream._run(_cleared(upstream.emulator))


async def _cleared(emulator: Emulator) -> None:
    emulator.clear_faults()


@pytest.fixture(scope="module")
def app(upstream: EmulatorThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """Open (no keys), no per-client limit, the default proxies (loopback not among them)."""
    log = tmp_path_factory.mktemp("open") / "app.log"
    with running_app(
        [], log, WEBSIM_BASE_URL=upstream.url, WEBSIM_STUDIO_REQUESTS_PER_MINUTE="0"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def keyed(
    upstream: EmulatorThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    log = tmp_path_factory.mktemp("keyed") / "app.log"
    with running_app(
        [],
        log,
        WEBSIM_BASE_URL=upstream.url,
        WEBSIM_STUDIO_API_KEYS=",".join(KEYS),
        WEBSIM_STUDIO_REQUESTS_PER_MINUTE="3",
        WEBSIM_STUDIO_DEADLINE="1.5",
        WEBSIM_STUDIO_TRUSTED_PROXIES="127.0.0.0/8",
    ) as running:
        yield running


def client(app: RunningApp, key: str = "unused") -> openai.OpenAI:
    # No retries: every refusal must reach the test as the SDK first raises it.
    return openai.OpenAI(base_url=app.url + "v1", api_key=key, max_retries=0, timeout=30)


def async_client(app: RunningApp, key: str = "unused") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=app.url + "v1", api_key=key, max_retries=0, timeout=30)


# --- models and chat -----------------------------------------------------------------------------


def test_the_models_are_websims_chat_and_image_models(app: RunningApp) -> None:
    with client(app) as sdk:
        models = sdk.models.list()
    assert [model.id for model in models.data] == ["gemini-1.5-pro", "gemini-1.5-flash", "flux"]
    assert {model.owned_by for model in models.data} == {"websim"}
    assert all(model.object == "model" and model.created > 0 for model in models.data)


def test_a_chat_completion_answers_the_whole_conversation(
    app: RunningApp, websim: EmulatorThread
) -> None:
    calls = metric(
        app.url, "websim_studio_calls_total", operation="chat", surface="openai", outcome="ok"
    )
    messages: list[Any] = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "Hi", "name": "ann"},
        {"role": "assistant", "content": "Hello!"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                },
            ],
        },
    ]
    with client(app) as sdk:
        completion = sdk.chat.completions.create(
            model="gemini-1.5-flash", messages=messages, temperature=0.2, max_tokens=5, top_p=0.5
        )
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == "gemini-1.5-flash"
    [choice] = completion.choices
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content == (
        "Emulator reply to 4 messages. You said: What is this? (with 1 image)"
    )
    assert completion.usage is not None and completion.usage.total_tokens == 0
    sent = websim.sent("chat")[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1] == {"role": "user", "content": "Hi"}
    assert sent[3]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
    }
    assert "temperature" not in websim.sent("chat")[-1]
    after = metric(
        app.url, "websim_studio_calls_total", operation="chat", surface="openai", outcome="ok"
    )
    assert after == calls + 1


def test_json_mode_asks_websim_for_json_and_stop_cuts_the_reply(
    app: RunningApp, websim: EmulatorThread
) -> None:
    with client(app) as sdk:
        completion = sdk.chat.completions.create(
            model="gemini-1.5-pro", messages=HELLO, response_format={"type": "json_object"}
        )
        assert json.loads(completion.choices[0].message.content or "") == {
            "reply": "Emulator reply to 1 message. You said: Hello"
        }
        assert websim.sent("chat")[-1]["json"] is True
        cut = sdk.chat.completions.create(model="gemini-1.5-pro", messages=HELLO, stop=["said"])
    assert cut.choices[0].message.content == "Emulator reply to 1 message. You "
    assert "json" not in websim.sent("chat")[-1]


def test_a_stream_sends_the_role_then_the_reply_then_the_finish(app: RunningApp) -> None:
    with client(app) as sdk:
        chunks = list(
            sdk.chat.completions.create(
                model="gemini-1.5-pro",
                messages=HELLO,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == (
        "Emulator reply to 1 message. You said: Hello"
    )
    assert [chunk.choices[0].finish_reason for chunk in chunks[:-1]] == [None, None, "stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert {chunk.id for chunk in chunks} == {chunks[0].id}
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)


async def test_the_async_client_chats_streamed_and_not(app: RunningApp) -> None:
    async with async_client(app) as sdk:
        whole, stream = await asyncio.gather(
            sdk.chat.completions.create(model="gemini-1.5-pro", messages=HELLO),
            sdk.chat.completions.create(
                model="gemini-1.5-pro",
                messages=[{"role": "user", "content": "Streamed"}],
                stream=True,
            ),
        )
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
    assert whole.choices[0].message.content == "Emulator reply to 1 message. You said: Hello"
    assert text == "Emulator reply to 1 message. You said: Streamed"


def test_a_slow_reply_keeps_the_stream_alive_with_comments(
    app: RunningApp, websim: EmulatorThread
) -> None:
    websim.script("chat", Fault.hang(2.6))
    body = {"model": "gemini-1.5-pro", "messages": HELLO, "stream": True}
    started = time.monotonic()
    with httpx.stream("POST", app.url + "v1/chat/completions", json=body, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [(line, time.monotonic() - started) for line in response.iter_lines() if line]
    assert lines[0][0].startswith("data: ") and '"role": "assistant"' in lines[0][0]
    assert lines[1][0] == ": keep-alive" and lines[1][1] < 2.5
    assert "You said: Hello" in lines[-3][0] and lines[-1][0] == "data: [DONE]"


def test_a_failure_after_the_stream_began_raises_api_error(
    app: RunningApp, websim: EmulatorThread
) -> None:
    # Websim asks for a wait that outlasts the first keep-alive, then breaks its contract.
    websim.script("chat", Fault.status(503, retry_after="2.5"), Fault.missing_field())
    with client(app) as sdk:
        stream = sdk.chat.completions.create(model="gemini-1.5-pro", messages=HELLO, stream=True)
        first = next(iter(stream))
        with pytest.raises(openai.APIError, match="Websim's chat reply had no text") as raised:
            list(stream)
    assert first.choices[0].delta.role == "assistant"
    assert not isinstance(raised.value, openai.APIStatusError)  # the status went out as 200
    assert raised.value.type == "upstream_error"


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "param", "message"),
    [
        (
            {"messages": [{"role": "user", "content": " "}]},
            "messages[0].content",
            "That request cannot be sent: messages[0].content must not be blank.",
        ),
        (
            {"messages": HELLO, "model": "gpt-4o"},
            "model",
            "That request cannot be sent: model must be one of gemini-1.5-pro, gemini-1.5-flash "
            "for chat.",
        ),
        (
            {"messages": HELLO, "n": 2},
            "n",
            "That request cannot be sent: n must be 1: Websim gives one reply per request.",
        ),
        (
            {"messages": HELLO, "tools": [{"type": "function", "function": {"name": "f"}}]},
            "tools",
            "That request cannot be sent: tools cannot be used: Websim's chat API has no tools "
            "or function calls.",
        ),
        (
            {"messages": HELLO, "logprobs": True},
            "logprobs",
            "That request cannot be sent: logprobs cannot be used: Websim returns no log "
            "probabilities.",
        ),
    ],
    ids=["blank message", "unknown model", "n", "tools", "logprobs"],
)
def test_bad_input_is_a_400_naming_the_param_and_sends_nothing(
    app: RunningApp, websim: EmulatorThread, arguments: dict[str, Any], param: str, message: str
) -> None:
    sent = len(websim.sent("chat"))
    with client(app) as sdk, pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(**{"model": "gemini-1.5-pro", **arguments})
    assert raised.value.param == param and raised.value.type == "invalid_request_error"
    assert raised.value.body == {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": None,
    }
    assert len(websim.sent("chat")) == sent


def test_a_body_that_is_not_json_is_a_400_sentence_not_a_422_list(app: RunningApp) -> None:
    answer = httpx.post(
        app.url + "v1/chat/completions",
        content=b"nonsense",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert (
        answer.json()["error"]["message"] == "That request cannot be sent: body is not valid JSON."
    )


def test_a_body_over_the_cap_is_a_413_in_openais_envelope(app: RunningApp) -> None:
    huge = [{"role": "user", "content": "a" * (10 * 2**20)}]
    with client(app) as sdk, pytest.raises(openai.APIStatusError) as raised:
        sdk.chat.completions.create(model="gemini-1.5-pro", messages=huge)
    assert raised.value.status_code == 413
    assert raised.value.code == "request_too_large"
    assert "this server takes at most 9.0 MiB" in raised.value.message


def test_websim_failing_is_a_502_and_websim_limiting_a_429_with_retry_after(
    app: RunningApp, websim: EmulatorThread
) -> None:
    websim.script("chat", Fault.missing_field())
    with client(app) as sdk:
        with pytest.raises(openai.InternalServerError) as failed:
            sdk.chat.completions.create(model="gemini-1.5-pro", messages=HELLO)
        assert failed.value.status_code == 502
        assert failed.value.response.headers["x-should-retry"] == "false"
        websim.script("chat", *[Fault.status(429, retry_after_ms="10")] * 4)
        with pytest.raises(openai.RateLimitError) as limited:
            sdk.chat.completions.create(model="gemini-1.5-pro", messages=HELLO)
    assert limited.value.code == "websim_rate_limited"
    assert "Websim" in limited.value.message
    assert int(limited.value.response.headers["retry-after"]) >= 1


def test_an_unknown_route_under_v1_is_a_404_in_openais_envelope(app: RunningApp) -> None:
    with client(app) as sdk, pytest.raises(openai.NotFoundError, match="POST /v1/completions"):
        sdk.completions.create(model="gemini-1.5-pro", prompt="hi")


# --- images --------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def test_an_image_url_is_on_this_server_and_downloads(app: RunningApp) -> None:
    with client(app) as sdk:
        result = sdk.images.generate(model="flux", prompt="a lighthouse", size="1792x1024")
    [image] = result.data
    assert image.url is not None and image.url.startswith(app.url + "v1/images/files/")
    download = httpx.get(image.url)
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert png_size(download.content) == (512, 288)  # 16:9, the emulator's long side 512
    # Names are the content's hash: anything else is not served.
    missing = httpx.get(app.url + "v1/images/files/" + "0" * 32 + ".png")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "image_not_found"
    assert httpx.get(app.url + "v1/images/files/..%2Fapp.log").status_code == 404


def test_two_images_are_made_at_once_and_come_as_base64(
    app: RunningApp, websim: EmulatorThread
) -> None:
    websim.script("image", Fault.hang(1), Fault.hang(1))
    started = time.monotonic()
    with client(app) as sdk:
        result = sdk.images.generate(
            prompt="two foxes", n=2, response_format="b64_json", extra_body={"aspect_ratio": "9:21"}
        )
    took = time.monotonic() - started
    assert took < 1.8, f"{took:.2f} s: one after the other"
    assert len(result.data) == 2
    assert all(
        png_size(base64.b64decode(image.b64_json or "")) == (219, 512) for image in result.data
    )
    assert [body["aspect_ratio"] for body in websim.sent("image")[-2:]] == ["9:21", "9:21"]


def test_image_refusals_name_their_param(app: RunningApp) -> None:
    with client(app) as sdk:
        for arguments, param in [
            ({"prompt": "x", "n": 5}, "n"),
            ({"prompt": "x", "size": "big"}, "size"),
            ({"prompt": " "}, "prompt"),
            ({"prompt": "x", "model": "dall-e-3"}, "model"),
        ]:
            with pytest.raises(openai.BadRequestError) as raised:
                sdk.images.generate(**arguments)
            assert raised.value.param == param


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        ("1024x1024", "1:1"),
        ("256x256", "1:1"),
        ("1792x1024", "16:9"),
        ("1024x1792", "9:16"),
        ("1536x1024", "3:2"),
        ("1024x1536", "2:3"),
        ("1280x1024", "5:4"),
        ("1024x768", "4:3"),
        ("2560x1080", "21:9"),
        ("1080x2560", "9:21"),
        ("800x1000", "4:5"),
        ("5000x100", "21:9"),
        ("auto", "1:1"),
        (None, "1:1"),
    ],
)
def test_a_size_maps_to_the_nearest_of_the_eleven_ratios(size: str | None, ratio: str) -> None:
    assert aspect_ratio_for_size(size) == ratio


def test_stop_cuts_at_the_earliest_sequence_and_shapes_are_read_strictly() -> None:
    assert cut_at_stop("one two three", ("three", "two")) == "one "
    assert cut_at_stop("one", ("x",)) == "one"
    with pytest.raises(InvalidRequestError, match="response_format"):
        chat_request({"messages": HELLO, "response_format": {"type": "json_schema"}})
    with pytest.raises(InvalidRequestError, match="stream: must be true or false"):
        chat_request({"messages": HELLO, "stream": "yes"})
    assert chat_request({"messages": HELLO, "tool_choice": "none", "seed": 4}).stream is False


# --- callers that leave --------------------------------------------------------------------------


async def wait_until(condition: Callable[[], bool], seconds: float) -> None:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds} s")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_caller_that_hangs_up_cancels_its_websim_call(
    app: RunningApp, websim: EmulatorThread, stream: bool
) -> None:
    websim.script("chat", Fault.hang(60))
    body = {"model": "gemini-1.5-pro", "messages": HELLO, "stream": stream}
    async with httpx.AsyncClient(timeout=30) as http:
        request = http.build_request("POST", app.url + "v1/chat/completions", json=body)
        call = asyncio.create_task(http.send(request, stream=True))
        await wait_until(lambda: websim.in_flight == 1, 10)
        if stream:
            response = await call  # headers come with the first keep-alive
            assert response.status_code == 200
            await response.aclose()
        else:
            call.cancel()
        await wait_until(lambda: websim.in_flight == 0, 5)
    await wait_until(lambda: "chat openai cancelled" in app.output(), 5)


# --- keys, limits per key, deadline, forwarded origin --------------------------------------------


def test_with_keys_set_a_missing_or_wrong_key_is_a_401(keyed: RunningApp) -> None:
    missing = httpx.get(keyed.url + "v1/models")
    assert missing.status_code == 401
    assert missing.json()["error"]["message"] == (
        "This server needs an API key: send it as 'Authorization: Bearer <key>'."
    )
    for key in ("sk-wrong", KEYS[0] + "x", KEYS[0][:-1]):
        with client(keyed, key) as sdk, pytest.raises(openai.AuthenticationError) as raised:
            sdk.models.list()
        assert raised.value.code == "invalid_api_key"
    with client(keyed, KEYS[0]) as sdk:
        assert sdk.models.list().data[0].id == "gemini-1.5-pro"


def test_limits_count_per_key_and_say_when_to_retry(
    keyed: RunningApp, websim: EmulatorThread
) -> None:
    with client(keyed, KEYS[1]) as sdk:
        for _ in range(3):
            sdk.chat.completions.create(model="gemini-1.5-pro", messages=HELLO)
        sent = len(websim.sent("chat"))
        with pytest.raises(openai.RateLimitError, match="You have sent 3 requests") as raised:
            sdk.chat.completions.create(model="gemini-1.5-pro", messages=HELLO, stream=True)
        assert len(websim.sent("chat")) == sent
    assert 0 < int(raised.value.response.headers["retry-after"]) <= 60
    with client(keyed, KEYS[2]) as other:  # another key, its own allowance
        assert other.chat.completions.create(model="gemini-1.5-pro", messages=HELLO).choices


def test_websim_past_the_deadline_is_a_504(keyed: RunningApp, websim: EmulatorThread) -> None:
    websim.script("chat", Fault.hang(60))
    with client(keyed, KEYS[3]) as sdk, pytest.raises(openai.InternalServerError) as raised:
        sdk.chat.completions.create(model="gemini-1.5-pro", messages=HELLO)
    assert raised.value.status_code == 504 and raised.value.code == "websim_timeout"
    assert raised.value.body["message"].startswith(
        "Websim did not answer within the 1.5 s deadline"
    )


def test_image_urls_follow_a_trusted_proxy_and_ignore_anyone_else(
    app: RunningApp, keyed: RunningApp
) -> None:
    forwarded = {"X-Forwarded-Host": "studio.example.org", "X-Forwarded-Proto": "https"}
    body = {"prompt": "a fox"}
    trusted = httpx.post(
        keyed.url + "v1/images/generations",
        json=body,
        headers={**forwarded, "Authorization": f"Bearer {KEYS[0]}"},
        timeout=30,
    )
    assert trusted.json()["data"][0]["url"].startswith("https://studio.example.org/v1/images/")
    ignored = httpx.post(
        app.url + "v1/images/generations", json=body, headers=forwarded, timeout=30
    )
    assert ignored.json()["data"][0]["url"].startswith(app.url + "v1/images/files/")


def test_the_log_has_one_line_per_call(app: RunningApp) -> None:
    output = app.output()
    assert " chat openai ok " in output and " image openai ok " in output
    assert "Traceback" not in output
