"""Campaigns and migrations through the JSON API only, against a real local stack: what the API
started, paused and reported is checked against the emulator's write log and the store."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient

from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.devstack.in_process import LocalStack
from tests.api.conftest import api_client
from tests.helpers.stacks import emulator_writes, new_sim_sids

PROBLEM = "application/problem+json"


async def state_of(client: TestClient[Any, Any], url: str) -> dict[str, Any]:
    response = await client.get(url)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def wait_for_phase(
    client: TestClient[Any, Any], url: str, phases: set[str], seconds: float = 60.0
) -> dict[str, Any]:
    """The campaign's state once its phase is one of `phases`."""
    for _ in range(int(seconds / 0.2)):
        state = await state_of(client, url)
        if state["phase"] in phases:
            return state
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never reached {phases}: {state}")


def written_sids(writes: list[dict[str, Any]]) -> list[str]:
    return sorted(write["sim_sid"] for write in writes)


async def test_start_pause_resume_and_report_a_campaign_through_the_api(
    api_stack: LocalStack,
) -> None:
    stack = api_stack
    sids = await new_sim_sids(stack, 20)
    fleet = stack.emulator.parent.fleets[0]
    body = {
        "spec": {
            "campaign_id": "api-launch",
            "action": "activate",
            "fleet": fleet,
            "rate": 3.0,
            "concurrency": 4,
            "batch_size": 5,
        },
        "rows": [{"sim": sid} for sid in sids],
    }
    async with api_client(stack) as client:
        started = await client.post("/api/v1/campaigns", json=body)
        assert started.status == 201, await started.text()
        url = (await started.json())["url"]
        assert started.headers["Location"] == url == "/api/v1/campaigns/api-launch"

        paused = await client.post(f"{url}/pause")
        sent = await paused.json()
        state = await wait_for_phase(client, url, {"paused"})
        # Paused: SIMs already on their path settle, then no new write starts.
        await asyncio.sleep(1.5)
        held = len(await emulator_writes(stack.emulator))
        await asyncio.sleep(1.5)
        still_held = len(await emulator_writes(stack.emulator))

        resumed = await client.post(f"{url}/resume")
        ended = await wait_for_phase(client, url, {"completed"})
        as_csv = await client.get(f"{url}/report?format=csv")
        csv_rows = list(csv.DictReader(io.StringIO(await as_csv.text())))
        as_json = await client.get(f"{url}/report", headers={"Accept": "application/json"})
        json_rows = await as_json.json()
        listed = await (await client.get("/api/v1/campaigns")).json()
        after_end = await client.post(f"{url}/pause")
        not_running = await after_end.json()

    assert paused.status == 202 and sent == {"campaign_id": "api-launch", "control": "pause"}
    assert state["running"] is True
    assert held == still_held < len(sids)
    assert resumed.status == 202
    assert ended["progress"]["counts"] == {"converged": 20}
    # Every SIM of the rows written once, and no other: the emulator's record, not the API's.
    assert written_sids(await emulator_writes(stack.emulator)) == sorted(sids)
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    assert [row["reference"] for row in csv_rows] == sids
    assert {row["outcome"] for row in json_rows} == {"converged"}
    assert len(json_rows) == 20
    # Other tests' campaigns share the session's Temporal server: this one is listed first.
    assert listed["campaigns"][0]["campaign_id"] == "api-launch"
    assert after_end.status == 409 and after_end.content_type == PROBLEM
    assert not_running["type"].endswith("/campaign-not-running")


async def test_a_second_post_of_an_id_starts_nothing_and_another_spec_is_refused(
    api_stack: LocalStack,
) -> None:
    stack = api_stack
    sids = await new_sim_sids(stack, 3)
    fleet = stack.emulator.parent.fleets[0]
    spec = {"campaign_id": "api-twice", "action": "activate", "fleet": fleet, "batch_size": 5}
    rows = [{"sim": sid} for sid in sids]
    async with api_client(stack) as client:
        first = await client.post("/api/v1/campaigns", json={"spec": spec, "rows": rows})
        created = (await first.json())["created"]
        again = await client.post("/api/v1/campaigns", json={"spec": spec, "rows": rows})
        created_again = (await again.json())["created"]
        other_rows = await client.post("/api/v1/campaigns", json={"spec": spec, "rows": rows[:2]})
        other_rows_differences = (await other_rows.json())["differences"]
        other_rate = await client.post(
            "/api/v1/campaigns", json={"spec": {**spec, "rate": 5.0}, "rows": rows}
        )
        conflict = await other_rate.json()
        await wait_for_phase(client, "/api/v1/campaigns/api-twice", {"completed"})

    assert first.status == 201 and created is True
    assert again.status == 200 and created_again is False
    assert other_rows.status == 409 and other_rows.content_type == PROBLEM
    assert "source.file_sha256" in " ".join(other_rows_differences)
    assert other_rate.status == 409 and other_rate.content_type == PROBLEM
    assert conflict["status"] == 409 and conflict["type"].endswith("/campaign-spec-conflict")
    assert any(difference.startswith("rate:") for difference in conflict["differences"])
    # Started once: each SIM written once, whatever was posted after.
    assert written_sids(await emulator_writes(stack.emulator)) == sorted(sids)
    with CampaignStore.open(store_backend(stack.settings), "api-twice") as store:
        assert store.spec.rate is None and store.row_count() == 3


