"""Configuration: one pydantic-settings class read from ``SMSLEDGER_*`` variables.

Every field is read by the composition root (``smsledger.bootstrap``) or an entrypoint;
``docs/configuration.md`` lists them with what each one does.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smsledger.domain.numbers import DEFAULT_NUMBER_RANGE, NumberRange
from smsledger.domain.sending import MAX_RECIPIENTS

DEFAULT_DATABASE_URL = "sqlite:///./smsledger.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMSLEDGER_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    read_database_url: str | None = Field(
        default=None,
        description="A PostgreSQL hot standby of the database for the API's projected "
        "reads (docs/deployment.md); unset: reads go to the database.",
    )
    operator_token: str | None = None
    metrics_token: SecretStr | None = Field(
        default=None,
        description="A bearer token that reads /metrics only (for a scraper); never logged.",
    )
    gateway: Literal["simulator", "none"] = "simulator"
    workers: Literal["inprocess", "none"] = "inprocess"

    max_parts: int = Field(default=10, ge=1, le=255)
    max_recipients: int = Field(default=MAX_RECIPIENTS, ge=1, le=MAX_RECIPIENTS)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    expiry_grace_seconds: int = Field(default=3600, ge=0)
    sweep_interval_seconds: float = Field(default=30.0, gt=0)
    invoice_grace_seconds: int = Field(
        default=3600,
        ge=0,
        le=31 * 86400,
        description="How long after a month ends (in the account's time zone) its invoice "
        "is issued: time for late reports to land on it.",
    )
    price_list: str | None = Field(
        default=None, description="A JSON price list file instead of the packaged one."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The service's address as people reach it: the base of emailed links.",
    )
    smtp_url: str | None = Field(
        default=None,
        description="smtp://host:port to send mail through; unset: mail goes to the log "
        "(and stays in the outbox table).",
    )
    mail_from: str = "smsledger <no-reply@smsledger.invalid>"
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)

    virtual_numbers: str = Field(
        default=DEFAULT_NUMBER_RANGE,
        description="The range a virtual number add-on ordered without a number is given "
        "one from, FIRST-LAST in E.164; default: the simulator's own 95 numbers.",
    )

    simulator_seed: int = 42
    simulator_speed: float = Field(default=1.0, gt=0)
    simulator_mix: str = Field(default="", description="e.g. 'delivered=1,gateway_failure=0'")
    simulator_faults: str = Field(default="", description="e.g. 'duplicate=0,out_of_order=0'")
    simulator_submit_latency: float = Field(default=0.0, ge=0)
    simulator_replies: str = Field(
        default="",
        description="How often a delivered message's recipient texts back to the account's "
        "virtual number, e.g. 'stop=0.01,save=0.01' (the default); 'stop=0,save=0' is off.",
    )

    # Status callbacks (smsledger.workers.webhooks).
    webhook_allow_loopback: bool = Field(
        default=False,
        description="Let callbacks target loopback and private addresses (tests, one host).",
    )
    webhook_key: SecretStr | None = Field(
        default=None,
        description=(
            "The key webhook secrets are derived from (32+ characters). Unset: one is "
            "generated and kept in the database, beside the data it protects."
        ),
        min_length=32,
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=4, ge=1, le=64, description="Per endpoint.")
    webhook_lease_seconds: float = Field(
        default=60.0, gt=0, description="How long a claimed callback is left to its sender."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("virtual_numbers")
    @classmethod
    def _number_range(cls, value: str) -> str:
        NumberRange.parse(value)  # ValueError: the service refuses to start
        return value
