"""himo.yaml -> validated Stage values: interpolation, foreach/matrix expansion, path checks.

Keys mean what they mean in dvc.yaml. Every error names the file, the line and the stage.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from himo.model.paths import name_problem
from himo.model.pipeline import PipelineDef, PlotDef
from himo.model.stage import Output, ParamsRef, Stage
from himo.pipeline import sections
from himo.pipeline.interpolate import Unresolved, Unusable, resolve
from himo.pipeline.params import DEFAULT_PARAMS, load_params_file, lookup
from himo.pipeline.textfile import read_text
from himo.pipeline.where import (
    PIPELINE_FILE,
    Where,
    check_bool,
    check_keys,
    check_str,
    check_str_list,
    repo_path,
    type_name,
)
from himo.pipeline.yamlfile import LineDict, line_of, load_yaml_lines

TOP_KEYS = ("stages", "vars", "params", "metrics", "plots", "artifacts", "datasets")
STAGE_KEYS = ("cmd", "wdir", "deps", "params", "outs", "metrics", "plots", "desc", "frozen",
              "always_changed", "meta", "vars")
# DVC 3's output flags (annotations desc/type/labels/meta, remote, push; checkpoint is accepted and
# ignored, as DVC 3 does), and himo's `kind`.
OUT_FLAGS = ("cache", "persist", "kind", "desc", "type", "labels", "meta", "remote", "push", "checkpoint")
PLOT_FLAGS = sections.PLOT_FLAGS
KINDS = ("dataset", "features", "model", "metrics", "predictions", "code", "other")
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
# Paths no stage may write: its outputs are removed before it runs and then moved into the cache.
RESERVED = (".git", ".himo", PIPELINE_FILE, "himo.lock")
_repo_path, _check_keys, _bool = repo_path, check_keys, check_bool


def load_stages(root: Path) -> list[Stage]:
    """Every stage of root/himo.yaml (an empty list if there is no such file)."""
    return list(load_pipeline(root).stages)


def load_pipeline(root: Path) -> PipelineDef:
    """Everything root/himo.yaml defines (nothing if there is no such file)."""
    path = root / PIPELINE_FILE
    if not path.exists():
        return PipelineDef()
    return parse_pipeline(root, read_text(path, PIPELINE_FILE, f"fix {PIPELINE_FILE}"))


def parse_stages(root: Path, text: str) -> list[Stage]:
    """The stages defined by `text`, himo.yaml's content, for the repository at `root`."""
    return list(parse_pipeline(root, text).stages)


def parse_pipeline(root: Path, text: str) -> PipelineDef:
    """Everything `text`, himo.yaml's content, defines for the repository at `root`."""
    doc = _parsed(text) or {}
    if not isinstance(doc, dict):
        raise Where(PIPELINE_FILE, 1).error("expected a mapping with a 'stages' key")
    top = Where(PIPELINE_FILE, getattr(doc, "line", 1))
    _check_keys(doc, (*TOP_KEYS, "schedules"), top, "top-level key")
    context = _context(root, doc)
    stages_doc = doc.get("stages") or {}
    if not isinstance(stages_doc, dict):
        raise Where(PIPELINE_FILE, line_of(doc, "stages")).error("'stages' must be a mapping of name: stage")
    stages: list[Stage] = []
    plots: list[PlotDef] = []
    for name, body in stages_doc.items():
        where = Where(PIPELINE_FILE, line_of(stages_doc, name), str(name))
        for stage, stage_plots in _expand(root, str(name), body, context, where):
            stages.append(stage)
            plots.extend(stage_plots)
    _check_unique(stages)
    if "schedules" in doc:  # checked whenever the pipeline loads: `himo status` reports them too
        from himo.pipeline.schedules import load_schedules

        load_schedules(root, doc, [s.name for s in stages])
    # DVC interpolates the top-level sections too (with the global context).
    rest = _resolve(_subset(doc, TOP_KEYS[2:]), context, top)
    return PipelineDef(
        stages=tuple(stages), params=sections.path_list(root, rest, "params", top),
        metrics=sections.path_list(root, rest, "metrics", top),
        plots=(*sections.top_plots(root, rest, top), *plots),
        artifacts=tuple(sections.artifacts(root, rest, top)), datasets=tuple(sections.datasets(rest, top)),
    )


