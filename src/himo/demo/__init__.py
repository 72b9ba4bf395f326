"""The project `himo demo` writes: a synthetic data generator and a five-stage scikit-learn
pipeline (prepare -> featurize -> train -> evaluate -> predict). Plain values; no I/O."""

from himo.demo.template import (
    CHANGE,
    FILES,
    METRICS,
    RAW_DATA,
    REMOTE,
    SCHEDULE,
    SCHEDULE_DAYS,
    SCHEDULE_NAME,
    STAGES,
    StageDef,
)

__all__ = ["CHANGE", "FILES", "METRICS", "RAW_DATA", "REMOTE", "SCHEDULE", "SCHEDULE_DAYS", "SCHEDULE_NAME",
           "STAGES", "StageDef"]
