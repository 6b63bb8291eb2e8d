"""What the Chatbot is given: the user's words literally, replies without HTML, bad links or
remote images. Checked by rendering with markdown-it (CommonMark, HTML allowed, as the page's
renderer does) and reading what comes out."""

from __future__ import annotations

import html
import re

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from studio.page.rendering import (
    from_literal_markdown,
    literal_markdown,
    safe_reply_markdown,
    shown_history,
)
from studio.turns.conversation import assistant_message, error_note, user_message

RENDERER = MarkdownIt("commonmark", {"html": True, "breaks": True})
RENDERER.validateLink = lambda url: True  # type: ignore[method-assign]
TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>")

# Text made mostly of what Markdown and HTML react to.
MARKUP = st.lists(
    st.sampled_from([*"<>[]()!*_`~#-+=.|&$\\/:\"' \n1aZ", "javascript:", "http://e/", "/x"]),
    max_size=40,
).map("".join)
# Text with the spacing a person types, fences, and the characters that keep spacing shown.
TYPED = st.lists(
    st.sampled_from(
        [*" \t\n`~>-*ab", "```", "```py\n", "\n    ", "\u00a0", "\u2003", "\u200b", "&#160;"]
    ),
    max_size=30,
).map("".join)


def rendered(markdown: str) -> str:
    return RENDERER.render(markdown)


def text_of_html(markup: str) -> str:
    return html.unescape(
        re.sub(r"<br />\n?", "\n", TAG.sub(lambda m: "" if m[2] != "br" else m[0], markup))
    )


def test_markup_typed_by_the_user_is_shown_as_typed() -> None:
    for typed in (
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        "# not a heading\n1. not a list\n- nor this\n**not bold** $$x$$ `code`",
    ):
        markup = rendered(literal_markdown(typed))
        assert {tag for _, tag, _ in TAG.findall(markup)} <= {"p", "br"}, markup
        assert text_of_html(markup).strip() == typed


@given(MARKUP)
def test_literal_markdown_renders_no_markup_and_reads_back(typed: str) -> None:
    markdown = literal_markdown(typed)

    assert from_literal_markdown(markdown) == typed
    tags = {tag for _, tag, _ in TAG.findall(rendered(markdown))}
    # Four leading spaces still make a code block, which shows its text as it is.
    assert tags <= {"p", "br", "pre", "code"}, markdown


@given(TYPED)
def test_spacing_and_fences_typed_by_the_user_read_back_exactly(typed: str) -> None:
    markdown = literal_markdown(typed)

    assert from_literal_markdown(markdown) == typed
    tags = {tag for _, tag, _ in TAG.findall(rendered(markdown))}
    assert tags <= {"p", "br", "pre", "code"}, markdown


def visible(markup: str) -> str:
    """The text a browser shows for `markup`, line by line: runs of ordinary white space merged
    into one space, no-break spaces shown as spaces, zero-width spaces unseen."""
    text = TAG.sub("", re.sub(r"<br />\n?|</p>\n?", "\0", markup))
    lines = html.unescape(re.sub(r"[ \t\n]+", " ", text)).split("\0")
    return "\n".join(line.strip(" ") for line in lines).replace("\u200b", "").replace("\u00a0", " ")


def test_indentation_and_runs_of_spaces_typed_by_the_user_are_shown() -> None:
    typed = "def f(x):\n    if x:\n        return  1\n\treturn 0"

    markup = rendered(literal_markdown(typed))

    assert {tag for _, tag, _ in TAG.findall(markup)} <= {"p", "br"}
    shown = [line for line in visible(markup).split("\n") if line]
    tab = "\u2003\u2003"
    assert shown == ["def f(x):", "    if x:", "        return  1", f"{tab}return 0"]


def test_blank_lines_typed_by_the_user_are_kept_and_a_lone_indented_line_too() -> None:
    markup = rendered(literal_markdown("    four spaces first\n\n\n\nthree blank lines"))

    assert "<pre>" not in markup and "four spaces first" in markup
    assert markup.startswith("<p>\u200b\u00a0\u00a0\u00a0\u00a0four")
    # One paragraph break, then two lines holding nothing visible, then the text.
    assert markup.count("<p>") == 2 and markup.count("<br />") == 2


