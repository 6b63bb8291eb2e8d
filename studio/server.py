"""The one ASGI application the process serves, composed where a reader can see all of it.

    Edge (request id, client address, body cap, upload limit, busy wording, logs, metrics)
    └── FastAPI, with the lifespan that opens and closes the shared services
        ├── /healthz, /readyz, /metrics        operators (studio.health)
        └── /                                  the Gradio page and its API (app.py's `demo`)

A new surface (an OpenAI-compatible /v1, say) is one more `include_router` here, before Gradio
takes "/", and inherits the edge's cap, client identity and logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI

from .edge import Edge
from .health import health_routes
from .services import Services

log = logging.getLogger("websim_studio")

# Sessions whose state Gradio keeps in memory (its default is 10,000, about 70 KB each here): a
# browser resends what an event needs, so an evicted session loses nothing, and memory stays
# bounded however many scripts start new sessions.
STATE_SESSIONS = 500
# How often Gradio's per-session bookkeeping is tidied (see `forget_finished_sessions`).
TIDY_INTERVAL = 60.0
# Seconds a stopping server gives streams and calls in flight before it cancels them.
GRACEFUL_SHUTDOWN = 5


def build_server(demo: gr.Blocks, services: Services, **page: Any) -> Edge:
    """The application: `demo` mounted at `/` beside the operators' routes, behind the edge.

    `page` goes to Gradio's mount (css, footer_links, ...).
    """
    settings = services.studio

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with services.lifespan(app):
            tidying = asyncio.create_task(forget_finished_sessions(demo, TIDY_INTERVAL))
            try:
                yield
            finally:
                tidying.cancel()

    app = FastAPI(
        title="Websim Studio",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.include_router(health_routes(services))

    demo.queue(
        max_size=settings.queue_size,
        default_concurrency_limit=settings.concurrency,
        # Queue positions go out once a second rather than at every join and leave, which with
        # hundreds waiting is a message to each of them per event.
        status_update_rate=1,
    )
    # Gradio's queue also runs no more than max_threads events at once (40 by default),
    # whatever the concurrency limit says; launch() would set both, mounting sets neither.
    demo.max_threads = max(40, settings.concurrency)
    demo._queue.max_thread_count = demo.max_threads
    demo.state_session_capacity = STATE_SESSIONS
    # Gradio's files age out with ours; the size cap is the files store's sweep.
    demo.delete_cache = (300, int(settings.files_max_age))
    gr.mount_gradio_app(
        app,
        demo,
        path="/",
        max_file_size=settings.max_request_bytes,
        show_error=True,
        **page,
    )
    cancel_events_of_departed_clients(demo)
    return Edge(
        app,
        settings=settings,
        limiter=services.limiter,
        metrics=services.metrics,
        max_upload_bytes=settings.max_request_bytes,
    )


def cancel_events_of_departed_clients(demo: gr.Blocks) -> None:
    """Cancel a session's running events when its client goes away.

    Gradio notices the closed stream and only marks the session's events dead, which stops a
    generator at its next yield but leaves a call waiting on Websim running to the end. Its
    running events are asyncio tasks named "<session>_<fn><gradio-sep><event>" (the names its
    own /cancel route uses): cancelling them closes the Websim connection at once.
    """
    queue = demo._queue
    clean_events = queue.clean_events

    async def clean_and_cancel(
        *, session_hash: str | None = None, event_id: str | None = None
    ) -> None:
        await clean_events(session_hash=session_hash, event_id=event_id)
        for task in asyncio.all_tasks():
            name = task.get_name()
            if "<gradio-sep>" not in name:
                continue
            task_id, task_event = name.split("<gradio-sep>", 1)
            task_session = task_id.rsplit("_", 1)[0]
            if (session_hash is not None and task_session == session_hash) or (
                event_id is not None and task_event == event_id
            ):
                task.cancel()

    queue.clean_events = clean_and_cancel  # type: ignore[method-assign]


async def forget_finished_sessions(demo: gr.Blocks, interval: float) -> None:
    """Drop the empty entries Gradio's queue keeps for every session whose events all finished.

    Gradio removes a session's entry when its stream is cut, not when it ends normally, so a
    script that makes a new session per call would grow that table for ever.
    """
    while True:
        await asyncio.sleep(interval)
        pending = demo._queue.pending_event_ids_session
        for session in [session for session, events in pending.items() if not events]:
            pending.pop(session, None)


def serve(application: Edge, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT; either one runs the lifespan's clean-up."""
    uvicorn.run(
        application,
        host=host,
        port=port,
        # Our edge decides whom to believe about client addresses, not uvicorn's defaults.
        proxy_headers=False,
        forwarded_allow_ips="",
        access_log=False,  # the edge writes one line per request, with its id
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
    )
