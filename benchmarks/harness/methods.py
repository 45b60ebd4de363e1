"""The method registry: every method ``run.py`` knows, one entry each, in the order of the tables and figures.

An entry says how to run the method:

- :func:`semst`: ``semst_sc.run_pipeline(adata, K, rng=seed, **settings)`` on the raw counts of every gene (it
  selects its genes itself); a setting whose value is :data:`ORGANISM` takes the data set's organism, one that is a
  :class:`KnowledgeTable` the gene-vector table it builds for that organism (in the run's own process);
- :func:`baseline`: ``function(adata, genes, K, seed)`` (:mod:`harness.baselines`) on the raw counts of the
  shared genes in ``X``, returning one label per spot;
- :func:`peer`: another package's method, run by its runner ``peers/<peer>/run.py`` with the python of its own
  environment ``peers/.venvs/<peer>``, which ``peers/setup.sh <peer>`` builds from ``peers/<peer>/requirements.txt``
  (the command line: :mod:`harness.peer_io`); ``<peer>`` is the method's name unless another entry's folder is
  reused with other runner options (``banksy_celltype``: the ``banksy`` runner with ``--lambda 0.2``). A peer whose
  runner writes its embedding names the shared back-ends (:mod:`harness.backends`) that cluster it too: each adds a
  row ``<peer>+<backend>`` (``graphst+gmm``, ``graphst+gmm+refine``) from the same run, beside the peer's own row.

A new method, peer included, is one line in :data:`METHODS` (and, for a peer, its folder under ``peers/``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from harness.backends import BACKENDS
from harness.baselines import pca_gmm, pca_hops_gmm, pca_leiden, pca_smooth_gmm, pooled_pca_gmm

#: a run_pipeline setting with this value takes the data set's organism (gene descriptions)
ORGANISM = "<organism>"
#: the peers' folders: one per peer with its runner and requirements, ``setup.sh`` and ``.venvs/``
PEERS_DIR = Path(__file__).resolve().parents[1] / "peers"

Kind = Literal["semst", "baseline", "peer"]


@dataclass(frozen=True)
class KnowledgeTable:
    """A gene-vector table of curated knowledge for ``model=``, built per organism; ``shuffled``: a control.

    ``shuffled=True`` gives each gene another gene's vector (a fixed permutation): a gain that survives it is not
    knowledge of the genes.
    """

    source: Literal["go", "progeny"]
    shuffled: bool = False

    def build(self, organism: str):
        import numpy as np
        import pandas as pd

        import semst_sc as sst

        builder = {"go": sst.semantics.go_gene_table, "progeny": sst.semantics.progeny_gene_table}[self.source]
        table = builder(organism)
        if not self.shuffled:
            return table
        order = np.random.default_rng(0).permutation(len(table))
        return pd.DataFrame(table.to_numpy()[order], index=table.index, columns=table.columns)


@dataclass(frozen=True)
class Method:
    """One benchmarked method: its name, its kind and how to run it."""

    name: str
    kind: Kind
    settings: Mapping[str, Any] = field(default_factory=dict)  # semst: run_pipeline keywords; peer: runner options
    function: Callable | None = None  # baseline: function(adata, genes, k, rng) -> labels
    peer_folder: str | None = None  # peer: its folder under peers/ (default: the name)
    joint: bool = True  # fits several sections told apart by obs['library_id'] (a peer: its runner does)
    backends: tuple[str, ...] = ()  # peer: shared back-ends (harness.backends) that also cluster its embedding

    @property
    def rows(self) -> list[str]:
        """The method names of its rows: its own, then ``<name>+<backend>`` per shared back-end."""
        return [self.name, *(f"{self.name}+{backend}" for backend in self.backends)]

    @property
    def needs_organism(self) -> bool:
        """Whether a setting takes the data set's organism (gene descriptions)."""
        return any(v == ORGANISM or isinstance(v, KnowledgeTable) for v in self.settings.values())

    def pipeline_kwargs(self, organism: str | None) -> dict[str, Any]:
        """The ``run_pipeline`` keywords with the organism filled in; ``ValueError`` when it is needed and unknown."""
        if self.needs_organism and organism is None:
            raise ValueError("gene descriptions need the organism: pass --organism human|mouse")

        def resolve(value: Any) -> Any:
            if isinstance(value, KnowledgeTable):
                return value.build(organism)
            return organism if value == ORGANISM else value

        return {key: resolve(value) for key, value in self.settings.items()}

    @property
    def folder(self) -> Path:
        """A peer's folder: ``run.py`` (its runner) and ``requirements.txt``."""
        return PEERS_DIR / (self.peer_folder or self.name)

    @property
    def runner(self) -> Path:
        """A peer's runner, called with :func:`harness.peer_io.command`."""
        return self.folder / "run.py"

    @property
    def venv(self) -> Path:
        """A peer's environment, built by ``peers/setup.sh`` (git-ignored)."""
        return PEERS_DIR / ".venvs" / self.folder.name


