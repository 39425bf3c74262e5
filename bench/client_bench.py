"""Benchmark of the Super SIM client against an emulator running in another process.

Three scenarios, each on a fresh emulator (`python -m simops.emulator`, its own core):

- throughput: activate `--updates` new SIMs (POST /v1/Sims/{sid}, 202) with `--concurrency`
  workers and a budget that large; prints updates/s and p50/p99 latency per update;
- rate-limit: the emulator at `--max-concurrency 10`; lists 20,000 SIMs and activates 5,000 of
  them with the default concurrency cap (50), checks that every SIM was listed once and written
  once, and prints the 429s seen: in total, those the emulator's concurrency limit caused (no
  Retry-After) and those injected (Retry-After: 1), and the share of each in the second half
  of the run, once the budget has adapted. Three runs: `rate_limit_rate` 0.2 as the issue
  states it; 20 ms latency and no injection (the concurrency limit alone: it only bites when
  requests overlap); both together;
- token-expiry: OAuth2 tokens that live 2 s (`--token-ttl 2`) during 5,000 activations, renewed
  ahead of expiry (the default), then never renewed ahead so that every expiry hits requests
  in flight as 401s; prints failed updates (must be 0), token requests and 401s.

Run: `.venv/bin/python -m bench.client_bench [--scenario all|throughput|rate-limit|token-expiry]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pydantic import SecretStr

from simops.core.sim import SimStatus, SimUpdate
from simops.emulator.process import EmulatorProcess, spawn_emulator_process
from simops.runtime.settings import SimopsSettings
from simops.supersim.auth import KoreOAuth2Auth
from simops.supersim.client import SuperSimClient
from simops.supersim.errors import SuperSimError
from simops.supersim.pacing import BudgetStats, RateBudget

LIST_SIMS = 20_000
LIST_UPDATES = 5_000
TOKEN_TTL_SECONDS = 2
TOKEN_RUN_RPS = 500.0
RATE_LIMIT_RUN_RPS = 2_000.0
RATE_LIMIT_RUN_WORKERS = 500
INJECTED_RATE_LIMIT_RATE = 0.2
API_LATENCY_MS = 20.0
SCHEDULED_DELAY = "0.05"


@dataclass
class UpdateRun:
    """What a batch of updates did: per-update latency, failures and wall time."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def rate(self) -> float:
        """Completed updates per second."""
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, share: float) -> float:
        """A latency percentile in milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000.0


def settings_for(emulator: EmulatorProcess, **limits: Any) -> SimopsSettings:
    """Client settings for the emulator's parent account over KORE OAuth2."""
    parent = emulator.parent
    return SimopsSettings(
        api_url=emulator.api_url,
        kore_token_url=emulator.token_url,
        kore_client_id=parent.client_id,
        kore_client_secret=SecretStr(parent.client_secret),
        **limits,
    )


