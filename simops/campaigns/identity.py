"""When two starts of one campaign ID are the same campaign: their specs agree field by field.

A campaign ID names one spec for good. Starting an ID again with that spec attaches to the
campaign; with any other spec it is refused, naming every field that differs, since the workflow
and its activities would run the spec recorded first, not the one given.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simops.campaigns.spec import CampaignSpec

DIGEST_CHUNK_BYTES = 1 << 20


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's content, in hex, read a chunk at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as content:
        while chunk := content.read(DIGEST_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def with_file_sha256(spec: CampaignSpec, source_file: Path | None) -> CampaignSpec:
    """`spec` naming the digest of the file it reads (unchanged when it reads none)."""
    if source_file is None:
        return spec
    source = spec.source.model_copy(update={"file_sha256": file_sha256(source_file)})
    return spec.model_copy(update={"source": source})


def spec_differences(existing: CampaignSpec, given: CampaignSpec, existing_label: str) -> list[str]:
    """One `field: LABEL old, given new` per field that differs (nested fields dotted), in the
    spec's field order; empty when the two specs run the same campaign."""
    return _differences(
        existing.model_dump(mode="json"), given.model_dump(mode="json"), existing_label, ""
    )


def _differences(
    existing: Mapping[str, Any], given: Mapping[str, Any], label: str, prefix: str
) -> list[str]:
    found: list[str] = []
    for key in dict.fromkeys([*existing, *given]):
        old, new = existing.get(key), given.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            found += _differences(old, new, label, f"{prefix}{key}.")
        elif old != new:
            found.append(f"{prefix}{key}: {label} {_shown(old)}, given {_shown(new)}")
    return found


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    return value if isinstance(value, str) else json.dumps(value)
