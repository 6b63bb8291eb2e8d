"""A loopback emulator of Websim's inference API, for tests, demos and benchmarks.

    async with Emulator() as emulator:
        emulator.script("chat", Fault.status(429, retry_after="1"))
        ...  # point a client at emulator.base_url

Run it on its own with ``python -m websim_core.emulator --port 8765``.
"""

from websim_core.emulator.faults import Fault, FaultType
from websim_core.emulator.recording import RecordedRequest, RequestLog
from websim_core.emulator.server import Emulator

__all__ = ["Emulator", "Fault", "FaultType", "RecordedRequest", "RequestLog"]
