"""The app as the public meets it, over real sockets: `python app.py` in its own process.

Limits that follow the client whatever it claims, bodies refused at the edge, calls that end
when their caller leaves or their deadline passes, words instead of tracebacks, the routes
operators watch, and a stop that leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import psutil
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.app_process import (
    LOCAL,
    EmulatorProcess,
    RunningApp,
    emulator_process,
    nothing_sent_to,
    running_app,
)
from websim_core.emulator import Emulator, Fault

MiB = 2**20


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmulatorProcess]:
    with emulator_process() as running:
        yield running


@pytest.fixture
def clean_upstream(upstream: EmulatorProcess) -> Iterator[EmulatorProcess]:
    yield upstream
    upstream.clear()


def app_on(upstream_url: str, log: Path, **settings: str) -> Any:
    return running_app(
        [], log, WEBSIM_BASE_URL=upstream_url, WEBSIM_STUDIO_SECRET="public-tests", **settings
    )


@pytest.fixture(scope="module")
def limited(upstream: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An app with the default (Space) proxy settings that allows 3 requests a minute: on
    loopback nobody is a trusted proxy, so every caller here is the same client."""
    log = tmp_path_factory.mktemp("limited") / "app.log"
    with app_on(upstream.url, log, WEBSIM_STUDIO_REQUESTS_PER_MINUTE="3") as app:
        yield app.url


@pytest.fixture(scope="module")
def app(
    upstream: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    """An app with the limit lifted, for everything that is not about the limit."""
    log = tmp_path_factory.mktemp("app") / "app.log"
    with app_on(upstream.url, log, WEBSIM_STUDIO_REQUESTS_PER_MINUTE="0") as running:
        yield running


# -- calling the app as a script would ------------------------------------------------------------


def post(
    url: str, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """POST `body` to the app; the status and the reply's text."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request(
            "POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def call(
    url: str,
    api_name: str,
    data: list[Any],
    headers: dict[str, str] | None = None,
    session_hash: str | None = None,
) -> str:
    """`/gradio_api/call/<api_name>` as curl would: the event's outcome and its data."""
    body: dict[str, Any] = {"data": data}
    if session_hash is not None:
        body["session_hash"] = session_hash
    status, text = post(url, f"/gradio_api/call/{api_name}", json.dumps(body).encode(), headers)
    assert status == 200, text
    event_id = json.loads(text)["event_id"]
    request = LOCAL.open(f"{url}gradio_api/call/{api_name}/{event_id}", timeout=30)
    with request as response:
        stream = response.read().decode()
    events = re.findall(r"event: (\w+)\ndata: (.*)\n", stream)
    outcome, payload = next((e, d) for e, d in events if e in ("complete", "error"))
    data = json.loads(payload)
    if outcome == "complete":
        return f"complete: {data[0]}"
    return f"error: {data['error'] if isinstance(data, dict) else data}"


def metric(url: str, name: str, **labels: str) -> float:
    """One sample of the app's /metrics, 0 when it has not appeared yet."""
    with LOCAL.open(url + "metrics", timeout=10) as response:
        text = response.read().decode()
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# -- limits that follow the client --------------------------------------------------------------


def test_no_new_session_client_or_forged_header_gets_past_the_clients_allowance(
    limited: str, clean_upstream: EmulatorProcess, tmp_path: Path
) -> None:
    hi = ["hi", [], "gemini-1.5-pro", ""]
    answered = [call(limited, "chat", hi) for _ in range(3)]
    assert all(outcome.startswith("complete: Emulator reply") for outcome in answered)

    refused = re.compile(r"^error: You have sent 3 requests in the last minute.*try again in \d+")
    with nothing_sent_to(clean_upstream, count=6):
        # No session at all, as curl sends it.
        assert refused.match(call(limited, "chat", hi))
        # A new session hash for every call.
        for _ in range(2):
            assert refused.match(call(limited, "chat", hi, session_hash=uuid.uuid4().hex))
        # A forged X-Forwarded-For from a peer nobody trusts.
        assert refused.match(call(limited, "chat", hi, {"X-Forwarded-For": "198.51.100.77"}))
        # A new gradio_client Client, for chat and for images.
        for api_name, arguments in (("/chat", ("hi",)), ("/generate_image", ("a fox",))):
            client = Client(limited, verbose=False, download_files=str(tmp_path))
            try:
                with pytest.raises(AppError, match="You have sent 3 requests"):
                    client.predict(*arguments, api_name=api_name)
            finally:
                client.close()
    assert metric(limited, "websim_studio_limit_refusals_total", limit="requests") >= 4


def test_uploads_count_against_the_client_in_a_bucket_of_their_own(
    upstream: EmulatorProcess, tmp_path: Path
) -> None:
    with (
        app_on(
            upstream.url, tmp_path / "app.log", WEBSIM_STUDIO_REQUESTS_PER_MINUTE="2"
        ) as running,
        httpx.Client(base_url=running.url, trust_env=False) as client,
    ):
        statuses = [
            client.post("gradio_api/upload", files={"files": ("a.png", b"x" * 100)})
            for _ in range(9)
        ]
    assert [answer.status_code for answer in statuses] == [200] * 8 + [429]
    refused = statuses[-1]
    assert refused.json()["detail"].startswith("You have sent 8 uploads in the last minute")
    assert 0 < int(refused.headers["retry-after"]) <= 60


# -- bodies refused at the edge ----------------------------------------------------------------


def test_an_oversized_body_is_refused_with_413_whether_or_not_its_length_is_declared(
    app: RunningApp, clean_upstream: EmulatorProcess
) -> None:
    process = psutil.Process(app.process.pid)
    before = process.memory_info().rss
    body = json.dumps({"data": ["hi", [image_turn(50 * MiB)], "gemini-1.5-pro", ""]}).encode()
    with nothing_sent_to(clean_upstream):
        for _ in range(3):
            status, text = post_declared(app.url, "/gradio_api/call/chat", body)
            assert status == 413
            assert json.loads(text)["detail"] == (
                f"The request is {len(body) / MiB:.1f} MiB; this server takes at most 9.0 MiB. "
                "Send a shorter conversation or smaller images."
            )
        status, text = post_chunked(app.url, "/gradio_api/queue/join", body)
    assert status == 413
    assert json.loads(text)["detail"].startswith("The request is over 9.0 MiB;")
    growth = process.memory_info().rss - before
    assert growth < 50 * MiB, f"refused bodies left {growth / MiB:.0f} MiB behind"


def image_turn(size: int) -> dict[str, Any]:
    data = "A" * size
    return {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}],
    }