async def test_a_campaign_file_uploaded_and_the_collections_kept_apart(
    api_stack: LocalStack,
) -> None:
    stack = api_stack
    sids = await new_sim_sids(stack, 4)
    fleet = stack.emulator.parent.fleets[0]
    form = FormData()
    spec = {"campaign_id": "api-upload", "action": "activate", "fleet": fleet}
    form.add_field("spec", json.dumps(spec).encode(), content_type="application/json")
    file_text = "sim\n" + "".join(f"{sid}\n" for sid in sids)
    form.add_field(
        "file", io.BytesIO(file_text.encode()), filename="shipment.csv", content_type="text/csv"
    )
    async with api_client(stack) as client:
        started = await client.post("/api/v1/campaigns", data=form)
        started_text = await started.text()
        ended = await wait_for_phase(client, "/api/v1/campaigns/api-upload", {"completed"})
        as_migration = await client.get("/api/v1/migrations/api-upload")
        migrations = await (await client.get("/api/v1/migrations")).json()
        move = {
            "campaign_id": "x",
            "action": "move",
            "migration": {"to_account": stack.emulator.accounts[1].account_sid},
        }
        move_here = await client.post(
            "/api/v1/campaigns",
            json={"spec": move, "rows": [{"sim": sids[0]}]},
        )
        move_refused = await move_here.json()

    assert started.status == 201, started_text
    assert ended["progress"]["counts"] == {"converged": 4}
    assert written_sids(await emulator_writes(stack.emulator)) == sorted(sids)
    with CampaignStore.open(store_backend(stack.settings), "api-upload") as store:
        assert store.spec.source.file_name == "shipment.csv"
    assert as_migration.status == 404 and as_migration.content_type == PROBLEM
    assert "api-upload" not in {item["campaign_id"] for item in migrations["campaigns"]}
    assert move_here.status == 422 and "POST /api/v1/migrations" in move_refused["detail"]


async def test_cancel_and_retry_the_cancelled_rows_through_the_api(api_stack: LocalStack) -> None:
    stack = api_stack
    sids = await new_sim_sids(stack, 12)
    fleet = stack.emulator.parent.fleets[0]
    spec = {
        "campaign_id": "api-cut",
        "action": "activate",
        "fleet": fleet,
        "rate": 2.0,
        "concurrency": 2,
        "batch_size": 4,
    }
    url = "/api/v1/campaigns/api-cut"
    async with api_client(stack) as client:
        started = await client.post(
            "/api/v1/campaigns", json={"spec": spec, "rows": [{"sim": sid} for sid in sids]}
        )
        assert started.status == 201
        while_running = await client.post(f"{url}/retry")
        running_problem = await while_running.json()
        cancelled = await client.post(f"{url}/cancel", json={"reason": "change freeze"})
        ended = await wait_for_phase(client, url, {"cancelled"})
        only_failed = await client.post(f"{url}/retry")
        nothing = await only_failed.json()
        retried = await client.post(
            f"{url}/retry", json={"id": "api-cut-again", "include_cancelled": True}
        )
        retry_body = await retried.json()
        again = await wait_for_phase(client, retry_body["url"], {"completed"})

    assert while_running.status == 409 and running_problem["type"].endswith("/campaign-running")
    assert cancelled.status == 202
    assert ended["progress"]["stop_reason"] == "change freeze"
    assert 0 < ended["progress"]["counts"].get("cancelled", 0) <= len(sids)
    assert only_failed.status == 409 and nothing["type"].endswith("/nothing-to-retry")
    assert retried.status == 201 and retry_body["url"] == "/api/v1/campaigns/api-cut-again"
    assert again["progress"]["retry_of"] == "api-cut"
    assert again["progress"]["counts"] == {"converged": ended["progress"]["counts"]["cancelled"]}
    # Between the two, every SIM written once.
    assert written_sids(await emulator_writes(stack.emulator)) == sorted(sids)
