"""A campaign's source file, kept in its store's database in chunks, so that whichever worker
prepares the campaign reads the file the user gave, on any machine."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from simops.campaigns.sources import FileSourceError
from simops.campaigns.store.database import CampaignDatabase, Connection

SOURCE_CHUNK_BYTES = 1 << 20
"""Bytes per stored chunk: a million-row file never sits in memory whole."""


def store_source(transaction: Connection, campaign_id: str, path: Path) -> int:
    """Store the file's bytes for the campaign, inside a write transaction; how many chunks."""
    chunk_no = 0
    try:
        with path.open("rb") as source:
            while content := source.read(SOURCE_CHUNK_BYTES):
                transaction.execute(
                    "INSERT INTO source_chunks (campaign_id, chunk_no, content) VALUES (?, ?, ?)",
                    (campaign_id, chunk_no, content),
                )
                chunk_no += 1
    except OSError as error:
        raise FileSourceError(path, f"cannot be read ({error.strerror})") from None
    return chunk_no


def _chunks(database: CampaignDatabase) -> Iterator[bytes]:
    chunk_no = 0
    while True:
        row = database.execute(
            "SELECT content FROM source_chunks WHERE campaign_id = ? AND chunk_no = ?",
            (database.campaign_id, chunk_no),
        ).fetchone()
        if row is None:
            return
        yield bytes(row[0])
        chunk_no += 1


def source_sha256(database: CampaignDatabase) -> str:
    """The SHA-256 of the stored source file, in hex."""
    digest = hashlib.sha256()
    for chunk in _chunks(database):
        digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def source_copy(database: CampaignDatabase, name: str) -> Iterator[Path]:
    """The stored source file written to a private temporary directory, as `name`, for the
    body; deleted after it."""
    with tempfile.TemporaryDirectory(prefix="simops-source-") as directory:
        path = Path(directory) / name
        with path.open("wb") as copy:
            for chunk in _chunks(database):
                copy.write(chunk)
        yield path