def _subset(doc: Any, keys: tuple[str, ...]) -> LineDict:
    """The entries of `keys` in doc, with their lines."""
    part = LineDict((k, v) for k, v in doc.items() if k in keys)
    part.lines, part.line = getattr(doc, "lines", {}), getattr(doc, "line", 1)
    return part


def parsed_document(text: str) -> Any:
    """himo.yaml's parsed YAML (cached for the same text), for readers of other top-level keys."""
    return _parsed(text)


@functools.lru_cache(maxsize=1)
def _parsed(text: str) -> Any:
    """himo.yaml's YAML, kept for the next call with the same text: `status` loads the stages
    twice (their outputs as data, then as stages), and on a large pipeline parsing is most of
    its time. Nothing below changes the parsed document: interpolation makes copies."""
    return load_yaml_lines(text, PIPELINE_FILE)


def _context(root: Path, doc: dict[str, Any]) -> dict[str, Any]:
    """Names `${...}` can use: params.yaml, then `vars` (files or inline mappings)."""
    from himo.pipeline.schedules import context_value

    context: dict[str, Any] = {"schedule": context_value(dict(os.environ))}  # ${schedule.start} ...
    if (root / DEFAULT_PARAMS).exists():
        context.update(load_params_file(root / DEFAULT_PARAMS, DEFAULT_PARAMS))
    return _with_vars(root, context, doc.get("vars"), Where(PIPELINE_FILE, line_of(doc, "vars")))


def _with_vars(root: Path, context: dict[str, Any], items: Any, where: Where) -> dict[str, Any]:
    """`context` and the names of a `vars` list (top-level, or a stage's own, which DVC adds to the
    top-level ones for that stage)."""
    items = items or []
    if not isinstance(items, list):
        raise where.error("'vars' must be a list of file names and mappings", "write vars:\n  - name: value")
    context = dict(context)
    for item in items:
        if isinstance(item, dict):
            context.update(item)
        elif isinstance(item, str):
            context.update(_vars_file(root, item, where))
        else:
            raise where.error("each 'vars' item is a file name or a mapping")
    return context


def _vars_file(root: Path, item: str, where: Where) -> dict[str, Any]:
    """The names a `vars` item `file` or `file:key1,key2` brings in."""
    file, _, keys = item.partition(":")
    path = _repo_path(root, ".", file, where, "vars")
    if not (root / path).is_file():
        raise where.error(f"vars: file {file!r} does not exist", f"create {file}, or remove it from 'vars'")
    data = load_params_file(root / path, file)
    picked: dict[str, Any] = {}
    for key in filter(None, keys.split(",")):
        try:
            value = lookup(data, key)
        except KeyError:  # names only the key, which the message names too
            raise where.error(f"vars: key {key!r} not found in {file}") from None
        *parents, last = key.split(".")
        node = picked
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return picked if keys else data


StagePlots = tuple[Stage, list[PlotDef]]


def _expand(root: Path, name: str, body: Any, context: dict[str, Any], where: Where) -> list[StagePlots]:
    if not NAME_RE.match(name):
        raise where.error(f"invalid stage name {name!r}", "use letters, digits, '_', '-' and '.'")
    if not isinstance(body, dict):
        raise where.error("a stage must be a mapping with at least 'cmd'")
    if "foreach" in body or "matrix" in body:
        return [_stage(root, _generated_name(n, where), b, ctx, Where(where.file, where.line, n))
                for n, b, ctx in _generate(name, body, context, where)]
    return [_stage(root, name, body, context, where)]


