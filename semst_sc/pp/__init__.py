"""Preprocessing: counts, graphs and gene semantics."""

from ._feature_graph import feature_graph
from ._gene_semantics import gene_semantics
from ._prepare import prepare
from ._spatial_graph import spatial_graph

__all__ = ["prepare", "spatial_graph", "feature_graph", "gene_semantics"]
