"""Mini-batch training of :class:`~semst_sc.nn.SemSTModel` on neighbour-sampled subgraphs, for large tissues.

The subgraphs are sampled here with numpy on the CSR graphs: torch-geometric's ``NeighborLoader`` needs ``pyg-lib``
or ``torch-sparse``, compiled extensions built per torch release and published outside PyPI (data.pyg.org), so
semst_sc does not depend on them. The sampling is the same as ``NeighborLoader``'s: up to
``fanouts[0]`` neighbours of each seed and ``fanouts[1]`` of each of those, drawn without replacement, per graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from tqdm.auto import tqdm

from ._gcn import gcn_adjacency
from ._losses import dicr_loss, spatial_pair_loss, zinb_nll

#: ``minibatch="auto"`` trains on mini-batches from this many spots up
AUTO_MINIBATCH_SPOTS = 50_000


@dataclass
class GraphData:
    """The whole tissue for mini-batch training, kept on the host (numpy / scipy); batches go to the device.

    Attributes
    ----------
    x
        Encoder input (n x genes), dense or CSR (rows are densified per batch).
    counts
        Raw counts the decoder fits (n x genes), dense or CSR.
    size_factors
        Per-spot library size factors (n,).
    spatial, feature
        The spatial and feature graphs: n x n sparse adjacency (the pattern is used).
    semantic
        Semantic vectors (n x d), or ``None`` for a model without FSM.
    """

    x: np.ndarray | sp.csr_matrix
    counts: np.ndarray | sp.csr_matrix
    size_factors: np.ndarray
    spatial: sp.csr_matrix
    feature: sp.csr_matrix
    semantic: np.ndarray | None = None

    def __post_init__(self):
        self.spatial = sp.csr_matrix(self.spatial)
        self.feature = sp.csr_matrix(self.feature)
        n = self.x.shape[0]
        shapes = {
            "counts": self.counts.shape[0],
            "size_factors": len(self.size_factors),
            "spatial": self.spatial.shape[0],
            "feature": self.feature.shape[0],
        }
        if self.semantic is not None:
            shapes["semantic"] = self.semantic.shape[0]
        wrong = {k: v for k, v in shapes.items() if v != n}
        if wrong or self.spatial.shape[1] != n or self.feature.shape[1] != n:
            raise ValueError(f"every input needs one row per spot ({n}): got {wrong or 'non-square graphs'}")

    @property
    def n_obs(self) -> int:
        """Number of spots."""
        return self.x.shape[0]


@dataclass
class Batch:
    """One mini-batch: seed spots and, for each graph, the sampled 2-hop neighbourhood around them.

    Attributes
    ----------
    seeds
        Global indices of the seeds, the spots whose embedding, counts and pairs enter the loss (sorted).
    spatial_nodes, feature_nodes
        Global indices of each subgraph's spots, the seeds first.
    spatial, feature
        The sampled subgraphs (local indices, square): row ``i`` holds the neighbours spot ``i`` averages over
        (a seed's hop-1 sample, a hop-1 spot's hop-2 sample, none for the outer spots).
    positive
        2 x P spatial neighbour pairs among the seeds (indices into ``seeds``).
    negative
        2 x P random seed pairs.
    """

    seeds: np.ndarray
    spatial_nodes: np.ndarray
    spatial: sp.csr_matrix
    feature_nodes: np.ndarray
    feature: sp.csr_matrix
    positive: np.ndarray
    negative: np.ndarray


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
    data: GraphData, anchors: np.ndarray, fanouts: tuple[int | None, int | None], generator: np.random.Generator
) -> Batch:
    """Build the mini-batch of ``anchors``: each anchor and one random spatial neighbour of it are the seeds.

    Pairing each anchor with a neighbour puts spatial neighbour pairs among the seeds for the spatial loss and
    makes the seeds' spatial neighbourhoods overlap (a smaller subgraph). Each graph is then sampled 2 hops around
    the seeds, ``fanouts[0]`` neighbours per seed and ``fanouts[1]`` per hop-1 spot.
    """
    anchors = np.asarray(anchors, dtype=np.int64)
    _, partners = sample_neighbours(data.spatial, anchors, 1, generator)
    seeds = np.unique(np.concatenate([anchors, partners]))
    subgraphs = [_two_hops(graph, seeds, fanouts, generator) for graph in (data.spatial, data.feature)]
    positive = data.spatial[seeds][:, seeds].tocoo()  # seeds are sorted: global order = index into seeds
    positive = np.vstack([positive.row, positive.col]).astype(np.int64)
    negative = generator.integers(0, len(seeds), size=positive.shape)
    return Batch(seeds, *subgraphs[0], *subgraphs[1], positive, negative)


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


class SeedForward(nn.Module):
    """``SemSTModel.forward`` on a mini-batch, computed only where the seeds need it.

    Each GCN encoder runs on its own graph's subgraph (``x`` of that subgraph's spots, the seeds first); the
    fusion, FSM, projection and decoder run on the seeds alone. On complete 2-hop neighbourhoods this gives the
    seeds exactly what :meth:`SemSTModel.forward <semst_sc.nn.SemSTModel.forward>` gives on the whole graphs. A
    module (not a function) so that :class:`~torch.nn.parallel.DistributedDataParallel` can wrap it.

    Parameters
    ----------
    model
        The :class:`~semst_sc.nn.SemSTModel` trained.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(
        self,
        x_spatial: torch.Tensor,
        spatial_adjacency: torch.Tensor,
        x_feature: torch.Tensor,
        feature_adjacency: torch.Tensor,
        semantic: torch.Tensor | None,
        n_seeds: int,
    ) -> dict[str, torch.Tensor]:
        """Return the seeds' two views, embedding ``z`` and ZINB parameters (keys of ``SemSTModel.forward``)."""
        h_spatial = self.model.spatial_encoder(x_spatial, spatial_adjacency)[:n_seeds]
        h_feature = self.model.feature_encoder(x_feature, feature_adjacency)[:n_seeds]
        z = _fuse(self.model, h_spatial, h_feature, semantic)
        mu, theta, pi = self.model.decoder(z)
        return {"h_spatial": h_spatial, "h_feature": h_feature, "z": z, "mu": mu, "theta": theta, "pi": pi}


