"""Property-based fuzzing of everything himo parses from outside (issue 12).

For any input, each parser gives a valid value or a HimoError (never another exception), and no
path it returns leaves the repository. The parsers are called in-process (fast); the last test
runs the `himo` command on hostile pointers. Each property is two tests: a small budget (FAST)
in the quick subset and the rest under the `slow` marker (SLOW, `HIMO_FUZZ_EXAMPLES` for longer
hunts), so the whole suite tries FAST + SLOW examples of each, drawing new ones every session.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from himo.errors import HimoError
from himo.model.paths import is_safe_path
from himo.objects.manifest import load_manifest, manifest_digests
from himo.pipeline.loader import parse_stages
from himo.pipeline.lockfile import parse_lock
from himo.pipeline.params import parse_params_text
from himo.workspace import yamlload
from himo.workspace.pointer import parse_pointer
from tests.conftest import Himo

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=int(os.environ.get("HIMO_FUZZ_EXAMPLES") or 300), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
DIGEST = "9f" * 32

# -- strategies: hostile values that still look like what each file holds ------------------------

PART = st.sampled_from(["a", "b.txt", ".", "..", "", ".git", ".GIT", ".himo", "~", "x.himo", "a\nb",
                        "a\rb", "a\x00b", " ", "é", "*", "-", "null", "1", "/"])
PATHS = st.one_of(st.lists(PART, min_size=0, max_size=5).map("/".join), st.text(max_size=20))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), PATHS,
                    st.just(DIGEST), st.just(DIGEST.upper()), st.just(DIGEST + "\n"))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(PATHS, st.integers(), st.booleans()), inner,
                                                 max_size=4)), max_leaves=12)


def _yaml_texts(docs: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """A document written as YAML (block or flow style), or any text at all, or a mangled dump."""
    dumped = st.tuples(docs, st.booleans()).map(
        lambda pair: yaml.safe_dump(pair[0], default_flow_style=pair[1], allow_unicode=True))
    mangled = st.tuples(dumped, st.integers(0, 200), st.sampled_from(["", "&a ", "*a", "[", "- ", ":", "\t",
                                                                       "<<<<<<< x\n", "\x00", "{"]))
    return st.one_of(dumped, st.text(max_size=200),
                     mangled.map(lambda t: t[0][:t[1]] + t[2] + t[0][t[1]:]))


def _inside(root: Path, path: Path) -> bool:
    """`path` lies below `root`, its folders resolved (symlinks followed) but not itself."""
    real = Path(os.path.realpath(path.parent)) / path.name
    return real != root and real.is_relative_to(root) and ".." not in real.parts


def _parses(parse: Callable[[], Any]) -> Any:
    """parse()'s value, or None when it raised a HimoError: any other exception fails the test."""
    try:
        return parse()
    except HimoError as error:
        assert error.message and "\n" not in error.message, repr(error.message)
        return None


