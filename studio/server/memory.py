"""How the process keeps its memory: the heap settled once the app is built, collections seldom
during a burst of calls, and what a finished request used given back to the system.

Three things kept memory after requests ended:

- Reference cycles, collected only now and then. The young threshold is raised so that a burst
  of calls does not set off collection after collection (at Python's 700, 1,024 calls at once
  promoted their objects by the thousand and set off two full collections mid-burst); the cost
  is that a cycle holding a refused body may wait long for its collection. The cycles this app
  makes are cut where they form (`/v1`'s refusals, studio.openai.routes); Gradio's own (an
  event's error holds the frames that hold its input) are collected every `RELEASE_INTERVAL`.
- Large blocks kept by the C allocator. glibc serves a block above its mmap threshold with a
  mapping of its own, returned at `free`, but raises that threshold to the size of every such
  block freed: after the first 8 MiB body, the next ones landed on the heap and stayed in RSS.
  The threshold is fixed instead (`MMAP_THRESHOLD`).
- Free heap memory glibc keeps for later, handed back every `RELEASE_INTERVAL` (`malloc_trim`).

Measured with bench/public_limits.py: 100 refused 8 MiB `/v1` requests took RSS from 190 MB to
1.7 GB, where it stayed; 30 refused 7 MiB Gradio calls added 300 MB. Now both return to within
a few tens of MB of where they started.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger("websim_studio.memory")

# Allocations between young collections (Python's default is 700). A call in flight holds some
# two hundred objects for as long as Websim takes; at 700 a burst of 1,024 calls promoted them by
# the thousand and set off two full collections mid-burst, at 10,000 none.
YOUNG_COLLECTION = 10_000
# Seconds between collections and giving free memory back. A collection walks only what was
# made after `settle` froze the heap: a few milliseconds, at most once in a burst.
RELEASE_INTERVAL = 10.0
# glibc's own default before it starts adjusting it: blocks above it get mappings of their own.
MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def settle() -> None:
    """Once the app is built: freeze what lives as long as the process (Gradio, the page,
    FastAPI) out of the collector's sight, raise the young threshold, and fix the allocator's
    mmap threshold. Measured at 1,024 calls at once, 0.43 s of collecting became 0.10 s."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION, *gc.get_threshold()[1:])
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


async def give_back(interval: float = RELEASE_INTERVAL) -> None:
    """Collect cycles and hand free heap memory back to the system every `interval` seconds."""
    libc = _glibc()
    while True:
        await asyncio.sleep(interval)
        gc.collect()
        if libc is not None:
            libc.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (which has `mallopt` and `malloc_trim`), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    return libc
