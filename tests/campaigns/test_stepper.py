"""The batch stepper and its journal against the emulator and a real campaign store: what a
campaign wrote is known after a crash, stops reach every process, compensation puts back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from simops.campaigns.journal import SimJournal, WriteWithheld
from simops.campaigns.preparer import CampaignPreparer
from simops.campaigns.rows import RowOutcome, TrackedSim
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.campaigns.stepper import BatchStepper, track
from simops.campaigns.store.campaign_store import CampaignStore, JournalEntries
from simops.campaigns.store.errors import CampaignStoreError
from simops.core.sim import OutcomeKind, SimStatus, SimUpdate
from simops.devstack.in_process import emulator_settings
from simops.emulator.server import RunningEmulator
from simops.runtime.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from simops.supersim.transport import BeforeSend
from tests.helpers.emulators import EmulatorFactory
from tests.helpers.supersim import EmulatorControl

DEADLINE_SECONDS = 20.0
"""Every wait in these tests ends by then, and says what it saw."""


def ignore_progress(stage: str, done: int) -> None:
    """Preparation's progress, unused outside an activity."""


@dataclass
class Rig:
    """An emulator, a client of its parent account and an activation campaign's store."""

    emulator: RunningEmulator
    settings: SimopsSettings
    client: SuperSimClient
    sids: list[str]

    async def campaign(self, campaign_id: str, **spec: object) -> CampaignStore:
        """A prepared activation of every SIM into the `default` Fleet."""
        source = self.settings.campaign_dir.parent / f"{campaign_id}.csv"
        source.write_text("sim\n" + "".join(f"{sid}\n" for sid in self.sids))
        campaign = CampaignSpec(
            campaign_id=campaign_id,
            action=CampaignAction.ACTIVATE,
            source=CampaignSource(file_name=source.name),
            fleet="default",
            **spec,
        )
        store = CampaignStore.create(self.settings.campaign_dir, campaign, source)
        await CampaignPreparer(self.client, self.settings, store, on_progress=ignore_progress).run()
        return store

    def reopen(self, store: CampaignStore) -> CampaignStore:
        """The same campaign's store as another process opens it."""
        return CampaignStore.open(self.settings.campaign_dir, store.spec.campaign_id)

    def stepper(self, journal: SimJournal, **options: bool) -> BatchStepper:
        return BatchStepper(
            self.client,
            None,
            journal,
            final=options.get("final", False),
            compensate=options.get("compensate", True),
        )


@pytest.fixture
async def rig(emulator_factory: EmulatorFactory, tmp_path: Path) -> AsyncIterator[Rig]:
    emulator = await emulator_factory(seed_sims=6, scheduled_delay=(0.05, 0.05))
    settings = emulator_settings(emulator, campaign_dir=tmp_path / "campaigns", api_max_retries=0)
    async with SuperSimClient(settings) as client:
        sids = [sim.sid async for sim in client.list_sims()]
        yield Rig(emulator, settings, client, sids)


