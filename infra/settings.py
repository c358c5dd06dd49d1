"""All configuration, in one validated model; nothing else reads the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105
DEV_CIPHER_KEY = "ZGV2LW9ubHktY2lwaGVyLWtleS0zMi1ieXRlcyEhISE="


class AuthSettings(BaseModel):
    jwt_secret: SecretStr = SecretStr(DEV_SECRET)
    jwt_issuer: str = "mcps.one"
    jwt_audience: str = "mcps-api"
    access_token_ttl_seconds: int = 900
    platform_admins: list[str] = Field(default_factory=list)
    #: How long an API process reuses what a bearer token speaks for, and a user's tenants,
    #: before reading them again: an ended session, a revoked token or a removed member is
    #: refused within this time by every other API process (at once by the one that did it).
    cache_seconds: float = 0.5


class RuntimeSettings(BaseModel):
    #: Hosts a remote MCP server may live on although they resolve to internal addresses.
    allowed_hosts: list[str] = Field(default_factory=list)
    #: Commands a process runtime may run without a package (operator-vetted, full paths).
    commands: list[str] = Field(default_factory=list)


class GatewaySettings(BaseModel):
    #: Per API token: sustained calls per second and the burst above it.
    token_rate_per_second: float = 100.0
    token_burst: int = 200
    #: Overrides the plan's tenant rate (calls/s) for every plan, e.g. for load tests.
    tenant_rate_per_second: float | None = None
    tenant_burst: int | None = None
    #: How long one tool call may take upstream before it is abandoned.
    call_timeout_seconds: float = 30.0
    #: How long a resolved token, and a tenant's routing table, are reused before re-reading.
    #: A revoked token stops working within this time on every API process.
    cache_seconds: float = 0.5


class AutoscalingSettings(BaseModel):
    #: How often each API process samples its calls in flight, and publishes their average
    #: (and peak) since the last publication; a publication counts for `signal_ttl_seconds`.
    sample_seconds: float = 0.1
    publish_seconds: float = 1.0
    signal_ttl_seconds: float = 5.0
    #: How often the scaler (in the leading deployer) looks at the load.
    interval_seconds: float = 1.0
    #: How long the load must ask for fewer replicas before they are let go, and the least
    #: time between two decisions.
    stabilisation_seconds: float = 60.0
    cooldown_seconds: float = 10.0


class MailSettings(BaseModel):
    smtp_host: str | None = None
    smtp_port: int = 25
    sender: str = "MCPS.ONE <no-reply@mcps.one>"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MCPS_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    environment: Literal["development", "test", "production"] = "development"
    home: Path = Field(default_factory=lambda: Path.home() / ".mcps")
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, validation_alias="PORT")

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    kafka_bootstrap_servers: str | None = Field(
        default=None, validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    #: `redis://host:port/db`, or `unix:///path/redis.sock?db=N` for a Redis on this host
    #: (as `DATABASE_URL` may name a socket folder: `postgresql://user:pw@/db?host=/run/pg`).
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    clickhouse_url: str | None = Field(default=None, validation_alias="CLICKHOUSE_URL")
    #: The ClickHouse database holding usage, activity and logs (one per installation).
    clickhouse_database: str = "mcps"

    app_db_password: SecretStr = SecretStr("mcps-app-dev")
    cipher_key: SecretStr = SecretStr(DEV_CIPHER_KEY)
    postgres_lock_timeout_seconds: int = 5
    postgres_pool_size: int = 8
    kafka_topic_prefix: str = "mcps"
    kafka_partitions: int = 4
    wait_for_timeout_seconds: float = 5.0
    projection_batch_size: int = 1000

    auth: AuthSettings = Field(default_factory=AuthSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    autoscaling: AutoscalingSettings = Field(default_factory=AutoscalingSettings)

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            for name, value in (
                ("MCPS_AUTH__JWT_SECRET", self.auth.jwt_secret),
                ("MCPS_CIPHER_KEY", self.cipher_key),
                ("MCPS_APP_DB_PASSWORD", self.app_db_password),
            ):
                if value.get_secret_value() in (DEV_SECRET, DEV_CIPHER_KEY, "mcps-app-dev"):
                    raise ValueError(f"{name} must be set to a real secret in production")
        return self

    @property
    def mail_dir(self) -> Path:
        return self.home / "mail"

    @property
    def distributed(self) -> bool:
        return self.kafka_bootstrap_servers is not None
