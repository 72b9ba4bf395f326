"""Docs that cannot drift: every command, config key and file field is documented, the generated
CLI reference is current, links between the docs resolve, and the README opens with the two
commands that `.ci/run` relies on."""

from __future__ import annotations

import importlib.util
import json
import re
import statistics
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import click
import pytest

from himo import errors
from himo.api.demo import NEXT_STEPS
from himo.api.init import INNER_GITIGNORE
from himo.cli.main import cli
from himo.workspace.config import REMOTE_KEYS, SECTION_KEYS
from himo.workspace.pointer import FIELDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README_COMMANDS = [
    "python3 -m pip install '.[demo]' && python3 -m himo demo \"$(mktemp -d)/himo-demo\"",
    "bash scripts/test-setup.sh && python3 -m pytest -n 2",
]


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def walk(group: click.Command, ctx: click.Context) -> Iterator[str]:
    """The full name of every command below `group` (`himo remote add`...), found through click."""
    if not isinstance(group, click.Group):
        return
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"{ctx.command_path} lists {name!r} but cannot load it"
        sub_ctx = click.Context(command, info_name=name, parent=ctx, **command.context_settings)
        yield sub_ctx.command_path
        yield from walk(command, sub_ctx)


# With its context_settings, as click makes it: click caches the help option of the first context
# it sees, and the suite runs himo in this process too (`-h` must stay an option).
COMMAND_PATHS = list(walk(cli, click.Context(cli, info_name="himo", **cli.context_settings)))


def headings(markdown: str) -> list[str]:
    """Heading texts, with backticks and code fences' contents left out."""
    found, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6}\s+(.*)", line)):
            found.append(match.group(1).replace("`", "").strip())
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in headings(markdown):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.add(base if n == 0 else f"{base}-{n}")
    return result


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_reference", DOCS / "gen_cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- commands ------------------------------------------------------------------------------


def test_the_walk_finds_every_command_and_subcommand() -> None:
    assert {"himo add", "himo gc", "himo remote", "himo remote add", "himo config"} <= set(COMMAND_PATHS)


@pytest.mark.parametrize("path", COMMAND_PATHS)
def test_every_command_has_a_heading_in_commands_md(path: str) -> None:
    assert path in headings(read("docs/commands.md")), (
        f"`{path}` is not documented: add a `## {path}` section to docs/commands.md"
    )


def commands_index() -> str:
    """The list of links at the top of docs/commands.md, before its first section."""
    return read("docs/commands.md").split("\n## ", 1)[0]


@pytest.mark.parametrize("path", COMMAND_PATHS)
def test_every_command_is_in_the_index_of_commands_md(path: str) -> None:
    # A group counts as listed when it or one of its subcommands is (`himo params diff`).
    assert f"](#{slug(path)}" in commands_index(), (
        f"`{path}` is missing from the index at the top of docs/commands.md: add [`{path}`](#{slug(path)})"
    )


def demo_section() -> str:
    doc = read("docs/commands.md")
    return doc.split("\n## himo demo\n", 1)[1].split("\n## ", 1)[0]


def test_every_step_of_the_demo_is_described_in_commands_md() -> None:
    """The demo announces its steps as `== N. ...`; the guide must have an item for each."""
    steps = sorted({int(n) for n in re.findall(r"== (\d+)\. ", read("src/himo/api/demo.py"))})
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 8, steps
    described = [int(n) for n in re.findall(r"(?m)^(\d+)\. ", demo_section())]
    assert described == steps, f"docs/commands.md describes demo steps {described}, the demo has {steps}"


@pytest.mark.parametrize("command", [cmd for cmd, _ in NEXT_STEPS])
def test_every_command_the_demo_suggests_is_in_commands_md(command: str) -> None:
    assert f"`{command}`" in demo_section()


def test_cli_reference_is_generated_from_the_current_code() -> None:
    current = (DOCS / "cli-reference.md").read_text(encoding="utf-8")
    assert current == load_generator().render(), (
        "docs/cli-reference.md is out of date: run `python docs/gen_cli_reference.py`"
    )


@pytest.mark.parametrize("path", COMMAND_PATHS)
def test_every_command_is_in_the_cli_reference(path: str) -> None:
    assert path in headings((DOCS / "cli-reference.md").read_text(encoding="utf-8"))


