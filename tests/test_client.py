"""WebsimClient's branches, with HTTP faked at the session by aioresponses."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from websim_core import (
    AttemptRecord,
    ImageResponse,
    Progress,
    RateLimitError,
    ResponseFormatError,
    RetryPolicy,
    UpstreamError,
    UpstreamGuard,
    UpstreamPausedError,
    WebsimClient,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
)

from .conftest import CHAT_URL, HELLO, IMAGE_URL

CLOUDFLARE_PAGE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<script>window._cf_chl_opt={cvId: '3'};</script></head><body><div class="main-wrapper">
<h1>websim.ai</h1><p>Verifying you are human. This may take a few seconds.</p></div>
</body></html>"""


def sent(mock: aioresponses, url: str = CHAT_URL) -> list[Any]:
    """The calls made to `url`, in order."""
    return list(mock.requests.get(("POST", URL(url)), []))


def body_of(call: Any) -> dict[str, Any]:
    return json.loads(call.kwargs["data"])


async def test_chat_sends_the_conversation_and_strips_the_reply(mocked: aioresponses) -> None:
    mocked.post(CHAT_URL, payload={"content": "\n  Hi there!  \n"})
    messages = [{"role": "system", "content": "Be kind."}, *HELLO]
    async with WebsimClient() as client:
        assert await client.chat(messages) == "Hi there!"
    [call] = sent(mocked)
    body = body_of(call)
    assert body["messages"] == messages
    assert len(body["project_id"]) == 19 and body["project_id"][3] == "_"
    headers = call.kwargs["headers"]
    assert headers["websim-flags"] == ""
    assert headers["content-type"] == "text/plain;charset=UTF-8"
    assert headers["referer"].startswith("https://websim.ai/")
    assert call.kwargs["allow_redirects"] is False


async def test_chat_keeps_a_given_project_id(mocked: aioresponses) -> None:
    mocked.post(CHAT_URL, payload={"content": "ok"})
    async with WebsimClient() as client:
        await client.chat(HELLO, project_id="ke3_xh5gai3gjkmruomu")
    assert body_of(sent(mocked)[0])["project_id"] == "ke3_xh5gai3gjkmruomu"


async def test_chat_asks_for_json_only_when_told(mocked: aioresponses) -> None:
    mocked.post(CHAT_URL, payload={"content": '{"ok": true}'}, repeat=True)
    async with WebsimClient() as client:
        assert await client.chat(HELLO, json_mode=True) == '{"ok": true}'
        await client.chat(HELLO)
    asked, plain = (body_of(call) for call in sent(mocked))
    assert asked["json"] is True and "json" not in plain


async def test_chat_reply_that_is_not_json_is_the_reply(mocked: aioresponses) -> None:
    mocked.post(CHAT_URL, body="  plain words  ", content_type="text/plain")
    async with WebsimClient() as client:
        assert await client.chat(HELLO) == "plain words"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (json.dumps({"result": "x"}), "no text `content`"),
        (json.dumps({"content": None}), "no text `content`"),
        (json.dumps({"content": "   "}), "was empty"),
        (
            CLOUDFLARE_PAGE,
            'a Cloudflare challenge page ("Just a moment...") instead of a chat reply',
        ),
    ],
)
async def test_chat_reply_breaking_the_contract_is_a_format_error(
    mocked: aioresponses, body: str, words: str
) -> None:
    mocked.post(CHAT_URL, body=body)
    async with WebsimClient() as client:
        with pytest.raises(ResponseFormatError) as caught:
            await client.chat(HELLO)
    assert words in str(caught.value)
    assert "<" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"content": "Hello wor', "application/json"),
        ('{"content": "Hello wor', "text/plain"),  # starts like JSON, whatever the label says
        ('  [{"content": "Hi"', "text/plain"),
        ("Hello wor", "application/json; charset=utf-8"),
        ("Hello wor", "application/problem+json"),
    ],
)
async def test_a_chat_reply_cut_off_mid_json_is_an_error_not_the_reply(
    mocked: aioresponses, body: str, content_type: str
) -> None:
    mocked.post(CHAT_URL, body=body, content_type=content_type)
    async with WebsimClient() as client:
        with pytest.raises(ResponseFormatError) as caught:
            await client.chat(HELLO)
    assert str(caught.value) == "Websim's chat reply was cut off or garbled: it is not valid JSON"


async def test_plain_text_that_merely_mentions_braces_is_still_the_reply(
    mocked: aioresponses,
) -> None:
    mocked.post(CHAT_URL, body="Use {braces} like this", content_type="text/plain")
    async with WebsimClient() as client:
        assert await client.chat(HELLO) == "Use {braces} like this"