def _budgets(prop: Callable[..., None], **strategies: st.SearchStrategy[Any]) -> tuple[Any, Any]:
    """The same property as two tests: a small budget in the quick subset, the rest under `slow`."""
    return FAST(given(**strategies)(prop)), pytest.mark.slow(SLOW(given(**strategies)(prop)))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder standing for a repository (nothing in it is written by the parsers)."""
    folder = Path(os.path.realpath(tmp_path_factory.mktemp("fuzz") / "repo"))
    (folder / "sub").mkdir(parents=True)
    (folder / "outside").symlink_to(folder.parent)
    return folder


# -- pointers ---------------------------------------------------------------------------------------

POINTER_DOCS = st.fixed_dictionaries(
    {"path": PATHS, "hash": st.sampled_from(["blake3", "md5"]), "digest": st.sampled_from([DIGEST, "x"]),
     "size": st.integers(-1, 10)},
    optional={"nfiles": st.one_of(st.integers(-1, 3), st.booleans()), "owner": SCALARS})


def _pointer(root: Path, text: str, folder: str) -> None:
    file = root / folder / "data.himo" if folder else root / "data.himo"
    pointer = _parses(lambda: parse_pointer(text, file, root))
    if pointer is not None:
        assert _inside(root, pointer.target), pointer.target
        assert pointer.target.parent == file.parent or pointer.target.is_relative_to(file.parent)
        assert not pointer.target.name.endswith(".himo")
        assert ".git" not in [p.lower() for p in pointer.target.relative_to(root).parts]


test_pointer, test_pointer_long = _budgets(
    _pointer, text=_yaml_texts(st.one_of(POINTER_DOCS, VALUES)),
    folder=st.sampled_from(["", "sub", "outside"]))


# -- directory manifests ----------------------------------------------------------------------------

ENTRIES = st.lists(st.one_of(st.tuples(PATHS, st.sampled_from([DIGEST, "0" * 64, "x"]), st.integers(-1, 9)),
                             VALUES), max_size=6)
MANIFESTS = st.one_of(
    st.builds(lambda files, version, algo: json.dumps({"himo-manifest": version, "hash": algo,
                                                       "files": files}),
              ENTRIES, st.sampled_from([1, 2, True, "1"]), st.sampled_from(["blake3", "md5"])),
    st.builds(json.dumps, VALUES), st.text(max_size=100),
).map(lambda text: text.encode("utf-8", "surrogatepass"))


def _manifest(root: Path, data: bytes) -> None:
    entries = _parses(lambda: load_manifest(data, DIGEST))
    digests = _parses(lambda: manifest_digests(data, DIGEST))
    assert (entries is None) == (digests is None)
    if entries is not None:
        base = root / "sub" / "tracked"
        paths = [e.path for e in entries]
        assert len(set(paths)) == len(paths)
        assert digests == {e.path: e.digest for e in entries}
        for path in paths:
            assert is_safe_path(path) and posixpath.normpath(path) == path
            assert (base / path).resolve().is_relative_to(base.resolve())
            assert not any(p.startswith(path + "/") for p in paths)


test_manifest, test_manifest_long = _budgets(_manifest, data=st.one_of(MANIFESTS, st.binary(max_size=100)))


# -- himo.yaml --------------------------------------------------------------------------------------

STAGE_BODIES = st.fixed_dictionaries(
    {"cmd": st.one_of(PATHS, st.lists(PATHS, max_size=2), SCALARS)},
    optional={"deps": st.lists(PATHS, max_size=3), "outs": st.lists(st.one_of(PATHS, VALUES), max_size=3),
              "wdir": PATHS, "params": st.lists(st.one_of(PATHS, VALUES), max_size=2),
              "foreach": st.one_of(st.lists(SCALARS, max_size=3), VALUES), "do": VALUES,
              "matrix": VALUES, "frozen": SCALARS, "metrics": st.lists(VALUES, max_size=2)})
PIPELINES = st.fixed_dictionaries(
    {"stages": st.dictionaries(st.one_of(PATHS, st.integers()), st.one_of(STAGE_BODIES, VALUES), max_size=3)},
    optional={"vars": st.one_of(st.lists(st.one_of(PATHS, VALUES), max_size=2), VALUES)})


def _pipeline(root: Path, text: str) -> None:
    stages = _parses(lambda: parse_stages(root, text))
    for stage in stages or []:
        paths = [stage.wdir, *stage.deps, *(o.path for o in stage.outs), *(p.file for p in stage.params)]
        for path in paths:
            assert posixpath.normpath(path) == path and not path.startswith(("/", "../")) and path != ".."
            assert not set(path) & {"\n", "\r", "\x00"}
        for out in stage.outs:
            assert out.path != "." and out.path.split("/")[0] not in (".git", ".himo")


test_pipeline, test_pipeline_long = _budgets(_pipeline, text=_yaml_texts(st.one_of(PIPELINES, VALUES)))


# -- himo.lock --------------------------------------------------------------------------------------

DEPS = st.fixed_dictionaries({"path": PATHS}, optional={
    "digest": st.sampled_from([DIGEST, None, "x", 5]), "size": SCALARS, "nfiles": SCALARS})
LOCKS = st.fixed_dictionaries({"stages": st.dictionaries(PATHS, st.one_of(st.fixed_dictionaries(
    {"cmd": st.one_of(st.lists(PATHS, max_size=2), SCALARS)},
    optional={"deps": st.lists(st.one_of(DEPS, VALUES), max_size=2), "outs": st.lists(DEPS, max_size=2),
              "params": st.dictionaries(PATHS, VALUES, max_size=2)}), VALUES), max_size=2)},
    optional={"schema": st.sampled_from(["1", 1, "2", None])})


def _lock(text: str) -> None:
    entries = _parses(lambda: parse_lock(text))
    for entry in (entries or {}).values():
        for dep in (*entry.deps, *entry.outs):
            assert dep.path == "." or (posixpath.normpath(dep.path) == dep.path
                                       and not dep.path.startswith(("/", "../")) and dep.path != "..")
            assert dep.size >= 0


test_lock, test_lock_long = _budgets(_lock, text=st.one_of(_yaml_texts(st.one_of(LOCKS, VALUES))))


# -- params files -----------------------------------------------------------------------------------

def _params(text: str, name: str) -> None:
    data = _parses(lambda: parse_params_text(text, name))
    if data is not None:
        assert isinstance(data, dict)
        json.dumps(data, sort_keys=True, default=str)  # the run-cache key: sortable everywhere


test_params, test_params_long = _budgets(
    _params, text=st.one_of(_yaml_texts(VALUES), st.builds(lambda v: json.dumps(v, default=str), VALUES)),
    name=st.sampled_from(["params.yaml", "params.json", "params.toml"]))


# -- the YAML loader's own guard --------------------------------------------------------------------

def _depth_bound(doc: Any, flow: bool, compact: bool) -> None:
    """The text-only bound that picks libyaml's composer must never be below the real nesting."""
    text = yaml.safe_dump(doc, default_flow_style=flow, indent=2 if compact else 4)
    assert yamlload._depth_bound(text) >= _depth(yaml.compose(text, Loader=yaml.SafeLoader))
    assert repr(yamlload.load(text)) == repr(yaml.safe_load(text))  # repr: nan is not nan


