"""The dashboard over a store an older himo wrote: the session project's store taken back to schema
0002 (before executions kept their metrics values and log tails, and releases their model name),
then opened as a user upgrading himo would. Every page answers; what the store lacks is read from
the repository (metrics from the cache by digest, logs from .himo/logs/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from himo.meta import migrate
from himo.ui.app import create_app
from himo.ui.server import open_source
from tests.ui.conftest import LOOPBACK


def downgrade(root: Path, revision: str) -> None:
    """The store of `root` as himo at `revision` left it (foreign keys off: SQLite's table copies)."""
    with sa.create_engine(f"sqlite:///{root / '.himo' / 'meta.db'}").begin() as conn:
        config = migrate._config()
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        assert migrate.current(conn) == revision


def test_every_page_over_a_store_of_an_older_schema(project: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(project, tmp_path / "old", symlinks=True))
    downgrade(root, "0002")
    store, repo = open_source(None, root)  # upgrades the schema, as any himo command would
    try:
        with TestClient(create_app(store, repo), base_url=LOOPBACK) as client:
            runs = client.get("/api/runs").json()["runs"]
            assert [r["command"] for r in runs] == ["repro", "repro", "repro", "add"]
            newest = client.get(f"/api/runs/{runs[0]['id']}").json()
            train, evaluate = newest["executions"]
            assert evaluate["metrics"] == {"metrics.json": {"accuracy": 0.8, "loss": 0.7}}  # from the cache
            assert "trained with lr 0.3" in train["log_tail"]  # from .himo/logs/
            assert [(c["key"], c["before"], c["after"]) for c in train["changes"]] == [("train.lr", 0.1, 0.3)]
            model = train["outputs"][0]["digest"]
            releases = client.get("/api/releases").json()["releases"]
            assert [(r["env"], r["version"], r["name"]) for r in releases] == [
                ("production", "v2", "model"), ("production", "v1", "model"), ("staging", "v1", "model")]
            history = client.get("/api/metrics/history", params={"key": "metrics.json:accuracy"}).json()
            assert [p["value"] for p in history] == [0.6, 0.8]
            pages = ["/runs", f"/runs/{runs[0]['id']}", "/artifacts", f"/artifacts/{model}", "/releases",
                     "/metrics", "/pipeline", f"/compare?run={runs[0]['id']}&run={runs[2]['id']}",
                     f"/api/lineage/{model}", "/api/grid", "/experiments", "/schedules"]
            for path in pages:
                assert client.get(path, headers={"accept": "text/html"}).status_code == 200, path
    finally:
        store.close()
