"""Websim Studio: chat with Websim's models and generate images, in a browser or through the API.

`python app.py` serves the page (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose where) against
WEBSIM_BASE_URL; `python app.py --demo` answers from the bundled emulator instead, offline.
`demo` is the page, as Hugging Face Spaces expect. The process itself is `studio.server.process`.
"""

from studio.server.process import demo, main

__all__ = ["demo", "main"]

if __name__ == "__main__":
    main()
