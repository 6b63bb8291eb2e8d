"""Input checks: bad input is refused before anything is sent, with the field named."""

from __future__ import annotations

from typing import Any

import pytest
from aioresponses import aioresponses
from hypothesis import given
from hypothesis import strategies as st

from websim_core import ASPECT_RATIOS, InvalidRequestError, WebsimClient
from websim_core.validation import (
    MAX_MESSAGES,
    MAX_PARTS,
    MAX_PROMPT_CHARS,
    MAX_REQUEST_BYTES,
    check_request_size,
    validate_aspect_ratio,
    validate_messages,
    validate_model,
    validate_project_id,
    validate_prompt,
)

PIXEL = "data:image/png;base64,iVBORw0KGgo="


@pytest.mark.parametrize(
    ("messages", "field", "words"),
    [
        (None, "messages", "list"),
        ("hello", "messages", "list"),
        ([], "messages", "at least one"),
        (["hello"], "messages[0]", "mapping"),
        ([{"content": "hi"}], "messages[0].role", "one of system, user, assistant"),
        ([{"role": "bot", "content": "hi"}], "messages[0].role", "'bot'"),
        ([{"role": "user"}], "messages[0].content", "text or a list"),
        ([{"role": "user", "content": "  \n"}], "messages[0].content", "blank"),
        ([{"role": "user", "content": 42}], "messages[0].content", "text or a list"),
        ([{"role": "user", "content": []}], "messages[0].content", "blank"),
        (
            [{"role": "user", "content": "ok"}, {"role": "assistant", "content": ""}],
            "messages[1].content",
            "blank",
        ),
        (
            [{"role": "user", "content": [{"type": "text"}]}],
            "messages[0].content[0].text",
            "string",
        ),
        (
            [{"role": "user", "content": [{"type": "text", "text": " "}]}],
            "messages[0].content",
            "blank",
        ),
        (
            [{"role": "user", "content": [{"type": "audio", "data": "x"}]}],
            "messages[0].content[0]",
            "part",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "file:///x"}}],
                }
            ],
            "messages[0].content[0].image_url.url",
            "data:image",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": PIXEL}]}],
            "messages[0].content[0].image_url.url",
            "data:image",
        ),
    ],
)
def test_bad_messages_name_the_field(messages: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_messages(messages)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert words in str(caught.value)


def test_too_many_messages_or_parts_are_refused_before_any_is_looked_at() -> None:
    # Each one wrong, so that a walk would name one of them instead.
    messages: list[Any] = [{"role": "bogus"}] * (MAX_MESSAGES + 1)
    with pytest.raises(InvalidRequestError) as refused:
        validate_messages(messages, field="history")
    assert refused.value.field == "history"
    assert f"holds {MAX_MESSAGES + 1:,} messages; at most {MAX_MESSAGES:,}" in refused.value.problem
    parts = [{"type": "bogus"}] * (MAX_PARTS + 1)
    with pytest.raises(InvalidRequestError) as refused:
        validate_messages([{"role": "user", "content": parts}])
    assert refused.value.field == "messages[0].content"
    assert f"at most {MAX_PARTS} fit" in refused.value.problem
    validate_messages([{"role": "user", "content": "hi"}] * MAX_MESSAGES)  # the most is fine


def test_good_messages_pass_through_unchanged() -> None:
    parts = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}},
    ]
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": parts},
        {"role": "assistant", "content": "A cat."},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": PIXEL}}]},
    ]
    assert validate_messages(messages) == messages
    assert validate_messages(messages)[1]["content"] is parts


def test_prompt_is_stripped_and_capped() -> None:
    assert validate_prompt("  a red fox \n") == "a red fox"
    assert validate_prompt("x" * MAX_PROMPT_CHARS) == "x" * MAX_PROMPT_CHARS
    with pytest.raises(
        InvalidRequestError, match=r"^prompt: is 4,001 characters; the limit is 4,000"
    ):
        validate_prompt("x" * (MAX_PROMPT_CHARS + 1))
    with pytest.raises(InvalidRequestError, match=r"^prompt: must not be blank"):
        validate_prompt(" \t")
    with pytest.raises(InvalidRequestError, match=r"^prompt: must be text"):
        validate_prompt(None)


def test_all_eleven_aspect_ratios_and_nothing_else() -> None:
    assert len(ASPECT_RATIOS) == 11
    for ratio in ASPECT_RATIOS:
        assert validate_aspect_ratio(ratio) == ratio
    for bad in ("2:1", "16/9", "", None, "1:1 "):
        with pytest.raises(InvalidRequestError, match=r"^aspect_ratio: must be one of 1:1, 16:9"):
            validate_aspect_ratio(bad)


def test_models_must_be_of_the_right_kind() -> None:
    assert validate_model(None, "chat") == "gemini-1.5-pro"
    assert validate_model(None, "image") == "flux"
    assert validate_model("gemini-1.5-flash", "chat") == "gemini-1.5-flash"
    with pytest.raises(InvalidRequestError, match=r"'flux' is an image model"):
        validate_model("flux", "chat")
    with pytest.raises(InvalidRequestError, match=r"'gemini-1.5-pro' is a chat model"):
        validate_model("gemini-1.5-pro", "image")
    with pytest.raises(InvalidRequestError, match=r"^model: must be one of gemini-1.5-pro"):
        validate_model("gpt-4o", "chat")


