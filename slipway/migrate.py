"""Apply Alembic migrations programmatically (``slipway db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from slipway.db import get_engine
from slipway.settings import Settings, get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(settings: Settings | None = None, revision: str = "heads") -> None:
    cfg = alembic_config()
    with get_engine(settings or get_settings()).begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