def test_a_fenced_block_typed_by_the_user_is_code_and_the_rest_stays_literal() -> None:
    typed = "Why does this fail?\n```python\nif x:\n    return *a*\n```\nIt says <b>no</b>."

    markup = rendered(literal_markdown(typed))

    assert '<pre><code class="language-python">if x:\n    return *a*\n</code></pre>' in markup
    assert "<p>It says &lt;b&gt;no&lt;/b&gt;.</p>" in markup
    assert from_literal_markdown(literal_markdown(typed)) == typed


def test_a_fence_inside_a_quote_or_a_list_is_shown_as_typed_not_as_code() -> None:
    for typed in ("> ```\n> code\n> ```", "- item\n  ```\n  code\n  ```"):
        markup = rendered(literal_markdown(typed))

        assert {tag for _, tag, _ in TAG.findall(markup)} <= {"p", "br"}, markup
        assert "```" in html.unescape(markup)


def test_a_reply_keeps_its_markdown_and_shows_its_html_as_text() -> None:
    reply = "**Bold** and <b>tags</b>, `<i>in code</i>`\n\n```html\n<p>kept</p>\n```"

    markup = rendered(safe_reply_markdown(reply))

    assert "<strong>Bold</strong>" in markup
    assert "&lt;b&gt;tags&lt;/b&gt;" in markup
    assert "<code>&lt;i&gt;in code&lt;/i&gt;</code>" in markup
    assert "&lt;p&gt;kept&lt;/p&gt;" in markup  # the code block, unchanged
    assert "<b>" not in markup


def test_a_remote_image_in_a_reply_becomes_a_link_and_a_local_one_stays() -> None:
    reply = "Look ![](http://127.0.0.2:9/pixel.png?q=secret) and ![chart](/gradio_api/file=c.png)"

    markup = rendered(safe_reply_markdown(reply))

    link = '<a href="http://127.0.0.2:9/pixel.png?q=secret">Image: http://127.0.0.2:9/pixel.png'
    assert link in markup
    assert '<img src="/gradio_api/file=c.png" alt="chart" />' in markup
    assert markup.count("<img") == 1


def test_links_lead_only_to_http_and_mailto_and_others_show_as_written() -> None:
    reply = (
        "[web](https://example.com/a_(b)) [mail](mailto:a@b.c) [bad](javascript:alert(1)) "
        "[data](data:text/html,hi) [nested [x]](javascript:y) ![i][r] [z][s]\n\n"
        "[r]: http://remote/p.png\n[s]: javascript:z"
    )

    markup = rendered(safe_reply_markdown(reply))

    hrefs = re.findall(r'href="([^"]*)"', markup)
    assert hrefs and all(href.startswith(("http", "mailto:")) for href in hrefs), hrefs
    assert "<img" not in markup
    assert "[bad](javascript:alert(1))" in html.unescape(markup)


@given(MARKUP)
def test_no_reply_can_hold_html_an_unsafe_link_or_a_remote_image(reply: str) -> None:
    markup = rendered(safe_reply_markdown(reply))

    for closing, tag, attributes in TAG.findall(markup):
        assert tag in {
            "p",
            "br",
            "a",
            "img",
            "em",
            "strong",
            "code",
            "pre",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "ul",
            "ol",
            "li",
            "blockquote",
            "hr",
        }, markup
        if tag == "a" and not closing:
            href = re.search(r'href="([^"]*)"', attributes)
            assert href and href[1].startswith(("http://", "https://", "mailto:")), markup
        if tag == "img":
            source = re.search(r'src="([^"]*)"', attributes)
            assert source and source[1].startswith("/") and not source[1].startswith("//")


def test_the_history_shown_is_message_for_message_and_the_stored_one_is_untouched() -> None:
    history = [
        user_message("<b>mine</b>", ["/tmp/cat.png"]),
        error_note("Websim answered 400: <bad>"),
        assistant_message("<i>reply</i>"),
    ]

    shown = shown_history(history)

    assert len(shown) == 3
    assert shown[0]["content"][0]["text"] == "\\<b\\>mine\\</b\\>"
    assert shown[0]["content"][1] == history[0]["content"][1]
    assert shown[1]["content"][0]["text"].endswith("\\<bad\\>")
    assert shown[1]["metadata"] == history[1]["metadata"]
    assert shown[2]["content"][0]["text"] == "&lt;i>reply&lt;/i>"
    assert history[0]["content"][0]["text"] == "<b>mine</b>"
