"""CPU per HTTP exchange of aiohttp's client and server on asyncio's loop and on uvloop.

    .venv/bin/python -m bench.event_loop_bench [--requests 20000] [--rounds 2]

A server process answers `GET /v1/Sims/{sid}` with a Sim-sized JSON body; the client sends
`--requests` GETs, 100 at a time, over one session. Each round runs both loops (alternating,
so a change in the host's speed hits both); the table gives the CPU per request of each side,
read from the processes' own counters. This is the cost `simops.runtime.event_loop` picks
uvloop for.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time

import aiohttp
from aiohttp import web

from simops.runtime import event_loop

IN_FLIGHT = 100
SIM_BODY = (
    b'{"sid": "HS00000000000000000000000000000000", "unique_name": null, "status": "active",'
    b' "fleet_sid": "HF00000000000000000000000000000000", "account_sid":'
    b' "AC00000000000000000000000000000000", "iccid": "8988307000000000000",'
    b' "date_created": "2026-11-27T00:00:00Z", "date_updated": "2026-11-27T00:00:00Z",'
    b' "url": "https://supersim.twilio.com/v1/Sims/HS00000000000000000000000000000000",'
    b' "links": {"billing_periods": "https://supersim.twilio.com/v1/Sims/HS0/BillingPeriods"}}'
)


async def serve(port: int) -> None:
    """Answer every Sim read with the same body until killed."""

    async def fetch_sim(_request: web.Request) -> web.Response:
        return web.Response(body=SIM_BODY, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/Sims/{sid}", fetch_sim)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


async def read_sims(port: int, requests: int) -> float:
    """Send `requests` reads, `IN_FLIGHT` at a time; the client's CPU seconds."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with aiohttp.ClientSession() as session:

        async def read(number: int) -> None:
            async with gate, session.get(f"http://127.0.0.1:{port}/v1/Sims/HS{number}") as answer:
                await answer.read()

        await asyncio.gather(*(read(number) for number in range(IN_FLIGHT)))
        started = time.process_time()
        await asyncio.gather(*(read(number) for number in range(requests)))
        return time.process_time() - started


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(loop: str, requests: int) -> tuple[float, float]:
    """Client and server CPU microseconds per request with both processes on `loop`."""
    os.environ[event_loop.EVENT_LOOP_VARIABLE] = loop
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.event_loop_bench", "--serve", str(port)]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.05)
        server_before = cpu_seconds(server.pid)
        client_seconds = event_loop.run(read_sims(port, requests))
        server_seconds = cpu_seconds(server.pid) - server_before
    finally:
        server.kill()
        server.wait()
    # The server's warm-up reads are in its counter too.
    return client_seconds / requests * 1e6, server_seconds / (requests + IN_FLIGHT) * 1e6


def main() -> None:
    """Parse the arguments, measure both loops, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        event_loop.run(serve(args.serve))
        return
    results: dict[str, list[tuple[float, float]]] = {"asyncio": [], "uvloop": []}
    for _ in range(args.rounds):
        for loop in results:
            results[loop].append(measure(loop, args.requests))
    print(f"{'loop':10} {'client CPU/request':>20} {'server CPU/request':>20}")
    for loop, rounds in results.items():
        client = sorted(client for client, _ in rounds)[len(rounds) // 2]
        server = sorted(server for _, server in rounds)[len(rounds) // 2]
        print(f"{loop:10} {client:17.0f} us {server:17.0f} us")


if __name__ == "__main__":
    main()