def _generate(name: str, body: dict[str, Any], context: dict[str, Any], where: Where) -> Iterator[
    tuple[str, dict[str, Any], dict[str, Any]]
]:
    if "matrix" in body:
        _check_keys(body, ("matrix", *STAGE_KEYS), where, "key of a matrix stage")
    else:
        _check_keys(body, ("foreach", "do"), where, "key of a foreach stage")
    if "foreach" in body:
        if not isinstance(body.get("do"), dict):
            raise where.error("'foreach' needs a 'do' mapping with the stage to repeat")
        items = _resolve(body["foreach"], context, where)
        if isinstance(items, dict):
            pairs = [(str(k), {"key": k, "item": v}) for k, v in items.items()]
        elif isinstance(items, list):
            pairs = [(str(v) if not isinstance(v, (dict, list)) else str(i), {"item": v})
                     for i, v in enumerate(items)]
        else:
            raise where.error("'foreach' must be a list or a mapping")
        for suffix, extra in pairs:
            yield f"{name}@{suffix}", body["do"], {**context, **extra}
        return
    matrix = _resolve(body["matrix"], context, where)
    if not isinstance(matrix, dict) or not all(isinstance(v, list) for v in matrix.values()):
        raise where.error("'matrix' must map names to lists of values")
    stage_body = {k: v for k, v in body.items() if k != "matrix"}
    for combo in itertools.product(*matrix.values()):
        item = dict(zip(matrix, combo, strict=True))
        yield f"{name}@{'-'.join(str(v) for v in combo)}", stage_body, {**context, "item": item}


def _generated_name(name: str, where: Where) -> str:
    """`base@item`: the item may be any value, but the name is printed, logged and recorded."""
    problem = name_problem(name)
    if problem is not None:
        raise where.error(f"foreach/matrix: the stage name {name!r} {problem}",
                          "use items without control characters, or a mapping of names to items")
    return name


def _resolve(value: Any, context: dict[str, Any], where: Where) -> Any:
    try:
        return resolve(value, context)
    # himo's own signals, re-raised with the place in himo.yaml: the message says all they say.
    except Unresolved as exc:
        raise where.error(f"cannot resolve ${{{exc.name}}}",
                          "define it in params.yaml or under 'vars' in himo.yaml") from None
    except Unusable as exc:
        raise where.error(str(exc)) from None


def _stage(root: Path, name: str, raw: dict[str, Any], context: dict[str, Any], where: Where) -> StagePlots:
    _check_keys(raw, STAGE_KEYS, where, "stage key")
    if raw.get("vars"):
        context = _with_vars(root, context, raw["vars"], where.at(raw, "vars"))
    body = _resolve({k: v for k, v in raw.items() if k != "vars"}, context, where)
    if "cmd" not in body:
        raise where.error("missing 'cmd'", "give the command that runs the stage")
    cmd = body["cmd"]
    cmds = (cmd,) if isinstance(cmd, str) else tuple(cmd) if isinstance(cmd, list) else None
    if not cmds or not all(isinstance(c, str) and c.strip() for c in cmds):
        raise where.error("'cmd' must be a command or a list of commands")
    if any("\x00" in c for c in cmds):  # no process can be given it
        raise where.error("'cmd' contains a NUL character", "remove it from the command")
    wdir = _repo_path(root, ".", str(body.get("wdir", ".")), where, "wdir")
    plots: list[PlotDef] = []
    outs = tuple(o for role in ("outs", "metrics", "plots")
                 for o in _outputs(root, wdir, body, role, where, plots))
    return Stage(
        name=name, cmd=cmds, wdir=wdir,
        deps=tuple(_repo_path(root, wdir, d, where, "deps") for d in _str_list(body, "deps", where)),
        params=_params(root, wdir, body.get("params") or [], where), outs=outs,
        desc=check_str(body, "desc", where), frozen=_bool(body, "frozen", where),
        always_changed=_bool(body, "always_changed", where), line=where.line,
    ), plots


def _outputs(root: Path, wdir: str, body: dict[str, Any], role: str, where: Where,
             plots: list[PlotDef]) -> list[Output]:
    items = body.get(role) or []
    if not isinstance(items, list):
        raise where.error(f"'{role}' must be a list")
    outs = []
    for item in items:
        path, flags = _path_and_flags(item, role, where)
        out = _repo_path(root, wdir, path, where, role)
        persist = _bool(flags, "persist", where, field=f"{role}: {path!r}: ")
        _check_writable(out, path, role, where, "" if persist else wdir)
        outs.append(_output(out, path, flags, role, persist, where))
        if role == "plots":
            plots.append(sections.stage_plot(root, out, flags, where, where.stage or ""))
    return outs


