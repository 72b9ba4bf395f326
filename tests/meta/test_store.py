"""The store itself, on SQLite and on the real PostgreSQL: schema versions, idempotent delivery, errors."""

from __future__ import annotations

import json
import multiprocessing
import os
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from himo.errors import MetaError, MetaUnreachableError
from himo.meta import migrate
from himo.meta.apply import apply_records
from himo.meta.deliver import deliver
from himo.meta.journal import JournalWriter, pending
from himo.meta.recorder import Context, Recorder
from himo.meta.schema import Artifact, Base, Event, Execution, Run
from himo.meta.store import Store
from tests.meta.test_days import counted, summary

DATA = {"path": "data/raw.csv", "digest": "a" * 64, "size": 10, "kind": "dataset"}
MODEL = {"path": "model.pkl", "digest": "b" * 64, "size": 20, "kind": "model"}


def record_run(folder: Path, stage: str = "train", status: str = "succeeded") -> str:
    context = Context(repo="git@example.com:team/repo.git", git_commit="c" * 40, user="ana")
    recorder = Recorder(folder, context)
    recorder.start("repro", [stage])
    exec_id = recorder.start_execution(stage, ["python train.py"], {"params.yaml": {"lr": 0.1}})
    recorder.end_execution(exec_id, status, inputs=[DATA], outputs=[MODEL], exit_code=0, log="log")
    recorder.finish(status)
    return recorder.run_id


def columns(names: str) -> list[sa.ColumnClause]:
    """Columns of a table as an older schema had them (JSON ones typed, for their encoding)."""
    return [sa.column(n, sa.JSON() if n in ("args", "tags") else None) for n in names.split()]


def counts(store: Store) -> dict[str, int]:
    with store.session() as s:
        return {m.__tablename__: s.scalar(sa.select(sa.func.count()).select_from(m))
                for m in (Run, Execution, Artifact, Event)}


def test_new_store_gets_the_current_schema(meta_url: str) -> None:
    store = Store(meta_url).open()
    with store.engine.connect() as conn:
        assert migrate.current(conn) == migrate.head()
    assert counts(store) == {"run": 0, "execution": 0, "artifact": 0, "event": 0}


