"""The process: Gradio's environment, the shared services, the page, and the server that runs them.

`python app.py` and `websim serve` both end in `main()`; `demo` is the page, as Hugging Face
Spaces expect to find it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import threading
from pathlib import Path

# Gradio reports usage to its makers unless told not to; an offline demo should not try.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio's queue otherwise rebuilds a pandas table of its last 10,000 events after every event,
# for a monitoring page this app does not serve: CPU per call, and memory, for nothing.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000000")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
# Every file the server keeps lives in one folder, removed when it stops: Gradio's uploads and
# served files too, which it must be told before it is imported.
os.environ["GRADIO_TEMP_DIR"] = os.path.join(tempfile.mkdtemp(prefix="websim-studio-"), "gradio")

from websim_core.emulator import Emulator

from ..mcp import serve_tools_from
from ..page import build_page, page_options
from ..services import logs
from ..services.shared import Services
from .composition import build_server, serve

log = logging.getLogger("websim_studio")

services = Services(files_root=Path(os.environ["GRADIO_TEMP_DIR"]).parent)
demo = build_page(services)


def start_emulator() -> str:
    """Run the bundled emulator on a free loopback port in a background thread; its URL."""
    emulator = Emulator()
    loop = asyncio.new_event_loop()
    started = asyncio.run_coroutine_threadsafe(emulator.start("127.0.0.1", 0), loop)
    threading.Thread(target=loop.run_forever, name="websim-emulator", daemon=True).start()
    return started.result(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Websim Studio: chat with Websim's models and generate images."
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="answer from the bundled Websim emulator on loopback instead of WEBSIM_BASE_URL",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to listen on (GRADIO_SERVER_NAME, else 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        help="port to listen on (GRADIO_SERVER_PORT, else 7860)",
    )
    args = parser.parse_args(argv)
    logs.configure(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    if args.demo:
        base_url = start_emulator()
        services.go_offline(base_url)
        print(f"Offline demo: Websim emulator serving on {base_url}", flush=True)
    if not services.studio.browser_secret_is_fixed:
        log.warning(
            "WEBSIM_STUDIO_SECRET is not set: conversations kept in browsers will not survive "
            "a restart of this server."
        )
    application = build_server(demo, services, **page_options())
    serve_tools_from(demo, args.host, args.port, services.files)
    serve(application, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
