"""`himo plots show` / `himo plots diff`: the plots of himo.yaml (or any data file or image) as
Vega-Lite specs with their data, one colour per revision, file and field.

    from himo import api
    from himo.api.plots import plots_diff, plots_show
    repo = api.Repo.find()
    for plot in plots_show(repo):                     # the plots himo.yaml defines, in the workspace
        print(plot.id, plot.template, plot.spec)      # spec: Vega-Lite, data inline
    plots_show(repo, ["eval/roc.json"], x="fpr", y="tpr", template="scatter")
    plots_diff(repo, ["HEAD~1", "HEAD"])              # overlaid: two revisions, two colours

The page that draws them (one self-contained HTML file, the JavaScript inside) is
himo.ui.plotpage; the dashboard's run and compare pages draw `run_plots`.
"""

from __future__ import annotations

from collections.abc import Mapping

from himo.api.plots import definitions, sources
from himo.api.plots.build import Image, Plot, build
from himo.api.plots.templates import TEMPLATES
from himo.api.revisions import WORKSPACE, revision
from himo.errors import HimoError, PathError
from himo.model.pipeline import PlotDef
from himo.workspace.repo import Repo

__all__ = ["TEMPLATES", "Image", "Plot", "PlotDef", "plots_diff", "plots_show", "run_plots"]


def plots_show(repo: Repo, targets: list[str] | None = None, rev: str | None = None,
               **props: str | None) -> list[Plot]:
    """The plots of himo.yaml at `rev` (None: the workspace), or of `targets` (paths as the user
    gave them), with `props` (x, y, template, title, x_label, y_label) where given. PathError for
    a target that does not exist; PipelineError for a file that does not parse or lacks a field."""
    return _plots(repo, [None if rev in (None, WORKSPACE) else rev], targets, props)


def plots_diff(repo: Repo, revs: list[str] | None = None, targets: list[str] | None = None,
               **props: str | None) -> list[Plot]:
    """The plots at several revisions, overlaid: none given, HEAD and the workspace; one, it and
    the workspace; more, those ("workspace" names the workspace). ScmError for an unknown one."""
    named: list[str | None] = [None if r == WORKSPACE else r for r in (revs or ["HEAD"])]
    if len(named) == 1:
        named.append(None)
    return _plots(repo, named, targets, props)


def run_plots(repo: Repo, runs: Mapping[str, Mapping[str, str]], commit: str | None) -> list[Plot]:
    """The plots himo.yaml defines (at git `commit` when it can be read there, else the
    workspace's), drawn from what runs wrote: {label: {output path: digest}}, one colour per run.
    A plot that cannot be drawn comes back with its `error`."""
    drawn = [sources.from_digests(repo, label, outputs) for label, outputs in runs.items()]
    defs = definitions.expand_folders(_defined_at(repo, commit), drawn)
    return [p for d in defs for p in _drawn(d, drawn) if not p.empty]


def _defined_at(repo: Repo, commit: str | None) -> list[PlotDef]:
    if commit and repo.git is not None:
        try:
            return definitions.defined(revision(repo, commit))
        except HimoError:  # a commit this clone does not have, a himo.yaml that did not parse
            pass
    return definitions.defined(revision(repo, None))


def _drawn(plot: PlotDef, drawn: list[sources.Source]) -> list[Plot]:
    """The plot, or its error as a plot: one bad file does not hide the others' plots."""
    try:
        return build(plot, drawn)
    except HimoError as exc:
        return [Plot(plot.id, plot.title or plot.id, plot.template, error=f"{exc.message} ({exc.hint})")]


def _plots(repo: Repo, revs: list[str | None], targets: list[str] | None,
           props: Mapping[str, str | None]) -> list[Plot]:
    at = [revision(repo, r) for r in revs]
    defs = _union([definitions.defined(r) for r in at])
    if targets:  # those himo.yaml defines keep their properties
        known = {d.id: d for d in defs}
        defs = [known.get(p) or PlotDef(p, {p: ()}) for p in (_repo_path(repo, t) for t in targets)]
    defs = [definitions.with_properties(d, **props) for d in defs]
    drawn = [sources.at_revision(r) for r in at]
    defs = definitions.expand_folders(defs, drawn)
    plots = [p for d in defs for p in build(d, drawn)]
    for plot in plots if targets else ():
        if plot.empty:
            raise PathError(f"{plot.id}: no such file{'' if len(at) == 1 else ' at any of the revisions'}",
                            "give a JSON, YAML, CSV or TSV file or an image (run `himo repro` to make it)")
    return plots


def _union(per_revision: list[list[PlotDef]]) -> list[PlotDef]:
    """Every plot defined at any of the revisions; a later revision's definition wins."""
    merged: dict[str, PlotDef] = {}
    for defs in per_revision:
        merged.update({d.id: d for d in defs})
    return list(merged.values())


def _repo_path(repo: Repo, target: str) -> str:
    return repo.rel(repo.resolve(target))

