"""`himo migrate dvc`: take over a DVC 3 repository in place, once, without re-running anything.

    dvc.yaml        -> himo.yaml (the same text: every key and comment kept)
    PATH.dvc        -> PATH.himo (bytes from the workspace, else from .dvc/cache, md5-checked;
                       an import keeps its source repository, commit and `frozen`)
    dvc.lock        -> himo.lock, for each stage whose deps, outs, params and cmd are still
                       what dvc.lock records (each file's md5 checked): `himo repro` runs none
                       of them; any other stage is left stale, and said so
    .dvc/config     -> himo remotes of the same names, under the prefix `himo/` of each URL
                       (himo stores objects by blake3, beside DVC's); `himo push` fills them
    .dvcignore      -> .himoignore (each folder's patterns made relative to the root), first:
                       the folders are then hashed without what DVC left out, as DVC did

Everything is read and checked before anything is written: a malformed DVC file, a path that
leaves the repository or a corrupted DVC cache object stops it with one line, nothing changed.
Running it again converts what changed since and leaves the rest. `--dry` only plans.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from himo.api.checkout import restore
from himo.api.leftovers import scratch_folder
from himo.api.recording import recording
from himo.errors import HimoError, PathError
from himo.meta.kinds import infer_kind
from himo.meta.records import ArtifactRef
from himo.model import HashInfo
from himo.model.stage import DepState, LockEntry, Stage
from himo.objects.tree import store_path
from himo.pipeline.changes import Snapshot, reasons_to_run
from himo.pipeline.executors import commit_outputs
from himo.pipeline.loader import PIPELINE_FILE, parse_stages
from himo.pipeline.lockfile import LOCK_FILE as HIMO_LOCK
from himo.pipeline.lockfile import read_lock, write_lock
from himo.pipeline.runcache import RunCache, run_key
from himo.workspace import dvc
from himo.workspace.atomic import write_text_atomic
from himo.workspace.gitignore import ignore_target
from himo.workspace.ignore import FILE as IGNORE_FILE
from himo.workspace.ignore import ignore_matcher, ignored_in
from himo.workspace.pointer import ImportSource, Pointer, load_pointer, pointer_file_for, write_pointer
from himo.workspace.repo import HIMO_DIR, Repo

REMOTE_PREFIX = "himo"  # himo's objects go below this folder of each DVC remote's URL


@dataclass
class MigrateStep:
    what: str  # "pipeline", "pointer", "import", "lock", "remote", "remove"
    path: str  # the file or remote it is about
    status: str  # "converted", "unchanged", "missing", "stale", "kept", "removed" ("would ..." when dry)
    detail: str = ""

    def line(self) -> str:
        return f"{self.what} {self.path}: {self.status}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class MigrateResult:
    steps: list[MigrateStep] = field(default_factory=list)
    dry: bool = False
    initialised: bool = False  # `himo init` was run first


@dataclass
class _Tracked:
    """One .dvc file and where its bytes will come from."""

    file: dvc.DvcFile
    origin: str | None  # "workspace", "DVC cache", or None: nowhere here


@dataclass
class _Plan:
    root: Path
    pipeline_text: str | None  # dvc.yaml's text
    stages: list[Stage]
    tracked: list[_Tracked]
    lock: dict[str, dvc.DvcLockStage]
    problems: dict[str, str | None]  # stage -> why dvc.lock cannot be trusted for it (None: it can)
    remotes: dict[str, str]
    default_remote: str | None
    ignore_files: list[str]  # the .dvcignore files
    ignore: list[str]  # their patterns, relative to the root


class _Md5:
    """DVC's md5 of workspace paths, each computed once."""

    def __init__(self, root: Path, ignore: list[str]) -> None:
        self.root = root
        self.ignore = ignore  # .dvcignore's patterns: DVC hashed folders without those files
        self._known: dict[str, str | None] = {}

    def restored(self, path: str, md5: str | None) -> None:
        self._known[path] = md5

    def __call__(self, path: str) -> str | None:
        if path not in self._known:
            where = self.root / path
            self._known[path] = dvc.md5_path(where, ignore_matcher(self.ignore, self.root, where))
        return self._known[path]