async def test_image_reply_becomes_an_image_response(mocked: aioresponses) -> None:
    mocked.post(IMAGE_URL, payload={"url": "https://cdn.websim.ai/fox.png"})
    async with WebsimClient() as client:
        image = await client.generate_image("  a red fox  ", aspect_ratio="16:9")
    assert image == ImageResponse(
        images=["https://cdn.websim.ai/fox.png"],
        alt="a red fox",
        prompt="a red fox",
        aspect_ratio="16:9",
        model="flux",
        project_id=image.project_id,
    )
    assert image.url == "https://cdn.websim.ai/fox.png"
    assert image.to_markdown() == "![a red fox](https://cdn.websim.ai/fox.png)"
    [call] = sent(mocked, IMAGE_URL)
    body = body_of(call)
    assert body == {"project_id": image.project_id, "prompt": "a red fox", "aspect_ratio": "16:9"}
    assert len(image.project_id) == 20 and image.project_id[7] == "_"
    assert call.kwargs["headers"]["referer"] != WebsimClient()._headers["chat"]["referer"]


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"status": "ok"}, "no image `url`"),
        ({"url": ""}, "no image `url`"),
        ({"url": 7}, "no image `url`"),
        ({"url": "javascript:alert(1)"}, "not http(s)"),
    ],
)
async def test_image_reply_without_a_usable_url_is_an_error(
    mocked: aioresponses, payload: dict[str, Any], words: str
) -> None:
    mocked.post(IMAGE_URL, payload=payload)
    async with WebsimClient() as client:
        with pytest.raises(
            ResponseFormatError, match=words.replace("(", r"\(").replace(")", r"\)")
        ):
            await client.generate_image("a fox")


async def test_image_reply_that_is_not_json_is_an_error(mocked: aioresponses) -> None:
    mocked.post(IMAGE_URL, body="{'url': broken")
    async with WebsimClient() as client:
        with pytest.raises(ResponseFormatError, match="text that is not JSON instead of an image"):
            await client.generate_image("a fox")


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524])
@pytest.mark.parametrize("kind", ["chat", "image"])
async def test_transient_failures_are_retried_for_chat_and_image(
    mocked: aioresponses, waits: list[float], status: int, kind: str
) -> None:
    url = CHAT_URL if kind == "chat" else IMAGE_URL
    mocked.post(url, status=status, payload={"error": {"message": "try later"}})
    mocked.post(url, payload={"content": "done", "url": "https://x.test/i.png"})
    async with WebsimClient() as client:
        if kind == "chat":
            assert await client.chat(HELLO) == "done"
        else:
            assert (await client.generate_image("a fox")).url == "https://x.test/i.png"
    assert len(sent(mocked, url)) == 2
    assert len(waits) == 1 and 0.375 <= waits[0] <= 0.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_request_errors_are_not_retried(
    mocked: aioresponses, waits: list[float], status: int
) -> None:
    mocked.post(CHAT_URL, status=status, payload={"error": {"message": "bad project"}})
    async with WebsimClient() as client:
        with pytest.raises(UpstreamError) as caught:
            await client.chat(HELLO)
    assert caught.value.status == status
    assert caught.value.detail == "bad project"
    assert str(caught.value).startswith(f"Websim answered {status} ")
    assert str(caught.value).endswith(": bad project")
    assert not isinstance(caught.value, RateLimitError)
    assert len(sent(mocked)) == 1 and waits == []


async def test_rate_limit_after_retries_run_out(mocked: aioresponses, waits: list[float]) -> None:
    for _ in range(4):
        mocked.post(CHAT_URL, status=429, payload={"error": "Rate limit exceeded"})
    async with WebsimClient() as client:
        with pytest.raises(RateLimitError) as caught:
            await client.chat(HELLO)
    assert caught.value.status == 429
    assert str(caught.value) == (
        "Websim answered 429 Too Many Requests: Rate limit exceeded (after 4 attempts)"
    )
    assert len(sent(mocked)) == 4
    # Backoff doubles from 0.5 s, each wait cut by at most a quarter by jitter.
    assert [
        round(wait / ceiling, 2) >= 0.75 for wait, ceiling in zip(waits, [0.5, 1, 2], strict=True)
    ]
    assert all(0.75 * c <= w <= c for w, c in zip(waits, [0.5, 1.0, 2.0], strict=True))


