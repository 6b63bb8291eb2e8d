"""Where Gradio falls short of a public server, and what this app does about it.

Each function adjusts one behaviour of a Blocks and its queue, through the same attributes and
task names Gradio's own routes use; `studio.server.composition` applies them all when it mounts
the page.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs

import gradio as gr
from fastapi import HTTPException
from gradio import route_utils

from ..services.asgi import ASGIApp, Receive, Scope, Send

log = logging.getLogger("websim_studio.http")

NOT_HELD = (
    "The server handling this reply went away, or the reply's id is wrong; send the request again."
)
_CALL_PREFIX = "/gradio_api/call/"
UNKNOWN_EVENT = (
    'That request names no event of this page. The page\'s "Use via API" link lists its '
    "routes: /chat and /generate_image."
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


class HeldEventsOnly:
    """ASGI middleware: a stream asked for a Gradio event this process does not hold (its
    `queue/data?session_hash=...`, or `/call/<api>/<event id>` for an id it never issued, as
    when a load balancer sends it to another replica, or the one that held it has restarted)
    is answered 404 in a sentence (`NOT_HELD`).

    Gradio would start a 200 stream, find nothing, raise inside it, and log a traceback of a
    hundred lines for it. The check is Gradio's own, made before the stream starts: the
    session's message queue, which its join creates and its stream's end removes.
    """

    def __init__(self, app: ASGIApp, demo: gr.Blocks) -> None:
        self.app = app
        self._queue = demo._queue

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            session = self._session_asked(scope)
            if session is not None and session not in self._queue.pending_messages_per_session:
                body = json.dumps({"detail": NOT_HELD}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 404,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _session_asked(self, scope: Scope) -> str | None:
        """The session whose stream `scope` asks for, found as Gradio finds it; None when it
        asks for no stream."""
        path: str = scope["path"]
        if path == "/gradio_api/queue/data":
            query: bytes = scope.get("query_string", b"")
            sessions = parse_qs(query.decode("latin-1")).get("session_hash")
            return sessions[0] if sessions else None  # none: Gradio's own 422
        if not path.startswith(_CALL_PREFIX):
            return None
        parts = path.removeprefix(_CALL_PREFIX).split("/")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[0] != "v2"):
            return None
        event_id = parts[-1]
        event = self._queue.event_ids_to_events.get(event_id)
        if event is not None:
            return str(event.session_hash)
        # A finished event is held by its session until its stream has told it (see Gradio's
        # simple_predict_get); an id no session holds names a session of its own, or none.
        for session, ids in self._queue.pending_event_ids_session.items():
            if event_id in ids:
                return session
        return event_id


async def end_event(demo: gr.Blocks, event_id: str) -> None:
    """Drop Gradio's event `event_id` as if its client had gone: cancelled if it is running
    (see `cancel_events_of_departed_clients`), forgotten if it is waiting its turn."""
    await demo._queue.clean_events(event_id=event_id)


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


def keep_no_copies_of_inputs(demo: gr.Blocks) -> None:
    """Stop Gradio keeping a copy of every value an event was given in the session it ran in.

    Gradio writes each input into its session's config (`SessionState.config_values`), for
    deep links, which this page has none of. So every API call's history, refused or not, stayed
    in memory as long as its session: 30 refused 7 MiB `/chat` calls kept some 300 MB. Call it
    once the page is mounted: the sessions are those of the app's own state holder.
    """

    class Sessions(OrderedDict[str, Any]):
        def __setitem__(self, session_id: str, session: Any) -> None:
            session._update_value_in_config = _keep_nothing
            super().__setitem__(session_id, session)

    holder = demo.state_holder
    holder.session_data = Sessions(holder.session_data)


def _keep_nothing(key: int, value: Any) -> None:
    """What a session does with a copy of an event's input: nothing."""


def refuse_unknown_events() -> None:
    """Answer a call naming an event the page does not have (a queue join with `fn_index`
    99999 or -1, `/call/<no such route>`) with a 404 in one sentence.

    Gradio looks the event up in a dict and lets the KeyError through: a bare 500 "Internal
    Server Error", and a traceback in the log for every such request. Its routes find the
    event through `route_utils.get_fn`, looked up at each call, so wrapping it there covers
    them all.
    """
    if getattr(route_utils.get_fn, "refuses_unknown_events", False):
        return
    get_fn = route_utils.get_fn

    def known_fn(*args: Any, **kwargs: Any) -> Any:
        try:
            return get_fn(*args, **kwargs)
        except (KeyError, route_utils.FnIndexInferError):
            raise HTTPException(404, detail=UNKNOWN_EVENT) from None

    known_fn.refuses_unknown_events = True  # type: ignore[attr-defined]
    route_utils.get_fn = known_fn


def fill_in_api_defaults(demo: gr.Blocks) -> None:
    """Let API callers leave out trailing arguments that have defaults, as gradio_client does.

    Gradio refuses a raw `/gradio_api/call/chat {"data": ["hi"]}` with a ValueError that lists its
    internal objects (and logs a traceback), although the function says what the defaults are.
    Required arguments still missing are refused in one sentence naming them.
    """
    validate_inputs = demo.validate_inputs

    def with_defaults(block_fn: Any, inputs: list[Any]) -> None:
        wanted = len(block_fn.inputs)
        if block_fn.api_name and len(inputs) < wanted and callable(block_fn.fn):
            parameters = [
                parameter
                for parameter in inspect.signature(block_fn.fn).parameters.values()
                if parameter.annotation not in (gr.Request, "gr.Request", "gr.Request | None")
                and parameter.name != "request"
            ][:wanted]
            missing = [p.name for p in parameters[len(inputs) :] if p.default is p.empty]
            if missing:
                names = ", ".join(parameter.name for parameter in parameters)
                raise gr.Error(
                    f"That request cannot be sent: {missing[0]} is missing: "
                    f"/{block_fn.api_name} takes {names}, in that order.",
                    print_exception=False,
                )
            inputs.extend(p.default for p in parameters[len(inputs) :])
        validate_inputs(block_fn, inputs)

    demo.validate_inputs = with_defaults  # type: ignore[method-assign]
