"""What the emulator remembers of the requests it served: the most recent ones, within a budget.

The emulator also runs inside `python app.py --demo` and as a standalone server for hours; a log
that kept every body (chat bodies carry photos as base64) would grow by hundreds of MiB.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, overload

from websim_core.catalog import Kind

DEFAULT_MAX_RECORDED: Final = 256
# Room for a few of the largest bodies the emulator accepts (32 MiB) at any time.
MAX_RECORDED_BYTES: Final = 32 * 1024 * 1024


@dataclass(frozen=True)
class RecordedRequest:
    """One API request as the emulator received it, faulted or not."""

    kind: Kind
    headers: dict[str, str]
    body: Any
    raw: bytes
    peer: tuple[str, int]


class RequestLog(Sequence[RecordedRequest]):
    """The most recent requests, oldest first: at most `max_requests` of them and `max_bytes` of
    raw bodies in all; the oldest are dropped first to make room.

    It indexes, slices, iterates and compares equal to a list of the same requests.
    """

    def __init__(
        self, max_requests: int = DEFAULT_MAX_RECORDED, max_bytes: int = MAX_RECORDED_BYTES
    ) -> None:
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self._requests: deque[RecordedRequest] = deque()
        self._raw_bytes = 0

    @property
    def raw_bytes(self) -> int:
        """Bytes of raw bodies held now."""
        return self._raw_bytes

    def append(self, request: RecordedRequest) -> None:
        """Keep `request`, dropping the oldest ones while over either limit."""
        self._requests.append(request)
        self._raw_bytes += len(request.raw)
        while self._requests and (
            len(self._requests) > self.max_requests or self._raw_bytes > self.max_bytes
        ):
            self._raw_bytes -= len(self._requests.popleft().raw)

    def clear(self) -> None:
        """Forget every request."""
        self._requests.clear()
        self._raw_bytes = 0

    @overload
    def __getitem__(self, index: int) -> RecordedRequest: ...

    @overload
    def __getitem__(self, index: slice) -> list[RecordedRequest]: ...

    def __getitem__(self, index: int | slice) -> RecordedRequest | list[RecordedRequest]:
        if isinstance(index, slice):
            return list(self._requests)[index]
        return self._requests[index]

    def __len__(self) -> int:
        return len(self._requests)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self._requests)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RequestLog | list | tuple):
            return list(self._requests) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like the list it stands in for

    def __repr__(self) -> str:
        return f"RequestLog({list(self._requests)!r})"
