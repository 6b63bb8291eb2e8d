"""What every handler of one server process shares: the Websim client, its guard, the image
fetcher, the kept files (shared between replicas when Redis is configured), the per-client limits
and the metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websim_core import InvalidRequestError, ResponseFormatError, Settings, WebsimClient
from websim_core.guard import UpstreamGuard
from websim_core.image_fetch import FetchedImage, ImageFetcher

from .config import StudioSettings
from .files import FileStore, name_of
from .metrics import Metrics
from .rate_limit import ClientLimiter
from .shared_images import Seen, SharedImages

log = logging.getLogger("websim_studio.files")


class Services:
    """The shared resources of one server process.

    The client and fetcher open on first use, on the server's event loop (aiohttp sessions
    belong to one loop), and close with `close()`; `lifespan` does that when the server stops,
    and removes the files folder.
    """

    def __init__(
        self,
        websim: Settings | None = None,
        studio: StudioSettings | None = None,
        *,
        files_root: Path | None = None,
    ):
        self.studio = studio or StudioSettings.from_env()
        self._websim = websim
        self.limiter = ClientLimiter(self.studio.requests_per_minute, self.studio.limits_storage)
        self.metrics = Metrics()
        # One guard for the process: when Websim says "wait", every user hears it at once.
        self.guard = UpstreamGuard()
        self.metrics.guard_paused.set_function(lambda: float(self.guard.state().paused))
        self.metrics.limits_degraded.set_function(lambda: float(self.limiter.degraded))
        self.files = FileStore(
            files_root, max_bytes=self.studio.files_mb * 2**20, max_age=self.studio.files_max_age
        )
        # With Redis for the limits, kept images go there too, so that any replica serves them.
        self.shared_images = (
            SharedImages(
                self.studio.limits_storage,
                max_age=self.studio.files_max_age,
                max_image_bytes=self.studio.max_image_mb * 2**20,
                max_bytes=self.studio.files_mb * 2**20,
            )
            if self.studio.limits_storage.startswith(("redis://", "rediss://"))
            else None
        )
        self._client: WebsimClient | None = None
        self._fetcher: ImageFetcher | None = None
        self.offline = False

    @property
    def websim(self) -> Settings:
        """Websim settings: as given, else read from the environment when first needed."""
        if self._websim is None:
            self._websim = Settings.from_env()
        return self._websim

    def go_offline(self, emulator_url: str) -> None:
        """Send every later request to the bundled emulator at `emulator_url` (`--demo`)."""
        self._websim = self.websim.with_overrides(base_url=emulator_url)
        self.offline = True

    @property
    def client(self) -> WebsimClient:
        if self._client is None or self._client.closed:
            # As many pooled connections as listeners allowed to wait on Websim at once.
            self._client = WebsimClient(
                settings=self.websim,
                pool_size=self.studio.concurrency,
                guard=self.guard,
                on_attempt=self.metrics.record_attempt,
            )
        return self._client

    @property
    def client_is_open(self) -> bool:
        return self._client is None or not self._client.closed

    @property
    def fetcher(self) -> ImageFetcher:
        if self._fetcher is None or self._fetcher.closed:
            # Images come from wherever Websim says; only a local Websim may send us to local hosts.
            # A download is one more wait on Websim's side: WEBSIM_TIMEOUT bounds it as it
            # bounds each attempt, and the call's deadline cuts it shorter (save_image).
            self._fetcher = ImageFetcher.for_base_url(
                self.websim.base_url,
                max_bytes=self.studio.max_image_mb * 1024 * 1024,
                timeout=self.websim.timeout,
            )
        return self._fetcher

    async def save_image(self, url: str, *, time_left: float | None = None) -> Path:
        """Download the image at `url` to a file this server can serve from its own origin,
        within `time_left` seconds (what is left of the call's deadline) if given."""
        image = await fetch_websim_image(self.fetcher, url, time_left=time_left)
        path = self.files.keep(image.data, image.extension)
        if self.shared_images is not None:
            await self.shared_images.keep(path.name, image.data)
        return path

    async def kept_image(self, name: str) -> Path | Seen:
        """The file of the image kept as `name` (a name `files` gave): this replica's own, or
        the shared store's, written here and aged from when it was first kept; else what is
        known of it. Redis failing or slow, only this replica's own files are served."""
        path = self.files.kept(name)
        if path is not None:
            return path
        if self.shared_images is None:
            return Seen.REMOVED if self.files.removed(name) else Seen.UNKNOWN
        found = await self.shared_images.find(name)
        if isinstance(found, Seen):
            return Seen.REMOVED if self.files.removed(name) else found
        if time.time() - found.kept_at > self.files.max_age:
            return Seen.REMOVED
        suffix = Path(name).suffix

        def keep_here() -> Path | None:
            if name_of(found.data, suffix) != name:
                return None
            return self.files.keep(found.data, suffix, kept_at=found.kept_at)

        kept = await asyncio.to_thread(keep_here)
        if kept is None:
            log.warning("the shared image store holds other content under %s: not served", name)
            return Seen.UNKNOWN
        return kept

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._fetcher is not None:
            await self._fetcher.close()
        if self.shared_images is not None:
            await self.shared_images.close()
        await self.files.remove()

    @asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """Sweep the files folder while the server runs; close everything when it stops."""
        self.files.start_sweeping()
        try:
            yield
        finally:
            await self.close()


async def fetch_websim_image(
    fetcher: ImageFetcher, url: str, *, time_left: float | None = None
) -> FetchedImage:
    """Download the image at `url`, an image URL Websim answered with."""
    try:
        return await fetcher.fetch(url, time_left=time_left)
    except InvalidRequestError as error:
        # The URL came from Websim, not from the user: say so, not "cannot be sent".
        raise ResponseFormatError(f"Websim's image URL was refused: {error.problem}") from None
