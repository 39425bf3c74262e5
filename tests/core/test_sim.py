"""The shared models: wire names of an update, the checks of a desired state, tolerance."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from simops.core.sim import (
    NO_FLEET,
    CallbackMethod,
    DesiredState,
    SimState,
    SimStatus,
    SimUpdate,
    is_sid,
)
from simops.supersim.resources import Sim

ACCOUNT = "AC" + "a" * 32
FLEET = "HF" + "1" * 32


@pytest.mark.parametrize(
    ("update", "form"),
    [
        pytest.param(SimUpdate(), {}, id="nothing sent"),
        pytest.param(
            SimUpdate(
                status=SimStatus.ACTIVE,
                fleet=FLEET,
                account_sid=ACCOUNT,
                unique_name="tracker-1",
                callback_url="https://hooks.example.com/sims/1",
                callback_method=CallbackMethod.GET,
            ),
            {
                "Status": "active",
                "Fleet": FLEET,
                "AccountSid": ACCOUNT,
                "UniqueName": "tracker-1",
                "CallbackUrl": "https://hooks.example.com/sims/1",
                "CallbackMethod": "GET",
            },
            id="every parameter",
        ),
        pytest.param(SimUpdate(fleet=NO_FLEET), {"Fleet": ""}, id="fleet removal is Fleet="),
    ],
)
def test_update_form(update: SimUpdate, form: dict[str, str]) -> None:
    """An update is sent with the API's UpperCamelCase names, only the parameters it carries."""
    assert update.form() == form


@pytest.mark.parametrize(
    ("update", "writes"),
    [
        pytest.param(SimUpdate(callback_url="https://hooks.example.com/x"), False, id="callback"),
        pytest.param(SimUpdate(unique_name=""), True, id="clear name"),
        pytest.param(SimUpdate(fleet=NO_FLEET), True, id="remove fleet"),
        pytest.param(SimUpdate(status=SimStatus.INACTIVE), True, id="status"),
    ],
)
def test_update_writes_state(update: SimUpdate, writes: bool) -> None:
    """Callback parameters alone do not ask for a change of state."""
    assert update.writes_state() is writes


def test_desired_state_cannot_set_and_remove_the_fleet() -> None:
    """A desired state no update can express is refused when built (statuses: test_transitions)."""
    with pytest.raises(ValidationError):
        DesiredState(fleet_sid=FLEET, remove_fleet=True)


@pytest.mark.parametrize(
    ("desired", "empty"),
    [
        pytest.param(DesiredState(), True, id="nothing"),
        pytest.param(DesiredState(allow_inactive_move=True), True, id="only the beta flag"),
        pytest.param(DesiredState(remove_fleet=True), False, id="remove fleet"),
        pytest.param(DesiredState(unique_name=""), False, id="clear name"),
    ],
)
def test_desired_state_is_empty(desired: DesiredState, empty: bool) -> None:
    """Only a desired state that asks for no field at all is empty."""
    assert desired.is_empty() is empty


def test_sim_state_from_api_resource() -> None:
    """The planner's view of a Sim: an empty unique name is no name, unknown fields ignored."""
    resource = Sim.model_validate(
        {
            "sid": "HS" + "0" * 32,
            "unique_name": "",
            "account_sid": ACCOUNT,
            "iccid": "89883070000000000001",
            "status": "ready",
            "fleet_sid": FLEET,
            "field_from_a_newer_api": True,
        }
    )
    assert resource.state() == SimState(
        status=SimStatus.READY, fleet_sid=FLEET, account_sid=ACCOUNT, unique_name=None
    )


@pytest.mark.parametrize(
    ("value", "prefix", "expected"),
    [
        pytest.param(ACCOUNT, "AC", True, id="account"),
        pytest.param(FLEET, "AC", False, id="wrong prefix"),
        pytest.param("HS" + "0" * 31, "HS", False, id="too short"),
        pytest.param("HS" + "g" * 32, "HS", False, id="not hex"),
        pytest.param("tracker-1", "HS", False, id="unique name"),
    ],
)
def test_is_sid(value: str, prefix: str, expected: bool) -> None:
    """A SID is its two-letter prefix and 32 hex digits; anything else is a unique name."""
    assert is_sid(value, prefix) is expected
