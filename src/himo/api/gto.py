"""GTO's git-tag format for releases: `NAME@vX.Y.Z` registers a version of the model NAME at a
commit, `NAME#ENV#N` assigns the version registered at its commit to the environment ENV.

GTO (the git-tag model registry used with DVC Studio) reads these, so a release made with
`--tag` is visible in git hosting and to GTO users. Versions are per name, one per commit.
Git only, no store: `himo.api.release` decides what is released and calls `make_tags`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, NamedTuple

from himo.errors import HimoError, ScmError, UsageError
from himo.workspace.repo import Repo

if TYPE_CHECKING:
    from himo.meta.results import ReleaseRow

SEMVER = re.compile(r"v(\d+)\.(\d+)\.(\d+)")
PLAIN = re.compile(r"v(\d+)")
GTO_NAME = re.compile(r"[a-z0-9]([a-z0-9-/]*[a-z0-9])?")  # GTO's artifact (and stage) names
_NAME = r"[a-z0-9](?:[a-z0-9-/]*[a-z0-9])?"
_GTO_SEMVER = (r"v(?P<major>0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"  # GTO's: no leading zeros
               r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
ASSIGN_TAG = re.compile(rf"(?P<name>{_NAME})#(?P<env>{_NAME})#(?P<counter>\d+)")
REGISTER_TAG = re.compile(rf"(?P<name>{_NAME})@(?P<version>{_GTO_SEMVER})(?P<cancel>!?)(?:#\d+)?")
COUNTER = re.compile(r".*#(\d+)")


def semver(version: str) -> str:
    """A himo version as GTO's semantic version: vN -> vN.0.0; vX.Y.Z stays."""
    if match := PLAIN.fullmatch(version):
        return f"v{match.group(1)}.0.0"
    if SEMVER.fullmatch(version):
        return version
    raise UsageError(f"version {version!r} has no semantic version for a git tag", "use vN or vX.Y.Z")


def counter(tag: str) -> int:
    """N of a tag ending in #N (0 if none)."""
    return int(m.group(1)) if (m := COUNTER.fullmatch(tag)) else 0


class GitTag(NamedTuple):
    commit: str  # the commit it points at
    time: int  # tagger date (a lightweight tag: its commit's date), unix seconds
    tagger: str
    message: str
    annotated: bool = True  # False: a lightweight tag (GTO ignores those)


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
def tags_undone_on_error(repo: Repo) -> Iterator[list[str]]:
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
