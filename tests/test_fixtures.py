"""The suite's own fixtures keep their promise: every test starts from a fresh database at the newest migration."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from slipway.db import dispose_engines, get_engine, session_scope
from slipway.migrate import alembic_config
from slipway.models import Project
from slipway.projects import ProjectSpec, create_project
from slipway.settings import set_settings
from tests.support.databases import postgres_url


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_tests_sqlite_database_is_at_the_newest_migration_and_empty(settings):
    with get_engine(settings).connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head()
        assert conn.execute(text("SELECT count(*) FROM projects")).scalar() == 0


def test_a_postgres_schema_given_back_comes_again_empty_with_its_sequences_restarted(postgres_schemas, settings):
    from dataclasses import replace

    schema = postgres_schemas.take()
    s = replace(settings, database_url=postgres_url(schema))
    set_settings(s)
    with session_scope() as session:
        create_project(session, ProjectSpec(name="first", repo_url="https://example.com/a.git"))
    dispose_engines()
    postgres_schemas.give_back(schema)

    again = postgres_schemas.take()
    assert again == schema
    with session_scope() as session:
        assert session.scalars(select(Project)).all() == []
        project = create_project(session, ProjectSpec(name="second", repo_url="https://example.com/b.git"))
        session.flush()
        assert project.id == 1
    with get_engine(s).connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head()
    dispose_engines()
    set_settings(settings)
    postgres_schemas.give_back(again)
