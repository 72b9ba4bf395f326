"""`himo release`, `releases`, `rollback` on real git repositories, with SQLite and PostgreSQL stores:
intervals, --at, rollback, several named models live in one environment, GTO git tags (versions
per name, rollbacks tagged) and the history rebuilt from them, bad input (clear error, nothing
recorded), bytes only on a remote, and releases into one environment at once (never two live)."""

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

from himo.cli.history import when
from himo.errors import MetaError, UsageError
from himo.meta import release_reads
from himo.meta import releases as store_releases
from himo.meta.releases import NewRelease
from himo.meta.schema import Release
from himo.meta.statements import on
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
    assert {r["name"] for r in production} == {"model"}  # the default name: the file name
    text = himo("releases").stdout
    assert text.startswith("production:\n  model:\n    v2  ") and "staging:\n  model:\n    v1  " in text
    assert "live" in text


def test_rollback_is_a_new_release_of_the_earlier_artifact(project) -> None:
    root, himo = project
    himo("release", MODEL, "--env", "production")
    new_model(root, himo, b"model two")
    himo("release", MODEL, "--env", "production")
    out = himo("rollback", "--env", "production").stdout
    assert "to production as model v3" in out and "(rollback to v1)" in out
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
    assert error(missing) == "Error: production has no release 'v9' of model"
    assert "Hint: its versions: v4, v3, v2, v1" in missing.stderr
    live = himo("rollback", "--env", "production", "--to", "v4", ok=False)
    assert error(live) == "Error: model: v4 is already live in production"
    same = himo("rollback", "--env", "production", "--to", "v2", ok=False)  # v2's artifact is v4's
    assert error(same).startswith(f"Error: model: {MODEL} (") and error(same).endswith(
        "is already live in production as v4")
    again = himo("release", MODEL, "--env", "production", ok=False)  # the live artifact again
    assert error(again).endswith("is already live in production as v4")
    assert len(releases(himo)) == 4  # the failed rollbacks and the release recorded nothing


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
        ("release", MODEL, "--env", "production", "--version", "v007"):
            "Error: --version: 'v007' has a number with a leading zero",
        ("release", MODEL, "--env", "production", "--tag", "--version", "v01.2.3"):
            "Error: --version: 'v01.2.3' has a number with a leading zero",
        ("release", MODEL, "--env", "production", "--name", "Churn Model"):
            "Error: --name: 'Churn Model' is not a model name",
        ("releases", "--name", "-x"): "Error: --name: '-x' is not a model name",
        ("release", MODEL, "--env", "production", "--version", "best!"):
            "Error: --version: 'best!' is not a version",
    }
    for args, message in cases.items():
        proc = himo(*args, ok=False)
        assert proc.returncode in (1, 2) and error(proc) == message, proc.stderr
    zeros = himo("release", MODEL, "--env", "production", "--version", "v007", ok=False)
    assert "Hint: write it without: v7 (GTO refuses leading zeros" in zeros.stderr
    free = himo("release", MODEL, "--env", "production", "--version", "best!", ok=False)
    assert "Hint: use a version such as v3, v1.2.0 or 2024-05-rc1 (letters, digits" in free.stderr

    write(root / MODEL, b"edited, not committed")
    modified = himo("release", MODEL, "--env", "production", ok=False)
    assert error(modified) == f"Error: {MODEL}: modified in the workspace since it was tracked"
    assert f"Hint: `himo commit {MODEL}`" in modified.stderr

    write(root / "models/other.pkl", b"bytes that will be lost")
    himo("add", "models/other.pkl")
    oid = remove_cached(root, "models/other.pkl")
    gone = himo("release", "models/other.pkl", "--env", "production", ok=False)
    assert error(gone) == f"Error: models/other.pkl: its bytes (digest {oid[:12]}) are in no cache or remote"

    himo("checkout", "--force", MODEL)  # the model is clean again; a lightweight tag is in the way
    git(root, "tag", "model@v3.0.0")
    head = git(root, "rev-parse", "HEAD").strip()
    taken = himo("release", MODEL, "--env", "production", "--tag", "--version", "v3", ok=False)
    assert error(taken) == (f"Error: git tag model@v3.0.0 already exists (a lightweight tag, at commit "
                            f"{head[:8]}); nothing released")
    assert "Hint: give another --version; or delete the tag (git tag -d model@v3.0.0)" in taken.stderr
    assert releases(himo) == []
    assert git(root, "tag").split() == ["model@v3.0.0"]  # no assignment tag left behind
    # without --version: GTO ignores lightweight tags, himo steps over the number (v4.0.0)
    made = json.loads(himo("release", MODEL, "--env", "production", "--tag", "--json").stdout)
    assert made["tags"] == ["model@v4.0.0", "model#production#1"]


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
    assert message.startswith("Assigning stage staging to artifact model version v1.0.0\n\n"
                              f"himo release v1 of {MODEL} to staging (GTO version v1.0.0)\nname: model\n")
    before = releases(himo)

    store = Store(meta_url).open()  # the store loses its releases
    with store.session(write=True) as session:
        session.execute(sa.delete(Release))
    store.close()
    assert releases(himo) == []
    proc = himo("releases", "--from-tags", "--json")
    assert "Restored 3 release(s) from git tags." in proc.stderr and "Skipped" not in proc.stderr
    after = json.loads(proc.stdout)
    keys = ("name", "env", "version", "digest", "path", "commit", "note", "tags")
    assignments = [{k: r[k] for k in keys} | {"tags": [t for t in r["tags"] if "#" in t]} for r in before]
    assert [{k: r[k] for k in keys} for r in after] == assignments
    for old, new in zip(before, after, strict=True):
        assert abs((at(old["released_at"]) - at(new["released_at"])).total_seconds()) < 1.5
        assert (old["retired_at"] is None) == (new["retired_at"] is None)
    again = himo("releases", "--from-tags").stderr  # again: nothing new
    assert "Restored 0 release(s) from git tags; 3 already in the store." in again


