"""Every error class, each from a real answer: emulator rules, injected faults, dead servers."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest
from aiohttp import web

from simops.core.sim import NO_FLEET, SimStatus, SimUpdate
from simops.runtime.settings import SimopsSettings
from simops.supersim import errors
from simops.supersim.client import SuperSimClient
from simops.supersim.errors import SuperSimError
from tests.helpers.emulators import EmulatorFactory
from tests.helpers.http_servers import serving_every_path
from tests.helpers.supersim import EmulatorControl, client_settings, make_client

pytestmark = pytest.mark.timeout(60)


async def raised(
    error_class: type[SuperSimError], call: Coroutine[Any, Any, object]
) -> SuperSimError:
    """The error `call` raises, checked to be exactly `error_class`."""
    with pytest.raises(SuperSimError) as caught:
        await call
    assert type(caught.value) is error_class, caught.value
    return caught.value


async def new_sim_sids(client: SuperSimClient, count: int) -> list[str]:
    return [sim.sid async for sim in client.list_sims(status=SimStatus.NEW, limit=count)]


async def settled(client: SuperSimClient, sid: str) -> SimStatus:
    """Poll a SIM until it leaves `scheduled`."""
    for _ in range(200):
        sim = await client.fetch_sim(sid)
        if sim.status != SimStatus.SCHEDULED:
            return sim.status
        await asyncio.sleep(0.02)
    raise AssertionError(f"{sid} stayed scheduled")


async def test_unknown_sim_is_not_found(client: SuperSimClient) -> None:
    error = await raised(errors.NotFoundError, client.fetch_sim("HS" + "0" * 32))
    assert (error.http_status, error.code, error.retryable) == (404, 20404, False)


async def test_registration_errors(client: SuperSimClient, control: EmulatorControl) -> None:
    pair = (await control.inventory())[0]
    missing = await raised(errors.MissingParameterError, client.register_sim(pair["iccid"], ""))
    assert missing.code == 83001
    wrong = await raised(
        errors.NotRegistrableError, client.register_sim(pair["iccid"], "WRONGCODE1")
    )
    assert wrong.code == 83002
    assert pair["iccid"] not in str(wrong)
    sim = await client.register_sim(pair["iccid"], pair["registration_code"])
    assert sim.status == SimStatus.NEW
    again = await raised(
        errors.AlreadyRegisteredError,
        client.register_sim(pair["iccid"], pair["registration_code"]),
    )
    assert again.code == 83003


async def test_update_rule_errors(client: SuperSimClient) -> None:
    first, second = await new_sim_sids(client, 2)
    cases: list[tuple[type[SuperSimError], int, SimUpdate]] = [
        (errors.FleetRequiredError, 83007, SimUpdate(status=SimStatus.ACTIVE)),
        (
            errors.FleetNotFoundError,
            83006,
            SimUpdate(status=SimStatus.ACTIVE, fleet="no-such-fleet"),
        ),
        (errors.TransitionNotAllowedError, 83010, SimUpdate(status=SimStatus.INACTIVE)),
    ]
    for error_class, code, update in cases:
        error = await raised(error_class, client.update_sim(first, update))
        assert (error.code, error.http_status, error.retryable) == (code, 400, False)
    await client.update_sim(first, SimUpdate(unique_name="taken"))
    duplicate = await raised(
        errors.DuplicateUniqueNameError, client.update_sim(second, SimUpdate(unique_name="taken"))
    )
    assert duplicate.code == 83011


async def test_removing_the_fleet_of_an_active_sim(client: SuperSimClient) -> None:
    (sid,) = await new_sim_sids(client, 1)
    fleet = (await client.list_fleets())[0]
    await client.update_sim(sid, SimUpdate(status=SimStatus.ACTIVE, fleet=fleet.sid))
    assert await settled(client, sid) == SimStatus.ACTIVE
    error = await raised(
        errors.FleetRemovalNotAllowedError, client.update_sim(sid, SimUpdate(fleet=NO_FLEET))
    )
    assert error.code == 83008


async def test_changes_while_scheduled_conflict(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(scheduled_delay=(60.0, 60.0))
    async with make_client(emulator) as client:
        (sid,) = await new_sim_sids(client, 1)
        default, other = (fleet.sid for fleet in await client.list_fleets())
        result = await client.update_sim(sid, SimUpdate(status=SimStatus.ACTIVE, fleet=default))
        assert result.accepted_async
        status_change = await raised(
            errors.ScheduledConflictError,
            client.update_sim(sid, SimUpdate(status=SimStatus.READY)),
        )
        assert (status_change.code, status_change.http_status) == (83009, 409)
        fleet_change = await raised(
            errors.ScheduledConflictError, client.update_sim(sid, SimUpdate(fleet=other))
        )
        assert fleet_change.code == 83009


async def test_a_forged_page_token_is_refused(client: SuperSimClient) -> None:
    page = await client.list_sims_page(page_size=5)
    assert page.next_page_url is not None
    forged = page.next_page_url.split("PageToken=")[0] + "PageToken=PTnotatoken"
    error = await raised(errors.BadPageTokenError, client.list_sims_page(page_url=forged))
    assert (error.code, error.http_status) == (21481, 400)


async def test_any_other_refusal_is_a_bad_request(client: SuperSimClient) -> None:
    error = await raised(
        errors.BadRequestError, client.create_fleet(network_access_profile="no-such-profile")
    )
    assert error.http_status == 400
    assert not error.retryable


async def test_wrong_credentials_fail_authentication(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    control = EmulatorControl(emulator)
    parent = emulator.parent
    async with make_client(emulator, auth="twilio", twilio_auth_token="wrong") as client:
        basic = await raised(errors.AuthenticationError, client.list_fleets())
    assert (basic.http_status, basic.code, basic.retryable) == (401, 20003, False)
    assert await control.answers("GET /v1/Fleets") == {401: 1}
    async with make_client(emulator, kore_client_secret="not-the-secret") as client:
        oauth = await raised(errors.AuthenticationError, client.list_fleets())
    assert oauth.http_status == 401
    assert parent.client_id in str(oauth)
    assert "not-the-secret" not in str(oauth)


async def test_rate_limited_with_retry_after(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    await EmulatorControl(emulator).faults(rate_limit_rate=1.0)
    async with make_client(emulator, api_max_rate_limit_retries=0) as client:
        error = await raised(errors.RateLimitedError, client.list_fleets())
    assert (error.http_status, error.code, error.retry_after) == (429, 20429, 1.0)
    assert error.retryable


async def test_server_errors_after_the_retries(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    control = EmulatorControl(emulator)
    await control.faults(error_rate=1.0)
    async with make_client(emulator, api_max_retries=2) as client:
        error = await raised(errors.ServerError, client.list_fleets())
    assert (error.http_status, error.code, error.retryable) == (500, 20500, True)
    assert await control.answers("GET /v1/Fleets") == {500: 3}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_nobody_listening_is_a_transport_error(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    settings = client_settings(
        emulator, api_url=f"http://127.0.0.1:{free_port()}/v1", api_max_retries=1
    )
    async with SuperSimClient(settings, auth=make_client(emulator).auth) as client:
        error = await raised(errors.TransportError, client.list_fleets())
    assert error.retryable
    assert error.http_status is None


async def test_no_answer_in_time_is_a_transport_error(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    await EmulatorControl(emulator).faults(latency_ms=500)
    async with make_client(emulator, api_timeout_seconds=0.1, api_max_retries=0) as client:
        error = await raised(errors.TransportError, client.list_fleets())
    assert "timeout" in error.message


@pytest.fixture
async def not_the_api() -> AsyncIterator[str]:
    """A server that answers every request 200 with an HTML page (a captive portal, say)."""

    async def portal(request: web.Request) -> web.Response:
        return web.Response(text="<html>Welcome</html>", content_type="text/html")

    async with serving_every_path(portal) as root:
        yield str(root / "v1")


async def test_an_unparseable_answer_is_a_transport_error(
    not_the_api: str, emulator_factory: EmulatorFactory
) -> None:
    emulator = await emulator_factory()
    settings = client_settings(emulator, api_url=not_the_api, api_max_retries=0)
    async with SuperSimClient(settings, auth=make_client(emulator).auth) as client:
        error = await raised(errors.TransportError, client.fetch_sim("HS" + "1" * 32))
    assert "not JSON" in error.message


def bare_settings(**values: Any) -> SimopsSettings:
    return SimopsSettings(_env_file=None, api_url="http://127.0.0.1:9/v1", **values)


@pytest.fixture
def no_simops_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SIMOPS_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("no_simops_environment")
@pytest.mark.parametrize(
    ("values", "named"),
    [
        (
            {},
            [
                "SIMOPS_KORE_CLIENT_ID",
                "SIMOPS_KORE_CLIENT_SECRET",
                "SIMOPS_BEARER_TOKEN",
                "SIMOPS_TWILIO_ACCOUNT_SID",
                "SIMOPS_TWILIO_AUTH_TOKEN",
            ],
        ),
        ({"kore_client_id": "id-only"}, ["SIMOPS_KORE_CLIENT_SECRET"]),
        ({"twilio_auth_token": "token-only"}, ["SIMOPS_TWILIO_ACCOUNT_SID"]),
    ],
    ids=["nothing", "kore-id-only", "twilio-token-only"],
)
def test_missing_credentials_are_a_configuration_error(
    values: dict[str, Any], named: list[str]
) -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        SuperSimClient(bare_settings(**values))
    for variable in named:
        assert variable in str(caught.value)
    assert "token-only" not in str(caught.value)
