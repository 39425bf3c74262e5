"""Looking for leaked secrets and full ICCIDs in workflow histories and log files.

simops promises that no credential (Auth Token, client secret, bearer token, webhook or
callback secret, payload key) and no full ICCID ever reaches a Temporal history or a log line:
anyone who can read the namespace or the logs would see them. This module checks the promise.
Histories are scanned as the server stores them (payload data base64-decoded, never decrypted),
which is what an operator of the Temporal cluster sees.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from temporalio.client import Client

from simops.core.iccids import luhn_valid
from simops.runtime.settings import SimopsSettings
from simops.supersim.errors import mask_iccid

MIN_SECRET_LENGTH = 8
"""A shorter value would be found by chance in ordinary text."""

FULL_ICCID = re.compile(r"(?<!\d)\d{19,20}(?!\d)")
"""A run of 19 or 20 digits: a full ICCID when its Luhn check digit is right."""


class FindingKind(StrEnum):
    """What was found."""

    SECRET = "secret"
    ICCID = "iccid"


@dataclass(frozen=True, slots=True)
class Finding:
    """One leaked value: where (a source and a line or event number) and what, masked."""

    source: str
    position: int
    kind: FindingKind
    masked: str
    """The ICCID masked, or the secret's SHA-256 fingerprint: a report never repeats a leak."""

    def __str__(self) -> str:
        return f"{self.source}:{self.position}: {self.kind.value} {self.masked}"


@dataclass
class ScanReport:
    """What a scan of the namespace's histories covered and found."""

    workflows: int = 0
    events: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many leaks were found; simops' promise is 0."""
        return len(self.findings)


def fingerprint(secret: str) -> str:
    """A secret named without being shown: the start of its SHA-256."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def _secret_pattern(secrets: Collection[str]) -> re.Pattern[str] | None:
    short = [secret for secret in secrets if len(secret) < MIN_SECRET_LENGTH]
    if short:
        raise ValueError(
            f"{len(short)} secret(s) shorter than {MIN_SECRET_LENGTH} characters: "
            "they would be found by chance in ordinary text"
        )
    if not secrets:
        return None
    # Longest first, so a secret that contains another is reported as itself.
    ordered = sorted(set(secrets), key=len, reverse=True)
    return re.compile("|".join(re.escape(secret) for secret in ordered))


def scan_for_secrets(
    texts: Iterable[str], secrets: Collection[str], *, source: str = "text"
) -> list[Finding]:
    """Every occurrence of one of `secrets`, and every full ICCID, in `texts`.

    A finding's position is the number (from 1) of the text it is in: a line of a log, an
    event of a history.
    """
    pattern = _secret_pattern(secrets)
    findings: list[Finding] = []
    for position, text in enumerate(texts, start=1):
        if pattern is not None:
            findings.extend(
                Finding(source, position, FindingKind.SECRET, fingerprint(match.group()))
                for match in pattern.finditer(text)
            )
        findings.extend(
            Finding(source, position, FindingKind.ICCID, mask_iccid(match.group()))
            for match in FULL_ICCID.finditer(text)
            if luhn_valid(match.group())
        )
    return findings


def scan_log_file(path: Path, secrets: Collection[str]) -> list[Finding]:
    """The leaks in a log file, line by line (undecodable bytes are replaced, not skipped)."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        return scan_for_secrets(lines, secrets, source=str(path))


def _decoded(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def _payload_contents(node: Any) -> Iterator[str]:
    """The base64 `data` and `metadata` of every payload under `node`, decoded to text."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data" and isinstance(value, str):
                decoded = _decoded(value)
                if decoded is not None:
                    yield decoded
            elif key == "metadata" and isinstance(value, dict):
                yield from (
                    decoded
                    for item in value.values()
                    if isinstance(item, str) and (decoded := _decoded(item)) is not None
                )
            else:
                yield from _payload_contents(value)
    elif isinstance(node, list):
        for item in node:
            yield from _payload_contents(item)


def history_event_texts(history_json: str) -> Iterator[str]:
    """Each event of a history (proto JSON) as one text: the event and its decoded payloads."""
    for event in json.loads(history_json).get("events", []):
        yield "\n".join([json.dumps(event), *_payload_contents(event)])


async def scan_histories(
    client: Client, secrets: Collection[str], *, query: str | None = None
) -> ScanReport:
    """Scan the history of every workflow of the client's namespace (or those `query` lists)."""
    report = ScanReport()
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        report.workflows += 1
        report.events += len(history.events)
        report.findings.extend(
            scan_for_secrets(
                history_event_texts(history.to_json()),
                secrets,
                source=f"workflow {execution.id} run {execution.run_id} event",
            )
        )
    return report


def configured_secrets(settings: SimopsSettings) -> list[str]:
    """Every secret value `settings` hold: what must never appear in a history or a log."""
    single = [
        settings.kore_client_secret,
        settings.bearer_token,
        settings.twilio_auth_token,
        settings.callback_secret,
        settings.kore_webhook_secret,
        settings.payload_key,
        settings.codec_token,
        settings.ui_token,
    ]
    many = [
        *settings.kore_webhook_secrets.values(),
        *settings.twilio_auth_tokens.values(),
        *settings.payload_old_keys,
        *(api_token.token for api_token in settings.api_tokens),
    ]
    return sorted({secret.get_secret_value() for secret in [*single, *many] if secret is not None})
