"""benchmarks/gen_meta_store.py at a tiny scale, on SQLite and PostgreSQL: the rows it bulk-loads
are consistent, the history has the shape the benchmark relies on, and himo can go on writing."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from himo.meta.schema import Artifact, Event
from himo.meta.store import Store

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import gen_meta_store

EXECUTIONS = 2_000


@pytest.fixture
def store(meta_url: str):  # type: ignore[no-untyped-def]
    summary = gen_meta_store.generate(meta_url, EXECUTIONS, seed=7, end=datetime(2026, 6, 1))
    assert summary.counts["execution"] == EXECUTIONS
    store = Store(meta_url).open()
    yield store
    store.close()


def scalar(store: Store, sql: str) -> object:
    with store.session() as session:
        return session.execute(sa.text(sql)).scalar()


def test_every_reference_points_at_a_row(store: Store) -> None:
    orphans = {  # name -> rows that break it
        "event -> execution": "event e LEFT JOIN execution x ON x.id = e.execution_id WHERE x.id IS NULL",
        "event -> artifact": "event e LEFT JOIN artifact a ON a.id = e.artifact_id WHERE a.id IS NULL",
        "execution -> run": "execution x LEFT JOIN run r ON r.id = x.run_id WHERE r.id IS NULL",
        "path -> artifact": "path p LEFT JOIN artifact a ON a.id = p.artifact_id WHERE a.id IS NULL",
        "location -> run": "location l LEFT JOIN run r ON r.id = l.run_id WHERE r.id IS NULL",
        "output of a failed execution": "event e JOIN execution x ON x.id = e.execution_id WHERE "
                                        "e.direction = 'OUTPUT' AND x.status NOT IN ('succeeded', 'cached')",
        "execution ending before it starts": "execution WHERE ended_at < started_at",
    }
    found = {name: scalar(store, f"SELECT count(*) FROM {rows}") for name, rows in orphans.items()}
    assert found == dict.fromkeys(orphans, 0)
    assert scalar(store, "SELECT count(*) FROM event") > 3 * EXECUTIONS  # fan-in: several inputs each


def test_history_has_every_status_and_the_pipeline_stages(store: Store) -> None:
    with store.session() as session:
        statuses = set(session.scalars(sa.text("SELECT DISTINCT status FROM execution")))
        stages = set(session.scalars(sa.text("SELECT DISTINCT stage FROM execution")))
        triggers = set(session.scalars(sa.text("SELECT DISTINCT \"trigger\" FROM run")))
    assert statuses == {"succeeded", "failed", "cached", "aborted"}
    assert {"add", "ingest", "clean", "featurize", "train@small", "evaluate@large", "predict"} <= stages
    assert any(s.startswith("train@sweep-") for s in stages)  # parallel foreach branches
    assert triggers == {"manual", "schedule", "ci"}


def test_a_deployed_model_is_read_by_many_predictions(store: Store) -> None:
    most = scalar(store, "SELECT max(n) FROM (SELECT count(*) AS n FROM event e JOIN execution x "
                         "ON x.id = e.execution_id WHERE x.stage = 'predict' AND e.direction = 'INPUT' "
                         "GROUP BY e.artifact_id) AS reads")
    assert most >= 20


def test_the_snapshot_chain_is_more_than_ten_hops_deep(store: Store) -> None:
    """Each day's snapshot is made by an ingest reading the previous day's: walk it back in SQL."""
    depth = scalar(store, """
        WITH RECURSIVE chain(artifact_id, hops) AS (
            SELECT max(id), 0 FROM artifact WHERE kind = 'dataset' AND id IN
                (SELECT artifact_id FROM path WHERE path LIKE 'data/snapshots/%')
            UNION ALL
            SELECT i.artifact_id, c.hops + 1 FROM chain c
            JOIN event o ON o.artifact_id = c.artifact_id AND o.direction = 'OUTPUT'
            JOIN execution x ON x.id = o.execution_id AND x.stage = 'ingest'
            JOIN event i ON i.execution_id = x.id AND i.direction = 'INPUT' AND i.path LIKE 'data/snapshots/%'
        ) SELECT max(hops) FROM chain""")
    assert depth >= 10


def test_himo_goes_on_writing_after_the_bulk_load(store: Store) -> None:
    """Ids (PostgreSQL sequences) continue after the loaded rows; indexes and constraints are back."""
    with store.session(write=True) as session:
        artifact = Artifact(digest="f" * 64, kind="other", size=1, first_seen=datetime(2026, 6, 1))
        session.add(artifact)
        session.flush()
        exec_id = session.execute(sa.text("SELECT id FROM execution LIMIT 1")).scalar()
        session.add(Event(execution_id=exec_id, artifact_id=artifact.id, direction="INPUT", path="x"))
        session.flush()
    names = {index["name"] for index in sa.inspect(store.engine).get_indexes("event")}
    assert {"ix_event_artifact", "ix_event_execution"} <= names
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:  # the unique digest holds
        conn.execute(sa.insert(Artifact).values(digest="f" * 64, kind="other", size=1,
                                                first_seen=datetime(2026, 6, 1)))