def post_declared(url: str, path: str, body: bytes) -> tuple[int, str]:
    """POST with its Content-Length declared and `Expect: 100-continue`, as curl sends large
    bodies: the body goes only if the server does not answer first."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        connection.putheader("Expect", "100-continue")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def post_chunked(url: str, path: str, body: bytes) -> tuple[int, str]:
    """POST `body` with no Content-Length, in 1 MiB chunks, stopping when the server answers."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        try:
            for start in range(0, len(body), MiB):
                chunk = body[start : start + MiB]
                connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            connection.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the rest was sent
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


# -- words, not tracebacks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            {"message": "hi", "history": 5},
            "That request cannot be sent: history must be a list of {role, content} messages, "
            "or left out.",
        ),
        (
            {"message": "hi", "history": [{"role": "user", "content": "  "}]},
            "That request cannot be sent: history[0].content must not be blank.",
        ),
        (
            {"message": "hi\ud800"},
            "That request cannot be sent: message holds a character that is not valid text "
            "(U+D800); remove it.",
        ),
        (
            {"message": ["hi"]},
            "That request cannot be sent: message must be non-blank text.",
        ),
    ],
    ids=["history not a list", "blank history turn", "lone surrogate", "message not text"],
)
def test_wrong_types_get_a_sentence_and_one_log_line_not_a_traceback(
    app: RunningApp, clean_upstream: EmulatorProcess, arguments: dict[str, Any], expected: str
) -> None:
    data = [arguments["message"], arguments.get("history"), "gemini-1.5-pro", ""]
    with nothing_sent_to(clean_upstream):
        outcome = call(app.url, "chat", data)
    assert outcome == f"error: {expected}"
    assert "Traceback" not in app.output()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"nonsense", "its body is not valid JSON"),
        (b"{}", "data is missing"),
        (b'{"data": "hi"}', "data: input should be a valid list"),
    ],
    ids=["not JSON", "no data", "data not a list"],
)
def test_a_body_of_the_wrong_shape_gets_a_sentence(
    app: RunningApp, body: bytes, problem: str
) -> None:
    status, text = post(app.url, "/gradio_api/call/chat", body)
    assert status == 422
    assert json.loads(text)["detail"] == (
        f"That request cannot be sent: {problem}. Send JSON such as "
        '{"data": ["Hello"]}; the page\'s "Use via API" link lists each route.'
    )


