"""The kind of an artifact (dataset, features, model, ...) guessed from its path and role.

A pure function of names, no I/O: it runs for every input and output a command records.
A kind declared in himo.yaml (`kind:`) always wins; the guesses below only fill the gap.
"""

from __future__ import annotations

from pathlib import PurePosixPath

CODE_SUFFIXES = frozenset({
    ".py", ".sh", ".bash", ".r", ".ipynb", ".sql", ".js", ".ts", ".jl", ".scala", ".java", ".go",
    ".rs", ".c", ".cc", ".cpp", ".h", ".hpp", ".m", ".pl", ".rb", ".kt", ".lua", ".ps1", ".rmd",
})
CODE_NAMES = frozenset({"makefile", "dockerfile", "justfile", "snakefile", "cmakelists.txt"})
CODE_FOLDERS = frozenset({"src", "scripts", "code", "lib", "notebooks"})  # a folder dep of code
MODEL_SUFFIXES = frozenset({
    ".pkl", ".pickle", ".joblib", ".pt", ".pth", ".onnx", ".h5", ".hdf5", ".keras", ".ckpt",
    ".safetensors", ".pb", ".tflite", ".mlmodel", ".gguf", ".cbm", ".ubj",
})
MODEL_FOLDERS = frozenset({"model", "models"})
CONFIG_SUFFIXES = frozenset({".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".env"})


def infer_kind(path: str, role: str = "out", declared: str | None = None, data: bool = False) -> str:
    """The kind of the artifact at repository-relative `path`.

    role: "out", "metrics" or "plots" for stage outputs, "dep" for inputs.
    declared: the `kind:` of the output in himo.yaml, if any.
    data: the path is source data (`himo add`ed, or a dep no stage writes): `dataset` unless
    its name says otherwise.
    """
    if declared:
        return declared
    if role == "metrics":
        return "metrics"
    pure = PurePosixPath(path.lower())
    name, suffix = pure.name, pure.suffix
    if is_code(path):
        return "code"
    if suffix in MODEL_SUFFIXES or (suffix == ".bin" and "model" in name):
        return "model"
    if "pred" in name:
        return "predictions"
    if "feature" in name:
        return "features"
    if "metric" in name and suffix in (".json", ".yaml", ".yml", ".toml", ".csv", ".tsv", ""):
        return "metrics"
    if MODEL_FOLDERS & set(pure.parts[:-1]) or pure.stem in MODEL_FOLDERS or pure.stem.endswith("_model"):
        return "model"
    if data and suffix not in CONFIG_SUFFIXES:
        return "dataset"
    return "other"


def is_code(path: str) -> bool:
    """Source code: by suffix (.py, .sql, .ipynb ...), name (Makefile, Dockerfile), or a folder
    named like one (src/, scripts/)."""
    pure = PurePosixPath(path.lower())
    if pure.suffix in CODE_SUFFIXES or pure.name in CODE_NAMES or pure.name.startswith("dockerfile."):
        return True
    return not pure.suffix and pure.name in CODE_FOLDERS
