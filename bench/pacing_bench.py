"""Pacing under 429s that are noise and under 429s caused by load (issue 28, item 6).

    .venv/bin/python -m bench.pacing_bench [--sims 6000] [--rate 200] [--scenario noise|load]

On the benchmarks' stack in separate processes (dev server, emulator `--scheduled-delay 1`,
ingress, one worker), two activation campaigns from files:

1. **noise**: the emulator answers `rate_limit_rate` 0.05 of the requests 429 at random
   (`POST /_emulator/faults`: whatever the pace), the campaign runs at `--rate RATE`;
2. **load**: the emulator is started with `--rate RATE` (429s above RATE requests/s: caused by
   load), the campaign has no `--rate`.

For each, from the emulator's request log (which simops never writes): the requests answered
other than 429 per second (useful) over the span from the first request to the last, as a share
of RATE, the share of requests answered 429, and the campaign's time from its start to its
result.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.campaign_bench import new_sim_sids, run_campaign
from tests.helpers.process_stack import ProcessStack, process_stack

NOISE_RATE_LIMIT_RATE = 0.05
"""The share of requests the emulator answers 429 at random in the noise scenario."""


@dataclass(frozen=True)
class Paced:
    """What the emulator answered during one campaign."""

    seconds: float
    """From the campaign's start to its result."""
    span: float
    """From the first request answered to the last."""
    requests: int
    rate_limited: int
    counts: dict[str, int]

    @property
    def useful_per_second(self) -> float:
        """Requests answered other than 429, per second of the span."""
        return (self.requests - self.rate_limited) / self.span

    def line(self, rate: float) -> str:
        """The figures, against `rate` requests/s."""
        useful = self.useful_per_second
        return (
            f"{useful:.0f} useful requests/s ({useful / rate:.0%} of {rate:g}) over "
            f"{self.span:.1f} s; {self.rate_limited / self.requests:.2%} answered 429 "
            f"({self.rate_limited} of {self.requests}); campaign {self.seconds:.1f} s, "
            f"{self.counts}"
        )


async def paced_campaign(stack: ProcessStack, sims: int, **spec_fields: Any) -> Paced:
    """One activation campaign of `sims` SIMs; what the emulator answered meanwhile."""
    sids = await new_sim_sids(stack, sims)
    await stack.emulator_json("POST", "/_emulator/stats/reset")
    started = time.time()
    seconds, counts = await run_campaign(stack, "paced", sids, **spec_fields)
    log = await stack.emulator_json("GET", f"/_emulator/requests?since={started!r}")
    answered: list[dict[str, Any]] = log["requests"]
    times = [entry["at"] for entry in answered]
    rate_limited = sum(1 for entry in answered if entry["status"] == 429)
    return Paced(seconds, max(times) - min(times), len(answered), rate_limited, counts)


async def noise(sims: int, rate: float) -> str:
    """The campaign at `--rate RATE` while the emulator answers 429 at random."""
    with tempfile.TemporaryDirectory() as scratch:
        args = ["--scheduled-delay", "1", "--seed-sims", str(sims)]
        async with process_stack(Path(scratch), args) as stack:
            await stack.emulator_json(
                "POST", "/_emulator/faults", {"rate_limit_rate": NOISE_RATE_LIMIT_RATE}
            )
            paced = await paced_campaign(stack, sims, rate=rate)
    return paced.line(rate)


async def load(sims: int, rate: float) -> str:
    """The campaign without `--rate` against `simops emulator --rate RATE`."""
    with tempfile.TemporaryDirectory() as scratch:
        args = ["--scheduled-delay", "1", "--rate", f"{rate:g}", "--seed-sims", str(sims)]
        async with process_stack(Path(scratch), args) as stack:
            paced = await paced_campaign(stack, sims)
    return paced.line(rate)


async def main(args: argparse.Namespace) -> None:
    """Run the scenarios asked for; print one line each."""
    scenarios = {
        "noise": (
            f"(a) {args.sims:,} SIMs, --rate {args.rate:g}, "
            f"rate_limit_rate {NOISE_RATE_LIMIT_RATE:g} (429s at random)",
            noise,
        ),
        "load": (
            f"(b) {args.sims:,} SIMs, no --rate, emulator --rate {args.rate:g} (429s from load)",
            load,
        ),
    }
    for name in args.scenario or list(scenarios):
        label, scenario = scenarios[name]
        print(f"{label}: {await scenario(args.sims, args.rate)}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sims", type=int, default=6_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--scenario", action="append", choices=["noise", "load"])
    asyncio.run(main(parser.parse_args()))
