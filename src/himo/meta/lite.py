"""Reading a SQLite store with the standard library alone, so read commands start fast.

`himo runs` and `himo lineage` spent ~70 % of their time importing SQLAlchemy (and its ORM,
and the mapped schema) for a few SELECTs. `LiteStore` runs those SELECTs on sqlite3: the very
text SQLAlchemy compiles for SQLite from himo/meta/statements.py (kept in sqlite_sql.py), with
the conversions SQLAlchemy's SQLite types do (times stored as text, JSON as text, booleans as
0/1), so `himo.meta.queries` gets the same rows either way (tests/meta/test_lite.py). It is a
`queries.Sql`; anything else a reader asks of it (the other reads, a journal delivery) goes to
the SQLAlchemy Store, opened on first use.

Used only when it is safe: a `sqlite:///PATH` URL, the file exists, and its schema is the one
this himo writes (the alembic revision is HEAD); otherwise `open` says None and the caller opens
the SQLAlchemy Store, which creates, upgrades or refuses the store and says why.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from himo.errors import MetaError
from himo.meta.migrations import HEAD

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from himo.meta.store import Store

BUSY_TIMEOUT_S = 60
PREFIX = "sqlite:///"
POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_(\w+)\]")  # an IN-list SQLAlchemy expands at execution


def _time_text(value: datetime) -> str:
    """As SQLAlchemy stores a time in SQLite: always with microseconds, so text order is time order."""
    return value.isoformat(" ", "microseconds")


# Conversion codes of sqlite_sql.py: what a value becomes, read (RESULT) or bound (BIND).
RESULT: dict[str, Callable[[Any], Any]] = {"t": datetime.fromisoformat, "j": json.loads, "b": bool}
BIND: dict[str, Callable[[Any], Any]] = {"t": _time_text, "j": json.dumps, "b": int}


def sqlite_path(url: str) -> str | None:
    """The file of a plain `sqlite:///PATH` URL; None for anything SQLAlchemy should interpret
    (another driver, options, escapes, an in-memory database)."""
    if not url.startswith(PREFIX):
        return None
    path = url[len(PREFIX):]
    return path if path and path != ":memory:" and not any(c in path for c in "?%#") else None


def sqlite_error(path: str, text: str) -> MetaError:
    """A SQLite error as the user needs it: corrupt (how to recover), locked, or unusable."""
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return MetaError(
            f"the metadata store {path} is corrupt ({text})",
            f"move it aside (mv {path} {path}.broken) and run `himo meta sync`: a new store is made; "
            "history before is lost unless restored from a backup; pipeline files, cache and "
            "himo.lock are untouched",
        )
    if "locked" in text:
        return MetaError(f"the metadata store {path} stayed locked for {BUSY_TIMEOUT_S} s",
                         "another himo process is writing it; retry")
    return MetaError(f"cannot use the metadata store {path}: {text}",
                     "check that its folder exists and is writable")


class LiteStore:
    """A SQLite store's reads on sqlite3 (`reads()`); its sessions from the SQLAlchemy Store."""

    def __init__(self, url: str, path: str, source: str, connection: sqlite3.Connection) -> None:
        self.url, self.path, self.source = url, path, source
        self.name = url  # a SQLite URL has no password to hide
        self._connection = connection
        self._lock = threading.Lock()  # one connection: one read at a time
        self._rows: dict[str, type[Row]] = {}

    @classmethod
    def open(cls, url: str, source: str = "meta.url") -> LiteStore | None:
        """The store at `url` read with sqlite3, or None when the SQLAlchemy Store must open it."""
        from himo.meta.sqlite_sql import HEAD as COMPILED_FOR

        path = sqlite_path(url)
        if path is None or COMPILED_FOR != HEAD or not Path(path).is_file():
            return None
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                     check_same_thread=False)
        try:
            found = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
        except sqlite3.Error:  # no schema yet, not a database ...: the Store creates it or says why
            found = []
        if found != [HEAD]:  # an older schema (the Store upgrades it) or a newer one (it refuses)
            connection.close()
            return None
        return cls(url, path, source, connection)

    @contextlib.contextmanager
    def reads(self) -> Iterator[LiteStore]:
        """One read transaction (a consistent snapshot) for the block; self is its queries.Sql."""
        with self._lock, self.errors():
            self._connection.execute("BEGIN")
            try:
                yield self
            finally:
                self._connection.execute("ROLLBACK")  # it wrote nothing

    def rows(self, name: str, params: dict[str, Any], /, **options: Any) -> list[Any]:
        """queries.Sql: the statement's compiled text, its parameters bound, its columns converted."""
        from himo.meta.queries import key
        from himo.meta.sqlite_sql import STATEMENTS

        variant = key(name, options)
        sql, columns, codes, fixed, binds = STATEMENTS[variant]
        values = {**fixed, **params}
        for param, code in binds.items():
            if values.get(param) is not None:
                values[param] = BIND[code](values[param])
        sql = POSTCOMPILE.sub(lambda m: _expand(values, m.group(1)), sql)
        convert = [(i, RESULT[code]) for i, code in enumerate(codes) if code != "-"]
        row = self._row_type(variant, columns)
        found = []
        for raw in self._connection.execute(sql, values):
            if convert:
                raw = list(raw)
                for i, to in convert:
                    if raw[i] is not None:
                        raw[i] = to(raw[i])
            found.append(row(raw))
        return found

    def _row_type(self, variant: str, columns: tuple[str, ...]) -> type[Row]:
        if variant not in self._rows:
            names = {name: i for i, name in reversed(list(enumerate(columns)))}  # the first of a name
            self._rows[variant] = type("Row", (Row,), {"__slots__": (), "_names": names})
        return self._rows[variant]

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as error:
            raise sqlite_error(self.path, str(error).strip().splitlines()[0]) from error

    @cached_property
    def store(self) -> Store:
        """The SQLAlchemy Store of the same file: for the reads not ported here, and deliveries."""
        from himo.meta.store import Store

        return Store(self.url, self.source).open()

    def session(self, write: bool = False) -> contextlib.AbstractContextManager[Session]:
        return self.store.session(write)

    def close(self) -> None:
        self._connection.close()
        if "store" in self.__dict__:
            self.store.close()


class Row(tuple):  # type: ignore[type-arg]
    """A row: a tuple whose items are also attributes by column name, as SQLAlchemy's rows."""

    __slots__ = ()
    _names: dict[str, int] = {}  # noqa: RUF012  (each statement's subclass sets its own)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._names[name]]
        except KeyError:
            raise AttributeError(name) from None


def _expand(values: dict[str, Any], name: str) -> str:
    """An IN-list's parameters, one per item (SQLAlchemy does the same at execution); the text may
    name a list more than once (a subquery used twice)."""
    items = values[name]
    if not items:
        return "NULL"  # IN (NULL) matches nothing, as an empty IN-list must
    for i, item in enumerate(items):
        values[f"{name}__{i}"] = item
    return ", ".join(f":{name}__{i}" for i in range(len(items)))
