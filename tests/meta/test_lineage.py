"""`himo lineage`: the walk on SQLite and PostgreSQL, target resolution, formats, and a real
4-stage pipeline run twice (a param change between) then asked what produced what."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from himo.api.history import lineage
from himo.errors import MetaError, PathError
from himo.meta import queries
from himo.meta.statements import on
from himo.workspace.repo import Repo
from tests.conftest import Himo, git, write
from tests.meta.test_queries import T0, History, Step, ref

RAW, TEST = ref("data/raw.csv", "a1" * 32, "dataset"), ref("data/test.csv", "a2" * 32, "dataset")
PREPARED = ref("data/prepared.csv", "b1" * 32, "dataset")
FEATURES = ref("data/features.csv", "d1" * 32, "features")
MODEL1, MODEL2 = ref("model.pkl", "e1" * 32, "model"), ref("model.pkl", "e2" * 32, "model")
PREDICTIONS = ref("data/predictions.csv", "f1" * 32, "predictions")
CODE = {name: ref(f"{name}.py", c * 32, "code") for name, c in
        (("featurize", "c1"), ("train", "c2"), ("predict", "c3"))}


def story(history: History) -> dict[str, Any]:
    """add raw; run 1: prepare, featurize, train (lr 0.1), predict; run 2: featurize restored
    from the run-cache, train with lr 0.2; run 3: a featurize that failed (claiming the output)."""
    ids: dict[str, Any] = {"add": history.run(T0, [Step("add", outputs=[RAW])], command="add")}
    ids["one"] = history.run(T0 + timedelta(hours=1), [
        Step("prepare", inputs=[RAW], outputs=[PREPARED]),
        Step("featurize", inputs=[PREPARED, CODE["featurize"]], outputs=[FEATURES]),
        Step("train", {"params.yaml": {"train.lr": 0.1}}, [FEATURES, CODE["train"]], [MODEL1]),
        Step("predict", inputs=[MODEL1, FEATURES, TEST, CODE["predict"]], outputs=[PREDICTIONS]),
    ], commit="1" * 40)
    ids["two"] = history.run(T0 + timedelta(hours=2), [
        Step("featurize", inputs=[PREPARED, CODE["featurize"]], outputs=[FEATURES], status="cached"),
        Step("train", {"params.yaml": {"train.lr": 0.2}}, [FEATURES, CODE["train"]], [MODEL2]),
    ], commit="2" * 40)
    ids["three"] = history.run(T0 + timedelta(hours=3), [
        Step("featurize", inputs=[PREPARED, CODE["featurize"]], outputs=[FEATURES], status="failed")])
    return ids


@pytest.fixture
def walked(meta_url: str, tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    history = History(tmp_path / "journal")
    ids = story(history)
    return history.deliver(meta_url), ids


def test_upstream_answers_which_data_model_and_code_made_the_predictions(walked) -> None:
    db, ids = walked
    with db.session() as s:
        graph = queries.lineage(on(s), PREDICTIONS["digest"], downstream=False)
    assert graph is not None
    stages = {e.stage: e for e in graph.executions.values()}
    assert sorted(stages) == ["add", "featurize", "predict", "prepare", "train"]
    predict = stages["predict"]
    inputs = {graph.artifacts[e.artifact].kind: e.path for e in graph.edges
              if e.execution == predict.id and e.direction == "INPUT"}
    assert inputs == {"model": "model.pkl", "features": "data/features.csv", "dataset": "data/test.csv",
                      "code": "predict.py"}
    assert (predict.git_commit, stages["train"].params) == ("1" * 40, {"train.lr": 0.1})
    # features were written three times: computed by run one, restored by run two, claimed by a failure
    assert (stages["featurize"].status, stages["featurize"].run_id) == ("succeeded", ids["one"][0])
    restore = graph.restored[FEATURES["digest"]]
    assert (restore.count, restore.run_id, restore.execution) == (1, ids["two"][0], ids["two"][1][0])
    assert restore.at == T0 + timedelta(hours=2) and list(graph.restored) == [FEATURES["digest"]]
    assert graph.artifacts[RAW["digest"]].paths == ["data/raw.csv"] and graph.omitted == {}


def test_the_producer_is_the_execution_that_computed_it_not_a_restore(meta_url: str, tmp_path: Path) -> None:
    """Computed, restored twice, computed again (--force), restored again: the latest computation is
    the producer; restores are counted. Restores alone: the earliest one, the others counted."""
    history = History(tmp_path / "journal")
    made = lambda status: [Step("train", inputs=[FEATURES], outputs=[MODEL1], status=status)]  # noqa: E731
    ids = [history.run(T0 + timedelta(hours=h), made(status)) for h, status in
           enumerate(["succeeded", "cached", "cached", "succeeded", "cached"])]
    only_restored = [history.run(T0 + timedelta(hours=10 + h), [Step("train", inputs=[FEATURES],
                                                                     outputs=[MODEL2], status="cached")])
                     for h in range(3)]
    with history.deliver(meta_url).session() as s:
        graph = queries.lineage(on(s), MODEL1["digest"], downstream=False, depth=1)
        fallback = queries.lineage(on(s), MODEL2["digest"], downstream=False, depth=1)
    (producer,) = graph.executions.values()
    assert (producer.id, producer.status) == (ids[3][1][0], "succeeded")
    restore = graph.restored[MODEL1["digest"]]
    assert (restore.count, restore.execution, restore.at) == (3, ids[4][1][0], T0 + timedelta(hours=4))
    (producer,) = fallback.executions.values()
    assert (producer.id, producer.status) == (only_restored[0][1][0], "cached")
    restore = fallback.restored[MODEL2["digest"]]
    assert (restore.count, restore.execution) == (2, only_restored[2][1][0])


def test_the_producer_walk_stays_on_the_indexes() -> None:
    """SQLite's plan for the producer query: the event index and the execution's primary key, no scan."""
    import sqlalchemy as sa

    from himo.meta import statements
    from himo.meta.schema import Base

    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    query = statements.built("producers").params(ids=[1, 2, 3])
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    assert any("USING INDEX ix_event_artifact" in step for step in plan), plan
    assert any(re.search(r"SEARCH execution USING INDEX sqlite_autoindex_execution_1 \(id=\?\)", step)
               for step in plan), plan
    assert not any(re.match(r"SCAN (event|execution)\b", step) for step in plan), plan


def test_depth_counts_executions(walked) -> None:
    db, _ = walked
    with db.session() as s:
        one = queries.lineage(on(s), PREDICTIONS["digest"], downstream=False, depth=1)
        two = queries.lineage(on(s), PREDICTIONS["digest"], downstream=False, depth=2)
    assert [e.stage for e in one.executions.values()] == ["predict"]
    assert len(one.artifacts) == 5  # the predictions and the four inputs
    assert sorted(e.stage for e in two.executions.values()) == ["featurize", "predict", "train"]


def test_downstream_answers_what_was_built_from_the_data(walked) -> None:
    db, ids = walked
    with db.session() as s:
        graph = queries.lineage(on(s), FEATURES["digest"], upstream=False)
    built = {graph.artifacts[e.artifact].digest for e in graph.edges if e.direction == "OUTPUT"}
    assert built == {MODEL1["digest"], MODEL2["digest"], PREDICTIONS["digest"]}
    readers = [e for e in graph.edges if e.artifact == FEATURES["digest"] and e.direction == "INPUT"]
    assert len(readers) == 3 and graph.executions[readers[0].execution].run_id == ids["two"][0]


def test_downstream_fan_out_is_capped_newest_first(meta_url: str, tmp_path: Path) -> None:
    history = History(tmp_path / "journal")
    made = [history.run(T0 + timedelta(minutes=i), [Step(f"explore{i}", inputs=[RAW])])[1][0]
            for i in range(30)]
    with history.deliver(meta_url).session() as s:
        graph = queries.lineage(on(s), RAW["digest"], upstream=False, fan_out=5)
    assert graph.omitted == {RAW["digest"]: 25}
    assert set(graph.executions) == set(made[-5:])


def test_a_long_chain_is_walked_hop_by_hop(meta_url: str, tmp_path: Path) -> None:
    history = History(tmp_path / "journal")
    chain = [ref(f"step{i}.bin", f"{i:02x}" * 32, "other") for i in range(13)]
    for i in range(12):
        history.run(T0 + timedelta(minutes=i), [Step(f"s{i}", inputs=[chain[i]], outputs=[chain[i + 1]])])
    with history.deliver(meta_url).session() as s:
        full = queries.lineage(on(s), chain[-1]["digest"])
        ten = queries.lineage(on(s), chain[-1]["digest"], depth=10)
        middle = queries.lineage(on(s), chain[6]["digest"], depth=2)
        assert queries.lineage(on(s), "9" * 64) is None
    assert len(full.executions) == 12 and len(full.artifacts) == 13
    assert len(ten.executions) == 10 and chain[2]["digest"] in ten.artifacts
    assert sorted(e.stage for e in middle.executions.values()) == ["s4", "s5", "s6", "s7"]


# -- targets, formats and errors, on a real repository -------------------------------------

STAGES = {
    "prepare": ("python prepare.py", ["data/raw.csv", "prepare.py"], ["prepare.split"], "data/prepared.csv"),
    "featurize": ("python featurize.py", ["data/prepared.csv", "featurize.py"], [], "data/features.csv"),
    "train": ("python train.py", ["data/features.csv", "train.py"], ["train.lr"], "model.pkl"),
    "predict": ("python predict.py", ["model.pkl", "data/features.csv", "predict.py"], [],
                "data/predictions.csv"),
}
SCRIPTS = {
    "prepare.py": "rows = open('data/raw.csv').read().splitlines()\n"
                  "open('data/prepared.csv', 'w').write('\\n'.join(r + ',p' for r in rows))\n",
    "featurize.py": "text = open('data/prepared.csv').read()\n"
                    "open('data/features.csv', 'w').write(text.replace(',p', ',f'))\n",
    "train.py": "import yaml\nlr = yaml.safe_load(open('params.yaml'))['train']['lr']\n"
                "print('training with lr', lr)\nopen('model.pkl', 'w').write(f'model lr={lr}')\n",
    "predict.py": "model = open('model.pkl').read()\n"
                  "open('data/predictions.csv', 'w').write(model + open('data/features.csv').read()[:20])\n",
}


@pytest.fixture(scope="module")
def pipeline_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real project: `himo add` the data, 4 stages, commit, `himo repro`, commit, change train.lr,
    `himo repro` again (train and predict run again), left uncommitted. SQLite store."""
    root = tmp_path_factory.mktemp("project")
    git(root, "init", "-q", "-b", "main")
    himo = Himo(root)
    himo("init")
    write(root / "data" / "raw.csv", "".join(f"{i},{i * i}\n" for i in range(50)))
    write(root / "params.yaml", "prepare:\n  split: 0.2\ntrain:\n  lr: 0.1\n")
    for name, text in SCRIPTS.items():
        write(root / name, text)
    himo("add", "data/raw.csv")
    for name, (cmd, deps, params, out) in STAGES.items():
        himo("stage", "add", "-n", name, *[a for d in deps for a in ("-d", d)],
             *[a for p in params for a in ("-p", p)], "-o", out, cmd)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "pipeline")
    himo("repro")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first model")
    write(root / "params.yaml", "prepare:\n  split: 0.2\ntrain:\n  lr: 0.2\n")
    himo("repro")
    return root


