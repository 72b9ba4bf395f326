"""The file `himo plots show` writes: one HTML page with the plots and the vendored Vega, Vega-Lite
and vega-embed inside it, so it opens anywhere, offline, and fetches nothing.

    from himo.api.plots import plots_show
    from himo.ui.plotpage import write_page
    write_page(plots_show(repo), Path("himo_plots"))     # -> himo_plots/index.html

The page draws with the same template (templates/plots.html) and script (static/himo-plots.js)
as the dashboard's run and compare pages. No web framework is loaded: the CLI imports this.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from himo.api.plots import Plot
from himo.errors import workspace_io_error
from himo.workspace.atomic import drop_stale_temps, write_text_atomic

HERE = Path(__file__).parent
# In the order they load: vega-lite needs vega, vega-embed both; himo-plots.js draws.
SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js", "himo-plots.js")
PAGE = "index.html"


def render_page(plots: Sequence[Plot], title: str = "himo plots", subtitle: str = "") -> str:
    pages = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    scripts = [(HERE / "static" / name).read_text(encoding="utf-8") for name in SCRIPTS]
    return pages.get_template("plots_file.html").render(
        plots=[p.as_json() for p in plots], title=title, subtitle=subtitle, scripts=scripts)


def write_page(plots: Sequence[Plot], folder: Path, title: str = "himo plots", subtitle: str = "") -> Path:
    """Write folder/index.html (atomically: a reader never sees half of it); its path. The temp
    file of a write killed before its rename (its process gone) is deleted first: no command
    cleans this folder otherwise, as it is neither tracked nor at the repository's root."""
    path = folder / PAGE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        drop_stale_temps(path)
        write_text_atomic(path, render_page(plots, title, subtitle))
    except OSError as exc:
        raise workspace_io_error(f"{path}: cannot write: {exc.strerror}", exc, full="free some disk space",
                                 denied=f"check the permissions of {folder}, or give another -o folder",
                                 other="give another -o folder") from exc
    return path
