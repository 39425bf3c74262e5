"""Listing a whole account, page after page, as a campaign's preparation does.

    .venv/bin/python -m bench.listing_bench [--sims 2110200] [--rounds 2] [--api-max-rps 5000]

Runs an emulator in its own process seeded with `--sims` Sims and lists them all with
`SuperSimClient.list_sim_pages()` (pages of 1,000), `--rounds` times, printing for each round the
SIMs and pages listed, the seconds, the pages per second, and the CPU seconds of this process
and of the emulator meanwhile. Nothing is done with the pages: this is the listing's own pace,
bound by the API preparing pages and this process parsing them. `--api-max-rps` is the client's
pacing (`simops dev` sets 5,000; simops' default of 100 would bound a listing at 100 pages/s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from bench.campaign_prepare_bench import settings_for
from simops.emulator.process import spawn_emulator_process
from simops.supersim.client import SuperSimClient
from tests.helpers.process_stack import cpu_seconds


async def main(sims: int, rounds: int, api_max_rps: float) -> None:
    """List the emulator's account `rounds` times and print each round's pace."""
    emulator = await spawn_emulator_process(["--seed-sims", str(sims)])
    try:
        with tempfile.TemporaryDirectory() as directory:
            settings = settings_for(emulator, Path(directory), api_max_rps)
            async with SuperSimClient(settings) as client:
                for round_no in range(1, rounds + 1):
                    own_cpu, emulator_cpu = cpu_seconds(os.getpid()), cpu_seconds(emulator.pid)
                    started = time.perf_counter()
                    listed = pages = 0
                    async for page in client.list_sim_pages():
                        listed += len(page.sims)
                        pages += 1
                    seconds = time.perf_counter() - started
                    print(
                        f"round {round_no}: {listed:,} SIMs in {pages:,} pages, {seconds:.1f} s "
                        f"({pages / seconds:.0f} pages/s); CPU: this process "
                        f"{cpu_seconds(os.getpid()) - own_cpu:.1f} s, the emulator "
                        f"{cpu_seconds(emulator.pid) - emulator_cpu:.1f} s"
                    )
    finally:
        await emulator.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2_110_200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--api-max-rps", type=float, default=5000.0)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.sims, arguments.rounds, arguments.api_max_rps))
