"""Schema versions with Alembic: create or upgrade on first use; refuse a newer store."""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine

from himo.errors import MetaError
from himo.meta.store import PG_MIGRATION_LOCK


@cache
def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "himo.meta:migrations")
    return config


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head() or ""


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def ensure_schema(engine: Engine, name: str) -> str | None:
    """Bring the store to this himo's schema; the revision it had before (None: new store)."""
    with engine.connect() as connection:
        found = current(connection)
        connection.rollback()
    if found == head():
        return found
    with engine.begin() as connection:  # SQLite: BEGIN IMMEDIATE serializes this
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        found = current(connection)
        _check_known(found, name)
        if found != head():
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    return found


def _check_known(revision: str | None, name: str) -> None:
    if revision is None:
        return
    script = ScriptDirectory.from_config(_config())
    try:
        known = script.get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for an unknown revision id
        known = False
    if not known:
        raise MetaError(
            f"the metadata store {name} has schema version {revision}, newer than this himo "
            f"knows (up to {head()})",
            "upgrade himo (pip install -U himo), or point meta.url at another store",
        )