async def wait_for(condition: Callable[[], bool], what: Callable[[], str]) -> None:
    """Wait until `condition` holds; fail saying `what` was seen at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_SECONDS
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not reached in {DEADLINE_SECONDS} s; saw {what()}")
        await asyncio.sleep(0.02)


async def run_to_the_end(
    stepper: BatchStepper, journal: SimJournal, tracked: list[TrackedSim]
) -> list[RowOutcome]:
    """Rounds of the stepper (polling) until every SIM ended."""
    ended: list[RowOutcome] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_SECONDS
    while tracked:
        if loop.time() > deadline:
            raise AssertionError(f"still in progress: {[sim.model_dump() for sim in tracked]}")
        results = await asyncio.gather(*(stepper.advance(sim, fresh=True) for sim in tracked))
        ended += [result for result in results if isinstance(result, RowOutcome)]
        tracked = [result for result in results if isinstance(result, TrackedSim)]
        await asyncio.sleep(0.05)
    await journal.flush()
    return ended


async def test_writes_whose_answer_was_lost_are_reported_as_this_campaigns(rig: Rig) -> None:
    store = await rig.campaign("lost-answers")
    rows = store.planned_rows(1, len(rig.sids))
    stats = rig.emulator.context.stats
    # The emulator applies each activation, then answers only after 5 s: the "worker" dies
    # in between, as a SIGKILL after the request left would.
    rig.emulator.context.faults.update({"latency_ms": 5000})
    journal = SimJournal(store, lambda: 100, store.stop_reason())
    stepper = rig.stepper(journal)
    running = [asyncio.create_task(stepper.advance(track(row), fresh=False)) for row in rows]
    await wait_for(
        lambda: stats.state_changing_writes == len(rows),
        lambda: f"{stats.state_changing_writes} writes",
    )
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    rig.emulator.context.faults.update({"latency_ms": 0})

    with rig.reopen(store) as after_crash:
        recorded = after_crash.in_progress(1, len(rows))
        assert len(recorded) == len(rows)
        assert all(sim.pending_write is not None and sim.writes == 0 for sim in recorded)
        journal = SimJournal(after_crash, lambda: 100, after_crash.stop_reason())
        ended = await run_to_the_end(rig.stepper(journal), journal, recorded)
        report = list(after_crash.report_rows())

    assert {outcome.outcome for outcome in ended} == {OutcomeKind.CONVERGED}
    assert [(row.outcome, row.writes, row.before_status) for row in report] == [
        (OutcomeKind.CONVERGED, 1, SimStatus.NEW)
    ] * len(rows)
    assert stats.writes_per_sim() == dict.fromkeys(rig.sids, 1)


async def test_a_write_recorded_but_never_sent_is_sent_once(rig: Rig) -> None:
    store = await rig.campaign("never-sent")
    row = store.planned_rows(1, 1)[0]
    journal = SimJournal(store, lambda: 100, store.stop_reason())
    planned = track(row)
    # A crash after the write was recorded and before it left: the SIM is still `new`.
    intent = planned.model_copy(
        update={
            "pending_write": SimUpdate(status=SimStatus.ACTIVE),
            "observed": planned.before,
        }
    )
    await journal.intend(intent)
    ended = await run_to_the_end(rig.stepper(journal), journal, [intent])
    assert [(o.outcome, o.writes) for o in ended] == [(OutcomeKind.CONVERGED, 1)]
    assert rig.emulator.context.stats.writes_per_sim()[row.sim_sid or ""] == 1


async def sent_after_the_gate(gate: BeforeSend) -> None:
    """A request that passes the gate and would then be sent: a test fails if it is."""
    await gate()
    raise AssertionError("the first write passed the gate")


async def test_a_stop_in_one_process_refuses_first_writes_in_another(rig: Rig) -> None:
    store = await rig.campaign("stopped")
    with rig.reopen(store) as other_process:
        here, there = (
            SimJournal(store, lambda: 100, store.stop_reason()),
            SimJournal(other_process, lambda: 100, other_process.stop_reason()),
        )
        sims = [track(row) for row in store.planned_rows(1, 3)]
        here.stop("20003: credentials refused")
        await here.flush()
        assert store.stop_reason() == "20003: credentials refused"
        # `there` has not heard of the stop: its first write's commit finds it.
        assert there.stop_reason is None
        with pytest.raises(WriteWithheld) as withheld:
            await there.send(sims[0], sent_after_the_gate)
        assert (withheld.value.reason, withheld.value.held) == ("20003: credentials refused", False)
        assert there.stop_reason == "20003: credentials refused"
        # A SIM already on its path may go on (its next write, its compensation).
        await there.intend(sims[1])
        # A later stop keeps the first reason.
        assert other_process.stop("another") == "20003: credentials refused"
        ended = await run_to_the_end(rig.stepper(there), there, [sims[2]])
    assert [(o.outcome, o.message, o.writes) for o in ended] == [
        (OutcomeKind.CANCELLED, "not started: 20003: credentials refused", 0)
    ]
    assert rig.emulator.context.stats.state_changing_writes == 0


async def test_first_writes_in_flight_never_exceed_the_limit(rig: Rig) -> None:
    store = await rig.campaign("slots")
    journal = SimJournal(store, lambda: 2, store.stop_reason())
    inside = peak = 0

    async def hold(row_no: int) -> None:
        nonlocal inside, peak
        async with journal.first_write_slot(row_no):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.wait_for(
        asyncio.gather(*(hold(row_no) for row_no in range(10))), DEADLINE_SECONDS
    )
    assert peak == 2


async def test_first_writes_go_out_in_row_order_when_slots_are_scarce(rig: Rig) -> None:
    """The SIMs of an older batch (lower rows) are written before a newer batch's, whatever
    order they came to the gate in: a batch then ends its writes, and reads its SIMs back,
    before the next one instead of every batch waiting on its last write until the end."""
    store = await rig.campaign("row-order")
    rows = store.planned_rows(1, len(rig.sids))
    journal = SimJournal(store, lambda: 1, store.stop_reason())
    stepper = rig.stepper(journal)
    blocker_holds = asyncio.Event()
    let_go = asyncio.Event()

    async def block() -> None:
        async with journal.first_write_slot(0):
            blocker_holds.set()
            await let_go.wait()

    blocker = asyncio.create_task(block())
    await blocker_holds.wait()
    # Newest row first: each reaches the gate, finds no slot and waits behind the blocker.
    advancing = [
        asyncio.create_task(stepper.advance(track(row), fresh=False)) for row in reversed(rows)
    ]
    await asyncio.sleep(0.1)
    stats = rig.emulator.context.stats
    assert stats.writes() == [], "a first write went out while the only slot was held"
    let_go.set()
    await asyncio.wait_for(asyncio.gather(blocker, *advancing), DEADLINE_SECONDS)
    row_of = {row.sim_sid: row.row_no for row in rows}
    written = [row_of[write["sim_sid"]] for write in stats.writes()]
    assert written == sorted(row_of.values()), f"the emulator's write log, by row: {written}"


ANSWER_DELAY_MS = 200
LANES = 2


async def test_a_round_advances_its_sims_a_few_lanes_at_a_time_in_order(rig: Rig) -> None:
    """`advance_all` keeps at most `lanes` SIMs going at once, each once, and answers in the
    order given: SIMs past the campaign's concurrency wait as rows, not as tasks."""
    store = await rig.campaign("lanes")
    rows = store.planned_rows(1, len(rig.sids))
    journal = SimJournal(store, lambda: 100, store.stop_reason())
    await EmulatorControl(rig.emulator).faults(latency_ms=ANSWER_DELAY_MS)
    results = await asyncio.wait_for(
        rig.stepper(journal).advance_all([track(row) for row in rows], fresh=False, lanes=LANES),
        DEADLINE_SECONDS,
    )
    await journal.flush()
    assert [result.sim_sid for result in results] == [row.sim_sid for row in rows]
    writes = rig.emulator.context.stats.writes()
    assert sorted(write["sim_sid"] for write in writes) == sorted(rig.sids), writes
    # A lane sends its next write only once the last one was answered, so any LANES + 1
    # writes span at least one answer's delay.
    times = sorted(write["at"] for write in writes)
    spans = [later - earlier for earlier, later in zip(times, times[LANES:], strict=False)]
    assert min(spans) >= ANSWER_DELAY_MS / 1000 * 0.9, f"write times: {times}"


