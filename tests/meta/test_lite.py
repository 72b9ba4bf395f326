"""The sqlite3 reader (himo.meta.lite) against the SQLAlchemy one: the same results, from SQL text
generated from the same statements; used only for a SQLite store at this himo's schema; and the
read commands it serves never import SQLAlchemy."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from himo.meta import releases as store_releases
from himo.meta import statements
from himo.meta.lite import LiteStore
from himo.meta.migrations import HEAD
from himo.meta.reads import MetaReader
from himo.meta.releases import NewRelease
from himo.meta.store import Store
from tests.conftest import Himo
from tests.meta.test_queries import T0, History, pipeline

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import gen_meta_store

END = datetime(2026, 6, 1)


def test_the_sqlite_text_is_generated_from_the_statements() -> None:
    assert statements.GENERATED.read_text(encoding="utf-8") == statements.generate(), \
        "himo/meta/sqlite_sql.py is out of date: run `python -m himo.meta.statements`"


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MetaReader, MetaReader, dict[str, Any]]]:
    """A generated history (2,000 executions) with releases and a transfer, read both ways."""
    url = f"sqlite:///{tmp_path_factory.mktemp('lite') / 'meta.db'}"
    gen_meta_store.generate(url, 2_000, seed=5, end=END)
    facts = _add_releases_and_a_transfer(url)
    full, lite = MetaReader(Store(url).open()), MetaReader(LiteStore.open(url))
    assert isinstance(lite.store, LiteStore)
    yield full, lite, facts
    full.close()
    lite.close()


def _add_releases_and_a_transfer(url: str) -> dict[str, Any]:
    """Models released to production (and one to staging under another name) while predict
    runs read them; a push run that moved an artifact."""
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    models = connection.execute(
        "SELECT a.digest, a.size, a.first_seen, min(p.path) FROM artifact a "
        "JOIN path p ON p.artifact_id = a.id "
        "WHERE a.kind = 'model' AND EXISTS (SELECT 1 FROM event e WHERE e.artifact_id = a.id AND "
        "e.direction = 'INPUT') GROUP BY a.id ORDER BY a.first_seen LIMIT 12").fetchall()
    push = connection.execute("SELECT id FROM run WHERE command = 'push' LIMIT 1").fetchone()[0]
    connection.execute("INSERT INTO transfer (run_id, artifact_id, kind, url, path, at) SELECT ?, id, "
                       "'push', 's3://bucket/x', 'data/x.csv', first_seen FROM artifact LIMIT 1", [push])
    connection.commit()
    connection.close()
    store = Store(url).open()
    with store.session(write=True) as session:
        for i, (digest, size, first_seen, path) in enumerate(models[::3]):
            at = datetime.fromisoformat(first_seen) + timedelta(hours=1)
            for env, name in [("production", "")] + [("staging", "other")] * (i % 2):
                new = NewRelease(digest, size, None, "model", env, path, name=name)
                store_releases.release(session, new, at=at)
    store.close()
    released_at = datetime.fromisoformat(models[3][2])
    return {"models": [m[0] for m in models], "push": push, "released_at": released_at}


def same(full: MetaReader, lite: MetaReader, call: Callable[[MetaReader], Any]) -> Any:
    """The call's result on both readers, compared by repr (True and 1 are equal, not alike)."""
    expected, found = call(full), call(lite)
    assert repr(found) == repr(expected)
    return expected


def test_both_readers_list_the_same_runs(both) -> None:
    full, lite, _ = both
    since, until = END - timedelta(days=5), END - timedelta(days=2)
    for stage, status in [(None, None), ("train@small", None), ("train@small", "failed"), (None, "cached"),
                          (None, "failed"), (None, "aborted"), ("predict", "succeeded")]:
        for window in [{}, {"since": since}, {"until": until}, {"since": since, "until": until}]:
            found = same(full, lite, lambda r: r.runs(stage=stage, status=status, limit=15, **window))  # noqa: B023
            assert found or status == "aborted"
    assert same(full, lite, lambda r: r.runs(limit=40, offset=7))
    assert same(full, lite, lambda r: r.stage_known("clean")) is True
    assert same(full, lite, lambda r: r.stage_known("nope")) is False
    assert "clean" in same(full, lite, lambda r: r.stage_names())