def migrate_dvc(path: str | os.PathLike[str] = ".", dry: bool = False, remove_dvc: bool = False,
                echo: Callable[[str], None] = lambda _: None) -> MigrateResult:
    """Convert the DVC repository at `path` in place (see the module's docstring)."""
    root = Path(os.path.abspath(path))
    if not (root / dvc.DVC_DIR).is_dir() and not (root / dvc.PIPELINE_FILE).is_file():
        raise PathError(f"{root}: not a DVC repository (no {dvc.DVC_DIR}/ and no {dvc.PIPELINE_FILE})",
                        "run `himo migrate dvc` at the root of the DVC repository")
    plan = _plan(root)
    result = MigrateResult(dry=dry)
    steps = _Steps(result, echo, dry)
    if dry:
        _show_plan(plan, steps, remove_dvc)
        return result
    if not (root / HIMO_DIR).is_dir():
        from himo.api.init import init

        init(root)
        result.initialised = True
        echo(f"Initialised himo repository in {root / HIMO_DIR}")
    repo = Repo(root)
    args = ["dvc", *(["--remove-dvc"] if remove_dvc else [])]
    with repo.lock(), recording(repo, "migrate", args) as recorder:
        _Migration(repo, plan, steps, recorder).run(remove_dvc)
    return result


class _Steps:
    def __init__(self, result: MigrateResult, echo: Callable[[str], None], dry: bool) -> None:
        self.result, self.echo, self.dry = result, echo, dry

    def __call__(self, what: str, path: str, status: str, detail: str = "") -> None:
        if self.dry and status in ("converted", "removed"):
            status = f"would be {status}"
        step = MigrateStep(what, path, status, detail)
        self.result.steps.append(step)
        self.echo(step.line())


# -- reading and checking everything first ----------------------------------------------------------
def _plan(root: Path) -> _Plan:
    text = _read(root / dvc.PIPELINE_FILE)
    himo_text = _read(root / PIPELINE_FILE)
    pipeline = himo_text if himo_text is not None else text
    stages = _stages(root, pipeline, PIPELINE_FILE if himo_text is not None else dvc.PIPELINE_FILE) \
        if pipeline else []
    ignore_files, ignore = dvc.dvcignore_patterns(root)
    md5 = _Md5(root, ignore)
    cache = dvc.cache_dir(root)
    tracked = [_locate(_parse_dvc(root, rel), md5, cache) for rel in dvc.find_dvc_files(root)]
    for item in tracked:  # what the migration restores from DVC's cache is there for the stages
        if item.origin == "DVC cache" and not (root / item.file.out.path).exists():
            md5.restored(item.file.out.path, item.file.out.md5)
    lock_text = _read(root / dvc.LOCK_FILE)
    lock = dvc.parse_dvc_lock(lock_text, {s.name: s.wdir for s in stages}) if lock_text else {}
    problems = {s.name: _lock_problem(root, s, lock.get(s.name), md5) for s in stages}
    remotes, default = dvc.read_dvc_config(root)
    return _Plan(root, text, stages, tracked, lock, problems, remotes, default, ignore_files, ignore)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise PathError(f"{path.name}: cannot read: {exc}", f"check {path}") from exc


def _stages(root: Path, text: str, name: str) -> list[Stage]:
    """The stages of `text` (the file `name`) as himo.yaml's loader reads them."""
    try:
        return parse_stages(root, text)
    except HimoError as error:
        if name == PIPELINE_FILE:
            raise
        message = error.message.replace(f"{PIPELINE_FILE}:", f"{name}:", 1)
        raise type(error)(f"{message} (read as {PIPELINE_FILE})", error.hint.replace(PIPELINE_FILE, name)) \
            from error


def _parse_dvc(root: Path, rel: str) -> dvc.DvcFile:
    text = _read(root / rel) or ""
    parsed = dvc.parse_dvc_file(text, rel)
    if parsed.out.md5 is None:
        raise dvc.DvcFormatError(f"{rel}: records no md5 for {parsed.out.path}",
                                 f"run `dvc commit {rel}` first (or `dvc add` the data again)")
    return parsed


