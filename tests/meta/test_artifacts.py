"""The artifacts list (himo.meta.reads.MetaReader.artifacts, the dashboard's /artifacts) on SQLite
and PostgreSQL: the newest artifact at each path, searched by a part of its path or of a name it
was released as, case-insensitive, the search taken literally (`_` and `%` are characters)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from himo.api.recording import open_reader, open_store, recording
from himo.meta.reads import MetaReader
from himo.meta.records import ArtifactRef
from himo.meta.releases import NewRelease, writing
from himo.workspace.repo import Repo

OUTPUTS = [("models/a.pkl", "model"), ("data/x_y.csv", "dataset"), ("data/xzy.csv", "dataset"),
           ("data/100%.csv", "dataset")]


@pytest.fixture
def reader(make_repo: Callable[..., Path], meta_url: str, monkeypatch: pytest.MonkeyPatch) -> MetaReader:
    """A store where one run wrote OUTPUTS, and models/a.pkl was released as `churn`."""
    monkeypatch.setenv("HIMO_META_URL", meta_url)
    repo = Repo(make_repo())
    outs = [ArtifactRef(path=path, digest=f"{i + 1:x}" * 64, size=1, kind=kind)
            for i, (path, kind) in enumerate(OUTPUTS)]
    with recording(repo, "repro", []) as recorder:
        recorder.end_execution(recorder.start_execution("make", ["true"]), "succeeded", [], outs, 0)
    store = open_store(repo)
    with writing(store) as writer:
        writer.release(NewRelease("1" * 64, 1, None, "model", "production", "models/a.pkl", name="churn"))
    store.close()
    found = open_reader(repo)
    yield found
    found.close()


@pytest.mark.parametrize(("query", "paths"), [
    ("", ["models/a.pkl", "data/x_y.csv", "data/xzy.csv", "data/100%.csv"]),
    ("CHURN", ["models/a.pkl"]),  # a released name, not in the path
    ("Models/", ["models/a.pkl"]),
    ("x_y", ["data/x_y.csv"]),  # not xzy: `_` is no wildcard
    ("%", ["data/100%.csv"]),  # not everything
    ("nothing", []),
])
def test_artifacts_are_searched_by_path_or_released_name(reader: MetaReader, query: str,
                                                         paths: list[str]) -> None:
    found, more = reader.artifacts(query)
    assert sorted(a.path for a in found) == sorted(paths) and not more
    if query == "CHURN":
        assert found[0].released == ["churn production v1 · live"]
