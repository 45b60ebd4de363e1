"""The one data container of training: the whole tissue on the host, and the batches a sampler draws from it.

Full-batch training (:class:`FullBatchSampler`) and neighbour-sampled mini-batches (:class:`NeighbourSampler`) both
yield a :class:`Batch`; every encoder computes its loss from a :class:`Batch` alone, so one training loop serves
both, on one process or under ``torchrun``.

The subgraphs are sampled here with numpy on the CSR graphs: torch-geometric's ``NeighborLoader`` needs ``pyg-lib``
or ``torch-sparse``, compiled extensions built per torch release and published outside PyPI, so semst_sc does not
depend on them. The sampling is the same as ``NeighborLoader``'s: up to ``fanouts[0]`` neighbours of each seed and
``fanouts[1]`` of each of those, drawn without replacement, per graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from .._utils import as_csr
from ._gcn import gcn_adjacency

#: ``minibatch="auto"`` trains on mini-batches from this many spots up
AUTO_MINIBATCH_SPOTS = 50_000


@dataclass
class GraphData:
    """The whole tissue, kept on the host (numpy / scipy); samplers move what a step needs to the device.

    Attributes
    ----------
    x
        Encoder input (n x genes), dense or CSR (rows are densified when a batch is drawn).
    counts
        Raw counts the decoder fits (n x genes), dense or CSR.
    size_factors
        Per-spot library size factors (n,).
    graphs
        The graphs by name (``"spatial"`` is required: its edges are the neighbour pairs of the losses), each an
        n x n sparse adjacency whose pattern is used.
    semantic
        Semantic vectors (n x d), or ``None`` for a model without FSM.
    covariates
        Per-spot covariates of the decoder (n x c, e.g. the one-hot section), or ``None``.
    pair_weights
        Weight of each spatial neighbour pair in the spatial loss (n x n sparse, read at the spatial graph's edges:
        :func:`~semst_sc.nn.pair_similarity_weights`), or ``None``: 1 each.
    """

    x: np.ndarray | sp.csr_matrix
    counts: np.ndarray | sp.csr_matrix
    size_factors: np.ndarray
    graphs: dict[str, sp.csr_matrix]
    semantic: np.ndarray | None = None
    covariates: np.ndarray | None = None
    pair_weights: sp.csr_matrix | None = None

    def __post_init__(self):
        if "spatial" not in self.graphs:
            raise ValueError(f"GraphData needs a 'spatial' graph, got {sorted(self.graphs)}")
        self.graphs = {name: as_csr(graph) for name, graph in self.graphs.items()}
        if self.pair_weights is not None:
            self.pair_weights = as_csr(self.pair_weights)
        n = self.x.shape[0]
        rows = {"counts": self.counts.shape[0], "size_factors": len(self.size_factors)}
        rows.update({f"graphs['{k}']": g.shape[0] for k, g in self.graphs.items()})
        for name in ("semantic", "covariates", "pair_weights"):
            if getattr(self, name) is not None:
                rows[name] = getattr(self, name).shape[0]
        wrong = {k: v for k, v in rows.items() if v != n}
        square = [*self.graphs.values(), *([] if self.pair_weights is None else [self.pair_weights])]
        if wrong or any(g.shape[1] != n for g in square):
            raise ValueError(f"every input needs one row per spot ({n}): got {wrong or 'non-square graphs'}")

    @property
    def n_obs(self) -> int:
        """Number of spots."""
        return self.x.shape[0]

    def weights_of(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
        """Return the spatial loss weights of the pairs ``(rows[i], cols[i])`` (global indices), or ``None``."""
        if self.pair_weights is None:
            return None
        return np.asarray(self.pair_weights[rows, cols], dtype=np.float32).ravel()


@dataclass
class Batch:
    """One step's input on one device: for each graph, its nodes' input and adjacency, the seeds first.

    The seeds are the spots whose loss is computed; the other nodes of a graph are the neighbourhood the seeds'
    graph convolutions average over. In a full batch every spot is a seed of every graph.

    Attributes
    ----------
    x
        Per graph name: encoder input of that graph's nodes (seeds first).
    adjacency
        Per graph name: normalised adjacency over that graph's nodes (:func:`~semst_sc.nn.gcn_adjacency`).
    n_seeds
        Number of seeds.
    counts, size_factors
        The seeds' raw counts and size factors.
    covariates
        The seeds' decoder covariates, or ``None``.
    semantic
        Semantic vectors of the spatial graph's nodes (seeds first), or ``None``.
    pairs
        2 x P spatial neighbour pairs among the seeds (targets 1).
    negative
        2 x P random seed pairs (targets 0).
    permutation
        A random order of the spatial graph's nodes (corrupted views of contrastive models).
    recon_rows
        Seeds whose counts are reconstructed this step (``None``: all seeds).
    pair_weights
        P weights of ``pairs`` in the spatial loss, or ``None``: 1 each.
    """

    x: dict[str, torch.Tensor]
    adjacency: dict[str, torch.Tensor]
    n_seeds: int
    counts: torch.Tensor
    size_factors: torch.Tensor
    semantic: torch.Tensor | None
    pairs: torch.Tensor
    negative: torch.Tensor
    permutation: torch.Tensor
    recon_rows: torch.Tensor | None = None
    covariates: torch.Tensor | None = None
    pair_weights: torch.Tensor | None = None

    def seed_semantic(self) -> torch.Tensor | None:
        """Semantic vectors of the seeds."""
        return None if self.semantic is None else self.semantic[: self.n_seeds]


class FullBatchSampler:
    """Every spot, every step: the tissue goes to the device once; each step draws the loss terms' samples.

    Parameters
    ----------
    data
        The tissue.
    graphs
        Names of the graphs the encoder convolves over.
    device
        Where the tensors live.
    recon_batch_size
        Spots drawn each step for the reconstruction term (an unbiased estimate of the full term at a fraction of
        its cost); ``None`` reconstructs every spot.
    pair_batch_size
        Spatial neighbour pairs (and as many random pairs) drawn each step; ``None`` uses every pair.
    rng
        Seed of the draws.
    """

    def __init__(
        self,
        data: GraphData,
        graphs: tuple[str, ...],
        device: torch.device,
        *,
        recon_batch_size: int | None = 1024,
        pair_batch_size: int | None = 16384,
        rng: int = 0,
    ):
        x = torch.from_numpy(_rows(data.x, slice(None))).to(device)
        covariates = None if data.covariates is None else torch.from_numpy(_rows(data.covariates, slice(None)))
        coo = data.graphs["spatial"].tocoo()
        weights = data.weights_of(coo.row, coo.col)
        self.base = Batch(
            x={name: x for name in graphs},
            adjacency={name: gcn_adjacency(data.graphs[name]).to(device) for name in graphs},
            n_seeds=data.n_obs,
            counts=torch.from_numpy(_rows(data.counts, slice(None))).to(device),
            size_factors=torch.from_numpy(np.asarray(data.size_factors, dtype=np.float32)).to(device),
            semantic=None if data.semantic is None else torch.from_numpy(_rows(data.semantic, slice(None))).to(device),
            pairs=torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64)).to(device),
            negative=torch.empty(2, 0, dtype=torch.int64, device=device),
            permutation=torch.arange(data.n_obs, device=device),
            covariates=None if covariates is None else covariates.to(device),
            pair_weights=None if weights is None else torch.from_numpy(weights).to(device),
        )
        self.recon_batch_size, self.pair_batch_size = recon_batch_size, pair_batch_size
        self.generator = torch.Generator().manual_seed(rng)

    def sample(self) -> Batch:
        """Draw the reconstructed spots, the pairs and a permutation (on the CPU generator, then moved)."""
        base, generator = self.base, self.generator
        n, device = base.n_seeds, base.counts.device
        rows = None
        if self.recon_batch_size is not None and self.recon_batch_size < n:
            rows = torch.randperm(n, generator=generator)[: self.recon_batch_size].to(device)
        pairs, weights = base.pairs, base.pair_weights
        if self.pair_batch_size is not None and self.pair_batch_size < pairs.shape[1]:
            drawn = torch.randint(0, pairs.shape[1], (self.pair_batch_size,), generator=generator).to(device)
            pairs, weights = pairs[:, drawn], None if weights is None else weights[drawn]
        negative = torch.randint(0, n, pairs.shape, generator=generator).to(device)
        permutation = torch.randperm(n, generator=generator).to(device)
        drawn = {"pairs": pairs, "pair_weights": weights, "negative": negative, "permutation": permutation}
        return Batch(**{**vars(base), **drawn, "recon_rows": rows})

    def everything(self) -> Batch:
        """Return the whole tissue as one batch (to embed every spot)."""
        return self.base


@dataclass
class NeighbourSampler:
    """Neighbour-sampled mini-batches whose cost does not depend on the number of spots.

    Each step takes ``batch_size // 2`` anchor spots (walking through a random order of all spots, reshuffled when
    it runs out), adds one spatial neighbour of each as the seeds, and samples each graph 2 hops around the seeds
    (:func:`sample_batch`). Under ``torch.distributed`` every process takes its share of each step's anchors.

    Attributes
    ----------
    data
        The tissue.
    graphs
        Names of the graphs the encoder convolves over.
    device
        Where the batches go.
    batch_size
        Seed spots per step, over all processes.
    fanouts
        Neighbours sampled per spot at the first and the second hop (``None``: all).
    rng
        Seed of the anchor order and of the neighbour sampling.
    rank, world_size
        This process and the number of processes.
    """

    data: GraphData
    graphs: tuple[str, ...]
    device: torch.device
    batch_size: int = 1024
    fanouts: tuple[int | None, int | None] = (10, 10)
    rng: int = 0
    rank: int = 0
    world_size: int = 1
    _anchors: object = field(init=False, repr=False)
    _sampler: np.random.Generator = field(init=False, repr=False)
    _shuffler: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self):
        if self.batch_size < 2 * self.world_size:
            raise ValueError(
                f"batch_size must be at least 2 per process ({2 * self.world_size}), got {self.batch_size}"
            )
        self._anchors = _anchor_stream(self.data.n_obs, self.batch_size // 2, np.random.default_rng(self.rng))
        self._sampler = np.random.default_rng([self.rng, self.rank])
        self._shuffler = np.random.default_rng([self.rng, self.rank, 1])  # corruption orders, apart from sampling

    def sample(self) -> Batch:
        """Draw the next mini-batch and move it to the device."""
        anchors = next(self._anchors)[self.rank :: self.world_size]
        batch = sample_batch(self.data, anchors, self.graphs, self.fanouts, self._sampler)
        batch.permutation = self._shuffler.permutation(len(batch.nodes.get("spatial", batch.seeds)))
        return batch.to_device(self.device)

    def everything(self) -> Batch:
        """Return the whole tissue as one batch (to embed every spot)."""
        return FullBatchSampler(self.data, self.graphs, self.device, recon_batch_size=None).everything()


@dataclass
class HostBatch:
    """A mini-batch on the host: global node indices and local subgraphs, before it goes to the device.

    Attributes
    ----------
    seeds
        Global indices of the seeds (sorted).
    nodes, subgraphs
        Per graph: global indices of its sampled spots (seeds first) and the local adjacency among them (row ``i``
        holds the neighbours spot ``i`` averages over: a seed's hop-1 sample, a hop-1 spot's hop-2 sample, none
        for the outer spots).
    pairs
        2 x P spatial neighbour pairs among the seeds (indices into ``seeds``).
    negative
        2 x P random seed pairs.
    data
        The tissue the indices refer to.
    permutation
        A random order of the spatial graph's nodes (identity until a sampler draws one).
    """

    seeds: np.ndarray
    nodes: dict[str, np.ndarray]
    subgraphs: dict[str, sp.csr_matrix]
    pairs: np.ndarray
    negative: np.ndarray
    data: GraphData
    permutation: np.ndarray | None = None

    def to_device(self, device: torch.device) -> Batch:
        """Gather the rows the batch needs and move them to ``device``."""
        data, spatial_nodes = self.data, self.nodes["spatial"]

        def tensor(matrix, rows):
            return torch.from_numpy(_rows(matrix, rows)).to(device)

        return Batch(
            x={name: tensor(data.x, nodes) for name, nodes in self.nodes.items()},
            adjacency={name: gcn_adjacency(graph).to(device) for name, graph in self.subgraphs.items()},
            n_seeds=len(self.seeds),
            counts=tensor(data.counts, self.seeds),
            size_factors=torch.from_numpy(np.asarray(data.size_factors[self.seeds], dtype=np.float32)).to(device),
            semantic=None if data.semantic is None else tensor(data.semantic, spatial_nodes),
            pairs=torch.from_numpy(self.pairs).to(device),
            negative=torch.from_numpy(self.negative).to(device),
            permutation=torch.from_numpy(self._permutation()).to(device),
            covariates=None if data.covariates is None else tensor(data.covariates, self.seeds),
            pair_weights=self._pair_weights(device),
        )

    def _pair_weights(self, device: torch.device) -> torch.Tensor | None:
        weights = self.data.weights_of(self.seeds[self.pairs[0]], self.seeds[self.pairs[1]])
        return None if weights is None else torch.from_numpy(weights).to(device)

    def _permutation(self) -> np.ndarray:
        n = len(self.nodes.get("spatial", self.seeds))
        return np.arange(n) if self.permutation is None else self.permutation


def sample_neighbours(
    graph: sp.csr_matrix, nodes: np.ndarray, fanout: int | None, generator: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw up to ``fanout`` neighbours of each node without replacement (all of them when ``fanout`` is ``None``).

    Returns
    -------
    The edges as two arrays of global indices: the node, and the neighbour drawn for it.
    """
    start = graph.indptr[nodes]
    degree = graph.indptr[nodes + 1] - start
    owner = np.repeat(np.arange(len(nodes)), degree)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(degree) - degree, degree)
    positions = np.repeat(start, degree) + rank
    if fanout is not None and (degree > fanout).any():
        # a random order within each node's neighbours; the first `fanout` of each are kept
        order = np.lexsort((generator.random(len(owner)), owner))
        keep = order[rank < fanout]
        owner, positions = owner[keep], positions[keep]
    return nodes[owner], graph.indices[positions]