def test_the_migrations_build_exactly_the_models(meta_url: str) -> None:
    """Tables, columns, indexes and constraints made by Alembic are those of meta/schema.py."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = Store(meta_url).open()
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def live_index(engine: sa.Engine) -> str:
    """The CREATE statement of ux_release_live as the database keeps it."""
    query = {"sqlite": "SELECT sql FROM sqlite_master WHERE name = 'ux_release_live'",
             "postgresql": "SELECT indexdef FROM pg_indexes WHERE indexname = 'ux_release_live'"}
    with engine.connect() as conn:
        return conn.execute(sa.text(query[engine.dialect.name])).scalar_one()


def test_the_models_and_the_migrations_make_the_live_index_partial(meta_url: str) -> None:
    """On both databases, whether the store comes from the migrations or from the models (whose
    PostgreSQL condition is added at create time, so that importing them loads no PostgreSQL dialect)."""
    migrated = Store(meta_url).open().engine
    assert "retired_at IS NULL" in live_index(migrated)
    with migrated.begin() as conn:
        conn.execute(sa.text("DROP TABLE release"))
        Base.metadata.create_all(conn, tables=[Base.metadata.tables["release"]])
    assert "retired_at IS NULL" in live_index(migrated)


def test_reading_the_schema_loads_no_postgresql_dialect() -> None:
    """A fresh interpreter: `himo runs` on SQLite imports the models without SQLAlchemy's PostgreSQL
    dialect and its asyncio connectors (a tenth of the command)."""
    import subprocess
    import sys

    code = "import sys, himo.meta.queries; print('sqlalchemy.dialects.postgresql' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_delivery_is_idempotent(meta_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    run_id = record_run(folder)
    records = [json.loads(line) for line in pending(folder)[0].read_text().splitlines()]
    store = Store(meta_url).open()
    assert deliver(store, folder).records == len(records)
    assert pending(folder) == []  # delivered files are removed
    with store.session(write=True) as session:  # the same records again change nothing
        apply_records(session, records)
    assert counts(store) == {"run": 1, "execution": 1, "artifact": 2, "event": 2}
    with store.session() as s:
        run = s.get(Run, run_id)
        assert (run.status, run.user, run.command) == ("succeeded", "ana", "repro")
        kinds = dict(s.execute(sa.select(Artifact.digest, Artifact.kind)).all())
    assert kinds == {"a" * 64: "dataset", "b" * 64: "model"}


def test_a_late_copy_of_a_start_never_undoes_an_end(meta_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    record_run(folder)
    records = [json.loads(line) for line in pending(folder)[0].read_text().splitlines()]
    store = Store(meta_url).open()
    with store.session(write=True) as session:
        apply_records(session, records)
        apply_records(session, [r for r in records if r["type"].endswith("_start")])
    with store.session() as s:
        assert s.scalars(sa.select(Execution.status)).all() == ["succeeded"]


def test_dead_writer_means_aborted(meta_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "journal"

    def crash() -> None:  # a run that starts a stage, then dies without a word
        recorder = Recorder(folder, Context(repo="r"))
        recorder.start("repro", [])
        recorder.start_execution("train", ["sleep 100"])
        os._exit(9)

    proc = multiprocessing.get_context("fork").Process(target=crash)
    proc.start()
    proc.join()
    store = Store(meta_url).open()
    deliver(store, folder)
    with store.session() as s:
        assert s.scalars(sa.select(Run.status)).all() == ["aborted"]
        assert s.scalars(sa.select(Execution.status)).all() == ["aborted"]
    assert pending(folder) == []


def test_live_journal_is_delivered_but_kept(meta_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    recorder = Recorder(folder, Context(repo="r"))
    recorder.start("repro", [])
    recorder.start_execution("train", ["python train.py"])
    store = Store(meta_url).open()
    result = deliver(store, folder)
    assert (result.live, len(pending(folder))) == (1, 1)
    with store.session() as s:
        assert s.scalars(sa.select(Run.status)).all() == ["running"]
    recorder.finish("succeeded")
    deliver(store, folder)
    with store.session() as s:
        assert s.scalars(sa.select(Run.status)).all() == ["succeeded"]
    assert pending(folder) == []


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    writer = JournalWriter(folder)
    writer.write({"type": "run_start", "run_id": "1", "command": "add", "args": []})
    writer.close()
    with open(writer.path, "a") as f:
        f.write('{"type": "run_end", "run_id": "1", "sta')  # killed mid-write
    store = Store(f"sqlite:///{tmp_path / 'meta.db'}").open()
    deliver(store, folder)
    with store.session() as s:
        assert s.scalars(sa.select(Run.status)).all() == ["aborted"]


def test_older_store_is_upgraded_and_keeps_its_rows(meta_url: str) -> None:
    store = Store(meta_url)
    with store.writer.begin() as conn:  # a store as an earlier himo left it, with rows in it
        config = migrate._config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        day = datetime(2026, 1, 1)
        run = sa.table("run", *columns("id command args trigger user host repo git_commit branch dirty "
                                       "himo_version status started_at"))
        conn.execute(run.insert().values(id="r1", command="repro", args=[], trigger="manual", user="ana",
                                         host="h", repo="r", git_commit="", branch="", dirty=False,
                                         himo_version="0.1", status="succeeded", started_at=day))
        conn.execute(sa.table("artifact", *columns("id digest kind size first_seen")).insert().values(
            id=1, digest="b" * 64, kind="model", size=1, first_seen=day))
        release = sa.table("release", *columns("artifact_id env version path commit note user released_at "
                                               "retired_at tags"))
        for version, path, retired in (("v1", "models/Churn_Model.pkl", day), ("v2", "model.pkl", None)):
            conn.execute(release.insert().values(artifact_id=1, env="production", version=version, path=path,
                                                 commit="", note="", user="ana", released_at=day,
                                                 retired_at=retired, tags=[]))
    store.open()
    with store.engine.connect() as conn:
        assert migrate.current(conn) == migrate.head()
        names = conn.execute(sa.text("SELECT version, name FROM release ORDER BY version")).all()
        metrics = conn.execute(sa.text("SELECT count(*) FROM execution")).scalar()
    assert counts(store)["run"] == 1 and metrics == 0
    assert [tuple(n) for n in names] == [("v1", "churn-model"), ("v2", "model")]


def test_a_store_from_a_newer_himo_is_refused(meta_url: str) -> None:
    store = Store(meta_url).open()
    with store.writer.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(MetaError, match="newer than this himo") as info:
        Store(meta_url).open()
    assert "upgrade himo" in info.value.hint


def test_corrupt_sqlite_store_says_how_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(MetaError, match="corrupt") as info:
        Store(f"sqlite:///{path}").open()
    assert f"mv {path}" in info.value.hint


def test_unreachable_server_is_its_own_error() -> None:
    with pytest.raises(MetaUnreachableError, match="cannot reach"):
        Store("postgresql+psycopg://postgres@127.0.0.1:9/none").open()


def test_bad_urls_are_named() -> None:
    with pytest.raises(MetaError, match="not a database URL"):
        Store("not a url")
    with pytest.raises(MetaError, match="unsupported database"):
        Store("mysql://root@127.0.0.1/test")


def _deliver_many(url: str, folder: str, runs: int) -> None:
    for _ in range(runs):
        record_run(Path(folder))
        deliver(Store(url).open(), Path(folder))


@pytest.mark.slow
def test_several_writers_at_once(meta_url: str, tmp_path: Path) -> None:
    """Processes recording and delivering at the same time: every run arrives, none fails, and the
    per-day summary counts each execution once."""
    Store(meta_url).open()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_deliver_many, args=(meta_url, str(tmp_path / f"j{i}"), 5)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    store = Store(meta_url)
    assert counts(store) == {"run": 20, "execution": 20, "artifact": 2, "event": 40}
    assert summary(store) == counted(store) and sum(row[3] for row in summary(store)) == 20


def test_migrations_head_names_alembics_head() -> None:
    from himo.meta.migrations import HEAD

    assert migrate.head() == HEAD, "set HEAD in src/himo/meta/migrations/__init__.py to the new revision"