def test_api_callers_may_leave_out_arguments_that_have_defaults(
    app: RunningApp, clean_upstream: EmulatorProcess
) -> None:
    assert call(app.url, "chat", ["Hello"]) == (
        "complete: Emulator reply to 1 message. You said: Hello"
    )
    with nothing_sent_to(clean_upstream):
        assert call(app.url, "generate_image", []) == (
            "error: That request cannot be sent: prompt is missing: /generate_image takes "
            "prompt, aspect_ratio, model, in that order."
        )
    assert "Traceback" not in app.output()


def test_a_none_system_prompt_is_no_system_prompt(app: RunningApp) -> None:
    outcome = call(app.url, "chat", ["Hello", None, "gemini-1.5-pro", None])
    assert outcome == "complete: Emulator reply to 1 message. You said: Hello"


# -- every call ends ------------------------------------------------------------------------------


@pytest.fixture
async def hanging_upstream() -> Any:
    """An emulator in this process, so the test can see when its requests are cancelled."""
    async with Emulator() as emulator:
        yield emulator


async def wait_until(condition: Any, seconds: float) -> float:
    """Poll `condition()` until true; the seconds it took. Fails after `seconds`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_an_api_caller_that_leaves_cancels_its_websim_request(
    hanging_upstream: Emulator, tmp_path: Path
) -> None:
    hanging_upstream.script("chat", Fault.hang(60))
    with app_on(hanging_upstream.base_url, tmp_path / "app.log") as running:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                running.url + "gradio_api/call/chat",
                json={"data": ["hi", [], "gemini-1.5-pro", ""]},
            ) as response:
                event_id = (await response.json())["event_id"]
            stream = await session.get(f"{running.url}gradio_api/call/chat/{event_id}")
            await wait_until(lambda: hanging_upstream.in_flight == 1, 10)
            stream.close()  # the caller goes away mid-call
            took = await wait_until(lambda: hanging_upstream.in_flight == 0, 5)
        assert "chat api cancelled" in running.output()
    print(f"\nWebsim request cancelled {took:.2f} s after the caller left")


async def test_a_closed_browser_tab_cancels_its_websim_request(
    hanging_upstream: Emulator, tmp_path: Path
) -> None:
    hanging_upstream.script("image", Fault.hang(60))
    with app_on(hanging_upstream.base_url, tmp_path / "app.log") as running:
        client = Client(running.url, verbose=False, download_files=str(tmp_path))
        try:
            job = client.submit("a fox", "1:1", "flux", api_name="/generate_image")
            await wait_until(lambda: hanging_upstream.in_flight == 1, 10)
            # The page's stream (/queue/data) closes, as when its tab is closed.
            job.cancel()
            client.close()
            took = await wait_until(lambda: hanging_upstream.in_flight == 0, 5)
        finally:
            client.close()
    print(f"\nWebsim request cancelled {took:.2f} s after the tab closed")


async def test_a_call_past_its_deadline_ends_with_the_deadline_in_words(
    hanging_upstream: Emulator, tmp_path: Path
) -> None:
    hanging_upstream.script("chat", Fault.hang(60))
    with app_on(
        hanging_upstream.base_url, tmp_path / "app.log", WEBSIM_STUDIO_DEADLINE="1.5"
    ) as running:
        started = time.monotonic()
        outcome = await asyncio.to_thread(
            call, running.url, "chat", ["hi", [], "gemini-1.5-pro", ""]
        )
        seconds = time.monotonic() - started
        await wait_until(lambda: hanging_upstream.in_flight == 0, 5)
    assert outcome.startswith("error: Websim did not answer within the 1.5 s deadline")
    assert 1.4 < seconds < 4


# -- the upstream guard and a full queue ----------------------------------------------------


async def test_while_websim_asks_to_wait_other_callers_are_held_or_told_how_long_is_left(
    hanging_upstream: Emulator, tmp_path: Path
) -> None:
    hanging_upstream.script("chat", Fault.status(429, retry_after="2"))
    with app_on(hanging_upstream.base_url, tmp_path / "app.log") as running:
        hi = ["hi", [], "gemini-1.5-pro", ""]
        probe = asyncio.create_task(asyncio.to_thread(call, running.url, "chat", hi))
        await wait_until(lambda: len(hanging_upstream.requests) == 1, 10)
        others = [
            asyncio.create_task(asyncio.to_thread(call, running.url, "chat", hi)) for _ in range(5)
        ]
        await asyncio.sleep(1)
        with LOCAL.open(running.url + "readyz", timeout=5) as response:
            ready = json.load(response)
        sent_during_the_wait = len(hanging_upstream.requests)
        assert (await probe).startswith("complete: Emulator reply")
        served = await asyncio.gather(*others)

        # A wait longer than the guard holds anyone (and than the client retries after): the
        # call told of it gives up, and the others hear at once how long is left.
        hanging_upstream.script("chat", Fault.status(429, retry_after="90"))
        gave_up = await asyncio.to_thread(call, running.url, "chat", hi)
        assert gave_up.startswith("error: Websim answered 429"), gave_up
        started = time.monotonic()
        told = await asyncio.gather(
            *[asyncio.to_thread(call, running.url, "chat", hi) for _ in range(3)]
        )
        told_in = time.monotonic() - started
    assert ready["upstream"]["paused"] is True and ready["upstream"]["status"] == 429
    assert sent_during_the_wait == 1  # the five were held, unsent
    assert all(o.startswith("complete: Emulator reply") for o in served), served
    assert len(hanging_upstream.requests) == 2 + 5 + 1  # the probe's retry, the five, the 429
    assert all(
        o.startswith("error: Websim asked this server to wait") and "another 90 s" in o
        for o in told
    ), told
    assert told_in < 1.5


def test_a_full_queue_says_so_in_words(clean_upstream: EmulatorProcess, tmp_path: Path) -> None:
    with app_on(
        clean_upstream.url,
        tmp_path / "app.log",
        WEBSIM_STUDIO_CONCURRENCY="1",
        WEBSIM_STUDIO_QUEUE_SIZE="1",
        WEBSIM_STUDIO_REQUESTS_PER_MINUTE="0",
    ) as running:
        clean_upstream.script("chat", Fault.hang(3), Fault.hang(3))
        body = json.dumps({"data": ["hi", [], "gemini-1.5-pro", ""]}).encode()
        answers = [post(running.url, "/gradio_api/call/chat", body) for _ in range(3)]
        assert [status for status, _ in answers] == [200, 200, 503]
        assert json.loads(answers[2][1])["detail"] == (
            "The server is busy: every place in its queue is taken. Try again in about 30 seconds."
        )
        assert metric(running.url, "websim_studio_limit_refusals_total", limit="busy") == 1


# -- what operators see ----------------------------------------------------------------------------


def test_health_readiness_and_metrics_answer_and_metrics_move_with_calls(app: RunningApp) -> None:
    with LOCAL.open(app.url + "healthz", timeout=5) as response:
        assert json.load(response) == {"status": "ok"}
    with LOCAL.open(app.url + "readyz", timeout=5) as response:
        ready = json.load(response)
    assert ready["ready"] is True and ready["upstream"]["paused"] is False

    labels = {"operation": "chat", "surface": "api", "outcome": "ok"}
    calls = metric(app.url, "websim_studio_calls_total", **labels)
    answers = metric(app.url, "websim_upstream_responses_total", kind="chat", status="200")
    secret = f"my secret words {uuid.uuid4().hex}"
    assert call(app.url, "chat", [secret, [], "gemini-1.5-pro", ""]).startswith("complete:")

    assert metric(app.url, "websim_studio_calls_total", **labels) == calls + 1
    assert metric(app.url, "websim_upstream_responses_total", kind="chat", status="200") == (
        answers + 1
    )
    assert metric(app.url, "websim_studio_call_seconds_count", operation="chat") >= 1
    assert metric(app.url, "websim_studio_http_requests_total", route="call", status="200") >= 1
    with LOCAL.open(app.url + "metrics", timeout=5) as response:
        assert secret not in response.read().decode()
    assert secret not in app.output()
    # One line per request, each with its id.
    assert re.search(r"[0-9a-f]{16} 127\.0\.0\.1 POST /gradio_api/call/chat 200", app.output())


# -- a stop leaves nothing behind -----------------------------------------------------------------


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_removes_the_files_folder(
    upstream: EmulatorProcess, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    with app_on(upstream.url, tmp_path / "app.log", TMPDIR=str(temporary)) as running:
        client = Client(running.url, verbose=False, download_files=str(tmp_path / "downloads"))
        try:
            client.predict("a fox", "1:1", api_name="/generate_image")
        finally:
            client.close()
        folders = list(temporary.glob("websim-studio-*"))
        assert len(folders) == 1 and any(path.is_file() for path in folders[0].rglob("*"))
        os.kill(running.process.pid, stop_signal)
        assert running.process.wait(timeout=15) is not None
    assert list(temporary.iterdir()) == []
