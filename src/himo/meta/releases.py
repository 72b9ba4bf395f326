"""Releases and deliveries in the store: which artifact is live in which environment since when,
and every place an artifact's bytes were sent.

A release is an interval: `released_at` until `retired_at` (NULL while live). Each named model
(`name`, GTO's artifact name) has at most one live release per environment, so a team can run
several models in production. Releasing retires the live release of the same name in that
environment at the same instant, in one transaction that holds the name's lock (SQLite: the
write lock taken at BEGIN IMMEDIATE; PostgreSQL: an advisory lock on the name: the check that a
default name is not another path's reads every environment of the name), and the partial unique
index ux_release_live on (name, env) refuses a second live release should anything get past the
lock. ORM rows never leave this module: results are the frozen dataclasses of results.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from himo.errors import MetaError
from himo.meta.release_reads import default_name, release_row, releases_of, timeline, utcnow
from himo.meta.results import ArtifactInfo, LocationRow, ReleaseRow
from himo.meta.schema import Artifact, Event, Execution, Location, Release, dialect_insert
from himo.meta.statements import on, producer_first, release_columns
from himo.meta.store import Store

PRODUCED = ("succeeded", "cached")  # statuses of an execution whose outputs are real
NUMBERED = re.compile(r"v(\d+)(?:\.\d+\.\d+)?")  # versions `next_version` counts from: v3, v3.1.0
KNOWN = "already in the store"  # why `restore` passed over a tag whose release the store has
CHUNK = 500


@dataclass(frozen=True)
class NewRelease:
    """What to release: the artifact (created in the store if absent) and the release's facts."""

    digest: str
    size: int
    nfiles: int | None
    kind: str
    env: str
    path: str
    commit: str = ""
    version: str | None = None  # None: the next vN of the name in the env
    note: str = ""
    user: str = ""
    name: str = ""  # '': default_name(path), refused while the name's latest release is another path's


# -- writing --------------------------------------------------------------------------------


def lock_name(session: Session, name: str) -> None:
    """Serialize releases of the model `name` (every env) until the transaction ends. SQLite: a
    write session takes the database's write lock when its transaction begins, which
    `connection()` does now."""
    session.connection()
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.blake2b(f"himo-release:{name}".encode(), digest_size=8).digest(),
                             "big", signed=True)
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def release(session: Session, new: NewRelease, at: datetime | None = None) -> ReleaseRow:
    """Make the artifact live in `new.env` from `at` (now) as the model `new.name`, retiring the
    live release of that name there at that instant.

    MetaError if the version is already used for the name in that env, if this artifact is the
    live one already, or if a default name is another path's. Call in a write session; the
    caller may still fail the transaction (a git tag that exists) and nothing is kept.
    """
    name = new.name or default_name(new.path)
    lock_name(session, name)
    if not new.name:
        _check_name_is_this_paths(session, name, new.path)
    _refuse_live_again(session, name, new)
    scope = (Release.name == name, Release.env == new.env)
    latest = session.scalar(sa.select(sa.func.max(Release.released_at)).where(*scope))
    at = at or max(utcnow(), latest or datetime.min)  # a clock behind the last release's host: no earlier
    version = new.version or next_version(session, name, new.env)
    if version_exists(session, name, new.env, version):
        raise MetaError(f"{name} already has a release {version} in {new.env}",
                        f"give another --version, or see `himo releases --env {new.env} --name {name}`")
    artifact_id = ensure_artifact(session, new.digest, new.size, new.nfiles, new.kind, at)
    session.execute(sa.update(Release).where(*scope, Release.retired_at.is_(None)).values(retired_at=at))
    row = Release(artifact_id=artifact_id, name=name, env=new.env, version=version, path=new.path,
                  commit=new.commit, note=new.note, user=new.user, released_at=at, retired_at=None,
                  run_id=producing_run(session, artifact_id), tags=[])
    session.add(row)
    session.flush()
    return release_row(row, new.digest, new.kind)


def _check_name_is_this_paths(session: Session, name: str, path: str) -> None:
    """A default name whose latest release (any env) was of another path: two models would
    share one name, and releasing one would retire the other."""
    other = session.scalar(sa.select(Release.path).where(Release.name == name)
                           .order_by(Release.released_at.desc(), Release.id.desc()).limit(1))
    if other is not None and other != path:
        raise MetaError(f"{path}: its default name {name!r} is already the name of {other}",
                        f"give this model its own name with --name (or --name {name} if it is the "
                        f"same model, moved)")


