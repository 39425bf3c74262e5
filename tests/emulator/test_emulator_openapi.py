"""Every emulator endpoint's answers validate against KORE's OpenAPI (../shared/reference).

The test walks each `/v1` route of the app once (a check at the end proves none was missed)
and validates each body against the schema of that path, method and status.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from simops.emulator.server import RunningEmulator
from tests.helpers.emulator_api import Answer, EmulatorApi

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE = REPO_ROOT.parent / "shared" / "reference"
SUPERSIM_SPEC = REFERENCE / "kore-supersim-v1.openapi.json"
TOKEN_SPEC = REFERENCE / "kore-token-api-v1.openapi.json"
PATH_PARAMETER = re.compile(r"\{[^}]+\}")


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        pytest.skip("../shared/reference not present (only on dev machines and CI)")
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _resolve(node: Any, document: dict[str, Any]) -> Any:
    """The schema with every local `$ref` inlined."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _resolve(target, document)
        return {key: _resolve(value, document) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, document) for item in node]
    return node


class SpecChecker:
    """Validates answers against one OpenAPI document and remembers which routes it saw."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.by_shape = {PATH_PARAMETER.sub("{}", path): path for path in document["paths"]}
        self.seen: set[tuple[str, str]] = set()

    def check(self, method: str, route: str, answer: Answer) -> None:
        """Validate `answer` for `METHOD route` (route with `{...}` parameters)."""
        self.seen.add((method, route))
        spec_path = self.by_shape[PATH_PARAMETER.sub("{}", route)]
        responses = self.document["paths"][spec_path][method.lower()]["responses"]
        assert str(answer.status) in responses, f"{method} {route}: {answer.status} {answer.body}"
        content = responses[str(answer.status)].get("content", {})
        if "application/json" not in content:
            assert answer.body is None
            return
        schema = _resolve(content["application/json"]["schema"], self.document)
        validator = OAS30Validator(schema, format_checker=oas30_format_checker)
        errors = [error.message for error in validator.iter_errors(answer.body)]
        assert errors == [], f"{method} {route}: {errors}"


@pytest.fixture
def spec() -> SpecChecker:
    """The Super SIM OpenAPI checker."""
    return SpecChecker(_load(SUPERSIM_SPEC))


async def test_every_endpoint_matches_the_openapi(
    spec: SpecChecker, parent_api: EmulatorApi, emulator: RunningEmulator
) -> None:
    api = parent_api

    async def call(method: str, route: str, path: str, **form: str) -> Answer:
        if method == "GET":
            answer = await api.get(path, **form)
        else:
            answer = await api.request(method, path, form=form or None)
        spec.check(method, route, answer)
        return answer

    pair = (await api.control("GET", "/inventory")).body["inventory"][0]
    registered = await call(
        "POST", "/v1/Sims", "/Sims", Iccid=pair["iccid"], RegistrationCode=pair["registration_code"]
    )
    sid = registered.body["sid"]
    await call("GET", "/v1/Sims", "/Sims", Status="new", PageSize="5")
    await call("GET", "/v1/Sims/{sid}", f"/Sims/{sid}")
    await call("POST", "/v1/Sims/{sid}", f"/Sims/{sid}", UniqueName="schema-sim")
    scheduled = await call(
        "POST", "/v1/Sims/{sid}", f"/Sims/{sid}", Status="ready", Fleet="default"
    )
    assert scheduled.status == 202
    await api.wait_for_status(sid, "ready")
    await call("GET", "/v1/Sims/{sid}/BillingPeriods", f"/Sims/{sid}/BillingPeriods")
    await call("GET", "/v1/Sims/{sid}/IpAddresses", f"/Sims/{sid}/IpAddresses")

    networks = await call("GET", "/v1/Networks", "/Networks", IsoCountry="FR")
    network_sid = networks.body["networks"][0]["sid"]
    await call("GET", "/v1/Networks/{sid}", f"/Networks/{network_sid}")
    profile = await call(
        "POST", "/v1/NetworkAccessProfiles", "/NetworkAccessProfiles", UniqueName="schema-nap"
    )
    profile_sid = profile.body["sid"]
    await call("GET", "/v1/NetworkAccessProfiles", "/NetworkAccessProfiles")
    await call("GET", "/v1/NetworkAccessProfiles/{sid}", f"/NetworkAccessProfiles/{profile_sid}")
    await call(
        "POST", "/v1/NetworkAccessProfiles/{sid}", f"/NetworkAccessProfiles/{profile_sid}",
        UniqueName="schema-nap-2",
    )  # fmt: skip
    networks_path = f"/NetworkAccessProfiles/{profile_sid}/Networks"
    await call(
        "POST", "/v1/NetworkAccessProfiles/{sid}/Networks", networks_path, Network=network_sid
    )
    await call("GET", "/v1/NetworkAccessProfiles/{sid}/Networks", networks_path)
    member = "/v1/NetworkAccessProfiles/{sid}/Networks/{network_sid}"
    await call("GET", member, f"{networks_path}/{network_sid}")
    await call("DELETE", member, f"{networks_path}/{network_sid}")

    fleet = await call(
        "POST", "/v1/Fleets", "/Fleets", NetworkAccessProfile=profile_sid, UniqueName="schema"
    )
    fleet_sid = fleet.body["sid"]
    await call("GET", "/v1/Fleets", "/Fleets", NetworkAccessProfile=profile_sid)
    await call("GET", "/v1/Fleets/{sid}", f"/Fleets/{fleet_sid}")
    await call("POST", "/v1/Fleets/{sid}", f"/Fleets/{fleet_sid}", DataLimit="500")

    command = await call("POST", "/v1/SmsCommands", "/SmsCommands", Sim=sid, Payload="hello")
    await call("GET", "/v1/SmsCommands", "/SmsCommands", Sim=sid)
    await call("GET", "/v1/SmsCommands/{sid}", f"/SmsCommands/{command.body['sid']}")
    await api.control("POST", "/usage", {"sim": sid, "bytes": 4096})
    await call("GET", "/v1/UsageRecords", "/UsageRecords", Sim=sid)
    await call("GET", "/v1/UsageRecords", "/UsageRecords", Granularity="day", Group="fleet")
    await call("GET", "/v1/SettingsUpdates", "/SettingsUpdates", Sim=sid)

    served = {
        (route.method, route.resource.canonical)
        for route in emulator.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/v1")
        and route.method != "HEAD"
    }  # fmt: skip
    missed = sorted(served - spec.seen)
    assert missed == [], f"routes not checked against the OpenAPI: {missed}"


async def test_token_endpoint_matches_its_openapi(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    checker = SpecChecker(_load(TOKEN_SPEC))
    parent = emulator.parent
    good = {
        "grant_type": "client_credentials",
        "client_id": parent.client_id,
        "client_secret": parent.client_secret,
    }
    for form in (good, {**good, "client_secret": "wrong"}, {**good, "grant_type": "password"}):
        async with http.post(emulator.token_url, data=form) as response:
            answer = Answer(response.status, await response.json(), response.headers)
        checker.check("POST", "/v1/auth/token", answer)
    assert checker.seen == {("POST", "/v1/auth/token")}