def semst(name: str, **settings: Any) -> Method:
    """A semst_sc variant: ``run_pipeline`` with these keywords."""
    return Method(name, "semst", MappingProxyType(settings))


def baseline(name: str, function: Callable) -> Method:
    """A baseline: ``function(adata, genes, k, rng)``."""
    return Method(name, "baseline", function=function)


def peer(
    name: str,
    folder: str | None = None,
    options: Mapping[str, Any] | None = None,
    joint: bool = False,
    backends: tuple[str, ...] = (),
) -> Method:
    """A peer: ``peers/<folder>/run.py`` in ``peers/.venvs/<folder>`` (folder: the name), given ``--KEY VALUE``;
    ``joint``: its runner fits the sections of ``obs['library_id']`` together (its authors' multi-sample mode);
    ``backends``: its runner writes its embedding, also clustered by these shared back-ends (rows ``<name>+<b>``)."""
    unknown = [backend for backend in backends if backend not in BACKENDS]
    if unknown:
        raise ValueError(f"{name}: unknown back-ends {unknown}; known: {BACKENDS}")
    options = MappingProxyType(dict(options or {}))
    return Method(name, "peer", options, peer_folder=folder, joint=joint, backends=tuple(backends))


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        semst("semst"),
        semst("semst_three_trainings", n_init=3),  # the most spatially coherent domains of three trainings kept
        semst("semst_no_merge", merge_extra=False),  # no extra domain merged back at cell resolution
        semst("semst_spot", resolution="spot"),  # single cells modelled alone, as before cell resolution
        semst("semst_capped_pooling", neighbourhood_pooling="capped"),  # each pooled cell capped at the median depth
        semst("semst_cell_pooling", neighbourhood_pooling="cells"),  # each pooled cell at the median depth
        semst("semst_count_pooling", neighbourhood_pooling="counts"),  # pooled cells summed by their raw counts
        semst("semst_paper", preset="paper"),
        semst("semst_nosem", semantics=False),
        semst("semst_symbols", semantic_mode="symbols"),
        semst("semst_genes_text", gene_text=ORGANISM),
        semst("semst_symbols_text", semantic_mode="symbols", gene_text=ORGANISM),
        semst("semst_go_table", model=KnowledgeTable("go")),  # GO annotation structure: TF-IDF + SVD
        semst("semst_go_table_shuffled", model=KnowledgeTable("go", shuffled=True)),
        semst("semst_progeny", model=KnowledgeTable("progeny")),  # PROGENy pathway weights
        semst("semst_progeny_shuffled", model=KnowledgeTable("progeny", shuffled=True)),
        semst("semst_last_weights", train_kwargs={"average_from": None}),  # the last step's parameters, not averaged
        semst("semst_no_spatial_loss", encoder_kwargs={"spatial_weight": 0}),  # the GCNs alone carry the neighbours
        semst("semst_similarity_pairs", encoder_kwargs={"pair_weighting": "similarity"}),  # pulls by input similarity
        semst("semst_contrastive", encoder="contrastive"),
        semst("semst_contrastive_nosem", encoder="contrastive", semantics=False),
        baseline("pca_leiden", pca_leiden),
        baseline("pca_gmm", pca_gmm),
        baseline("pca_smooth_gmm", pca_smooth_gmm),
        baseline("pca_hops_gmm", pca_hops_gmm),  # CellCharter's 3-layer neighbourhood aggregation of plain PCs
        baseline("pooled_pca_gmm", pooled_pca_gmm),  # semst_sc's input and clustering without its network
        peer("graphst", backends=("gmm", "gmm+refine")),  # +gmm+refine: its authors' 50-nearest-spot vote
        peer("spagcn"),
        peer("banksy", options={"lambda": 0.8}, joint=True, backends=("gmm",)),  # BANKSY's domain segmentation
        peer("banksy_celltype", folder="banksy", options={"lambda": 0.2}, joint=True, backends=("gmm",)),  # cell typing
        peer("cellcharter", joint=True, backends=("gmm",)),  # scVI, 3-layer neighbourhood aggregation, its GMM
        peer("stagate", backends=("gmm",)),  # its tutorial; Leiden searched for K instead of R's mclust
    )
}


def row_names() -> list[str]:
    """Every method name a row of ``runs.csv`` can have, in the order of the tables: each entry, then its
    back-end rows."""
    return [row for method in METHODS.values() for row in method.rows]


def names(kind: Kind | None = None) -> list[str]:
    """Names of the registered methods (of one kind), in registry order."""
    return [name for name, method in METHODS.items() if kind is None or method.kind == kind]
