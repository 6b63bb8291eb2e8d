"""The app's public API through gradio_client, against `python app.py` launched on loopback.

The app runs as deployed: its own process, configured only by its environment, with Gradio's queue
and lifespan set up by `main()`. It answers from the emulator, also in its own process, whose
control endpoint stages upstream failures and tells whether a request reached it at all.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from threading import Barrier
from typing import Any

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from tests.app_process import EmulatorProcess, emulator_process, nothing_sent_to, running_app
from websim_core.emulator import Fault

# Every Websim call waits this long, so calls served one at a time would show.
LATENCY = 0.5

Connect = Callable[..., Client]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with emulator_process(LATENCY) as running:
        yield running


@pytest.fixture
def upstream(emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
    """The emulator, with no fault left queued for the next test."""
    yield emulator
    emulator.clear()


@contextmanager
def app_for(emulator: EmulatorProcess, log: Path, **settings: str) -> Iterator[str]:
    """`python app.py` answering from `emulator`, with `settings` in its environment; its URL."""
    with running_app(
        [],
        log,
        WEBSIM_BASE_URL=emulator.url,
        WEBSIM_STUDIO_SECRET="api-tests-fixed-secret",
        **settings,
    ) as app:
        yield app.url


# The app under test sits behind a "proxy" on loopback, as a Space sits behind the Hub's: each
# simulated user is then a client address of its own, given in X-Forwarded-For.
BEHIND_LOOPBACK_PROXY = {"WEBSIM_STUDIO_TRUSTED_PROXIES": "127.0.0.1/32"}
_addresses = itertools.count(1)


def new_address() -> str:
    """A client address no other test uses (TEST-NET-2 and -3, never routed)."""
    number = next(_addresses)
    return f"198.51.{100 + number // 250}.{number % 250 + 1}"


@pytest.fixture(scope="module")
def app_url(emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with its default settings; every test's Clients are clients of their own."""
    log_path = tmp_path_factory.mktemp("app") / "app.log"
    with app_for(emulator, log_path, **BEHIND_LOOPBACK_PROXY) as url:
        yield url


