"""Configuration of every simops process, from the environment or `./.simops/env`.

Environment variables win; `./.simops/env` (written by `simops dev`) fills what they leave unset.
Nothing in simops reads configuration anywhere else, so tests build a `SimopsSettings` directly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from simops.contract import TASK_QUEUE
from simops.runtime.codec import parse_payload_key
from simops.runtime.env_file import read_env_file
from simops.runtime.tokens import ApiToken, check_token, parse_api_tokens
from simops.runtime.webhook_rules import webhook_secret_problem, webhook_url_problem

KORE_API_URL = "https://supersim.api.korewireless.com/v1"
KORE_TOKEN_URL = "https://api.korewireless.com/api-services/v1/auth/token"
SETTINGS_DIR = Path(".simops")
ENV_FILE = SETTINGS_DIR / "env"

# pydantic-settings also hands the env file to python-dotenv, whose reading is then unused
# (`ShellEnvFileSource` replaces it): its complaints about valid sh it cannot parse are noise.
logging.getLogger("dotenv.main").setLevel(logging.ERROR)


class ShellEnvFileSource(DotEnvSettingsSource):
    """The env file source of pydantic-settings, reading the file in sh syntax.

    python-dotenv, which pydantic-settings uses, does not read every value sh does (a `'` in a
    single-quoted value, as `'it'\\''s'`); simops' own reader reads what `simops dev` writes.
    """

    def _read_env_file(self, file_path: Path) -> Mapping[str, str | None]:
        return parse_env_vars(
            dict(read_env_file(file_path)),
            self.case_sensitive,
            self.env_ignore_empty,
            self.env_parse_none_str,
        )


class SimopsSettings(BaseSettings):
    """Every setting simops reads; each is documented in docs/configuration.md, those of
    metrics, health, logs, tracing and the codec server in docs/observing.md."""

    model_config = SettingsConfigDict(
        env_prefix="SIMOPS_",
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        # A validation error must not echo a value: most of these are credentials.
        hide_input_in_errors=True,
    )

    api_url: str = KORE_API_URL
    kore_client_id: str | None = None
    kore_client_secret: SecretStr | None = None
    kore_token_url: str = KORE_TOKEN_URL
    bearer_token: SecretStr | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    api_max_concurrency: int = Field(default=50, ge=1)
    api_max_rps: float = Field(default=100.0, gt=0)
    api_timeout_seconds: float = Field(default=30.0, gt=0)
    api_max_retries: int = Field(default=5, ge=0)
    api_max_rate_limit_retries: int = Field(default=10, ge=0)
    api_max_retry_after_seconds: float = Field(default=60.0, gt=0)
    api_backoff_base_seconds: float = Field(default=0.25, gt=0)
    api_backoff_max_seconds: float = Field(default=30.0, gt=0)
    account_rate: float | None = Field(default=None, gt=0)
    """The API budget (requests/s) of an account `simops accounts set-limit` gave none; unset:
    such an account has no budget, and each process keeps to `api_max_rps`."""
    account_concurrency: int | None = Field(default=None, ge=1)
    """Requests in flight of the default account budget (unset: only the rate divides)."""
    max_running_campaigns: int | None = Field(default=None, ge=1)
    """Campaigns (and migrations) that may run at once on one account; the rest wait, queued
    in start order (unset: no cap)."""
    kore_token_refresh_margin_seconds: float = Field(default=30.0, ge=0)

    temporal_address: str | None = None
    """Unset: the Temporal profile's address (`TEMPORAL_ADDRESS`), else `localhost:7233`."""
    temporal_namespace: str | None = None
    """Unset: the Temporal profile's namespace (`TEMPORAL_NAMESPACE`), else `default`."""
    temporal_envconfig: bool = True
    """Read Temporal's own client configuration (`temporal.toml` profiles, `TEMPORAL_*`
    variables) under these settings; `simops dev` turns it off so a shell set up for a
    production cluster still talks to the local dev server."""
    temporal_profile: str | None = None
    """The `temporal.toml` profile (`TEMPORAL_PROFILE`, else `default`)."""
    temporal_config_file: Path | None = None
    """The `temporal.toml` to read (`TEMPORAL_CONFIG_FILE`, else the user's config directory)."""
    temporal_tls: bool | None = None
    """Force TLS on or off; unset, it is on when any TLS setting or an API key is given."""
    temporal_tls_ca: Path | None = None
    """PEM of the CA that signed the frontend's certificate (unset: the system's roots)."""
    temporal_tls_cert: Path | None = None
    """PEM client certificate for mTLS, with `temporal_tls_key`."""
    temporal_tls_key: Path | None = None
    """PEM private key of `temporal_tls_cert`."""
    temporal_tls_server_name: str | None = None
    """The name the frontend's certificate carries, when not the address' host."""
    temporal_api_key: SecretStr | None = None
    """An API key (Temporal Cloud), sent as a bearer token over TLS."""
    task_queue: str = TASK_QUEUE
    callback_base_url: str | None = None
    callback_secret: SecretStr | None = None
    callback_host: str = "127.0.0.1"
    callback_port: int = Field(default=8788, ge=0, le=65535)
    kore_webhook_secret: SecretStr | None = None
    kore_webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    twilio_auth_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    callback_wait_seconds: float = Field(default=120.0, gt=0)
    operation_deadline_seconds: float = Field(default=86_400.0, gt=0)
    campaign_dir: Path = SETTINGS_DIR / "campaigns"
    database_url: SecretStr | None = None
    """`postgresql://…`: every campaign's store in this PostgreSQL database, shared by every
    worker and CLI that has the URL; unset: a SQLite file per campaign under `campaign_dir`."""
    payload_key: SecretStr | None = None
    ui_token: SecretStr | None = None
    """What the dashboard (`simops ui`) asks of every visitor; needed to bind past loopback."""
    api_tokens: Annotated[list[ApiToken], NoDecode] = Field(default_factory=list)
    """The JSON API's bearer tokens (`simops serve`): `name:scope:token`, comma-separated."""
    payload_old_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    graceful_shutdown_seconds: float = Field(default=30.0, ge=0)
    store_idle_seconds: float = Field(default=60.0, gt=0)
    """A worker closes a campaign's store (connection, thread, page cache) once none of its
    activities used it for this long; the next one opens it again."""
    log_format: Literal["text", "json"] = "text"
    tracing: bool = False
    codec_token: SecretStr | None = None
    codec_cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:8233", "http://127.0.0.1:8233"]
    )
    notify_secret: SecretStr | None = None
    """The Standard Webhooks secret (`whsec_` and base64) that signs every webhook."""
    notify_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Webhook receivers of every campaign's events (comma-separated), besides its `--notify`;
    declared after the secret, which they need."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual sources, in the usual order, with `.simops/env` read in sh syntax."""
        assert isinstance(dotenv_settings, DotEnvSettingsSource)  # what pydantic-settings passes
        return (
            init_settings,
            env_settings,
            ShellEnvFileSource(settings_cls, env_file=dotenv_settings.env_file),
            file_secret_settings,
        )

    @field_validator("payload_old_keys", "codec_cors_origins", "notify_urls", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        # Comma-separated in the environment: neither base64 keys nor origins hold a comma (a
        # webhook URL writes one as %2C), and JSON is clumsy here.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("payload_key", "payload_old_keys")
    @classmethod
    def _check_payload_keys(
        cls, value: SecretStr | list[SecretStr] | None
    ) -> SecretStr | list[SecretStr] | None:
        keys = value if isinstance(value, list) else [value]
        for key in keys:
            if key is not None:
                parse_payload_key(key.get_secret_value())
        return value

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _parse_api_tokens(cls, value: object) -> object:
        return parse_api_tokens(value) if isinstance(value, str) else value

    @field_validator("ui_token", "codec_token")
    @classmethod
    def _check_single_token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # Refused here, not where each is used, so that every process refuses at start-up.
        if value is not None:
            check_token(f"SIMOPS_{str(info.field_name).upper()}", value.get_secret_value())
        return value

    @field_validator("notify_secret")
    @classmethod
    def _check_notify_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        # Refused at start-up: a blank or short secret would sign webhooks anyone can forge.
        if secret is not None:
            problem = webhook_secret_problem(secret.get_secret_value())
            if problem is not None:
                raise ValueError(f"the webhook secret {problem}")
        return secret

    @field_validator("notify_urls")
    @classmethod
    def _check_notify_urls(cls, urls: list[str], info: ValidationInfo) -> list[str]:
        for url in urls:
            problem = webhook_url_problem(url)
            if problem is not None:
                raise ValueError(problem)
        if urls and info.data.get("notify_secret") is None:
            raise ValueError(
                "needs SIMOPS_NOTIFY_SECRET (a Standard Webhooks secret, whsec_ and base64): "
                "simops sends no unsigned webhook"
            )
        return urls

    def webhook_secret_for(self, account_sid: str | None) -> str | None:
        """The KORE webhook secret that signs callbacks for `account_sid`, if one is configured."""
        secret = self.kore_webhook_secrets.get(account_sid or "") or self.kore_webhook_secret
        return secret.get_secret_value() if secret is not None else None

    def twilio_auth_token_for(self, account_sid: str | None) -> str | None:
        """The Auth Token that signs Twilio-style callbacks for `account_sid`, if configured."""
        token = self.twilio_auth_tokens.get(account_sid or "")
        if token is None and account_sid is not None and account_sid == self.twilio_account_sid:
            token = self.twilio_auth_token
        return token.get_secret_value() if token is not None else None
