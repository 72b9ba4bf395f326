"""Opening a store: the engine, the schema at this himo's version, clear errors for the rest.

The first use of a store creates or upgrades its schema with Alembic (under a lock, so two
processes starting at once migrate once). A store written by a newer himo is refused.
SQLite runs in WAL mode with a busy timeout and takes its write lock when a transaction
begins (BEGIN IMMEDIATE), so several writers wait their turn instead of failing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from himo.errors import MetaError, MetaUnreachableError
from himo.meta.lite import BUSY_TIMEOUT_S, sqlite_error

if TYPE_CHECKING:
    from himo.meta.statements import SessionSql

PG_MIGRATION_LOCK = 0x68696D6F  # "himo": the advisory lock taken while migrating


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return url


URL_FORMS = "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"


def check_url(url: str, source: str = "meta.url") -> sa.URL:
    """The store URL parsed, or MetaError naming `source` (meta.url, HIMO_META_URL ...) and the forms."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise MetaError(f"{source} {url!r} is not a database URL", URL_FORMS) from error
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise MetaError(f"{source} {redact(url)!r}: unsupported database {parsed.get_backend_name()!r}",
                        f"{URL_FORMS} (SQLite or PostgreSQL)")
    return parsed


class Store:
    def __init__(self, url: str, source: str = "meta.url") -> None:
        """source: where `url` came from, named by errors (meta.url, HIMO_META_URL, --meta-url)."""
        self.url = check_url(url, source)
        self.source = source
        self.name = redact(url)

    @cached_property
    def engine(self) -> Engine:
        if self.url.get_backend_name() == "sqlite":
            return _sqlite_engine(self.url)
        if self.url.drivername == "postgresql":  # psycopg 3 is the driver we ship
            self.url = self.url.set(drivername="postgresql+psycopg")
        try:
            return sa.create_engine(self.url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
        except ModuleNotFoundError as error:
            raise MetaError(f"no driver for {self.name}: {error}", "pip install 'psycopg[binary]'") from error

    def open(self) -> Store:
        """Connect and bring the schema to this himo's version; errors say how to recover."""
        with self.errors():
            if not self._schema_is_current():
                from himo.meta.migrate import ensure_schema

                ensure_schema(self.writer, self.name)
        return self

    def _schema_is_current(self) -> bool:
        """One SELECT: the common case needs no Alembic (whose import alone costs ~0.1 s)."""
        from himo.meta.migrations import HEAD

        with self.engine.connect() as connection:
            try:
                found = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
            except exc.ProgrammingError:  # PostgreSQL: no such table yet (a new store)
                return False
            except exc.OperationalError as error:  # SQLite says "no such table" this way
                if "no such table" in str(error):
                    return False
                raise
        return found == [HEAD]

    @cached_property
    def writer(self) -> Engine:
        """The engine for write transactions (SQLite: they take the write lock when they begin)."""
        return self.engine.execution_options(himo_write=True)

    @contextlib.contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """One transaction: committed at the end, rolled back on any error."""
        with self.errors(), Session(self.writer if write else self.engine) as session, session.begin():
            yield session

    @contextlib.contextmanager
    def reads(self) -> Iterator[SessionSql]:
        """One read transaction, as a himo.meta.queries.Sql (himo.meta.lite.LiteStore's twin)."""
        from himo.meta.statements import on

        with self.session() as session:
            yield on(session)

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Database errors as MetaError: unreachable, corrupt, or otherwise unusable."""
        try:
            yield
        except exc.OperationalError as error:
            if self.url.get_backend_name() == "sqlite":
                raise self._sqlite_error(error) from error
            raise MetaUnreachableError(
                f"cannot reach the metadata store {self.name}: {_first_line(error)}",
                f"start the database server or fix {self.source}; records wait in .himo/journal/",
            ) from error
        except exc.DatabaseError as error:
            if self.url.get_backend_name() == "sqlite":
                raise self._sqlite_error(error) from error
            raise MetaError(f"metadata store {self.name}: {_first_line(error)}") from error

    def _sqlite_error(self, error: exc.DBAPIError) -> MetaError:
        return sqlite_error(self.url.database or "", _first_line(error))

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def _sqlite_engine(url: sa.URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "isolation_level": None})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it consistent
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):  # type: ignore[no-untyped-def]
        # Writers take the lock now, not mid-transaction (which could fail instead of waiting).
        write = connection.get_execution_options().get("himo_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _first_line(error: Exception) -> str:
    orig = getattr(error, "orig", None) or error
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__
