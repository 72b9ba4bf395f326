"""`himo params diff`, `himo metrics show`, `himo metrics diff`."""

from __future__ import annotations

from typing import Any

import click

from himo.cli.main import common
from himo.cli.output import OUT
from himo.workspace.repo import Repo


def _fmt(value: Any) -> str:
    return "-" if value is None else str(value)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [headers, *rows]
    )


def _diff_json(changes: list[Any], with_delta: bool) -> dict[str, dict[str, Any]]:
    doc: dict[str, dict[str, Any]] = {}
    for c in changes:
        item = {"old": c.old, "new": c.new}
        if with_delta:
            item["diff"] = c.delta
        doc.setdefault(c.path, {})[c.key] = item
    return doc


def _print_diff(changes: list[Any], as_json: bool, with_delta: bool, a: str, b: str) -> None:
    if as_json:
        OUT.json(_diff_json(changes, with_delta))
        return
    if not changes:
        OUT.echo("No changes.")
        return
    headers = ["Path", "Key", a, b] + (["Change"] if with_delta else [])
    rows = [[c.path, c.key, _fmt(c.old), _fmt(c.new)] + ([_fmt(c.delta)] if with_delta else [])
            for c in changes]
    click.echo(_table(headers, rows))


diff_args = [
    click.argument("a_rev", required=False, default="HEAD"),
    click.argument("b_rev", required=False),
    click.option("--all", "show_all", is_flag=True, help="Also unchanged values."),
    click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts."),
]


def diff_options(fn: Any) -> Any:
    for option in reversed(diff_args):
        fn = option(fn)
    return fn


@click.group("params")
@common
def params_group() -> None:
    """Compare parameters between git revisions."""


@params_group.command("diff")
@diff_options
@common
def params_diff_cmd(a_rev: str, b_rev: str | None, show_all: bool, as_json: bool) -> None:
    """Params the stages use: A_REV (default HEAD) against B_REV (default the workspace)."""
    from himo.api.params import params_diff

    changes = params_diff(Repo.find(), a_rev, b_rev, show_all)
    _print_diff(changes, as_json, False, a_rev, b_rev or "workspace")



@click.group("metrics")
@common
def metrics_group() -> None:
    """Show and compare the stages' metrics files."""


@metrics_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def metrics_show_cmd(as_json: bool) -> None:
    """Values in the metrics files of the stages (JSON, YAML or TOML), flattened to dotted keys."""
    from himo.api.metrics import metrics_show

    rows = metrics_show(Repo.find())
    if as_json:
        doc: dict[str, dict[str, Any]] = {}
        for r in rows:
            doc.setdefault(r.path, {})[r.key] = r.new
        OUT.json(doc)
    elif rows:
        click.echo(_table(["Path", "Metric", "Value"], [[r.path, r.key, _fmt(r.new)] for r in rows]))
    else:
        OUT.echo("No metrics: declare metrics files under `metrics:` in himo.yaml.")


@metrics_group.command("diff")
@diff_options
@common
def metrics_diff_cmd(a_rev: str, b_rev: str | None, show_all: bool, as_json: bool) -> None:
    """Metrics at A_REV (default HEAD) against B_REV (default the workspace), with the change."""
    from himo.api.metrics import metrics_diff

    changes = metrics_diff(Repo.find(), a_rev, b_rev, show_all)
    _print_diff(changes, as_json, True, a_rev, b_rev or "workspace")

