"""Secrets and full ICCIDs found after real work, with the payload codec off and on; its cost.

    .venv/bin/python -m bench.secrets_scan_bench [--activations 50] [--campaign-sims 200]

For each mode, the stack runs as separate processes (tests/helpers/process_stack.py): a Temporal dev
server, the emulator, `simops callbacks`, and `simops worker` holding a bearer token this
process obtained from the emulator's token endpoint (plus `SIMOPS_PAYLOAD_KEY` with the codec
on). It runs single activations (timed, one at a time), refused and unknown-SIM operations,
forged callbacks, and an activation campaign from a file of ICCIDs with a mistyped and an
unknown one. Then every history on the server and the worker's and the ingress's logs are
scanned for every credential in play and every ICCID. The figure that matters is "found": 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from simops.callbacks.urls import callback_url
from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.clients.campaigns import start_campaign
from simops.clients.sims import start_sim_operation
from simops.contract import sim_workflow_id
from simops.core.sim import OutcomeKind, SimStatus
from simops.emulator.ids import iccid_for
from simops.runtime.codec import EncryptionCodec, new_payload_key
from simops.runtime.settings import SimopsSettings
from simops.runtime.temporal import data_converter
from simops.scan import Finding, configured_secrets, scan_histories, scan_log_file
from simops.sim_messages import SimOperationRequest
from simops.supersim.client import SuperSimClient
from simops.supersim.signatures import KORE_SIGNATURE_HEADER
from tests.helpers.process_stack import ProcessStack, process_stack
from tests.helpers.supersim import bearer_token

UNKNOWN_ICCID = iccid_for(999_999)
REFUSED_ACTIVATIONS = 3
"""Activations without a Fleet (refused by the rules, 83007)."""
CODEC_PAYLOADS = 20_000


@dataclass
class ModeFigures:
    """What one mode measured."""

    mode: str
    latencies: list[float]
    campaign_counts: dict[str, int]
    workflows: int
    events: int
    log_lines: int
    secrets: int
    findings: list[Finding]


async def activate(stack: ProcessStack, sim_sid: str, fleet: str | None) -> OutcomeKind:
    """One activation as `simops sim activate` starts it; its outcome."""
    handle = await start_sim_operation(
        stack.client,
        stack.settings.task_queue,
        SimOperationRequest(
            sim_sid=sim_sid, operation="activate", status=SimStatus.ACTIVE, fleet=fleet
        ),
    )
    return (await handle.result()).outcome


async def forge_callbacks(stack: ProcessStack, sim_sid: str) -> None:
    """A callback to a forged URL, and one to the real URL with a forged signature."""
    base, secret = stack.settings.callback_base_url, stack.settings.callback_secret
    assert base is not None and secret is not None
    body = {
        "SimSid": sim_sid,
        "SimStatus": "active",
        "AccountSid": stack.emulator.parent.account_sid,
    }
    async with aiohttp.ClientSession() as session:
        for key in ("not-the-callback-secret", secret.get_secret_value()):
            url = callback_url(base, key, sim_workflow_id(sim_sid))
            headers = {KORE_SIGNATURE_HEADER: "0" * 64}
            async with session.post(url, data=body, headers=headers) as response:
                if response.status != 403:
                    raise SystemExit(f"a forged callback was answered {response.status}")


async def run_campaign(stack: ProcessStack, iccids: list[str], fleet: str) -> dict[str, int]:
    """An activation campaign over a file of ICCIDs, one mistyped and one unknown; its counts."""
    mistyped = iccids[0][:-1] + str((int(iccids[0][-1]) + 1) % 10)
    source = stack.directory / "by-iccid.csv"
    source.write_text("sim\n" + "".join(f"{i}\n" for i in [*iccids, mistyped, UNKNOWN_ICCID]))
    spec = CampaignSpec(
        campaign_id="scan-campaign",
        action=CampaignAction.ACTIVATE,
        source=CampaignSource(file_name=source.name),
        fleet=fleet,
        concurrency=50,
    )
    result = await (await start_campaign(stack.client, stack.settings, spec, source)).result()
    if result.phase != CampaignPhase.COMPLETED:
        raise SystemExit(f"the campaign ended {result.phase}: {result.stop_reason}")
    return dict(result.counts)


async def every_iccid(stack: ProcessStack, api: SuperSimClient) -> list[str]:
    """Every ICCID the emulator knows: its SIMs' and its unregistered inventory's."""
    iccids = [sim.iccid async for sim in api.list_sims() if sim.iccid]
    inventory = await stack.emulator_json("GET", "/_emulator/inventory")
    return [*iccids, *(pair["iccid"] for pair in inventory["inventory"])]


async def run_mode(codec: bool, activations: int, campaign_sims: int) -> ModeFigures:
    """Do the work on a fresh stack, then scan everything it wrote."""
    mode = "codec on" if codec else "codec off"
    # process_stack leaves its SIMOPS_* variables in this process: no key from a previous mode.
    os.environ.pop("SIMOPS_PAYLOAD_KEY", None)
    overrides = {"SIMOPS_PAYLOAD_KEY": new_payload_key()} if codec else {}
    sims = activations + REFUSED_ACTIVATIONS + campaign_sims
    emulator_args = ["--seed-sims", str(sims), "--child-accounts", "1", "--scheduled-delay", "0.1"]
    with tempfile.TemporaryDirectory(prefix="simops-scan-") as scratch:
        directory = Path(scratch)
        async with process_stack(directory, emulator_args, settings_overrides=overrides) as stack:
            token = await bearer_token(stack.emulator.token_url, stack.emulator.parent)
            stack.environment["SIMOPS_BEARER_TOKEN"] = token
            await stack.kill_worker()
            await stack.start_worker()
            fleet = stack.emulator.parent.fleets[0]
            async with SuperSimClient.from_settings(stack.settings) as api:
                new = [s async for s in api.list_sims(status=SimStatus.NEW, limit=sims)]
                latencies = []
                for sim in new[:activations]:
                    started = time.perf_counter()
                    if await activate(stack, sim.sid, fleet) != OutcomeKind.CONVERGED:
                        raise SystemExit(f"the activation of {sim.sid} did not converge")
                    latencies.append(time.perf_counter() - started)
                refused = new[activations : activations + REFUSED_ACTIVATIONS]
                for sim in refused:
                    await activate(stack, sim.sid, None)
                await activate(stack, "HS" + "0" * 32, fleet)
                await forge_callbacks(stack, refused[0].sid)
                campaign = [s.iccid for s in new[activations + REFUSED_ACTIVATIONS :] if s.iccid]
                counts = await run_campaign(stack, campaign, fleet)
                iccids = await every_iccid(stack, api)
            secrets = [
                *configured_secrets(stack.settings),
                token,
                f"Bearer {token}",
                *(a.client_secret for a in stack.emulator.accounts),
                *iccids,
                UNKNOWN_ICCID,
            ]
            report = await scan_histories(stack.client, secrets)
            logs = [*sorted(directory.glob("worker-*.log")), directory / "ingress.log"]
            findings = report.findings + [f for log in logs for f in scan_log_file(log, secrets)]
            log_lines = sum(len(log.read_text(errors="replace").splitlines()) for log in logs)
    return ModeFigures(
        mode, latencies, counts, report.workflows, report.events, log_lines, len(secrets), findings
    )


async def codec_cost() -> float:
    """Microseconds to encrypt and decrypt one SIM operation request, through the converter."""
    converter = data_converter(SimopsSettings(_env_file=None, payload_key=new_payload_key()))
    assert isinstance(converter.payload_codec, EncryptionCodec)
    request = SimOperationRequest(
        sim_sid="HS" + "1" * 32,
        operation="activate",
        status=SimStatus.ACTIVE,
        fleet="HF" + "2" * 32,
    )
    payloads = await converter.encode([request])
    started = time.perf_counter()
    for _ in range(CODEC_PAYLOADS):
        await converter.payload_codec.decode(await converter.payload_codec.encode(payloads))
    return (time.perf_counter() - started) / CODEC_PAYLOADS * 1e6


def percentile(samples: list[float], fraction: float) -> float:
    """The sample below which `fraction` of the samples fall (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def bench(activations: int, campaign_sims: int) -> None:
    """Both modes, then the codec's cost; print the figures."""
    modes = [await run_mode(codec, activations, campaign_sims) for codec in (False, True)]
    for figures in modes:
        print(f"== {figures.mode}")
        print(
            f"work: {len(figures.latencies)} activations, {REFUSED_ACTIVATIONS} refused, "
            f"1 unknown SIM, 2 forged callbacks, campaign by ICCID {figures.campaign_counts}"
        )
        print(
            f"activation latency p50 {percentile(figures.latencies, 0.5) * 1000:.0f} ms, "
            f"p95 {percentile(figures.latencies, 0.95) * 1000:.0f} ms, "
            f"mean {statistics.mean(figures.latencies) * 1000:.0f} ms"
        )
        print(
            f"scanned: {figures.workflows} workflow histories ({figures.events} events), "
            f"{figures.log_lines} log lines, for {figures.secrets} secret values and full ICCIDs"
        )
        print(f"found: {len(figures.findings)}")
        for finding in figures.findings[:20]:
            print(f"  {finding}")
    print(f"codec: encrypt + decrypt one payload {await codec_cost():.1f} us")


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activations", type=int, default=50)
    parser.add_argument("--campaign-sims", type=int, default=200)
    arguments = parser.parse_args()
    asyncio.run(bench(arguments.activations, arguments.campaign_sims))


if __name__ == "__main__":
    main()
