"""A stand-in for a user's program (harness run --app): connects with nats-py to
the URLs it is given, reconnects forever, and prints what happens. It knows
nothing of the harness."""

import asyncio
import signal
import sys

import nats


async def main(urls: list[str]) -> None:
    async def disconnected() -> None:
        print("disconnected", flush=True)

    async def reconnected() -> None:
        print("reconnected", flush=True)

    async def error(e: Exception) -> None:
        print(f"error: {e!r}", flush=True)

    nc = await nats.connect(
        servers=urls,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
    )
    print("connected", flush=True)
    done = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    await done.wait()
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