def sample_batch(
    data: GraphData,
    anchors: np.ndarray,
    graphs: tuple[str, ...],
    fanouts: tuple[int | None, int | None],
    generator: np.random.Generator,
) -> HostBatch:
    """Build the mini-batch of ``anchors``: each anchor and one random spatial neighbour of it are the seeds.

    Pairing each anchor with a neighbour puts spatial neighbour pairs among the seeds for the spatial loss and
    makes the seeds' spatial neighbourhoods overlap (a smaller subgraph). Each graph in ``graphs`` is then sampled
    2 hops around the seeds, ``fanouts[0]`` neighbours per seed and ``fanouts[1]`` per hop-1 spot.
    """
    anchors = np.asarray(anchors, dtype=np.int64)
    spatial = data.graphs["spatial"]
    _, partners = sample_neighbours(spatial, anchors, 1, generator)
    seeds = np.unique(np.concatenate([anchors, partners]))
    nodes, subgraphs = {}, {}
    for name in graphs:
        nodes[name], subgraphs[name] = _two_hops(data.graphs[name], seeds, fanouts, generator)
    pairs = spatial[seeds][:, seeds].tocoo()  # seeds are sorted: global order = index into seeds
    pairs = np.vstack([pairs.row, pairs.col]).astype(np.int64)
    negative = generator.integers(0, len(seeds), size=pairs.shape)
    return HostBatch(seeds, nodes, subgraphs, pairs, negative, data)