def _fuse(model: nn.Module, h_spatial: torch.Tensor, h_feature: torch.Tensor, semantic: torch.Tensor | None):
    """Run the part of ``SemSTModel.forward`` after the encoders: concatenation, FSM, projection."""
    z = torch.cat([h_spatial, h_feature], dim=1)
    if model.fsm is not None:
        if semantic is None:
            raise ValueError("this model has an FSM: pass the semantic vectors")
        z = model.fsm(z, semantic)
    return model.projection(z)


def batch_loss(
    forward: nn.Module, weights, data: GraphData, batch: Batch, device: torch.device
) -> dict[str, torch.Tensor]:
    """Return SemST's loss terms on one batch: the loss of ``SemSTModel.loss`` restricted to the seeds.

    ZINB on the seeds' counts, the spatial pair loss on the neighbour pairs among the seeds (and as many random
    seed pairs), DICR on the seeds' two views; ``"total"`` is their sum weighted by ``weights``
    (:class:`~semst_sc.nn.LossWeights`). ``forward`` is a :class:`SeedForward`, possibly wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel`.
    """

    def tensor(matrix, rows):
        return torch.from_numpy(_rows(matrix, rows)).to(device)

    n = len(batch.seeds)
    out = forward(
        tensor(data.x, batch.spatial_nodes),
        gcn_adjacency(batch.spatial).to(device),
        tensor(data.x, batch.feature_nodes),
        gcn_adjacency(batch.feature).to(device),
        None if data.semantic is None else tensor(data.semantic, batch.seeds),
        n,
    )
    size_factors = torch.from_numpy(np.asarray(data.size_factors[batch.seeds], dtype=np.float32)).to(device)
    mu = out["mu"] * size_factors[:, None]
    if batch.positive.shape[1]:
        pairs = [torch.from_numpy(p).to(device) for p in (batch.positive, batch.negative)]
        spatial = spatial_pair_loss(out["z"], *pairs)
    else:  # no neighbour pair among the seeds (a graph without edges)
        spatial = out["z"].sum() * 0
    terms = {
        "zinb": zinb_nll(tensor(data.counts, batch.seeds), mu, out["theta"], out["pi"]),
        "spatial": spatial,
        "dicr": dicr_loss(out["h_spatial"], out["h_feature"]),
    }
    terms["total"] = weights.zinb * terms["zinb"] + weights.spatial * terms["spatial"] + weights.dicr * terms["dicr"]
    return terms


