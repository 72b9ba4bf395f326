"""`himo release`, `releases`, `rollback` on real git repositories, with SQLite and PostgreSQL stores:
intervals, --at, rollback, GTO git tags and the history rebuilt from them, bad input (clear
error, nothing recorded), and releases into one environment at once (never two live)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from himo.errors import MetaError
from himo.meta import releases as store_releases
from himo.meta.releases import NewRelease
from himo.meta.schema import Release
from himo.meta.store import Store
from tests.conftest import Himo, git, write

MODEL = "models/model.pkl"


@pytest.fixture
def project(make_repo: Callable[..., Path], meta_url: str) -> tuple[Path, Himo]:
    """A git repository whose store is `meta_url`, with models/model.pkl tracked and committed."""
    root = make_repo()
    himo = Himo(root)
    himo("config", "--local", "meta.url", meta_url)
    write(root / MODEL, b"model one")
    himo("add", MODEL)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "model one")
    return root, himo


def new_model(root: Path, himo: Himo, data: bytes) -> None:
    write(root / MODEL, data)
    himo("commit", MODEL)
    git(root, "commit", "-qam", f"model {data!r}")


def releases(himo: Himo, *args: str) -> list[dict[str, Any]]:
    return json.loads(himo("releases", "--json", *args).stdout)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.rstrip("Z"))


def error(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stderr.splitlines()[0]


def test_releases_are_intervals_and_at_answers_which_was_live(project) -> None:
    root, himo = project
    one = json.loads(himo("release", MODEL, "--env", "production", "--note", "first", "--json").stdout)
    new_model(root, himo, b"model two")
    two = json.loads(himo("release", MODEL, "--env", "production", "--json").stdout)
    staged = json.loads(himo("release", f"{MODEL}@HEAD~1", "--env", "staging", "--json").stdout)

    assert (one["version"], two["version"], staged["version"]) == ("v1", "v2", "v1")
    assert staged["digest"] == one["digest"] != two["digest"]
    assert staged["commit"] == git(root, "rev-parse", "HEAD~1").strip()
    production = releases(himo, "--env", "production")
    assert [(r["version"], r["note"], r["retired_at"] is None) for r in production] == [
        ("v2", "", True), ("v1", "first", False)]
    # retired at the very instant the next was released
    assert production[1]["retired_at"] == production[0]["released_at"]
    assert production[0]["run_id"] and production[0]["run_id"] != production[1]["run_id"]  # the commits

    between = at(production[0]["released_at"]) - timedelta(microseconds=1)
    then = releases(himo, "--env", "production", "--at", between.isoformat() + "+00:00")
    assert [r["version"] for r in then] == ["v1"]
    before = at(one["released_at"]) - timedelta(seconds=1)
    assert releases(himo, "--at", before.isoformat() + "+00:00") == []
    assert {r["env"]: r["version"] for r in releases(himo, "--at", "0s")} == {"production": "v2",
                                                                             "staging": "v1"}
    text = himo("releases").stdout
    assert text.startswith("production:\n  v2  ") and "staging:\n  v1  " in text and "live" in text


def test_rollback_is_a_new_release_of_the_earlier_artifact(project) -> None:
    root, himo = project
    himo("release", MODEL, "--env", "production")
    new_model(root, himo, b"model two")
    himo("release", MODEL, "--env", "production")
    out = himo("rollback", "--env", "production").stdout
    assert "as v3" in out and "(rollback to v1)" in out
    history = releases(himo, "--env", "production")
    assert [r["version"] for r in history] == ["v3", "v2", "v1"]
    assert history[0]["digest"] == history[2]["digest"] and history[0]["retired_at"] is None
    assert history[2]["retired_at"] is not None  # the old release stays as it was: append-only

    back = json.loads(himo("rollback", "--env", "production", "--to", "v2", "--note", "fixed",
                           "--json").stdout)
    assert (back["version"], back["digest"], back["note"]) == ("v4", history[1]["digest"], "fixed")

    unknown = himo("rollback", "--env", "qa", ok=False)
    assert unknown.returncode == 1 and error(unknown) == "Error: no release in environment 'qa'"
    missing = himo("rollback", "--env", "production", "--to", "v9", ok=False)
    assert error(missing) == "Error: production has no release 'v9'"
    assert "Hint: its versions: v4, v3, v2, v1" in missing.stderr
    assert len(releases(himo)) == 4  # the failed rollbacks recorded nothing


def test_bad_input_is_a_clear_error_and_records_nothing(project) -> None:
    root, himo = project
    write(root / "notes.txt", "untracked")
    cases = {
        ("release", "notes.txt", "--env", "production"):
            "Error: notes.txt: not tracked (no notes.txt.himo and no output notes.txt in himo.lock)",
        ("release", MODEL, "--env", "Prod uction"): "Error: --env: 'Prod uction' is not an environment name",
        ("release", MODEL, "--env", "production", "--tag", "--version", "best"):
            "Error: --version: 'best' is not a version",
        ("releases", "--at", "last tuesday"): "Error: --at: 'last tuesday' is not a time",
    }
    for args, message in cases.items():
        proc = himo(*args, ok=False)
        assert proc.returncode in (1, 2) and error(proc) == message, proc.stderr

    write(root / MODEL, b"edited, not committed")
    modified = himo("release", MODEL, "--env", "production", ok=False)
    assert error(modified) == f"Error: {MODEL}: modified in the workspace since it was tracked"
    assert f"Hint: `himo commit {MODEL}`" in modified.stderr

    write(root / "models/other.pkl", b"bytes that will be lost")
    himo("add", "models/other.pkl")
    pointer = (root / "models/other.pkl.himo").read_text()
    oid = next(line.split()[1] for line in pointer.splitlines() if line.startswith("digest:"))
    cached = root / ".himo/cache" / oid[:2] / oid[2:]
    cached.chmod(0o644)
    cached.unlink()
    gone = himo("release", "models/other.pkl", "--env", "production", ok=False)
    assert error(gone) == f"Error: models/other.pkl: its bytes (digest {oid[:12]}) are in no cache or remote"

    himo("checkout", "--force", MODEL)  # the model is clean again; a tag is in the way
    git(root, "tag", "-a", "model@v1.0.0", "-m", "someone else's", git(root, "rev-list", "--max-parents=0",
                                                                        "HEAD").strip())
    write(root / "x.txt", "x")
    git(root, "add", "x.txt")
    git(root, "commit", "-qm", "x")
    taken = himo("release", MODEL, "--env", "production", "--tag", ok=False)
    assert error(taken).startswith("Error: git tag model@v1.0.0 already exists (at commit ")
    assert releases(himo) == []
    assert git(root, "tag").split() == ["model@v1.0.0"]  # no assignment tag left behind


def test_tags_follow_gto_and_rebuild_a_lost_history(project, meta_url: str) -> None:
    root, himo = project
    himo("release", MODEL, "--env", "staging", "--tag", "--note", "try it")
    himo("release", MODEL, "--env", "production", "--tag")  # same commit: GTO's one version, reused
    new_model(root, himo, b"model two")
    himo("release", MODEL, "--env", "production", "--tag", "--version", "v2.1.0")
    tags = git(root, "tag").split()
    assert sorted(tags) == ["model#production#2", "model#production#3", "model#staging#1",
                            "model@v1.0.0", "model@v2.1.0"]
    assert git(root, "cat-file", "-t", "model#production#3").strip() == "tag"  # annotated
    assert git(root, "rev-parse", "model#production#3^{commit}").strip() == \
        git(root, "rev-parse", "HEAD").strip()
    message = git(root, "tag", "-l", "--format=%(contents)", "model#staging#1")
    assert message.startswith("Assigning stage staging to artifact model version v1.0.0\n")
    before = releases(himo)

    store = Store(meta_url).open()  # the store loses its releases
    with store.session(write=True) as session:
        session.execute(sa.delete(Release))
    store.close()
    assert releases(himo) == []
    proc = himo("releases", "--from-tags", "--json")
    assert "Restored 3 release(s) from git tags." in proc.stderr
    after = json.loads(proc.stdout)
    keys = ("env", "version", "digest", "path", "commit", "note", "tags")
    assignments = [{k: r[k] for k in keys} | {"tags": [t for t in r["tags"] if "#" in t]} for r in before]
    assert [{k: r[k] for k in keys} for r in after] == assignments
    for old, new in zip(before, after, strict=True):
        assert abs((at(old["released_at"]) - at(new["released_at"])).total_seconds()) < 1.5
        assert (old["retired_at"] is None) == (new["retired_at"] is None)
    assert "Restored 0 release(s)" in himo("releases", "--from-tags").stderr  # again: nothing new


def test_a_release_creates_the_artifact_the_store_never_saw(make_repo, meta_url: str) -> None:
    root = make_repo()
    himo = Himo(root)
    himo("config", "--local", "meta.url", meta_url)
    write(root / MODEL, b"added while recording was off")
    himo("add", MODEL, env={**os.environ, "HIMO_META_RECORD": "0"})
    row = json.loads(himo("release", MODEL, "--env", "production", "--json").stdout)
    assert (row["kind"], row["run_id"], row["commit"]) == ("model", None, "")  # not committed yet
    assert releases(himo)[0]["digest"] == row["digest"]


def test_releases_into_one_env_at_once_never_leave_two_live(project) -> None:
    """Four `himo release` processes race into one environment: each is its own release."""
    root, himo = project
    procs = [subprocess.Popen([sys.executable, "-m", "himo", "release", MODEL, "--env", "production",
                               "--note", f"p{i}"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    history = releases(himo, "--env", "production")
    assert sorted(r["version"] for r in history) == ["v1", "v2", "v3", "v4"]
    assert [r["retired_at"] is None for r in history] == [True, False, False, False]
    for newer, older in itertools.pairwise(history):
        assert older["retired_at"] == newer["released_at"]


# -- the store functions, on SQLite and PostgreSQL ------------------------------------------


def release_to(store: Store, env: str, digest: str, **kwargs: Any) -> store_releases.ReleaseRow:
    with store.session(write=True) as session:
        return store_releases.release(session, NewRelease(digest, 10, None, "model", env, "model.pkl",
                                                          **kwargs))


def test_threads_releasing_at_once_are_serialized(meta_url: str) -> None:
    store = Store(meta_url).open()
    failures: list[BaseException] = []

    def work(i: int) -> None:
        try:
            release_to(store, "production", f"{i:064x}", note=str(i))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with store.session() as session:
        history = store_releases.timeline(session, "production")
        live = store_releases.live_release_at(session, "production")
    assert sorted(int(r.version[1:]) for r in history) == list(range(1, 9))
    assert [r.live for r in history] == [True] + [False] * 7 and live == history[0]


def test_the_database_refuses_a_second_live_release(meta_url: str) -> None:
    store = Store(meta_url).open()
    first = release_to(store, "production", "a" * 64)
    with pytest.raises(MetaError), store.session(write=True) as session:
        artifact_id = session.scalar(sa.text("SELECT id FROM artifact"))
        session.add(Release(artifact_id=artifact_id, env="production", version="v99", path="", commit="",
                            note="", user="", released_at=first.released_at, retired_at=None, tags=[]))
    with store.session() as session:
        assert [r.version for r in store_releases.timeline(session)] == ["v1"]


def test_releases_of_and_live_release_at(meta_url: str) -> None:
    store = Store(meta_url).open()
    t0 = datetime(2024, 5, 1, 12)
    with store.session(write=True) as session:
        one = store_releases.release(session, NewRelease("a" * 64, 1, None, "model", "production", "m.pkl"),
                                     at=t0)
        two = store_releases.release(session, NewRelease("b" * 64, 1, None, "model", "production", "m.pkl"),
                                     at=t0 + timedelta(hours=1))
        store_releases.release(session, NewRelease("a" * 64, 1, None, "model", "staging", "m.pkl"),
                               at=t0 + timedelta(hours=2))
        ids = dict(session.execute(sa.text("SELECT digest, id FROM artifact")).all())
    with store.session() as session:
        by_artifact = store_releases.releases_of(session, [ids["a" * 64], ids["b" * 64], 12345])
        assert [(r.env, r.version) for r in by_artifact[ids["a" * 64]]] == [("production", "v1"),
                                                                            ("staging", "v1")]
        assert [r.version for r in by_artifact[ids["b" * 64]]] == ["v2"] and 12345 not in by_artifact
        live = store_releases.live_release_at
        assert live(session, "production", t0 - timedelta(seconds=1)) is None
        assert live(session, "production", t0).id == one.id
        assert live(session, "production", t0 + timedelta(minutes=59)).retired_at == two.released_at
        assert live(session, "production", t0 + timedelta(hours=1)).id == two.id
        assert live(session, "production").id == two.id and live(session, "nowhere") is None
