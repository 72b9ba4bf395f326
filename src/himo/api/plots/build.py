"""One plot definition, read at one or more revisions, as a Vega-Lite spec (or images).

Defaults as DVC's: template `linear`; x `step` (the row's index when the file has no such
field); y the last field that is not x. Points of every revision, file and y field are drawn
together, one colour each.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

from himo.api.plots import templates
from himo.api.plots.data import IMAGE_TYPES, Row, fields_of, is_image, parse_rows, require_field, suffix
from himo.api.plots.sources import Source
from himo.errors import PipelineError
from himo.model.pipeline import PlotDef
from himo.pipeline.loader import PIPELINE_FILE

STEP = "step"
CONFUSION_AXES = ("actual", "predicted")  # dvclive's sklearn confusion matrix fields


@dataclass(frozen=True)
class Image:
    rev: str  # the revision's label
    file: str  # repository-relative path
    src: str  # a data: URI with the bytes


@dataclass
class Plot:
    """A plot ready to draw: a Vega-Lite spec with its data, or images."""

    id: str  # the file, or the name of a top-level plot
    title: str
    template: str | None  # None for images
    spec: dict[str, Any] | None = None  # Vega-Lite, data inline; None for images or nothing found
    images: list[Image] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "FILE at REV" that could not be read
    error: str | None = None  # why it cannot be drawn (the dashboard shows it; the CLI raises instead)

    @property
    def empty(self) -> bool:
        return self.spec is None and not self.images and self.error is None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "type": "image" if self.template is None else "vega",
                "template": self.template, "spec": self.spec, "missing": self.missing, "error": self.error,
                "images": [{"rev": i.rev, "file": i.file, "src": i.src} for i in self.images]}


def build(plot: PlotDef, sources: list[Source]) -> list[Plot]:
    """The plot (its images apart, as a second one) drawn from `sources`."""
    images = [f for f in plot.y if is_image(f)]
    data = [f for f in plot.y if not is_image(f)]
    built = [_vega(plot, data, sources)] if data else []
    return built + ([_images(plot, images, sources)] if images else [])


def _images(plot: PlotDef, files: list[str], sources: list[Source]) -> Plot:
    result = Plot(plot.id, plot.title or plot.id, None)
    for source in sources:
        for file in files:
            data = source.read(file)
            if data is None:
                result.missing.append(f"{file} at {source.label}")
            else:
                uri = f"data:{IMAGE_TYPES[suffix(file)]};base64,{base64.b64encode(data).decode()}"
                result.images.append(Image(source.label, file, uri))
    return result


def _vega(plot: PlotDef, files: list[str], sources: list[Source]) -> Plot:
    name = plot.template or templates.DEFAULT
    if name not in templates.TEMPLATES:
        where = f"{PIPELINE_FILE}:{plot.line}: " if plot.line else ""
        raise PipelineError(f"{where}plot {plot.id!r}: unknown template {name!r}",
                            f"use one of: {', '.join(templates.TEMPLATES)}")
    result = Plot(plot.id, plot.title or plot.id, name)
    points: list[tuple[str, str, str, str, Row]] = []  # rev, file, x field, y field, row
    for source in sources:
        for file in files:
            data = source.read(file)
            if data is None:
                result.missing.append(f"{file} at {source.label}")
                continue
            rows = parse_rows(data, file, plot.header is not False)
            x, ys = _axes(plot, file, rows, name in templates.CATEGORICAL)
            points += [(source.label, file, x, y, row) for y in ys for row in rows]
    if points:
        result.spec = _spec(plot, name, points)
    return result


def _axes(plot: PlotDef, file: str, rows: list[Row], categorical: bool) -> tuple[str, tuple[str, ...]]:
    """The x field and y fields of `file` (checked to be there); an index as `step` if x is not given."""
    x = plot.x.get(file) or (CONFUSION_AXES[0] if categorical else STEP)
    if x == STEP and not plot.x.get(file) and not any(STEP in row for row in rows):
        for index, row in enumerate(rows):
            row[STEP] = index
    require_field(rows, x, file, "x")
    ys = plot.y.get(file) or _inferred_y(rows, x, categorical)
    for y in ys:
        require_field(rows, y, file, "y")
    return x, ys


def _inferred_y(rows: list[Row], x: str, categorical: bool) -> tuple[str, ...]:
    names = [n for n in fields_of(rows) if n not in (x, STEP)]
    if categorical and CONFUSION_AXES[1] in names:
        return (CONFUSION_AXES[1],)
    return (names[-1],) if names else ()


def _spec(plot: PlotDef, name: str, points: list[tuple[str, str, str, str, Row]]) -> dict[str, Any]:
    xs = {p[2] for p in points}
    ys = list(dict.fromkeys(p[3] for p in points))
    x_name = xs.pop() if len(xs) == 1 else "x"
    y_name = ys[0] if len(ys) == 1 else "y"
    varying = [i for i in (0, 1, 3) if len({p[i] for p in points}) > 1]  # rev, file, y field
    rows = []
    for point in points:
        rev, file, x, y, row = point
        label = " · ".join(point[i] for i in varying) or y
        rows.append({"rev": rev, "file": file, "field": y, templates.SERIES: label,
                     x_name: _value(row.get(x)), y_name: _value(row.get(y))})
    series = len({r[templates.SERIES] for r in rows})
    axes = templates.Axes(x_name, y_name, plot.title or plot.id, plot.x_label or x_name,
                          plot.y_label or ", ".join(ys), series)
    return templates.TEMPLATES[name](axes, rows)


def _value(value: Any) -> Any:
    """A value JSON and Vega can hold: non-finite numbers become null, dates and others text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
