"""Connecting to Temporal the one way every simops process does: same converter, same namespace.

Where and how to connect comes from Temporal's own client configuration (a `temporal.toml`
profile and the `TEMPORAL_*` variables, as the `temporal` CLI reads them), then the
`SIMOPS_TEMPORAL_*` settings on top, so a machine already set up for the CLI needs nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import TLSConfig

from simops.runtime.codec import EncryptionCodec
from simops.runtime.settings import SimopsSettings

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 0.5
LONGEST_RETRY_SECONDS = 15.0
DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
# Words of the SDK's connect errors that say the certificates, not the network, are wrong:
# waiting will not fix those.
CERTIFICATE_ERRORS = ("InvalidCertificate", "certificate", "UnknownIssuer", "NotValidForName")


class TemporalSetupError(Exception):
    """The Temporal connection is misconfigured (an unreadable file, an unknown profile, a
    certificate the server rejects): one line a person can act on."""


@dataclasses.dataclass(frozen=True)
class TemporalTarget:
    """Where and how to reach Temporal, once every source of configuration is merged."""

    address: str
    namespace: str
    tls: bool | TLSConfig
    api_key: str | None = None
    rpc_metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def describe(self) -> str:
        """`address` (namespace), and how the connection is secured, for messages."""
        how = "TLS" if self.tls else "plaintext"
        if isinstance(self.tls, TLSConfig) and self.tls.client_cert:
            how = "mTLS"
        if self.api_key:
            how += " + API key"
        return f"{self.address} (namespace {self.namespace}, {how})"


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TemporalSetupError(f"cannot read {setting} ({path}): {error.strerror}") from None


def _profile(settings: SimopsSettings, environ: Mapping[str, str] | None) -> ClientConfigProfile:
    if not settings.temporal_envconfig:
        return ClientConfigProfile()
    try:
        return ClientConfigProfile.load(
            profile=settings.temporal_profile,
            config_source=settings.temporal_config_file,
            override_env_vars=environ,
        )
    except RuntimeError as error:  # the SDK's ConfigError: no such profile, bad TOML
        raise TemporalSetupError(f"Temporal client configuration: {error}") from None


def _tls(
    settings: SimopsSettings, profile: ClientConfigProfile, api_key: str | None
) -> bool | TLSConfig:
    ours = (
        settings.temporal_tls_ca,
        settings.temporal_tls_cert,
        settings.temporal_tls_key,
        settings.temporal_tls_server_name,
    )
    enabled = settings.temporal_tls
    if enabled is None:
        from_profile = profile.tls is not None and profile.tls.disabled is not True
        enabled = any(value is not None for value in ours) or from_profile or api_key is not None
    if not enabled:
        return False
    base = TLSConfig()
    if profile.tls is not None and profile.tls.disabled is not True:
        try:
            converted = profile.tls.to_connect_tls_config()
        except OSError as error:
            raise TemporalSetupError(
                f"cannot read a TLS file of the Temporal profile: {error}"
            ) from None
        base = converted if isinstance(converted, TLSConfig) else base
    if (settings.temporal_tls_cert is None) != (settings.temporal_tls_key is None):
        raise TemporalSetupError(
            "set both SIMOPS_TEMPORAL_TLS_CERT and SIMOPS_TEMPORAL_TLS_KEY, or neither"
        )
    ca, cert, key, server_name = ours
    return dataclasses.replace(
        base,
        server_root_ca_cert=_read(ca, "SIMOPS_TEMPORAL_TLS_CA") if ca else base.server_root_ca_cert,
        client_cert=_read(cert, "SIMOPS_TEMPORAL_TLS_CERT") if cert else base.client_cert,
        client_private_key=(
            _read(key, "SIMOPS_TEMPORAL_TLS_KEY") if key else base.client_private_key
        ),
        domain=server_name or base.domain,
    )


def temporal_target(
    settings: SimopsSettings, environ: Mapping[str, str] | None = None
) -> TemporalTarget:
    """The Temporal profile (`temporal.toml`, `TEMPORAL_*` from `environ`, default this
    process's environment) with every `SIMOPS_TEMPORAL_*` setting that is set on top."""
    profile = _profile(settings, environ)
    api_key = (
        settings.temporal_api_key.get_secret_value()
        if settings.temporal_api_key is not None
        else profile.api_key
    )
    return TemporalTarget(
        address=settings.temporal_address or profile.address or DEFAULT_ADDRESS,
        namespace=settings.temporal_namespace or profile.namespace or DEFAULT_NAMESPACE,
        tls=_tls(settings, profile, api_key),
        api_key=api_key,
        rpc_metadata=profile.grpc_meta,
    )


def connect_error_message(target: TemporalTarget, error: RuntimeError) -> str:
    """One line on a failed connect, "Temporal at …: reason", with what to check when TLS is
    on; callers put "waiting for" or "cannot connect to" before it."""
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    message = f"Temporal at {target.describe()}: {reason}"
    if isinstance(target.tls, TLSConfig):
        if any(word in reason for word in CERTIFICATE_ERRORS):
            message += (
                "; the server's certificate is not trusted: check SIMOPS_TEMPORAL_TLS_CA and "
                "SIMOPS_TEMPORAL_TLS_SERVER_NAME"
            )
        elif target.tls.client_cert is None and target.api_key is None:
            message += (
                "; if the server requires a client certificate, set SIMOPS_TEMPORAL_TLS_CERT "
                "and SIMOPS_TEMPORAL_TLS_KEY"
            )
    return message


def is_certificate_error(error: RuntimeError) -> bool:
    """Whether a connect failed on a certificate: a configuration error, not a server down."""
    return any(word in str(error) for word in CERTIFICATE_ERRORS)


def data_converter(settings: SimopsSettings) -> DataConverter:
    """The pydantic converter, encrypting every payload when `SIMOPS_PAYLOAD_KEY` is set.

    With the key set, failure messages and stack traces move into an encrypted payload too:
    they may name what a payload holds. Every process (workers, ingress, CLI) must use the same
    converter, or one cannot read what another wrote.
    """
    if settings.payload_key is None:
        return pydantic_data_converter
    codec = EncryptionCodec.from_keys(
        settings.payload_key.get_secret_value(),
        [old.get_secret_value() for old in settings.payload_old_keys],
    )
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(
    settings: SimopsSettings,
    target: TemporalTarget | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """A Temporal client for `target` (default: the configured one), with simops' converter
    and the caller's `interceptors` (a worker built on the client uses them too).

    The caller passes tracing's (`observability.tracing.client_interceptors`): every process
    shares this module, which sits below observability.
    """
    target = target or temporal_target(settings)
    return await Client.connect(
        target.address,
        namespace=target.namespace,
        api_key=target.api_key,
        tls=target.tls,
        rpc_metadata=target.rpc_metadata,
        data_converter=data_converter(settings),
        interceptors=interceptors,
    )


async def connect_when_up(
    settings: SimopsSettings, stop: asyncio.Event, interceptors: Sequence[Interceptor] = ()
) -> Client | None:
    """A Temporal client once Temporal answers, or `None` if `stop` is set first.

    Long-running processes start in any order (a container's worker often before the cluster
    answers), so each failed attempt is one log line and a growing pause, not a traceback.
    A certificate the server rejects (or we reject) will not heal by waiting: it raises
    `TemporalSetupError`, as does a configuration that cannot be read.
    """
    target = temporal_target(settings)
    delay = FIRST_RETRY_SECONDS
    while not stop.is_set():
        try:
            return await connect(settings, target, interceptors)
        except RuntimeError as error:
            message = connect_error_message(target, error)
            if is_certificate_error(error):
                raise TemporalSetupError(f"cannot connect to {message}") from None
            log.warning("waiting for %s; retrying in %.1f s", message, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        delay = min(delay * 2, LONGEST_RETRY_SECONDS)
    return None
