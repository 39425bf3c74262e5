"""Readiness: what each part of a process (worker, ingress) needs before it can do its work.

A part registers itself as waiting when it starts, and replaces that with a live check once it
runs; `/readyz` answers 200 only when every registered part's check passes. The checks ask
Temporal itself, so a process whose connection broke stops being ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

CHECK_TIMEOUT_SECONDS = 5.0
"""A check Temporal does not answer in this time fails: a probe must answer quickly."""

ReadinessCheck = Callable[[], Awaitable[str | None]]
"""`None` when the part is ready, else why it is not."""


class Readiness:
    """The readiness checks of one process, by part."""

    def __init__(self) -> None:
        self._checks: dict[str, ReadinessCheck] = {}

    def waiting(self, part: str, reason: str) -> None:
        """Register `part` as not ready yet, for `reason`."""

        async def not_yet() -> str:
            return reason

        self._checks[part] = not_yet

    def check(self, part: str, check: ReadinessCheck) -> None:
        """Judge `part` by `check` from now on."""
        self._checks[part] = check

    async def problems(self) -> dict[str, str]:
        """Why each part that is not ready is not; empty when all are."""
        if not self._checks:
            # A process whose parts have not registered yet is still starting them.
            return {"process": "starting"}
        parts = list(self._checks)
        results = await asyncio.gather(*(self._run(self._checks[part]) for part in parts))
        return {part: problem for part, problem in zip(parts, results, strict=True) if problem}

    @staticmethod
    async def _run(check: ReadinessCheck) -> str | None:
        try:
            return await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            return f"no answer from Temporal within {CHECK_TIMEOUT_SECONDS:g} s"
        except RPCError as error:
            return f"Temporal answered {error.status.name}: {error.message}"
        except RuntimeError as error:  # the SDK's "connection lost" and the like
            return str(error) or type(error).__name__


def temporal_reachable(client: Client) -> ReadinessCheck:
    """A check that Temporal's frontend answers the client's health probe."""

    async def check() -> str | None:
        if await client.service_client.check_health():
            return None
        return "Temporal reports itself not serving"

    return check


def worker_polling(client: Client, worker: Worker, task_queue: str) -> ReadinessCheck:
    """A check that `worker` runs and Temporal sees it polling `task_queue` (by its identity)."""

    async def check() -> str | None:
        if not worker.is_running:
            return "the worker is not running"
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        if any(poller.identity == client.identity for poller in described.pollers):
            return None
        return f"Temporal has not seen this worker poll task queue {task_queue} yet"

    return check
