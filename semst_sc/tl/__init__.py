"""Tools: the SemST model and domain clustering."""

from ._annotate import annotate_domains
from ._cluster import cluster
from ._query import query
from ._refine import refine
from ._semst import semst

__all__ = ["semst", "cluster", "refine", "annotate_domains", "query"]
