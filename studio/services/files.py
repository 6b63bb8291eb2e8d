"""The one folder where the server keeps files: downloaded images and Gradio's own cache.

It has a size cap and an age limit, is swept while the server runs, and is removed when the
server stops (SIGTERM and SIGINT alike go through the lifespan that calls `remove`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("websim_studio.files")

# A sweep walks the folder (a few thousand files at most under the default cap): every 15 s is
# cheap, and `keep` sweeps at once when its own writes may have crossed the cap.
SWEEP_INTERVAL = 15.0
# Where a kept image is served, by its content's name, to anyone who has the name (the /v1
# routes serve it; the MCP tools' results point there too).
IMAGES_ROUTE = "/v1/images/files/"
# Names of images removed lately, remembered so that their addresses get "no longer kept"
# rather than "never made here"; past this many the memory starts over.
REMEMBERED_REMOVALS = 65536


def name_of(data: bytes, suffix: str) -> str:
    """The name an image's `data` is kept under: its content's hash, and its `suffix`."""
    return hashlib.sha256(data).hexdigest()[:32] + suffix


class FileStore:
    """Files under `root`, at most `max_bytes` in all and none older than `max_age` seconds.

    Oldest files go first when the cap is reached. Gradio's cache is pointed at a folder inside
    `root` (see `gradio_cache`) so that its uploads and served results count too.
    """

    def __init__(self, root: Path | None = None, *, max_bytes: int, max_age: float) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="websim-studio-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_age = max_age
        # Inside Gradio's cache, so that Gradio serves an image from where it is rather than
        # keeping a second copy of it.
        self._images = self.gradio_cache / "images"
        self._images.mkdir(parents=True, exist_ok=True)
        self._sweeper: asyncio.Task[None] | None = None
        self._written_since_sweep = 0
        self._removed: set[str] = set()

    @property
    def images(self) -> Path:
        """The folder of downloaded images, named by their content (see `keep`)."""
        return self._images

    def kept_name(self, path: str | Path) -> str | None:
        """The name the image at `path` is kept under in `images` (its content's), when it is
        one of them: the file itself, or its download name beside it (studio.turns.images)."""
        path = Path(path)
        if path.parent == self._images:
            name = path.name
        elif path.parent.parent == self._images:
            name = path.parent.name + path.suffix
        else:
            return None
        return name if (self._images / name).is_file() else None

    def kept(self, name: str) -> Path | None:
        """The image kept as `name` in `images`, unless it is missing or past the age limit
        (which the next sweep would remove)."""
        path = self._images / name
        try:
            status = path.stat()
        except OSError:
            return None
        if time.time() - status.st_mtime > self.max_age:
            return None
        return path

    def removed(self, name: str) -> bool:
        """Whether an image kept as `name` was removed lately (past its age, or over the cap),
        or is past its age and about to be."""
        past_age = (self._images / name).is_file() and self.kept(name) is None
        return name in self._removed or past_age

    @property
    def gradio_cache(self) -> Path:
        """The folder to give Gradio as GRADIO_TEMP_DIR."""
        return self.root / "gradio"

    def keep(self, data: bytes, suffix: str, *, kept_at: float | None = None) -> Path:
        """Store `data` and return its path, named by its content (`name_of`); `kept_at`, when
        given, is when it was first kept (by another replica), from which its age counts.

        The same content always gets the same name, so users cannot see each other's files by
        guessing and a repeated image is stored once.
        """
        self._images.mkdir(parents=True, exist_ok=True)
        path = self._images / name_of(data, suffix)
        if not path.exists():
            temporary = path.with_suffix(path.suffix + ".part")
            temporary.write_bytes(data)
            if kept_at is not None:
                os.utime(temporary, (kept_at, kept_at))
            temporary.replace(path)  # never serve half a file
            self._written_since_sweep += len(data)
            if self._written_since_sweep > self.max_bytes // 4:
                self.sweep()
        return path

    def sweep(self, now: float | None = None) -> tuple[int, int]:
        """Delete files past the age limit, then the oldest until under the cap.

        Returns the files left and their total bytes. A file under several names (an image and
        its download name, hard links) counts once, and goes with all its names.
        """
        now = time.time() if now is None else now
        self._written_since_sweep = 0
        kept: dict[tuple[int, int], tuple[float, int, list[Path]]] = {}
        if len(self._removed) >= REMEMBERED_REMOVALS:
            self._removed.clear()
        for path, status in self._files():
            if now - status.st_mtime > self.max_age:
                self._unlink(path)
                continue
            _, _, names = kept.setdefault(
                (status.st_dev, status.st_ino), (status.st_mtime, status.st_size, [])
            )
            names.append(path)
        files = sorted(kept.values())
        total = sum(size for _, size, _ in files)
        while files and total > self.max_bytes:
            _, size, names = files.pop(0)
            for path in names:
                self._unlink(path)
            total -= size
        return len(files), total

    def _unlink(self, path: Path) -> None:
        if path.parent == self._images:
            self._removed.add(path.name)
        path.unlink(missing_ok=True)

    def usage(self) -> tuple[int, int]:
        """Files kept and their total bytes, without deleting anything."""
        sizes = {(status.st_dev, status.st_ino): status.st_size for _, status in self._files()}
        return len(sizes), sum(sizes.values())

    def _files(self) -> Iterator[tuple[Path, os.stat_result]]:
        for folder, _, names in os.walk(self.root):
            for name in names:
                path = Path(folder) / name
                try:
                    yield path, path.stat()
                except OSError:
                    continue  # deleted meanwhile

    def start_sweeping(self, interval: float = SWEEP_INTERVAL) -> None:
        """Sweep every `interval` seconds on the running loop until `remove()`."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(interval))

    async def _sweep_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.sweep)
            except OSError as error:
                log.warning("sweeping %s failed: %s", self.root, error)

    async def remove(self) -> None:
        """Stop sweeping and delete the folder with everything in it."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        shutil.rmtree(self.root, ignore_errors=True)
