"""OpenLineage: `himo meta export --format openlineage` and live emission to an HTTP receiver.

Every exported or received event is parsed into openlineage-python's event model (its attrs
validators check event types, UUID run ids and times), serialized back with its Serde and compared
with what himo wrote: a field it does not know, or one it would rename, fails the test.
"""

from __future__ import annotations

import csv
import http.server
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import attr
import pytest
from blake3 import blake3
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated import (
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    nominal_time_run,
    parent_run,
    processing_engine_run,
    schema_dataset,
    source_code_location_job,
)
from openlineage.client.generated.base import DatasetFacet, RunFacet
from openlineage.client.serde import Serde

from himo.api.openlineage import POST_TIMEOUT, export_openlineage
from himo.api.recording import journal_dir
from himo.meta.openlineage import FACET_SCHEMAS
from himo.meta.recorder import Context, Recorder
from himo.workspace.repo import Repo
from tests.conftest import Himo, git, write

ORIGIN = "https://github.com/acme/churn.git"
PIPELINE = """\
stages:
  featurize:
    cmd: cut -d, -f1,2 data/raw.csv > features.csv
    deps: [data/raw.csv]
    params: [featurize.n]
    outs: [features.csv]
  train:
    cmd: sh train.sh
    deps: [train.sh, features.csv]
    outs:
      - model.bin: {kind: model}
    metrics: [scores.json]
"""
TRAIN_OK = "wc -c features.csv > model.bin && echo '{\"acc\": 0.9, \"n\": 3}' > scores.json\n"


# -- openlineage-python's event model ---------------------------------------------------------


@attr.define
class HimoExecutionRunFacet(RunFacet):
    """himo's own run facet, as docs/openlineage.md describes it."""

    status: str
    cmd: str
    params: dict[str, Any]
    reasons: list[Any]
    codeDigests: dict[str, Any]
    dirty: bool
    exitCode: int | None = None
    log: str | None = None

    @staticmethod
    def _get_schema() -> str:
        return FACET_SCHEMAS["himo_execution"]


@attr.define
class HimoArtifactDatasetFacet(DatasetFacet):
    kind: str
    size: int
    nfiles: int | None = None

    @staticmethod
    def _get_schema() -> str:
        return FACET_SCHEMAS["himo_artifact"]


FACETS: dict[str, type] = {
    "parent": parent_run.ParentRunFacet,
    "nominalTime": nominal_time_run.NominalTimeRunFacet,
    "processing_engine": processing_engine_run.ProcessingEngineRunFacet,
    "errorMessage": error_message_run.ErrorMessageRunFacet,
    "himo_execution": HimoExecutionRunFacet,
    "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet,
    "jobType": job_type_job.JobTypeJobFacet,
    "version": dataset_version_dataset.DatasetVersionDatasetFacet,
    "schema": schema_dataset.SchemaDatasetFacet,
    "himo_artifact": HimoArtifactDatasetFacet,
}
REQUIRED = [("eventTime",), ("producer",), ("schemaURL",), ("eventType",), ("run", "runId"),
            ("job", "namespace"), ("job", "name")]  # the spec's required RunEvent fields


def facet(key: str, data: dict[str, Any]) -> Any:
    fields = {k: v for k, v in data.items() if not k.startswith("_")}
    if key == "parent":
        fields["run"] = parent_run.Run(**fields["run"])
        fields["job"] = parent_run.Job(**fields["job"])
    if key == "schema":
        fields["fields"] = [schema_dataset.SchemaDatasetFacetFields(**f) for f in fields["fields"]]
    return FACETS[key](**fields, producer=data["_producer"])


def facets(data: dict[str, Any]) -> dict[str, Any]:
    return {key: facet(key, value) for key, value in data.items()}


def model(event: dict[str, Any]) -> RunEvent:
    """The event as openlineage-python's RunEvent: its validators run on the way."""
    def datasets(cls: type, items: list[dict[str, Any]]) -> list[Any]:
        return [cls(namespace=d["namespace"], name=d["name"], facets=facets(d["facets"])) for d in items]

    return RunEvent(
        eventType=RunState(event["eventType"]), eventTime=event["eventTime"], producer=event["producer"],
        run=Run(runId=event["run"]["runId"], facets=facets(event["run"]["facets"])),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"],
                facets=facets(event["job"]["facets"])),
        inputs=datasets(InputDataset, event["inputs"]), outputs=datasets(OutputDataset, event["outputs"]))


