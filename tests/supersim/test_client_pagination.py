"""Lists: empty, one page, exactly 1000, 1000-item pages, `next_page_url` followed verbatim,
the next page asked for while this one is parsed."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from contextlib import aclosing

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from simops.core.sim import SimStatus, SimUpdate
from simops.emulator.process import spawn_emulator_process
from simops.runtime.settings import SimopsSettings
from simops.supersim import errors
from simops.supersim.client import SuperSimClient
from simops.supersim.pacing import RateBudget
from simops.supersim.transport import ApiTransport
from tests.helpers.emulators import EmulatorFactory
from tests.helpers.supersim import EmulatorControl, make_client

pytestmark = pytest.mark.timeout(60)

LIST_ROUTE = "GET /v1/Sims"


async def test_an_empty_list(client: SuperSimClient, control: EmulatorControl) -> None:
    assert [sim async for sim in client.list_sims(status=SimStatus.ACTIVE)] == []
    page = await client.list_sims_page(status=SimStatus.ACTIVE)
    assert (page.sims, page.next_page_url) == ([], None)
    assert await control.answers(LIST_ROUTE) == {200: 2}


async def test_exactly_one_page(client: SuperSimClient, control: EmulatorControl) -> None:
    page = await client.list_sims_page(page_size=20)
    assert len(page.sims) == 20
    assert page.next_page_url is None
    listed = [sim.sid async for sim in client.list_sims()]
    assert listed == [sim.sid for sim in page.sims]
    assert await control.answers(LIST_ROUTE) == {200: 2}


async def test_exactly_a_thousand_is_one_full_page(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(seed_sims=1000)
    async with make_client(emulator) as client:
        page = await client.list_sims_page()
    assert len(page.sims) == 1000
    assert page.next_page_url is None


async def test_thousand_item_pages_follow_next_page_url(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory(seed_sims=2500)
    control = EmulatorControl(emulator)
    async with make_client(emulator) as client:
        listed = [sim.sid async for sim in client.list_sims()]
        assert len(listed) == len(set(listed)) == 2500
        assert await control.answers(LIST_ROUTE) == {200: 3}
        pages = [await client.list_sims_page()]
        while pages[-1].next_page_url is not None:
            pages.append(await client.list_sims_page(page_url=pages[-1].next_page_url))
    assert [len(page.sims) for page in pages] == [1000, 1000, 500]
    assert [sim.sid for page in pages for sim in page.sims] == listed


async def test_filters_and_limit(client: SuperSimClient, control: EmulatorControl) -> None:
    sids = [sim.sid async for sim in client.list_sims(limit=3)]
    assert len(sids) == 3
    assert await control.answers(LIST_ROUTE) == {200: 1}
    fleet = (await client.list_fleets())[1]
    for sid in sids:
        result = await client.update_sim(sid, SimUpdate(fleet=fleet.sid))
        assert not result.accepted_async
    in_fleet = [sim.sid async for sim in client.list_sims(fleet=fleet.unique_name, page_size=2)]
    assert sorted(in_fleet) == sorted(sids)
    sim = await client.fetch_sim(sids[0])
    assert sim.iccid is not None
    found = await client.find_sim_by_iccid(sim.iccid)
    assert found is not None and found.sid == sim.sid
    assert await client.find_sim_by_iccid("89883070999999999999") is None


async def test_a_limit_asks_for_no_page_beyond_the_one_that_reaches_it(
    client: SuperSimClient, control: EmulatorControl
) -> None:
    sids = [sim.sid async for sim in client.list_sims(limit=7, page_size=5)]
    assert len(sids) == 7
    # The second page holds the 7th Sim: the third (of four) is never asked for ahead.
    assert await control.answers(LIST_ROUTE) == {200: 2}


async def test_a_page_url_is_kept_verbatim(client: SuperSimClient) -> None:
    transport = ApiTransport(client.settings, auth=client.auth, budget=client.budget)
    odd = f"{transport.base_url}/Sims?Fleet=a%2Fb+c&PageSize=2&Page=1&PageToken=PT%3D%3D"
    assert str(transport.follow(odd)) == odd
    relative = transport.follow("/v1/Sims?PageToken=PTx%2B")
    assert str(relative) == f"{transport.base_url.origin()}/v1/Sims?PageToken=PTx%2B"


async def test_a_page_url_on_another_host_is_refused(client: SuperSimClient) -> None:
    with pytest.raises(errors.TransportError, match="refusing to follow"):
        await client.list_sims_page(page_url="https://elsewhere.example/v1/Sims?PageToken=PTx")


async def test_page_size_is_checked_before_any_request(
    client: SuperSimClient, control: EmulatorControl
) -> None:
    with pytest.raises(ValueError, match="page_size"):
        await client.list_sims_page(page_size=1001)
    with pytest.raises(ValueError, match="page_size"):
        await anext(client.list_sims(page_size=0))
    assert await control.answers(LIST_ROUTE) == {}


async def test_the_next_page_is_asked_for_before_this_one_is_taken(
    client: SuperSimClient, control: EmulatorControl
) -> None:
    async with aclosing(client.list_sim_pages(page_size=5)) as pages:
        first = await anext(pages)
        assert first.next_page_url is not None
        deadline = time.monotonic() + 10
        while (answered := await control.answers(LIST_ROUTE)) == {200: 1}:
            assert time.monotonic() < deadline, f"only the first page was asked for: {answered}"
            await asyncio.sleep(0.02)
        assert answered == {200: 2}
        rest = [page async for page in pages]
    listed = [sim.sid for page in (first, *rest) for sim in page.sims]
    assert listed == [sim.sid async for sim in client.list_sims()]
    # Each page of the listing asked for once, then the one page of `list_sims`.
    assert await control.answers(LIST_ROUTE) == {200: 1 + len(rest) + 1}


async def test_a_page_whose_end_names_another_url_follows_the_one_parsed() -> None:
    """`next_page_url` also appears after `meta` (a key the API might add): the page asked
    for ahead from it is dropped, and the listing follows `meta.next_page_url`."""
    asked: list[str] = []

    async def pages(request: web.Request) -> web.Response:
        page = request.query.get("Page", "0")
        asked.append(page)
        origin = f"http://{request.host}/v1/Sims"
        sim = {"sid": "HS" + page * 32, "account_sid": "AC" + "1" * 32, "status": "new"}
        body: dict[str, object] = {"sims": [sim], "meta": {"next_page_url": None}}
        if page == "0":
            body["meta"] = {"next_page_url": f"{origin}?Page=2"}
            body["later"] = {"next_page_url": f"{origin}?Page=9"}
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/Sims", pages)
    server = TestServer(app)
    await server.start_server()
    settings = SimopsSettings(
        _env_file=None,
        api_url=str(server.make_url("/v1")),
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token=SecretStr("token"),
    )
    try:
        async with SuperSimClient(settings, budget=RateBudget.from_settings(settings)) as api:
            listed = [page.sims async for page in api.list_sim_pages()]
    finally:
        await server.close()
    assert [[sim.sid for sim in sims] for sims in listed] == [["HS" + "0" * 32], ["HS" + "2" * 32]]
    assert "2" in asked and asked.index("2") == len(asked) - 1, asked


def _answered_blocking(control_url: str, route: str) -> dict[str, int]:
    """The emulator's answers to `route` by status, asked without running this loop."""
    with urllib.request.urlopen(f"{control_url}/stats", timeout=5) as response:
        answers: dict[str, int] = json.load(response)["requests"].get(route, {})
    return answers


async def test_the_next_page_leaves_before_this_one_is_parsed() -> None:
    """The API prepares the next page while this process parses the one it has.

    The emulator runs in a process of its own; once the first page is handed over, this test
    blocks its event loop outright. The emulator can then answer the second page only if its
    request was written before the first page was parsed (a task that merely was created sends
    nothing until the loop runs again)."""
    emulator = await spawn_emulator_process(["--seed-sims", "12"])
    control_url = f"{emulator.root_url}/_emulator"
    try:
        async with (
            make_client(emulator) as api,
            aclosing(api.list_sim_pages(page_size=5)) as pages,
        ):
            first = await anext(pages)
            deadline = time.monotonic() + 10
            while (answered := _answered_blocking(control_url, LIST_ROUTE)) == {"200": 1}:
                assert time.monotonic() < deadline, (
                    f"the second page was not asked for while the loop was held: {answered}"
                )
                time.sleep(0.02)  # noqa: ASYNC251 - holding the loop is the point
            assert answered == {"200": 2}
            rest = [page async for page in pages]
    finally:
        await emulator.stop()
    assert first.next_page_url is not None
    assert sum(len(page.sims) for page in (first, *rest)) == 12
