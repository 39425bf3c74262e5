"""The API's error codes simops knows (the rules' codes and the generic ones the emulator answers
with).
"""

from __future__ import annotations

from enum import IntEnum


class RuleCode(IntEnum):
    """API error codes of the Super SIM rules (and the generic ones the emulator uses)."""

    INVALID_PARAMETER = 20001
    AUTHENTICATION = 20003
    NOT_FOUND = 20404
    RATE_LIMITED = 20429
    INTERNAL = 20500
    MISSING_PARAMETER = 83001
    NOT_REGISTRABLE = 83002
    ALREADY_REGISTERED = 83003
    FLEET_NOT_FOUND = 83006
    FLEET_REQUIRED = 83007
    FLEET_REMOVAL_NOT_ALLOWED = 83008
    SCHEDULED_CONFLICT = 83009
    TRANSITION_NOT_ALLOWED = 83010
    DUPLICATE_UNIQUE_NAME = 83011
    BAD_PAGE_TOKEN = 21481