# -- file formats --------------------------------------------------------------------------

CONFIG_KEYS = [f"{section}.{key}" for section, keys in SECTION_KEYS.items() for key in sorted(keys)]
CONFIG_KEYS += [f"remote.NAME.{key}" for key in sorted(REMOTE_KEYS)]


@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_every_config_key_is_documented_in_formats_md(key: str) -> None:
    assert f"`{key}`" in read("docs/formats.md"), f"config key `{key}` is missing from docs/formats.md"


@pytest.mark.parametrize("field", FIELDS)
def test_every_pointer_field_is_documented(field: str) -> None:
    assert f"| `{field}` |" in read("docs/formats.md"), f"pointer field {field!r} is not in the table"


def test_the_documented_himo_gitignore_is_the_one_init_writes() -> None:
    assert f"```gitignore\n{INNER_GITIGNORE}```" in read("docs/formats.md")


def _error_classes(base: type) -> Iterator[type]:
    for sub in base.__subclasses__():
        yield sub
        yield from _error_classes(sub)


ERRORS = [errors.HimoError, *_error_classes(errors.HimoError)]


@pytest.mark.parametrize("error", ERRORS, ids=[e.__name__ for e in ERRORS])
def test_every_error_class_is_in_the_architecture_doc(error: type) -> None:
    assert error.__module__ == errors.__name__, "one exception tree: define errors in himo.errors"
    assert error.__name__ in read("docs/architecture.md")


# -- links ---------------------------------------------------------------------------------

LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", ["README.md", *sorted(f"docs/{p.name}" for p in DOCS.glob("*.md"))])
def test_links_between_docs_resolve(page: str) -> None:
    source = ROOT / page
    broken = []
    for target in LINK.findall(read(page)):
        if re.match(r"[a-z]+:", target):
            continue  # http:, mailto: ...
        file, _, anchor = target.partition("#")
        linked = (source.parent / file).resolve() if file else source
        if not linked.exists() or (
            anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text("utf-8"))
        ):
            broken.append(target)
    assert not broken, f"{page}: broken links {broken}"


# -- README and CI -------------------------------------------------------------------------


def test_readme_opens_with_exactly_the_two_commands() -> None:
    lines = read("README.md").splitlines()
    first_code = next(i for i, line in enumerate(lines) if line.startswith("```"))
    assert all(not line or line.startswith("# ") for line in lines[:first_code]), (
        "nothing but the title may come before the two commands"
    )
    end = lines.index("```", first_code + 1)
    assert lines[first_code + 1 : end] == README_COMMANDS
    assert (ROOT / "examples" / "quickstart.sh").is_file()


