"""The search attributes simops sets on its workflows, for the Temporal Web UI and `list`.

Never an ICCID: search attributes are visible to anyone who can read the namespace.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

SIM_SID = SearchAttributeKey.for_keyword("SimSid")
SIM_OPERATION = SearchAttributeKey.for_keyword("SimOperation")
SIM_OPERATION_STATE = SearchAttributeKey.for_keyword("SimOperationState")

ALL_KEYS = (SIM_SID, SIM_OPERATION, SIM_OPERATION_STATE)
"""Every key a namespace must have registered before simops workflows start."""
