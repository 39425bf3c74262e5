"""The dashboard's app against a real local stack: pages, downloads, controls and their guards."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from temporalio.client import WorkflowExecutionStatus

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.schedule import CampaignSchedule
from simops.campaigns.spec import CampaignAction
from simops.core.sim import SimStatus, SimUpdate
from simops.devstack.in_process import LocalStack
from simops.workflows.campaign import CampaignWorkflow
from tests.ui.conftest import CSRF, dashboard, new_sids, start_file_campaign

TOKEN = "a-token-of-32-characters-or-so!!"


async def test_pages_and_reports_of_an_ended_campaign(ui_stack: LocalStack, tmp_path: Path) -> None:
    stack = ui_stack
    sids = await new_sids(stack, 6)
    fleet = stack.emulator.parent.fleets[0]
    references = [*sids, "HS" + "0" * 32]
    handle = await start_file_campaign(
        stack, tmp_path, "ended-one", CampaignAction.ACTIVATE, references, fleet=fleet
    )
    await handle.result()

    async with dashboard(stack) as client:
        listing = await (await client.get("/")).text()
        filtered = await (await client.get("/?phase=completed&action=activate")).text()
        other = await (await client.get("/live?action=move")).text()
        page = await client.get("/campaigns/ended-one")
        text = await page.text()
        as_csv = await client.get("/campaigns/ended-one/report.csv")
        csv_rows = list(csv.DictReader(io.StringIO(await as_csv.text())))
        as_json = await client.get("/campaigns/ended-one/report.json")
        json_rows = json.loads(await as_json.text())
        progress = await (await client.get("/campaigns/ended-one/progress.json")).json()
        missing = await client.get("/campaigns/no-such-one")

    assert 'href="/campaigns/ended-one"' in listing and "completed" in listing
    assert "ended-one" in filtered and "ended-one" not in other
    assert page.status == 200 and page.headers["Content-Security-Policy"].startswith("default-src")
    assert 'data-outcome="converged">6<' in text and 'data-outcome="invalid">1<' in text
    assert "<svg" in text and "Failed and invalid rows" in text and "HS" + "0" * 32 in text
    assert as_csv.headers["Content-Disposition"] == 'attachment; filename="ended-one-report.csv"'
    assert [row["reference"] for row in csv_rows] == references
    assert [row["outcome"] for row in json_rows] == ["converged"] * 6 + ["invalid"]
    assert progress["phase"] == "completed" and progress["ended_rows"] == 7
    assert missing.status == 404


async def test_pause_needs_the_csrf_token_and_then_pauses(
    ui_stack: LocalStack, tmp_path: Path
) -> None:
    stack = ui_stack
    sids = await new_sids(stack, 30)
    fleet = stack.emulator.parent.fleets[0]
    handle = await start_file_campaign(
        stack,
        tmp_path,
        "slow-one",
        CampaignAction.ACTIVATE,
        sids,
        fleet=fleet,
        rate=2.0,
        concurrency=5,
    )
    async with dashboard(stack) as client:
        page = await (await client.get("/campaigns/slow-one")).text()
        match = CSRF.search(page)
        assert match is not None, page
        without = await client.post("/campaigns/slow-one/pause", data={})
        wrong = await client.post("/campaigns/slow-one/pause", data={"csrf_token": "0" * 64})
        elsewhere = await client.post(
            "/campaigns/slow-one/pause",
            data={"csrf_token": match[1]},
            headers={"Origin": "http://evil.example"},
        )
        assert (await handle.query(CampaignWorkflow.progress)).phase != CampaignPhase.PAUSED
        paused = await client.post(
            "/campaigns/slow-one/pause", data={"csrf_token": match[1]}, allow_redirects=False
        )
        shown = await (await client.get("/campaigns/slow-one?sent=pause")).text()
        cancelled = await client.post(
            "/campaigns/slow-one/cancel",
            data={"csrf_token": match[1], "reason": "<i>enough</i>"},
            allow_redirects=False,
        )
        result = await handle.result()
        again = await client.post("/campaigns/slow-one/resume", data={"csrf_token": match[1]})

    assert [without.status, wrong.status, elsewhere.status] == [403, 403, 403]
    assert paused.status == 303 and paused.headers["Location"] == "/campaigns/slow-one?sent=pause"
    assert "pause sent" in shown
    assert cancelled.status == 303
    assert result.phase == CampaignPhase.CANCELLED and result.stop_reason == "<i>enough</i>"
    assert again.status == 409


async def test_paused_is_shown_and_queried(ui_stack: LocalStack, tmp_path: Path) -> None:
    stack = ui_stack
    sids = await new_sids(stack, 20)
    fleet = stack.emulator.parent.fleets[0]
    handle = await start_file_campaign(
        stack,
        tmp_path,
        "to-pause",
        CampaignAction.ACTIVATE,
        sids,
        fleet=fleet,
        rate=2.0,
        concurrency=5,
    )
    await handle.signal(CampaignWorkflow.pause)
    async with dashboard(stack) as client:
        for _ in range(50):
            live = await (await client.get("/campaigns/to-pause/live")).text()
            if 'id="phase">paused<' in live:
                break
            await asyncio.sleep(0.2)
        page = await (await client.get("/campaigns/to-pause")).text()
    await handle.signal(CampaignWorkflow.cancel, "done")
    await handle.result()

    assert 'id="phase">paused<' in live
    assert 'action="/campaigns/to-pause/resume"' in page


async def test_html_in_a_unique_name_is_shown_as_text(ui_stack: LocalStack, tmp_path: Path) -> None:
    stack = ui_stack
    (sid,) = await new_sids(stack, 1)
    name = '<img src=x onerror="alert(1)"><b>bold</b>'
    await stack.api.update_sim(sid, SimUpdate(unique_name=name))
    assert (await stack.api.fetch_sim(sid)).status == SimStatus.NEW
    # A new SIM cannot be deactivated: the row is invalid, and its reference is on the page.
    handle = await start_file_campaign(
        stack, tmp_path, "named", CampaignAction.DEACTIVATE, [name, "<script>x</script>"]
    )
    await handle.result()
    async with dashboard(stack) as client:
        text = await (await client.get("/campaigns/named")).text()
        live = await (await client.get("/campaigns/named/live")).text()

    for body in (text, live):
        assert "<img" not in body and "<b>bold" not in body and "<script>x" not in body
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&lt;b&gt;bold&lt;/b&gt;" in body
        assert "&lt;script&gt;x&lt;/script&gt;" in body


GUARDED = "/campaigns/none-such"
"""A page past the guard that answers at once (404): the campaigns page would ask Temporal about
every campaign the session's other tests left."""