def prune(value: Any) -> Any:
    """Without empty containers, which Serde keeps or drops by its own rules."""
    if isinstance(value, dict):
        value = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in value.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def check_valid(event: dict[str, Any]) -> None:
    for path in REQUIRED:
        node: Any = event
        for key in path:
            node = node[key]
        assert node, f"required {'.'.join(path)} is empty"
    assert prune(Serde.to_dict(model(event))) == prune(event)  # nothing dropped, renamed or unknown


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def pipeline(repo: Path, himo: Himo) -> Path:
    """featurize (CSV data -> CSV features, a param) -> train (code + features -> model, metrics)."""
    git(repo, "remote", "add", "origin", ORIGIN)
    write(repo / "data" / "raw.csv", "id,age,churned\n1,34,0\n")
    write(repo / "params.yaml", "featurize:\n  n: 2\n")
    write(repo / "train.sh", TRAIN_OK)
    write(repo / "himo.yaml", PIPELINE)
    himo("add", "data/raw.csv")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    return repo


def export(himo: Himo, *args: str) -> list[dict[str, Any]]:
    out = himo("meta", "export", "--format", "openlineage", *args).stdout
    return [json.loads(line) for line in out.splitlines()]


def by_job(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        found.setdefault(event["job"]["name"], []).append(event)
    return found


def digest_of(path: Path) -> str:
    return blake3(path.read_bytes()).hexdigest()


class Receiver:
    """A real OpenLineage HTTP endpoint: http.server on a free loopback port, in a thread."""

    def __init__(self, hold: Callable[[], float] | None = None, status: int = 201) -> None:
        """hold: called before answering the first request (a slow receiver); its result is kept."""
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (path, content type, body)
        self.arrived: list[float] = []
        self.held: list[float] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if hold is not None and not receiver.held:
                    receiver.held.append(hold())
                receiver.requests.append((self.path, self.headers["Content-Type"], body))
                receiver.arrived.append(time.monotonic())
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def events(self) -> list[dict[str, Any]]:
        return [body for _, _, body in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(hold: Callable[[], float] | None = None, status: int = 201) -> Receiver:
        made.append(Receiver(hold, status))
        return made[-1]

    yield make
    for r in made:
        r.close()


# -- export -----------------------------------------------------------------------------------


def test_export_of_a_two_stage_repro_is_valid_openlineage(pipeline: Path, himo: Himo, meta_url: str):
    himo("config", "--local", "meta.url", meta_url)
    himo("repro")
    head = git(pipeline, "rev-parse", "HEAD").strip()
    events = export(himo)
    for event in events:
        check_valid(event)
    jobs = by_job(events)
    assert set(jobs) == {"featurize", "train"}  # `himo add` went to the default store, before meta.url
    feat_start, feat_end = jobs["featurize"]
    assert (feat_start["eventType"], feat_end["eventType"]) == ("START", "COMPLETE")
    assert feat_start["run"]["runId"] == feat_end["run"]["runId"]
    assert feat_start["eventTime"] < feat_end["eventTime"] <= jobs["train"][0]["eventTime"]
    parent = feat_end["run"]["facets"]["parent"]
    assert parent["job"] == {"namespace": ORIGIN, "name": "himo.repro"}
    assert parent["run"]["runId"] == jobs["train"][1]["run"]["facets"]["parent"]["run"]["runId"]
    assert feat_end["job"]["namespace"] == ORIGIN
    source = feat_end["job"]["facets"]["sourceCodeLocation"]
    assert (source["type"], source["url"], source["version"]) == ("git", ORIGIN, head)
    assert source["branch"] == "main"
    execution = feat_end["run"]["facets"]["himo_execution"]
    assert execution["params"] == {"params.yaml": {"featurize.n": 2}}
    assert (execution["status"], execution["cmd"], execution["exitCode"]) == (
        "succeeded", "cut -d, -f1,2 data/raw.csv > features.csv", 0)
    assert feat_end["run"]["facets"]["nominalTime"]["nominalEndTime"] == feat_end["eventTime"]
    assert "nominalEndTime" not in feat_start["run"]["facets"]["nominalTime"]
    assert "errorMessage" not in feat_end["run"]["facets"]

    (raw,) = feat_end["inputs"]
    assert (raw["namespace"], raw["name"]) == (ORIGIN, "data/raw.csv")
    assert raw["facets"]["version"]["datasetVersion"] == digest_of(pipeline / "data" / "raw.csv")
    assert raw["facets"]["schema"]["fields"] == [{"name": "id"}, {"name": "age"}, {"name": "churned"}]
    assert raw["facets"]["himo_artifact"] == {**raw["facets"]["himo_artifact"], "kind": "dataset", "size": 22}
    (features,) = feat_end["outputs"]
    assert features["name"] == "features.csv"
    assert features["facets"]["schema"]["fields"] == [{"name": "id"}, {"name": "age"}]

    train_end = jobs["train"][1]
    assert {d["name"] for d in train_end["inputs"]} == {"train.sh", "features.csv"}
    outputs = {d["name"]: d["facets"] for d in train_end["outputs"]}
    assert outputs["model.bin"]["himo_artifact"]["kind"] == "model" and "schema" not in outputs["model.bin"]
    assert outputs["scores.json"]["schema"]["fields"] == [{"name": "acc", "type": "number"},
                                                         {"name": "n", "type": "integer"}]
    assert outputs["scores.json"]["version"]["datasetVersion"] == digest_of(pipeline / "scores.json")


def test_a_failed_stage_ends_in_FAIL_with_its_exit_code_and_log(pipeline: Path, himo: Himo):
    write(pipeline / "train.sh", "exit 3\n")
    assert himo("repro", ok=False).returncode == 1
    events = export(himo)
    for event in events:
        check_valid(event)
    start, end = by_job(events)["train"]
    assert (start["eventType"], end["eventType"]) == ("START", "FAIL")
    log = end["run"]["facets"]["himo_execution"]["log"]
    assert log.startswith(".himo/logs/train/") and (pipeline / log).is_file()
    error = end["run"]["facets"]["errorMessage"]
    assert error["message"] == f"stage 'train' failed (exit code 3); log: {log}"
    assert end["outputs"] == []  # a failed stage wrote nothing himo kept


def test_running_and_aborted_executions(repo: Path):
    """Driven through a Recorder: a still-running execution exports START only, an aborted one ABORT."""
    recorder = Recorder(journal_dir(Repo(repo)), Context(repo=str(repo), git_commit="c" * 40, branch="main"))
    recorder.start("repro", [])
    aborted = recorder.start_execution("prepare", "python prepare.py", {"params.yaml": {"seed": 1}})
    recorder.end_execution(aborted, "aborted")
    running = recorder.start_execution("train", ["python train.py"])
    stream = io.StringIO()
    count = export_openlineage(Repo(repo), stream)
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert count == len(events) == 3
    for event in events:
        check_valid(event)
    jobs = by_job(events)
    assert [e["eventType"] for e in jobs["prepare"]] == ["START", "ABORT"]
    assert [e["eventType"] for e in jobs["train"]] == ["START"]
    assert jobs["train"][0]["run"]["runId"] == running
    source = jobs["prepare"][1]["job"]["facets"]["sourceCodeLocation"]
    assert source["url"] == f"file://{repo}"  # no origin: the folder
    assert jobs["prepare"][1]["job"]["namespace"] == str(repo)
    recorder.finish("aborted")


SMALL_PAGE = 20  # executions per query here (default PAGE = 500): 41 executions make three pages


def test_export_pages_through_many_executions_in_start_order(repo: Path, meta_url: str,
                                                            monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HIMO_META_URL", meta_url)
    recorder = Recorder(journal_dir(Repo(repo)), Context(repo=ORIGIN))
    recorder.start("repro", [])
    ids = []
    for i in range(SMALL_PAGE * 2 + 1):
        ids.append(recorder.start_execution(f"s{i % 7}", "true"))
        recorder.end_execution(ids[-1], "succeeded", outputs=[{"path": f"out{i}", "digest": f"{i:064x}"}])
    recorder.finish("succeeded")
    stream = io.StringIO()
    assert export_openlineage(Repo(repo), stream, page=SMALL_PAGE) == len(ids) * 2
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    starts, ends = events[::2], events[1::2]
    assert sorted(e["run"]["runId"] for e in starts) == sorted(ids)  # each once, across pages
    order = [(e["eventTime"], e["run"]["runId"]) for e in starts]
    assert order == sorted(order)  # oldest first
    assert [e["run"]["runId"] for e in ends] == [e["run"]["runId"] for e in starts]
    assert {e["run"]["runId"]: e["outputs"][0]["name"] for e in ends} == {
        exec_id: f"out{i}" for i, exec_id in enumerate(ids)}


def test_export_to_a_file_since_a_time_and_in_a_namespace(pipeline: Path, himo: Himo):
    himo("repro")
    himo("config", "openlineage.namespace", "churn-team")
    out = himo("meta", "export", "--since", "1h", "-o", "lineage.jsonl")
    lines = (pipeline / "lineage.jsonl").read_text().splitlines()
    assert out.stdout == f"Wrote {len(lines)} OpenLineage events to lineage.jsonl\n"
    assert len(lines) == 6  # add, featurize, train: START + COMPLETE each
    assert {json.loads(line)["job"]["namespace"] for line in lines} == {"churn-team"}
    assert [p.name for p in pipeline.iterdir() if "himo-tmp" in p.name] == []

    later = datetime.now().isoformat(timespec="milliseconds")  # local time; after the first repro
    himo("repro", "--force", "--single-item", "train")
    recent = export(himo, "--since", later)
    assert [(e["job"]["name"], e["eventType"]) for e in recent] == [("train", "START"), ("train", "COMPLETE")]
    assert export(himo, "--since", "2999-01-01") == []


def test_bad_since_and_unwritable_output_are_clear_errors(pipeline: Path, himo: Himo):
    proc = himo("meta", "export", "--since", "yesterday", ok=False)
    assert proc.returncode == 2
    assert proc.stderr == ("Error: --since: 'yesterday' is not a time\nHint: use an ISO date or time "
                           "(2024-05-01, 2024-05-01T13:30) or an age (30m, 2h, 7d)\n")
    proc = himo("meta", "export", "-o", "missing/lineage.jsonl", ok=False)
    assert proc.returncode == 1
    assert proc.stderr == ("Error: missing/lineage.jsonl: cannot write the export: No such file or "
                           "directory\nHint: check that its folder exists and is writable\n")
    assert not (pipeline / "missing").exists()


# -- live emission ----------------------------------------------------------------------------


def test_repro_posts_each_stage_event_as_it_happens(pipeline: Path, himo: Himo, receiver):
    server = receiver()
    himo("config", "openlineage.url", server.url + "/")
    proc = himo("repro")
    assert "OpenLineage" not in proc.stderr
    assert {(path, kind) for path, kind, _ in server.requests} == {("/api/v1/lineage", "application/json")}
    live = server.events
    assert [(e["job"]["name"], e["eventType"]) for e in live] == [
        ("featurize", "START"), ("featurize", "COMPLETE"), ("train", "START"), ("train", "COMPLETE")]
    for event in live:
        check_valid(event)
    exported = [e for e in export(himo) if e["job"]["name"] != "add"]
    assert live == exported  # the same events, sent live or exported later


def test_stages_never_wait_on_a_slow_receiver(pipeline: Path, himo: Himo, receiver):
    def until_trained() -> float:
        """Answer the first event (featurize's START) only once the last stage wrote its model;
        how long that took. Stages that waited for the answer would only go on once the POST
        timed out (POST_TIMEOUT), so the model would come later than that."""
        start = time.monotonic()
        while not (pipeline / "model.bin").exists() and time.monotonic() - start < 30:
            time.sleep(0.01)
        return time.monotonic() - start

    server = receiver(hold=until_trained)
    himo("config", "openlineage.url", server.url)
    himo("repro")
    (held,) = server.held
    assert (pipeline / "model.bin").exists() and held < POST_TIMEOUT  # both stages ran meanwhile
    assert len(server.events) == 4  # flushed at the end of the command


@pytest.mark.parametrize("fault", ["refused", "500"])
def test_a_failing_receiver_never_breaks_the_command_and_is_told_once(pipeline: Path, himo: Himo,
                                                                       receiver, fault: str):
    server = receiver(status=500)
    if fault == "refused":
        server.close()  # nothing listens there any more
    himo("config", "openlineage.url", server.url)
    before = datetime.now().replace(microsecond=0)
    proc = himo("repro")
    warnings = [line for line in proc.stderr.splitlines() if "OpenLineage" in line]
    assert len(warnings) == 1
    why = "Connection refused" if fault == "refused" else "HTTP 500 Internal Server Error"
    match = re.fullmatch(
        rf"Warning: 4 OpenLineage event\(s\) not sent to {server.url}/api/v1/lineage \({why}\); they are "
        r"in the metadata store: `himo meta export --format openlineage --since (\S+)` writes them",
        warnings[0])
    assert match, warnings[0]
    assert (pipeline / "model.bin").is_file()  # the pipeline ran all the same
    missed = export(himo, "--since", match.group(1))  # the hint's command finds every missed event
    assert datetime.fromisoformat(match.group(1)) >= before
    assert [(e["job"]["name"], e["eventType"]) for e in missed] == [
        ("featurize", "START"), ("featurize", "COMPLETE"), ("train", "START"), ("train", "COMPLETE")]


@pytest.mark.parametrize(("text", "fields"), [
    ("id,age,churned\n1,34,0\n2,51,1\n", ("id", "age", "churned")),
    ("id\tage\n1\t34\n", ("id", "age")),
    ("1,34,0\n2,51,1\n", None),  # line 1 is data: no schema facet rather than columns named "1", "34"
    ("0.1,0.2\n0.3,0.4\n", None),
    ("", None),
])
def test_a_csv_has_a_schema_facet_only_when_line_1_names_its_columns(tmp_path: Path, text: str,
                                                                     fields: tuple[str, ...] | None):
    from himo.api.openlineage import _read_fields

    suffix = ".tsv" if "\t" in text else ".csv"
    (tmp_path / "f").write_text(text)
    try:
        found = _read_fields(str(tmp_path / "f"), suffix, len(text))
    except csv.Error:  # what schema_reader turns into "no facet"
        found = None
    assert (tuple(name for name, _ in found) if found else None) == fields
