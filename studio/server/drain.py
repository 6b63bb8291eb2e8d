"""A stopping replica drains rather than cuts: what it does between SIGTERM and its exit.

At the signal `/readyz` fails at once (so a load balancer moves on) while `/healthz` keeps
answering; new work (a /v1 call, a Gradio event, an upload, an MCP request) is refused with a
short 503 (`REFUSING`), while the listener stays open so that those refusals and the readiness
can be heard. Calls in flight have `WEBSIM_STUDIO_SHUTDOWN_GRACE` seconds to finish; the process
stops as soon as none is left. What is still running then ends with an error in its own dialect:
Gradio's events with Gradio's error (`STOPPING`, shown by the page and raised by gradio_client),
then, `FLUSH_SECONDS` later, the edge answers what uvicorn cancels (OpenAI's envelope on /v1,
its error event in a stream).

uvicorn alone would close the listener at the signal (a balancer's next health check is then a
refused connection, and a request arriving then one more) and cut everything at its grace.
"""

from __future__ import annotations

import logging
import time
from types import FrameType

import gradio as gr
import uvicorn
from gradio.server_messages import ProcessCompletedMessage
from gradio.utils import error_payload

log = logging.getLogger("websim_studio")

# Seconds uvicorn gives replies still being written once the drain is over (the errors that end
# Gradio's events, the last bytes of a finished reply) before it cancels what is left.
FLUSH_SECONDS = 1
# A new call refused while the replica drains.
REFUSING = "This server is restarting and takes no new requests; send it again in a moment."
REFUSING_RETRY = 1
# A call still running when the grace is over.
STOPPING = "This server is restarting and could not finish the request; send it again shortly."


class Drain:
    """Whether this replica is draining, and whether its drain is over: calls in flight (HTTP
    requests other than the operators', counted by the edge, and Gradio's unfinished events)
    have all finished, or `grace` seconds have passed."""

    def __init__(self, grace: float, demo: gr.Blocks) -> None:
        self.grace = grace
        self._demo = demo
        self.draining = False
        self.open_requests = 0
        """HTTP requests being answered now, other than the operators' (kept by the edge)."""
        self._since = 0.0

    def start(self) -> None:
        if not self.draining:
            self.draining = True
            self._since = time.monotonic()
            log.info(
                "stopping: taking no new requests; %d open, %d Gradio events unfinished, "
                "%.0f s to finish",
                self.open_requests,
                self._unfinished_events(),
                self.grace,
            )

    @property
    def over(self) -> bool:
        if not self.draining:
            return False
        idle = self.open_requests == 0 and self._unfinished_events() == 0
        return idle or time.monotonic() - self._since >= self.grace

    async def end_the_rest(self) -> int:
        """End every Gradio event not finished yet with Gradio's error saying why, and stop it
        (cancelled if running, dropped if waiting its turn); how many."""
        queue = self._demo._queue
        payload = error_payload(gr.Error(STOPPING, print_exception=False), True)
        ended = 0
        for session, event_ids in list(queue.pending_event_ids_session.items()):
            messages = queue.pending_messages_per_session.get(session)
            for event_id in list(event_ids):
                event = queue.event_ids_to_events.get(event_id)
                if event is not None:
                    event.alive = False  # nothing more is sent for it
                if messages is not None:
                    # Straight to the session's stream, as Gradio's own /cancel does.
                    messages.put_nowait(
                        ProcessCompletedMessage(
                            output=payload, title="Error", success=False, event_id=event_id
                        )
                    )
                # Cancels it if running (see gradio_hardening.cancel_events_of_departed_clients).
                await queue.clean_events(event_id=event_id)
                ended += 1
        return ended

    def _unfinished_events(self) -> int:
        return sum(len(ids) for ids in self._demo._queue.pending_event_ids_session.values())


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with a drain between the first SIGTERM (or SIGINT) and its own
    shutdown; a second signal stops it at once, as uvicorn would have."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self.drain = drain

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain.draining:
            super().handle_exit(sig, frame)
            return
        self._captured_signals.append(sig)  # raised again once stopped, as uvicorn does
        self.drain.start()

    async def on_tick(self, counter: int) -> bool:
        if not self.should_exit and self.drain.over:
            ended = await self.drain.end_the_rest()
            if ended or self.drain.open_requests:
                log.warning(
                    "stopping: %d requests and %d Gradio events did not finish in time; they "
                    "are told the server is restarting",
                    self.drain.open_requests,
                    ended,
                )
            self.should_exit = True
        return await super().on_tick(counter)
