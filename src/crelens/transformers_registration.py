"""Register crelens' Caduceus with `transformers` as soon as both are imported, without importing
transformers (or torch) when crelens is imported.

`import crelens` must stay light: the Snakefile imports crelens modules to build the DAG, on every
SLURM job. So if transformers is already imported, the classes are registered at once; otherwise
a one-shot import hook registers them right after `import transformers` finishes. Registration
itself happens when `crelens.encoder.transformers_models` is imported (its `register`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

_TARGET = "transformers"


_MODELS = "crelens.encoder.transformers_models"


def _register() -> None:
    """Import the classes module, which registers them; if it is being imported right now (it is
    what imported transformers), it registers itself when it finishes."""
    if _MODELS not in sys.modules:
        importlib.import_module(_MODELS)


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the real loader of `transformers` so that registration runs
    when the module has executed."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)  # one shot: find the real spec without this finder
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            _register()

        loader.exec_module = exec_then_register
        return spec


def install() -> None:
    """Register now if transformers is imported, else once it is (no-op if it is not installed)."""
    if _TARGET in sys.modules:
        _register()
    elif importlib.util.find_spec(_TARGET) is not None and not any(
        isinstance(finder, _RegisterAfterImport) for finder in sys.meta_path
    ):
        sys.meta_path.insert(0, _RegisterAfterImport())