def _refuse_live_again(session: Session, name: str, new: NewRelease) -> None:
    live = _live(session, name, new.env)
    if live is not None and live.digest == new.digest:
        raise MetaError(f"{name}: {new.path} ({new.digest[:12]}) is already live in {new.env} as "
                        f"{live.version}", "nothing to do; the history: "
                        f"himo releases --env {new.env} --name {name}")


def _live(session: Session, name: str, env: str) -> ReleaseRow | None:
    query = release_columns().where(Release.name == name, Release.env == env, Release.retired_at.is_(None))
    found = session.execute(query).first()
    return release_row(found, found.digest, found.kind) if found else None


def set_tags(session: Session, release_id: int, tags: list[str]) -> None:
    session.execute(sa.update(Release).where(Release.id == release_id).values(tags=tags))


def ensure_artifact(session: Session, digest: str, size: int, nfiles: int | None, kind: str,
                    seen: datetime) -> int:
    """The artifact's id, created if the store never saw it (released before being recorded)."""
    found = session.scalar(sa.select(Artifact.id).where(Artifact.digest == digest))
    if found is not None:
        return found
    insert = dialect_insert(session)
    session.execute(insert(Artifact).values(digest=digest, kind=kind, size=size, nfiles=nfiles,
                                            first_seen=seen).on_conflict_do_nothing(index_elements=["digest"]))
    return session.scalar(sa.select(Artifact.id).where(Artifact.digest == digest))  # type: ignore[return-value]


def next_version(session: Session, name: str, env: str) -> str:
    """v1 for a new name or env, else one more than the highest vN (or vN.x.y) of the name there."""
    used = session.scalars(sa.select(Release.version).where(Release.name == name, Release.env == env)).all()
    numbers = [int(m.group(1)) for v in used if (m := NUMBERED.fullmatch(v))]
    return f"v{max(numbers, default=0) + 1}"


def version_exists(session: Session, name: str, env: str, version: str) -> bool:
    query = sa.select(Release.id).where(Release.name == name, Release.env == env,
                                        Release.version == version).limit(1)
    return session.scalar(query) is not None


def producing_run(session: Session, artifact_id: int) -> str | None:
    """The run that computed the artifact (not a later restore from the run-cache), as lineage
    shows it: `queries.producer_first` (on ix_event_artifact)."""
    query = sa.select(Execution.run_id).join(Event, Event.execution_id == Execution.id) \
        .where(Event.artifact_id == artifact_id, Event.direction == "OUTPUT",
               Execution.status.in_(PRODUCED)) \
        .order_by(*producer_first()).limit(1)
    return session.scalar(query)


def restore(session: Session, rows: list[NewRelease], times: list[datetime],
            tags: list[list[str]]) -> list[tuple[str, str]]:
    """Insert past releases (rebuilt from git tags; each with its name) that the store lacks,
    then re-derive each touched (name, env)'s intervals from the release times. Returns, for
    the first tag of each row: '' if restored, else why not (KNOWN: the store has it)."""
    for name in sorted({new.name for new in rows}):  # one order: two restores never deadlock
        lock_name(session, name)
    outcome: list[tuple[str, str]] = []
    for new, at, names in zip(rows, times, tags, strict=True):
        why = _not_restorable(session, new, names)
        outcome.append((names[0], why))
        if why:
            continue
        artifact_id = ensure_artifact(session, new.digest, new.size, new.nfiles, new.kind, at)
        session.add(Release(artifact_id=artifact_id, name=new.name, env=new.env, version=new.version or
                            next_version(session, new.name, new.env), path=new.path, commit=new.commit,
                            note=new.note, user=new.user, released_at=at, retired_at=at,
                            run_id=producing_run(session, artifact_id), tags=names))
        session.flush()
    for name, env in sorted({(new.name, new.env) for new in rows}):
        _reinterval(session, name, env)
    return outcome


def _not_restorable(session: Session, new: NewRelease, names: list[str]) -> str:
    if known_tag(session, new.name, new.env, names):
        return KNOWN
    if new.version is not None and version_exists(session, new.name, new.env, new.version):
        return (f"the store has another release {new.version} of {new.name} in {new.env} "
                "(made without this tag)")
    return ""


