"""`himo plots show/diff` and himo.api.plots: the Vega-Lite spec of every template (fields and data
values), the data formats, images, plots of himo.yaml at two git revisions (a cached output read
through himo.lock + the cache, a file committed to git), and hostile inputs, each a one-line
error naming the file (and the field)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from himo.api.plots import TEMPLATES, PlotDef, plots_diff, plots_show, run_plots
from himo.api.plots.build import build
from himo.api.plots.sources import Source, from_digests
from himo.api.plots.templates import field
from himo.errors import PathError, PipelineError
from himo.objects.hashing import hash_bytes
from himo.workspace.repo import Repo
from tests.api.plots_project import PNG, make_plots_project
from tests.conftest import Himo, git, write

TRAIN = [{"step": i, "loss": round(1 / (i + 1), 4), "acc": i / 10} for i in range(5)]


def source(files: dict[str, bytes], label: str = "workspace") -> Source:
    return Source(label, files.get)


def spec_of(plot: PlotDef, files: dict[str, bytes]) -> dict:
    [built] = build(plot, [source(files)])
    assert built.spec is not None
    return built.spec


def values(spec: dict) -> list[dict]:
    return spec["data"]["values"]


LINES = {"simple": "line", "linear": "line", "scatter": "point", "bar_horizontal": "bar",
         "bar_horizontal_sorted": "bar"}


@pytest.mark.parametrize("template", list(LINES))
def test_xy_templates_hold_the_data_and_name_the_fields(template: str) -> None:
    rows = [{"name": "a.b", "loss.val": 0.5}, {"name": "c", "loss.val": 0.25}]
    x, y = ("loss.val", "name") if template.startswith("bar") else ("name", "loss.val")
    plot = PlotDef("p.json", {"p.json": (y,)}, {"p.json": x}, template, "Title", "X", "Y")
    spec = spec_of(plot, {"p.json": json.dumps(rows).encode()})
    mark = spec["mark"] if isinstance(spec["mark"], str) else spec["mark"]["type"]
    assert spec["title"] == "Title" and mark == LINES[template]
    enc = spec["encoding"]
    # Dotted names are escaped: Vega-Lite would read "loss.val" as nested access.
    assert (enc["x"]["field"], enc["y"]["field"]) == (field(x), field(y))
    assert field("loss.val") == "loss\\.val" and (enc["x"]["title"], enc["y"]["title"]) == ("X", "Y")
    assert [(r[x], r[y]) for r in values(spec)] == [(r[x], r[y]) for r in rows]
    assert {r["rev"] for r in values(spec)} == {"workspace"}
    if template == "bar_horizontal_sorted":
        assert enc["y"]["sort"] == "-x" and enc["y"]["type"] == "nominal"


def test_smooth_draws_the_points_and_a_loess_curve() -> None:
    spec = spec_of(PlotDef("t.json", {"t.json": ("loss",)}, template="smooth"),
                   {"t.json": json.dumps(TRAIN).encode()})
    _points, curve = spec["layer"]
    assert curve["transform"][0]["loess"] == "loss" and curve["transform"][0]["on"] == "step"
    assert [r["loss"] for r in values(spec)] == [r["loss"] for r in TRAIN]


@pytest.mark.parametrize("template", ["confusion", "confusion_normalized"])
def test_confusion_counts_actual_against_predicted(template: str) -> None:
    rows = [{"actual": a, "predicted": p} for a, p in ["00", "01", "11", "11", "10"]]
    spec = spec_of(PlotDef("cm.json", {"cm.json": ()}, template=template),
                   {"cm.json": json.dumps(rows).encode()})
    assert spec["encoding"]["x"]["field"] == "actual" and spec["encoding"]["y"]["field"] == "predicted"
    pairs = [(r["actual"], r["predicted"]) for r in values(spec)]
    assert pairs == [(r["actual"], r["predicted"]) for r in rows]
    assert spec["transform"][0]["aggregate"][0]["op"] == "count"
    assert (template == "confusion_normalized") == any("calculate" in t for t in spec["transform"])


def test_every_template_is_known_and_an_unknown_one_is_refused() -> None:
    assert set(TEMPLATES) == {"simple", "linear", "scatter", "smooth", "confusion", "confusion_normalized",
                              "bar_horizontal", "bar_horizontal_sorted"}
    with pytest.raises(PipelineError, match=r"plot 't.json': unknown template 'pie'"):
        spec_of(PlotDef("t.json", {"t.json": ()}, template="pie"), {"t.json": b"[]"})


def test_defaults_as_dvc_x_is_the_index_y_the_last_field() -> None:
    spec = spec_of(PlotDef("l.csv", {"l.csv": ()}), {"l.csv": b"loss,acc\n0.5,0.1\n0.25,0.2\n"})
    assert spec["encoding"]["x"]["field"] == "step" and spec["encoding"]["y"]["field"] == "acc"
    assert [(r["step"], r["acc"]) for r in values(spec)] == [(0, 0.1), (1, 0.2)]  # numbers, not text


@pytest.mark.parametrize(("name", "text"), [
    ("a.json", json.dumps({"train": TRAIN})),  # dvclive / sklearn: records under a key
    ("a.yaml", "- {step: 0, loss: 1.0}\n- {step: 1, loss: 0.5}\n"),
    ("a.tsv", "step\tloss\n0\t1.0\n1\t0.5\n"),
])
def test_formats(name: str, text: str) -> None:
    spec = spec_of(PlotDef(name, {name: ("loss",)}), {name: text.encode()})
    assert [r["loss"] for r in values(spec)][:2] == [1.0, 0.5]


def test_several_fields_and_files_are_series() -> None:
    files = {"a.json": json.dumps(TRAIN).encode(), "b.csv": b"step,loss\n0,9\n"}
    spec = spec_of(PlotDef("both", {"a.json": ("loss", "acc"), "b.csv": ("loss",)}), files)
    assert spec["encoding"]["y"]["field"] == "y" and spec["encoding"]["y"]["title"] == "loss, acc"
    assert {r["series"] for r in values(spec)} == {"a.json · loss", "a.json · acc", "b.csv · loss"}


def test_images_are_inlined_as_data_uris() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    [plot] = build(PlotDef("i.png", {"i.png": ()}), [source({"i.png": PNG}), source({}, "HEAD")])
    assert plot.spec is None and plot.images[0].src.startswith("data:image/png;base64,iVBOR")
    assert plot.missing == ["i.png at HEAD"] and plot.as_json()["type"] == "image"
    [plot] = build(PlotDef("i.svg", {"i.svg": ()}), [source({"i.svg": svg})])
    assert plot.images[0].src.startswith("data:image/svg+xml;base64,")  # shown by <img>: no script runs


@pytest.mark.parametrize(("name", "data", "message"), [
    ("m.csv", b"a,b\n1,2\n3\n", r"m.csv:3: 1 values for 2 columns"),
    ("m.json", b'[{"a": 1}', r"m.json: cannot parse: "),
    ("m.json", b'{"a": 1}', r"m.json: no list of records to plot"),
    ("m.yaml", b"a: [1, 2", r"m.yaml:\d+: cannot parse"),
    ("m.csv", b"\xff\xfe\x00", r"m.csv: not UTF-8 text"),
    ("m.csv", b"", r"m.csv: no rows to plot"),
    ("m.txt", b"1 2", r"m.txt: not a plot file"),
    ("m.json", b'[{"a": 1}]', r"m.json: no field 'nope' for the plot's y \(fields: a, step\)"),
])
def test_bad_files_are_one_line_errors_naming_them(name: str, data: bytes, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as caught:
        spec_of(PlotDef(name, {name: ("nope",) if "nope" in message else ()}), {name: data})
    assert "\n" not in caught.value.message


def test_missing_x_field_is_named() -> None:
    with pytest.raises(PipelineError, match=r"t.json: no field 'epoch' for the plot's x"):
        spec_of(PlotDef("t.json", {"t.json": ()}, {"t.json": "epoch"}),
                {"t.json": json.dumps(TRAIN).encode()})


def test_values_json_cannot_hold_become_null_or_text() -> None:
    spec = spec_of(PlotDef("n.csv", {"n.csv": ("v",)}), {"n.csv": b"v\nnan\ninf\n1.5\n"})
    assert [r["v"] for r in values(spec)] == [None, None, 1.5]
    json.dumps(spec, allow_nan=False)  # valid JSON, which the browser's JSON.parse reads


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, _templates: dict[bool, Path]) -> Path:
    """A stage writing a cached plots file, an uncached one committed to git and a folder of
    plots, run at lr 0.1 and committed, then at lr 0.5 and committed (once for the module)."""
    return make_plots_project(tmp_path_factory.mktemp("plots") / "repo", _templates[True])


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Path:
    """A copy of the built project, for a test to change."""
    copy = tmp_path / "project"
    shutil.copytree(built, copy, symlinks=True)
    return copy


def loss_at(plots: list, rev: str) -> list[float]:
    plot = next(p for p in plots if p.id == "logs/loss.csv")
    return [r["loss"] for r in values(plot.spec) if r["rev"] == rev]


def test_show_and_diff_of_himo_yaml(built: Path, tmp_path: Path) -> None:
    project, himo = built, Himo(built)
    repo = Repo(project)
    shown = plots_show(repo)
    assert [p.id for p in shown] == ["ROC", "logs/loss.csv", "eval/importance.json", "eval/plots/pr.png",
                                     "eval/plots/roc.csv"]  # top-level first; a folder: a plot per file
    # The properties of himo.yaml (dvc.yaml's): template, fields, title.
    roc, loss, importance = shown[0].spec, shown[1].spec, shown[2].spec
    assert (roc["mark"], roc["encoding"]["x"]["field"], roc["encoding"]["y"]["field"]) == ({"type": "line"},
                                                                                         "fpr", "tpr")
    assert loss["title"] == "Loss" and importance["encoding"]["y"]["sort"] == "-x"
    assert "logs/loss.csv" not in git(project, "ls-files")  # cached, not in git
    diff = plots_diff(repo, ["HEAD~1", "HEAD"])
    # The cached output at HEAD~1 is read through that commit's himo.lock and the cache.
    assert loss_at(diff, "HEAD~1") == [1.0, 0.9091, 0.8333, 0.7692, 0.7143]
    assert loss_at(diff, "HEAD") == [1.0, 0.6667, 0.5, 0.4, 0.3333]
    importance = next(p for p in diff if p.id == "eval/importance.json")  # committed to git
    assert {r["series"] for r in values(importance.spec)} == {"HEAD~1", "HEAD"}
    assert loss_at(plots_diff(repo), "HEAD") == loss_at(plots_diff(repo), "workspace")
    out = himo("plots", "diff", "HEAD~1", "--json").stdout
    assert {p["id"]: p["type"] for p in json.loads(out)}["eval/plots/pr.png"] == "image"
    himo("plots", "show", "-o", str(tmp_path / "report"))
    page = (tmp_path / "report" / "index.html").read_text()
    assert page.count('data-target="plot-') == 4 and "data:image/png;base64," in page
    assert "vegaEmbed" in page and "<script src=" not in page and "https://cdn" not in page


def test_targets_with_properties_and_missing_ones(built: Path) -> None:
    project, himo = built, Himo(built)
    out = himo("plots", "show", "eval/importance.json", "-t", "bar_horizontal_sorted", "-x", "importance",
               "-y", "feature", "--json").stdout
    [plot] = json.loads(out)
    assert plot["template"] == "bar_horizontal_sorted" and plot["spec"]["encoding"]["y"]["field"] == "feature"
    every = json.loads(himo("plots", "show", "-t", "scatter", "--json").stdout)  # over himo.yaml's
    assert {p["template"] for p in every if p["type"] == "vega"} == {"scatter"}
    [roc] = json.loads(himo("plots", "show", "eval/plots/roc.csv", "--json").stdout)
    assert roc["spec"]["encoding"]["y"]["field"] == "tpr"  # inferred: the last field
    bad = himo("plots", "show", "nope.csv", ok=False)
    assert bad.returncode == 1 and bad.stderr.startswith("Error: nope.csv: no such file\n")
    bad = himo("plots", "show", "logs/loss.csv", "-y", "lossy", ok=False)
    assert "Error: logs/loss.csv: no field 'lossy' for the plot's y (fields: step, loss)" in bad.stderr
    assert himo("plots", "show", "-t", "pie", ok=False).returncode == 2
    with pytest.raises(PathError):
        plots_diff(Repo(project), ["HEAD"], ["gone.json"])


def test_a_file_missing_at_one_revision_is_reported(project: Path) -> None:
    himo = Himo(project)
    (project / "eval" / "importance.json").unlink()
    result = himo("plots", "diff", "HEAD", "-o", "out")
    assert "Warning: eval/importance.json at workspace: not found" in result.stderr


def test_run_plots_read_what_the_run_wrote_from_the_cache(project: Path) -> None:
    repo = Repo(project)
    data = (project / "logs" / "loss.csv").read_bytes()
    later = b"step,loss\n0,5\n"
    write(project / "logs" / "loss.csv", later)  # the workspace changed since: the cache has the run's
    plots = run_plots(repo, {"run1": {"logs/loss.csv": hash_bytes(data)}}, None)
    assert [p.id for p in plots] == ["logs/loss.csv"] and loss_at(plots, "run1")[1] == 0.6667
    # Not in the cache: the workspace file only when it has the recorded digest.
    assert from_digests(repo, "r", {"x.csv": hash_bytes(later)}).read("x.csv") is None
    assert from_digests(repo, "r", {"logs/loss.csv": hash_bytes(later)}).read("logs/loss.csv") == later


def test_with_symlinked_cache_files_and_after_gc(project: Path) -> None:
    himo = Himo(project)
    himo("config", "cache.type", "symlink")
    (project / "logs" / "loss.csv").unlink()
    himo("checkout")
    assert (project / "logs" / "loss.csv").is_symlink()
    assert loss_at(plots_show(Repo(project)), "workspace") == [1.0, 0.6667, 0.5, 0.4, 0.3333]
    himo("gc", "-f")  # HEAD~1's loss.csv was only in the cache
    result = himo("plots", "diff", "HEAD~1", "--json")
    assert "logs/loss.csv at HEAD~1" in json.loads(result.stdout)[1]["missing"]
    result = himo("plots", "diff", "HEAD~1", "-o", "out")
    assert "Warning: logs/loss.csv at HEAD~1: not found (neither in that commit nor" in result.stderr


def test_a_killed_write_of_the_page_is_cleaned_by_the_next(repo: Path) -> None:
    """kill -9 between writing the page's temp file and renaming it: the next `plots show`
    deletes that temp file (its writer is gone) and writes the page whole; a live writer's stays."""
    import subprocess
    import sys

    write(repo / "loss.csv", "step,loss\n0,1\n1,0.5\n")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    out = repo / "plots"
    write(out / f".index.html.himo-tmp-{gone}-0123456789ab", "<html><body>half of a pa")
    live = write(out / f".index.html.himo-tmp-{os.getppid()}-0123456789ab", "another writer's")
    Himo(repo)("plots", "show", "loss.csv", "-o", "plots")
    assert sorted(p.name for p in out.iterdir()) == [live.name, "index.html"]
    assert (out / "index.html").read_text().rstrip().endswith("</html>")


def test_open_hands_the_written_page_to_the_web_browser(built: Path, tmp_path: Path) -> None:
    """--open opens the page in the user's browser (Python's webbrowser, which honours $BROWSER:
    here a script noting what it was asked to open)."""
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    env = {**os.environ, "BROWSER": str(browser)}
    Himo(built, process=True)("plots", "show", "-o", str(tmp_path / "page"), "--open", env=env)
    assert opened.read_text().strip() == (tmp_path / "page" / "index.html").as_uri()
