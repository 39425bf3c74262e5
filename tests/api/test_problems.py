"""Every error of the JSON API is an RFC 9457 problem: unknown paths and methods, bodies that
are not JSON or not what an operation takes, never a traceback nor an HTML page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from temporalio.testing import WorkflowEnvironment

from simops.api.app import build_api_app
from simops.runtime.settings import SimopsSettings

PROBLEM = "application/problem+json"


@pytest.fixture
async def api(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    settings = SimopsSettings(_env_file=None, campaign_dir=tmp_path / "campaigns")
    async with TestClient(TestServer(build_api_app(settings, dev_env.client))) as client:
        yield client


async def problem_of(response: Any) -> dict[str, Any]:
    assert response.content_type == PROBLEM, await response.text()
    problem: dict[str, Any] = await response.json(content_type=PROBLEM)
    assert set(problem) >= {"type", "title", "status", "detail"}
    assert problem["status"] == response.status
    assert "Traceback" not in problem["detail"]
    return problem


async def test_unknown_paths_and_methods(api: TestClient[Any, Any]) -> None:
    unknown = await api.get("/api/v1/nothing-here")
    bad_id = await api.get("/api/v1/campaigns/..%2Fetc")
    missing = await api.get("/api/v1/campaigns/never-started")
    method = await api.delete("/api/v1/campaigns")

    assert unknown.status == 404 and (await problem_of(unknown))["type"].endswith("/not-found")
    assert bad_id.status == 404
    await problem_of(bad_id)
    assert missing.status == 404
    assert (await problem_of(missing))["detail"] == "no campaign never-started"
    assert method.status == 405 and "POST" in method.headers["Allow"]
    await problem_of(method)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "slug"),
    [
        (b"{not json", "application/json", 400, "malformed-json"),
        (b"\xff\xfe", "application/json", 400, "malformed-json"),
        (b"spec=1", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
        (b"[]", "application/json", 422, "invalid-request"),
        (b'{"spec": {"campaign_id": "a b", "action": "x"}}', "application/json", 422, "invalid"),
        (b"--x\r\n\r\n", "multipart/form-data; boundary=y", 400, "malformed-multipart"),
    ],
)
async def test_bodies_that_are_not_a_start(
    api: TestClient[Any, Any], body: bytes, content_type: str, status: int, slug: str
) -> None:
    response = await api.post(
        "/api/v1/campaigns", data=body, headers={"Content-Type": content_type}
    )
    problem = await problem_of(response)
    assert response.status == status and slug in problem["type"]


async def test_a_422_names_each_field_without_echoing_values(api: TestClient[Any, Any]) -> None:
    iccid = "8988307000000000018"
    body = {"spec": {"campaign_id": iccid + " x", "action": "activate", "rate": -1}}
    response = await api.post("/api/v1/campaigns", json=body)
    problem = await problem_of(response)

    assert response.status == 422
    locations = {".".join(error["loc"]) for error in problem["errors"]}
    assert {"body.spec.campaign_id", "body.spec.rate", "body.spec.source"} <= locations
    assert iccid not in await response.text()


async def test_a_spec_whose_file_was_not_sent(api: TestClient[Any, Any]) -> None:
    body = {"spec": {"campaign_id": "f", "action": "activate", "source": {"file_name": "a.csv"}}}
    response = await api.post("/api/v1/campaigns", json=body)
    problem = await problem_of(response)
    assert response.status == 422 and "multipart part `file`" in problem["detail"]


async def test_report_formats_that_cannot_be_served(api: TestClient[Any, Any]) -> None:
    bad_format = await api.get("/api/v1/campaigns/x/report?format=xml")
    not_acceptable = await api.get("/api/v1/campaigns/x/report", headers={"Accept": "image/png"})
    assert bad_format.status == 422
    await problem_of(bad_format)
    assert not_acceptable.status == 406
    await problem_of(not_acceptable)
