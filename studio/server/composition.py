"""The one ASGI application the process serves, composed where a reader can see all of it.

    Edge (request id, client address, body cap, upload limit, busy wording, logs, metrics)
    ├── /v1/...                            the OpenAI-compatible API (studio.openai.routes),
    │                                      answered by its own lean routes, past FastAPI
    └── McpCallers (whom an MCP tool call counts for; see studio.mcp)
        └── HeldEventsOnly (a stream of an event this process does not hold: a 404 in words)
            └── FastAPI, with the lifespan that opens and closes the shared services
                ├── /healthz, /readyz, /metrics    operators (studio.server.health)
                ├── /gradio_api/mcp/               the MCP tools (Gradio's, over studio.page.api)
                └── /                              the Gradio page and its API (studio.page)

Around it all, a stop signal starts a drain (studio.server.drain) before uvicorn's shutdown.

A new surface is one more `include_router` here, before Gradio takes "/", and inherits the
edge's cap, client identity and logs. A surface that answers every request itself, refusals
included, and is called often can be one of the edge's `surfaces` instead, as /v1 is.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI

from ..mcp import McpCallers
from ..openai.routes import openai_routes
from ..services.shared import Services
from . import memory
from .connections import guarded_http
from .drain import FLUSH_SECONDS, Drain, DrainingServer
from .edge import Edge
from .gradio_hardening import (
    HeldEventsOnly,
    cancel_events_of_departed_clients,
    end_event,
    fill_in_api_defaults,
    forget_finished_sessions,
    keep_no_copies_of_inputs,
    refuse_unknown_events,
)
from .health import health_routes

# Sessions whose state Gradio keeps in memory (its default is 10,000, about 70 KB each here): a
# browser resends what an event needs, so an evicted session loses nothing, and memory stays
# bounded however many scripts start new sessions.
STATE_SESSIONS = 500
# uvicorn's exit status when it could not start (the port taken, ...), as uvicorn.run exits.
STARTUP_FAILURE = 3
# How often Gradio's per-session bookkeeping is tidied (see `forget_finished_sessions`).
TIDY_INTERVAL = 60.0


def build_server(demo: gr.Blocks, services: Services, **page: Any) -> Edge:
    """The application: `demo` mounted at `/` beside the operators' routes, behind the edge.

    `page` goes to Gradio's mount (css, footer_links, ...).
    """
    settings = services.studio
    # Between the stop signal and the exit: readiness fails, new calls are refused, calls in
    # flight are given the grace (studio.server.drain).
    drain = Drain(settings.shutdown_grace, demo)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with services.lifespan(app):
            # What is built by now lives as long as the process (see studio.server.memory).
            memory.settle()
            tidying = asyncio.create_task(forget_finished_sessions(demo, TIDY_INTERVAL))
            releasing = asyncio.create_task(memory.give_back())
            try:
                yield
            finally:
                tidying.cancel()
                releasing.cancel()

    app = FastAPI(
        title="Websim Studio",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.include_router(health_routes(services, drain))

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
        mcp_server=settings.mcp,
        **page,
    )
    cancel_events_of_departed_clients(demo)
    fill_in_api_defaults(demo)
    refuse_unknown_events()
    keep_no_copies_of_inputs(demo)
    # Streams of events another process holds get a sentence, not a traceback.
    held = HeldEventsOnly(app, demo)
    return Edge(
        McpCallers(held, partial(end_event, demo)) if settings.mcp else held,
        settings=settings,
        limiter=services.limiter,
        metrics=services.metrics,
        max_upload_bytes=settings.max_request_bytes,
        surfaces={"v1": openai_routes(services)},
        drain=drain,
    )


def serve(application: Edge, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then drain (studio.server.drain); either one runs the
    lifespan's clean-up. A second signal stops at once."""
    assert application.drain is not None, "build_server gives the edge its drain"
    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        # uvicorn's httptools protocol with deadlines for slow clients and caps on connections.
        http=guarded_http(application.settings),
        # Our edge decides whom to believe about client addresses, not uvicorn's defaults.
        proxy_headers=False,
        forwarded_allow_ips="",
        access_log=False,  # the edge writes one line per request, with its id
        log_config=None,
        # Once the drain has given calls in flight their grace: seconds for the last replies to
        # be written before uvicorn cancels what is left (the edge then answers 503 in words).
        timeout_graceful_shutdown=FLUSH_SECONDS,
    )
    server = DrainingServer(config, application.drain)
    server.run()
    if not server.started:  # as uvicorn.run: the port was taken, or the startup failed
        sys.exit(STARTUP_FAILURE)
