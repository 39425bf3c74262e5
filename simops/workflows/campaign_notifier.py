"""A campaign's notifier: its events to every webhook receiver, at least once and in order.

The campaign signals each event here as it happens and goes on: nothing it does waits for a
receiver. The notifier keeps the events in order, delivers them to each receiver one after the
other (a receiver that is down holds back only its own queue) by an activity that Temporal
retries with backoff until 24 hours after the event, and every 5 seconds at most collects the
rows that ended into one `rows_ended` event. It outlives the campaign until the last event
(`completed`, `stopped`, `cancelled`, `failed`) reached every receiver or expired, and continues
as new when its history grows long.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from simops.activities.notifications import NotificationActivities
    from simops.contract import (
        CAMPAIGN_EVENT_SIGNAL,
        CAMPAIGN_NOTIFIER_WORKFLOW,
        DELIVERIES_QUERY,
        delivery_activity_id,
    )
    from simops.messages import (
        DeliveryRequest,
        EndedRowsRequest,
        NotifierInput,
        WebhookDelivery,
    )
    from simops.notifications.events import CampaignEvent, rows_ended_event
    from simops.notifications.targets import shown_url
    from simops.workflows.waiting import wait_until

EVENT_LIFETIME = timedelta(hours=24)
"""An event is retried until this long after it happened; then it is given up on (counted as
failed for its receiver) and the next one goes."""
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    # A receiver back after an hour down gets its backlog within minutes.
    maximum_interval=timedelta(minutes=5),
)
DELIVERY_ATTEMPT_TIMEOUT = timedelta(seconds=30)
ROWS_INTERVAL = timedelta(seconds=5)
"""At most one `rows_ended` event per campaign this often."""
LONGEST_ROWS_INTERVAL = timedelta(seconds=30)
"""While no row ends (preparing, paused, waiting for a window), collections back off up to
this; any event of the campaign brings them back to `ROWS_INTERVAL`."""
COLLECT_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))
COLLECT_TIMEOUT = timedelta(minutes=10)
"""A collection that cannot read the store by then is skipped (tried again next time)."""
MOST_QUEUED = 20
"""No rows are collected while a receiver has this many events waiting: rows wait in the store,
not in this history, while a receiver is down."""
LONG_HISTORY = 5_000
"""Events of history past which the notifier continues as new (between deliveries)."""


def _failure_text(error: BaseException) -> str:
    """The innermost message of a failure chain (what the receiver or the network said)."""
    messages = []
    cause: BaseException | None = error
    while cause is not None:
        messages.append(str(cause))
        cause = cause.__cause__
    return next((message for message in reversed(messages) if message), "delivery failed")


@workflow.defn(name=CAMPAIGN_NOTIFIER_WORKFLOW)
class CampaignNotifierWorkflow:
    """Delivers one campaign's events to its receivers, each receiver in order."""

    @workflow.init
    def __init__(self, notifier: NotifierInput) -> None:
        self._campaign_id = notifier.campaign_id
        self._targets = notifier.targets
        self._first_sequence = notifier.first_sequence
        self._events = list(notifier.events)
        self._next = notifier.next_sequences or [notifier.first_sequence] * len(self._targets)
        self._deliveries = notifier.deliveries or [
            WebhookDelivery(url=shown_url(url)) for url in self._targets
        ]
        self._rows_collections = notifier.rows_collections
        self._last_rows_event_at = notifier.last_rows_event_at
        self._campaign_ended = notifier.campaign_ended
        self._incoming: list[CampaignEvent] = []
        self._delivering: set[int] = set()

    @workflow.signal(name=CAMPAIGN_EVENT_SIGNAL)
    def campaign_event(self, event: CampaignEvent) -> None:
        """An event of the campaign, in the order it happened."""
        self._incoming.append(event)

    @workflow.query(name=DELIVERIES_QUERY)
    def deliveries(self) -> list[WebhookDelivery]:
        """Per receiver: events sent, failed and queued, attempts, the last answer."""
        end = self._end()
        return [
            delivery.model_copy(update={"events_queued": end - self._next[index]})
            for index, delivery in enumerate(self._deliveries)
        ]

    @workflow.run
    async def run(self, notifier: NotifierInput) -> list[WebhookDelivery]:
        """Take events and collect rows until the campaign's last event is delivered."""
        senders = [
            asyncio.create_task(self._deliver_to(index)) for index in range(len(self._targets))
        ]
        rows_interval = ROWS_INTERVAL
        next_rows_at = workflow.now()
        while not (self._campaign_ended and self._all_delivered()):
            if self._continue_wanted():
                await self._continue_as_new(senders)
            if not self._campaign_ended:
                await wait_until(
                    lambda: bool(self._incoming) or self._continue_wanted(),
                    next_rows_at - workflow.now(),
                )
            else:
                await workflow.wait_condition(
                    lambda: self._all_delivered() or self._continue_wanted()
                )
            taken = len(self._events)
            final = self._take_incoming()
            if len(self._events) > taken and rows_interval > ROWS_INTERVAL:
                # The campaign moved (it runs, say): rows may end again soon.
                rows_interval = ROWS_INTERVAL
                next_rows_at = min(next_rows_at, workflow.now() + ROWS_INTERVAL)
            if final is not None:
                # The rows that ended before the last event go before it.
                while await self._collect_rows():
                    pass
                self._append(final)
                self._campaign_ended = True
            elif workflow.now() >= next_rows_at and not self._campaign_ended:
                if self._most_queued() < MOST_QUEUED and await self._collect_rows():
                    rows_interval = ROWS_INTERVAL
                else:
                    rows_interval = min(rows_interval * 2, LONGEST_ROWS_INTERVAL)
                next_rows_at = workflow.now() + rows_interval
        for sender in senders:
            sender.cancel()
        return self.deliveries()

    def _end(self) -> int:
        return self._first_sequence + len(self._events)

    def _all_delivered(self) -> bool:
        return all(sequence >= self._end() for sequence in self._next)

    def _most_queued(self) -> int:
        return max((self._end() - sequence for sequence in self._next), default=0)

    def _continue_wanted(self) -> bool:
        info = workflow.info()
        long = (
            info.get_current_history_length() > LONG_HISTORY or info.is_continue_as_new_suggested()
        )
        # Between deliveries only: one in flight would be abandoned and sent again.
        return long and not self._delivering and not self._incoming

    def _take_incoming(self) -> CampaignEvent | None:
        """Queue the events signalled since the last look; the campaign's last one is returned
        instead, to go after the rows that ended before it."""
        incoming, self._incoming = self._incoming, []
        for position, event in enumerate(incoming):
            if self._campaign_ended:
                break
            if event.is_final:
                # Nothing follows a campaign's last event.
                self._incoming = []
                del incoming[position + 1 :]
                return event
            self._append(event)
        return None

    def _append(self, event: CampaignEvent) -> None:
        self._events.append(event.model_copy(update={"sequence": self._end()}))

    async def _collect_rows(self) -> bool:
        """One `rows_ended` event of the rows that ended since the last (none: `False`), no
        sooner than `ROWS_INTERVAL` after the last one."""
        if self._last_rows_event_at is not None:
            await workflow.sleep(
                max(self._last_rows_event_at + ROWS_INTERVAL - workflow.now(), timedelta(0))
            )
        collection = self._rows_collections + 1
        try:
            ended = await workflow.execute_activity_method(
                NotificationActivities.collect_ended_rows,
                EndedRowsRequest(campaign_id=self._campaign_id, collection=collection),
                start_to_close_timeout=timedelta(minutes=1),
                schedule_to_close_timeout=COLLECT_TIMEOUT,
                retry_policy=COLLECT_RETRY,
            )
        except ActivityError as error:
            # The same collection number next time: the store answers what it recorded.
            workflow.logger.warning("could not collect ended rows: %s", _failure_text(error))
            return False
        self._rows_collections = collection
        if not ended.ranges:
            return False
        now = workflow.now()
        self._append(rows_ended_event(self._event_id(), self._campaign_id, now, ended.ranges))
        self._last_rows_event_at = now
        return True

    def _event_id(self) -> str:
        return f"evt_{workflow.uuid4().hex}"

    async def _deliver_to(self, index: int) -> None:
        """Deliver every event to receiver `index`, in order, one at a time."""
        delivery = self._deliveries[index]
        while True:
            await workflow.wait_condition(lambda: self._next[index] < self._end())
            sequence = self._next[index]
            event = self._events[sequence - self._first_sequence]
            left = event.time + EVENT_LIFETIME - workflow.now()
            if left > timedelta(seconds=1):
                self._delivering.add(index)
                try:
                    result = await workflow.execute_activity_method(
                        NotificationActivities.deliver_event,
                        DeliveryRequest(url=self._targets[index], event=event),
                        activity_id=delivery_activity_id(index, sequence),
                        schedule_to_close_timeout=left,
                        start_to_close_timeout=DELIVERY_ATTEMPT_TIMEOUT,
                        retry_policy=DELIVERY_RETRY,
                    )
                    delivery.events_sent += 1
                    delivery.attempts += result.attempt
                    delivery.last_status = result.status
                    delivery.last_error = None
                except ActivityError as error:
                    delivery.events_failed += 1
                    delivery.last_error = _failure_text(error)
                finally:
                    self._delivering.discard(index)
            else:
                delivery.events_failed += 1
                delivery.last_error = "given up: 24 hours passed before its turn"
            delivery.last_event_id = event.event_id
            delivery.last_event_type = event.type.value
            delivery.last_attempt_at = workflow.now()
            self._next[index] = sequence + 1
            self._forget_delivered()

    def _forget_delivered(self) -> None:
        """Drop the events every receiver has taken: the input of a continue-as-new carries
        only what is left."""
        done = min(self._next, default=self._end()) - self._first_sequence
        if done > 0:
            del self._events[:done]
            self._first_sequence += done

    async def _continue_as_new(self, senders: list[asyncio.Task[None]]) -> None:
        for sender in senders:
            sender.cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            NotifierInput(
                campaign_id=self._campaign_id,
                targets=self._targets,
                first_sequence=self._first_sequence,
                events=self._events,
                next_sequences=self._next,
                deliveries=self._deliveries,
                rows_collections=self._rows_collections,
                last_rows_event_at=self._last_rows_event_at,
                campaign_ended=self._campaign_ended,
            )
        )
