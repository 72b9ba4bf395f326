"""Make docs/img/*.png, one picture per dashboard page, from a clean project.

    python docs/gen_screenshots.py [--root /tmp/himo-demo-ui]

Builds the dashboard tests' team project (tests/ui/project.py: prepare -> train -> evaluate, a run
whose train fails, models released and one rolled back, a restore from the run-cache, a foreach
sweep of 12 stages on a branch) at ROOT/churn, so the header shows a short store path
and not a pytest folder; serves it on a free loopback port and photographs each page with
Debian's Chromium (/usr/bin/chromium) through Playwright; then the sweep project
(make_sweep_project: a foreach stage over params.yaml's sweep, each member its metrics) at
ROOT/sweep, for the comparison of a sweep's members. Run from the repository's root.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.ui.project

from himo.ui.app import create_app  # noqa: E402
from himo.ui.server import open_source  # noqa: E402
from tests.conftest import CHROMIUM  # noqa: E402
from tests.ui.conftest import free_port  # noqa: E402
from tests.ui.project import make_sweep_project, make_team_project  # noqa: E402

WIDTH, MAX_HEIGHT = 1280, 1300  # a page taller than this is cut: the top tells the story


def serve(root: Path) -> tuple[str, object]:
    import uvicorn

    store, repo = open_source(None, root)
    server = uvicorn.Server(uvicorn.Config(create_app(store, repo), host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{server.config.port}", server


def shoot(page, name: str, out: Path) -> None:  # type: ignore[no-untyped-def]
    height = min(page.evaluate("() => document.documentElement.scrollHeight"), MAX_HEIGHT)
    page.screenshot(path=str(out / f"{name}.png"), clip={"x": 0, "y": 0, "width": WIDTH, "height": height},
                    full_page=True)
    print(f"{name}.png {(out / f'{name}.png').stat().st_size // 1024} KB")


def pictures(base: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": 900})
        page.goto(base + "/runs")
        page.locator("#grid tr.group button.toggle").first.click()  # the sweep's 12 stages, in order
        for box in page.locator("#runs input[name=run]").all()[1:4]:
            box.check()
        shoot(page, "runs", out)
        page.locator("#compare-button").click()
        page.wait_for_selector("body[data-charts=ready]")
        shoot(page, "compare", out)
        page.goto(base + "/artifacts")
        shoot(page, "artifacts", out)
        page.goto(base + "/runs")
        page.locator("#runs a.run-link").nth(3).click()
        page.wait_for_selector("section.execution")
        shoot(page, "run", out)
        page.locator("section.execution[data-stage=train] table.outputs a.digest").click()
        page.wait_for_selector("#lineage[data-ready]")
        shoot(page, "artifact", out)
        page.goto(base + "/pipeline")
        page.wait_for_selector("#dag[data-ready]")
        shoot(page, "pipeline", out)
        page.goto(base + "/releases")
        shoot(page, "releases", out)
        page.goto(base + "/metrics")
        page.wait_for_selector("body[data-charts=ready]")
        shoot(page, "metrics", out)
        browser.close()


def sweep_pictures(base: str, out: Path) -> None:
    """The members of the sweep project's first run compared, opened from its run page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": 900})
        page.goto(base + "/runs")
        page.locator("#runs a.run-link").nth(1).click()
        page.locator("#foreach-train button[type=submit]").click()
        page.wait_for_selector("body[data-charts=ready]")
        shoot(page, "compare-sweep", out)
        browser.close()


def photograph(root: Path, take: Callable[[str, Path], None], out: Path) -> None:
    base, server = serve(root)
    try:
        take(base, out)
    finally:
        server.should_exit = True  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/himo-demo-ui"))
    parser.add_argument("--out", type=Path, default=HERE / "img")
    args = parser.parse_args()
    shutil.rmtree(args.root, ignore_errors=True)
    photograph(make_team_project(args.root / "churn"), pictures, args.out)
    photograph(make_sweep_project(args.root / "sweep")[0], sweep_pictures, args.out)


if __name__ == "__main__":
    main()
