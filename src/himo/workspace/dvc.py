"""DVC 3's files, read once, for `himo migrate dvc` and imports from DVC repositories.

What is read, and nothing more: `.dvc` files (one tracked output, or an import with
`deps: [{path, repo: {url, rev, rev_lock}}]`), `dvc.lock` (schema 2.0: per stage cmd, deps,
params, outs with `md5`), `.dvc/config` and `.dvc/config.local` (INI: remotes, core.remote) and
DVC's cache layout (`files/md5/ab/cdef...`; a directory's listing is the object `<md5>.dir`, a
JSON list of `{"md5", "relpath"}` sorted by relpath). Digests are md5 (DVC 3's `hash: md5`);
entries without `hash: md5` were written by DVC 2 (md5 of text with CRLF made LF) and are not
trusted. Every path read is checked into a repository-relative path that cannot escape.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import json
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from himo.errors import PathError, ScmError
from himo.model.paths import path_problem
from himo.objects.walk import IgnoreFn, walk_files
from himo.workspace import yamlload
from himo.workspace.git import Git, find_git_root

DVC_DIR = ".dvc"
DVC_SUFFIX = ".dvc"
LOCK_FILE = "dvc.lock"
IGNORE_FILE = ".dvcignore"  # gitignore syntax: files DVC leaves out of tracked folders
PIPELINE_FILE = "dvc.yaml"
MD5_RE = re.compile(r"[0-9a-f]{32}(\.dir)?")
CHUNK = 1 << 20
REFETCH = "fetch it again with `dvc fetch`"


DvcFormatError = PathError  # a DVC file that cannot be read: one line naming the file and the field


@dataclass(frozen=True)
class DvcOut:
    path: str  # repository-relative POSIX path
    md5: str | None  # 32 hex, `.dir` appended for a directory; None if DVC recorded none
    size: int | None = None
    nfiles: int | None = None
    cache: bool = True
    legacy: bool = False  # DVC 2's md5-dos2unix: not comparable with the bytes' md5


@dataclass(frozen=True)
class DvcImport:
    url: str  # the source git repository
    path: str  # the path in that repository
    rev: str | None  # what the user asked for (branch, tag), if anything
    rev_lock: str | None  # the commit DVC resolved


@dataclass(frozen=True)
class DvcFile:
    file: str  # repository-relative path of the .dvc file
    out: DvcOut
    source: DvcImport | None = None
    frozen: bool = False


@dataclass(frozen=True)
class DvcLockStage:
    name: str
    cmd: tuple[str, ...]
    deps: tuple[DvcOut, ...]
    params: dict[str, dict[str, Any]]
    outs: tuple[DvcOut, ...]


# -- parsing ------------------------------------------------------------------------------------
def _load(text: str, rel: str) -> Any:
    try:
        return yamlload.load(text)
    except yaml.YAMLError as exc:  # with the problem: "an alias bomb?" says more than a line number
        raise DvcFormatError(f"{rel}: {yamlload.invalid(exc)}", f"fix {rel} (or restore it from git)") \
            from exc


def _rel_path(raw: Any, folder: str, rel: str, field: str) -> str:
    """`raw`, relative to `folder` (repository-relative), as a repository-relative path."""
    if not isinstance(raw, str) or not raw:
        raise DvcFormatError(f"{rel}: {field} must be a path, not {raw!r}", f"fix {rel}")
    joined = posixpath.normpath(posixpath.join(folder, raw)) if folder not in ("", ".") else raw
    problem = path_problem(joined)
    if problem is not None:
        raise DvcFormatError(f"{rel}: {field} {raw!r} {problem}",
                             f"fix {rel}: paths stay inside the repository")
    return joined


def _out(item: Any, folder: str, rel: str, field: str) -> DvcOut:
    if not isinstance(item, dict) or "path" not in item:
        raise DvcFormatError(f"{rel}: each of {field} must be a mapping with 'path'", f"fix {rel}")
    md5 = item.get("md5")
    if md5 is not None and (not isinstance(md5, str) or not MD5_RE.fullmatch(md5)):
        raise DvcFormatError(f"{rel}: {field} {item['path']!r}: malformed md5 {md5!r}", f"fix {rel}")
    size, nfiles = item.get("size"), item.get("nfiles")
    for name, value in (("size", size), ("nfiles", nfiles)):
        if value is not None and (type(value) is not int or value < 0):
            raise DvcFormatError(f"{rel}: {field} {item['path']!r}: bad {name} {value!r}", f"fix {rel}")
    return DvcOut(_rel_path(item["path"], folder, rel, field), md5, size, nfiles,
                  item.get("cache", True) is not False, md5 is not None and item.get("hash") != "md5")


def parse_dvc_file(text: str, rel: str) -> DvcFile:
    """A `.dvc` file's content (`rel`: its repository-relative path); DvcFormatError if malformed."""
    doc = _load(text, rel)
    if not isinstance(doc, dict):
        raise DvcFormatError(f"{rel}: expected a YAML mapping with 'outs'", f"fix {rel}")
    outs = doc.get("outs")
    if not isinstance(outs, list) or len(outs) != 1:
        raise DvcFormatError(f"{rel}: 'outs' must list exactly one output", f"fix {rel}")
    folder = posixpath.dirname(rel)
    out = _out(outs[0], folder, rel, "outs")
    return DvcFile(rel, out, _import(doc.get("deps"), rel), doc.get("frozen") is True)


