"""Credentials: one OAuth2 token for many coroutines, renewal before expiry and after a 401,
Twilio Basic and static bearer tokens."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from simops.emulator.server import RunningEmulator
from simops.runtime.settings import SimopsSettings
from simops.supersim.auth import (
    BearerTokenAuth,
    KoreOAuth2Auth,
    TwilioBasicAuth,
    auth_from_settings,
)
from simops.supersim.client import SuperSimClient
from tests.helpers.emulators import EmulatorFactory
from tests.helpers.supersim import (
    TOKEN_ROUTE,
    EmulatorControl,
    bearer_token,
    client_settings,
    make_client,
)

pytestmark = pytest.mark.timeout(60)


class ManualClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def oauth_for(emulator: RunningEmulator, clock: ManualClock) -> KoreOAuth2Auth:
    parent = emulator.parent
    return KoreOAuth2Auth(emulator.token_url, parent.client_id, parent.client_secret, clock=clock)


async def sim_sids(client: SuperSimClient) -> list[str]:
    return [sim.sid async for sim in client.list_sims()]


async def test_many_coroutines_share_one_token_request(
    emulator: RunningEmulator, control: EmulatorControl
) -> None:
    async with make_client(emulator) as client:
        sids = await sim_sids(client)
        fetched = await asyncio.gather(*(client.fetch_sim(sid) for sid in sids * 3))
        auth = client.auth
    assert len(fetched) == 60
    assert isinstance(auth, KoreOAuth2Auth)
    assert auth.token_requests == 1
    assert await control.answers(TOKEN_ROUTE) == {200: 1}


async def test_a_token_is_renewed_before_it_expires(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(token_ttl=60.0)
    control = EmulatorControl(emulator)
    clock = ManualClock()
    settings = client_settings(emulator)
    async with SuperSimClient(settings, auth=oauth_for(emulator, clock)) as client:
        sids = await sim_sids(client)
        clock.now = 47.0
        await client.fetch_sim(sids[0])
        assert await control.answers(TOKEN_ROUTE) == {200: 1}
        # 80% of a 60 s lifetime (sooner than 30 s before expiry): renewed at 48 s.
        clock.now = 48.5
        await asyncio.gather(*(client.fetch_sim(sid) for sid in sids))
    assert await control.answers(TOKEN_ROUTE) == {200: 2}
    assert (await control.answers("GET /v1/Sims/{sid}"))[401] == 0


async def test_an_expired_token_is_renewed_once_and_the_calls_retried(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory(token_ttl=0.3)
    control = EmulatorControl(emulator)
    # The client's clock stands still, so only the API's 401 tells it the token expired.
    auth = oauth_for(emulator, ManualClock())
    async with SuperSimClient(client_settings(emulator), auth=auth) as client:
        sids = await sim_sids(client)
        await asyncio.sleep(0.4)
        fetched = await asyncio.gather(*(client.fetch_sim(sid) for sid in sids))
    assert [sim.sid for sim in fetched] == sids
    assert auth.token_requests == 2
    assert await control.answers(TOKEN_ROUTE) == {200: 2}
    answers = await control.answers("GET /v1/Sims/{sid}")
    assert answers[200] == len(sids)
    assert answers[401] >= 1


async def test_twilio_basic_auth(emulator: RunningEmulator, control: EmulatorControl) -> None:
    child = emulator.accounts[1]
    async with make_client(emulator, account=child, auth="twilio") as client:
        assert isinstance(client.auth, TwilioBasicAuth)
        fleets = await client.list_fleets()
    assert fleets
    assert {fleet.account_sid for fleet in fleets} == {child.account_sid}
    assert await control.answers(TOKEN_ROUTE) == {}


async def test_a_static_bearer_token(emulator: RunningEmulator) -> None:
    parent = emulator.parent
    token = await bearer_token(emulator.token_url, parent)
    settings = SimopsSettings(
        _env_file=None, api_url=emulator.api_url, bearer_token=SecretStr(token)
    )
    async with SuperSimClient(settings) as client:
        assert isinstance(client.auth, BearerTokenAuth)
        fleets = await client.list_fleets()
    assert {fleet.account_sid for fleet in fleets} == {parent.account_sid}


def test_settings_choose_oauth2_then_bearer_then_basic() -> None:
    everything = SimopsSettings(
        _env_file=None,
        kore_client_id="client",
        kore_client_secret=SecretStr("client-secret"),
        bearer_token=SecretStr("bearer-secret"),
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token=SecretStr("twilio-secret"),
    )
    assert isinstance(auth_from_settings(everything), KoreOAuth2Auth)
    no_kore = everything.model_copy(update={"kore_client_id": None, "kore_client_secret": None})
    assert isinstance(auth_from_settings(no_kore), BearerTokenAuth)
    basic_only = no_kore.model_copy(update={"bearer_token": None})
    assert isinstance(auth_from_settings(basic_only), TwilioBasicAuth)
    for settings in (everything, no_kore, basic_only):
        shown = repr(auth_from_settings(settings))
        assert "***" in shown
        for secret in ("client-secret", "bearer-secret", "twilio-secret"):
            assert secret not in shown