async def test_max_retries_zero_makes_one_attempt(mocked: aioresponses, waits: list[float]) -> None:
    mocked.post(CHAT_URL, status=503)
    async with WebsimClient(max_retries=0) as client:
        with pytest.raises(UpstreamError, match=r"^Websim answered 503 Service Unavailable$"):
            await client.chat(HELLO)
    assert len(sent(mocked)) == 1 and waits == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after-ms": "1250"}, 1.25),
        ({"retry-after-ms": "40", "Retry-After": "30"}, 0.04),
    ],
)
async def test_server_hints_set_the_wait(
    mocked: aioresponses, waits: list[float], headers: dict[str, str], expected: float
) -> None:
    mocked.post(CHAT_URL, status=429, headers=headers)
    mocked.post(CHAT_URL, payload={"content": "ok"})
    async with WebsimClient() as client:
        assert await client.chat(HELLO) == "ok"
    assert waits == [expected]


async def test_retry_after_as_a_date_sets_the_wait(
    mocked: aioresponses, waits: list[float]
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    mocked.post(CHAT_URL, status=503, headers={"Retry-After": when})
    mocked.post(CHAT_URL, payload={"content": "ok"})
    async with WebsimClient() as client:
        await client.chat(HELLO)
    assert len(waits) == 1 and 18 <= waits[0] <= 20


async def test_a_wait_over_the_cap_fails_at_once_saying_when(
    mocked: aioresponses, waits: list[float]
) -> None:
    mocked.post(CHAT_URL, status=429, headers={"Retry-After": "600"})
    async with WebsimClient() as client:
        with pytest.raises(RateLimitError) as caught:
            await client.chat(HELLO)
    message = str(caught.value)
    assert message.startswith("Websim answered 429 Too Many Requests; Websim asks to wait 10 min:")
    assert "try again after" in message and message.endswith(" UTC")
    assert caught.value.retry_after == 600
    assert len(sent(mocked)) == 1 and waits == []


async def test_the_cap_is_the_policys(mocked: aioresponses, waits: list[float]) -> None:
    mocked.post(CHAT_URL, status=429, headers={"Retry-After": "90"})
    mocked.post(CHAT_URL, payload={"content": "ok"})
    async with WebsimClient(retry_policy=RetryPolicy(max_retry_after=120)) as client:
        assert await client.chat(HELLO) == "ok"
    assert waits == [90.0]


async def test_no_retry_past_the_callers_deadline(mocked: aioresponses, waits: list[float]) -> None:
    mocked.post(CHAT_URL, status=503, headers={"Retry-After": "5"})
    async with WebsimClient() as client:
        with pytest.raises(UpstreamError) as caught:
            await client.chat(HELLO, deadline=3)
    assert str(caught.value) == (
        "Websim answered 503 Service Unavailable; no time left in the 3 s deadline to retry"
    )
    assert len(sent(mocked)) == 1 and waits == []


async def test_the_deadline_bounds_each_attempt(mocked: aioresponses) -> None:
    mocked.post(CHAT_URL, payload={"content": "ok"})
    async with WebsimClient(timeout=60) as client:
        await client.chat(HELLO, deadline=2.5)
    assert 2.4 < sent(mocked)[0].kwargs["timeout"].total <= 2.5


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (CLOUDFLARE_PAGE, 'a Cloudflare challenge page ("Just a moment...")'),
        (
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            'an HTML page titled "502 Bad Gateway"',
        ),
        ("<!doctype html><p>oops</p>", "an HTML page"),
        (json.dumps({"message": "Project not found"}), "Project not found"),
        (json.dumps({"detail": {"msg": "field required"}}), "field required"),
        ("x" * 500, "x" * 199 + "…"),
        ("", ""),
    ],
)
async def test_error_bodies_are_summarised_in_one_line(
    mocked: aioresponses, body: str, detail: str
) -> None:
    mocked.post(CHAT_URL, status=403, body=body)
    async with WebsimClient() as client:
        with pytest.raises(UpstreamError) as caught:
            await client.chat(HELLO)
    assert caught.value.detail == detail
    assert str(caught.value) == f"Websim answered 403 Forbidden{': ' + detail if detail else ''}"
    assert "\n" not in str(caught.value) and "<" not in str(caught.value)


async def test_a_redirect_is_reported_not_followed(mocked: aioresponses) -> None:
    mocked.post(CHAT_URL, status=301, headers={"Location": "https://api.websim.com/x"})
    async with WebsimClient() as client:
        with pytest.raises(UpstreamError) as caught:
            await client.chat(HELLO)
    assert caught.value.status == 301
    assert "set WEBSIM_BASE_URL to the new address" in str(caught.value)
    assert "https://api.websim.com/x" in str(caught.value)