def _locate(file: dvc.DvcFile, md5: _Md5, cache: Path) -> _Tracked:
    out = file.out
    if not out.legacy and md5(out.path) == out.md5:
        return _Tracked(file, "workspace")
    if out.md5 and dvc.has_object(cache, out.md5):
        return _Tracked(file, "DVC cache")
    return _Tracked(file, None)


def _lock_problem(root: Path, stage: Stage, locked: dvc.DvcLockStage | None, md5: _Md5) -> str | None:
    """Why dvc.lock's record of `stage` is not its state now (None: it is)."""
    if stage.frozen and locked is None:
        return None
    if locked is None:
        return f"not in {dvc.LOCK_FILE}: DVC never ran it"
    if locked.cmd != stage.cmd:
        return f"its cmd differs from {dvc.LOCK_FILE}'s"
    if {d.path for d in locked.deps} != set(stage.deps):
        return f"its deps differ from {dvc.LOCK_FILE}'s"
    if {o.path for o in locked.outs} != {o.path for o in stage.outs}:
        return f"its outs differ from {dvc.LOCK_FILE}'s"
    for item in (*locked.deps, *locked.outs):
        if item.legacy:
            return f"{item.path} was recorded by DVC 2 (md5-dos2unix)"
        now = md5(item.path)
        if now is None:
            return f"{item.path} is missing"
        if now != item.md5:
            return f"{item.path} differs from {dvc.LOCK_FILE}"
    try:
        params = Snapshot(Repo(root)).params(stage)
    except HimoError as error:
        return error.message
    if params != {f: locked.params.get(f, {}) for f in params}:
        return f"its params differ from {dvc.LOCK_FILE}'s"
    return None


def _show_plan(plan: _Plan, steps: _Steps, remove_dvc: bool) -> None:
    if plan.pipeline_text is not None:
        steps("pipeline", f"{dvc.PIPELINE_FILE} -> {PIPELINE_FILE}", "converted")
    if _new_patterns(plan):
        steps("ignore", IGNORE_STEP, "converted", f"{len(_new_patterns(plan))} pattern(s)")
    for item in plan.tracked:
        _tracked_step(steps, item, "converted")
    for name, problem in plan.problems.items():
        steps("lock", name, "stale" if problem else "converted", problem or "up to date, no re-run")
    for name, url in plan.remotes.items():
        steps("remote", name, "converted", _remote_url(url))
    if remove_dvc:
        steps("remove", "DVC's files", "removed")


def _tracked_step(steps: _Steps, item: _Tracked, status: str) -> None:
    what = "import" if item.file.source else "pointer"
    target = f"{item.file.file} -> {item.file.out.path}.himo"
    if item.origin is None:
        steps(what, target, "missing", "in neither the workspace nor .dvc/cache: `dvc pull` it, then run"
                                       " `himo migrate dvc` again")
    else:
        frozen = "; frozen, as DVC writes imports: `himo update` skips it until `frozen: true` is deleted" \
            " from the pointer" if item.file.source and item.file.frozen else ""
        steps(what, target, status, f"bytes from the {item.origin}{frozen}")


def _remote_url(url: str) -> str:
    return url.rstrip("/") + "/" + REMOTE_PREFIX


IGNORE_STEP = f"{dvc.IGNORE_FILE} -> {IGNORE_FILE}"
IGNORE_HEADER = f"# From {dvc.IGNORE_FILE} (himo migrate dvc): files DVC left out of tracked folders\n"


def _new_patterns(plan: _Plan) -> list[str]:
    """.dvcignore's patterns that .himoignore lacks, each once."""
    have = set((_read(plan.root / IGNORE_FILE) or "").splitlines())
    return [p for p in dict.fromkeys(plan.ignore) if p not in have]