async def test_a_token_guards_every_page(ui_stack: LocalStack) -> None:
    async with dashboard(ui_stack, ui_token=SecretStr(TOKEN)) as client:
        api = await client.get(GUARDED, headers={"Accept": "application/json"})
        browser = await client.get(
            "/?phase=running", headers={"Accept": "text/html"}, allow_redirects=False
        )
        bearer = await client.get(GUARDED, headers={"Authorization": f"Bearer {TOKEN}"})
        wrong_bearer = await client.get(GUARDED, headers={"Authorization": "Bearer nope"})
        login_page = await client.get("/login?next=/%3Fphase%3Drunning")
        csrf = CSRF.search(await login_page.text())
        assert csrf is not None
        style = await client.get("/static/style.css")
        wrong = await client.post("/login", data={"csrf_token": csrf[1], "token": "nope"})
        signed_in = await client.post(
            "/login",
            data={"csrf_token": csrf[1], "token": TOKEN, "next": "//evil.example/"},
            allow_redirects=False,
        )
        after = await client.get(GUARDED)
        wrong_text = await wrong.text()

    assert api.status == 401 and api.headers["WWW-Authenticate"] == "Bearer"
    assert browser.status == 303 and browser.headers["Location"] == "/login?next=/?phase=running"
    assert bearer.status == 404 and wrong_bearer.status == 401
    assert login_page.status == 200 and style.status == 200
    assert wrong.status == 403 and "not the dashboard" in wrong_text
    assert signed_in.status == 303 and signed_in.headers["Location"] == "/"
    assert after.status == 404


async def test_only_loopback_names_are_answered_without_a_token(ui_stack: LocalStack) -> None:
    async with dashboard(ui_stack) as client:
        rebound = await client.get(GUARDED, headers={"Host": "attacker.example:8789"})
        local = await client.get(GUARDED, headers={"Host": "localhost:8789"})
    async with dashboard(ui_stack, ui_token=SecretStr(TOKEN)) as client:
        proxied = await client.get(
            GUARDED, headers={"Host": "simops.example.com", "Authorization": f"Bearer {TOKEN}"}
        )

    assert rebound.status == 421 and local.status == 404 and proxied.status == 404


async def test_a_campaign_without_a_store_here_still_shows_its_progress(
    ui_stack: LocalStack, tmp_path: Path
) -> None:
    stack = ui_stack
    sids = await new_sids(stack, 3)
    fleet = stack.emulator.parent.fleets[0]
    handle = await start_file_campaign(
        stack, tmp_path, "elsewhere", CampaignAction.ACTIVATE, sids, fleet=fleet
    )
    await handle.result()
    async with dashboard(stack, campaign_dir=tmp_path / "another-machine") as client:
        page = await client.get("/campaigns/elsewhere")
        text = await page.text()
        report = await client.get("/campaigns/elsewhere/report.csv")

    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert page.status == 200 and "no store of this campaign" in text
    assert 'data-outcome="converged">3<' in text
    assert report.status == 404


async def test_a_campaign_waiting_for_its_window_shows_when_it_opens(
    ui_stack: LocalStack, tmp_path: Path
) -> None:
    stack = ui_stack
    sids = await new_sids(stack, 4)
    opens = datetime.now(UTC) + timedelta(hours=1)
    handle = await start_file_campaign(
        stack,
        tmp_path,
        "to-wait",
        CampaignAction.ACTIVATE,
        sids,
        fleet=stack.emulator.parent.fleets[0],
        schedule=CampaignSchedule(start_at=opens),
    )
    async with dashboard(stack) as client:
        for _ in range(50):
            live = await (await client.get("/campaigns/to-wait/live")).text()
            if 'id="phase">waiting<' in live:
                break
            await asyncio.sleep(0.2)
    await handle.signal(CampaignWorkflow.cancel, "done")
    result = await handle.result()

    assert 'id="phase">waiting<' in live
    assert 'id="next-window"' in live
    assert result.counts.get("cancelled") == 4