def digest_of(root: Path, out: str) -> str:
    lock = yaml.safe_load((root / "himo.lock").read_text())
    return next(o["digest"] for s in lock["stages"].values() for o in s["outs"] if o["path"] == out)


def test_pipeline_runs_are_listed_with_the_param_change(pipeline_repo: Path) -> None:
    out = Himo(pipeline_repo)("runs").stdout
    assert re.search(r"  train\s+succeeded\s+\S+  params: train\.lr 0\.1->0\.2", out)
    assert re.search(r"  train\s+succeeded\s+\S+  params: \+train\.lr=0\.1", out)
    runs = json.loads(Himo(pipeline_repo)("runs", "--stage", "predict", "--json").stdout)
    assert [[e["stage"] for e in r["executions"]] for r in runs] == [["predict"], ["predict"]]


def test_lineage_of_a_model_says_which_data_and_code_made_it(pipeline_repo: Path) -> None:
    out = Himo(pipeline_repo)("lineage", "model.pkl", "--upstream").stdout
    lines = out.splitlines()
    assert re.match(r"model model\.pkl [0-9a-f]{12} was made by stage 'train' \(succeeded .*, "
                    r"git [0-9a-f]{8} \(main, dirty\), run [0-9a-f]{8}\)$", lines[0])
    assert lines[1] == "  from features data/features.csv, code train.py"
    assert "    params: train.lr=0.2" in lines
    assert any(re.search(r"made by stage 'featurize'.*git [0-9a-f]{8} \(main\)", line) for line in lines)
    assert any(re.search(r"[├└]── dataset data/raw\.csv [0-9a-f]{12}$", line) for line in lines)