async def test_connection_errors_are_retried_then_reported(
    mocked: aioresponses, waits: list[float]
) -> None:
    for _ in range(4):
        mocked.post(CHAT_URL, exception=aiohttp.ServerDisconnectedError())
    async with WebsimClient() as client:
        with pytest.raises(WebsimConnectionError) as caught:
            await client.chat(HELLO)
    assert str(caught.value) == (
        "websim.ai closed the connection without answering (after 4 attempts)"
    )
    assert not isinstance(caught.value, WebsimTimeoutError)
    assert len(waits) == 3


async def test_a_connection_error_then_success(mocked: aioresponses, waits: list[float]) -> None:
    mocked.post(CHAT_URL, exception=aiohttp.ClientPayloadError("cut"))
    mocked.post(CHAT_URL, payload={"content": "ok"})
    async with WebsimClient() as client:
        assert await client.chat(HELLO) == "ok"
    assert len(waits) == 1


async def test_timeouts_are_retried_then_reported(mocked: aioresponses, waits: list[float]) -> None:
    for _ in range(2):
        mocked.post(IMAGE_URL, exception=TimeoutError())
    async with WebsimClient(timeout=30, max_retries=1) as client:
        with pytest.raises(WebsimTimeoutError) as caught:
            await client.generate_image("a fox")
    assert str(caught.value) == "Websim did not answer within 30 s (after 2 attempts)"
    assert isinstance(caught.value, WebsimConnectionError)
    assert len(waits) == 1


async def test_a_timeout_cut_short_by_the_deadline_names_the_deadline(
    mocked: aioresponses, waits: list[float]
) -> None:
    mocked.post(CHAT_URL, exception=TimeoutError())
    async with WebsimClient(max_retries=0) as client:  # each attempt may take 120 s
        with pytest.raises(WebsimTimeoutError) as caught:
            await client.chat(HELLO, deadline=20)
    assert str(caught.value) == "Websim did not answer within the 20 s deadline"
    assert 19 < sent(mocked)[0].kwargs["timeout"].total < 20  # what was left, never shown


async def test_a_timeout_of_the_attempts_own_limit_names_that_limit(
    mocked: aioresponses, waits: list[float]
) -> None:
    mocked.post(CHAT_URL, exception=TimeoutError())
    async with WebsimClient(max_retries=0) as client:
        with pytest.raises(WebsimTimeoutError) as caught:
            await client.chat(HELLO, deadline=300)  # longer than WEBSIM_TIMEOUT's 120 s
    assert str(caught.value) == "Websim did not answer within 120 s"


async def test_each_attempt_is_reported_without_its_content(
    mocked: aioresponses, waits: list[float]
) -> None:
    mocked.post(CHAT_URL, status=429, headers={"Retry-After": "2"})
    mocked.post(CHAT_URL, exception=TimeoutError())
    mocked.post(CHAT_URL, exception=aiohttp.ServerDisconnectedError())
    mocked.post(CHAT_URL, payload={"content": "secret reply"})
    mocked.post(IMAGE_URL, payload={"status": "ok"})
    seen: list[AttemptRecord] = []
    async with WebsimClient(on_attempt=seen.append) as client:
        secret = [{"role": "user", "content": "secret question"}]
        assert await client.chat(secret) == "secret reply"
        with pytest.raises(ResponseFormatError):
            await client.generate_image("secret prompt")
    assert [(r.kind, r.attempt, r.outcome, r.status) for r in seen] == [
        ("chat", 1, "http_error", 429),
        ("chat", 2, "timeout", 0),
        ("chat", 3, "connection_error", 0),
        ("chat", 4, "ok", 200),
        ("image", 1, "bad_reply", 200),
    ]
    assert all(0 <= r.seconds < 5 for r in seen)
    assert [field.name for field in dataclasses.fields(AttemptRecord)] == [
        "kind",
        "attempt",
        "outcome",
        "status",
        "seconds",
    ]
    assert "secret" not in repr(seen)


async def test_a_call_the_guard_refuses_is_reported_as_paused(mocked: aioresponses) -> None:
    guard = UpstreamGuard()
    guard.record(429, retry_after=30)
    seen: list[AttemptRecord] = []
    async with WebsimClient(guard=guard, on_attempt=seen.append) as client:
        with pytest.raises(UpstreamPausedError):
            await client.generate_image("a fox")
    assert seen == [AttemptRecord("image", 1, "paused", 0, 0.0)]
    assert mocked.requests == {}


