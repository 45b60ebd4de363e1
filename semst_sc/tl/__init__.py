"""Tools: the SemST model and domain clustering."""

from ._cluster import cluster
from ._refine import refine
from ._semst import semst

__all__ = ["semst", "cluster", "refine"]