def known_tag(session: Session, name: str, env: str, names: list[str]) -> bool:
    for tags in session.scalars(sa.select(Release.tags).where(Release.name == name, Release.env == env)):
        if set(tags or ()) & set(names):
            return True
    return False


def _reinterval(session: Session, name: str, env: str) -> None:
    """Each release of `name` in `env` retired when the next began; the newest live. The
    retirements are written before the live one, so two are never live at once (ux_release_live)."""
    releases = session.scalars(sa.select(Release).where(Release.name == name, Release.env == env)
                               .order_by(Release.released_at, Release.id)).all()
    for current, following in itertools.pairwise(releases):
        current.retired_at = following.released_at
    session.flush()
    if releases:
        releases[-1].retired_at = None
        session.flush()


@contextlib.contextmanager
def writing(store: Store) -> Iterator[ReleaseWriter]:
    """One write transaction on `store` for release writes: committed when the block ends, rolled
    back on any error (then nothing of it is kept)."""
    with store.session(write=True) as session:
        yield ReleaseWriter(session)


class ReleaseWriter:
    """The release writes of one write transaction, and the reads they need inside it (the name's
    lock held): what `himo release`, `rollback` and `releases --from-tags` do. ORM rows stay here."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def release(self, new: NewRelease, at: datetime | None = None) -> ReleaseRow:
        return release(self._session, new, at)

    def set_tags(self, release_id: int, tags: list[str]) -> None:
        set_tags(self._session, release_id, tags)

    def lock_name(self, name: str) -> None:
        lock_name(self._session, name)

    def restore(self, rows: list[NewRelease], times: list[datetime],
                tags: list[list[str]]) -> list[tuple[str, str]]:
        return restore(self._session, rows, times, tags)

    def timeline(self, env: str | None = None, at: datetime | None = None,
                 name: str | None = None) -> list[ReleaseRow]:
        return timeline(on(self._session), env, at, name)

    def artifact_info(self, digest: str) -> ArtifactInfo | None:
        return artifact_info(self._session, digest)

    def names(self, env: str | None = None) -> list[str]:
        return names(self._session, env)

    def envs(self) -> list[str]:
        return envs(self._session)


# -- reading --------------------------------------------------------------------------------


def releases_of_digest(session: Session, digest: str) -> list[ReleaseRow]:
    artifact_id = session.scalar(sa.select(Artifact.id).where(Artifact.digest == digest))
    return releases_of(on(session), [artifact_id]).get(artifact_id, []) if artifact_id else []


def released(session: Session) -> list[tuple[ReleaseRow, int | None]]:
    """Every release, live or retired, with its artifact's file count (None: a file): what
    `himo gc` keeps, so a rollback finds its bytes."""
    query = sa.select(Release, Artifact.digest, Artifact.kind, Artifact.nfiles) \
        .join(Artifact, Artifact.id == Release.artifact_id).order_by(Release.id)
    return [(release_row(r, digest, kind), nfiles) for r, digest, kind, nfiles in session.execute(query)]


def envs(session: Session) -> list[str]:
    return list(session.scalars(sa.select(Release.env).group_by(Release.env).order_by(Release.env)))


def names(session: Session, env: str | None = None) -> list[str]:
    """The model names released (into `env`), sorted."""
    query = sa.select(Release.name).group_by(Release.name).order_by(Release.name)
    return list(session.scalars(query.where(Release.env == env) if env is not None else query))


def find_release(session: Session, name: str, env: str, version: str) -> ReleaseRow | None:
    query = release_columns().where(Release.name == name, Release.env == env, Release.version == version)
    row = session.execute(query).first()
    return release_row(row, row.digest, row.kind) if row else None


def locations(session: Session, digest: str) -> list[LocationRow]:
    """Where push, pull and export recorded the artifact's bytes, oldest first."""
    query = sa.select(Location).join(Artifact, Artifact.id == Location.artifact_id) \
        .where(Artifact.digest == digest).order_by(Location.first_at, Location.id)
    return [LocationRow(loc.kind, loc.url, loc.first_at, loc.last_at, loc.who, loc.run_id)
            for loc in session.scalars(query)]


def artifact_info(session: Session, digest: str) -> ArtifactInfo | None:
    """What the store knows of the artifact, if it has it."""
    row = session.execute(sa.select(Artifact.id, Artifact.kind, Artifact.size, Artifact.nfiles)
                          .where(Artifact.digest == digest)).first()
    return ArtifactInfo(*row) if row else None
