"""Configuration: one pydantic-settings class read from ``SMSLEDGER_*`` variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./smsledger.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMSLEDGER_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    operator_token: str | None = None
    gateway: Literal["simulator", "none"] = "simulator"
    workers: Literal["inprocess", "none"] = "inprocess"

    max_parts: int = Field(default=10, ge=1, le=255)
    max_recipients: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    expiry_grace_seconds: int = Field(default=3600, ge=0)
    sweep_interval_seconds: float = Field(default=30.0, gt=0)
    simulator_seed: int = 42
    simulator_speed: float = Field(default=1.0, gt=0)
    price_list: str | None = None
    log_level: str = "INFO"

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite:")