def test_project_ids_given_are_checked_and_missing_ones_made() -> None:
    assert validate_project_id("test_id", "chat") == "test_id"
    assert len(validate_project_id(None, "chat")) == 19
    assert len(validate_project_id(None, "image")) == 20
    for bad in ("", "a b", "x" * 65, "../etc", 7):
        with pytest.raises(InvalidRequestError, match=r"^project_id: "):
            validate_project_id(bad, "chat")


async def test_nothing_is_sent_when_input_is_bad(mocked: aioresponses) -> None:
    # With nothing registered, any request at all would fail with a connection error.
    async with WebsimClient() as client:
        with pytest.raises(InvalidRequestError, match=r"^messages\[0\]\.content"):
            await client.chat([{"role": "user", "content": ""}])
        with pytest.raises(InvalidRequestError, match=r"^model"):
            await client.chat([{"role": "user", "content": "hi"}], model="flux")
        with pytest.raises(InvalidRequestError, match=r"^aspect_ratio"):
            await client.generate_image("a fox", aspect_ratio="2:1")
        with pytest.raises(InvalidRequestError, match=r"^prompt"):
            await client.generate_image("   ")
        with pytest.raises(InvalidRequestError, match=r"^deadline"):
            await client.chat([{"role": "user", "content": "hi"}], deadline=0)
    assert mocked.requests == {}


async def test_oversized_request_is_refused_before_sending(mocked: aioresponses) -> None:
    huge = "x" * MAX_REQUEST_BYTES
    async with WebsimClient() as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat([{"role": "user", "content": huge}])
        with pytest.raises(InvalidRequestError, match=r"^messages: must hold only JSON values"):
            await client.chat([{"role": "user", "content": "hi", "extra": object()}])
    assert mocked.requests == {}
    # The app shows f"{field} {problem}": the problem must read on from the field's name.
    error = caught.value
    assert f"{error.field} {error.problem}" == (
        "messages would make the request 8.1 MiB, over the 8 MiB limit; "
        "send fewer or smaller images"
    )


def test_an_oversized_prompt_body_says_to_shorten_it() -> None:
    body = b"x" * (10 * 2**20)
    with pytest.raises(InvalidRequestError) as caught:
        check_request_size(body, "prompt", "shorten it")
    error = caught.value
    assert f"{error.field} {error.problem}" == (
        "prompt would make the request 10.0 MiB, over the 8 MiB limit; shorten it"
    )
    check_request_size(b"x" * MAX_REQUEST_BYTES, "prompt")  # at the limit is fine


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        (
            [{"role": "user", "content": "ok"}, {"role": "user", "content": "bad \ud800 text"}],
            "messages[1].content",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "fine"},
                        {"type": "text", "text": "cut emoji \udc4d"},
                    ],
                }
            ],
            "messages[0].content[1].text",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/\ud83d"}}],
                }
            ],
            "messages[0].content[0].image_url.url",
        ),
    ],
)
def test_a_lone_surrogate_is_refused_naming_the_field(messages: Any, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_messages(messages)
    assert caught.value.field == field
    assert "holds a character that is not valid text (U+D" in caught.value.problem
    assert caught.value.problem.endswith("); remove it")
    assert "codec" not in str(caught.value)


def test_a_lone_surrogate_in_the_prompt_is_refused() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_prompt("a fox \ud800")
    assert str(caught.value) == (
        "prompt: holds a character that is not valid text (U+D800); remove it"
    )


async def test_a_lone_surrogate_is_never_sent_nor_a_codec_message(mocked: aioresponses) -> None:
    async with WebsimClient() as client:
        with pytest.raises(InvalidRequestError, match=r"^messages\[0\]\.content: holds"):
            await client.chat([{"role": "user", "content": "hi \ud800"}])
        # Outside the texts validation reads, the encoder's fallback words it the same way.
        with pytest.raises(
            InvalidRequestError, match=r"^messages: holds a character that is not valid text"
        ):
            await client.chat([{"role": "user", "content": "hi", "name": "\udfff"}])
        with pytest.raises(InvalidRequestError, match=r"^prompt: holds"):
            await client.generate_image("a fox \ud800")
    assert mocked.requests == {}


def test_a_field_prefix_names_the_callers_own_list() -> None:
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "   "},
    ]
    with pytest.raises(InvalidRequestError) as caught:
        validate_messages(history, field="history")
    assert caught.value.field == "history[2].content"
    with pytest.raises(InvalidRequestError) as caught:
        validate_messages([], field="history")
    assert str(caught.value) == "history: must hold at least one message"
    with pytest.raises(InvalidRequestError) as caught:
        validate_messages(
            [{"role": "user", "content": [{"type": "text", "text": "\ud800"}]}], field="history"
        )
    assert caught.value.field == "history[0].content[0].text"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
roles = st.sampled_from(["system", "user", "assistant", "bot", ""])
message_like = st.fixed_dictionaries(
    {"role": roles}, optional={"content": json_values | st.text(max_size=10)}
)


@given(st.lists(message_like, max_size=4) | json_values)
def test_any_input_is_accepted_or_refused_with_a_field(messages: Any) -> None:
    try:
        accepted = validate_messages(messages)
    except InvalidRequestError as error:
        assert error.field.startswith("messages")
    else:
        assert accepted == list(messages)
        for message in accepted:
            assert message["role"] in ("system", "user", "assistant")


@given(st.text(min_size=1, max_size=50).filter(lambda text: bool(text.strip())))
def test_any_text_with_a_visible_character_is_a_valid_message(text: str) -> None:
    assert validate_messages([{"role": "user", "content": text}])[0]["content"] == text