async def control(emulator: EmulatorProcess, method: str, path: str, **body: Any) -> Any:
    """Call the emulator's control API (`/_emulator/...`)."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{emulator.root_url}/_emulator/{path}", json=body) as response,
    ):
        response.raise_for_status()
        return await response.json()


async def run_updates(
    sids: Sequence[str],
    update: Callable[[str], Awaitable[object]],
    workers: int,
    on_progress: Callable[[int], None] = lambda done: None,
) -> UpdateRun:
    """Apply `update` to every SID with `workers` coroutines; time each call."""
    run = UpdateRun()
    pending = iter(sids)
    done = 0

    async def worker() -> None:
        nonlocal done
        for sid in pending:
            started = time.perf_counter()
            try:
                await update(sid)
            except SuperSimError as error:
                run.failures.append(f"{sid}: {error}")
                continue
            run.latencies.append(time.perf_counter() - started)
            done += 1
            on_progress(done)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    run.elapsed = time.perf_counter() - started
    return run


def activation(client: SuperSimClient, fleet_sid: str) -> Callable[[str], Awaitable[object]]:
    """The update under test: activate a new SIM into a Fleet (202, asynchronous)."""
    update = SimUpdate(status=SimStatus.ACTIVE, fleet=fleet_sid)
    return lambda sid: client.update_sim(sid, update)


async def new_sim_sids(client: SuperSimClient, count: int) -> list[str]:
    """The SIDs of `count` new SIMs."""
    return [sim.sid async for sim in client.list_sims(status=SimStatus.NEW, limit=count)]


def print_run(label: str, run: UpdateRun) -> None:
    """One line of figures for a batch of updates."""
    print(
        f"  {label}: {len(run.latencies)} ok, {len(run.failures)} failed in {run.elapsed:.2f} s "
        f"= {run.rate():.0f} updates/s; latency p50 {run.percentile(0.50):.1f} ms, "
        f"p99 {run.percentile(0.99):.1f} ms"
    )


async def check_written_once(emulator: EmulatorProcess, expected: int) -> None:
    """The emulator saw exactly `expected` state-changing writes, at most one per SIM."""
    stats = await control(emulator, "GET", "stats?per_sim=false")
    writes = stats["state_changing_writes"]["total"]
    print(
        f"  emulator: {writes} state-changing writes on {stats['sims_written']} SIMs, "
        f"max {stats['max_writes_per_sim']} per SIM"
    )
    if writes != expected or stats["max_writes_per_sim"] != 1:
        raise SystemExit(f"FAILED: expected {expected} writes, one per SIM")


async def throughput(updates: int, concurrency: int) -> None:
    """Updates per second end to end, with a budget as wide as the workers."""
    print(f"throughput: {updates} activations, {concurrency} concurrent")
    emulator = await spawn_emulator_process(
        ["--seed-sims", str(updates), "--scheduled-delay", SCHEDULED_DELAY, "--seed", "7"]
    )
    try:
        settings = settings_for(emulator, api_max_concurrency=concurrency, api_max_rps=1_000_000.0)
        async with SuperSimClient(settings, budget=RateBudget.from_settings(settings)) as client:
            sids = await new_sim_sids(client, updates)
            fleet_sid = emulator.parent.fleets[0]
            run = await run_updates(sids, activation(client, fleet_sid), concurrency)
        print_run("activations", run)
        await check_written_once(emulator, updates)
    finally:
        await emulator.stop()


def share(part: int, whole: int) -> str:
    """`part` as a percentage of `whole`."""
    return f"{100.0 * part / whole:.2f}%" if whole else "n/a"


def print_rate_limited(label: str, before: BudgetStats, after: BudgetStats) -> None:
    """429s between two budget snapshots, split by cause, as shares of the requests sent."""
    requests = after.granted - before.granted
    limited = after.rate_limited - before.rate_limited
    injected = after.rate_limited_with_retry_after - before.rate_limited_with_retry_after
    by_limit = limited - injected
    print(
        f"  {label}: {requests} requests, {limited} 429s ({share(limited, requests)}): "
        f"{by_limit} from the concurrency limit ({share(by_limit, requests)}), "
        f"{injected} injected ({share(injected, requests)})"
    )


async def rate_limited(sims: int, updates: int, injected_rate: float, latency_ms: float) -> None:
    """List and update against a concurrency limit of 10 (and injected 429s, if any)."""
    print(
        f"rate-limit: emulator --max-concurrency 10, rate_limit_rate {injected_rate:g}, "
        f"latency_ms {latency_ms:g}; "
        f"list {sims}, activate {updates}"
    )
    emulator = await spawn_emulator_process(
        [
            "--seed-sims",
            str(sims),
            "--max-concurrency",
            "10",
            "--scheduled-delay",
            SCHEDULED_DELAY,
            "--seed",
            "11",
        ]
    )
    try:
        await control(
            emulator, "POST", "faults", rate_limit_rate=injected_rate, latency_ms=latency_ms
        )
        # The default concurrency cap (50, five times the emulator's) and a rate cap high enough
        # that concurrency, not the rate, is what the budget has to find.
        settings = settings_for(emulator, api_max_rps=RATE_LIMIT_RUN_RPS)
        budget = RateBudget.from_settings(settings)
        print(
            f"  client budget: {settings.api_max_concurrency} concurrent, "
            f"{settings.api_max_rps:g}/s; {RATE_LIMIT_RUN_WORKERS} workers"
        )
        async with SuperSimClient(settings, budget=budget) as client:
            started = time.perf_counter()
            listed = [sim.sid async for sim in client.list_sims()]
            print(
                f"  listed {len(listed)} SIMs ({len(set(listed))} distinct) "
                f"in {time.perf_counter() - started:.2f} s"
            )
            if len(listed) != sims or len(set(listed)) != sims:
                raise SystemExit("FAILED: the listing missed or repeated SIMs")
            snapshots = {"start": budget.stats()}

            def at_half(done: int) -> None:
                if done == updates // 2:
                    snapshots["half"] = budget.stats()

            run = await run_updates(
                listed[:updates],
                activation(client, emulator.parent.fleets[0]),
                RATE_LIMIT_RUN_WORKERS,
                at_half,
            )
            snapshots["end"] = budget.stats()
        print_run("activations", run)
        print_rate_limited("whole run", snapshots["start"], snapshots["end"])
        print_rate_limited("second half (adapted)", snapshots["half"], snapshots["end"])
        end = snapshots["end"]
        print(
            f"  budget pace at the end: {end.pace:g}/s, "
            f"noise floor learned: {end.noise_share:.1%}, backoffs: {end.backoffs}"
        )
        if run.failures:
            raise SystemExit(f"FAILED: {len(run.failures)} updates failed: {run.failures[:3]}")
        await check_written_once(emulator, updates)
    finally:
        await emulator.stop()


async def token_expiry(updates: int, *, renew_ahead: bool) -> None:
    """Activations while OAuth2 tokens expire every two seconds.

    With `renew_ahead` false the client's token clock stands still, so it never renews a token
    before expiry: every expiry reaches the API, which answers 401 (as after clock skew or a
    revoked token), and the client must renew and resend.
    """
    how = "renewed ahead of expiry" if renew_ahead else "never renewed ahead: 401s"
    print(f"token-expiry: {updates} activations with --token-ttl {TOKEN_TTL_SECONDS}, {how}")
    emulator = await spawn_emulator_process(
        [
            "--seed-sims",
            str(updates),
            "--token-ttl",
            str(TOKEN_TTL_SECONDS),
            "--scheduled-delay",
            SCHEDULED_DELAY,
            "--seed",
            "13",
        ]
    )
    try:
        settings = settings_for(emulator)
        parent = emulator.parent
        auth = KoreOAuth2Auth(
            emulator.token_url,
            parent.client_id,
            parent.client_secret,
            clock=time.monotonic if renew_ahead else lambda: 0.0,
        )
        # A modest pace, so that the run outlasts several token lifetimes.
        budget = RateBudget(settings.api_max_concurrency, TOKEN_RUN_RPS)
        async with SuperSimClient(settings, budget=budget, auth=auth) as client:
            sids = await new_sim_sids(client, updates)
            run = await run_updates(
                sids, activation(client, emulator.parent.fleets[0]), settings.api_max_concurrency
            )
        print_run("activations", run)
        stats = await control(emulator, "GET", "stats?per_sim=false")
        unauthorized = sum(by_status.get("401", 0) for by_status in stats["requests"].values())
        print(
            f"  {len(run.failures)} failed updates, {auth.token_requests} token requests, "
            f"{unauthorized} answers 401 (each retried with a new token) over {run.elapsed:.1f} s"
        )
        if run.failures:
            raise SystemExit(f"FAILED: {len(run.failures)} updates failed: {run.failures[:3]}")
        await check_written_once(emulator, updates)
    finally:
        await emulator.stop()


async def main(arguments: argparse.Namespace) -> None:
    """Run the chosen scenarios in turn."""
    scenarios = arguments.scenario
    print(f"python {sys.version.split()[0]}, client and emulator in separate processes")
    if scenarios in ("all", "throughput"):
        await throughput(arguments.updates, arguments.concurrency)
    if scenarios in ("all", "rate-limit"):
        # As the issue states it; then with a response time, without which every emulator
        # handler runs to completion before the next starts and its concurrency limit never
        # bites: first the limit alone, then the limit and the injected 429s together.
        await rate_limited(LIST_SIMS, LIST_UPDATES, INJECTED_RATE_LIMIT_RATE, 0.0)
        await rate_limited(LIST_SIMS, LIST_UPDATES, 0.0, API_LATENCY_MS)
        await rate_limited(LIST_SIMS, LIST_UPDATES, INJECTED_RATE_LIMIT_RATE, API_LATENCY_MS)
    if scenarios in ("all", "token-expiry"):
        await token_expiry(LIST_UPDATES, renew_ahead=True)
        await token_expiry(LIST_UPDATES, renew_ahead=False)


def parse_arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario",
        choices=["all", "throughput", "rate-limit", "token-expiry"],
        default="all",
    )
    parser.add_argument("--updates", type=int, default=20_000, help="throughput: updates")
    parser.add_argument("--concurrency", type=int, default=64, help="throughput: workers")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_arguments()))
