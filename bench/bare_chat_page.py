"""The floor for the page's cold load: Gradio's own `ChatInterface`, bare, echoing what it is sent.

Run: `python bench/bare_chat_page.py PORT`. It serves on 127.0.0.1:PORT with Gradio's defaults (its
default theme, no extra style or script) and prints one line once it answers. bench/page_load.py
starts it beside the app and loads both pages in the same browser.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr


def echo(message: str, history: list[dict[str, str]]) -> str:
    return message


def main() -> None:
    port = int(sys.argv[1])
    demo = gr.ChatInterface(echo, title="Bare ChatInterface")
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True)
    print(f"Bare ChatInterface serving on http://127.0.0.1:{port}/", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
