"""Which plots to draw: those himo.yaml defines at a revision (top-level `plots` and the stages'
`plots` outputs, with DVC's properties: himo.model.pipeline.PlotDef), or files named by hand."""

from __future__ import annotations

from dataclasses import replace

from himo.api.plots.data import DATA_SUFFIXES, IMAGE_TYPES
from himo.api.plots.sources import Source
from himo.api.revisions import Revision
from himo.model.pipeline import PlotDef

SUFFIXES = (*DATA_SUFFIXES, *IMAGE_TYPES)


def defined(rev: Revision) -> list[PlotDef]:
    """The plots himo.yaml defines at `rev` (none without a himo.yaml)."""
    return list(rev.pipeline().plots)


def for_targets(paths: list[str], x: str | None = None, y: str | None = None, template: str | None = None,
                title: str | None = None, x_label: str | None = None,
                y_label: str | None = None) -> list[PlotDef]:
    """Plots of files given by hand (repository-relative), with the same properties for each."""
    ys = tuple(filter(None, (y or "").split(",")))
    return [PlotDef(p, {p: ys}, {p: x} if x else {}, template, title, x_label, y_label) for p in paths]


def with_properties(defs: list[PlotDef], targets: list[PlotDef]) -> list[PlotDef]:
    """`targets` that himo.yaml also defines take its properties, unless given by hand."""
    known = {d.id: d for d in defs}
    result = []
    for target in targets:
        base = known.get(target.id)
        if base is None:
            result.append(target)
            continue
        given = {k: getattr(target, k) for k in ("template", "title", "x_label", "y_label")
                 if getattr(target, k)}
        result.append(replace(base, **given,
                              x=target.x or base.x, y={f: target.y.get(f) or ys for f, ys in base.y.items()}))
    return result


def expand_folders(defs: list[PlotDef], sources: list[Source]) -> list[PlotDef]:
    """A plot whose file is a folder (dvclive/plots/metrics) becomes one plot per plot file in
    it, at any of the revisions, with the same properties."""
    result = []
    for d in defs:
        files = list(dict.fromkeys(f for s in sources for f in s.files(d.id) if f.lower().endswith(SUFFIXES)))
        if len(d.y) == 1 and d.id in d.y and files:
            result += [replace(d, id=f, y={f: d.y[d.id]}, x={f: d.x[d.id]} if d.id in d.x else {})
                       for f in sorted(files)]
        else:
            result.append(d)
    return result