@pytest.fixture(scope="module")
def limited_app_url(
    emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A second app that allows each client two requests a minute."""
    log_path = tmp_path_factory.mktemp("limited-app") / "app.log"
    with app_for(
        emulator, log_path, WEBSIM_STUDIO_REQUESTS_PER_MINUTE="2", **BEHIND_LOOPBACK_PROXY
    ) as url:
        yield url


@pytest.fixture
def connect(app_url: str, tmp_path: Path) -> Iterator[Connect]:
    """Open a Client, a session of its own, on the app (or on `url`) as a client at `address`
    (a new one unless given); closed after the test."""
    opened: list[Client] = []

    def connect(url: str = app_url, address: str | None = None) -> Client:
        # Plain HTTP on loopback: verification would only make httpx reload the CA bundle for
        # every call, CPU that the concurrency tests would count against the app.
        client = Client(
            url,
            verbose=False,
            download_files=str(tmp_path),
            ssl_verify=False,
            headers={"X-Forwarded-For": address or new_address()},
        )
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()


def chat_all_at_once(clients: list[Client]) -> tuple[list[str], float]:
    """Each client calls `/chat` once, all released together: the replies and the seconds."""
    gate = Barrier(len(clients) + 1)

    def call(number: int) -> str:
        gate.wait()
        reply: str = clients[number].predict(f"user {number}", api_name="/chat")
        return reply

    with ThreadPoolExecutor(len(clients)) as pool:
        calls = [pool.submit(call, number) for number in range(len(clients))]
        gate.wait()
        start = time.perf_counter()
        replies = [each.result() for each in calls]
        return replies, time.perf_counter() - start


def own_replies(count: int) -> list[str]:
    return [f"Emulator reply to 1 message. You said: user {number}" for number in range(count)]


# -- /chat ---------------------------------------------------------------------------------------


def test_chat_returns_the_websim_reply(connect: Connect) -> None:
    reply = connect().predict("Hello", api_name="/chat")
    assert reply == "Emulator reply to 1 message. You said: Hello"


def test_chat_sends_the_history_before_the_message(connect: Connect) -> None:
    history = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
    ]
    reply = connect().predict("And now?", history, api_name="/chat")
    assert reply == "Emulator reply to 3 messages. You said: And now?"


def test_chat_sends_a_system_prompt_unless_it_is_blank(connect: Connect) -> None:
    client = connect()
    reply = client.predict(
        message="Hello", model="gemini-1.5-flash", system_prompt="Be brief.", api_name="/chat"
    )
    assert reply == "Emulator reply to 2 messages. You said: Hello"
    # A blank system prompt is no message at all.
    assert client.predict("Hello", None, "gemini-1.5-pro", "  ", api_name="/chat") == (
        "Emulator reply to 1 message. You said: Hello"
    )


def test_an_upstream_refusal_comes_back_as_one_clear_sentence(
    connect: Connect, upstream: EmulatorProcess
) -> None:
    upstream.script("chat", Fault.status(400, message="messages[0].content: too long for model"))
    with pytest.raises(AppError) as refused:
        connect().predict("Hello", api_name="/chat")
    message = str(refused.value)
    assert "400" in message and "messages[0].content: too long for model" in message
    # One sentence for a person: no traceback, no HTML, no second line.
    assert message.endswith(".") and "\n" not in message
    assert "Traceback" not in message and "<" not in message


# -- /generate_image -----------------------------------------------------------------------------


def test_generate_image_returns_an_image_file_in_the_requested_ratio(
    connect: Connect, tmp_path: Path
) -> None:
    result = connect().predict("A lighthouse at dawn", "16:9", api_name="/generate_image")
    path = Path(result if isinstance(result, str) else result["path"])
    assert path.is_relative_to(tmp_path)  # downloaded to the caller, not a server path
    with Image.open(path) as image:
        image.load()  # the whole file decodes
        width, height = image.size
    assert Fraction(width, height) == Fraction(16, 9)


# -- refused before sending ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_name", "arguments", "problem"),
    [
        ("/chat", ("   ",), r"message must be non-blank text"),
        ("/chat", ("Hello", None, "flux"), r"model must be one of .*'flux' is an image model"),
        ("/generate_image", ("A fox", "3:7"), r"aspect_ratio must be one of 1:1, .*not '3:7'"),
        ("/generate_image", ("   ",), r"prompt must not be blank"),
    ],
    ids=["blank message", "image model for chat", "unknown aspect ratio", "blank prompt"],
)
def test_invalid_input_is_refused_clearly_before_anything_is_sent(
    connect: Connect,
    upstream: EmulatorProcess,
    api_name: str,
    arguments: tuple[Any, ...],
    problem: str,
) -> None:
    client = connect()
    with nothing_sent_to(upstream), pytest.raises(AppError) as refused:
        client.predict(*arguments, api_name=api_name)
    assert refused.match(r"^That request cannot be sent: " + problem)
    assert "\n" not in str(refused.value)


# -- the API page --------------------------------------------------------------------------------


def test_the_api_page_shows_only_chat_and_generate_image(connect: Connect) -> None:
    api = connect().view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == {"/chat", "/generate_image"}
    assert api["unnamed_endpoints"] == {}
    parameters = {
        name: [
            (parameter["parameter_name"], parameter["parameter_default"])
            for parameter in endpoint["parameters"]
        ]
        for name, endpoint in api["named_endpoints"].items()
    }
    assert parameters == {
        "/chat": [
            ("message", None),
            ("history", None),
            ("model", "gemini-1.5-pro"),
            ("system_prompt", ""),
        ],
        "/generate_image": [("prompt", None), ("aspect_ratio", "1:1"), ("model", "flux")],
    }


# -- many users ----------------------------------------------------------------------------------


def test_many_users_are_answered_in_parallel(connect: Connect) -> None:
    users = 32
    clients = [connect() for _ in range(users)]
    replies, seconds = chat_all_at_once(clients)
    print(f"\n{users} users through /chat at {LATENCY} s latency: {seconds:.2f} s")
    assert replies == own_replies(users)
    assert seconds < 4.0  # one at a time would take 32 * 0.5 = 16 s


def test_more_users_than_gradios_default_forty_workers_are_answered_at_once(
    connect: Connect, upstream: EmulatorProcess
) -> None:
    users, hold = 48, 2.0
    # Websim holds every call for `hold` seconds more: any user left waiting for a free worker
    # finishes a whole call later, at twice the time of one.
    upstream.script("chat", *[Fault.hang(hold)] * users)
    clients = [connect() for _ in range(users)]
    replies, seconds = chat_all_at_once(clients)
    print(f"\n{users} users through /chat at {LATENCY + hold} s latency: {seconds:.2f} s")
    assert replies == own_replies(users)
    assert seconds < 2 * (LATENCY + hold)


# -- per-session rate limit ----------------------------------------------------------------------


def test_a_session_over_its_share_is_told_when_to_retry_and_others_are_still_served(
    connect: Connect, limited_app_url: str, upstream: EmulatorProcess
) -> None:
    eager = connect(limited_app_url)
    for _ in range(2):
        assert eager.predict("Hello", api_name="/chat").startswith("Emulator reply")
    with nothing_sent_to(upstream), pytest.raises(AppError) as refused:
        eager.predict("Hello", api_name="/chat")
    assert refused.match(
        r"^You have sent 2 requests in the last minute, the most this app allows; "
        r"try again in \d+ seconds?\.$"
    )
    other = connect(limited_app_url)
    assert (
        other.predict("Hello", api_name="/chat") == "Emulator reply to 1 message. You said: Hello"
    )
