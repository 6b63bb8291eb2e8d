"""Callers out to break the server, over real sockets against `python app.py`: forged log lines,
huge values quoted back, events the page does not have, JSON nested past any parser, and a
server stopped with calls still running. Each gets a short sentence, and the log one line."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from studio.openai.routes import openai_routes
from studio.server.memory import RELEASE_INTERVAL
from studio.services.config import StudioSettings
from studio.services.rate_limit import REFUSALS_PER_MINUTE
from studio.services.shared import Services
from tests.app_process import (
    PROJECT_ROOT,
    EmulatorProcess,
    RunningApp,
    emulator_process,
    nothing_sent_to,
)
from tests.test_public_server import app_on, call, post
from websim_core import Settings
from websim_core.emulator import Fault

MiB = 2**20
METRICS_TOKEN = "metrics-for-operators"
# What any error reply may weigh, whatever the request quoted.
SHORT_REPLY = 4096


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmulatorProcess]:
    with emulator_process() as running:
        yield running


@pytest.fixture(scope="module")
def app(
    upstream: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    log = tmp_path_factory.mktemp("hostile") / "app.log"
    with app_on(
        upstream.url,
        log,
        WEBSIM_STUDIO_REQUESTS_PER_MINUTE="0",
        WEBSIM_STUDIO_METRICS_TOKEN=METRICS_TOKEN,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def limited(
    upstream: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    """An app allowing each client 3 requests a minute."""
    log = tmp_path_factory.mktemp("limited") / "app.log"
    with app_on(upstream.url, log, WEBSIM_STUDIO_REQUESTS_PER_MINUTE="3") as running:
        yield running


def get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def logged_since(app: RunningApp, offset: int) -> str:
    return app.output()[offset:]


def test_a_forged_path_stays_inside_its_own_log_line(app: RunningApp) -> None:
    start = len(app.output())
    status, text = get(app.url, "/v1/x%0AFAKE%20LINE%1b[2J")
    assert status == 404 and len(text) < SHORT_REPLY
    assert "\n" not in json.loads(text)["error"]["message"]
    time.sleep(0.2)
    logged = logged_since(app, start)
    assert not any(line.startswith("FAKE") for line in logged.splitlines()), logged
    assert "\x1b" not in logged
    assert "/v1/x\\x0aFAKE LINE\\x1b[2J 404" in logged


def test_a_request_id_sent_by_the_caller_is_not_taken_as_its_own(app: RunningApp) -> None:
    parts = urlsplit(app.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("GET", "/healthz", headers={"X-Request-Id": "forged-id"})
        response = connection.getresponse()
        response.read()
        assert response.getheader("x-request-id") not in (None, "forged-id")
    finally:
        connection.close()
    assert "forged-id" not in app.output()


def huge(size: int) -> str:
    return "b" * size


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/v1/chat/completions",
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": huge(3 * MiB), "content": "a"},
                ]
            },
            "messages[1].role",
        ),
        (
            "/v1/images/generations",
            {"prompt": "a fox", "aspect_ratio": huge(3 * MiB)},
            "aspect_ratio",
        ),
        (
            "/gradio_api/call/generate_image",
            {"data": ["a fox", huge(3 * MiB)]},
            "aspect_ratio",
        ),
    ],
    ids=["v1 role", "v1 aspect ratio", "page API aspect ratio"],
)
def test_a_huge_value_is_named_not_quoted_back_or_logged(
    app: RunningApp, upstream: EmulatorProcess, path: str, body: dict[str, Any], field: str
) -> None:
    start = len(app.output())
    with nothing_sent_to(upstream):
        if path.startswith("/v1/"):
            status, text = post(app.url, path, json.dumps(body).encode())
            assert status == 400
            message = json.loads(text)["error"]["message"]
        else:
            text = call(app.url, path.rsplit("/", 1)[1], body["data"])
            message = text
    assert len(text) < SHORT_REPLY
    assert field in message and "…" in message
    time.sleep(0.2)
    assert len(logged_since(app, start)) < SHORT_REPLY


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/gradio_api/queue/join", {"data": ["hi"], "fn_index": 99999, "session_hash": "s1"}),
        ("/gradio_api/queue/join", {"data": ["hi"], "fn_index": -1, "session_hash": "s1"}),
        ("/gradio_api/call/no_such_route", {"data": ["hi"]}),
    ],
    ids=["fn_index 99999", "fn_index -1", "unknown route"],
)
def test_an_event_the_page_does_not_have_gets_a_sentence(
    app: RunningApp, path: str, body: dict[str, Any]
) -> None:
    status, text = post(app.url, path, json.dumps(body).encode())
    assert status == 404
    assert "names no event of this page" in json.loads(text)["detail"]
    assert "Traceback" not in app.output()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/gradio_api/call/chat"])
def test_json_nested_past_any_parser_gets_a_sentence(app: RunningApp, path: str) -> None:
    status, text = post(app.url, path, b"[" * 100_000)
    assert status == 400 and len(text) < SHORT_REPLY
    assert "Traceback" not in app.output()


def test_a_server_stopping_mid_call_answers_503_in_words(
    upstream: EmulatorProcess, tmp_path: Path
) -> None:
    settings = {"WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "0", "WEBSIM_STUDIO_SHUTDOWN_GRACE": "1"}
    with app_on(upstream.url, tmp_path / "app.log", **settings) as app:
        upstream.script("chat", Fault.hang(60), Fault.hang(60))
        answered: dict[str, Any] = {}

        def ask() -> None:
            body = {"messages": [{"role": "user", "content": "a long story"}]}
            answered["reply"] = post(app.url, "/v1/chat/completions", json.dumps(body).encode())

        def ask_streamed() -> None:
            body = {"messages": [{"role": "user", "content": "a long story"}], "stream": True}
            with httpx.stream(
                "POST", app.url + "v1/chat/completions", json=body, timeout=30, trust_env=False
            ) as response:
                answered["stream"] = (response.status_code, response.read().decode())

        asking = [threading.Thread(target=ask), threading.Thread(target=ask_streamed)]
        for thread in asking:
            thread.start()
        deadline = time.monotonic() + 10
        while upstream.in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upstream.in_flight == 2  # both calls are waiting on Websim
        time.sleep(2.5)  # the stream has begun: its first keep-alive is out
        os.kill(app.process.pid, signal.SIGTERM)
        for thread in asking:
            thread.join(timeout=20)
        assert app.process.wait(timeout=20) is not None
        upstream.clear()
    status, text = answered["reply"]
    assert status == 503
    error = json.loads(text)["error"]
    assert error["type"] == "server_error" and "restarting" in error["message"]
    # The stream ends with OpenAI's error event, which the SDKs raise, not just a cut.
    status, events = answered["stream"]
    assert status == 200
    last = events.strip().rsplit("\n\n", 1)[-1]
    assert last.startswith("data: ") and "restarting" in json.loads(last[6:])["error"]["message"]
    output = app.output()
    assert "Traceback" not in output and "Exception in ASGI application" not in output


# -- smaller holes ---------------------------------------------------------------------------------


def test_images_are_reserved_all_or_nothing_against_the_limit(
    limited: RunningApp, upstream: EmulatorProcess
) -> None:
    body = {"prompt": "a fox", "aspect_ratio": "1:1"}
    status, _ = post(limited.url, "/v1/images/generations", json.dumps(body).encode())
    assert status == 200  # 2 of 3 left
    with nothing_sent_to(upstream):
        status, text = post(
            limited.url, "/v1/images/generations", json.dumps({**body, "n": 3}).encode()
        )
    assert status == 429
    message = json.loads(text)["error"]["message"]
    assert "counts as 3 requests, and 2 of the 3" in message and "ask for 2 or fewer" in message
    # Nothing was spent on the refusal: the two left still make two images.
    status, text = post(
        limited.url, "/v1/images/generations", json.dumps({**body, "n": 2}).encode()
    )
    assert status == 200 and len(json.loads(text)["data"]) == 2
    with nothing_sent_to(upstream):
        status, text = post(
            limited.url, "/v1/images/generations", json.dumps({**body, "n": 4}).encode()
        )
    assert status == 429 and "ask for at most 3" in json.loads(text)["error"]["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_v1_takes_only_json_bodies_which_browsers_preflight(
    app: RunningApp, upstream: EmulatorProcess, content_type: str
) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
    parts = urlsplit(app.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    with nothing_sent_to(upstream):
        try:
            headers = {"Content-Type": content_type} if content_type else {}
            connection.request("POST", "/v1/chat/completions", body=body, headers=headers)
            response = connection.getresponse()
            status, text = response.status, response.read().decode()
        finally:
            connection.close()
    assert status == 415
    error = json.loads(text)["error"]
    assert error["code"] == "unsupported_media_type" and "application/json" in error["message"]


def test_metrics_answer_only_the_operators_token_when_one_is_set(app: RunningApp) -> None:
    status, text = get(app.url, "/metrics")
    assert status == 401 and "metrics token" in json.loads(text)["detail"]
    assert get(app.url, "/metrics", {"Authorization": "Bearer wrong"})[0] == 401
    status, text = get(app.url, "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200 and "websim_studio_http_requests_total" in text
    assert get(app.url, "/healthz")[0] == 200  # liveness and readiness stay open


def test_the_containers_health_check_probes_the_port_the_app_listens_on(app: RunningApp) -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    healthcheck = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[[^\n]*\])$", dockerfile, re.M)
    assert healthcheck is not None
    command = json.loads(healthcheck[1])
    port = str(urlsplit(app.url).port)
    environment = {**os.environ, "GRADIO_SERVER_PORT": port}
    probe = subprocess.run(command, env=environment, capture_output=True, timeout=30)
    assert probe.returncode == 0, probe.stderr
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        environment["GRADIO_SERVER_PORT"] = str(unused.getsockname()[1])
        probe = subprocess.run(command, env=environment, capture_output=True, timeout=30)
    assert probe.returncode != 0


@pytest.mark.parametrize(
    ("extension", "media_type"),
    [
        (".bmp", "image/bmp"),
        (".avif", "image/avif"),
        (".webp", "image/webp"),
        (".gif", "image/gif"),
    ],
)
async def test_every_kind_of_image_websim_may_send_is_served_as_itself(
    tmp_path: Path, extension: str, media_type: str
) -> None:
    services = Services(Settings(), StudioSettings(), files_root=tmp_path)
    kept = services.files.keep(b"the image's bytes", extension)
    transport = httpx.ASGITransport(app=openai_routes(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://studio") as http:
        response = await http.get("/v1/images/files/" + kept.name)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.content == b"the image's bytes"


# -- memory that refusals give back ----------------------------------------------------------------


def test_refused_bodies_are_given_back_once_the_requests_end(app: RunningApp) -> None:
    """20 refused 8 MiB `/v1` requests and 10 refused 7 MiB Gradio calls (230 MB sent) leave
    the app's memory where it was, once its release interval has passed."""
    process = psutil.Process(app.process.pid)
    post(app.url, "/v1/chat/completions", b"{}")  # warm: the route's first call
    before = process.memory_info().rss
    bad_role = [
        {"role": "user", "content": "x" * (8 * MiB - 200)},
        {"role": "bogus", "content": "a"},
    ]
    body = json.dumps({"messages": bad_role}).encode()
    for _ in range(20):
        assert post(app.url, "/v1/chat/completions", body)[0] == 400
    history = [{"role": "user", "content": "x" * (7 * MiB)}, {"role": "bogus", "content": "a"}]
    for _ in range(10):
        assert call(app.url, "chat", ["hi", history, "gemini-1.5-pro", ""]).startswith("error:")
    deadline = time.monotonic() + RELEASE_INTERVAL + 5
    kept = process.memory_info().rss - before
    while kept > 60 * MiB and time.monotonic() < deadline:
        time.sleep(0.5)
        kept = process.memory_info().rss - before
    assert kept <= 60 * MiB, f"{kept / MiB:.0f} MB kept"


