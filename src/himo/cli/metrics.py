"""`himo params diff`, `himo metrics show`, `himo metrics diff`."""

from __future__ import annotations

import json
from typing import Any

import click

from himo.cli.main import common
from himo.cli.output import OUT
from himo.cli.repo import echo_dvc_hint, find_repo


def _fmt(value: Any) -> str:
    """A value as JSON writes it (`true`, `[1, 2]`), strings bare, `-` for absent."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [headers, *rows]
    )


def _print_diff(changes: list[Any], as_json: bool, what: str, labels: tuple[str, str]) -> None:
    """A diff as a table (Path, Param/Metric, A, B[, Change]) or JSON {path: {key: {old, new[, diff]}}}."""
    with_delta = what == "Metric"
    if as_json:
        doc: dict[str, dict[str, Any]] = {}
        for c in changes:
            item = {"old": c.old, "new": c.new} | ({"diff": c.delta} if with_delta else {})
            doc.setdefault(c.path, {})[c.key] = item
        OUT.json(doc)
    elif not changes:
        OUT.echo("No changes.")
    else:
        headers = ["Path", what, *labels] + (["Change"] if with_delta else [])
        rows = [[c.path, c.key, _fmt(c.old), _fmt(c.new)] + ([_fmt(c.delta)] if with_delta else [])
                for c in changes]
        click.echo(_table(headers, rows))


def diff_options(fn: Any) -> Any:
    """A_REV, B_REV, --all and --json, shared by both diffs."""
    for option in reversed([
        click.argument("a_rev", required=False, default="HEAD"),
        click.argument("b_rev", required=False),
        click.option("--all", "show_all", is_flag=True, help="Also list unchanged values."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts."),
    ]):
        fn = option(fn)
    return fn


@click.group("params")
@common
def params_group() -> None:
    """Compare the pipeline's parameters between git revisions."""


@params_group.command("diff")
@diff_options
@common
def params_diff_cmd(a_rev: str, b_rev: str | None, show_all: bool, as_json: bool) -> None:
    """Params the stages use, at A_REV (default HEAD) against B_REV (default the workspace).

    The params files and keys listed in himo.yaml (all of params.yaml when no stage lists any);
    only changed values, unless --all, which lists every key of those files.
    """
    from himo.api.params import params_diff

    changes = params_diff(find_repo(), a_rev, b_rev, show_all)
    _print_diff(changes, as_json, "Param", (a_rev, b_rev or "workspace"))


@click.group("metrics")
@common
def metrics_group() -> None:
    """Show and compare the stages' metrics files."""


@metrics_group.command("show")
@click.option("-r", "--rev", help="A git revision (default: the workspace); cached outputs are read "
              "from the cache through its himo.lock.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@common
def metrics_show_cmd(rev: str | None, as_json: bool) -> None:
    """Values in the metrics files of himo.yaml (JSON, YAML or TOML), flattened to dotted keys."""
    from himo.api.metrics import metrics_show

    files = metrics_show(find_repo(), rev)
    if as_json:
        OUT.json(files)
        return
    why = "not in git nor in the cache at that revision" if rev else "run `himo repro` to make it"
    for path in (p for p, values in files.items() if values is None):
        click.echo(f"Warning: {path}: not found ({why})", err=True)
    rows = [[path, key, _fmt(value)]
            for path, values in files.items() for key, value in (values or {}).items()]
    if rows:
        click.echo(_table(["Path", "Metric", "Value"], rows))
    elif not files and not echo_dvc_hint(find_repo().root):
        OUT.echo("No metrics: declare metrics files under `metrics:` in himo.yaml (himo stage add -m FILE).")


@metrics_group.command("diff")
@diff_options
@common
def metrics_diff_cmd(a_rev: str, b_rev: str | None, show_all: bool, as_json: bool) -> None:
    """Metrics at A_REV (default HEAD) against B_REV (default the workspace), with the change.

    The metrics files are those declared in himo.yaml at either revision; a file missing at one of
    them shows `-` (JSON null). Only changed values, unless --all.
    """
    from himo.api.metrics import metrics_diff

    changes = metrics_diff(find_repo(), a_rev, b_rev, show_all)
    _print_diff(changes, as_json, "Metric", (a_rev, b_rev or "workspace"))
