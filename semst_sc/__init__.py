"""semst_sc: semantic-guided spatial domain identification (SemST) for spatial transcriptomics."""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from ._settings import settings

try:
    __version__ = version("semst-sc")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

#: subpackages and names, loaded on first use (SPEC 1): ``import semst_sc`` stays instant, and ``semst_sc.nn``
#: (torch only) imports without scanpy
_LAZY = {
    "datasets": None,
    "metrics": None,
    "nn": None,
    "pl": None,
    "pp": None,
    "semantics": None,
    "tl": None,
    "PRESETS": "._pipeline",
    "concat_sections": "._sections",
    "run_pipeline": "._pipeline",
}

__all__ = [*_LAZY, "settings", "__version__"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'semst_sc' has no attribute {name!r}")
    value = (
        import_module(f".{name}", __name__)
        if _LAZY[name] is None
        else getattr(import_module(_LAZY[name], __name__), name)
    )
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