# -- refused input costs the sender ---------------------------------------------------------------


def test_a_client_that_spends_its_refusal_budget_is_refused_before_its_body_is_read(
    upstream: EmulatorProcess, tmp_path: Path
) -> None:
    bad = json.dumps({"messages": [{"role": "bogus", "content": "a"}]}).encode()
    with app_on(upstream.url, tmp_path / "app.log", WEBSIM_STUDIO_REQUESTS_PER_MINUTE="20") as app:
        for _ in range(REFUSALS_PER_MINUTE):
            assert post(app.url, "/v1/chat/completions", bad)[0] == 400
        status, text = post(app.url, "/v1/chat/completions", bad)
        assert status == 429
        assert "requests that could not be sent" in json.loads(text)["error"]["message"]
        # Its next body, 8 MiB declared and never sent, is not waited for: the answer is at once.
        parts = urlsplit(app.url)
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as raw:
            raw.sendall(
                b"POST /gradio_api/call/chat HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 8000000\r\n\r\n"
            )
            started = time.monotonic()
            answer = raw.recv(4096)
        # Answered after the 1 s pause, without waiting for the 8 MB that never come.
        assert answer.startswith(b"HTTP/1.1 429") and time.monotonic() - started < 4
        assert b"retry-after" in answer.lower()
        # Reading stays open to it: the budget guards only what is parsed.
        assert get(app.url, "/healthz")[0] == 200
