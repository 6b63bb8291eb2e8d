"""A replica told to stop drains rather than cuts: `python app.py` stopped by SIGTERM while
slow calls (the emulator told to answer late) are in flight."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import openai
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from studio.server.drain import Drain
from tests.app_process import LOCAL, EmulatorProcess, RunningApp, emulator_process, running_app
from tests.test_public_server import call, post
from websim_core.emulator import Fault

REFUSING = "This server is restarting and takes no new requests; send it again in a moment."
STOPPING = "This server is restarting and could not finish the request; send it again shortly."
HELLO = {"model": "gemini-1.5-pro", "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmulatorProcess]:
    with emulator_process() as running:
        yield running


def app_with_grace(upstream: EmulatorProcess, log: Path, grace: int) -> Any:
    return running_app(
        [],
        log,
        WEBSIM_BASE_URL=upstream.url,
        WEBSIM_STUDIO_REQUESTS_PER_MINUTE="0",
        WEBSIM_STUDIO_SHUTDOWN_GRACE=str(grace),
    )


def in_background(
    calls: dict[str, Callable[[], Any]],
) -> tuple[dict[str, Any], list[threading.Thread]]:
    """Start each call in a thread of its own; its result (or what it raised) lands under its
    name."""
    results: dict[str, Any] = {}

    def run(name: str, call: Callable[[], Any]) -> None:
        try:
            results[name] = call()
        except Exception as error:
            results[name] = error

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for thread in threads:
        thread.start()
    return results, threads


def wait_for_in_flight(upstream: EmulatorProcess, count: int) -> None:
    deadline = time.monotonic() + 20
    while upstream.in_flight < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.in_flight == count


def get(app: RunningApp, path: str) -> tuple[int, str]:
    response = httpx.get(app.url + path, timeout=5, trust_env=False)
    return response.status_code, response.text


def sdk(app: RunningApp) -> openai.OpenAI:
    return openai.OpenAI(base_url=app.url + "v1", api_key="-", max_retries=0, timeout=30)


def test_calls_in_flight_finish_while_readiness_fails_and_new_calls_are_refused(
    upstream: EmulatorProcess, tmp_path: Path
) -> None:
    with app_with_grace(upstream, tmp_path / "app.log", grace=15) as app:
        upstream.script("chat", Fault.hang(3), Fault.hang(3), Fault.hang(3))
        gradio = Client(app.url, verbose=False)
        openai_client = sdk(app)
        try:
            results, threads = in_background(
                {
                    "v1": lambda: openai_client.chat.completions.create(**HELLO),
                    "gradio": lambda: gradio.predict(
                        "Hello", [], "gemini-1.5-pro", "", api_name="/chat"
                    ),
                    "call": lambda: call(app.url, "chat", ["Hello", [], "gemini-1.5-pro", ""]),
                }
            )
            wait_for_in_flight(upstream, 3)
            stopped_at = time.monotonic()
            os.kill(app.process.pid, signal.SIGTERM)
            time.sleep(0.3)

            status, text = get(app, "readyz")
            assert status == 503 and json.loads(text)["status"] == "draining"
            assert get(app, "healthz")[0] == 200
            with pytest.raises(openai.InternalServerError) as refused:
                openai_client.chat.completions.create(**HELLO)
            assert refused.value.status_code == 503
            assert refused.value.message.endswith(REFUSING)
            status, text = post(
                app.url, "/gradio_api/call/chat", json.dumps({"data": ["Hello"]}).encode()
            )
            assert (status, json.loads(text)) == (503, {"detail": REFUSING})

            for thread in threads:
                thread.join(timeout=20)
            exit_code = app.process.wait(timeout=20)
            stopped_in = time.monotonic() - stopped_at
        finally:
            gradio.close()
            openai_client.close()
            upstream.clear()
    # Each finished, answered by Websim, and the process went as soon as they had.
    assert results["v1"].choices[0].message.content.startswith("Emulator reply"), results
    assert str(results["gradio"]).startswith("Emulator reply"), results
    assert results["call"].startswith("complete: Emulator reply"), results
    assert exit_code is not None and stopped_in < 10
    output = app.output()
    assert "Traceback" not in output and "did not finish in time" not in output


def test_calls_longer_than_the_grace_end_in_their_own_error_without_a_traceback(
    upstream: EmulatorProcess, tmp_path: Path
) -> None:
    with app_with_grace(upstream, tmp_path / "app.log", grace=1) as app:
        upstream.script("chat", *[Fault.hang(60)] * 4)
        gradio = Client(app.url, verbose=False)
        openai_client = sdk(app)

        def streamed() -> list[str]:
            stream = openai_client.chat.completions.create(**HELLO, stream=True)
            return [chunk.choices[0].delta.content or "" for chunk in stream]

        try:
            results, threads = in_background(
                {
                    "v1": lambda: openai_client.chat.completions.create(**HELLO),
                    "stream": streamed,
                    "gradio": lambda: gradio.predict(
                        "Hello", [], "gemini-1.5-pro", "", api_name="/chat"
                    ),
                    "call": lambda: call(app.url, "chat", ["Hello", [], "gemini-1.5-pro", ""]),
                }
            )
            wait_for_in_flight(upstream, 4)
            time.sleep(2.5)  # the stream has begun: its first keep-alive is out
            stopped_at = time.monotonic()
            os.kill(app.process.pid, signal.SIGTERM)
            for thread in threads:
                thread.join(timeout=20)
            exit_code = app.process.wait(timeout=20)
            stopped_in = time.monotonic() - stopped_at
        finally:
            gradio.close()
            openai_client.close()
            upstream.clear()
    assert isinstance(results["v1"], openai.InternalServerError), results
    assert results["v1"].status_code == 503 and results["v1"].message.endswith(STOPPING)
    assert isinstance(results["stream"], openai.APIError), results
    assert STOPPING in str(results["stream"])
    assert isinstance(results["gradio"], AppError) and STOPPING in str(results["gradio"])
    assert results["call"] == f"error: {STOPPING}"
    assert exit_code is not None and stopped_in < 6
    output = app.output()
    assert "Traceback" not in output and "Exception in ASGI application" not in output
    assert "did not finish in time" in output


def test_a_replica_with_nothing_in_flight_stops_at_once(
    upstream: EmulatorProcess, tmp_path: Path
) -> None:
    with app_with_grace(upstream, tmp_path / "app.log", grace=30) as app:
        with LOCAL.open(app.url + "readyz", timeout=5) as response:
            assert json.load(response)["status"] == "ready"  # and draining once stopped
        stopped_at = time.monotonic()
        os.kill(app.process.pid, signal.SIGTERM)
        assert app.process.wait(timeout=10) is not None
        assert time.monotonic() - stopped_at < 5


def test_a_drain_is_over_once_nothing_is_in_flight_or_the_grace_has_passed() -> None:
    queue = SimpleNamespace(pending_event_ids_session={"session": {"event"}})
    drain = Drain(0.2, SimpleNamespace(_queue=queue))  # type: ignore[arg-type]
    assert not drain.draining and not drain.over

    drain.start()
    assert drain.draining and not drain.over  # an event unfinished
    queue.pending_event_ids_session["session"].clear()
    drain.open_requests = 1
    assert not drain.over  # a request still being answered
    drain.open_requests = 0
    assert drain.over

    queue.pending_event_ids_session["session"].add("another")
    late = Drain(0.2, SimpleNamespace(_queue=queue))  # type: ignore[arg-type]
    late.start()
    time.sleep(0.25)
    assert late.over  # the grace has passed
