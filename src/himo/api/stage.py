"""`himo stage add` / `himo run`: define a stage from command-line flags."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from himo.api.ignores import release_ignore
from himo.errors import PipelineError
from himo.model.stage import Stage
from himo.pipeline.dag import build_dag
from himo.pipeline.edit import with_stage, without_stages
from himo.pipeline.loader import PIPELINE_FILE, parse_stages
from himo.pipeline.lockfile import LOCK_FILE, read_lock, write_lock
from himo.pipeline.textfile import read_text
from himo.pipeline.yamlfile import load_yaml_lines
from himo.workspace.atomic import write_text_atomic
from himo.workspace.gitignore import ignore_target
from himo.workspace.repo import Repo
from himo.workspace.tracked import all_pointer_files


@dataclass
class StageSpec:
    """A stage as given on the command line (paths relative to wdir, as in himo.yaml)."""

    name: str
    cmd: list[str]
    deps: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)  # "a.b,c" or "file.yaml:a,b"
    outs: list[str] = field(default_factory=list)
    outs_no_cache: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    metrics_no_cache: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    wdir: str | None = None
    desc: str | None = None
    always_changed: bool = False


def command_line(args: list[str]) -> str:
    """One argument is a shell command as written; several are joined as `dvc stage add` does:
    an argument with spaces is quoted, others (`>`, `&&`, `$VAR`) are kept for the shell."""
    if len(args) == 1:
        return args[0]
    return " ".join(a if a and not any(c.isspace() for c in a) else shlex.quote(a) for a in args)


def stage_body(spec: StageSpec) -> dict[str, Any]:
    body: dict[str, Any] = {"cmd": command_line(spec.cmd)}
    if spec.wdir and spec.wdir != ".":
        body["wdir"] = spec.wdir
    if spec.desc:
        body["desc"] = spec.desc
    for key, values in (("deps", spec.deps), ("params", _params(spec.params))):
        if values:
            body[key] = values
    outs = spec.outs + [{p: {"cache": False}} for p in spec.outs_no_cache]
    metrics = spec.metrics + [{p: {"cache": False}} for p in spec.metrics_no_cache]
    for key, values in (("outs", outs), ("metrics", metrics), ("plots", spec.plots)):
        if values:
            body[key] = values
    if spec.always_changed:
        body["always_changed"] = True
    return body


def _about_new_stage(repo: Repo, name: str, exc: PipelineError) -> PipelineError:
    """An error about the stage being added points at a line himo.yaml does not have yet:
    name the stage instead."""
    path = repo.root / PIPELINE_FILE
    on_disk = None
    if path.exists():
        on_disk = load_yaml_lines(read_text(path, PIPELINE_FILE, f"fix {PIPELINE_FILE}"), PIPELINE_FILE)
    if name in ((on_disk or {}).get("stages") or {}):  # -f: the stage's line is right
        return exc
    prefix = re.compile(rf"^{re.escape(PIPELINE_FILE)}:\d+: stage '{re.escape(name)}': ")
    message = prefix.sub(f"{PIPELINE_FILE}: stage '{name}' (not added): ", exc.message)
    return exc if message == exc.message else PipelineError(message, exc.hint)


def _refuse_tracked_inside(repo: Repo, stage: Stage) -> None:
    """An output folder holding a pointer of `himo add` would have two owners (the DAG checks the
    output's own path and its parents, which is cheap; this needs the list of pointers)."""
    folders = [out.path for out in stage.outs if (repo.root / out.path).is_dir()]
    if not folders:
        return
    for file in all_pointer_files(repo):
        rel = repo.rel(file)
        inside = next((f for f in folders if rel.startswith(f + "/")), None)
        if inside is not None:
            raise PipelineError(f"{PIPELINE_FILE}: stage '{stage.name}' (not added): output {inside!r} holds "
                                f"{rel}, a path tracked by himo add",
                                f"a stage output cannot also be added: himo remove {rel}")


def _params(items: list[str]) -> list[Any]:
    keys: list[Any] = []
    for item in items:
        if ":" in item:
            file, names = item.split(":", 1)
            keys.append({file: [k for k in names.split(",") if k]})
        else:
            keys.extend(k for k in item.split(",") if k)
    return keys


def add_stage(repo: Repo, spec: StageSpec, force: bool = False) -> Stage:
    """Write the stage into himo.yaml (validated first: nothing is written if it is wrong)."""
    text = with_stage(repo.root, spec.name, stage_body(spec), force)
    try:
        stages = parse_stages(repo.root, text)
        build_dag(repo.root, stages)
    except PipelineError as exc:
        raise _about_new_stage(repo, spec.name, exc) from exc
    _refuse_tracked_inside(repo, next(s for s in stages if s.name == spec.name))
    with repo.lock():
        write_text_atomic(repo.root / PIPELINE_FILE, text)
    stage = next(s for s in stages if s.name == spec.name)
    for out in stage.outs:
        if out.cache:
            ignore_target(repo.root / out.path)
    return stage


def remove_stages(repo: Repo, names: list[str]) -> list[str]:
    """`himo stage remove`: take the stages out of himo.yaml (its comments stay) and himo.lock, and
    their outputs' .gitignore lines that nothing else needs; the outputs themselves stay (their
    bytes are then untracked data). The files changed, repository-relative, for `git add`."""
    with repo.lock():
        text = without_stages(repo.root, names)
        stages = parse_stages(repo.root, text)  # what is left must still load
        gone = [s for s in parse_stages(repo.root, (repo.root / PIPELINE_FILE).read_text()) if s.name in names
                or s.name.split("@", 1)[0] in names]
        changed = [PIPELINE_FILE]
        write_text_atomic(repo.root / PIPELINE_FILE, text)
        lock = read_lock(repo.root)
        if any(s.name in lock for s in gone):
            write_lock(repo.root, {n: e for n, e in lock.items() if n not in {s.name for s in gone}},
                       [s.name for s in stages])
            changed.append(LOCK_FILE)
        for out in (o for s in gone for o in s.outs if o.cache):
            file = release_ignore(repo, repo.root / out.path, stage=None)
            if file is not None:
                changed.append(repo.rel(file))
    return list(dict.fromkeys(changed))


def git_paths(repo: Repo, stages: list[Stage], lock: bool) -> list[str]:
    """What `git add` needs after `stage add`/`run`: himo.yaml, himo.lock (`lock`: the stages ran),
    the .gitignore beside each cached output (the folder's own: data/.gitignore), and the uncached
    outputs (`-O`, `-M`), which git keeps."""
    paths = [PIPELINE_FILE, *([LOCK_FILE] if lock else [])]
    for out in (o for s in stages for o in s.outs):
        if out.cache:
            paths.append(posixpath.join(posixpath.dirname(out.path), ".gitignore"))
        elif lock or (repo.root / out.path).exists():
            paths.append(out.path)
    return list(dict.fromkeys(paths))
