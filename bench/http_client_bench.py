"""CPU per request of the lean HTTP client (`simops.runtime.http_client`) against aiohttp's
`ClientSession`, both fetching one Sim from the emulator, in turns.

    .venv/bin/python -m bench.http_client_bench [--requests 20000] [--concurrency 50] [--rounds 2]

The emulator runs in its own process (`simops emulator`); this process runs uvloop, as every
simops process does, and measures its own CPU time (`time.process_time`) over `--requests`
`GET /v1/Sims/{sid}` at `--concurrency` in flight, each client in turn, `--rounds` times.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp
import uvloop
from yarl import URL

from simops.emulator.process import spawn_emulator_process
from simops.runtime.http_client import HttpClient

Fetch = Callable[[], Awaitable[None]]


async def measure(fetch: Fetch, requests: int, concurrency: int) -> tuple[float, float]:
    """CPU µs per request and requests per second of `requests` fetches."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await fetch()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(requests)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1e6 / requests, requests / wall


async def main(args: argparse.Namespace) -> None:
    """Start the emulator, then measure both clients in turns."""
    emulator = await spawn_emulator_process(["--seed-sims", "1"])
    try:
        account = emulator.parent
        credentials = f"{account.account_sid}:{account.auth_token}".encode()
        headers = {
            "Authorization": f"Basic {base64.b64encode(credentials).decode()}",
            "Accept": "application/json",
        }
        lean = HttpClient(timeout_seconds=10, headers=headers)
        listed = await lean.request("GET", URL(f"{emulator.api_url}/Sims?PageSize=1"))
        sid = json.loads(listed.body)["sims"][0]["sid"]
        url = URL(f"{emulator.api_url}/Sims/{sid}", encoded=True)
        session = aiohttp.ClientSession(
            headers=headers, connector=aiohttp.TCPConnector(limit=0, limit_per_host=0)
        )

        async def with_lean() -> None:
            response = await lean.request("GET", url)
            assert response.status == 200, response.body

        async def with_aiohttp() -> None:
            async with session.get(url) as response:
                await response.read()
                assert response.status == 200

        clients = {"simops.runtime.http_client": with_lean, "aiohttp ClientSession": with_aiohttp}
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
        try:
            for _ in range(args.rounds):
                for name, fetch in clients.items():
                    figures[name].append(await measure(fetch, args.requests, args.concurrency))
        finally:
            await session.close()
            await lean.close()
    finally:
        await emulator.stop()
    for name, runs in figures.items():
        cpu = ", ".join(f"{cpu_us:.1f}" for cpu_us, _ in runs)
        rates = ", ".join(f"{rate:,.0f}" for _, rate in runs)
        median = statistics.median(cpu_us for cpu_us, _ in runs)
        print(f"{name:<28} CPU {median:.1f} µs per request (runs: {cpu}); requests/s {rates}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    uvloop.run(main(parser.parse_args()))
