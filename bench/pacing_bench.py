"""Pacing that noise does not talk down (issue 28 item 6), end to end against real emulators.

    .venv/bin/python -m bench.pacing_bench [--sims 3000] [--scenario all|noise|limit]

Two activation campaigns from a file, each on a fresh process stack (Temporal dev server,
emulator, `simops callbacks`, `simops worker`; `bench.campaign_bench` runs the same):

- noise: the emulator has no limit of its own and answers 5% of requests 429 at random
  (`POST /_emulator/faults {"rate_limit_rate": 0.05}`, with `Retry-After: 1`, not caused by
  load); the campaign runs at `--rate 200`. Target: at least 70% of the rate used;
- limit: the emulator limits the account to 200 requests/s (`--rate 200`: a token bucket with
  one second of burst, 429 and `Retry-After` above it); the campaign runs at `--rate 300`, above
  the limit. Target: at least 90% of the limit used, at most 2% of requests answered 429.

Requests/s is every request the emulator answered (429s included) over the campaign's time from
start to end; useful requests/s counts the others. Figures are measured, never assumed.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.campaign_bench import new_sim_sids, run_campaign
from simops.runtime import event_loop
from tests.helpers.process_stack import process_stack

CAMPAIGN_RATE_NOISE = 200.0
NOISE = 0.05
EMULATOR_LIMIT = 200.0
CAMPAIGN_RATE_LIMIT = 300.0


@dataclass(frozen=True)
class PacingRun:
    """What one campaign sent, and against which rate it is judged."""

    label: str
    reference: str
    reference_rate: float
    sims: int
    elapsed: float
    counts: dict[str, int]
    requests: int
    limited: int

    def lines(self) -> list[tuple[str, str]]:
        """The printed figures: time, requests/s used against the reference rate, 429s."""
        used = self.requests / self.elapsed
        useful = (self.requests - self.limited) / self.elapsed
        return [
            (f"{self.label}: {self.sims:,}-SIM campaign", f"{self.elapsed:.1f} s, {self.counts}"),
            (
                f"{self.label}: requests/s used",
                f"{used:.0f} of {self.reference} {self.reference_rate:.0f} "
                f"({used / self.reference_rate:.0%}); useful (not 429) {useful:.0f} "
                f"({useful / self.reference_rate:.0%})",
            ),
            (
                f"{self.label}: share answered 429",
                f"{self.limited / self.requests:.2%} ({self.limited} of {self.requests})",
            ),
        ]


async def paced_campaign(
    label: str,
    sims: int,
    emulator_args: list[str],
    faults: dict[str, float],
    campaign_rate: float,
    reference: str,
    reference_rate: float,
) -> PacingRun:
    """One campaign at `campaign_rate` on a fresh stack whose emulator runs with
    `emulator_args` and, once the SIMs are listed, `faults`."""
    with tempfile.TemporaryDirectory() as scratch:
        args = ["--scheduled-delay", "1", "--seed-sims", str(sims), *emulator_args]
        async with process_stack(Path(scratch), args) as stack:
            sids = await new_sim_sids(stack, sims)
            if faults:
                await stack.emulator_json("POST", "/_emulator/faults", faults)
            await stack.emulator_json("POST", "/_emulator/stats/reset")
            elapsed, counts = await run_campaign(stack, label, sids, rate=campaign_rate)
            stats = await stack.emulator_json("GET", "/_emulator/stats?per_sim=false")
    requests = stats["requests_total"]
    limited = sum(by_status.get("429", 0) for by_status in stats["requests"].values())
    return PacingRun(label, reference, reference_rate, sims, elapsed, counts, requests, limited)


async def main(args: argparse.Namespace) -> None:
    """Run the scenarios asked for and print the figures."""
    runs: list[PacingRun] = []
    if args.scenario in ("all", "noise"):
        runs.append(
            await paced_campaign(
                "noise",
                args.sims,
                [],
                {"rate_limit_rate": NOISE},
                CAMPAIGN_RATE_NOISE,
                "--rate",
                CAMPAIGN_RATE_NOISE,
            )
        )
    if args.scenario in ("all", "limit"):
        runs.append(
            await paced_campaign(
                "limit",
                args.sims,
                ["--rate", f"{EMULATOR_LIMIT:g}"],
                {},
                CAMPAIGN_RATE_LIMIT,
                "the emulator's limit R",
                EMULATOR_LIMIT,
            )
        )
    lines = [("event loop of the stack", event_loop.loop_name())]
    lines.append(
        ("noise scenario", f"--rate {CAMPAIGN_RATE_NOISE:g}, {NOISE:.0%} of requests 429 at random")
    )
    lines.append(
        (
            "limit scenario",
            f"--rate {CAMPAIGN_RATE_LIMIT:g}, emulator --rate {EMULATOR_LIMIT:g} (R)",
        )
    )
    for run in runs:
        lines += run.lines()
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sims", type=int, default=3_000)
    parser.add_argument("--scenario", choices=["all", "noise", "limit"], default="all")
    asyncio.run(main(parser.parse_args()))
