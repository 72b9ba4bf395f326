"""Loaded by Python processes that a himo stage starts, when the repository has no DVC project
(`.dvc/`): keeps dvclive from making one.

himo sets DVC_ROOT and DVC_STAGE for stage commands, as `dvc repro` does, so dvclive knows it runs
inside a pipeline: it saves no experiment (no refs/exps) and leaves the outputs to the pipeline.
But dvclive then opens the DVC repository, and where there is none it runs `dvc init` (a `.dvc/`
folder, a staged `.dvcignore`), and it writes a `dvc.yaml` for DVC: here it finds no repository
(as outside git) and writes no dvc.yaml. The stage declares dvclive's files in himo.yaml instead.

Nothing is imported here: a finder waits for `dvclive.dvc`, changes it once loaded, and steps aside.
Then the next `sitecustomize` on the path (the system's, the user's), if any, is loaded as usual.
"""

import importlib.abc
import importlib.util
import os
import sys


class _DvcliveWithoutDvc(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
        if name != "dvclive.dvc":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):  # type: ignore[no-untyped-def]
            run(module)
            module.get_dvc_repo = lambda: None  # no DVC repository: never `dvc init`
            module.make_dvcyaml = lambda live: None  # no dvc.yaml: himo.yaml declares the files

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _next_sitecustomize() -> None:
    """Run the sitecustomize this one hides (the first on the rest of the path), if any."""
    import importlib.machinery

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


sys.meta_path.insert(0, _DvcliveWithoutDvc())
_next_sitecustomize()
