"""A campaign's schedule answers inside the workflow sandbox simops runs workflows in: with
Temporal's default sandbox a `ZoneInfo` comes out proxied and `datetime` refuses it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from simops.campaigns.schedule import CampaignSchedule
from simops.workflows.sandbox import WORKFLOW_RUNNER

# Saturday noon before Europe/Berlin's clocks go forward (2026-03-29, 01:00 UTC).
ASKED_AT = datetime(2026, 3, 28, 12, tzinfo=UTC)


@workflow.defn(sandboxed=True)
class ScheduleProbe:
    """Builds the schedule it is given again (validators and all) and asks it at `ASKED_AT`."""

    @workflow.run
    async def run(self, schedule: CampaignSchedule) -> list[datetime | None]:
        again = CampaignSchedule.model_validate(schedule.model_dump())
        return [again.next_open_at(ASKED_AT), again.next_change_at(ASKED_AT)]


async def test_a_schedule_in_a_time_zone_answers_inside_a_workflow(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    schedule = CampaignSchedule(windows=["01:00-02:30"], timezone="Europe/Berlin")
    queue = f"sandbox-{uuid.uuid4()}"

    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[ScheduleProbe],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        answers = await time_skipping_env.client.execute_workflow(
            ScheduleProbe.run,
            schedule,
            id=queue,
            task_queue=queue,
            # Refused, the workflow task fails and is retried forever: fail the test instead.
            execution_timeout=timedelta(seconds=30),
        )

    expected = [datetime(2026, 3, 29, 0, tzinfo=UTC), datetime(2026, 3, 29, 0, tzinfo=UTC)]
    assert (
        answers == expected == [schedule.next_open_at(ASKED_AT), schedule.next_change_at(ASKED_AT)]
    )