# -- writing ----------------------------------------------------------------------------------------
class _Migration:
    def __init__(self, repo: Repo, plan: _Plan, steps: _Steps, recorder: Any) -> None:
        self.repo, self.plan, self.steps, self.recorder = repo, plan, steps, recorder
        self.ingester = repo.ingester()
        self.converted: set[str] = set()  # DVC files whose content himo now holds

    def run(self, remove_dvc: bool) -> None:
        self._pipeline()
        self._ignores()  # before any folder is hashed
        for item in self.plan.tracked:
            self._pointer(item)
        self._remotes()
        self._lock()
        if remove_dvc:
            self._remove_dvc()

    def _pipeline(self) -> None:
        text, target = self.plan.pipeline_text, self.repo.root / PIPELINE_FILE
        if text is None:
            return
        name = f"{dvc.PIPELINE_FILE} -> {PIPELINE_FILE}"
        existing = _read(target)
        if existing is None:
            write_text_atomic(target, text)
            self.steps("pipeline", name, "converted", "the same text: every key and comment kept")
        elif existing == text:
            self.steps("pipeline", name, "unchanged")
        else:
            self.steps("pipeline", name, "kept", f"{PIPELINE_FILE} exists and differs; not overwritten")
            return
        self.converted.add(dvc.PIPELINE_FILE)

    def _ignores(self) -> None:
        """.dvcignore's patterns appended to .himoignore (those it lacks), under a comment."""
        new = _new_patterns(self.plan)
        if new:
            target = self.repo.root / IGNORE_FILE
            text = _read(target) or ""
            text += "\n" if text and not text.endswith("\n") else ""
            text += IGNORE_HEADER + "".join(f"{p}\n" for p in new)
            write_text_atomic(target, text)
            self.steps("ignore", IGNORE_STEP, "converted", f"{len(new)} pattern(s): DVC left those files out")
        elif self.plan.ignore:
            self.steps("ignore", IGNORE_STEP, "unchanged")
        self.converted.update(self.plan.ignore_files)

    def _pointer(self, item: _Tracked) -> None:
        if item.origin is None:
            _tracked_step(self.steps, item, "converted")
            return
        file, target = item.file, self.repo.root / item.file.out.path
        info = self._store(item, target)
        source = _import_source(file)
        pointer = pointer_file_for(target)
        same = pointer.exists() and _pointer_says(self.repo, pointer, info, source)
        if not same:
            write_pointer(target, info, source)
        ignore_target(target)
        self.converted.add(file.file)
        _tracked_step(self.steps, item, "unchanged" if same else "converted")
        self._record_pointer(file, info, source)

    def _store(self, item: _Tracked, target: Path) -> HashInfo:
        if item.origin == "workspace":
            return store_path(self.ingester, target, ignored_in(self.repo.root, target))
        with scratch_folder(self.repo, "migrate") as scratch:
            copy = scratch / target.name
            dvc.materialise(dvc.cache_dir(self.plan.root), item.file.out.md5 or "", copy)
            info = store_path(self.ingester, copy)
        if not target.exists():  # one that exists is the user's: kept, as DVC would (status: modified)
            restore(self.repo, [Pointer(pointer_file_for(target), target, info)])  # whole, or not at all
        return info

    def _record_pointer(self, file: dvc.DvcFile, info: HashInfo, source: ImportSource | None) -> None:
        rel = file.out.path
        params = {"source": {"url": source.url, "path": source.path, "commit": source.commit}} \
            if source else {}
        exec_id = self.recorder.start_execution("import" if source else "migrate",
                                                f"himo migrate dvc {file.file}", params)
        ref = _ref(rel, info, infer_kind(rel, data=True))
        self.recorder.end_execution(exec_id, "succeeded", outputs=[ref])

    def _remotes(self) -> None:
        from himo.api.config import add_remote

        known = self.repo.config.remote_names()
        default = self.repo.config.get("core.remote")
        for name, url in self.plan.remotes.items():
            if name in known:
                self.steps("remote", name, "unchanged", "a himo remote of that name exists")
                continue
            is_default = not default and name == self.plan.default_remote
            add_remote(self.repo, name, _remote_url(url), default=is_default)
            self.repo.__dict__.pop("config", None)  # re-read what add_remote saved
            self.steps("remote", name, "converted", f"{_remote_url(url)}; `himo push` fills it")

    def _lock(self) -> None:
        if not self.plan.stages:
            return
        snap = Snapshot(self.repo)
        entries = read_lock(self.repo.root)
        runs = RunCache(self.repo.himo_dir / "runs")
        for stage in self.plan.stages:
            old = entries.get(stage.name)
            if old is not None and not reasons_to_run(stage, old, snap):
                self.steps("lock", stage.name, "unchanged", f"up to date in {HIMO_LOCK}")
                continue
            problem = self.plan.problems[stage.name]
            if problem is not None:
                self.steps("lock", stage.name, "stale", f"{problem}; `himo repro` will run it")
                continue
            if stage.name not in self.plan.lock:
                continue  # frozen and never ran: nothing to record
            entries[stage.name] = entry = self._entry(stage, snap)
            write_lock(self.repo.root, entries, [s.name for s in self.plan.stages])
            runs.put(run_key(stage, entry.deps, entry.params), stage, entry.outs)
            self._record_stage(stage, entry)
            self.steps("lock", stage.name, "converted", "up to date: md5 of each dep and out checked")
        if (self.repo.root / dvc.LOCK_FILE).exists() and all(p is None for p in self.plan.problems.values()):
            self.converted.add(dvc.LOCK_FILE)

    def _entry(self, stage: Stage, snap: Snapshot) -> LockEntry:
        """What `himo repro` would record had it run the stage: outputs stored as repro stores
        them (uncached ones kept for the run-cache only)."""
        deps, params = snap.deps(stage), snap.params(stage)
        outs = commit_outputs(self.repo, stage)
        for out in outs:
            snap.forget(out.path)
        return LockEntry(stage.cmd, deps, params, outs)

    def _record_stage(self, stage: Stage, entry: LockEntry) -> None:
        exec_id = self.recorder.start_execution(stage.name, list(stage.cmd), entry.params,
                                                [f"migrated from {dvc.LOCK_FILE}"])
        inputs = [_ref(d.path, _info(d), infer_kind(d.path, "dep", data=True))
                  for d in entry.deps if d.digest]
        roles = {o.path: o for o in stage.outs}
        outputs = [_ref(o.path, _info(o), infer_kind(o.path, roles[o.path].role, roles[o.path].kind))
                   for o in entry.outs if o.digest]
        self.recorder.end_execution(exec_id, "succeeded", inputs, outputs)

    def _remove_dvc(self) -> None:
        root = self.repo.root
        left = [t.file.file for t in self.plan.tracked if t.file.file not in self.converted]
        if dvc.LOCK_FILE not in self.converted and (root / dvc.LOCK_FILE).exists():
            left.append(dvc.LOCK_FILE)
        if left:  # DVC still reads them for what it keeps
            self.converted.difference_update(self.plan.ignore_files)
        elif (root / dvc.IGNORE_FILE).exists():
            self.converted.add(dvc.IGNORE_FILE)
        for rel in sorted(self.converted):
            (root / rel).unlink(missing_ok=True)
            self.steps("remove", rel, "removed")
        for rel in left:
            self.steps("remove", rel, "kept", "not fully converted")
        self._remove_dvc_dir(bool(left))

    def _remove_dvc_dir(self, needed: bool) -> None:
        folder = self.repo.root / dvc.DVC_DIR
        if not folder.is_dir():
            return
        cache = folder / "cache"
        has_cache = cache.is_dir() and any(f for _, _, files in os.walk(cache) for f in files)
        if needed or has_cache:
            why = "DVC files remain" if needed else "its cache may hold versions himo has not taken"
            self.steps("remove", f"{dvc.DVC_DIR}/", "kept",
                       f"{why}; delete it yourself when DVC is no longer needed")
            return
        shutil.rmtree(folder)
        self.steps("remove", f"{dvc.DVC_DIR}/", "removed")


def _import_source(file: dvc.DvcFile) -> ImportSource | None:
    src = file.source
    if src is None or not src.rev_lock:
        return None
    return ImportSource(src.url, src.path, src.rev, src.rev_lock, file.frozen)


def _pointer_says(repo: Repo, pointer: Path, info: HashInfo, source: ImportSource | None) -> bool:
    try:
        loaded = load_pointer(pointer, repo.root)
    except HimoError:
        return False
    return loaded.hash_info == info and loaded.source == source


def _info(state: DepState) -> HashInfo:
    return HashInfo(state.digest or "", state.size, state.nfiles)


def _ref(path: str, info: HashInfo, kind: str) -> ArtifactRef:
    return ArtifactRef(path=path, digest=info.digest, size=info.size, nfiles=info.nfiles, kind=kind)
