"""The `websim` command, run as its own process against the emulator on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from websim_core.emulator import Emulator, Fault

from .app_process import EMULATOR_BANNER, LOCAL, PROJECT_ROOT, STARTUP_SECONDS, stop

CALL_SECONDS = 30


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


def command_environment(**settings: str) -> dict[str, str]:
    """This process's environment (already free of WEBSIM_* variables) with `settings`."""
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1", **settings}


async def websim(
    emulator: Emulator, *args: str, stdin: str = "", cwd: Path = PROJECT_ROOT, **settings: str
) -> Ran:
    """`websim *args` pointed at `emulator`, fed `stdin`; what it printed and its exit code.

    Run without blocking: the emulator answers on this test's own event loop.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "studio.cli",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=command_environment(**{"WEBSIM_BASE_URL": emulator.base_url, **settings}),
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(stdin.encode()), CALL_SECONDS)
    assert process.returncode is not None
    return Ran(process.returncode, stdout.decode(), stderr.decode())


def sent_messages(emulator: Emulator) -> list[list[dict[str, object]]]:
    return [request.body["messages"] for request in emulator.requests if request.kind == "chat"]


# -- chat ----------------------------------------------------------------------------------------


async def test_chat_prints_the_reply_alone(emulator: Emulator) -> None:
    ran = await websim(emulator, "chat", "Hello there")
    assert (ran.code, ran.stdout, ran.stderr) == (
        0,
        "Emulator reply to 1 message. You said: Hello there\n",
        "",
    )
    assert sent_messages(emulator) == [[{"role": "user", "content": "Hello there"}]]


async def test_chat_reads_the_message_from_stdin(emulator: Emulator) -> None:
    ran = await websim(emulator, "chat", stdin="Line one\nline two\n")
    assert ran.code == 0, ran.stderr
    assert sent_messages(emulator) == [[{"role": "user", "content": "Line one\nline two"}]]


async def test_chat_json_and_the_system_prompt(emulator: Emulator) -> None:
    ran = await websim(
        emulator, "chat", "Bonjour", "-s", "Answer in French.", "-m", "gemini-1.5-flash", "--json"
    )
    assert ran.code == 0, ran.stderr
    printed = json.loads(ran.stdout)
    assert printed["reply"] == "Emulator reply to 2 messages. You said: Bonjour"
    assert printed["model"] == "gemini-1.5-flash"
    assert printed["attempts"] == 1
    assert sent_messages(emulator) == [
        [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Bonjour"},
        ]
    ]


async def test_a_conversation_keeps_its_history(emulator: Emulator) -> None:
    ran = await websim(emulator, "chat", "-i", "-s", "Be brief.", stdin="first\n\nsecond\n")
    assert ran.code == 0, ran.stderr
    first = "Emulator reply to 2 messages. You said: first"
    second = "Emulator reply to 4 messages. You said: second"
    assert ran.stdout == f"{first}\n{second}\n"  # replies only: the prompt goes to stderr
    assert "you> " in ran.stderr
    system = {"role": "system", "content": "Be brief."}
    assert sent_messages(emulator)[1] == [
        system,
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": first},
        {"role": "user", "content": "second"},
    ]


async def test_a_failed_turn_stays_out_of_the_history(emulator: Emulator) -> None:
    emulator.script("chat", Fault.status(400, message="bad turn"))
    ran = await websim(emulator, "chat", "-i", stdin="first\nsecond\n/exit\nnever sent\n")
    assert ran.code == 0
    assert "Error: Websim answered 400 Bad Request: bad turn" in ran.stderr
    assert ran.stdout == "Emulator reply to 1 message. You said: second\n"
    assert sent_messages(emulator)[1] == [{"role": "user", "content": "second"}]
    assert len(emulator.requests) == 2  # nothing after /exit


async def test_a_fixed_project_id_and_base_url_option(emulator: Emulator) -> None:
    # WEBSIM_BASE_URL points nowhere: --base-url must win over it.
    ran = await websim(
        emulator,
        "chat",
        "hi",
        "--base-url",
        emulator.base_url,
        WEBSIM_BASE_URL="http://127.0.0.1:9",
        WEBSIM_PROJECT_ID="k4wd9mpr_n3xq7",
    )
    assert ran.code == 0, ran.stderr
    assert emulator.requests[0].body["project_id"] == "k4wd9mpr_n3xq7"


# -- image ---------------------------------------------------------------------------------------


async def test_image_to_a_named_file(emulator: Emulator, tmp_path: Path) -> None:
    target = tmp_path / "fox.png"
    ran = await websim(emulator, "image", "a red fox", "-a", "16:9", "-o", str(target))
    assert ran.code == 0, ran.stderr
    assert ran.stdout == f"{target}\n"
    with Image.open(io.BytesIO(target.read_bytes())) as picture:
        assert (picture.format, picture.size) == ("PNG", (512, 288))
    assert emulator.requests[0].body["aspect_ratio"] == "16:9"


async def test_image_default_names_never_overwrite(emulator: Emulator, tmp_path: Path) -> None:
    prompt = "A lighthouse at dusk, très belle!"
    first = await websim(emulator, "image", prompt, "-a", "9:16", cwd=tmp_path)
    second = await websim(emulator, "image", prompt, "-a", "9:16", "--json", cwd=tmp_path)
    assert first.code == second.code == 0, first.stderr + second.stderr
    assert first.stdout == "websim-a-lighthouse-at-dusk-tres-belle-9x16.png\n"
    saved = json.loads(second.stdout)
    assert saved["path"] == "websim-a-lighthouse-at-dusk-tres-belle-9x16-2.png"
    assert (saved["content_type"], saved["aspect_ratio"], saved["model"]) == (
        "image/png",
        "9:16",
        "flux",
    )
    for name in (first.stdout.strip(), saved["path"]):
        with Image.open(tmp_path / name) as picture:
            assert picture.size == (288, 512)


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "settings", "words"),
    [
        (["chat", "   "], "", {}, "Error: message: must be non-blank text"),
        (["chat"], "\n\n", {}, "Error: message: must be non-blank text"),
        (["chat", "hi", "-m", "flux"], "", {}, "Error: model: must be one of"),
        (["chat", "-i", "-m", "flux"], "hi\n", {}, "Error: model: must be one of"),
        (["image", "x", "-a", "7:3"], "", {}, "Error: aspect_ratio: must be one of"),
        (["image", " "], "", {}, "Error: prompt: must not be blank"),
        (["image", "x", "-o", "no/such/folder/x.png"], "", {}, "does not exist"),
        (["chat", "hi"], "", {"WEBSIM_TIMEOUT": "soon"}, "Error: WEBSIM_TIMEOUT must be"),
        (["chat", "hi"], "", {"WEBSIM_PROJECT_ID": "my project"}, "Error: WEBSIM_PROJECT_ID"),
    ],
)
async def test_bad_input_exits_2_with_nothing_sent(
    emulator: Emulator, args: list[str], stdin: str, settings: dict[str, str], words: str
) -> None:
    ran = await websim(emulator, *args, stdin=stdin, **settings)
    assert ran.code == 2
    assert words in ran.stderr.splitlines()[-1]
    assert ran.stdout == ""
    assert len(emulator.requests) == 0


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (Fault.status(500), "Error: Websim answered 500 Internal Server Error"),
        (Fault.html(403), "Error: Websim answered 403 Forbidden: a Cloudflare challenge page"),
    ],
)
async def test_websim_failing_exits_1_with_one_line(
    emulator: Emulator, fault: Fault, words: str
) -> None:
    emulator.script("chat", fault)
    ran = await websim(emulator, "chat", "hi", WEBSIM_MAX_RETRIES="0")
    assert ran.code == 1
    [line] = ran.stderr.splitlines()  # one line: no traceback, no HTML
    assert line.startswith(words)
    assert ran.stdout == ""


async def test_an_image_failure_exits_1(emulator: Emulator, tmp_path: Path) -> None:
    emulator.script("image", Fault.missing_field())
    ran = await websim(emulator, "image", "a red fox", cwd=tmp_path)
    assert ran.code == 1
    assert len(ran.stderr.splitlines()) == 1 and ran.stderr.startswith("Error: ")
    assert await asyncio.to_thread(os.listdir, tmp_path) == []


async def test_retries_are_told_on_stderr(emulator: Emulator) -> None:
    emulator.script("chat", Fault.status(429, retry_after="0.1"))
    ran = await websim(emulator, "chat", "hi")
    assert ran.code == 0
    assert ran.stderr == "rate limited (429), retrying in 0.1 s (attempt 2 of 4)\n"
    assert ran.stdout == "Emulator reply to 1 message. You said: hi\n"
    assert len(emulator.requests) == 2


# -- startup, serve and the emulator -------------------------------------------------------------


async def test_chat_does_not_import_gradio(emulator: Emulator) -> None:
    ran = await websim(emulator, "chat", "hi", PYTHONPROFILEIMPORTTIME="1")
    assert ran.code == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in ran.stderr.splitlines()}
    assert "studio.cli.chat" in imported  # the listing is there, and it is this command's
    assert not any(name.split(".")[0] == "gradio" for name in imported)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_runs_the_app(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "studio.cli", "serve", "--demo", "--port", str(port)],
            cwd=tmp_path,
            env=command_environment(GRADIO_ANALYTICS_ENABLED="False"),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                with LOCAL.open(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert json.load(response) == {"status": "ok"}
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.2)
    finally:
        stop(process)
    assert "Offline demo: Websim emulator serving on" in log.read_text(errors="replace")


def test_the_emulator_command_takes_the_emulators_options() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "studio.cli", "emulator", "--port", "0", "--latency", "0.01"],
        env=command_environment(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        assert line.startswith(EMULATOR_BANNER + "http://127.0.0.1:")
    finally:
        stop(process)
        process.stdout.close()
    assert process.returncode == 0
    refused = subprocess.run(
        [sys.executable, "-m", "studio.cli", "emulator", "--fault-rate", "2", "--port", "0"],
        env=command_environment(),
        capture_output=True,
        text=True,
        timeout=CALL_SECONDS,
    )
    assert refused.returncode == 2
    assert "--fault-rate" in refused.stderr