def train_minibatch(
    model: nn.Module,
    data: GraphData,
    *,
    n_steps: int,
    batch_size: int = 1024,
    fanouts: tuple[int | None, int | None] = (10, 10),
    lr: float = 1e-3,
    weight_decay: float = 5e-4,
    rng: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict[str, list[float]]:
    """Train a :class:`~semst_sc.nn.SemSTModel` with Adam on neighbour-sampled mini-batches; labels never enter.

    Each step draws ``batch_size // 2`` anchor spots (walking through a random order of all spots, reshuffled when
    it runs out), adds one spatial neighbour of each as the seeds, samples both graphs 2 hops around the seeds
    (:func:`sample_batch`) and takes one Adam step on :func:`batch_loss`. The cost of a step does not depend on the
    number of spots.

    Inside an initialised ``torch.distributed`` process group (e.g. under ``torchrun``), every process takes its
    share of each step's anchors and the gradients are averaged by
    :class:`~torch.nn.parallel.DistributedDataParallel`: the same steps on the same global batch, split across the
    processes. Every process must call this with the same arguments.

    Parameters
    ----------
    model
        A :class:`~semst_sc.nn.SemSTModel` on ``device``.
    data
        The whole tissue.
    n_steps
        Optimiser steps.
    batch_size
        Seed spots per step, over all processes.
    fanouts
        Neighbours sampled per spot at the first and the second hop of each graph (``None``: all).
    lr, weight_decay
        Adam settings.
    rng
        Seed of the anchor order and of the neighbour sampling.
    device
        Where the batches are computed.
    progress
        Show a progress bar (on the first process only).

    Returns
    -------
    Per-step values of each loss term and of the total (averaged over the processes).
    """
    from ._distributed import average_terms, process_group

    rank, world_size = process_group()
    if n_steps < 1:
        raise ValueError(f"n_steps must be positive, got {n_steps}")
    if batch_size < 2 * world_size:
        raise ValueError(f"batch_size must be at least 2 per process ({2 * world_size}), got {batch_size}")
    device = torch.device(device)
    forward = SeedForward(model)
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        forward = DistributedDataParallel(forward, device_ids=[device.index] if device.type == "cuda" else None)
    anchors = _anchor_stream(data.n_obs, batch_size // 2, np.random.default_rng(rng))
    sampler = np.random.default_rng([rng, rank])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history: dict[str, list[float]] = {}
    model.train()
    bar = tqdm(range(n_steps), desc="training SemSTModel (mini-batch)", disable=not progress or rank != 0)
    for _ in bar:
        batch = sample_batch(data, next(anchors)[rank::world_size], fanouts, sampler)
        terms = batch_loss(forward, model.weights, data, batch, device)
        optimizer.zero_grad()
        terms["total"].backward()
        optimizer.step()
        values = average_terms({k: terms[k].detach() for k in ("total", *(k for k in terms if k != "total"))})
        for key, value in values.items():
            history.setdefault(key, []).append(value)
    model.eval()
    return history


@torch.no_grad()
def embed_layerwise(
    model: nn.Module, data: GraphData, *, chunk_size: int = 65_536, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Embed every spot of a trained :class:`~semst_sc.nn.SemSTModel` exactly, layer by layer, without autograd.

    Each GCN encoder runs once on the whole graph (sparse products: memory grows with spots and edges); the
    fusion, FSM and projection of ``SemSTModel.forward`` then run on chunks of ``chunk_size`` spots.

    Returns
    -------
    The n x latent embedding ``z`` (on ``device``), the same as ``SemSTModel.embed`` on the full graphs.
    """
    device = torch.device(device)
    model.eval()
    x = torch.from_numpy(_rows(data.x, slice(None))).to(device)
    h_spatial = model.spatial_encoder(x, gcn_adjacency(data.spatial).to(device))
    h_feature = model.feature_encoder(x, gcn_adjacency(data.feature).to(device))
    del x
    chunks = []
    for start in range(0, data.n_obs, chunk_size):
        rows = slice(start, start + chunk_size)
        semantic = None if data.semantic is None else torch.from_numpy(_rows(data.semantic, rows)).to(device)
        chunks.append(_fuse(model, h_spatial[rows], h_feature[rows], semantic))
    return torch.cat(chunks)


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