def test_lineage_of_predictions_names_the_model(pipeline_repo: Path) -> None:
    out = Himo(pipeline_repo)("lineage", "data/predictions.csv", "--upstream", "--depth", "1").stdout
    assert out.splitlines()[1] == "  from model model.pkl, features data/features.csv, code predict.py"
    assert "made by stage 'train'" not in out  # --depth 1: only the predicting execution


def test_lineage_at_a_revision_is_the_older_model(pipeline_repo: Path) -> None:
    himo = Himo(pipeline_repo)
    old = himo("lineage", "model.pkl@HEAD", "--upstream", "--depth", "1").stdout
    assert old.startswith("model model.pkl ") and " at HEAD was made by stage 'train'" in old.splitlines()[0]
    assert "params: train.lr=0.1" in old
    doc = json.loads(himo("lineage", "model.pkl@HEAD", "--json").stdout)
    assert doc["revision"] == "HEAD" and doc["path"] == "model.pkl"
    assert doc["digest"] != digest_of(pipeline_repo, "model.pkl")


def test_downstream_of_the_data_lists_what_was_built(pipeline_repo: Path) -> None:
    out = Himo(pipeline_repo)("lineage", "data/raw.csv", "--downstream").stdout
    first = out.splitlines()[0]
    assert first.startswith("Built from dataset data/raw.csv ")
    assert re.search(r"model model\.pkl \([0-9a-f]{12}, [0-9a-f]{12}\)", first)  # two versions
    assert "predictions data/predictions.csv" in first and "read by stage 'prepare'" in out


