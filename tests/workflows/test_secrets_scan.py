"""No secret and no full ICCID in any workflow history or log line (plain text and JSON), with the
codec off and on.

Real SIM operations (an activation through its callback, one under API faults, refused ones,
forged callbacks) run on the dev server with KORE OAuth2 against the emulator while every log
record of the worker and the ingress goes to a file; then every history on the server and the
log file are scanned for the emulator accounts' credentials, the bearer token the worker was
issued, the callback secret, the payload key and every SIM's ICCID. The same records are written
as JSON lines too (`SIMOPS_LOG_FORMAT=json`) and scanned the same way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from simops.callbacks.urls import callback_url
from simops.clients.sims import start_sim_operation
from simops.contract import sim_workflow_id
from simops.core.sim import OutcomeKind, SimStatus
from simops.devstack.in_process import LocalStack, local_stack
from simops.emulator.ids import iccid_for
from simops.emulator.server import RunningEmulator
from simops.observability.logging import JsonFormatter
from simops.runtime.codec import new_payload_key
from simops.runtime.settings import SimopsSettings
from simops.runtime.temporal import data_converter
from simops.scan import scan_histories, scan_log_file
from simops.sim_messages import SimOperationOutcome, SimOperationRequest
from simops.supersim.auth import KoreOAuth2Auth
from simops.supersim.errors import NotFoundError, ServerError
from simops.supersim.signatures import KORE_SIGNATURE_HEADER
from tests.helpers.stack_scan import capture_log_records, stack_secrets
from tests.helpers.stacks import set_faults

UNKNOWN_ICCID = iccid_for(999_999)
"""A valid ICCID no SIM of the emulator has."""

pytestmark = pytest.mark.timeout(120)


async def _operate(stack: LocalStack, **fields: Any) -> SimOperationOutcome:
    handle = await start_sim_operation(
        stack.client, stack.settings.task_queue, SimOperationRequest(**fields)
    )
    return await handle.result()


async def _forge_callbacks(stack: LocalStack, sim_sid: str) -> None:
    """A callback to a forged URL, and one to the real URL with a forged signature."""
    base, secret = stack.settings.callback_base_url, stack.settings.callback_secret
    assert base is not None and secret is not None
    workflow_id = sim_workflow_id(sim_sid)
    forged = callback_url(base, "not-the-callback-secret", workflow_id)
    real = callback_url(base, secret.get_secret_value(), workflow_id)
    account_sid = stack.emulator.parent.account_sid
    body = {"SimSid": sim_sid, "SimStatus": "active", "AccountSid": account_sid}
    async with aiohttp.ClientSession() as session:
        for url in (forged, real):
            headers = {KORE_SIGNATURE_HEADER: "0" * 64}
            async with session.post(url, data=body, headers=headers) as response:
                assert response.status == 403


async def _run_scenarios(stack: LocalStack, emulator: RunningEmulator) -> list[str]:
    """The operations whose histories and logs are scanned; their workflow IDs."""
    sims = [sim.sid async for sim in stack.api.list_sims(status=SimStatus.NEW, limit=3)]
    fleet = emulator.parent.fleets[0]
    activated = await _operate(
        stack, sim_sid=sims[0], operation="activate", status=SimStatus.ACTIVE, fleet=fleet
    )
    assert activated.outcome == OutcomeKind.CONVERGED
    refused = await _operate(stack, sim_sid=sims[1], operation="activate", status=SimStatus.ACTIVE)
    assert (refused.outcome, refused.code) == (OutcomeKind.FAILED, 83007)
    unknown = await _operate(stack, sim_sid="HS" + "0" * 32, operation="deactivate")
    assert unknown.outcome == OutcomeKind.FAILED
    await _forge_callbacks(stack, sims[0])
    with pytest.raises(NotFoundError) as unknown_iccid:
        await stack.api.resolve_sim(UNKNOWN_ICCID)
    logging.getLogger(__name__).warning("operator error: %s", unknown_iccid.value)
    await set_faults(emulator, error_rate=0.3)
    iccid = (await stack.api.fetch_sim(sims[0])).iccid
    assert iccid is not None
    for _ in range(20):
        # Reads by ICCID (in the query string) retried after injected 500s, and logged.
        with contextlib.suppress(ServerError):
            await stack.api.resolve_sim(iccid)
    flaky = await _operate(
        stack, sim_sid=sims[2], operation="ready", status=SimStatus.READY, fleet=fleet
    )
    await set_faults(emulator, error_rate=0.0)
    assert flaky.outcome == OutcomeKind.CONVERGED
    return [sim_workflow_id(sid) for sid in (*sims, "HS" + "0" * 32)]


@dataclass
class Server:
    """The dev server through a client with or without the payload codec."""

    client: Client
    payload_key: str | None


@pytest.fixture(params=["codec-off", "codec-on"])
async def server(request: pytest.FixtureRequest, dev_env: WorkflowEnvironment) -> Server:
    """The dev server's own client, or one that encrypts payloads under a fresh key."""
    if request.param == "codec-off":
        return Server(dev_env.client, None)
    payload_key = new_payload_key()
    settings = SimopsSettings(_env_file=None, payload_key=payload_key)
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=data_converter(settings),
    )
    return Server(client, payload_key)


