"""The Chat tab's Markdown and JSON exports, built in the browser from what the page already holds.

No server event takes part: each button's click runs `EXPORT_MARKDOWN_JS` or `EXPORT_JSON_JS`
(Gradio's `js=` argument, with no `fn`), which is `exports.js` applied to its format. It receives
the conversations kept in the browser (`studio.page.saved_chats`), takes the one on the page,
builds the file and hands it to the browser's downloads. A public server so writes no file per
export, nor per saved turn as it did when the exports were made ahead at each save.

The documents are those `studio.turns.conversation` defines for Websim:

- Markdown: the conversation's title as its heading, the model, the system prompt when set,
  then a `## You` or `## Websim` section per message with its text and its attached images named
  by file name.
- JSON: `{"title", "model", "system_prompt", "messages"}`, where `messages` are what Websim is
  sent (as `to_websim_messages` builds them): text-only turns as strings, turns with images as
  `text` and `image_url` parts. The browser fetches each attached image from this server and
  inlines it as a data URL, so `messages` can be passed back as the `/chat` API's `history`.

Notes (messages whose `metadata` has a title: a pending reply, an error) are left out of both.
Files are named `websim-chat-<YYYY-MM-DD>-<title>.md` / `.json`, the title a slug of the
conversation's title as the sidebar shows it (the first thing the user said, unless renamed).
"""

from websim_core.catalog import DEFAULT_CHAT_MODEL

from .browser_code import applied
from .words import BROWSER_WORDS

# Websim takes no model name; the exports name the catalogue's label the page shows.
EXPORT_MARKDOWN_JS = applied("exports.js", "markdown", DEFAULT_CHAT_MODEL, BROWSER_WORDS)
"""The Export Markdown button's `js=`: downloads the conversation as a Markdown transcript."""

EXPORT_JSON_JS = applied("exports.js", "json", DEFAULT_CHAT_MODEL, BROWSER_WORDS)
"""The Export JSON button's `js=`: downloads the model, system prompt and Websim messages."""
