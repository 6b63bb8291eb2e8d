"""What operators can watch, in Prometheus' text format: requests, Websim calls, limits.

Labels are route families, outcomes and status codes only: never message content, never a
client's address, so the number of series stays small however the server is used.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from websim_core.attempts import AttemptRecord

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Websim answers in about a second, sometimes in a minute; the page's own routes in milliseconds.
CALL_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """One registry per server, so that tests can build several in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "websim_studio_http_requests",
            "HTTP requests answered, by route family and status code.",
            ["route", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "websim_studio_http_request_seconds",
            "Time to answer an HTTP request (to the end of its body), by route family.",
            ["route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.calls = Counter(
            "websim_studio_calls",
            "Chat and image calls made for users, by operation, surface and outcome.",
            ["operation", "surface", "outcome"],
            registry=r,
        )
        self.call_seconds = Histogram(
            "websim_studio_call_seconds",
            "Time a user waited for a chat or image call, retries included.",
            ["operation"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.calls_in_flight = Gauge(
            "websim_studio_calls_in_flight",
            "Chat and image calls waiting on Websim now.",
            ["operation"],
            registry=r,
        )
        self.limit_refusals = Counter(
            "websim_studio_limit_refusals",
            "Requests refused by a limit before reaching Websim: per-client requests or "
            "uploads, body size, busy queue, a spent refusal budget.",
            ["limit"],
            registry=r,
        )
        self.upstream_attempts = Counter(
            "websim_upstream_attempts",
            "Requests to Websim (each retry counts), by endpoint and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.upstream_responses = Counter(
            "websim_upstream_responses",
            "Websim's HTTP answers, by endpoint and status code.",
            ["kind", "status"],
            registry=r,
        )
        self.upstream_retries = Counter(
            "websim_upstream_retries",
            "Attempts that were retries of a failed one.",
            ["kind"],
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "websim_upstream_attempt_seconds",
            "Time of one request to Websim.",
            ["kind"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.guard_paused = Gauge(
            "websim_upstream_guard_paused",
            "1 while the upstream guard holds calls back after Websim's 429 or refusals.",
            registry=r,
        )
        self.limits_degraded = Gauge(
            "websim_studio_limits_degraded",
            "1 while this replica counts per-client limits alone, its shared storage not "
            "answering.",
            registry=r,
        )
        # `labels()` validates its values and takes a lock on every call; the paths that run for
        # every request, call and attempt keep the series they have used instead. Label values
        # come from small fixed sets (see above), so these stay small.
        self._http_requests = cache(self.http_requests.labels)
        self._http_seconds = cache(self.http_seconds.labels)
        self._calls = cache(self.calls.labels)
        self._call_seconds = cache(self.call_seconds.labels)
        self._calls_in_flight = cache(self.calls_in_flight.labels)
        self._upstream_attempts = cache(self.upstream_attempts.labels)
        self._upstream_responses = cache(self.upstream_responses.labels)
        self._upstream_retries = cache(self.upstream_retries.labels)
        self._upstream_seconds = cache(self.upstream_seconds.labels)

    def http_request(self, route: str, status: int, seconds: float) -> None:
        """The edge's record of one answered request."""
        self._http_requests(route, str(status)).inc()
        self._http_seconds(route).observe(seconds)

    def call_started(self, operation: str) -> None:
        self._calls_in_flight(operation).inc()

    def call_ended(self, operation: str, surface: str, outcome: str, seconds: float) -> None:
        """One chat or image call made for a user, ended with `outcome`."""
        self._calls_in_flight(operation).dec()
        self._calls(operation, surface, outcome).inc()
        self._call_seconds(operation).observe(seconds)

    def record_attempt(self, record: AttemptRecord) -> None:
        """The client's observer: one call per attempt at Websim."""
        self._upstream_attempts(record.kind, record.outcome).inc()
        if record.status:
            self._upstream_responses(record.kind, str(record.status)).inc()
        if record.attempt > 1:
            self._upstream_retries(record.kind).inc()
        if record.outcome != "paused":
            self._upstream_seconds(record.kind).observe(record.seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