async def test_no_secret_or_iccid_in_any_history_or_log_line(
    server: Server, emulator_factory: Any, tmp_path: Path
) -> None:
    emulator: RunningEmulator = await emulator_factory(
        seed_sims=4, child_accounts=1, scheduled_delay=(0.05, 0.05), random_seed=7
    )
    parent = emulator.parent
    log = tmp_path / "simops.log"
    json_log = tmp_path / "simops.jsonl"
    with capture_log_records(log), capture_log_records(json_log, JsonFormatter()):
        async with local_stack(
            server.client,
            emulator,
            kore_client_id=parent.client_id,
            kore_client_secret=parent.client_secret,
            kore_token_url=emulator.token_url,
            api_backoff_base_seconds=0.01,
            payload_key=server.payload_key,
        ) as stack:
            workflow_ids = await _run_scenarios(stack, emulator)
            secrets = [*await stack_secrets(stack), UNKNOWN_ICCID]
            auth = stack.api.auth
            assert isinstance(auth, KoreOAuth2Auth) and auth.token_requests >= 1

    report = await scan_histories(server.client, secrets)
    log_findings = scan_log_file(log, secrets) + scan_log_file(json_log, secrets)

    assert [str(finding) for finding in report.findings + log_findings] == []
    listed = {execution.id async for execution in server.client.list_workflows()}
    assert set(workflow_ids) <= listed
    assert report.workflows >= len(workflow_ids)
    lines = log.read_text(encoding="utf-8")
    assert "callback refused: forged callback URL" in lines
    assert "callback refused: bad provider signature" in lines
    assert re.search(r"retrying GET /v1/Sims in [\d.]+ s after ServerError", lines)
    assert f"No SIM with ICCID {UNKNOWN_ICCID[:6]}…{UNKNOWN_ICCID[-4:]}" in lines
    # One JSON object per line, multi-line messages (Temporal's debug dumps) included.
    entries = [json.loads(line) for line in json_log.read_text(encoding="utf-8").splitlines()]
    assert any("\n" in entry["message"] for entry in entries)
    in_activity = [entry for entry in entries if "activity" in entry]
    assert in_activity, "no JSON log line names its activity"
    assert all(entry["workflow_id"] in workflow_ids and entry["run_id"] for entry in in_activity)


async def test_the_scan_sees_payload_contents_unless_they_are_encrypted(
    server: Server, emulator_factory: Any
) -> None:
    emulator: RunningEmulator = await emulator_factory(seed_sims=1, scheduled_delay=(0.0, 0.0))
    fleet = emulator.parent.fleets[0]
    async with local_stack(server.client, emulator) as stack:
        (sim_sid,) = [s.sid async for s in stack.api.list_sims(status=SimStatus.NEW, limit=1)]
        outcome = await _operate(
            stack, sim_sid=sim_sid, operation="activate", status=SimStatus.ACTIVE, fleet=fleet
        )
    assert outcome.outcome == OutcomeKind.CONVERGED

    # The Fleet SID is only ever inside payloads (request, snapshots), never in an ID.
    report = await scan_histories(
        server.client, [fleet], query=f"WorkflowId = '{sim_workflow_id(sim_sid)}'"
    )

    assert report.workflows == 1
    assert (report.count > 0) == (server.payload_key is None)