def _two_hops(graph: sp.csr_matrix, seeds: np.ndarray, fanouts, generator) -> tuple[np.ndarray, sp.csr_matrix]:
    """Sample ``graph`` 2 hops around ``seeds``: the subgraph's spots (seeds first) and its local adjacency."""
    first = sample_neighbours(graph, seeds, fanouts[0], generator)
    second = sample_neighbours(graph, np.setdiff1d(first[1], seeds), fanouts[1], generator)
    rows, cols = np.concatenate([first[0], second[0]]), np.concatenate([first[1], second[1]])
    nodes = np.concatenate([seeds, np.setdiff1d(cols, seeds)])
    order = np.argsort(nodes, kind="stable")
    rows, cols = (order[np.searchsorted(nodes, ids, sorter=order)] for ids in (rows, cols))
    adjacency = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(nodes), len(nodes)))
    return nodes, adjacency


def _anchor_stream(n: int, size: int, generator: np.random.Generator):
    """Yield ``size`` spots at a time from random orders of all ``n`` spots (each order used up before the next)."""
    queue = np.empty(0, dtype=np.int64)
    while True:
        while len(queue) < size:
            queue = np.concatenate([queue, generator.permutation(n)])
        yield queue[:size]
        queue = queue[size:]


def _rows(matrix, rows) -> np.ndarray:
    """Rows of a dense or sparse matrix as a dense float32 array."""
    part = matrix[rows]
    return np.ascontiguousarray(part.toarray() if sp.issparse(part) else part, dtype=np.float32)