def _import(deps: Any, rel: str) -> DvcImport | None:
    if not deps:
        return None
    if not isinstance(deps, list) or not isinstance(deps[0], dict):
        raise DvcFormatError(f"{rel}: 'deps' must be a list of mappings", f"fix {rel}")
    repo = deps[0].get("repo")
    if repo is None:
        return None  # an import-url: not a git repository, not converted here
    if not isinstance(repo, dict) or not isinstance(repo.get("url"), str):
        raise DvcFormatError(f"{rel}: deps: repo needs a 'url'", f"fix {rel}")
    path = deps[0].get("path")
    if not isinstance(path, str) or path_problem(path) is not None:
        raise DvcFormatError(f"{rel}: deps: path {path!r} is not a path inside the source repository",
                             f"fix {rel}")
    rev_lock = repo.get("rev_lock")
    if rev_lock is not None and not re.fullmatch(r"[0-9a-f]{40}", str(rev_lock)):
        raise DvcFormatError(f"{rel}: deps: repo: rev_lock {rev_lock!r} is not a commit id", f"fix {rel}")
    return DvcImport(repo["url"], path, repo.get("rev"), rev_lock)


def parse_dvc_lock(text: str, wdirs: dict[str, str]) -> dict[str, DvcLockStage]:
    """dvc.lock's stages; paths joined with each stage's wdir (`wdirs`, from the pipeline)."""
    doc = _load(text, LOCK_FILE) or {}
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict):
        raise DvcFormatError(f"{LOCK_FILE}: expected 'stages:' (DVC 2 or later)",
                             "run `dvc repro` with DVC 3")
    return {str(name): _lock_stage(str(name), body, wdirs.get(str(name), "."))
            for name, body in stages.items()}


def _lock_stage(name: str, body: Any, wdir: str) -> DvcLockStage:
    rel = f"{LOCK_FILE}: stage '{name}'"
    if not isinstance(body, dict) or "cmd" not in body:
        raise DvcFormatError(f"{rel}: lacks 'cmd'", f"fix {LOCK_FILE}, or delete it and run `dvc repro`")
    cmd = body["cmd"]
    cmd = tuple(str(c) for c in cmd) if isinstance(cmd, list) else (str(cmd),)
    params = body.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise DvcFormatError(f"{rel}: 'params' must map files to values", f"fix {LOCK_FILE}")
    deps = tuple(_out(d, wdir, rel, "deps") for d in body.get("deps") or [])
    outs = tuple(_out(o, wdir, rel, "outs") for o in body.get("outs") or [])
    params = {_rel_path(f, wdir, rel, "params"): dict(v) for f, v in params.items()}
    return DvcLockStage(name, cmd, deps, params, outs)


def read_dvc_config(root: Path) -> tuple[dict[str, str], str | None]:
    """DVC's remotes (name -> URL, a relative folder made relative to the repository root) and
    its default remote, from .dvc/config and .dvc/config.local."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read([root / DVC_DIR / "config", root / DVC_DIR / "config.local"], encoding="utf-8")
    except configparser.Error as exc:
        raise DvcFormatError(f"{DVC_DIR}/config: unreadable: {exc.message.splitlines()[0]}",
                             f"fix {DVC_DIR}/config") from exc
    remotes = {}
    for section in parser.sections():
        match = re.fullmatch(r'\s*remote\s+"(.+)"\s*', section.strip().strip("'"))
        if match and parser.has_option(section, "url"):
            remotes[match[1]] = _remote_url(parser.get(section, "url"))
    default = parser.get("core", "remote", fallback=None)
    return remotes, default


def cache_dir(root: Path) -> Path:
    """The repository's own DVC cache (an object store, as a folder remote is)."""
    return root / DVC_DIR / "cache"


