"""Releases: `release`, `releases`, `rollback`, `releases_from_tags` (deliveries: himo.api.delivery).

    from himo import api
    repo = api.Repo.find()
    api.release(repo, "models/model.pkl", "production", note="better recall")   # name: model
    api.release(repo, "models/churn.pkl", "production", name="churn")   # both live in production
    api.live_release(repo, "production", at="2024-05-01T12:00", name="churn")   # which was live then
    api.rollback(repo, "production", name="churn")

Each release names its model (`name`, GTO's artifact name; default: the file name): each name
has at most one live release per environment. Releases are written to the store directly, not
through the journal: a release must see the current state (which release is live, which
versions exist) and fail cleanly, all in one transaction that holds the name's lock. Git tags
(`tag=True`) follow GTO's format (himo.api.gto), so the registry is visible in git hosting
and to GTO; `releases_from_tags` rebuilds history from them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from himo.api.gto import (
    ASSIGN_TAG,
    GTO_NAME,
    PLAIN,
    SEMVER,
    GitTag,
    counter,
    git_tags,
    make_tags,
    tags_undone_on_error,
)
from himo.api.history import parse_when
from himo.api.recording import _user, open_store, reading
from himo.api.revisions import artifact_path, revision
from himo.api.status import status
from himo.api.transfer import get_remote, remote_errors
from himo.errors import HimoError, MetaError, MissingObjectError, PathError, ScmError, UsageError
from himo.meta.kinds import infer_kind
from himo.model import HashInfo, is_digest
from himo.objects.manifest import load_manifest
from himo.pipeline.lockfile import LOCK_FILE, parse_lock
from himo.workspace.pointer import SUFFIX, parse_pointer, pointer_file_for
from himo.workspace.repo import Repo

if TYPE_CHECKING:  # SQLAlchemy loads only when the store is used: importing himo.api stays cheap
    from himo.meta.releases import NewRelease, ReleaseWriter
    from himo.meta.results import ReleaseRow

__all__ = ["TagsRestored", "Tracked", "live_release", "release", "releases", "releases_from_tags", "rollback"]

ENV = re.compile(r"[a-z]([a-z0-9-]{0,62}[a-z0-9])?")  # also a valid GTO stage name
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
NUMERIC = re.compile(r"v(\d+(?:\.\d+)*)(?:[-+].*)?")  # v3, v1.2.3, v1.2.3-rc1: numbers GTO and himo compare


@dataclass(frozen=True)
class Tracked:
    """A tracked path at a revision (the workspace's pointers when `rev` is None)."""

    path: str  # repository-relative
    rev: str | None  # as given in PATH@REV
    commit: str  # the git commit where PATH holds this digest ('' if not committed)
    hash_info: HashInfo
    kind: str  # model, dataset ... (guessed from the path)


# -- checking input -------------------------------------------------------------------------


def check_env(env: str) -> str:
    if not ENV.fullmatch(env or ""):
        raise UsageError(f"--env: {env!r} is not an environment name",
                         "use lower-case letters, digits and '-', starting with a letter "
                         "(production, staging, eu-prod), at most 64 characters")
    return env


def check_version(version: str, tag: bool) -> str:
    semantic = PLAIN.fullmatch(version) or SEMVER.fullmatch(version)
    if not VERSION.fullmatch(version) or (tag and not semantic):
        form = ("vN or vX.Y.Z (git tags need a semantic version)" if tag else
                "a version such as v3, v1.2.0 or 2024-05-rc1 (letters, digits, '.', '_', '+', '-')")
        raise UsageError(f"--version: {version!r} is not a version", f"use {form}")
    if (numbers := NUMERIC.fullmatch(version)) and any(
            len(part) > 1 and part.startswith("0") for part in numbers.group(1).split(".")):
        raise UsageError(f"--version: {version!r} has a number with a leading zero",
                         f"write it without: {_without_zeros(version)} (GTO refuses leading zeros, and "
                         "v007 would count as v7)")
    return version


def _without_zeros(version: str) -> str:
    return re.sub(r"(?<![0-9])0+(?=[0-9])", "", version)


def check_name(name: str) -> str:
    if len(name) > 200 or not GTO_NAME.fullmatch(name):
        raise UsageError(f"--name: {name!r} is not a model name",
                         "use lower-case letters, digits, '-' and '/' (not first or last), as GTO's "
                         "artifact names: churn, fraud-scorer, team/churn; at most 200 characters")
    return name


def gto_name(path: str) -> str:
    """The name a release of `path` gets by default, which is also its GTO artifact name: the
    file name without suffix, lower case, other characters as '-' (models/My_Model.pt ->
    my-model). One rule, himo.meta.releases.default_name (loaded here on use: SQLAlchemy)."""
    from himo.meta.releases import default_name

    return default_name(path)


# -- which bytes a target names -------------------------------------------------------------


def resolve(repo: Repo, target: str) -> Tracked:
    """PATH (as its pointer or himo.lock says now) or PATH@REV, or the name of an artifact in
    himo.yaml (NAME, NAME@REV); PathError if not tracked."""
    target = artifact_path(repo, target)[0]
    path, rev = target.rsplit("@", 1) if "@" in target else (target, None)
    rel = repo.rel(repo.resolve(path))
    at = revision(repo, rev)
    info, data = _tracked_at(repo, rel, at.read)
    if info is None:
        where = f" at {rev}" if rev else ""
        raise PathError(f"{rel}: not tracked{where} (no {rel}{SUFFIX} and no output {rel} in {LOCK_FILE})",
                        f"track it with `himo add {rel}` (or `himo repro` for a stage output) and commit")
    commit = at.commit or _head_commit_with(repo, rel, info.digest)
    return Tracked(rel, rev, commit or "", info, infer_kind(rel, data=data))


def _tracked_at(repo: Repo, rel: str, read: Any) -> tuple[HashInfo | None, bool]:
    """(HashInfo, is source data) of `rel` from the pointer or lock text that `read` returns."""
    text = read(rel + SUFFIX)
    if text is not None:
        return parse_pointer(text, pointer_file_for(repo.root / rel), repo.root).hash_info, True
    lock = read(LOCK_FILE)
    for entry in parse_lock(lock).values() if lock else ():
        for out in entry.outs:
            if out.path == rel and out.digest:
                return HashInfo(out.digest, out.size or 0, out.nfiles), False
    return None, False


def _head_commit_with(repo: Repo, rel: str, digest: str) -> str:
    """HEAD's commit id if HEAD tracks `rel` with `digest` (the pointer is committed), else ''."""
    if repo.git is None or not repo.git.has_commits():
        return ""
    head = revision(repo, "HEAD")
    try:
        info, _ = _tracked_at(repo, rel, head.read)
    except HimoError:
        return ""
    return (head.commit or "") if info is not None and info.digest == digest else ""


def _check_unmodified(repo: Repo, tracked: Tracked) -> None:
    for found in status(repo, [str(repo.root / tracked.path)]):
        if found.path == tracked.path and found.state == "modified":
            raise PathError(f"{tracked.path}: modified in the workspace since it was tracked",
                            f"`himo commit {tracked.path}` to track the new bytes (or `himo checkout "
                            f"{tracked.path}` to undo the change), then release")


def needed_objects(repo: Repo, info: HashInfo) -> set[str]:
    """The objects of a file or directory (a directory's files only when its manifest is cached)."""
    needed = {info.digest}
    if info.isdir and repo.odb.exists(info.digest):
        needed.update(e.digest for e in load_manifest(repo.odb.read_bytes(info.digest), info.digest))
    return needed


def bytes_at(repo: Repo, info: HashInfo) -> str | None:
    """'cache', or 'remote NAME' holding every object of the artifact; None if nowhere."""
    needed = needed_objects(repo, info)
    if repo.odb.existing(needed) == needed:
        return "cache"
    for name in repo.config.remote_names():
        try:
            store = get_remote(repo, name)
            with remote_errors(store):
                if store.existing(needed) == needed:
                    return f"remote {name}"
        except HimoError:  # an unreachable remote just is not a place that has them
            continue
    return None


def _check_bytes(repo: Repo, path: str, info: HashInfo) -> None:
    if bytes_at(repo, info) is None:
        raise MissingObjectError(f"{path}: its bytes (digest {info.digest[:12]}) are in no cache or remote",
                                 f"`himo push {path}` from a machine that has them, then release")


# -- releasing ------------------------------------------------------------------------------


def release(repo: Repo, target: str, env: str, version: str | None = None, note: str = "",
            tag: bool = False, name: str | None = None) -> ReleaseRow:
    """Make the tracked artifact at TARGET (PATH or PATH@REV) live in `env` from now, as the
    model `name` (default: the file name, `gto_name`).

    The path must be tracked, unmodified in the workspace, and its bytes in the cache or a
    remote. The live release of the same name in `env` is retired at the same instant; the
    other models live there stay. Refused if this artifact is that live release already, or
    if the default name is the name of another path (give `name`). `version`: himo's label,
    default the next vN of the name in `env`. `tag`: also make GTO's annotated git tags at the
    commit holding it (see `make_tags`).
    """
    check_env(env)
    if name is not None:
        check_name(name)
    if version is not None:
        check_version(version, tag)
    tracked = resolve(repo, target)
    name = name or artifact_path(repo, target)[1]  # an artifact of himo.yaml is released under its name
    if tracked.rev is None:
        _check_unmodified(repo, tracked)
    _check_bytes(repo, tracked.path, tracked.hash_info)
    if tag and not tracked.commit:
        raise ScmError(f"{tracked.path}: this version is not committed to git, so no tag can point at it",
                       f"commit {tracked.path}{SUFFIX} (or {LOCK_FILE}) first, or release without --tag")
    info = tracked.hash_info
    # Tags are made inside the transaction, and deleted if it fails (even at its commit).
    from himo.meta.releases import NewRelease

    with tags_undone_on_error(repo) as created, store_writing(repo) as writer:
        new = NewRelease(info.digest, info.size, info.nfiles, tracked.kind, env, tracked.path,
                         tracked.commit, version, note, _user(), name or "")
        row = writer.release(new)
        if tag:
            row = _tagged(repo, writer, row, created, version)
    return row


def _tagged(repo: Repo, writer: ReleaseWriter, row: ReleaseRow, created: list[str],
            asked: str | None) -> ReleaseRow:
    make_tags(repo, row, created, asked)
    writer.set_tags(row.id, created)
    return dataclasses.replace(row, tags=list(created))


def rollback(repo: Repo, env: str, to: str | None = None, note: str | None = None, name: str | None = None,
             tag: bool | None = None) -> ReleaseRow:
    """A new release of the model `name` in `env` (name may be left out when one model was
    released there) of an earlier release's artifact: `to` (a version), else the newest earlier
    release whose artifact differs from the live one. History stays append-only.

    `tag`: make GTO's assignment tag (NAME#ENV#N) for it, so `releases_from_tags` rebuilds the
    rollback too; None (default): when the release it returns to has git tags.
    """
    check_env(env)
    if name is not None:
        check_name(name)
    from himo.meta.releases import NewRelease

    with tags_undone_on_error(repo) as created, store_writing(repo) as writer:
        name = _rollback_name(writer, env, name)
        writer.lock_name(name)
        history = writer.timeline(env, name=name)
        earlier = _rollback_target(env, name, history, to)
        tag = bool(earlier.tags) if tag is None else tag
        if tag and not earlier.commit:
            raise ScmError(f"{earlier.version} of {name} in {env} was not released from a git commit, so no "
                           "tag can point at it", "roll back with --no-tag")
        stored = writer.artifact_info(earlier.digest)
        info = HashInfo(earlier.digest, stored.size if stored else 0, stored.nfiles if stored else None)
        _check_bytes(repo, earlier.path, info)
        why = note if note is not None else f"rollback to {earlier.version}"
        new = NewRelease(earlier.digest, info.size, info.nfiles, earlier.kind, env, earlier.path,
                         earlier.commit, None, why, _user(), name)
        row = writer.release(new)
        if tag:
            row = _tagged(repo, writer, row, created, None)
    return row


def _rollback_name(writer: ReleaseWriter, env: str, name: str | None) -> str:
    """`name`, else the one model released in `env`; an error naming them if there are several."""
    there = writer.names(env)
    if not there:
        envs = writer.envs()
        known = f"environments released to: {', '.join(envs)}" if envs else "nothing is released yet"
        raise MetaError(f"no release in environment {env!r}", known)
    if name is None and len(there) > 1:
        raise UsageError(f"{env} has releases of several models: {', '.join(there)}",
                         f"say which to roll back: --name {there[0]}")
    if name is not None and name not in there:
        raise MetaError(f"no release of {name!r} in environment {env!r}",
                        f"models released there: {', '.join(there)}")
    return name or there[0]


def _rollback_target(env: str, name: str, history: list[ReleaseRow], to: str | None) -> ReleaseRow:
    live = history[0] if history[0].live else None
    if to is not None:
        for row in history:
            if row is live and row.version == to:
                raise MetaError(f"{name}: {to} is already live in {env}", "roll back to an earlier "
                                f"version; see `himo releases --env {env} --name {name}`")
            if row.version == to:
                return row
        versions = ", ".join(r.version for r in history[:10])
        raise MetaError(f"{env} has no release {to!r} of {name}", f"its versions: {versions}")
    for row in history:
        if live is None or row.digest != live.digest:
            return row
    raise MetaError(f"nothing to roll back to in {env}: every release of {name} there is the live artifact",
                    f"release another version: himo release PATH --env {env} --name {name}")


# -- reading --------------------------------------------------------------------------------


def releases(repo: Repo, env: str | None = None, at: str | datetime | None = None,
             name: str | None = None) -> list[ReleaseRow]:
    """Releases by environment, then model name, each newest first; `at` (a time, or an age
    such as 2h): only those live then (which models were live in each environment). Times:
    naive = UTC for datetimes, local time for text."""
    if env is not None:
        check_env(env)
    if name is not None:
        check_name(name)
    when = parse_when(at, "--at")
    with reading(repo) as meta:
        return meta.timeline(env, when, name)


def live_release(repo: Repo, env: str, at: str | datetime | None = None,
                 name: str | None = None) -> ReleaseRow | None:
    """The release of the model `name` live in `env` at `at` (default now), or None. Without a
    name: the one live there; UsageError if several models were (use `releases(repo, env, at)`)."""
    check_env(env)
    if name is not None:
        check_name(name)
    when = parse_when(at, "--at")
    with reading(repo) as meta:
        return meta.live_release(env, when, name)


@dataclass(frozen=True)
class TagsRestored:
    """What `releases_from_tags` did with each GTO assignment tag (`NAME#ENV...`) of the repository."""

    restored: list[str] = field(default_factory=list)  # tags that became releases
    known: list[str] = field(default_factory=list)  # tags whose release the store already had
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (tag, why it was not restored)


def releases_from_tags(repo: Repo) -> TagsRestored:
    """Rebuild release history from GTO assignment tags (`NAME#ENV#N`) made by `release(tag=True)`
    or `rollback`: each is a release of the model NAME at its tag's time, retired when the next
    one of NAME in its env began. Releases already in the store are kept. Every tag that looks
    like an assignment (`NAME#...`) and is not restored is in `skipped`, with why."""
    if repo.git is None:
        raise ScmError(f"not a git repository: {repo.root}", "tags live in git: run this in a clone")
    tags = git_tags(repo)
    rows, times, names, skipped = [], [], [], []
    for tag in sorted((t for t in tags if "#" in t), key=lambda t: (tags[t].time, counter(t), t)):
        new, why = _release_from_tag(repo, tag, tags[tag])
        if new is None:
            skipped.append((tag, why))
            continue
        rows.append(new)
        times.append(datetime.fromtimestamp(tags[tag].time, UTC).replace(tzinfo=None))
        names.append([tag])
    from himo.meta.releases import KNOWN

    with store_writing(repo) as writer:
        outcome = writer.restore(rows, times, names)
    return TagsRestored([t for t, why in outcome if not why], [t for t, why in outcome if why == KNOWN],
                        skipped + [(t, why) for t, why in outcome if why and why != KNOWN])


def _release_from_tag(repo: Repo, name: str, tag: GitTag) -> tuple[NewRelease | None, str]:
    """The release an assignment tag records, from himo's lines in its message (size and kind
    from the pointer or himo.lock at its commit), else (None, why not). GTO's own tags do not
    say which file the artifact is."""
    match = ASSIGN_TAG.fullmatch(name)
    if match is None:
        return None, "not an assignment NAME#ENV#N (GTO's unassignments and old tags are not releases)"
    if not tag.annotated:
        return None, "a lightweight tag (GTO reads only annotated tags; it has no message)"
    env = match.group("env")
    if not ENV.fullmatch(env):
        return None, f"{env!r} is not a himo environment name (a letter first, at most 64 characters)"
    facts = dict(line.split(": ", 1) for line in tag.message.splitlines() if ": " in line)
    path, digest, version = facts.get("path"), facts.get("digest", ""), facts.get("version")
    if not path or not is_digest(digest):
        return None, "its message has no himo facts (path:, digest:): not made by himo, the file is unknown"
    if facts.get("env", env) != env:
        return None, f"its message says env {facts['env']}, its name {env}"
    try:
        info, data = _tracked_at(repo, path, revision(repo, tag.commit).read)
    except HimoError:
        info, data = None, False
    size, nfiles = (info.size, info.nfiles) if info and info.digest == digest else (0, None)
    from himo.meta.releases import NewRelease

    return NewRelease(digest, size, nfiles, facts.get("kind") or infer_kind(path, data=data), env, path,
                      tag.commit, version if version and VERSION.fullmatch(version) else None,
                      facts.get("note", ""), tag.tagger, match.group("name")), ""


# -- store sessions -------------------------------------------------------------------------


@contextmanager
def store_writing(repo: Repo) -> Iterator[ReleaseWriter]:
    """A write transaction on the store (pending journals delivered first): committed when the
    block ends, rolled back on any error."""
    from himo.meta.releases import writing

    store = open_store(repo)
    try:
        with writing(store) as writer:
            yield writer
    finally:
        store.close()
