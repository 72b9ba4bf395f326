"""Releases and deliveries: `release`, `releases`, `rollback`, `export_artifact`, `where`.

    from himo import api
    repo = api.Repo.find()
    api.release(repo, "models/model.pkl", "production", note="better recall")   # name: model
    api.release(repo, "models/churn.pkl", "production", name="churn")   # both live in production
    api.live_release(repo, "production", at="2024-05-01T12:00", name="churn")   # which was live then
    api.rollback(repo, "production", name="churn")
    api.export_artifact(repo, "predictions.csv", "s3://bucket/deliveries")
    for place in api.where(repo, "models/model.pkl").places:
        print(place.kind, place.url, place.first_at)

Each release names its model (`name`, GTO's artifact name; default: the file name): each name
has at most one live release per environment. Releases are written to the store directly, not
through the journal: a release must see the current state (which release is live, which
versions exist) and fail cleanly, all in one transaction that holds the name's lock. Git tags
(`tag=True`) follow GTO's format, so the registry is visible in git hosting and to GTO:
`NAME@vX.Y.Z` registers a version of NAME at a commit, `NAME#ENV#N` assigns the version
registered at its commit to the environment; `releases_from_tags` rebuilds history from them.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from himo.api.history import parse_when
from himo.api.recording import _user, recording, store_session
from himo.api.revisions import revision
from himo.api.status import status
from himo.api.transfer import get_remote, remote_errors
from himo.errors import HimoError, MetaError, MissingObjectError, PathError, RemoteError, ScmError, UsageError
from himo.meta.kinds import infer_kind
from himo.meta.records import ArtifactRef
from himo.model import HashInfo, is_digest
from himo.objects.manifest import load_manifest
from himo.pipeline.lockfile import LOCK_FILE, parse_lock
from himo.remotes.destination import open_destination
from himo.remotes.registry import scheme_of
from himo.workspace.pointer import SUFFIX, parse_pointer, pointer_file_for
from himo.workspace.repo import Repo

if TYPE_CHECKING:  # SQLAlchemy loads only when the store is used: importing himo.api stays cheap
    from himo.meta.releases import NewRelease, ReleaseRow

__all__ = [
    "ExportResult", "Place", "TagsRestored", "Tracked", "WhereResult", "export_artifact",
    "live_release", "release", "releases", "releases_from_tags", "rollback", "where",
]

ENV = re.compile(r"[a-z]([a-z0-9-]{0,62}[a-z0-9])?")  # also a valid GTO stage name
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
SEMVER = re.compile(r"v(\d+)\.(\d+)\.(\d+)")
PLAIN = re.compile(r"v(\d+)")
NUMERIC = re.compile(r"v(\d+(?:\.\d+)*)(?:[-+].*)?")  # v3, v1.2.3, v1.2.3-rc1: numbers GTO and himo compare
GTO_NAME = re.compile(r"[a-z0-9]([a-z0-9-/]*[a-z0-9])?")  # GTO's artifact (and stage) names
_NAME = r"[a-z0-9](?:[a-z0-9-/]*[a-z0-9])?"
_GTO_SEMVER = (r"v(?P<major>0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"  # GTO's: no leading zeros
               r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
ASSIGN_TAG = re.compile(rf"(?P<name>{_NAME})#(?P<env>{_NAME})#(?P<counter>\d+)")
REGISTER_TAG = re.compile(rf"(?P<name>{_NAME})@(?P<version>{_GTO_SEMVER})(?P<cancel>!?)(?:#\d+)?")
COUNTER = re.compile(r".*#(\d+)")


@dataclass(frozen=True)
class Tracked:
    """A tracked path at a revision (the workspace's pointers when `rev` is None)."""

    path: str  # repository-relative
    rev: str | None  # as given in PATH@REV
    commit: str  # the git commit where PATH holds this digest ('' if not committed)
    hash_info: HashInfo
    kind: str  # model, dataset ... (guessed from the path)


@dataclass(frozen=True)
class ExportResult:
    path: str  # the tracked path exported
    digest: str
    url: str  # where its copy now is: DEST/NAME (a folder for a directory)
    files: int
    size: int  # bytes copied


@dataclass(frozen=True)
class Place:
    """One place the bytes of an artifact are known to be."""

    kind: str  # cache | remote | export | release
    url: str  # cache folder, remote or export URL; for a release: ENV
    first_at: datetime | None  # naive UTC: first recorded there (release: released_at)
    last_at: datetime | None  # last confirmed there (release: retired_at, None while live)
    who: str = ""
    detail: str = ""  # cache: complete or what is missing; release: name version, live or retired


@dataclass(frozen=True)
class WhereResult:
    target: str
    digest: str
    path: str | None  # when TARGET named a tracked path
    places: list[Place] = field(default_factory=list)


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


def semver(version: str) -> str:
    """A himo version as GTO's semantic version: vN -> vN.0.0; vX.Y.Z stays."""
    if match := PLAIN.fullmatch(version):
        return f"v{match.group(1)}.0.0"
    if SEMVER.fullmatch(version):
        return version
    raise UsageError(f"version {version!r} has no semantic version for a git tag", "use vN or vX.Y.Z")


def gto_name(path: str) -> str:
    """The name a release of `path` gets by default, which is also its GTO artifact name: the
    file name without suffix, lower case, other characters as '-' (models/My_Model.pt ->
    my-model). One rule, himo.meta.releases.default_name (loaded here on use: SQLAlchemy)."""
    from himo.meta.releases import default_name

    return default_name(path)


# -- which bytes a target names -------------------------------------------------------------


def resolve(repo: Repo, target: str) -> Tracked:
    """PATH (as its pointer or himo.lock says now) or PATH@REV; PathError if not tracked."""
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
        needed.update(e.digest for e in load_manifest(repo.odb.read_bytes(info.digest)))
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
    if tracked.rev is None:
        _check_unmodified(repo, tracked)
    _check_bytes(repo, tracked.path, tracked.hash_info)
    if tag and not tracked.commit:
        raise ScmError(f"{tracked.path}: this version is not committed to git, so no tag can point at it",
                       f"commit {tracked.path}{SUFFIX} (or {LOCK_FILE}) first, or release without --tag")
    info = tracked.hash_info
    # Tags are made inside the transaction, and deleted if it fails (even at its commit).
    with _tags_undone_on_error(repo) as created, _writing(repo) as (session, store_releases):
        new = store_releases.NewRelease(info.digest, info.size, info.nfiles, tracked.kind, env, tracked.path,
                                        tracked.commit, version, note, _user(), name or "")
        row = store_releases.release(session, new)
        if tag:
            row = _tagged(repo, session, store_releases, row, created, version)
    return row


def _tagged(repo: Repo, session: Any, store_releases: Any, row: ReleaseRow, created: list[str],
            asked: str | None) -> ReleaseRow:
    make_tags(repo, row, created, asked)
    store_releases.set_tags(session, row.id, created)
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
    with _tags_undone_on_error(repo) as created, _writing(repo) as (session, store_releases):
        name = _rollback_name(store_releases, session, env, name)
        store_releases.lock_name(session, name)
        history = store_releases.timeline(session, env, name=name)
        earlier = _rollback_target(env, name, history, to)
        tag = bool(earlier.tags) if tag is None else tag
        if tag and not earlier.commit:
            raise ScmError(f"{earlier.version} of {name} in {env} was not released from a git commit, so no "
                           "tag can point at it", "roll back with --no-tag")
        stored = store_releases.artifact_info(session, earlier.digest)
        info = HashInfo(earlier.digest, stored[2] if stored else 0, stored[3] if stored else None)
        _check_bytes(repo, earlier.path, info)
        why = note if note is not None else f"rollback to {earlier.version}"
        new = store_releases.NewRelease(earlier.digest, info.size, info.nfiles, earlier.kind, env,
                                        earlier.path, earlier.commit, None, why, _user(), name)
        row = store_releases.release(session, new)
        if tag:
            row = _tagged(repo, session, store_releases, row, created, None)
    return row


def _rollback_name(store_releases: Any, session: Any, env: str, name: str | None) -> str:
    """`name`, else the one model released in `env`; an error naming them if there are several."""
    there = store_releases.names(session, env)
    if not there:
        envs = store_releases.envs(session)
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
    with _reading(repo) as (session, store_releases):
        return store_releases.timeline(session, env, when, name)


def live_release(repo: Repo, env: str, at: str | datetime | None = None,
                 name: str | None = None) -> ReleaseRow | None:
    """The release of the model `name` live in `env` at `at` (default now), or None. Without a
    name: the one live there; UsageError if several models were (use `releases(repo, env, at)`)."""
    check_env(env)
    if name is not None:
        check_name(name)
    when = parse_when(at, "--at")
    with _reading(repo) as (session, store_releases):
        return store_releases.live_release_at(session, env, when, name)


# -- git tags (GTO's format) ----------------------------------------------------------------


class GitTag(NamedTuple):
    commit: str  # the commit it points at
    time: int  # tagger date (a lightweight tag: its commit's date), unix seconds
    tagger: str
    message: str
    annotated: bool = True  # False: a lightweight tag (GTO ignores those)


@dataclass(frozen=True)
class TagsRestored:
    """What `releases_from_tags` did with each GTO assignment tag (`NAME#ENV...`) of the repository."""

    restored: list[str] = field(default_factory=list)  # tags that became releases
    known: list[str] = field(default_factory=list)  # tags whose release the store already had
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (tag, why it was not restored)


def make_tags(repo: Repo, row: ReleaseRow, created: list[str], asked: str | None = None) -> None:
    """Annotated tags at the release's commit, appended to `created` as made: the version
    `NAME@vX.Y.Z` unless that commit already has one (GTO versions are per name, one per commit:
    releasing a commit to staging, then production, reuses it), then the assignment
    `NAME#ENV#N` (N: one more than NAME's highest counter). The version is the one registered at
    the commit, else `asked` (the user's --version) as vX.Y.Z, else the next major after NAME's
    highest. ScmError if a tag to create exists; UsageError if `asked` contradicts the commit's."""
    tags = git_tags(repo)
    version, register = _gto_version(tags, row, asked)
    message = _tag_message(row, version)
    if register:
        _refuse_existing(tags, f"{row.name}@{version}", "give another --version")
        _tag(repo, f"{row.name}@{version}",
             f"Registering artifact {row.name} version {version}\n\n{message}", row.commit)
        created.append(f"{row.name}@{version}")
    counters = [int(m.group(1)) for t in tags if t.startswith((row.name + "#", row.name + "@"))
                if (m := COUNTER.fullmatch(t))]
    assign = f"{row.name}#{row.env}#{max(counters, default=0) + 1}"
    _refuse_existing(tags, assign, "the counter is one more than the highest of its name's tags")
    _tag(repo, assign, f"Assigning stage {row.env} to artifact {row.name} version {version}\n\n{message}",
         row.commit)
    created.append(assign)


def _gto_version(tags: dict[str, GitTag], row: ReleaseRow, asked: str | None) -> tuple[str, bool]:
    """(GTO version for the release's commit, whether to register it)."""
    versions = [(m.group("version"), m.group("cancel"), tags[t]) for t in tags
                if (m := REGISTER_TAG.fullmatch(t)) and m.group("name") == row.name]
    at_commit = sorted({v for v, cancel, found in versions
                        if found.commit == row.commit and found.annotated and not cancel})
    wanted = semver(asked) if asked else None
    if at_commit and wanted and wanted not in at_commit:
        raise UsageError(f"--version {asked}: commit {row.commit[:8]} is already registered as "
                         f"{row.name}@{at_commit[0]} (GTO: one version per commit)",
                         f"leave out --version (the tags then use {at_commit[0]}), or give --version "
                         f"{at_commit[0]}")
    if at_commit:
        return (wanted or at_commit[-1]), False
    if wanted:
        return wanted, True
    majors = [int(m.group("major")) for v, _, _ in versions if (m := re.match(_GTO_SEMVER, v))]
    return f"v{max(majors, default=0) + 1}.0.0", True


def _tag_message(row: ReleaseRow, version: str) -> str:
    """himo's facts, one `key: value` a line, so `releases_from_tags` can rebuild the release."""
    lines = [f"himo release {row.version} of {row.path} to {row.env} (GTO version {version})",
             f"name: {row.name}", f"digest: {row.digest}", f"path: {row.path}", f"env: {row.env}",
             f"version: {row.version}", f"gto_version: {version}", f"kind: {row.kind}"]
    return "\n".join(lines + ([f"note: {' '.join(row.note.split())}"] if row.note else []))


def _refuse_existing(tags: dict[str, GitTag], name: str, hint: str) -> None:
    if name in tags:
        found = tags[name]
        kind = "" if found.annotated else "a lightweight tag, "
        raise ScmError(f"git tag {name} already exists ({kind}at commit {found.commit[:8]}); "
                       "nothing released", f"{hint}; or delete the tag (git tag -d {name}) if it is wrong")


def _tag(repo: Repo, name: str, message: str, commit: str) -> None:
    assert repo.git is not None
    repo.git.run("tag", "-a", name, "-m", message, commit)


@contextmanager
def _tags_undone_on_error(repo: Repo) -> Iterator[list[str]]:
    created: list[str] = []
    try:
        yield created
    except BaseException:
        for name in created:
            with suppress(HimoError):
                repo.git.run("tag", "-d", name)  # type: ignore[union-attr]
        raise


def git_tags(repo: Repo) -> dict[str, GitTag]:
    """Every tag of the repository by name, annotated and lightweight (one `git for-each-ref`)."""
    if repo.git is None:
        return {}
    out = repo.git.run("for-each-ref", "refs/tags",
                       "--format=%(refname:strip=2)%1f%(objecttype)%1f%(objectname)%1f%(*objectname)%1f"
                       "%(creatordate:unix)%1f%(taggername)%1f%(contents)%1e").decode("utf-8", "replace")
    found = {}
    for record in out.split("\x1e"):
        fields = record.lstrip("\n").split("\x1f")
        if len(fields) != 7 or not fields[4].isdigit():
            continue
        annotated = fields[1] == "tag"
        found[fields[0]] = GitTag(fields[3] if annotated else fields[2], int(fields[4]), fields[5],
                                  fields[6] if annotated else "", annotated)
    return found


def releases_from_tags(repo: Repo) -> TagsRestored:
    """Rebuild release history from GTO assignment tags (`NAME#ENV#N`) made by `release(tag=True)`
    or `rollback`: each is a release of the model NAME at its tag's time, retired when the next
    one of NAME in its env began. Releases already in the store are kept. Every tag that looks
    like an assignment (`NAME#...`) and is not restored is in `skipped`, with why."""
    if repo.git is None:
        raise ScmError(f"not a git repository: {repo.root}", "tags live in git: run this in a clone")
    tags = git_tags(repo)
    rows, times, names, skipped = [], [], [], []
    for tag in sorted((t for t in tags if "#" in t), key=lambda t: (tags[t].time, _counter(t), t)):
        new, why = _release_from_tag(repo, tag, tags[tag])
        if new is None:
            skipped.append((tag, why))
            continue
        rows.append(new)
        times.append(datetime.fromtimestamp(tags[tag].time, UTC).replace(tzinfo=None))
        names.append([tag])
    with _writing(repo) as (session, store_releases):
        outcome = store_releases.restore(session, rows, times, names)
    return TagsRestored([t for t, why in outcome if not why],
                        [t for t, why in outcome if why == store_releases.KNOWN],
                        skipped + [(t, why) for t, why in outcome if why and why != store_releases.KNOWN])


def _counter(tag: str) -> int:
    return int(m.group(1)) if (m := COUNTER.fullmatch(tag)) else 0


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


# -- deliveries -----------------------------------------------------------------------------


def export_artifact(repo: Repo, target: str, dest: str, remote: str | None = None,
                    jobs: int | None = None) -> ExportResult:
    """Copy the tracked bytes of TARGET (PATH or PATH@REV; a file or a directory), from the
    cache, into the folder or URL `dest` (as DEST/NAME), and record a Location (kind export).

    remote: the configured remote whose connection settings (endpoint, credentials) reach
    `dest`; default: a remote on the same host or bucket. Nothing is recorded if a copy fails.
    """
    tracked = resolve(repo, target)
    files = _export_files(repo, tracked)
    destination = open_destination(dest, _connection(repo, dest, remote), os.getcwd())
    name = PurePosixPath(tracked.path).name
    try:
        destination.put_all([(src, f"{name}/{rel}" if rel else name) for src, rel in files],
                            jobs or repo.jobs)
    except HimoError:
        raise
    except Exception as exc:  # boundary: OSError, botocore, aiohttp ... one message
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise RemoteError(f"cannot export {tracked.path} to {dest}: {detail}",
                          "check that DEST exists or can be created and is writable (for a bucket: its "
                          "name, the credentials, and -r NAME for a remote's endpoint)") from None
    url = destination.url_of(name)
    info = tracked.hash_info
    with recording(repo, "export", [target, dest]) as recorder:
        recorder.location(ArtifactRef(path=tracked.path, digest=info.digest, size=info.size,
                                      nfiles=info.nfiles, kind=tracked.kind), "export", url)
    return ExportResult(tracked.path, info.digest, url, len(files), info.size)


def _export_files(repo: Repo, tracked: Tracked) -> list[tuple[str, str]]:
    """(cache file, path inside the export) of every file; MissingObjectError if any is not cached."""
    info = tracked.hash_info
    needed = needed_objects(repo, info)
    if not repo.odb.exists(info.digest) or repo.odb.existing(needed) != needed:
        raise MissingObjectError(f"{tracked.path}: its bytes (digest {info.digest[:12]}) are not all in "
                                 "the cache", f"`himo pull {tracked.path}` first, then export")
    if not info.isdir:
        return [(repo.odb.path(info.digest), "")]
    return [(repo.odb.path(e.digest), e.path) for e in load_manifest(repo.odb.read_bytes(info.digest))]


def _connection(repo: Repo, dest: str, remote: str | None) -> dict[str, Any]:
    """Connection settings for `dest`: those of `remote`, or of a remote on the same scheme and
    host/bucket; none for a folder."""
    if remote is not None:
        get_remote(repo, remote)  # ConfigError naming the known remotes
        return repo.config.remote(remote)
    if scheme_of(dest) in ("", "file"):
        return {}
    wanted = urlsplit(dest)[:2]
    for name in repo.config.remote_names():
        options = repo.config.remote(name)
        if urlsplit(str(options.get("url", "")))[:2] == wanted:
            return options
    return {}


def where(repo: Repo, target: str) -> WhereResult:
    """Every place the bytes of TARGET (PATH, PATH@REV, or a digest or its first characters) are
    known to be: the cache (checked now), remotes and exports recorded, releases."""
    path, info = None, None
    if "@" in target or not re.fullmatch(r"[0-9a-fA-F]{4,64}", target) or os.path.exists(target) \
            or os.path.exists(target + SUFFIX):
        tracked = resolve(repo, target)
        path, info = tracked.path, tracked.hash_info
    with _reading(repo) as (session, store_releases):
        digest = info.digest if info else _digest_by_prefix(session, target)
        stored = store_releases.artifact_info(session, digest)
        locations = store_releases.locations(session, digest)
        released = store_releases.releases_of_digest(session, digest)
    if info is None:
        info = HashInfo(digest, stored[2] if stored else 0, stored[3] if stored else None)
    places = [_cache_place(repo, info)]
    places += [Place(loc.kind, loc.url, loc.first_at, loc.last_at, loc.who) for loc in locations]
    places += [Place("release", r.env, r.released_at, r.retired_at, r.who,
                     f"{r.name} {r.version}, {'live' if r.live else 'retired'}") for r in released]
    return WhereResult(target, digest, path, places)


def _cache_place(repo: Repo, info: HashInfo) -> Place:
    needed = needed_objects(repo, info)
    have = repo.odb.existing(needed)
    if not repo.odb.exists(info.digest):
        detail = "not in the cache"
    elif have == needed:
        detail = "complete"
    else:
        detail = f"partial: {len(needed) - len(have)} of {len(needed)} objects missing"
    return Place("cache", str(repo.odb.root), None, None, "", detail)


def _digest_by_prefix(session: Any, prefix: str) -> str:
    from himo.meta import queries

    found = queries.find_artifacts(session, prefix)
    if not found:
        raise MetaError(f"{prefix}: no tracked path, and no artifact in the metadata store has a digest "
                        "starting so", "give a tracked path, PATH@REV, or a digest from `himo runs show ID`")
    if len(found) > 1:
        raise MetaError(f"digest prefix {prefix!r} is ambiguous: {len(found)} artifacts match",
                        "give more characters of the digest")
    return found[0][0]


# -- store sessions -------------------------------------------------------------------------


@contextmanager
def _reading(repo: Repo) -> Iterator[tuple[Any, Any]]:
    """A read transaction (pending journals delivered first), and himo.meta.releases."""
    from himo.meta import releases as store_releases

    with store_session(repo) as session:
        yield session, store_releases


@contextmanager
def _writing(repo: Repo) -> Iterator[tuple[Any, Any]]:
    """A write transaction: committed when the block ends, rolled back on any error."""
    from himo.meta import releases as store_releases

    with store_session(repo, write=True) as session:
        yield session, store_releases
