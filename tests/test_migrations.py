"""Migrations build exactly the schema the models describe, and upgrade a database with data in it."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from slipway.migrate import alembic_config
from slipway.models import Base

pytestmark = pytest.mark.both_databases


def test_migrations_match_the_models(settings):
    from slipway.db import get_engine

    with get_engine(settings).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_upgrade_from_the_first_revision_keeps_rows(tmp_path):
    from alembic import command

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO projects (name, repo_url, branch, dockerfile, build_context, target, "
                          "health_path, created_at) VALUES ('old', 'u', 'main', 'Dockerfile', '.', 'local', '/', "
                          "CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO deployments (project_id, sha, branch, trigger, state, created_at, updated_at) "
                          "VALUES (1, 'abc', 'main', 'push', 'live', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        row = conn.execute(text("SELECT previews_enabled, fork_previews FROM projects")).one()
        assert tuple(row) == (1, "collaborators")
        assert conn.execute(text("SELECT environment FROM deployments")).scalar() == "production"
