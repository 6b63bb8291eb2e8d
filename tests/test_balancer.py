"""deploy/haproxy.cfg as shipped, in Debian's haproxy, in front of two replicas sharing a real
Redis: what clients see through it, and what it does when a replica or Redis fails."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
import yaml
from gradio_client import Client
from playwright.sync_api import Browser, expect

from tests.app_process import (
    PROJECT_ROOT,
    EmulatorProcess,
    RunningApp,
    emulator_process,
    running_app,
    running_apps,
    stop,
)
from tests.browser_support import (
    open_page,
    send_and_wait_for_reply,
    user_messages,
    wait_until_restored,
)
from tests.test_public_server import call
from tests.test_shared_limits import redis_server  # noqa: F401 (a fixture)
from websim_core.emulator import Fault

# The first test also waits for two replicas to start, side by side.
pytestmark = pytest.mark.timeout(90)

CONFIG = PROJECT_ROOT / "deploy" / "haproxy.cfg"
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))
PER_MINUTE = 4
HI = ["hi", [], "gemini-1.5-pro", ""]
# The longest a replica may stay in rotation once frozen, and a call may take with Redis frozen.
OUT_WITHIN = 10.0
ANSWER_WITHIN = 2.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Balancer:
    """haproxy with the shipped config: visitors at `url`, its stats as CSV at `stats_url`."""

    url: str
    stats_url: str
    log: Path
    process: subprocess.Popen[bytes]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def states(self) -> dict[str, str]:
        """`backend/server` -> HAProxy's status of it (UP, DOWN, UP 1/2, ...)."""
        with LOCAL.open(self.stats_url + ";csv", timeout=5) as response:
            text = response.read().decode().lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {f"{row['pxname']}/{row['svname']}": row["status"] for row in rows}

    def wait_for(self, server: str, status: str, within: float) -> float:
        """Seconds until `server` (of both backends) shows `status`; fails after `within`."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            states = self.states()
            if states[f"page/{server}"] == status and states[f"openai/{server}"] == status:
                return time.monotonic() - started
            time.sleep(0.1)
        pytest.fail(f"{server} is not {status} after {within:g} s: {self.states()}")


@dataclass
class Cluster:
    balancer: Balancer
    replicas: list[RunningApp]
    upstream: EmulatorProcess
    redis: subprocess.Popen[bytes]
    settings: dict[str, str]
    folder: Path
    stack: ExitStack

    def restart(self, number: int) -> None:
        """Replica `number` (1 or 2) anew on its port, once its old process has ended."""
        old = self.replicas[number - 1]
        port = int(old.url.rstrip("/").rsplit(":", 1)[1])
        self.replicas[number - 1] = self.stack.enter_context(
            running_app([], self.folder / f"replica-{number}-again.log", port=port, **self.settings)
        )


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmulatorProcess]:
    with emulator_process() as running:
        yield running


@pytest.fixture(scope="module")
def started_cluster(
    redis_server: tuple[str, subprocess.Popen[bytes]],  # noqa: F811 (the imported fixture)
    upstream: EmulatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.fail("haproxy is not installed: apt-get install haproxy (.ci/run does)")
    folder = tmp_path_factory.mktemp("balancer")
    redis_url, redis = redis_server
    settings = {
        "WEBSIM_BASE_URL": upstream.url,
        "WEBSIM_STUDIO_SECRET": "replicas",
        "WEBSIM_STUDIO_REQUESTS_PER_MINUTE": str(PER_MINUTE),
        "WEBSIM_STUDIO_LIMITS_STORAGE": redis_url,
        # The balancer connects from loopback; so do the tests' callers, each naming the client
        # it plays in X-Forwarded-For, which the balancer extends.
        "WEBSIM_STUDIO_TRUSTED_PROXIES": "127.0.0.1/32",
        "WEBSIM_STUDIO_DEADLINE": "20",
    }
    with ExitStack() as stack:
        replicas = stack.enter_context(running_apps(2, [], folder, **settings))
        listen, stats = free_port(), free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "WEBSIM_BALANCER_LISTEN": f"127.0.0.1:{listen}",
            "WEBSIM_BALANCER_STATS": f"127.0.0.1:{stats}",
            "WEBSIM_BALANCER_TIMEOUT": "30s",
            **{
                f"WEBSIM_REPLICA_{n}": app.url.removeprefix("http://").rstrip("/")
                for n, app in enumerate(replicas, 1)
            },
        }
        log = folder / "haproxy.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [haproxy, "-db", "-f", str(CONFIG)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        stack.callback(stop, process)
        balancer = Balancer(
            f"http://127.0.0.1:{listen}/", f"http://127.0.0.1:{stats}/", log, process
        )
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                pytest.fail(f"haproxy exited:\n{log.read_text()}")
            try:
                balancer.wait_for("replica1", "UP", 1)
                balancer.wait_for("replica2", "UP", 1)
                break
            except (OSError, pytest.fail.Exception):
                if time.monotonic() > deadline:
                    raise
        yield Cluster(balancer, replicas, upstream, redis, settings, folder, stack)


@pytest.fixture
def cluster(started_cluster: Cluster) -> Cluster:
    """The cluster with both replicas up: one a test killed is started again first."""
    for number, app in enumerate(started_cluster.replicas, 1):
        if app.process.poll() is not None:
            started_cluster.restart(number)
        started_cluster.balancer.wait_for(f"replica{number}", "UP", OUT_WITHIN)
    return started_cluster


def served(app: RunningApp, path: str, at_least: int = 0) -> int:
    """How many requests for `path` the replica's log shows; given `at_least`, once it shows
    that many (a request's line is written as it ends) or 5 s have passed."""
    deadline = time.monotonic() + 5
    while True:
        count = sum(f" {path} " in line for line in app.output().splitlines())
        if count >= at_least or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def client_at(address: str) -> dict[str, str]:
    """Headers of a caller playing the client at `address`."""
    return {"X-Forwarded-For": address}


# --- the recipe as shipped ----------------------------------------------------------------------


def test_the_compose_file_agrees_with_the_config_and_the_settings() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    balancer = services["balancer"]
    replicas = {name: service for name, service in services.items() if name.startswith("studio")}
    assert len(replicas) >= 2
    named = {value for key, value in balancer["environment"].items() if key.startswith("WEBSIM_R")}
    assert named == {f"{name}:7860" for name in replicas}
    address = balancer["networks"]["studio"]["ipv4_address"]
    for service in replicas.values():
        env = service["environment"]
        assert env["WEBSIM_STUDIO_TRUSTED_PROXIES"] == f"{address}/32"
        assert env["WEBSIM_STUDIO_LIMITS_STORAGE"] == "redis://redis:6379"
        # Calls in flight finish before Docker's SIGKILL, and no call outlasts the balancer.
        grace = int(env["WEBSIM_STUDIO_SHUTDOWN_GRACE"])
        assert int(service["stop_grace_period"].removesuffix("s")) >= grace + 5
        timeout = int(balancer["environment"]["WEBSIM_BALANCER_TIMEOUT"].removesuffix("s"))
        assert timeout >= int(env["WEBSIM_STUDIO_DEADLINE"]) + 30


@pytest.mark.parametrize("replicas", [2, 4])
def test_haproxy_accepts_the_config_as_compose_gives_it(replicas: int) -> None:
    haproxy = shutil.which("haproxy")
    assert haproxy is not None, "apt-get install haproxy (.ci/run does)"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env |= {f"WEBSIM_REPLICA_{n}": f"studio-{n}:7860" for n in range(3, replicas + 1)}
    checked = subprocess.run(
        [haproxy, "-c", "-f", str(CONFIG)], env=env, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    # Names that do not resolve yet (containers still starting) do not stop the balancer.
    assert checked.stderr.count("could not resolve address") == 2 * replicas, checked.stderr


# --- clients through the balancer ----------------------------------------------------------------


def test_gradio_client_keeps_the_cookie_and_stays_on_its_replica(cluster: Cluster) -> None:
    client = Client(cluster.balancer.url, verbose=False, headers=client_at("198.51.100.1"))
    try:
        # gradio_client keeps the cookies of its first answer and sends them with every call.
        sticky = client.cookies.get("websim_replica")
        assert sticky in ("r1", "r2"), client.cookies
        home = cluster.replicas[int(sticky[1]) - 1]
        other = cluster.replicas[2 - int(sticky[1])]
        before = served(home, "/gradio_api/queue/join"), served(other, "/gradio_api/queue/join")
        for _ in range(2):
            reply = client.predict("hi", api_name="/chat")
            assert reply.startswith("Emulator reply"), reply
        after = (
            served(home, "/gradio_api/queue/join", before[0] + 2),
            served(other, "/gradio_api/queue/join"),
        )
    finally:
        client.close()
    assert (after[0] - before[0], after[1] - before[1]) == (2, 0)


def test_a_browser_stays_on_its_replica_and_its_conversation_opens_on_the_other(
    cluster: Cluster, browser: Browser, request: pytest.FixtureRequest
) -> None:
    joins = "/gradio_api/queue/join"
    for page in open_page(
        browser, cluster.balancer.url, request, extra_http_headers=client_at("198.51.100.5")
    ):
        (cookie,) = [c for c in page.context.cookies() if c["name"] == "websim_replica"]
        home, other = int(cookie["value"][1]), 3 - int(cookie["value"][1])

        def joined() -> dict[int, int]:
            """Queue joins each replica's log shows, once the last turn's are written."""
            time.sleep(0.5)
            return {number: served(app, joins) for number, app in enumerate(cluster.replicas, 1)}

        before = joined()
        send_and_wait_for_reply(page, "Hello through the balancer")
        first = joined()
        # The conversation is kept in the browser under the one secret: another replica opens it.
        page.context.add_cookies([{**cookie, "value": f"r{other}"}])  # type: ignore[typeddict-item]
        page.reload()
        wait_until_restored(page)
        expect(user_messages(page)).to_have_text(["Hello through the balancer"])
        # Websim is sent the history too: the first message, its reply and this one.
        send_and_wait_for_reply(page, "And on the other one", messages_sent=3)
        second = joined()
    # Each turn's events all went to the replica its cookie named.
    assert first[home] > before[home] and first[other] == before[other]
    assert second[other] > first[other] and second[home] == first[home]


def test_the_cookie_chooses_the_replica(cluster: Cluster) -> None:
    for number, app in enumerate(cluster.replicas, 1):
        before = served(app, "/config")
        request = urllib.request.Request(
            cluster.balancer.url + "config", headers={"Cookie": f"websim_replica=r{number}"}
        )
        for _ in range(3):
            with LOCAL.open(request, timeout=10) as response:
                assert response.status == 200
                # The cookie the client has already is not set again, nor passed on.
                assert "websim_replica" not in (response.headers.get("Set-Cookie") or "")
        assert served(app, "/config", before + 3) - before == 3


def test_openai_calls_spread_and_public_urls_name_the_balancer(cluster: Cluster) -> None:
    api = openai.OpenAI(
        base_url=cluster.balancer.url + "v1",
        api_key="unused",
        max_retries=0,
        default_headers=client_at("198.51.100.2"),
    )
    before = [served(app, "/v1/chat/completions") for app in cluster.replicas]
    try:
        for n in range(2):
            reply = api.chat.completions.create(
                model="gemini-1.5-pro", messages=[{"role": "user", "content": f"call {n}"}]
            )
            assert reply.choices[0].message.content.endswith(f"You said: call {n}")
        image = api.images.generate(prompt="a lighthouse", model="flux")
    finally:
        api.close()
    after = [
        served(app, "/v1/chat/completions", b + 1)
        for app, b in zip(cluster.replicas, before, strict=True)
    ]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]  # one each
    assert image.data is not None and image.data[0].url is not None
    assert image.data[0].url.startswith(cluster.balancer.url + "v1/images/files/")


def test_a_body_of_nearly_nine_mib_reaches_a_replica(cluster: Cluster) -> None:
    text = "x" * (7 * 2**20)
    body = json.dumps(
        {"model": "gemini-1.5-pro", "messages": [{"role": "user", "content": text}]}
    ).encode()
    body = body[:-1] + b" " * (int(8.9 * 2**20) - len(body)) + b"}"
    request = urllib.request.Request(
        cluster.balancer.url + "v1/chat/completions",
        data=body,
        headers={"Content-Type": "application/json", **client_at("198.51.100.3")},
    )
    with LOCAL.open(request, timeout=30) as response:
        answer = json.load(response)
    assert answer["choices"][0]["message"]["content"].startswith("Emulator reply")


def test_one_clients_allowance_is_the_configured_one_across_replicas(cluster: Cluster) -> None:
    api = openai.OpenAI(
        base_url=cluster.balancer.url + "v1",
        api_key="unused",
        max_retries=0,
        default_headers=client_at("198.51.100.4"),
    )
    before = [served(app, "/v1/chat/completions") for app in cluster.replicas]
    outcomes = []
    try:
        for n in range(PER_MINUTE + 2):
            try:
                api.chat.completions.create(
                    model="gemini-1.5-pro", messages=[{"role": "user", "content": f"call {n}"}]
                )
                outcomes.append("answered")
            except openai.RateLimitError as error:
                assert f"You have sent {PER_MINUTE} requests in the last minute" in error.message
                outcomes.append("refused")
    finally:
        api.close()
    after = [
        served(app, "/v1/chat/completions", b + 2)
        for app, b in zip(cluster.replicas, before, strict=True)
    ]
    assert all(a - b >= 2 for a, b in zip(after, before, strict=True))  # both replicas counted
    assert outcomes == ["answered"] * PER_MINUTE + ["refused"] * 2
    # The page's API counts for the same client: its budget is spent.
    refused = call(cluster.balancer.url, "chat", HI, headers=client_at("198.51.100.4"))
    assert f"You have sent {PER_MINUTE} requests in the last minute" in refused


# --- failures ------------------------------------------------------------------------------------


def test_a_frozen_redis_keeps_every_call_answering_within_two_seconds(cluster: Cluster) -> None:
    api = openai.OpenAI(base_url=cluster.balancer.url + "v1", api_key="unused", max_retries=0)
    cluster.redis.send_signal(signal.SIGSTOP)
    try:
        for n in range(4):
            started = time.monotonic()
            reply = api.chat.completions.create(
                model="gemini-1.5-pro",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers=client_at(f"198.51.100.{10 + n}"),
            )
            assert reply.choices[0].message.content
            assert time.monotonic() - started < ANSWER_WITHIN
            started = time.monotonic()
            page = call(cluster.balancer.url, "chat", HI, headers=client_at(f"198.51.100.{20 + n}"))
            assert page.startswith("complete: Emulator reply"), page
            assert time.monotonic() - started < ANSWER_WITHIN
        # Degraded, the replicas stay ready: none is taken out of rotation.
        states = cluster.balancer.states()
        assert (states["page/replica1"], states["page/replica2"]) == ("UP", "UP")
    finally:
        cluster.redis.send_signal(signal.SIGCONT)
        api.close()


def test_a_frozen_replica_is_out_within_ten_seconds_and_back_after_it_thaws(
    cluster: Cluster,
) -> None:
    frozen = cluster.replicas[0]
    frozen.process.send_signal(signal.SIGSTOP)
    try:
        out = cluster.balancer.wait_for("replica1", "DOWN", OUT_WITHIN)
        # Out: every call answers at once, from the other replica, cookie or not.
        for n in range(3):
            started = time.monotonic()
            page = call(cluster.balancer.url, "chat", HI, headers=client_at(f"198.51.100.{30 + n}"))
            assert page.startswith("complete: Emulator reply"), page
            assert time.monotonic() - started < ANSWER_WITHIN
    finally:
        frozen.process.send_signal(signal.SIGCONT)
    back = cluster.balancer.wait_for("replica1", "UP", OUT_WITHIN)
    print(f"frozen replica out after {out:.1f} s, back {back:.1f} s after it thawed")
    assert out < OUT_WITHIN


def test_with_every_replica_out_callers_are_told_in_words_not_html(cluster: Cluster) -> None:
    for app in cluster.replicas:
        app.process.send_signal(signal.SIGSTOP)
    api = openai.OpenAI(base_url=cluster.balancer.url + "v1", api_key="unused", max_retries=0)
    try:
        for number in (1, 2):
            cluster.balancer.wait_for(f"replica{number}", "DOWN", OUT_WITHIN)
        with pytest.raises(openai.APIStatusError) as refused:
            api.chat.completions.create(
                model="gemini-1.5-pro", messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(urllib.error.HTTPError) as page:
            LOCAL.open(cluster.balancer.url, timeout=10)
    finally:
        for app in cluster.replicas:
            app.process.send_signal(signal.SIGCONT)
        api.close()
    assert refused.value.status_code == 503
    assert refused.value.response.headers["content-type"] == "application/json"
    assert refused.value.response.headers["retry-after"] == "10"
    assert refused.value.body == {
        "message": "No server is available right now. Try again in a few seconds.",
        "type": "server_error",
        "param": None,
        "code": "server_busy",
    }
    with page.value as answer:
        assert answer.code == 503
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.read().decode().startswith("No server is available right now.")
    for number in (1, 2):
        cluster.balancer.wait_for(f"replica{number}", "UP", OUT_WITHIN)


def test_a_killed_replica_loses_no_new_call(cluster: Cluster) -> None:
    # The first calls each wait on Websim long enough to be in flight when a replica dies.
    in_flight = 8
    cluster.upstream.script("chat", *[Fault.hang(1.5)] * in_flight)
    outcomes: dict[str, list[str]] = {"in flight": [], "after": []}

    async def one(api: openai.AsyncOpenAI, number: int, when: str) -> None:
        try:
            reply = await api.chat.completions.create(
                model="gemini-1.5-pro",
                messages=[{"role": "user", "content": f"call {number}"}],
                extra_headers=client_at(f"203.0.113.{number}"),
            )
        except openai.APIStatusError as error:
            kind = error.response.headers.get("content-type", "")
            envelope = isinstance(error.body, dict) and "message" in error.body
            outcomes[when].append(f"{error.status_code} {kind} {'envelope' if envelope else ''}")
        except openai.APIConnectionError as error:
            outcomes[when].append(f"connection: {error}")
        else:
            said = reply.choices[0].message.content or ""
            outcomes[when].append("answered" if said.endswith(f"call {number}") else said)

    async def load() -> None:
        api = openai.AsyncOpenAI(
            base_url=cluster.balancer.url + "v1", api_key="unused", max_retries=0, timeout=20
        )
        async with api:
            first = [asyncio.create_task(one(api, n, "in flight")) for n in range(in_flight)]
            await asyncio.sleep(0.7)
            cluster.replicas[0].process.kill()
            await asyncio.to_thread(cluster.replicas[0].process.wait)
            # New calls, while HAProxy has not yet noticed and after.
            for wave in range(4):
                await asyncio.gather(*(one(api, 100 + wave * 10 + n, "after") for n in range(6)))
                await asyncio.sleep(0.3)
            await asyncio.gather(*first)

    try:
        # On a thread of its own: Playwright's sync API keeps an event loop on this one.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(lambda: asyncio.run(load())).result()
        assert outcomes["after"] == ["answered"] * 24, outcomes
        for outcome in outcomes["in flight"]:
            assert outcome == "answered" or outcome in (
                "502 application/json envelope",
                "503 application/json envelope",
            )
        # Page clients too, whichever replica their cookie named.
        for number in (1, 2):
            request = urllib.request.Request(
                cluster.balancer.url + "config", headers={"Cookie": f"websim_replica=r{number}"}
            )
            with LOCAL.open(request, timeout=10) as response:
                assert response.status == 200
        # The calls the dead replica held or refused went to the other one (HAProxy's log
        # marks a call sent elsewhere by a `+` before its number of retries).
        resent = re.findall(
            r"/\+\d+ \d+/\d+ \"POST /v1/chat/completions", cluster.balancer.output()
        )
        print(f"in flight at the kill: {outcomes['in flight']}; {len(resent)} sent again")
        assert resent
    finally:
        cluster.upstream.clear()
    cluster.balancer.wait_for("replica1", "DOWN", OUT_WITHIN)
    outcome = call(cluster.balancer.url, "chat", HI, headers=client_at("203.0.113.200"))
    assert outcome.startswith("complete: Emulator reply"), outcome
