"""Where a campaign's wall time goes: from its start to its first write, its writes and its
read-backs second by second, and how long each SIM waited to be read back once its update
completed.

    .venv/bin/python -m bench.campaign_timeline [--sims 10000] [--concurrency 100]
        [--scheduled-delay 1]

On the guard's stack (`bench.guard`: dev server, emulator, `simops callbacks`, one `simops
worker`, each its own process; the emulator's `--max-concurrency` raised to `--concurrency` when
that is higher), after a warm-up campaign, one activation campaign from a file. Everything is
read from the emulator's request log, which simops never writes: a SIM's write is its first
`POST /v1/Sims/{sid}`, its read-back its last `GET /v1/Sims/{sid}`; its update completed
`--scheduled-delay` seconds after its write (a single number: the delay is fixed).

What the phases tell: a long start-up is the campaign's preparation and its batches' start; a
read-back that lags its update's completion by more than the callback's round trip means the
worker is busy with other SIMs' requests (its requests per second, writes and read-backs
together, are then what bounds the campaign).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.campaign_bench import EMULATOR_MAX_CONCURRENCY, new_sim_sids, run_campaign
from tests.helpers.process_stack import cpu_seconds, process_stack

SIM_ROUTE = "/v1/Sims/{sid}"


@dataclass
class Timeline:
    """One campaign's requests, as the emulator answered them (Unix times)."""

    started: float
    """When the campaign was started."""
    ended: float
    """When its result came."""
    writes: dict[str, float]
    """Each SIM's first write."""
    read_backs: dict[str, float]
    """Each SIM's last read."""
    busy: dict[str, list[float]]
    """Each process's CPU seconds in each second from the start (a core's share)."""

    def per_second(self, times: list[float]) -> list[int]:
        """How many of `times` fell in each second from the campaign's start."""
        seconds = Counter(int(at - self.started) for at in times)
        return [seconds.get(second, 0) for second in range(int(self.ended - self.started) + 1)]


async def sample_cpu(pids: dict[str, int], busy: dict[str, list[float]]) -> None:
    """Append each process's CPU seconds of every wall-clock second to `busy` until cancelled."""
    last = {name: cpu_seconds(pid) for name, pid in pids.items()}
    while True:
        await asyncio.sleep(1.0)
        for name, pid in pids.items():
            now = cpu_seconds(pid)
            busy.setdefault(name, []).append(now - last[name])
            last[name] = now


async def record(sims: int, concurrency: int, delay: float) -> Timeline:
    """Run the warm-up and the measured campaign; the measured one's requests."""
    seed = 200 + sims
    emulator = [
        *("--scheduled-delay", f"{delay:g}", "--seed-sims", str(seed)),
        *("--max-concurrency", str(max(concurrency, EMULATOR_MAX_CONCURRENCY))),
    ]
    overrides = {"SIMOPS_API_MAX_CONCURRENCY": str(max(concurrency, 200))}
    with tempfile.TemporaryDirectory() as scratch:
        async with process_stack(Path(scratch), emulator, settings_overrides=overrides) as stack:
            sids = await new_sim_sids(stack, seed)
            await run_campaign(stack, "warm-up", sids[:200])
            busy: dict[str, list[float]] = {}
            sampling = asyncio.create_task(sample_cpu(stack.pids(), busy))
            started = time.time()
            _, counts = await run_campaign(stack, "timeline", sids[200:], concurrency=concurrency)
            ended = time.time()
            sampling.cancel()
            log = await stack.emulator_json("GET", f"/_emulator/requests?since={started!r}")
    if counts.get("converged") != sims:
        raise SystemExit(f"not every SIM converged: {counts}")
    writes: dict[str, float] = {}
    read_backs: dict[str, float] = {}
    for request in log["requests"]:
        if request["route"] != SIM_ROUTE or request["status"] >= 400:
            continue
        if request["method"] == "POST":
            writes.setdefault(request["sim_sid"], request["at"])
        elif request["method"] == "GET":
            read_backs[request["sim_sid"]] = request["at"]
    return Timeline(started, ended, writes, read_backs, busy)


def quantiles(values: list[float]) -> str:
    """p10 / p50 / p90 / max of `values`, in seconds."""
    deciles = statistics.quantiles(values, n=10)
    return f"{deciles[0]:.2f} / {deciles[4]:.2f} / {deciles[8]:.2f} / {max(values):.2f} s"


def report(timeline: Timeline, sims: int, concurrency: int, delay: float) -> list[str]:
    """The phases, the lag of the read-backs and the requests per second."""
    writes = sorted(timeline.writes.values())
    read_backs = sorted(timeline.read_backs.values())
    elapsed = timeline.ended - timeline.started
    lag = [
        read - timeline.writes[sim_sid] - delay
        for sim_sid, read in timeline.read_backs.items()
        if sim_sid in timeline.writes
    ]
    start = timeline.started
    lines = [
        f"{sims:,}-SIM activation, --concurrency {concurrency}, scheduled delay {delay:g} s: "
        f"{elapsed:.2f} s, {sims / elapsed:,.0f} SIMs/s",
        f"  start -> first write          {writes[0] - start:6.2f} s",
        f"  first -> last write           {writes[-1] - writes[0]:6.2f} s",
        f"  first -> last read-back       {read_backs[-1] - read_backs[0]:6.2f} s",
        f"  last read-back -> result      {timeline.ended - read_backs[-1]:6.2f} s",
        f"  update completed -> read back (p10 / p50 / p90 / max): {quantiles(lag)}",
        "  each second from the start: requests answered (writes, read-backs) and each "
        "process's CPU (% of a core)",
        f"    {'second':>6} {'writes':>6} {'reads':>6}  "
        + " ".join(f"{name[:12]:>12}" for name in timeline.busy),
    ]
    for second, (wrote, read) in enumerate(
        zip(timeline.per_second(writes), timeline.per_second(read_backs), strict=True)
    ):
        cpu = " ".join(
            f"{seconds[second]:12.0%}" if second < len(seconds) else f"{'':>12}"
            for seconds in timeline.busy.values()
        )
        lines.append(f"    {second:6d} {wrote:6,d} {read:6,d}  {cpu}")
    return lines


def main() -> None:
    """Parse the options, record one campaign and print its timeline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=EMULATOR_MAX_CONCURRENCY)
    parser.add_argument("--scheduled-delay", type=float, default=1.0)
    args = parser.parse_args()
    timeline = asyncio.run(record(args.sims, args.concurrency, args.scheduled_delay))
    print("\n".join(report(timeline, args.sims, args.concurrency, args.scheduled_delay)))


if __name__ == "__main__":
    main()
