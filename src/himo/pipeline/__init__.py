"""Pipelines: himo.yaml stages, interpolation, the DAG, himo.lock, the run-cache and executors.

Knows stages and paths; stores bytes through himo.objects and never touches remotes.
"""