def test_a_release_creates_the_artifact_the_store_never_saw(make_repo, meta_url: str) -> None:
    root = make_repo()
    himo = Himo(root)
    himo("config", "--local", "meta.url", meta_url)
    write(root / MODEL, b"added while recording was off")
    himo("add", MODEL, env={**os.environ, "HIMO_META_RECORD": "0"})
    row = json.loads(himo("release", MODEL, "--env", "production", "--json").stdout)
    assert (row["kind"], row["run_id"], row["commit"]) == ("model", None, "")  # not committed yet
    assert releases(himo)[0]["digest"] == row["digest"]


@pytest.mark.slow
def test_releases_into_one_env_at_once_never_leave_two_live(project) -> None:
    """Four `himo release` processes race into one environment, each with another version of
    the model: each is its own release."""
    root, himo = project
    for i in range(3):
        new_model(root, himo, f"model {i + 2}".encode())
    procs = [subprocess.Popen([sys.executable, "-m", "himo", "release", f"{MODEL}@HEAD~{i}", "--env",
                               "production", "--note", f"p{i}"], cwd=root, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    history = releases(himo, "--env", "production")
    assert sorted(r["version"] for r in history) == ["v1", "v2", "v3", "v4"]
    assert [r["retired_at"] is None for r in history] == [True, False, False, False]
    for newer, older in itertools.pairwise(history):
        assert older["retired_at"] == newer["released_at"]


def add_model(root: Path, himo: Himo, path: str, data: bytes) -> None:
    write(root / path, data)
    himo("add", path)
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"add {path}")


def empty_store(meta_url: str, tmp_path: Path) -> str:
    """A store without releases, for a clone: a new SQLite file; on PostgreSQL, the same
    database with its releases deleted."""
    if meta_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'fresh' / 'meta.db'}"
    store = Store(meta_url).open()
    with store.session(write=True) as session:
        session.execute(sa.delete(Release))
    store.close()
    return meta_url


def test_two_models_live_in_one_environment(project) -> None:
    root, himo = project
    add_model(root, himo, "models/churn.pkl", b"churn one")
    himo("release", MODEL, "--env", "production")
    churn = json.loads(himo("release", "models/churn.pkl", "--env", "production", "--json").stdout)
    assert (churn["name"], churn["version"]) == ("churn", "v1")  # versions count per name
    new_model(root, himo, b"model two")
    himo("release", MODEL, "--env", "production")  # retires model v1 only

    live = releases(himo, "--env", "production", "--at", "0s")
    assert [(r["name"], r["version"], r["path"]) for r in live] == [
        ("churn", "v1", "models/churn.pkl"), ("model", "v2", MODEL)]
    assert [r["version"] for r in releases(himo, "--name", "model")] == ["v2", "v1"]
    text = himo("releases", "--env", "production").stdout.splitlines()
    assert [line for line in text if not line.startswith("    ")] == ["production:", "  churn:", "  model:"]

    several = himo("rollback", "--env", "production", ok=False)
    assert several.returncode == 2
    assert error(several) == "Error: production has releases of several models: churn, model"
    assert "Hint: say which to roll back: --name churn" in several.stderr
    unknown = himo("rollback", "--env", "production", "--name", "fraud", ok=False)
    assert error(unknown) == "Error: no release of 'fraud' in environment 'production'"
    back = json.loads(himo("rollback", "--env", "production", "--name", "model", "--json").stdout)
    assert (back["name"], back["version"], back["note"]) == ("model", "v3", "rollback to v1")
    assert [r["version"] for r in releases(himo, "--name", "churn")] == ["v1"]  # untouched, live
    assert releases(himo, "--name", "churn")[0]["retired_at"] is None

    then = himo("releases", "--env", "staging", "--at", "2001-02-03T04:05:06Z")
    assert then.stdout == f"Nothing was live in staging at {when(datetime(2001, 2, 3, 4, 5, 6))}.\n"


