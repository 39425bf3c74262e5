"""Webhook receivers as shown to people: a URL without what may be a credential in it."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def shown_url(url: str) -> str:
    """`url` without its user, password, query and fragment (where tokens usually travel), for
    statuses, logs and errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def merged_targets(campaign_urls: list[str], every_campaign_urls: list[str]) -> list[str]:
    """A campaign's receivers: its own (`--notify`), then the deployment's
    (`SIMOPS_NOTIFY_URLS`), each once."""
    return list(dict.fromkeys([*campaign_urls, *every_campaign_urls]))
