"""The server process's connections to Websim: one pooled client and one image fetcher."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websim_core import InvalidRequestError, ResponseFormatError, Settings, WebsimClient
from websim_core.image_fetch import FetchedImage, ImageFetcher

from .config import StudioSettings
from .rate_limit import SessionRateLimiter


class Services:
    """What every handler of one server process shares.

    The client and fetcher open on first use, on the server's event loop (aiohttp sessions
    belong to one loop), and close with `close()`; `lifespan` does that when the server stops.
    """

    def __init__(self, websim: Settings | None = None, studio: StudioSettings | None = None):
        self.studio = studio or StudioSettings.from_env()
        self._websim = websim
        self.limiter = SessionRateLimiter(self.studio.requests_per_minute)
        self._client: WebsimClient | None = None
        self._fetcher: ImageFetcher | None = None
        self._files: Path | None = None
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
            self._client = WebsimClient(settings=self.websim, pool_size=self.studio.concurrency)
        return self._client

    @property
    def fetcher(self) -> ImageFetcher:
        if self._fetcher is None or self._fetcher.closed:
            # Images come from wherever Websim says; only a local Websim may send us to local hosts.
            self._fetcher = ImageFetcher.for_base_url(
                self.websim.base_url, max_bytes=self.studio.max_image_mb * 1024 * 1024
            )
        return self._fetcher

    async def save_image(self, url: str) -> Path:
        """Download the image at `url` to a file this server can serve from its own origin."""
        try:
            image: FetchedImage = await self.fetcher.fetch(url)
        except InvalidRequestError as error:
            # The URL came from Websim, not from the user: say so, not "cannot be sent".
            raise ResponseFormatError(f"Websim's image URL was refused: {error.problem}") from None
        return self.keep_file(image.data, image.extension)

    def keep_file(self, data: bytes, suffix: str) -> Path:
        """Store `data` in this process's files folder, named by its content, and return the path.

        The same content always gets the same name, so users cannot see each other's files by
        guessing and a repeated export or image is stored once.
        """
        if self._files is None:
            self._files = Path(tempfile.mkdtemp(prefix="websim-studio-"))
        path = self._files / (hashlib.sha256(data).hexdigest()[:32] + suffix)
        if not path.exists():
            path.write_bytes(data)
        return path

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._fetcher is not None:
            await self._fetcher.close()
        if self._files is not None:
            shutil.rmtree(self._files, ignore_errors=True)
            self._files = None

    @asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """A FastAPI lifespan that closes the connections when the server shuts down."""
        try:
            yield
        finally:
            await self.close()