def test_lineage_formats(pipeline_repo: Path) -> None:
    himo = Himo(pipeline_repo)
    model = digest_of(pipeline_repo, "model.pkl")
    doc = json.loads(himo("lineage", model[:10], "--upstream", "--json").stdout)
    assert doc["digest"] == model and doc["graph"]["root"] == model
    assert {e["stage"] for e in doc["graph"]["executions"].values()} >= {"train", "featurize", "prepare"}
    assert doc["graph"]["artifacts"][model]["kind"] == "model"
    dot = himo("lineage", "model.pkl", "--dot").stdout
    assert dot.startswith("digraph lineage {\n  rankdir=LR;") and dot.rstrip().endswith("}")
    assert f'"a:{model}" [shape=box, penwidth=2, label="model\\nmodel.pkl\\n{model[:12]}"];' in dot
    mermaid = himo("lineage", "model.pkl", "--mermaid").stdout
    assert mermaid.startswith("flowchart LR\n  a0[\"model<br/>model.pkl<br/>") and " --> " in mermaid
    if subprocess.run(["which", "dot"], capture_output=True).returncode == 0:  # Graphviz parses it
        subprocess.run(["dot", "-Tsvg"], input=dot, text=True, check=True, capture_output=True)


def test_a_code_file_is_found_by_its_content(pipeline_repo: Path) -> None:
    himo = Himo(pipeline_repo)
    out = himo("lineage", "train.py", "--downstream").stdout
    first = out.splitlines()[0]
    assert first.startswith("Built from code train.py ")
    assert re.search(r"model model\.pkl \([0-9a-f]{12}, [0-9a-f]{12}\)", first)  # both trainings read it
    doc = json.loads(himo("lineage", "train.py", "--json").stdout)
    lock = yaml.safe_load((pipeline_repo / "himo.lock").read_text())
    read = next(d["digest"] for d in lock["stages"]["train"]["deps"] if d["path"] == "train.py")
    assert (doc["path"], doc["digest"], doc["graph"]["artifacts"][read]["kind"]) == ("train.py", read, "code")
    write(pipeline_repo / "notes.py", "print('never read by a stage')\n")
    try:
        bad = himo("lineage", "notes.py", ok=False)
    finally:
        (pipeline_repo / "notes.py").unlink()
    assert bad.returncode == 1
    assert re.fullmatch(r"Error: notes\.py: not tracked, and no recorded execution read its current content "
                        r"\(digest [0-9a-f]{12}\)", bad.stderr.splitlines()[0])
    assert bad.stderr.splitlines()[1].startswith("Hint: lineage knows an untracked file (code, config) by")


