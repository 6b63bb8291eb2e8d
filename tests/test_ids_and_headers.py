"""Project IDs, fresh or fixed, and the header set."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websim_core import Websim, WebsimClient, build_headers, generate_project_id
from websim_core.emulator import Emulator
from websim_core.ids import _ALPHABET

from .conftest import HELLO

CHAT_ID = re.compile(r"[a-z0-9]{3}_[a-z0-9]{15}")
IMAGE_ID = re.compile(r"[a-z0-9]{7}_[a-z0-9]{12}")
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 header-name characters


def test_chat_and_image_ids_have_their_shapes() -> None:
    for _ in range(500):
        assert CHAT_ID.fullmatch(generate_project_id())
        assert CHAT_ID.fullmatch(generate_project_id(for_image=False))
        assert IMAGE_ID.fullmatch(generate_project_id(for_image=True))


def test_ids_do_not_repeat_and_use_the_whole_alphabet() -> None:
    ids = {generate_project_id() for _ in range(5000)}
    assert len(ids) == 5000
    seen = set("".join(ids).replace("_", ""))
    assert seen == set(string.ascii_lowercase + string.digits)


def test_ids_come_from_the_secrets_module(monkeypatch: pytest.MonkeyPatch) -> None:
    bounds: list[int] = []

    def largest(bound: int) -> int:
        bounds.append(bound)
        return bound - 1

    monkeypatch.setattr("websim_core.ids.secrets.randbelow", largest)
    assert generate_project_id() == "zzz_zzzzzzzzzzzzzzz"
    assert generate_project_id(for_image=True) == "zzzzzzz_zzzzzzzzzzzz"
    # One draw an ID, covering every possible ID of its length exactly once.
    assert bounds == [len(_ALPHABET) ** 18, len(_ALPHABET) ** 19]


@pytest.mark.parametrize("kind", ["chat", "image"])
def test_every_header_name_is_legal(kind: str) -> None:
    headers = build_headers(kind)  # type: ignore[arg-type]
    for name, value in headers.items():
        assert TOKEN.fullmatch(name), name
        assert "\n" not in value and "\r" not in value
    assert headers["websim-flags"] == ""
    assert "websim-flags;" not in headers
    assert headers["content-type"] == "text/plain;charset=UTF-8"
    assert headers["origin"] == "https://websim.ai"
    assert headers["user-agent"].startswith("Mozilla/5.0")


def test_referer_differs_by_kind() -> None:
    chat, image = build_headers("chat")["referer"], build_headers("image")["referer"]
    assert chat != image
    assert chat.startswith("https://websim.ai/") and image.startswith("https://websim.ai/")


def test_extra_headers_are_added_last_and_win() -> None:
    headers = build_headers("chat", {"Cookie": "session=1", "User-Agent": "mine"})
    assert headers["cookie"] == "session=1"
    assert headers["user-agent"] == "mine"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        build_headers("video")  # type: ignore[arg-type]


@given(st.booleans())
def test_ids_match_their_kind_for_any_flag(for_image: bool) -> None:
    pattern = IMAGE_ID if for_image else CHAT_ID
    assert pattern.fullmatch(generate_project_id(for_image=for_image))


FIXED_ID = "k4wd9mpr_n3xq7"


async def test_a_fixed_project_id_goes_with_every_call(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSIM_PROJECT_ID", FIXED_ID)
    async with WebsimClient(emulator.base_url) as client:
        await client.chat(HELLO)
        await client.chat(HELLO)
        image = await client.generate_image("a red fox")
        await client.chat(HELLO, project_id="ke3_xh5gai3gjkmruomu")  # a call's own ID wins
    sent = [request.body["project_id"] for request in emulator.requests]
    assert sent == [FIXED_ID, FIXED_ID, FIXED_ID, "ke3_xh5gai3gjkmruomu"]
    assert image.project_id == FIXED_ID


async def test_the_argument_overrides_the_variable(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSIM_PROJECT_ID", "from_the_environment")
    async with WebsimClient(emulator.base_url, project_id=FIXED_ID) as client:
        await client.generate_image("a red fox")
    assert emulator.requests[0].body["project_id"] == FIXED_ID


async def test_without_one_every_call_makes_up_its_own(emulator: Emulator) -> None:
    async with WebsimClient(emulator.base_url) as client:
        await client.chat(HELLO)
        await client.chat(HELLO)
        await client.generate_image("a red fox")
    first, second, image = (request.body["project_id"] for request in emulator.requests)
    assert CHAT_ID.fullmatch(first) and CHAT_ID.fullmatch(second) and first != second
    assert IMAGE_ID.fullmatch(image)


async def test_the_provider_keeps_fresh_ids_unless_one_is_set(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSIM_BASE_URL", emulator.base_url)
    try:
        for _ in range(2):
            [_reply] = [text async for text in Websim.create_async_generator("", HELLO)]
        # Set while the provider's pooled client for this loop is already open.
        monkeypatch.setenv("WEBSIM_PROJECT_ID", FIXED_ID)
        [_reply] = [text async for text in Websim.create_async_generator("", HELLO)]
    finally:
        await Websim.close()
    first, second, third = (request.body["project_id"] for request in emulator.requests)
    assert CHAT_ID.fullmatch(first) and CHAT_ID.fullmatch(second) and first != second
    assert third == FIXED_ID
