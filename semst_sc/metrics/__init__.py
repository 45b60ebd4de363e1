"""Accuracy and spatial-coherence scores of domain labels (the only place labels are read)."""

from ._evaluate import evaluate, pas

__all__ = ["evaluate", "pas"]
