"""`POST /_emulator/sims`: Sims arriving while the emulator runs, new and listed by the API
like the seeded ones, on the parent or a child account; bad bodies are refused."""

from __future__ import annotations

from simops.core.iccids import luhn_check_digit
from tests.helpers.emulator_api import EmulatorApi


async def _listed_sids(api: EmulatorApi) -> set[str]:
    answer = await api.get("/Sims", Status="new", PageSize="1000")
    assert answer.status == 200
    return {sim["sid"] for sim in answer.body["sims"]}


async def test_added_sims_are_new_and_listed_by_the_api(parent_api: EmulatorApi) -> None:
    before = await _listed_sids(parent_api)

    answer = await parent_api.control("POST", "/sims", {"count": 3})

    assert answer.status == 201
    added = answer.body["sims"]
    assert len(added) == 3
    assert {sim["status"] for sim in added} == {"new"}
    assert {sim["account_sid"] for sim in added} == {parent_api.account.account_sid}
    sids = {sim["sid"] for sim in added}
    assert not sids & before
    assert await _listed_sids(parent_api) == before | sids
    iccids = [sim["iccid"] for sim in added]
    assert len(set(iccids)) == 3
    assert all(iccid[-1] == luhn_check_digit(iccid[:-1]) for iccid in iccids)
    fetched = await parent_api.get(f"/Sims/{added[0]['sid']}")
    assert fetched.status == 200 and fetched.body["iccid"] == iccids[0]


async def test_sims_can_arrive_on_a_child_account(
    parent_api: EmulatorApi, child_api: EmulatorApi
) -> None:
    child = child_api.account.account_sid

    answer = await parent_api.control("POST", "/sims", {"count": 2, "account": child})

    assert answer.status == 201
    assert {sim["account_sid"] for sim in answer.body["sims"]} == {child}
    assert {sim["sid"] for sim in answer.body["sims"]} <= await _listed_sids(child_api)


async def test_a_bad_count_or_account_is_refused(parent_api: EmulatorApi) -> None:
    before = await _listed_sids(parent_api)

    for body in ({}, {"count": 0}, {"count": "3"}, {"count": 1, "account": "AC" + "0" * 32}):
        answer = await parent_api.control("POST", "/sims", body)
        assert answer.status == 400, body

    assert await _listed_sids(parent_api) == before
