"""Plot data files as rows: JSON, YAML, CSV and TSV, as DVC reads them.

- JSON / YAML: a list of records (`[{"step": 0, "loss": 1.2}, ...]`), or a mapping holding one
  (`{"train": [...]}`, as dvclive and sklearn's plots write): the first list of records found.
- CSV / TSV: the first row names the columns (`header: false`: columns are named 0, 1, ...);
  values that read as numbers become numbers.

Every problem is a PipelineError naming the file (and the field, when one is missing).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from himo.errors import PipelineError
from himo.pipeline.params import parse_document

DATA_SUFFIXES = (".json", ".yaml", ".yml", ".csv", ".tsv")
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".svg": "image/svg+xml", ".webp": "image/webp"}

Row = dict[str, Any]


def suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def is_image(path: str) -> bool:
    return suffix(path) in IMAGE_TYPES


def parse_rows(data: bytes, path: str, header: bool = True) -> list[Row]:
    """The records of plot file `path` (its bytes `data`); PipelineError if it holds none."""
    kind = suffix(path)
    if kind not in DATA_SUFFIXES:
        raise PipelineError(f"{path}: not a plot file (JSON, YAML, CSV, TSV or an image)",
                            "give a .json, .yaml, .csv, .tsv, .png, .jpg or .svg file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path}: not UTF-8 text (byte {exc.start})", f"fix {path}") from exc
    if kind in (".csv", ".tsv"):
        return _table(text, path, "\t" if kind == ".tsv" else ",", header)
    return _records(parse_document(text, path), path)


def _records(doc: Any, path: str) -> list[Row]:
    rows = _first_records(doc, depth=0)
    if rows is None:
        raise PipelineError(f"{path}: no list of records to plot",
                            'write a list of objects, e.g. [{"step": 0, "loss": 1.2}, ...]')
    return [{str(k): v for k, v in row.items()} for row in rows]


def _first_records(doc: Any, depth: int) -> list[dict[Any, Any]] | None:
    if isinstance(doc, list) and doc and all(isinstance(item, dict) for item in doc):
        return doc
    if isinstance(doc, dict) and depth < 10:
        for value in doc.values():
            found = _first_records(value, depth + 1)
            if found is not None:
                return found
    return None


def _table(text: str, path: str, delimiter: str, header: bool) -> list[Row]:
    try:
        lines = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        raise PipelineError(f"{path}: cannot parse: {exc}", f"fix {path}") from exc
    lines = [line for line in lines if line]
    if not lines or (header and len(lines) < 2):
        raise PipelineError(f"{path}: no rows to plot", "write a header line, then one line per point")
    names = lines[0] if header else [str(i) for i in range(len(lines[0]))]
    rows = []
    for number, line in enumerate(lines[1:] if header else lines, start=2 if header else 1):
        if len(line) != len(names):
            raise PipelineError(f"{path}:{number}: {len(line)} values for {len(names)} columns",
                                f"fix {path}: every line has one value per column")
        rows.append({name: _number(value) for name, value in zip(names, line, strict=True)})
    return rows


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def fields_of(rows: list[Row]) -> list[str]:
    """Every field of the rows, in the order they first appear."""
    return list(dict.fromkeys(key for row in rows for key in row))


def require_field(rows: list[Row], field: str, path: str, what: str) -> None:
    """PipelineError naming the file and the field if no row has `field`."""
    if not any(field in row for row in rows):
        known = ", ".join(fields_of(rows)[:12]) or "none"
        raise PipelineError(f"{path}: no field {field!r} for the plot's {what} (fields: {known})",
                            f"name one of its fields as {what} of the plot in himo.yaml (or with -{what})")