def _output(out: str, path: str, flags: dict[str, Any], role: str, persist: bool, where: Where) -> Output:
    """An output with its flags, each checked for its type (the message names the path and flag)."""
    field = f"{role}: {path!r}: "
    kind = check_str(flags, "kind", where, field)
    if kind is not None and kind not in KINDS:
        raise where.error(f"{role}: unknown kind {kind!r}", f"use one of: {', '.join(KINDS)}")
    _bool(flags, "checkpoint", where, field=field)
    return Output(out, _bool(flags, "cache", where, True, field), persist, "out" if role == "outs" else role,
                  kind, check_str(flags, "desc", where, field), check_str(flags, "type", where, field),
                  check_str_list(flags, "labels", where, field), flags.get("meta"),
                  check_str(flags, "remote", where, field), _bool(flags, "push", where, True, field))


def _check_writable(out: str, path: str, role: str, where: Where, wdir: str) -> None:
    """Refuse outputs whose removal before the run would hurt: the repository, himo's files, and
    (unless persistent) the folder the stage runs in."""
    if wdir and wdir != "." and (wdir == out or wdir.startswith(out + "/")):
        raise where.error(f"{role}: {path!r} holds the stage's wdir {wdir!r}, which would be removed"
                          " before the stage runs", "write into a folder below wdir, or add persist: true")
    if out == ".":
        raise where.error(f"{role}: {path!r} is the whole repository",
                          "name the files or folders the stage writes")
    top = out.split("/", 1)[0]
    if top in RESERVED:
        raise where.error(f"{role}: {path!r} is {'inside ' if top != out else ''}{top}, which himo manages",
                          "a stage cannot write there: its outputs are removed before it runs")


def _path_and_flags(item: Any, role: str, where: Where) -> tuple[str, dict[str, Any]]:
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        path, flags = next(iter(item.items()))
        flags = flags or {}
        allowed = OUT_FLAGS + (PLOT_FLAGS if role == "plots" else ())
        if not isinstance(flags, dict):
            raise where.error(f"{role}: flags of {path!r} must be a mapping, not {type_name(flags)}")
        _check_keys(flags, allowed, where, f"flag of {path!r}")
        return str(path), flags
    raise where.error(f"{role}: each item is a path or a mapping 'path: {{flags}}'")


def _params(root: Path, wdir: str, items: Any, where: Where) -> tuple[ParamsRef, ...]:
    """Params files are relative to wdir, as in dvc.yaml; keys are dotted."""
    form = "each 'params' item is a key, 'file:key1,key2' or a mapping file: [keys]"
    if not isinstance(items, list):
        raise where.error("'params' must be a list", form)
    refs: dict[str, list[str]] = {}
    for item in items:
        if isinstance(item, str):
            file, keys = (item.split(":", 1) if ":" in item else (DEFAULT_PARAMS, item))
            refs.setdefault(file, []).extend(k for k in keys.split(",") if k)
        elif isinstance(item, dict):
            for file, keys in item.items():
                if keys is not None and (not isinstance(keys, list)
                                         or not all(isinstance(k, str) for k in keys)):
                    raise where.error(f"params: the keys of {file!r} must be a list", form)
                refs.setdefault(str(file), []).extend(keys or [])
        else:
            raise where.error(form)
    return tuple(ParamsRef(_repo_path(root, wdir, f, where, "params"), tuple(dict.fromkeys(k)))
                 for f, k in refs.items())


def _str_list(body: dict[str, Any], key: str, where: Where) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error(f"'{key}' must be a list of paths")
    return value


def _check_unique(stages: list[Stage]) -> None:
    seen: dict[str, Stage] = {}
    for stage in stages:
        if stage.name in seen:
            raise Where(PIPELINE_FILE, stage.line, stage.name).error("two stages have this name")
        seen[stage.name] = stage
