"""himo: git-native versioning of data and models, pipelines and lineage.

Import `himo.api` for the Python API; the `himo` command is a thin layer over it.
"""

__version__ = "0.1.0"
