"""Bad input gets a 4xx with a Twilio-style body naming the problem, and changes nothing."""

from __future__ import annotations

from tests.helpers.emulator_api import Answer, EmulatorApi


def _is_error(answer: Answer, status: int, code: int | None = None) -> bool:
    body = answer.body
    return (
        answer.status == status
        and set(body) == {"code", "message", "more_info", "status"}
        and body["status"] == status
        and (code is None or body["code"] == code)
    )


async def _raw_post(api: EmulatorApi, path: str, body: bytes, content_type: str) -> Answer:
    return await api.request("POST", path, form=body, headers={"Content-Type": content_type})


async def test_wrong_content_type_is_415(parent_api: EmulatorApi) -> None:
    sim = await parent_api.first_sim()

    answer = await _raw_post(
        parent_api, f"/Sims/{sim['sid']}", b'{"Status": "active"}', "application/json"
    )

    assert _is_error(answer, 415)
    assert "Content-Type" in answer.body["message"]


async def test_malformed_form_body_is_400(parent_api: EmulatorApi) -> None:
    sim = await parent_api.first_sim()
    form = "application/x-www-form-urlencoded"

    not_utf8 = await _raw_post(parent_api, f"/Sims/{sim['sid']}", b"UniqueName=\xff\xfe", form)
    after = await parent_api.get(f"/Sims/{sim['sid']}")

    assert _is_error(not_utf8, 400, 20001)
    assert after.body == sim | {"date_updated": after.body["date_updated"]}


async def test_oversized_body_is_413(parent_api: EmulatorApi) -> None:
    sim = await parent_api.first_sim()
    huge = b"UniqueName=" + b"x" * 200_000

    answer = await _raw_post(
        parent_api, f"/Sims/{sim['sid']}", huge, "application/x-www-form-urlencoded"
    )

    assert _is_error(answer, 413)


async def test_unknown_parameters_are_ignored(parent_api: EmulatorApi) -> None:
    sim = await parent_api.first_sim()

    answer = await parent_api.post(f"/Sims/{sim['sid']}", UniqueName="ok", Colour="blue")

    assert answer.status == 200
    assert answer.body["unique_name"] == "ok"


async def test_wrong_enum_values_name_the_parameter(parent_api: EmulatorApi) -> None:
    sim = await parent_api.first_sim()

    method = await parent_api.post(
        f"/Sims/{sim['sid']}", CallbackUrl="http://x.test/cb", CallbackMethod="PUT"
    )
    url = await parent_api.post(f"/Sims/{sim['sid']}", CallbackUrl="not a url")
    account = await parent_api.post(f"/Sims/{sim['sid']}", AccountSid="ACnothex")

    for answer, name in ((method, "CallbackMethod"), (url, "CallbackUrl"), (account, "AccountSid")):
        assert _is_error(answer, 400, 20001)
        assert name in answer.body["message"]


async def test_invalid_sids_and_routes_are_404_and_wrong_methods_405(
    parent_api: EmulatorApi,
) -> None:
    bad_sid = await parent_api.get("/Sims/HSnot-a-sid")
    bad_route = await parent_api.get("/Simz")
    wrong_method = await parent_api.request("DELETE", "/Sims")

    assert _is_error(bad_sid, 404, 20404)
    assert _is_error(bad_route, 404, 20404)
    assert _is_error(wrong_method, 405)


async def test_control_api_refuses_non_json(parent_api: EmulatorApi) -> None:
    url = f"{parent_api.emulator.root_url}/_emulator/faults"
    async with parent_api.session.post(url, data=b"{nope") as response:
        body = await response.json()

    assert response.status == 400
    assert body["code"] == 20001
