"""semst_sc: semantic-guided spatial domain identification (SemST) for spatial transcriptomics."""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from . import datasets, metrics, pl, pp, semantics, tl
from ._pipeline import PRESETS, run_pipeline
from ._settings import settings

try:
    __version__ = version("semst-sc")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "datasets",
    "metrics",
    "nn",
    "pl",
    "pp",
    "semantics",
    "tl",
    "PRESETS",
    "run_pipeline",
    "settings",
    "__version__",
]


def __getattr__(name: str):
    # `nn` imports torch (slow): load it on first use
    if name == "nn":
        return import_module(".nn", __name__)
    raise AttributeError(f"module 'semst_sc' has no attribute {name!r}")
