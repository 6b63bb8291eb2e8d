"""Project IDs and the header set."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websim_core import build_headers, generate_project_id
from websim_core.ids import _ALPHABET

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
