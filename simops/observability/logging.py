"""Logs of the long-running processes: plain text, or one JSON object per line.

With `SIMOPS_LOG_FORMAT=json` each record is one line of JSON with the time, level, logger and
message, and, where they apply, the workflow ID, run ID and type, the activity, its attempt, and
the campaign ID and batch number. Those come from Temporal's own log context (the workflow and
activity loggers put it on each record; any logger called inside an activity finds it in the
activity's context) and from the workflow ID, which names the campaign and batch
(`simops.contract.campaign_of`). Nothing else of a record is written (no `extra` dumped
wholesale), so the format adds no field that could carry a payload, a secret or a full ICCID.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio import workflow as temporal_workflow

from simops.contract import campaign_of
from simops.runtime.settings import SimopsSettings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def _temporal_context(record: logging.LogRecord) -> Mapping[str, Any]:
    """What Temporal knows of the workflow or activity a record was logged in."""
    details: Mapping[str, Any] | None = getattr(record, "temporal_activity", None) or getattr(
        record, "temporal_workflow", None
    )
    if details is None and activity.in_activity():
        info = activity.info()
        details = {
            "activity_id": info.activity_id,
            "activity_type": info.activity_type,
            "attempt": info.attempt,
            "workflow_id": info.workflow_id,
            "workflow_run_id": info.workflow_run_id,
            "workflow_type": info.workflow_type,
        }
    return details or {}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the Temporal and campaign context that applies."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _temporal_context(record)
        workflow_id = context.get("workflow_id")
        fields = {
            "workflow_id": workflow_id,
            "run_id": context.get("run_id") or context.get("workflow_run_id"),
            "workflow_type": context.get("workflow_type"),
            "activity": context.get("activity_type"),
            "activity_id": context.get("activity_id"),
            "attempt": context.get("attempt"),
        }
        if isinstance(workflow_id, str):
            fields["campaign_id"], fields["batch"] = campaign_of(workflow_id)
        entry.update({name: value for name, value in fields.items() if value is not None})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: SimopsSettings, level: int = logging.INFO) -> None:
    """Send the process's log records to stderr in the configured format."""
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
        # The context is in the JSON fields: Temporal's copy appended to each message would
        # only repeat it.
        temporal_workflow.logger.workflow_info_on_message = False
        activity.logger.activity_info_on_message = False
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