def test_a_default_name_of_another_path_is_refused(project) -> None:
    root, himo = project
    add_model(root, himo, "models/b/model.pkl", b"another model, same file name")
    himo("release", MODEL, "--env", "production")
    clash = himo("release", "models/b/model.pkl", "--env", "staging", ok=False)
    assert clash.returncode == 1 and error(clash) == (
        f"Error: models/b/model.pkl: its default name 'model' is already the name of {MODEL}")
    assert "Hint: give this model its own name with --name (or --name model if it is the same" in clash.stderr
    assert len(releases(himo)) == 1
    other = json.loads(himo("release", "models/b/model.pkl", "--env", "production", "--name", "model-b",
                            "--json").stdout)
    assert other["name"] == "model-b" and len(releases(himo, "--env", "production", "--at", "0s")) == 2


def test_tags_of_a_new_commit_in_another_env_do_not_collide(project) -> None:
    """GTO versions are per name: commit 1 is model@v1.0.0, commit 2 the next major, model@v2.0.0,
    whatever himo's per-env label (v1 in both envs)."""
    root, himo = project
    himo("release", MODEL, "--env", "staging", "--tag")
    first = git(root, "rev-parse", "HEAD").strip()
    new_model(root, himo, b"model two")
    canary = json.loads(himo("release", MODEL, "--env", "canary", "--tag", "--json").stdout)
    assert (canary["version"], canary["tags"]) == ("v1", ["model@v2.0.0", "model#canary#2"])
    assert sorted(git(root, "tag").split()) == ["model#canary#2", "model#staging#1", "model@v1.0.0",
                                                "model@v2.0.0"]
    message = git(root, "tag", "-l", "--format=%(contents)", "model#canary#2")
    assert message.startswith("Assigning stage canary to artifact model version v2.0.0\n\n"
                              f"himo release v1 of {MODEL} to canary (GTO version v2.0.0)\n")
    # commit 1 again, into production: its registered version is reused
    prod = json.loads(himo("release", f"{MODEL}@{first}", "--env", "production", "--tag", "--json").stdout)
    assert prod["tags"] == ["model#production#3"]
    contradicts = himo("release", f"{MODEL}@{first}", "--env", "qa", "--tag", "--version", "v5.0.0", ok=False)
    assert contradicts.returncode == 2 and error(contradicts) == (
        f"Error: --version v5.0.0: commit {first[:8]} is already registered as model@v1.0.0 "
        "(GTO: one version per commit)")
    hint = "Hint: leave out --version (the tags then use v1.0.0), or give --version v1.0.0"
    assert hint in contradicts.stderr
    assert len(releases(himo)) == 3 and len(git(root, "tag").split()) == 5


def test_a_tagged_rollback_is_tagged_and_rebuilt_in_a_fresh_clone(project, meta_url: str,
                                                                  tmp_path: Path) -> None:
    root, himo = project
    himo("release", MODEL, "--env", "production", "--tag", "--note", "first")
    first = git(root, "rev-parse", "HEAD").strip()
    new_model(root, himo, b"model two")
    himo("release", MODEL, "--env", "production", "--tag")
    back = json.loads(himo("rollback", "--env", "production", "--json").stdout)  # tags by default
    assert (back["version"], back["tags"]) == ("v3", ["model#production#3"])
    assert git(root, "rev-parse", "model#production#3^{commit}").strip() == first
    untagged = json.loads(himo("rollback", "--env", "production", "--no-tag", "--json").stdout)
    assert untagged["tags"] == []
    before = releases(himo)[1:]  # all but the untagged one

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    cloned = Himo(clone)
    cloned("config", "--local", "meta.url", empty_store(meta_url, tmp_path))
    git(clone, "tag", "model#staging#9")  # lightweight: passed over, and said so
    git(clone, "tag", "-a", "model#qa#10", "-m", "made by GTO: no himo facts", first)
    proc = cloned("releases", "--from-tags", "--json")
    assert "Skipped git tag model#staging#9: a lightweight tag" in proc.stderr
    assert "Skipped git tag model#qa#10: its message has no himo facts" in proc.stderr
    assert "Restored 3 release(s) from git tags." in proc.stderr
    keys = ("name", "env", "version", "digest", "path", "commit", "note", "tags")
    after = json.loads(proc.stdout)
    assert [{k: r[k] for k in keys} for r in after] == [
        {k: r[k] for k in keys} | {"tags": [t for t in r["tags"] if "#" in t]} for r in before]
    assert after[0]["retired_at"] is None and after[0]["note"] == "rollback to v1"