def _depth(node: yaml.Node) -> int:
    if isinstance(node, yaml.ScalarNode):
        return 1
    children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
    return 1 + max(map(_depth, children), default=0)


test_depth_bound, test_depth_bound_long = _budgets(
    _depth_bound, doc=VALUES, flow=st.booleans(), compact=st.booleans())


# -- the real command on hostile pointers -----------------------------------------------------------

@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.lists(PART, min_size=1, max_size=3).map("/".join), folder=st.sampled_from(["", "sub"]))
def test_checkout_of_hostile_pointers(
    tmp_path_factory: pytest.TempPathFactory, path: str, folder: str
) -> None:
    """`himo checkout -f` of any pointer: exit 0 or 1 (never an internal error), the repository's
    .git and .himo intact, nothing outside it touched. In-process (the same exit code and output
    as the command): the process boundary is not the point here."""
    base = tmp_path_factory.mktemp("cli")
    template = _template(tmp_path_factory)
    repo = Path(shutil.copytree(template, base / "repo", symlinks=True))
    write_to = repo / folder / "evil.himo"
    write_to.parent.mkdir(exist_ok=True)
    write_to.write_text(yaml.safe_dump({"path": path, "hash": "blake3", "digest": _HELLO, "size": 6}))
    before = _listing(base)
    proc = Himo(repo)("checkout", "-f", str(write_to.relative_to(repo)), ok=False)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    after = _listing(base)
    assert {k: v for k, v in after.items() if not k.startswith("repo/")} == \
        {k: v for k, v in before.items() if not k.startswith("repo/")}
    for kept in ("repo/.git/HEAD", "repo/.himo/config", "repo/a.txt.himo", "repo/sub/keep.txt"):
        assert kept in after, (path, proc.stderr)


_HELLO = "8e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99"  # blake3 of b"hello\n"
_TEMPLATES: dict[str, Path] = {}


def _template(factory: pytest.TempPathFactory) -> Path:
    """One repository with a.txt ("hello\\n") added, copied for each example."""
    if "repo" not in _TEMPLATES:
        repo = factory.mktemp("template") / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
        (repo / "a.txt").write_text("hello\n")
        (repo / "sub").mkdir()
        (repo / "sub" / "keep.txt").write_text("keep\n")
        for args in (["init"], ["add", "a.txt"]):
            Himo(repo)(*args)
        _TEMPLATES["repo"] = repo
    return _TEMPLATES["repo"]


def _listing(base: Path) -> dict[str, int | None]:
    """Every path below `base` with its size; None for a folder, whose size is the filesystem's
    bookkeeping (ext4: whole blocks; tmpfs, where the suite runs: grows with each entry)."""
    return {p.relative_to(base).as_posix(): None if stat.S_ISDIR(st.st_mode) else st.st_size
            for p in base.rglob("*") for st in [p.lstat()]}
