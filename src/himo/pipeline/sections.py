"""himo.yaml's top-level sections besides `stages` and `vars`, as DVC 3's dvc.yaml has them:
`params`, `metrics`, `plots`, `artifacts`, `datasets`; and the plot properties of a stage's
`plots` outputs. None of them makes an output: they name files for `params diff`, `metrics`,
`plots` and the artifact commands to read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from himo.model.pipeline import ArtifactDef, DatasetDef, PlotDef
from himo.pipeline.where import (
    Where,
    check_bool,
    check_keys,
    check_str,
    check_str_list,
    repo_path,
    type_name,
)

PLOT_FLAGS = ("x", "y", "template", "title", "x_label", "y_label", "header")
ARTIFACT_KEYS = ("path", "type", "desc", "labels", "meta")
# As DVC and GTO require of artifact names (`dvc artifacts get`, GTO tags NAME@vX).
ARTIFACT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-/]*[a-z0-9])?$")


def _list(doc: dict[str, Any], key: str, where: Where) -> list[Any]:
    value = doc.get(key) or []
    if not isinstance(value, list):
        raise where.at(doc, key).error(f"'{key}' must be a list, not {type_name(value)}")
    return value


def path_list(root: Path, doc: dict[str, Any], key: str, where: Where) -> tuple[str, ...]:
    """Top-level `params` or `metrics`: a list of file paths (relative to the root)."""
    paths = []
    for item in _list(doc, key, where):
        if not isinstance(item, str):
            raise where.at(doc, key).error(f"{key}: each item is a file path, not {type_name(item)}")
        paths.append(repo_path(root, ".", item, where.at(doc, key), key))
    return tuple(dict.fromkeys(paths))


def top_plots(root: Path, doc: dict[str, Any], where: Where) -> list[PlotDef]:
    """Top-level `plots`: paths, or `ID: {x, y, template, title, x_label, y_label}` mappings."""
    plots = []
    for item in _list(doc, "plots", where):
        here = where.at(doc, "plots")
        if isinstance(item, str):
            plots.append(_plot(root, item, {}, Where(here.file, here.line), None))
        elif isinstance(item, dict) and len(item) == 1:
            plot_id, props = next(iter(item.items()))
            props = {} if props is None else props
            if not isinstance(props, dict):
                raise here.error(f"plots: properties of {plot_id!r} must be a mapping, "
                                 f"not {type_name(props)}")
            plots.append(_plot(root, str(plot_id), props, here.at(item, plot_id), None))
        else:
            raise here.error("plots: each item is a path or a mapping 'ID: {x, y, template ...}'")
    return plots


def stage_plot(root: Path, path: str, flags: dict[str, Any], where: Where, stage: str) -> PlotDef:
    """The plot a stage's `plots` output declares: its file, with x and y as single fields."""
    for key in ("x", "y"):
        check_str(flags, key, where, f"plots: {path!r}: ")
    return _plot(root, path, {k: v for k, v in flags.items() if k in PLOT_FLAGS}, where, stage, path)


def _plot(root: Path, plot_id: str, props: dict[str, Any], where: Where, stage: str | None,
          file: str | None = None) -> PlotDef:
    field = f"plots: {plot_id!r}: "
    check_keys(props, PLOT_FLAGS, where, f"property of plot {plot_id!r}")
    strings = {k: check_str(props, k, where, field) for k in ("template", "title", "x_label", "y_label")}
    header = check_bool(props, "header", where, True, field) if "header" in props else None
    y = _y(root, plot_id, file, props.get("y"), where, field)
    x = _x(root, props.get("x"), y, where, field)
    return PlotDef(plot_id, y, x, header=header, stage=stage, line=where.line, **strings)


Fields = dict[str, tuple[str, ...]]


def _y(root: Path, plot_id: str, file: str | None, y: Any, where: Where, field: str) -> Fields:
    """{data file: y fields}: a mapping names its files; otherwise the plot's id is the file."""
    if isinstance(y, dict):
        return {repo_path(root, ".", str(f), where, f"{field}y"): _fields(v, where, f"{field}y: {f}")
                for f, v in y.items()}
    own = file or repo_path(root, ".", plot_id, where, "plots")
    return {own: _fields(y, where, f"{field}y")}


def _fields(value: Any, where: Where, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise where.error(f"{field} must be a field name or a list of field names, not {type_name(value)}")


def _x(root: Path, x: Any, y: dict[str, tuple[str, ...]], where: Where, field: str) -> dict[str, str]:
    """{data file: x field}: one name for every file, or a mapping of file to name."""
    if x is None:
        return {}
    if isinstance(x, str):
        return dict.fromkeys(y, x)
    if isinstance(x, dict) and all(isinstance(v, str) for v in x.values()):
        return {repo_path(root, ".", str(f), where, f"{field}x"): v for f, v in x.items()}
    raise where.error(f"{field}x must be a field name or a mapping 'file: field', not {type_name(x)}")


def artifacts(root: Path, doc: dict[str, Any], where: Where) -> list[ArtifactDef]:
    """Top-level `artifacts`: NAME -> {path, type, desc, labels, meta}."""
    items = doc.get("artifacts") or {}
    if not isinstance(items, dict):
        raise where.at(doc, "artifacts").error(f"'artifacts' must be a mapping of name: {{path: ...}}, "
                                               f"not {type_name(items)}")
    return [_artifact(root, str(name), body, where.at(items, name)) for name, body in items.items()]


def _artifact(root: Path, name: str, body: Any, where: Where) -> ArtifactDef:
    field = f"artifacts: {name!r}: "
    if not ARTIFACT_NAME.match(name):
        raise where.error(f"artifacts: invalid name {name!r}",
                          "use lowercase letters, digits and '-' (not first or last), as DVC and GTO do")
    if not isinstance(body, dict):
        raise where.error(f"{field}expected a mapping with 'path', not {type_name(body)}")
    check_keys(body, ARTIFACT_KEYS, where, f"key of artifact {name!r}")
    path = check_str(body, "path", where, field)
    if path is None:
        raise where.error(f"{field}missing 'path'", "give the path of the file or folder it names")
    return ArtifactDef(name, repo_path(root, ".", path, where.at(body, "path"), f"{field}path"),
                       check_str(body, "type", where, field), check_str(body, "desc", where, field),
                       check_str_list(body, "labels", where, field), body.get("meta"), where.line)


def datasets(doc: dict[str, Any], where: Where) -> list[DatasetDef]:
    """Top-level `datasets`: mappings with at least `name` and `type` (DVC 3), kept as given."""
    found = []
    for item in _list(doc, "datasets", where):
        here = where.at(doc, "datasets")
        if not isinstance(item, dict):
            raise here.error(f"datasets: each item is a mapping with 'name' and 'type', "
                             f"not {type_name(item)}")
        name, kind = check_str(item, "name", here, "datasets: "), check_str(item, "type", here, "datasets: ")
        if name is None or kind is None:
            raise here.error(f"datasets: an item lacks '{'name' if name is None else 'type'}'")
        found.append(DatasetDef(name, kind, {k: v for k, v in item.items() if k not in ("name", "type")},
                                getattr(item, "line", here.line)))
    return found
