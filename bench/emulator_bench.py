"""Benchmark of the Super SIM API emulator, run in its own process against a client in this one.

Prints:
- seeding: time from process start until the emulator prints its ready line with
  `--seed-sims N` (default 1,000,000), and its peak / current resident memory (VmHWM / VmRSS);
  then a campaign's effect on all of them: every Sim activated once (Status=active with a
  Fleet, scheduled 0.05-0.2 s, no callback URL) and completed, and the peak memory again, with
  the peak per Sim held after each (issue 28's target: 600 bytes);
- updates per second, HTTP Basic auth, N concurrent coroutines on one aiohttp session:
  immediate updates (UniqueName renames, 200), asynchronous activations (Status=active with a
  Fleet, 202 then completion), and a 50/50 mix of renames and activations;
- `--pending` activations left scheduled (one-hour delay) on the single timer heap: memory per
  pending update, then how fast a clock jump completes them all.

Usage: .venv/bin/python -m bench.emulator_bench [--seed-sims 1000000] [--sims 60000]
       [--pending 100000] [--concurrency 64] [--skip-seed | --skip-updates]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from simops.emulator.process import EmulatorProcess, spawn_emulator_process

UpdateForm = Callable[[str], dict[str, str]]


def memory_of(pid: int) -> dict[str, int]:
    """VmHWM (peak) and VmRSS (current) of a process, in MiB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0]) // 1024
    return fields


def bytes_per_sim(memory: dict[str, int], sims: int) -> int:
    """Peak resident memory (VmHWM) per Sim held, in bytes."""
    return memory["VmHWM"] * 1024 * 1024 // max(1, sims)


async def bench_seeding(seed_sims: int, concurrency: int) -> None:
    """Time and memory of an emulator seeded with `seed_sims` Sims, then after every one of
    them was activated once and completed."""
    started = time.perf_counter()
    emulator = await spawn_emulator_process(
        ["--seed-sims", str(seed_sims), "--scheduled-delay", "0.05-0.2"]
    )
    ready = time.perf_counter() - started
    try:
        memory = memory_of(emulator.pid)
        listing = await _time_filtered_page_walk(emulator, pages=20)
        print(
            f"seeding {seed_sims:,} Sims: ready after {ready:.1f} s (process start to ready line)"
        )
        print(
            f"  memory: VmHWM {memory['VmHWM']} MiB, VmRSS {memory['VmRSS']} MiB "
            f"({bytes_per_sim(memory, seed_sims)} bytes per Sim at the peak)"
        )
        print(f"  Status=new pages of 1000 from the top: {listing:.0f} ms per page")
        async with _session(emulator, concurrency) as session:
            sids = await _list_sids(session, emulator.api_url)
            seconds, statuses = await _drive(
                session, emulator.api_url, sids, _activation, concurrency
            )
            await _wait_until_settled(session, emulator.root_url)
            stats = await _stats(session, emulator.root_url)
        memory = memory_of(emulator.pid)
    finally:
        await emulator.stop()
    counts = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
    print(
        f"every Sim activated once (Fleet, scheduled 0.05-0.2 s, no callback) and completed: "
        f"{len(sids) / seconds:,.0f} updates/s ({counts}); "
        f"state-changing writes {stats['state_changing_writes']['total']:,}"
    )
    print(
        f"  memory: VmHWM {memory['VmHWM']} MiB, VmRSS {memory['VmRSS']} MiB "
        f"({bytes_per_sim(memory, seed_sims)} bytes per Sim held at the peak)"
    )


def _session(emulator: EmulatorProcess, connections: int = 100) -> aiohttp.ClientSession:
    """A session of the emulator's parent account (HTTP Basic) holding at most `connections`
    connections (100 is aiohttp's own default)."""
    auth = aiohttp.encode_basic_auth(emulator.parent.account_sid, emulator.parent.auth_token)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections), headers={"Authorization": auth}
    )


async def _stats(session: aiohttp.ClientSession, root_url: str) -> dict[str, Any]:
    async with session.get(f"{root_url}/_emulator/stats?per_sim=false") as response:
        stats: dict[str, Any] = await response.json()
    return stats


async def _time_filtered_page_walk(emulator: EmulatorProcess, pages: int) -> float:
    async with _session(emulator) as session:
        url: str | None = f"{emulator.api_url}/Sims?Status=new&PageSize=1000"
        started = time.perf_counter()
        for _ in range(pages):
            assert url is not None
            async with session.get(url) as response:
                url = (await response.json())["meta"]["next_page_url"]
        return (time.perf_counter() - started) * 1000 / pages


async def _list_sids(session: aiohttp.ClientSession, api_url: str) -> list[str]:
    sids: list[str] = []
    url: str | None = f"{api_url}/Sims?PageSize=1000"
    while url is not None:
        async with session.get(url) as response:
            page = await response.json()
        sids.extend(sim["sid"] for sim in page["sims"])
        url = page["meta"]["next_page_url"]
    # The SID list lives until the end: keep it out of the client's GC passes.
    gc.collect()
    gc.freeze()
    return sids


