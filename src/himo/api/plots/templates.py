"""The Vega-Lite templates, by DVC's names: each turns rows and field names into a Vega-Lite spec.

Rows are long-form: one per point, with the x field, the y field, and `series` (which revision,
file and field the point belongs to; one colour each). The specs hold their data
(`data.values`), so a spec alone draws the chart: `himo plots show --json` prints them.

    simple                 a line per series
    linear                 lines with points, tooltips, zoom and pan (the default)
    scatter                points, tooltips, zoom and pan
    smooth                 the points in grey, and a LOESS curve through them
    confusion              a confusion matrix: x = actual, y = predicted, counted
    confusion_normalized   the same, each actual class's row summing to 1
    bar_horizontal         a bar per y category, of length x
    bar_horizontal_sorted  the same, longest bar first
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # names the version; never fetched
WIDTH, HEIGHT = 480, 300
SERIES = "series"
Spec = dict[str, Any]


@dataclass(frozen=True)
class Axes:
    """What a template draws: field names in the rows, and the labels shown."""

    x: str
    y: str
    title: str
    x_label: str
    y_label: str
    series: int  # how many series (a legend only when more than one)


def field(name: str) -> str:
    """A field name as Vega-Lite reads it: dots and brackets would mean nested access."""
    return name.replace("\\", "\\\\").replace(".", "\\.").replace("[", "\\[").replace("]", "\\]")


def _base(axes: Axes, rows: list[dict[str, Any]]) -> Spec:
    return {"$schema": SCHEMA, "title": axes.title, "width": WIDTH, "height": HEIGHT,
            "data": {"values": rows}}


def _color(axes: Axes) -> dict[str, Any]:
    legend = {"orient": "bottom", "columns": 2, "labelLimit": 400} if axes.series > 1 else None
    return {"color": {"field": SERIES, "type": "nominal", "title": None, "legend": legend}}


def _xy(axes: Axes, zero: bool = False) -> dict[str, Any]:
    return {"x": {"field": field(axes.x), "type": "quantitative", "title": axes.x_label,
                  "scale": {"zero": zero}},
            "y": {"field": field(axes.y), "type": "quantitative", "title": axes.y_label,
                  "scale": {"zero": zero}},
            **_color(axes)}


def _tooltip(axes: Axes) -> list[dict[str, Any]]:
    return [{"field": field(axes.x), "title": axes.x_label}, {"field": field(axes.y), "title": axes.y_label},
            {"field": SERIES, "title": "series"}]


ZOOM = [{"name": "zoom", "select": "interval", "bind": "scales"}]


def simple(axes: Axes, rows: list[dict[str, Any]]) -> Spec:
    return _base(axes, rows) | {"mark": {"type": "line"}, "encoding": _xy(axes)}


def linear(axes: Axes, rows: list[dict[str, Any]]) -> Spec:
    return _base(axes, rows) | {"mark": {"type": "line", "point": {"size": 20}}, "params": ZOOM,
                                "encoding": _xy(axes) | {"tooltip": _tooltip(axes)}}


def scatter(axes: Axes, rows: list[dict[str, Any]]) -> Spec:
    return _base(axes, rows) | {"mark": {"type": "point", "filled": True}, "params": ZOOM,
                                "encoding": _xy(axes) | {"tooltip": _tooltip(axes)}}


def smooth(axes: Axes, rows: list[dict[str, Any]]) -> Spec:
    raw = {k: v for k, v in _xy(axes).items() if k != "color"} | {"detail": {"field": SERIES}}
    points = {"mark": {"type": "line", "color": "#9aa3b5", "opacity": 0.5}, "encoding": raw}  # no legend
    curve = {"transform": [{"loess": field(axes.y), "on": field(axes.x), "groupby": [SERIES],
                            "bandwidth": 0.3}],
             "mark": {"type": "line"}, "encoding": _xy(axes)}
    return _base(axes, rows) | {"layer": [points, curve]}


def confusion(axes: Axes, rows: list[dict[str, Any]], normalized: bool = False) -> Spec:
    value, label = ("share", ".2f") if normalized else ("count", "d")
    transform: list[dict[str, Any]] = [
        {"aggregate": [{"op": "count", "as": "count"}], "groupby": [field(axes.x), field(axes.y), SERIES]}]
    if normalized:
        transform += [{"joinaggregate": [{"op": "sum", "field": "count", "as": "total"}],
                       "groupby": [field(axes.x), SERIES]},
                      {"calculate": "datum.count / datum.total", "as": "share"}]
    x = {"field": field(axes.x), "type": "nominal", "title": axes.x_label, "sort": "ascending"}
    y = {"field": field(axes.y), "type": "nominal", "title": axes.y_label, "sort": "ascending"}
    cell = {"mark": "rect", "encoding": {"color": {"field": value, "type": "quantitative", "title": value}}}
    text = {"mark": {"type": "text"},
            "encoding": {"text": {"field": value, "type": "quantitative", "format": label}}}
    inner = {"encoding": {"x": x, "y": y}, "layer": [cell, text], "width": 300, "height": 300}
    spec = {"$schema": SCHEMA, "title": axes.title, "data": {"values": rows}, "transform": transform}
    if axes.series > 1:
        return spec | {"facet": {"field": SERIES, "type": "nominal", "title": None}, "spec": inner}
    return spec | inner


def confusion_normalized(axes: Axes, rows: list[dict[str, Any]]) -> Spec:
    return confusion(axes, rows, normalized=True)


def bar_horizontal(axes: Axes, rows: list[dict[str, Any]], sort: Any = None) -> Spec:
    encoding = {"x": {"field": field(axes.x), "type": "quantitative", "title": axes.x_label},
                "y": {"field": field(axes.y), "type": "nominal", "title": axes.y_label, "sort": sort},
                "tooltip": _tooltip(axes), **_color(axes)}
    if axes.series > 1:
        encoding["yOffset"] = {"field": SERIES}
    return _base(axes, rows) | {"mark": "bar", "encoding": encoding}


def bar_horizontal_sorted(axes: Axes, rows: list[dict[str, Any]]) -> Spec:
    return bar_horizontal(axes, rows, sort="-x")


TEMPLATES: dict[str, Callable[[Axes, list[dict[str, Any]]], Spec]] = {
    "simple": simple, "linear": linear, "scatter": scatter, "smooth": smooth, "confusion": confusion,
    "confusion_normalized": confusion_normalized, "bar_horizontal": bar_horizontal,
    "bar_horizontal_sorted": bar_horizontal_sorted,
}
DEFAULT = "linear"
# Templates whose x and y are categories (both taken from the same rows): no "step" index for x.
CATEGORICAL = ("confusion", "confusion_normalized")