async def test_a_reply_too_large_is_a_bad_reply_and_not_retried(
    mocked: aioresponses, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("websim_core.client.MAX_REPLY_BYTES", 10)
    mocked.post(CHAT_URL, body="x" * 100, content_type="text/plain")
    seen: list[AttemptRecord] = []
    async with WebsimClient(on_attempt=seen.append) as client:
        with pytest.raises(ResponseFormatError, match="reply"):
            await client.chat(HELLO)
    assert [(r.outcome, r.status) for r in seen] == [("bad_reply", 200)]
    assert len(sent(mocked)) == 1 and waits == []


async def test_progress_reports_each_attempt_and_retry(
    mocked: aioresponses, waits: list[float]
) -> None:
    mocked.post(CHAT_URL, status=429, headers={"Retry-After": "4"})
    mocked.post(CHAT_URL, status=502, headers={"Retry-After": "2"})
    mocked.post(CHAT_URL, payload={"content": "ok"})
    seen: list[Progress] = []
    async with WebsimClient() as client:
        assert await client.chat(HELLO, on_progress=seen.append) == "ok"
    assert [str(progress) for progress in seen] == [
        "waiting for Websim",
        "rate limited (429), retrying in 4 s (attempt 2 of 4)",
        "waiting for Websim (attempt 2 of 4)",
        "Websim answered 502, retrying in 2 s (attempt 3 of 4)",
        "waiting for Websim (attempt 3 of 4)",
    ]
    assert seen[1] == Progress("retrying", 2, 4, 4.0, "rate limited (429)")


async def test_streams_yield_progress_then_the_result(
    mocked: aioresponses, waits: list[float]
) -> None:
    mocked.post(CHAT_URL, status=500)
    mocked.post(CHAT_URL, payload={"content": " ok "})
    mocked.post(IMAGE_URL, payload={"url": "https://x.test/a.png"})
    async with WebsimClient() as client:
        chat_items = [item async for item in client.chat_stream(HELLO)]
        image_items = [item async for item in client.generate_image_stream("a fox")]
    assert [item.stage for item in chat_items[:-1]] == ["sending", "retrying", "sending"]  # type: ignore[union-attr]
    assert chat_items[-1] == "ok"
    assert isinstance(image_items[0], Progress)
    assert isinstance(image_items[-1], ImageResponse)


async def test_a_stream_raises_the_calls_error(mocked: aioresponses) -> None:
    mocked.post(CHAT_URL, status=401, payload={"error": {"message": "login required"}})
    async with WebsimClient() as client:
        with pytest.raises(UpstreamError, match="login required"):
            async for _ in client.chat_stream(HELLO):
                pass


class Hang:
    """A canned chat reply that never comes, noting when the request starts and is cancelled."""

    def __init__(self, mock: aioresponses) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        mock.post(CHAT_URL, callback=self._never_answer)

    async def _never_answer(self, url: Any, **kwargs: Any) -> None:
        self.started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def test_leaving_a_stream_early_cancels_the_call(mocked: aioresponses) -> None:
    hang = Hang(mocked)
    async with WebsimClient() as client:
        stream = client.chat_stream(HELLO)
        assert isinstance(await anext(stream), Progress)
        await hang.started.wait()
        await stream.aclose()  # type: ignore[attr-defined]
        assert hang.cancelled.is_set()
    assert len(sent(mocked)) == 1


async def test_cancellation_is_never_retried(mocked: aioresponses, waits: list[float]) -> None:
    hang = Hang(mocked)
    async with WebsimClient() as client:
        call = asyncio.create_task(client.chat(HELLO))
        await hang.started.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert hang.cancelled.is_set()
    assert len(sent(mocked)) == 1 and waits == []


async def test_environment_configures_url_headers_and_proxy(
    mocked: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSIM_BASE_URL", "https://api.websim.com")
    monkeypatch.setenv("WEBSIM_EXTRA_HEADERS", '{"Cookie": "sid=1"}')
    monkeypatch.setenv("WEBSIM_PROXY", "http://proxy.test:3128")
    url = "https://api.websim.com/api/v1/inference/run_chat_completion"
    mocked.post(url, payload={"content": "ok"})
    async with WebsimClient() as client:
        assert await client.chat(HELLO) == "ok"
    [call] = sent(mocked, url)
    assert call.kwargs["headers"]["cookie"] == "sid=1"
    assert call.kwargs["proxy"] == "http://proxy.test:3128"


async def test_a_closed_client_refuses_calls() -> None:
    client = WebsimClient()
    async with client:
        pass
    assert client.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.chat(HELLO)
    await client.close()  # a second close is harmless


async def test_every_error_is_a_websim_error(mocked: aioresponses, waits: list[float]) -> None:
    mocked.post(CHAT_URL, status=404)
    async with WebsimClient() as client:
        with pytest.raises(WebsimError):
            await client.chat(HELLO)
