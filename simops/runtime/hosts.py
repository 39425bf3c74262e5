"""Which host names and addresses reach only this machine: what the servers that guard
campaigns (the dashboard, the JSON API, the codec server) may listen on without a token."""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Whether `host` (a name, an address, or an IPv6 address in brackets) only reaches this
    machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
