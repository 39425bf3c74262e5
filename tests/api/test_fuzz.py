"""An OpenAPI-driven fuzz run: schemathesis reads `/api/v1/openapi.json` from a running API on a
real stack and sends what the document allows (and what it does not): no answer may be a 5xx,
nor a status, media type or body the document does not list."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from xml.etree import ElementTree

from simops.devstack.in_process import LocalStack
from simops.runtime.ports import free_port
from tests.api.conftest import API_TOKENS, WRITE_TOKEN, api_client

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
RUN_SECONDS = 40


async def test_a_fuzz_run_finds_no_5xx_and_nothing_outside_the_document(
    api_stack: LocalStack, tmp_path: Path
) -> None:
    port = free_port()
    async with api_client(api_stack, tokens=API_TOKENS, port=port):
        # A process of its own, so that this event loop keeps serving the API and the stack.
        run = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "st"),
            "run",
            f"http://127.0.0.1:{port}/api/v1/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--header",
            f"Authorization: Bearer {WRITE_TOKEN}",
            "--max-examples",
            "15",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-time",
            str(RUN_SECONDS),
            "--workers",
            "2",
            "--seed",
            "27",
            "--generation-database",
            "none",
            "--no-color",
            "--request-timeout",
            "10",
            "--report",
            "junit",
            "--report-junit-path",
            str(tmp_path / "junit.xml"),
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(run.communicate(), RUN_SECONDS + 30)

    report = output.decode(errors="replace")
    (tmp_path / "schemathesis.txt").write_text(report)
    cases = ElementTree.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    failed = [case.get("name") for case in cases if case.find("failure") is not None]
    # Each failure is a check the API broke; an <error> is schemathesis' own (a Hypothesis
    # flake under load), which says nothing of the API.
    assert not failed, report[-6000:]
    assert run.returncode == 0 or "Runtime Error" in report, report[-6000:]
    generated = re.search(r"(\d+) generated", report)
    assert generated is not None and int(generated[1]) >= 300, report[-3000:]