class FaultyStepper(BatchStepper):
    """A stepper whose round raises for one SIM (a fault that no outcome accounts for)."""

    def __init__(self, rig: Rig, journal: SimJournal, failing_sid: str) -> None:
        super().__init__(rig.client, None, journal, final=False, compensate=True)
        self.failing_sid = failing_sid

    async def advance(self, sim: TrackedSim, *, fresh: bool) -> TrackedSim | RowOutcome:
        if sim.sim_sid == self.failing_sid:
            raise LookupError("a fault in one SIM's round")
        return await super().advance(sim, fresh=fresh)


async def test_a_sim_whose_round_raises_ends_the_round_and_no_write_follows(rig: Rig) -> None:
    store = await rig.campaign("faulty")
    rows = store.planned_rows(1, len(rig.sids))
    journal = SimJournal(store, lambda: 100, store.stop_reason())
    await EmulatorControl(rig.emulator).faults(latency_ms=ANSWER_DELAY_MS)
    failing = rows[2].sim_sid
    assert failing is not None
    stepper = FaultyStepper(rig, journal, failing)
    with pytest.raises(LookupError, match="one SIM's round"):
        await asyncio.wait_for(
            stepper.advance_all([track(row) for row in rows], fresh=False, lanes=LANES),
            DEADLINE_SECONDS,
        )
    # Long enough for the other lane to have written every SIM left, had it gone on.
    await asyncio.sleep(len(rows) * ANSWER_DELAY_MS / 1000)
    written = {write["sim_sid"] for write in rig.emulator.context.stats.writes()}
    # The two first SIMs, and the one the other lane had taken (cancelled, maybe sent).
    assert written <= {rows[0].sim_sid, rows[1].sim_sid, rows[3].sim_sid}, written


async def test_the_failure_threshold_and_the_canary_are_judged_per_sim(rig: Rig) -> None:
    threshold = await rig.campaign("threshold", max_failures=2)
    canary = await rig.campaign("canary", canary=3)

    def failed(row_no: int) -> RowOutcome:
        return RowOutcome(row_no=row_no, outcome=OutcomeKind.FAILED, code=83007, message="no")

    first = threshold.commit_journal(JournalEntries(ended=[failed(5)]))
    second = threshold.commit_journal(JournalEntries(ended=[failed(6)]))
    assert first.stop_reason is None
    assert second.stop_reason is not None and "threshold of 2" in second.stop_reason
    assert threshold.stop_reason() == second.stop_reason

    outside = canary.commit_journal(JournalEntries(ended=[failed(5)]))
    inside = canary.commit_journal(JournalEntries(ended=[failed(2)]))
    assert outside.stop_reason is None
    assert inside.stop_reason is not None and inside.stop_reason.startswith("canary")


async def test_a_failed_commit_is_raised_and_the_journal_is_not_reused(rig: Rig) -> None:
    store = await rig.campaign("broken")
    journal = SimJournal(store, lambda: 100, store.stop_reason())
    journal.ended(RowOutcome(row_no=999, outcome=OutcomeKind.FAILED))
    with pytest.raises(CampaignStoreError, match="no rows"):
        await journal.flush()
    assert journal.broken
