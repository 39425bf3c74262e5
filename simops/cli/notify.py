"""`--notify URL` of `simops campaign start` and `simops migrate start`: the campaign's own
webhook receivers, checked where they are typed (docs/integrations.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from simops.campaigns.spec import CampaignSpec
from simops.cli.support import ExitCode, fail
from simops.runtime.settings import SimopsSettings
from simops.runtime.webhook_rules import webhook_url_problem

NotifyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--notify",
        metavar="URL",
        help="POST every event of the campaign to this http(s) URL, signed with "
        "SIMOPS_NOTIFY_SECRET (repeatable; SIMOPS_NOTIFY_URLS adds receivers of every campaign).",
    ),
]


def with_notify(
    settings: SimopsSettings, spec: CampaignSpec, urls: list[str] | None
) -> CampaignSpec:
    """`spec` with its `--notify` receivers, or one clear line on what is wrong (exit 2): a URL
    that is not http(s), or no secret to sign with."""
    if not urls:
        return spec
    for url in urls:
        problem = webhook_url_problem(url)
        if problem is not None:
            fail(f"--notify {problem}", ExitCode.BAD_INPUT)
    if settings.notify_secret is None:
        fail(
            "--notify needs SIMOPS_NOTIFY_SECRET, the Standard Webhooks secret that signs every "
            "webhook (whsec_ and base64 of 24 random bytes or more): simops sends none unsigned",
            ExitCode.BAD_INPUT,
        )
    return CampaignSpec.model_validate({**spec.model_dump(), "notify_urls": urls})
