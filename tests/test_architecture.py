"""The architecture as a contract: the layers of src/himo/ (.importlinter, checked by import-linter)
and the start-up promise that `himo --version` and `himo --help` load no heavy module.
Why the rules exist: docs/architecture.md."""

from __future__ import annotations

import configparser
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "himo"
CONFIG = ROOT / ".importlinter"
# Modules in no layer: every layer may import them, and they import nothing of himo.
LEAF_CONTRACT = "importlinter:contract:leaves"
HEAVY = ["rich", "pathspec", "fsspec", "s3fs", "yaml", "blake3", "pydantic", "sqlite3", "himo.api"]


def contracts() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    return parser


def listed(section: str, key: str) -> set[str]:
    value = contracts()[section][key]
    return {name.strip() for line in value.splitlines() for name in line.split("|") if name.strip()}


def test_import_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports"
    )
    if lint is None:
        pytest.fail("import-linter is not installed: run `bash scripts/test-setup.sh` (it is a test extra)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    # No config argument: lint-imports finds .importlinter in the working directory (every version).
    proc = subprocess.run([lint, "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_top_level_module_is_placed_in_the_contract() -> None:
    placed = listed("importlinter:contract:layers", "layers") | listed(LEAF_CONTRACT, "source_modules")
    found = {f"himo.{p.name}" for p in PACKAGE.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    found |= {f"himo.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert not found - placed, f"add {sorted(found - placed)} to a layer (or the leaves) in .importlinter"


def test_every_package_is_a_regular_package() -> None:
    """import-linter does not see folders without __init__.py: their imports would go unchecked."""
    missing = [
        str(folder.relative_to(ROOT))
        for folder in [PACKAGE, *PACKAGE.rglob("*")]
        if folder.is_dir() and any(folder.glob("*.py")) and not (folder / "__init__.py").exists()
    ]
    assert not missing, f"add an __init__.py to {missing}"


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_start_up_loads_no_heavy_module(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from himo.cli.main import run\n"
        f"code = run({args!r})\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]", f"himo {args[0]} imported {proc.stdout.splitlines()[-1]}"


def test_the_import_table_of_architecture_md_is_generated_from_the_current_code() -> None:
    spec = importlib.util.spec_from_file_location("gen_architecture", ROOT / "docs" / "gen_architecture.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    current = generator.DOC.read_text(encoding="utf-8")
    assert current == generator.render(current), (
        "the import table of docs/architecture.md is out of date: run `python docs/gen_architecture.py`"
    )
