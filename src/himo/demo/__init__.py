"""The files of `himo demo`'s project: a synthetic data generator and a five-stage
scikit-learn pipeline (prepare -> featurize -> train -> evaluate -> predict)."""

from himo.demo.template import FILES, GENERATOR, PIPELINE

__all__ = ["FILES", "GENERATOR", "PIPELINE"]