def test_ci_runs_the_readme_test_command_and_nothing_else() -> None:
    script = ROOT / ".ci" / "run"
    assert script.stat().st_mode & 0o111, ".ci/run must be executable"
    commands = [
        line.strip()
        for line in script.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    setup = {"set -euo pipefail", 'cd "$(dirname "$0")/.."'}
    assert [c for c in commands if c not in setup] == [README_COMMANDS[1]]


def test_tests_install_and_start_nothing_the_setup_script_does() -> None:
    """Only scripts/test-setup.sh changes the machine (docs/testing.md); the README command runs it."""
    setup = ROOT / "scripts" / "test-setup.sh"
    assert setup.stat().st_mode & 0o111, "scripts/test-setup.sh must be executable"
    assert README_COMMANDS[1].startswith(f"bash {setup.relative_to(ROOT)} && ")
    machine_changes = ("apt-get", "pg_ctlcluster", "systemctl")
    found = [f"{path.relative_to(ROOT)}: {word}" for path in sorted((ROOT / "tests").rglob("*.py"))
             if path != Path(__file__).resolve()
             for word in machine_changes if word in path.read_text("utf-8")]
    assert found == []


# -- benchmarks ----------------------------------------------------------------------------

BENCHMARKS = ROOT / "benchmarks"
RESULT_KEYS = {"format", "bench", "date", "started_at", "machine", "versions", "load_average"}


def load_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_report", BENCHMARKS / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_tables_are_generated_from_the_latest_results() -> None:
    report = load_report()
    current = report.DOC.read_text(encoding="utf-8")
    assert current == report.render(current), (
        "docs/benchmarks.md is out of date: run `python benchmarks/report.py`"
    )


@pytest.mark.parametrize("path", sorted(p.name for p in (BENCHMARKS / "results").glob("*.json")))
def test_every_benchmark_result_records_machine_versions_load_and_samples(path: str) -> None:
    doc = json.loads((BENCHMARKS / "results" / path).read_text(encoding="utf-8"))
    assert set(doc) >= RESULT_KEYS, f"{path} lacks {sorted(RESULT_KEYS - set(doc))}"
    assert path == f"{doc['bench']}-{doc['date']}.json"
    assert {"cores", "ram_bytes", "cpu_model", "platform"} <= set(doc["machine"])
    assert {"python", "himo", "dvc"} <= set(doc["versions"])
    measures = [m for row in doc.get("results", []) for m in row.values()
                if isinstance(m, dict) and "samples" in m]
    measures += doc.get("rows", [])
    measured = [m for m in measures if m["samples"]]  # neither samples nor error: not run
    assert measured, f"{path} holds no sample"
    for m in measured:  # every sample is kept, not only the median
        assert m["error"] is not None or m["median"] == statistics.median(m["samples"])


def test_benchmarks_and_their_docs_name_no_path_of_one_machine() -> None:
    files = [*BENCHMARKS.glob("*.py"), *BENCHMARKS.glob("*.sh"), BENCHMARKS / "README.md",
             DOCS / "benchmarks.md"]
    found = [f"{f.relative_to(ROOT)}:{n}" for f in files
             for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"/work/|/root/|/home/", line)]
    assert not found, f"machine-specific paths: {found}"


def test_the_screenshot_script_still_imports() -> None:
    """docs/gen_screenshots.py reuses test helpers; a move of one broke it unnoticed once."""
    spec = importlib.util.spec_from_file_location("gen_screenshots", ROOT / "docs" / "gen_screenshots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.main)


# What `dvc --help` and each group's --help list, read from the real DVC's own parser.
DVC_COMMANDS = """
import argparse
from dvc.cli.parser import get_main_parser

def walk(parser, prefix):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for shown in action._choices_actions:  # what --help lists: hidden commands are not
                name = shown.dest.split(" ")[0]
                sub = action.choices[name]
                if not any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                    print(" ".join([*prefix, name]))
                walk(sub, [*prefix, name])

walk(get_main_parser(), ["dvc"])
"""


def migration_table() -> list[tuple[str, str]]:
    """(DVC cell, himo cell) of each row of the command table of migrating-from-dvc.md."""
    rows = [line.split("|")[1:3] for line in read("docs/migrating-from-dvc.md").splitlines()
            if line.startswith("| `dvc ")]
    return [(dvc.strip(), himo.strip()) for dvc, himo in rows]


def test_the_migration_guide_has_a_row_for_every_dvc_command() -> None:
    import subprocess

    from tests.dvc import VENV, dvc_binary

    dvc_binary()  # fails, naming the set-up script, without DVC
    listed = subprocess.run([str(VENV / "bin" / "python"), "-c", DVC_COMMANDS], capture_output=True,
                            text=True, check=True).stdout.split("\n")
    rows = [dvc.strip("`") for dvc, _ in migration_table()]
    assert len(rows) == len(set(rows)), "a DVC command has two rows"
    assert set(rows) == {c for c in listed if c}, "rows differ from what DVC lists"


@pytest.mark.parametrize("cell", sorted({cell for _, cell in migration_table()}))
def test_every_himo_command_the_migration_guide_names_exists(cell: str) -> None:
    for snippet in re.findall(r"`(himo [^`]*)`", cell):
        words, path = snippet.split()[1:], "himo"
        for word in words:
            if f"{path} {word}" not in COMMAND_PATHS:
                break
            path = f"{path} {word}"
        if words[0] in ("--version", "-V"):
            continue
        assert path != "himo", f"{snippet!r}: no such himo command"
        group = any(p.startswith(path + " ") for p in COMMAND_PATHS)
        assert not group, f"{snippet!r}: a group, not a command"