def test_lineage_errors(pipeline_repo: Path) -> None:
    himo = Himo(pipeline_repo)
    bad = himo("lineage", "nothing.py", ok=False)
    assert (bad.returncode, bad.stderr.splitlines()[0]) == (
        1, "Error: nothing.py: not tracked (no nothing.py.himo and no output nothing.py in himo.lock)")
    bad = himo("lineage", "model.pkl@HEAD~1", ok=False)  # before the first repro: no himo.lock yet
    assert bad.stderr.splitlines() == [
        "Error: model.pkl@HEAD~1: model.pkl is not tracked at HEAD~1 (no model.pkl.himo and no output "
        "model.pkl in its himo.lock)",
        "Hint: name a revision where it was: `git log -- himo.lock` (the stage output model.pkl is "
        "recorded there)"]
    for args, given in ((["--upstream", "--downstream"], "--upstream and --downstream"),
                        (["--json", "--dot"], "--json and --dot"),
                        (["--dot", "--mermaid", "--json"], "--json and --dot and --mermaid")):
        bad = himo("lineage", "model.pkl", *args, ok=False)
        assert (bad.returncode, bad.stderr.splitlines()[0]) == (2, f"Error: {given} exclude each other")
        assert "Traceback" not in bad.stderr
    bad = himo("runs", "--since", "2024-05-02", "--until", "2024-05-01", ok=False)
    assert (bad.returncode, bad.stderr.splitlines()[0]) == (
        2, "Error: --since 2024-05-02 is after --until 2024-05-01: no run can match")
    bad = himo("lineage", "0000000000ab", ok=False)
    assert bad.stderr.splitlines()[0] == ("Error: 0000000000ab: no tracked path, and no artifact in the "
                                          "metadata store has a digest starting so")
    bad = himo("lineage", "model.pkl@nosuchrev", ok=False)
    assert bad.stderr.splitlines()[0] == "Error: unknown git revision 'nosuchrev'"
    assert himo("lineage", "model.pkl", "--depth", "0", ok=False).returncode == 2


def test_api_lineage_targets_and_ambiguous_prefixes(make_repo, meta_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo()
    monkeypatch.setenv("HIMO_META_URL", meta_url)
    story(History(root / ".himo" / "journal"))
    repo = Repo(root)
    assert lineage(repo, "e2", downstream=False).digest == MODEL2["digest"]
    with pytest.raises(MetaError) as info:
        lineage(repo, "e")
    assert info.value.message == "digest prefix 'e' is ambiguous: 2 artifacts match"
    assert info.value.hint == (f"give more characters: {MODEL1['digest'][:16]} (model, model.pkl); "
                               f"{MODEL2['digest'][:16]} (model, model.pkl)")
    with pytest.raises(PathError, match=r"^nothing\.csv: not tracked"):
        lineage(repo, str(root / "nothing.csv"))
    write(root / "data" / "new.csv", "tracked while recording was off\n")
    monkeypatch.setenv("HIMO_META_RECORD", "0")
    Himo(root)("add", "data/new.csv")
    digest = yaml.safe_load((root / "data" / "new.csv.himo").read_text())["digest"]
    with pytest.raises(MetaError) as info:
        lineage(repo, str(root / "data" / "new.csv"))
    assert info.value.message == f"data/new.csv (digest {digest[:12]}) is not in the metadata store"


def test_the_text_says_a_restore_is_not_the_producer(make_repo, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo()
    monkeypatch.setenv("HIMO_META_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    ids = story(History(root / ".himo" / "journal"))
    out = Himo(root)("lineage", FEATURES["digest"], "--upstream").stdout.splitlines()
    assert re.match(rf"features data/features\.csv {FEATURES['digest'][:12]} was made by stage 'featurize' "
                    rf"\(succeeded .*, run {ids['one'][0][:8]}\)$", out[0])
    assert re.fullmatch(rf"  then restored from the run-cache by run {ids['two'][0][:8]} at \S+ \S+", out[2])
    dot = Himo(root)("lineage", FEATURES["digest"], "--dot").stdout
    assert f"\\nrestored 1x, latest run {ids['two'][0][:8]}" in dot
