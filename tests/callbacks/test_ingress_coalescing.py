"""How the ingress gathers callbacks into signals: a one-SIM operation's at once, a batch's
over the window."""

from __future__ import annotations

import asyncio

from simops.callbacks.ingress import CallbackCoalescer
from simops.contract import batch_workflow_id, sim_workflow_id
from simops.core.sim import SimStatus
from simops.sim_messages import SimCallback, SimCallbackBatch

SIM = "HS" + "0" * 32
HOUR = 3600.0


def _callback(token: str) -> SimCallback:
    return SimCallback(sim_sid=SIM, sim_status=SimStatus.ACTIVE, idempotency_token=token)


class Signaller:
    """Records each signal; holds each one until `release` is set."""

    def __init__(self) -> None:
        self.signals: list[list[str | None]] = []
        self.release = asyncio.Event()
        self.release.set()
        self._sent = asyncio.Condition()

    async def __call__(self, workflow_id: str, batch: SimCallbackBatch) -> bool:
        async with self._sent:
            self.signals.append([callback.idempotency_token for callback in batch.callbacks])
            self._sent.notify_all()
        await self.release.wait()
        return True

    async def wait_for(self, count: int) -> None:
        """Until `count` signals were sent."""
        async with self._sent:
            await self._sent.wait_for(lambda: len(self.signals) >= count)


async def test_a_sim_operations_callback_is_signalled_without_waiting_the_window() -> None:
    signaller = Signaller()
    coalescer = CallbackCoalescer(signaller, window_seconds=HOUR)

    delivered = await coalescer.deliver(sim_workflow_id(SIM), _callback("a"))

    assert delivered is True
    assert signaller.signals == [["a"]]


async def test_a_batchs_callbacks_wait_for_the_window() -> None:
    signaller = Signaller()
    coalescer = CallbackCoalescer(signaller, window_seconds=HOUR)

    delivery = asyncio.create_task(coalescer.deliver(batch_workflow_id("c", 1), _callback("a")))
    for _ in range(10):
        await asyncio.sleep(0)

    assert signaller.signals == []
    assert not delivery.done()
    delivery.cancel()


async def test_callbacks_arriving_while_a_sim_operation_is_signalled_are_gathered() -> None:
    signaller = Signaller()
    signaller.release.clear()
    coalescer = CallbackCoalescer(signaller, window_seconds=0.01)
    workflow_id = sim_workflow_id(SIM)

    first = asyncio.create_task(coalescer.deliver(workflow_id, _callback("a")))
    await signaller.wait_for(1)
    later = [asyncio.create_task(coalescer.deliver(workflow_id, _callback(t))) for t in "bc"]
    await signaller.wait_for(2)
    signaller.release.set()

    assert await asyncio.gather(first, *later) == [True, True, True]
    assert signaller.signals == [["a"], ["b", "c"]]