def default_remote_folder(root: Path, base: Path | None = None) -> Path | None:
    """DVC's default remote of the repository at `root` when it is a folder (its URL relative to
    `base`, default `root`), else None (none set, or a cloud URL himo does not read)."""
    remotes, default = read_dvc_config(root)
    if default in remotes and "://" not in remotes[default]:
        return (base or root) / remotes[default]
    return None


def _remote_url(url: str) -> str:
    if "://" in url or os.path.isabs(url):
        return url
    return posixpath.normpath(posixpath.join(DVC_DIR, url))  # DVC reads it relative to .dvc/


# -- digests and the cache -----------------------------------------------------------------------
def md5_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dir_listing(files: dict[str, str]) -> bytes:
    """The bytes of DVC's `.dir` object for files (relpath -> md5)."""
    return json.dumps([{"md5": files[r], "relpath": r} for r in sorted(files)], sort_keys=True).encode()


def md5_path(path: Path, ignored: IgnoreFn | None = None) -> str | None:
    """DVC 3's md5 of what is at `path` (a directory: of its listing, with `.dir`, without the
    files `ignored` names, as DVC leaves out what .dvcignore names); None if nothing is."""
    if path.is_file():
        return md5_file(path)
    if not path.is_dir():
        return None
    files = {f.rel: md5_file(f.path) for f in walk_files(str(path), ignored)}
    return hashlib.md5(dir_listing(files), usedforsecurity=False).hexdigest() + ".dir"


def cache_file(cache: Path, md5: str) -> Path:
    """Where DVC 3's cache (or a DVC remote) keeps the object `md5`."""
    return cache / "files" / "md5" / md5[:2] / md5[2:]


def parse_dir_listing(data: bytes, md5: str) -> dict[str, str]:
    """A `.dir` object's files (relpath -> md5), checked; DvcFormatError if it is no listing."""
    try:
        entries = json.loads(data)
        files = {e["relpath"]: e["md5"] for e in entries}
    except (ValueError, TypeError, KeyError) as exc:
        raise DvcFormatError(f"DVC directory listing {md5}: not a listing", REFETCH) from exc
    for rel, digest in files.items():
        if not isinstance(rel, str) or path_problem(rel) is not None or not MD5_RE.fullmatch(str(digest)):
            raise DvcFormatError(f"DVC directory listing {md5}: bad entry {rel!r}", REFETCH)
    return files


def find_dvc_files(root: Path) -> list[str]:
    """Repository-relative paths of the `.dvc` files below `root` (not in .git, .dvc, .himo)."""
    return _find_files(root, f"*{DVC_SUFFIX}", lambda name: name.endswith(DVC_SUFFIX) and name != DVC_SUFFIX)


def _find_files(root: Path, glob: str, wanted: Callable[[str], bool]) -> list[str]:
    """Repository-relative paths of the files below `root` whose name is `wanted` (`glob` says
    the same to git). In a git repository, git lists them (committed or not, never inside
    git-ignored folders, where DVC's tracked data lies: a walk would visit every file of it)."""
    git_root = find_git_root(root)
    if git_root is not None:
        with contextlib.suppress(ScmError):
            listed = Git(root).run("ls-files", "-z", "--cached", "--others", "--exclude-standard",
                                   "--", glob).decode().split("\0")
            return sorted({p for p in listed if p and wanted(Path(p).name) and (root / p).is_file()})
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", DVC_DIR, ".himo")]
        rel = Path(folder).relative_to(root).as_posix()
        for name in files:
            if wanted(name):
                found.append(name if rel == "." else f"{rel}/{name}")
    return sorted(found)


def dvcignore_patterns(root: Path) -> tuple[list[str], list[str]]:
    """(the .dvcignore files below `root`, their patterns made relative to `root`), in the
    order DVC applies them (a folder's file after its parents'), comments and blanks left out."""
    files = sorted(_find_files(root, f"*{IGNORE_FILE}", lambda name: name == IGNORE_FILE),
                   key=lambda rel: (rel.count("/"), rel))
    patterns: list[str] = []
    for rel in files:
        folder = posixpath.dirname(rel)
        try:
            lines = (root / rel).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DvcFormatError(f"{rel}: cannot read: {exc}", f"fix {rel}") from exc
        patterns += [p for p in (_rebased(line, folder) for line in lines) if p is not None]
    return files, patterns


