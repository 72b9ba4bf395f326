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


def with_properties(plot: PlotDef, x: str | None = None, y: str | None = None, template: str | None = None,
                    title: str | None = None, x_label: str | None = None,
                    y_label: str | None = None) -> PlotDef:
    """The plot with the properties given by hand (`y`: fields, comma-separated), for each of its
    files; those not given stay as himo.yaml has them."""
    ys = tuple(filter(None, (y or "").split(",")))
    texts = {"template": template, "title": title, "x_label": x_label, "y_label": y_label}
    return replace(plot, x=dict.fromkeys(plot.y, x) if x else plot.x,
                   y={f: ys or fields for f, fields in plot.y.items()},
                   **{k: v for k, v in texts.items() if v})


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
