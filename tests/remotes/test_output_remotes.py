"""A stage output's own remote (`remote:` on an out in himo.yaml, as DVC has it): push, fetch,
pull and gc --cloud use it for that output, the default remote for the rest. Two folder remotes
and one S3 remote (moto)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.api.helpers import assert_error
from tests.conftest import Himo, write
from tests.remotes.helpers import FolderStore, S3Store, digest_of

PIPELINE = """\
stages:
  make:
    cmd: python3 make.py
    deps: [make.py]
    outs:
      - a.txt
      - b.txt:
          remote: side
      - c:
          remote: cloud
"""
MAKE = """\
import os, sys
os.makedirs("c", exist_ok=True)
open("a.txt", "w").write("A\\n")
open("b.txt", "w").write(sys.argv[1] if len(sys.argv) > 1 else "B\\n")
open("c/x.txt", "w").write("C\\n")
"""


@pytest.fixture
def stores(repo: Path, himo: Himo, tmp_path: Path, s3_server: str, s3_bucket: str) -> dict[str, object]:
    """main (the default, a folder), side (a folder) and cloud (S3), and a pipeline routing
    b.txt to side and c/ to cloud; run, with data.txt added."""
    main, side = FolderStore(tmp_path / "main"), FolderStore(tmp_path / "side")
    cloud = S3Store(s3_server, s3_bucket)
    for name, store in (("main", main), ("side", side), ("cloud", cloud)):
        store.name = name
        store.configure(himo, default=name == "main")
    write(repo / "make.py", MAKE)
    write(repo / "himo.yaml", PIPELINE)
    write(repo / "data.txt", "D\n")
    himo("add", "data.txt")
    himo("repro")
    return {"main": main, "side": side, "cloud": cloud}


def test_push_fetch_pull_use_each_outputs_remote(repo: Path, himo: Himo, stores: dict) -> None:
    main, side, cloud = stores["main"], stores["side"], stores["cloud"]
    out = himo("push").stdout
    assert out.startswith("Pushed") and "main" in out and "side" in out and "cloud" in out
    a, b, c, d = (digest_of(x) for x in (b"A\n", b"B\n", b"C\n", b"D\n"))
    assert {a, d} <= main.objects() and not {b, c} & main.objects()
    assert side.objects() == {b}
    assert c in cloud.objects() and len(cloud.objects()) == 2  # c/x.txt and c's manifest
    cloud.verify()

    shutil.rmtree(repo / ".himo" / "cache")
    for path in ("a.txt", "b.txt", "data.txt"):
        (repo / path).unlink()
    shutil.rmtree(repo / "c")
    himo("fetch", "b.txt")
    assert sorted(p.name for p in (repo / ".himo" / "cache").rglob("*") if p.is_file()
                  and len(p.parent.name) == 2) == [b[2:]]
    himo("pull")
    assert (repo / "b.txt").read_text() == "B\n" and (repo / "c" / "x.txt").read_text() == "C\n"
    assert (repo / "a.txt").read_text() == "A\n" and (repo / "data.txt").read_text() == "D\n"
    assert himo("status").stdout == "Everything is up to date.\n"


def test_an_outputs_remote_wins_over_dash_r(repo: Path, himo: Himo, stores: dict) -> None:
    """As in DVC: `-r NAME` replaces the default remote, not an output's own."""
    himo("push", "-r", "side")
    assert digest_of(b"A\n") in stores["side"].objects()
    assert digest_of(b"C\n") in stores["cloud"].objects() and not stores["main"].objects()


def test_gc_cloud_cleans_every_outputs_remote(repo: Path, himo: Himo, stores: dict) -> None:
    main, side, cloud = stores["main"], stores["side"], stores["cloud"]
    himo("push")
    write(repo / "himo.yaml", PIPELINE.replace("python3 make.py", "python3 make.py B2"))
    himo("repro")
    himo("push")
    stray = b"nobody's\n"
    cloud.write(digest_of(stray), stray)
    assert side.objects() == {digest_of(b"B\n"), digest_of(b"B2")}
    before = main.objects()
    himo("gc", "-w", "-c", "-f")
    assert side.objects() == {digest_of(b"B2")}  # the old b.txt went
    assert digest_of(stray) not in cloud.objects() and digest_of(b"C\n") in cloud.objects()
    assert main.objects() == before


def test_a_broken_himo_yaml_stops_only_the_stage_outputs(repo: Path, himo: Himo, stores: dict) -> None:
    """himo.yaml says where stage outputs go (and whether they are data at all), never where a
    PATH.himo file goes: with it broken, push, fetch, pull and checkout move the tracked files,
    then fail naming its line and the way to finish; naming only tracked files, they succeed."""
    main, side = stores["main"], stores["side"]
    write(repo / "himo.yaml", PIPELINE + "  broken: [\n")
    broken = "himo.yaml:12: invalid YAML: did not find expected node content"
    push = himo("push", ok=False)
    assert_error(push, f"{broken}; stage outputs were not pushed (tracked files were)")
    assert "Hint: fix the syntax of himo.yaml, then run `himo push` again for the stage outputs" \
        in push.stderr
    assert main.objects() == {digest_of(b"D\n")} and not side.objects()
    assert himo("push", "data.txt").returncode == 0

    write(repo / "himo.yaml", PIPELINE)
    himo("push")
    write(repo / "himo.yaml", PIPELINE + "  broken: [\n")
    shutil.rmtree(repo / ".himo" / "cache")
    for path in ("a.txt", "b.txt", "data.txt"):
        (repo / path).unlink()
    assert_error(himo("fetch", ok=False), f"{broken}; stage outputs were not fetched (tracked files were)")
    assert_error(himo("pull", ok=False), f"{broken}; stage outputs were not pulled (tracked files were)")
    assert (repo / "data.txt").read_text() == "D\n" and not (repo / "a.txt").exists()
    (repo / "data.txt").unlink()
    assert_error(himo("checkout", ok=False),
                 f"{broken}; stage outputs were not checked out (tracked files were)")
    assert (repo / "data.txt").read_text() == "D\n"
    assert_error(himo("pull", "a.txt", ok=False), broken)  # an output, maybe: himo.yaml must say
    assert himo("pull", "data.txt.himo").returncode == 0

    write(repo / "himo.yaml", PIPELINE)
    himo("pull")
    assert (repo / "b.txt").read_text() == "B\n" and (repo / "c" / "x.txt").read_text() == "C\n"
    assert himo("status").stdout == "Everything is up to date.\n"
