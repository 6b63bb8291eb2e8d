"""Run the emulator as its own process: ``python -m websim_core.emulator --port 8765``.

Stdout carries exactly one line, ``Websim emulator serving on <base_url>``, once the port is open,
so a script or test can wait for it and read the real port when started with ``--port 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
from collections.abc import Sequence

from websim_core.emulator.server import Emulator


def port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("must be 0 to 65535 (0 picks a free port)")
    return port


def seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError("must be a number of seconds >= 0")
    return value


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m websim_core.emulator",
        description="Serve a loopback emulator of Websim's chat and image API.",
        epilog=(
            "Prints one line, 'Websim emulator serving on <base_url>', once listening, and stops "
            "on SIGINT or SIGTERM. Queue faults at run time with POST /emulator/faults; "
            "GET / lists the endpoints."
        ),
    )
    parser.add_argument("--port", type=port, required=True, help="port to listen on; 0 = any free")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--latency", type=seconds, default=0.0, help="seconds to wait before every API reply"
    )
    parser.add_argument(
        "--fault-rate",
        type=probability,
        default=0.0,
        help="probability (0 to 1) that an API request gets a random 429/500/502/503",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for the random faults")
    parser.add_argument("--certfile", help="PEM certificate chain: serve HTTPS")
    parser.add_argument("--keyfile", help="PEM private key for --certfile, if not inside it")
    return parser


async def serve(args: argparse.Namespace, ssl_context: ssl.SSLContext | None) -> int:
    emulator = Emulator(
        latency=args.latency, fault_rate=args.fault_rate, seed=args.seed, ssl_context=ssl_context
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Installed before the banner so a supervisor that signals as soon as it reads it is heard.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        base_url = await emulator.start(args.host, args.port)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"Websim emulator serving on {base_url}", flush=True)
        await stopping.wait()
    finally:
        await emulator.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    ssl_context: ssl.SSLContext | None = None
    if args.keyfile and not args.certfile:
        parser.error("--keyfile needs --certfile")
    if args.certfile:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ssl_context.load_cert_chain(args.certfile, args.keyfile)
        except (OSError, ssl.SSLError) as exc:
            parser.error(f"cannot load --certfile/--keyfile: {exc}")
    return asyncio.run(serve(args, ssl_context))


if __name__ == "__main__":
    sys.exit(main())