def _rebased(line: str, folder: str) -> str | None:
    """A gitignore pattern of the file in `folder`, as a pattern of the root's file."""
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    if not folder:
        return line
    negated = line.startswith("!")
    body = line[1:] if negated else line
    anchored = "/" in body.rstrip("/")  # a slash before the end ties it to its folder, as in git
    rebased = f"{folder}/{body.lstrip('/')}" if anchored else f"{folder}/**/{body}"
    return ("!" if negated else "") + rebased


def not_taken_over(root: Path) -> str | None:
    """What DVC keeps at `root` that himo has not taken over ("dvc.yaml, 2 .dvc files"), for the
    hint of a command that found nothing of himo's there; None when there is nothing."""
    found = []
    if (root / PIPELINE_FILE).is_file() and not (root / "himo.yaml").exists():
        found.append(PIPELINE_FILE)
    if (root / DVC_DIR).is_dir():
        files = [f for f in find_dvc_files(root)
                 if not (root / f"{f.removesuffix(DVC_SUFFIX)}.himo").exists()]
        if files:
            found.append(f"{len(files)} .dvc file{'s' if len(files) > 1 else ''}")
    return ", ".join(found) or None


def take_over_hint(root: Path) -> str | None:
    """The line telling a DVC user that `himo migrate dvc` takes their repository over, when
    DVC keeps something here that himo has not taken over; else None."""
    found = not_taken_over(root)
    if found is None:
        return None
    return f"This is a DVC repository ({found}): `himo migrate dvc` takes it over, re-running nothing."


DvcCorruptError = PathError  # an object in a DVC cache or remote whose md5 is not its name


def has_object(store: Path, md5: str, inner: str = "") -> bool:
    """Whether the DVC object store at `store` (a cache or a local remote) holds `md5` whole (or,
    with `inner`, the part of folder `md5` at that path); every object is read and its md5
    checked (DvcCorruptError if one is not its name)."""
    files = files_of(store, md5, inner)
    if files is None or (inner and not files):
        return False
    if not all(cache_file(store, m).is_file() for m in files.values()):
        return False
    for m in files.values():
        _check_file(cache_file(store, m), m)
    return True


def files_of(store: Path, md5: str, inner: str = "") -> dict[str, str] | None:
    """The files of object `md5` (relpath -> md5; a file is {"": md5}), or with `inner` of the
    part of folder `md5` at that path (a file inside it: {"": its md5}); a folder's listing is
    read from `store`, verified. None when `store` lacks the listing, {} when nothing is at `inner`."""
    if not md5.endswith(".dir"):
        return {} if inner else {"": md5}
    if not cache_file(store, md5).is_file():
        return None
    listing = parse_dir_listing(_verified(store, md5), md5)
    if not inner:
        return listing
    if inner in listing:
        return {"": listing[inner]}
    return {rel[len(inner) + 1:]: m for rel, m in listing.items() if rel.startswith(inner + "/")}


def _check_file(path: Path, md5: str) -> None:
    found = md5_file(path)
    if found != md5:
        raise DvcCorruptError(f"DVC object {path} is corrupted (its md5 is {found})",
                              f"delete {path} and fetch it again with `dvc fetch`")


def _verified(store: Path, md5: str) -> bytes:
    obj = cache_file(store, md5)
    data = obj.read_bytes()
    found = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if found != md5.removesuffix(".dir"):
        raise DvcCorruptError(f"DVC object {obj} is corrupted (its md5 is {found})",
                              f"delete {obj} and fetch it again with `dvc fetch`")
    return data


def materialise(store: Path, md5: str, dest: Path, inner: str = "") -> None:
    """Copy DVC object `md5` (a file, or a `.dir` listing's files; with `inner`, the part of the
    folder at that path) from `store` to `dest`, checking every md5 as it is copied;
    DvcCorruptError for a bad object (`dest` is then partial: the caller writes into a scratch
    folder)."""
    for rel, file_md5 in (files_of(store, md5, inner) or {}).items():
        _copy_checked(cache_file(store, file_md5), file_md5, dest / rel if rel else dest)


def _copy_checked(src: Path, md5: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.md5(usedforsecurity=False)
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)
    if digest.hexdigest() != md5:
        raise DvcCorruptError(f"DVC object {src} is corrupted (its md5 is {digest.hexdigest()})",
                              f"delete {src} and fetch it again with `dvc fetch`")
