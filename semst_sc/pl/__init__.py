"""Plots of domains and training."""

from ._domains import domains
from ._loss import loss

__all__ = ["domains", "loss"]