def test_bytes_only_on_a_remote_release_but_gone_bytes_do_not_roll_back(project, tmp_path: Path) -> None:
    root, himo = project
    himo("remote", "add", "-d", "storage", str(tmp_path / "remote"))
    himo("push", MODEL)
    remove_cached(root, MODEL)
    row = json.loads(himo("release", MODEL, "--env", "production", "--json").stdout)  # the remote has them
    assert row["version"] == "v1"

    himo("remote", "remove", "storage")
    new_model(root, himo, b"model two")
    himo("release", MODEL, "--env", "production")
    gone = himo("rollback", "--env", "production", ok=False)
    assert gone.returncode == 1 and error(gone) == (
        f"Error: {MODEL}: its bytes (digest {row['digest'][:12]}) are in no cache or remote")
    assert len(releases(himo)) == 2


def remove_cached(root: Path, path: str) -> str:
    pointer = (root / f"{path}.himo").read_text()
    oid = next(line.split()[1] for line in pointer.splitlines() if line.startswith("digest:"))
    cached = root / ".himo/cache" / oid[:2] / oid[2:]
    cached.chmod(0o644)
    cached.unlink()
    return oid


# -- the store functions, on SQLite and PostgreSQL ------------------------------------------


def release_to(store: Store, env: str, digest: str, **kwargs: Any) -> store_releases.ReleaseRow:
    with store.session(write=True) as session:
        return store_releases.release(session, NewRelease(digest, 10, None, "model", env, "model.pkl",
                                                          **kwargs))


def test_threads_releasing_at_once_are_serialized(meta_url: str) -> None:
    """Eight threads release two models into one environment: per name, versions 1-4 and one live."""
    store = Store(meta_url).open()
    failures: list[BaseException] = []

    def work(i: int) -> None:
        try:
            release_to(store, "production", f"{i:064x}", note=str(i), name="ab"[i % 2])
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with store.session() as session:
        for name in "ab":
            history = release_reads.timeline(on(session), "production", name=name)
            live = release_reads.live_release_at(on(session), "production", name=name)
            assert sorted(int(r.version[1:]) for r in history) == list(range(1, 5))
            assert [r.live for r in history] == [True] + [False] * 3 and live == history[0]
        assert len(release_reads.timeline(on(session), "production", at=store_releases.utcnow())) == 2


def test_the_database_refuses_a_second_live_release(meta_url: str) -> None:
    store = Store(meta_url).open()
    first = release_to(store, "production", "a" * 64)
    with pytest.raises(MetaError), store.session(write=True) as session:
        artifact_id = session.scalar(sa.text("SELECT id FROM artifact"))
        session.add(Release(artifact_id=artifact_id, name="model", env="production", version="v99", path="",
                            commit="", note="", user="", released_at=first.released_at, retired_at=None,
                            tags=[]))
    with store.session() as session:
        assert [r.version for r in release_reads.timeline(on(session))] == ["v1"]
    with store.session(write=True) as session:  # another model may be live there at once
        session.add(Release(artifact_id=artifact_id, name="churn", env="production", version="v1", path="",
                            commit="", note="", user="", released_at=first.released_at, retired_at=None,
                            tags=[]))
    with store.session() as session:
        assert [(r.name, r.live) for r in release_reads.timeline(on(session))] == [("churn", True),
                                                                              ("model", True)]


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
        by_artifact = release_reads.releases_of(on(session), [ids["a" * 64], ids["b" * 64], 12345])
        assert [(r.env, r.version) for r in by_artifact[ids["a" * 64]]] == [("production", "v1"),
                                                                            ("staging", "v1")]
        assert [r.version for r in by_artifact[ids["b" * 64]]] == ["v2"] and 12345 not in by_artifact
        live = release_reads.live_release_at
        assert live(on(session), "production", t0 - timedelta(seconds=1)) is None
        assert live(on(session), "production", t0).id == one.id
        assert live(on(session), "production", t0 + timedelta(minutes=59)).retired_at == two.released_at
        assert live(on(session), "production", t0 + timedelta(hours=1)).id == two.id
        assert live(on(session), "production").id == two.id and live(on(session), "nowhere") is None
        assert store_releases.next_version(session, "m", "production") == "v3"
        assert store_releases.next_version(session, "other", "production") == "v1"  # per name
    with store.session(write=True) as session:
        store_releases.release(session, NewRelease("c" * 64, 1, None, "model", "production", "c.pkl",
                                                   name="churn"), at=t0 + timedelta(hours=3))
    with store.session() as session:
        with pytest.raises(UsageError, match="several models were live in production then: churn, m"):
            live(on(session), "production")
        assert live(on(session), "production", name="m").id == two.id  # still live: another name
        assert live(on(session), "production", t0 + timedelta(hours=2), name="churn") is None
