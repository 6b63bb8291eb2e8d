"""Routes for operators: liveness, readiness and Prometheus metrics. They reach no one upstream."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ..services.metrics import CONTENT_TYPE
from ..services.shared import Services
from .drain import Drain


def health_routes(services: Services, drain: Drain | None = None) -> APIRouter:
    """`/healthz`, `/readyz` and `/metrics` for the given services; `/readyz` fails from the
    moment `drain` starts."""
    router = APIRouter()

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """The process serves HTTP: nothing else is checked, so a busy Websim never restarts us."""
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Whether this replica can take users: its Websim client is open and it is not
        stopping ("draining": it takes no new calls, see studio.server.drain). The limits
        storage and the upstream guard are reported, not judged: a replica whose Redis is down
        counts limits alone and still serves, and a paused Websim is the same for every
        replica, so failing on either would take every replica out at once."""
        guard = services.guard.state()
        # Limits whose shared storage is down are counted on this replica: it still serves.
        storage = await services.limiter.storage_state()
        draining = drain is not None and drain.draining
        ready = services.client_is_open and not draining
        body = {
            "ready": ready,
            "status": "draining" if draining else "ready" if ready else "not ready",
            "websim_client": "open" if services.client_is_open else "closed",
            "limits_storage": storage,
            "images_storage": _images_storage(services),
            "upstream": {
                "paused": guard.paused,
                "status": guard.status,
                "reason": guard.reason,
                "retry_in": round(guard.retry_in, 1),
            },
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    token = services.studio.metrics_token

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if token and not _bearer_is(request, token):
            return JSONResponse(
                {"detail": "/metrics needs this server's metrics token as a Bearer token."},
                status_code=401,
                headers={"www-authenticate": "Bearer"},
            )
        return Response(services.metrics.render(), media_type=CONTENT_TYPE)

    return router


def _images_storage(services: Services) -> str:
    """ "shared" while kept images go to Redis too, "degraded" while Redis fails and each
    replica serves its own, "local" without Redis."""
    shared = services.shared_images
    if shared is None:
        return "local"
    return "degraded" if shared.degraded else "shared"


def _bearer_is(request: Request, token: str) -> bool:
    """Whether `request` carries `Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    digest = hashlib.sha256(given.strip().encode()).digest()
    wanted = hashlib.sha256(token.encode()).digest()
    return scheme.lower() == "bearer" and hmac.compare_digest(digest, wanted)
