"""A whole himo.yaml as values: its stages, and the top-level keys DVC 3's dvc.yaml has besides
(`params`, `metrics`, `plots`, `artifacts`, `datasets`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from himo.model.stage import Stage


@dataclass(frozen=True, slots=True)
class PlotDef:
    """One plot, from top-level `plots` or a stage's `plots` output, with DVC's properties.

    `ROC: {x: fpr, y: {eval/roc.json: tpr}}` is PlotDef(id="ROC", y={"eval/roc.json": ("tpr",)},
    x={"eval/roc.json": "fpr"}); `eval/loss.csv: {y: [train, val]}` is id "eval/loss.csv" drawing
    that file. A file may be a folder (dvclive/plots/metrics): every data file in it is drawn."""

    id: str  # the plot's name: a data file's path, or a free name whose files are in `y`
    y: dict[str, tuple[str, ...]]  # data file (repository-relative) -> fields on the y axis; () = template's
    x: dict[str, str] = field(default_factory=dict)  # data file -> field on the x axis (absent: template's)
    template: str | None = None  # Vega-Lite template name (linear, scatter, confusion ...); None: linear
    title: str | None = None
    x_label: str | None = None
    y_label: str | None = None
    header: bool | None = None  # CSV/TSV files: whether the first row names the columns (None: yes)
    stage: str | None = None  # the stage whose `plots` output declares it; None: top-level `plots`
    line: int = 0  # line in himo.yaml, for messages

    @property
    def files(self) -> tuple[str, ...]:
        """The data files (or folders) drawn, in the order given."""
        return tuple(self.y)


@dataclass(frozen=True, slots=True)
class ArtifactDef:
    """A named artifact (top-level `artifacts`): `himo release NAME`, `lineage NAME`, `where NAME`."""

    name: str  # lowercase letters, digits and '-' (as DVC and GTO require)
    path: str  # repository-relative path it names (a tracked path or a stage output)
    type: str | None = None  # free-form: model, dataset ...
    desc: str | None = None
    labels: tuple[str, ...] = ()
    meta: Any = field(default=None, compare=False, hash=False)  # any YAML value, kept as given
    line: int = 0


@dataclass(frozen=True, slots=True)
class DatasetDef:
    """An entry of top-level `datasets` (DVC 3): kept as declared; himo does not fetch them."""

    name: str
    type: str  # dvc, dc, url ...
    fields: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # url, path, rev ...
    line: int = 0


@dataclass(frozen=True, slots=True)
class PipelineDef:
    """Everything himo.yaml defines."""

    stages: tuple[Stage, ...] = ()
    params: tuple[str, ...] = ()  # top-level `params`: more params files, compared whole by `params diff`
    metrics: tuple[str, ...] = ()  # top-level `metrics`: files read by `metrics show/diff` (not outputs)
    plots: tuple[PlotDef, ...] = ()  # top-level plots, then the stages' plots outputs
    artifacts: tuple[ArtifactDef, ...] = ()
    datasets: tuple[DatasetDef, ...] = ()

    def artifact(self, name: str) -> ArtifactDef | None:
        return next((a for a in self.artifacts if a.name == name), None)
