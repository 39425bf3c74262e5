"""`simops codec-key` and `simops scan`: payload encryption keys and the leak scan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simops.cli.support import ExitCode, connect_temporal, load_settings, run_command
from simops.runtime.codec import new_payload_key
from simops.scan import configured_secrets, scan_histories, scan_log_file


def register(app: typer.Typer) -> None:
    """Add `simops codec-key` and `simops scan` to the command."""
    app.command("codec-key")(codec_key)
    app.command("scan")(scan)


def codec_key() -> None:
    """Print a fresh payload encryption key, for SIMOPS_PAYLOAD_KEY."""
    typer.echo(new_payload_key())


async def _scan(logs: list[Path], query: str | None) -> int:
    settings = load_settings()
    secrets = configured_secrets(settings)
    client = await connect_temporal(settings)
    report = await scan_histories(client, secrets, query=query)
    findings = list(report.findings)
    for log in logs:
        findings.extend(scan_log_file(log, secrets))
    for finding in findings:
        typer.echo(str(finding))
    typer.echo(
        f"scanned {report.workflows} workflow histories ({report.events} events) and "
        f"{len(logs)} log file(s) for {len(secrets)} configured secret(s) and full ICCIDs: "
        f"{len(findings)} found"
    )
    return ExitCode.FAILED if findings else ExitCode.OK


def scan(
    log: Annotated[
        list[Path] | None,
        typer.Option(help="A log file to scan too (repeatable).", exists=True, dir_okay=False),
    ] = None,
    query: Annotated[
        str | None, typer.Option(help="Scan only the workflows this visibility query lists.")
    ] = None,
) -> None:
    """Look for configured secrets and full ICCIDs in every workflow history (and log files).

    Exit code 1 when anything is found.
    """
    raise typer.Exit(run_command(_scan(log or [], query)))