def _activation(sid: str) -> dict[str, str]:
    """The form that activates a Sim into the default Fleet (asynchronous: 202)."""
    return {"Status": "active", "Fleet": "default"}


async def _drive(
    session: aiohttp.ClientSession,
    api_url: str,
    sids: list[str],
    form_of: UpdateForm,
    concurrency: int,
) -> tuple[float, Counter[int]]:
    """Send one update per Sim with `concurrency` coroutines; (seconds, status counts)."""
    pending = iter(sids)
    statuses: Counter[int] = Counter()

    async def worker() -> None:
        for sid in pending:
            async with session.post(f"{api_url}/Sims/{sid}", data=form_of(sid)) as response:
                await response.read()
                statuses[response.status] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, statuses


async def _wait_until_settled(session: aiohttp.ClientSession, root_url: str) -> float:
    started = time.perf_counter()
    while True:
        if (await _stats(session, root_url))["scheduled"] == 0:
            return time.perf_counter() - started
        await asyncio.sleep(0.2)


async def bench_updates(sims: int, concurrency: int) -> None:
    """Updates per second: renames, activations, and a mix, each over fresh Sims."""
    emulator = await spawn_emulator_process(
        ["--seed-sims", str(sims), "--scheduled-delay", "0.5-2"]
    )
    try:
        async with _session(emulator, concurrency) as session:
            sids = await _list_sids(session, emulator.api_url)
            third = len(sids) // 3
            names = (f"bench-{index}" for index in itertools.count())
            cases: list[tuple[str, list[str], UpdateForm]] = [
                ("immediate (UniqueName rename, 200)", sids[:third], lambda sid: {
                    "UniqueName": next(names)
                }),
                ("asynchronous (Status=active + Fleet, 202)", sids[third : 2 * third],
                 _activation),
                ("mixed 50/50 rename / activation", sids[2 * third :], lambda sid: (
                    {"UniqueName": next(names)} if hash(sid) % 2 else _activation(sid)
                )),
            ]  # fmt: skip
            print(f"updates: {sims:,} Sims, {concurrency} concurrent requests, HTTP Basic")
            for label, batch, form_of in cases:
                seconds, statuses = await _drive(
                    session, emulator.api_url, batch, form_of, concurrency
                )
                counts = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
                print(f"  {label}: {len(batch) / seconds:,.0f} updates/s ({counts})")
            settle = await _wait_until_settled(session, emulator.root_url)
            stats = await _stats(session, emulator.root_url)
        print(
            f"  all scheduled updates completed {settle:.1f} s after the last request; "
            f"state-changing writes {stats['state_changing_writes']['total']:,}, "
            f"max per Sim {stats['max_writes_per_sim']}"
        )
    finally:
        await emulator.stop()


async def bench_pending(sims: int, concurrency: int) -> None:
    """`sims` activations left pending on one timer heap, then completed by a clock jump."""
    emulator = await spawn_emulator_process(["--seed-sims", str(sims), "--scheduled-delay", "3600"])
    try:
        async with _session(emulator, concurrency) as session:
            sids = await _list_sids(session, emulator.api_url)
            before = memory_of(emulator.pid)["VmRSS"]
            seconds, statuses = await _drive(
                session, emulator.api_url, sids, _activation, concurrency
            )
            pending = memory_of(emulator.pid)["VmRSS"]
            jump = {"advance_seconds": 7200}
            started = time.perf_counter()
            async with session.post(f"{emulator.root_url}/_emulator/clock", json=jump) as answer:
                await answer.read()
            settle = await _wait_until_settled(session, emulator.root_url) + (
                time.perf_counter() - started
            )
        print(
            f"pending: {statuses[202]:,} activations left scheduled at "
            f"{len(sids) / seconds:,.0f} updates/s; VmRSS {before} -> {pending} MiB "
            f"({(pending - before) * 1024 * 1024 / max(1, len(sids)):.0f} bytes per pending update)"
        )
        print(f"  a clock jump completed all of them in {settle:.1f} s")
    finally:
        await emulator.stop()


async def main() -> None:
    """Run the selected benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed-sims", type=int, default=1_000_000)
    parser.add_argument("--sims", type=int, default=60_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--pending", type=int, default=100_000)
    skipped = parser.add_mutually_exclusive_group()
    skipped.add_argument("--skip-seed", action="store_true")
    skipped.add_argument("--skip-updates", action="store_true", help="seeding and memory only")
    args = parser.parse_args()
    if not args.skip_updates:
        await bench_updates(args.sims, args.concurrency)
        await bench_pending(args.pending, args.concurrency)
    if not args.skip_seed:
        await bench_seeding(args.seed_sims, args.concurrency)


if __name__ == "__main__":
    asyncio.run(main())