def test_both_readers_show_the_same_run(both) -> None:
    full, lite, facts = both
    newest = full.runs(stage="evaluate@small", limit=1)[0]
    exec_id = newest.executions[0].id
    assert same(full, lite, lambda r: r.find_ids(newest.id[:5]))[0]
    assert same(full, lite, lambda r: r.find_ids(exec_id))[1] == [(exec_id, newest.id)]
    assert same(full, lite, lambda r: r.run(newest.id)).executions[0].inputs
    assert len(same(full, lite, lambda r: r.run(newest.id, exec_id)).executions) == 1
    assert same(full, lite, lambda r: r.run(facts["push"])).transfers
    assert same(full, lite, lambda r: r.run("0" * 36)) is None


def test_both_readers_walk_the_same_lineage(both) -> None:
    full, lite, facts = both
    snapshot = full.artifacts("data/snapshots/")[0][0].digest
    for digest in [snapshot, *facts["models"][:7]]:
        for walk in [{}, {"upstream": False, "fan_out": 3}, {"downstream": False, "depth": 2},
                     {"releases": False, "max_nodes": 40}]:
            same(full, lite, lambda r: r.lineage(digest, **walk))  # noqa: B023
    marked = same(full, lite, lambda r: r.lineage(facts["models"][3], upstream=False))
    assert marked.releases and marked.models_at_run
    assert same(full, lite, lambda r: r.lineage("0" * 64)) is None
    assert same(full, lite, lambda r: r.find_artifacts(snapshot[:3]))
    assert same(full, lite, lambda r: r.resolve_digest(snapshot[:20])) == snapshot


def test_both_readers_give_the_same_releases(both) -> None:
    full, lite, facts = both
    at = facts["released_at"] + timedelta(days=1)
    for env in (None, "production", "staging"):
        for name in (None, "other"):
            same(full, lite, lambda r: r.timeline(env, None, name))  # noqa: B023
            same(full, lite, lambda r: r.timeline(env, at, name))  # noqa: B023
    assert same(full, lite, lambda r: r.live_release("staging", at, "other"))


# -- when the sqlite3 reader is used -----------------------------------------------------------


def test_only_a_plain_sqlite_file_at_the_current_schema_is_read_with_sqlite3(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    assert LiteStore.open(url) is None  # no file yet: the Store creates it
    Store(url).open().close()
    lite = LiteStore.open(url)
    assert lite is not None and lite.name == url
    lite.close()
    for other in (url + "?timeout=5", "sqlite://", "sqlite+pysqlite:///" + url[10:],
                  "postgresql+psycopg://postgres@127.0.0.1:5432/test"):
        assert LiteStore.open(other) is None, other
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    assert LiteStore.open(f"sqlite:///{tmp_path / 'junk.db'}") is None  # the Store says it is corrupt
    with sqlite3.connect(tmp_path / "meta.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0005'")
    assert LiteStore.open(url) is None  # an older schema: the Store upgrades it


def test_a_newer_schema_is_refused_by_the_sqlalchemy_path(himo: Himo, repo: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{repo / '.himo' / 'meta.db'}"
    monkeypatch.setenv("HIMO_META_URL", url)
    Store(url).open().close()
    with sqlite3.connect(repo / ".himo" / "meta.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    proc = himo("runs", ok=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"Error: the metadata store {url} has schema version 0099, newer than "
                                  f"this himo knows (up to {HEAD})\n")


def test_runs_and_lineage_never_import_sqlalchemy(repo: Path) -> None:
    """The point of the sqlite3 reader; a process of its own, since this one has SQLAlchemy loaded."""
    url = f"sqlite:///{repo / '.himo' / 'meta.db'}"
    history = History(repo / "journal")
    pipeline(history, T0, 0.1)
    history.deliver(url).close()
    code = ("import sys\nfrom himo.cli.main import run\n"
            "for args in (['runs', '--json'], ['lineage', 'b' * 64, '--json'],\n"
            "             ['runs', 'show', sys.argv[1]]):\n"
            "    assert run(args) == 0, args\n"
            "print(sorted(m for m in ('sqlalchemy', 'alembic', 'himo.meta.schema') if m in sys.modules))\n")
    with sqlite3.connect(repo / ".himo" / "meta.db") as connection:
        run_id = connection.execute("SELECT id FROM run").fetchone()[0]
    proc = subprocess.run([sys.executable, "-c", code, run_id[:8]], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "HIMO_META_URL": url})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"

