"""Connecting to a secured Temporal: settings merged over Temporal's own configuration, and a
worker and a campaign through a TLS frontend that requires a client certificate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import typer
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.cli.support import connect_temporal
from simops.clients.campaigns import start_campaign
from simops.core.sim import SimStatus
from simops.devstack.in_process import emulator_settings, local_stack
from simops.runtime.settings import SimopsSettings
from simops.runtime.temporal import (
    TemporalSetupError,
    connect,
    connect_when_up,
    temporal_target,
)
from tests.helpers.tls import SERVER_NAME, Pki, make_pki, tls_forwarder


def settings(**fields: Any) -> SimopsSettings:
    return SimopsSettings(_env_file=None, **fields)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def frontend(dev_env: WorkflowEnvironment, pki: Pki) -> AsyncIterator[str]:
    async with tls_forwarder(pki, dev_env.client.service_client.config.target_host) as address:
        yield address


def mtls(pki: Pki, address: str, **fields: Any) -> dict[str, Any]:
    return {
        "temporal_address": address,
        "temporal_tls_ca": pki.ca,
        "temporal_tls_cert": pki.client_cert,
        "temporal_tls_key": pki.client_key,
        "temporal_tls_server_name": SERVER_NAME,
        **fields,
    }


def test_defaults_are_the_local_dev_server() -> None:
    target = temporal_target(settings(), environ={})

    assert (target.address, target.namespace, target.tls, target.api_key) == (
        "localhost:7233",
        "default",
        False,
        None,
    )


def test_temporal_variables_apply_and_simops_settings_win(pki: Pki) -> None:
    environ = {
        "TEMPORAL_ADDRESS": "cluster.example:7233",
        "TEMPORAL_NAMESPACE": "fleet.a1b2c",
        "TEMPORAL_API_KEY": "profile-key",
    }

    from_profile = temporal_target(settings(), environ=environ)
    ours = temporal_target(
        settings(temporal_namespace="fleet.other", temporal_api_key="our-key"), environ=environ
    )

    assert from_profile.address == "cluster.example:7233"
    assert from_profile.namespace == "fleet.a1b2c"
    assert from_profile.api_key == "profile-key"
    assert isinstance(from_profile.tls, TLSConfig)  # an API key goes over TLS only
    assert (ours.namespace, ours.api_key) == ("fleet.other", "our-key")
    off = temporal_target(settings(temporal_envconfig=False), environ=environ)
    assert (off.address, off.api_key) == ("localhost:7233", None)


def test_a_profile_file_gives_mtls_and_our_settings_replace_its_parts(
    pki: Pki, tmp_path: Path
) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(
        "[profile.prod]\n"
        'address = "prod.example:7233"\n'
        'namespace = "prod"\n'
        "[profile.prod.tls]\n"
        f'server_ca_cert_path = "{pki.other_ca}"\n'
        f'client_cert_path = "{pki.client_cert}"\n'
        f'client_key_path = "{pki.client_key}"\n'
    )

    target = temporal_target(
        settings(
            temporal_config_file=config,
            temporal_profile="prod",
            temporal_tls_ca=pki.ca,
            temporal_tls_server_name=SERVER_NAME,
        ),
        environ={},
    )

    assert (target.address, target.namespace) == ("prod.example:7233", "prod")
    assert isinstance(target.tls, TLSConfig)
    assert target.tls.server_root_ca_cert == pki.ca.read_bytes()
    assert target.tls.client_cert == pki.client_cert.read_bytes()
    assert target.tls.domain == SERVER_NAME
    assert "mTLS" in target.describe()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"temporal_profile": "missing"}, "Profile 'missing' not found"),
        ({"temporal_tls_ca": Path("/nowhere/ca.pem")}, "cannot read SIMOPS_TEMPORAL_TLS_CA"),
        ({"temporal_tls_cert": Path("/nowhere/c.pem")}, "SIMOPS_TEMPORAL_TLS_KEY"),
    ],
)
def test_a_configuration_that_cannot_work_is_one_clear_error(
    fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(TemporalSetupError, match=words.replace("(", r"\(")):
        temporal_target(settings(**fields), environ={})


async def test_a_worker_runs_a_campaign_through_an_mtls_frontend(
    frontend: str, pki: Pki, emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(seed_sims=12, scheduled_delay=(0.05, 0.1))
    client = await connect(settings(**mtls(pki, frontend)))
    async with local_stack(client, emulator, campaign_dir=tmp_path / "campaigns") as stack:
        spec = CampaignSpec(
            campaign_id="over-mtls",
            action=CampaignAction.READY,
            fleet=emulator.parent.fleets[0],
            source=CampaignSource(status=SimStatus.NEW),
            batch_size=5,
        )
        result = await (await start_campaign(client, stack.settings, spec, None)).result()

    assert result.phase == CampaignPhase.COMPLETED
    assert result.counts.get("converged") == 12


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("wrong_ca", "the server's certificate is not trusted"),
        ("no_client_cert", "set SIMOPS_TEMPORAL_TLS_CERT and SIMOPS_TEMPORAL_TLS_KEY"),
    ],
)
async def test_a_rejected_tls_connection_is_one_line_from_the_cli(
    frontend: str, pki: Pki, change: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fields = mtls(pki, frontend)
    if change == "wrong_ca":
        fields["temporal_tls_ca"] = pki.other_ca
    else:
        del fields["temporal_tls_cert"], fields["temporal_tls_key"]

    with pytest.raises(typer.Exit):
        await connect_temporal(settings(**fields))

    error = capsys.readouterr().err
    assert error.startswith(f"error: cannot connect to Temporal at {frontend}")
    assert words in error
    assert error.count("\n") == 1 and "Traceback" not in error


async def test_a_worker_stops_at_once_on_a_certificate_it_cannot_trust(
    frontend: str, pki: Pki, emulator_factory: Any
) -> None:
    emulator = await emulator_factory()
    wrong = emulator_settings(emulator, **mtls(pki, frontend, temporal_tls_ca=pki.other_ca))

    with pytest.raises(TemporalSetupError, match="not trusted"):
        await asyncio.wait_for(connect_when_up(wrong, asyncio.Event()), timeout=30)
