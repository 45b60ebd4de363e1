from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from typing import Literal

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from .. import _constants as C
from .._settings import settings
from .._utils import check_adata, require_graph, require_obsm, require_prepared


def semst(
    adata: AnnData,
    *,
    n_epochs: int | None = None,
    encoder: Literal["dual", "contrastive"] = "dual",
    semantic_key: str | None = C.SEMANTIC_KEY,
    spatial_key: str = C.SPATIAL_GRAPH_KEY,
    feature_key: str = C.FEATURE_GRAPH_KEY,
    hidden_dim: int = 256,
    latent_dim: int = 128,
    lr: float = 1e-3,
    weight_decay: float | None = None,
    spatial_weight: float = 0.1,
    dicr_weight: float = 0.1,
    recon_batch_size: int | None = 1024,
    pair_batch_size: int | None = 16384,
    minibatch: bool | Literal["auto"] = "auto",
    minibatch_size: int = 1024,
    distributed: bool = False,
    rng: int = 0,
    device: str = "auto",
    progress: bool = True,
    key_added: str = C.EMBEDDING_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Learn SemST spot embeddings: dual-view GCN, semantic modulation (FSM) and a ZINB decoder.

    Trains for a fixed number of epochs with the loss
    ``ZINB + spatial_weight * spatial pairs + dicr_weight * DICR``; no label is read.

    Parameters
    ----------
    adata
        Output of :func:`semst_sc.pp.prepare` with both graphs and (unless ``semantic_key=None``)
        the semantic vectors.
    n_epochs
        Training steps: full-batch steps, or mini-batch steps of ``minibatch_size`` spots each
        (``None``: 100 for ``"dual"``, 300 for ``"contrastive"``).
    encoder
        ``"dual"``: SemST's spatial + feature GCNs with a ZINB decoder (:class:`~semst_sc.nn.SemSTModel`).
        ``"contrastive"``: a GraphST-style contrastive GCN autoencoder on the spatial graph
        (:class:`~semst_sc.nn.ContrastiveGCN`, latent size 64), with the FSM on its representation; as in
        GraphST, its input is the log-normalised expression of the modelled genes, standardised per
        gene, and the embedding is the spatially decoded reconstruction of that input;
        ``hidden_dim``, ``latent_dim``, the loss weights and the batch sizes apply to ``"dual"`` only.
    semantic_key
        ``obsm`` key of the semantic vectors; ``None`` trains without FSM.
    spatial_key, feature_key
        Prefixes of the spatial and feature graphs in ``obsp``.
    hidden_dim, latent_dim
        Widths of the GCN layers; the embedding has ``latent_dim`` dimensions.
    lr, weight_decay
        Adam settings (``weight_decay=None``: 5e-4 for ``"dual"``, 0 for ``"contrastive"`` as in GraphST).
    spatial_weight, dicr_weight
        Weights of the spatial pair loss and of the DICR loss (the ZINB loss has weight 1).
    recon_batch_size
        Spots drawn at random each epoch for the ZINB reconstruction term (an unbiased estimate of
        the full term at a fraction of its cost); ``None`` reconstructs every spot every epoch.
    pair_batch_size
        Spatial neighbour pairs (and as many random pairs) drawn each epoch for the spatial loss;
        ``None`` uses every neighbour pair every epoch.
    minibatch
        Train on neighbour-sampled mini-batches (:func:`~semst_sc.nn.train_minibatch`): each step takes
        ``minibatch_size`` spots with both graphs sampled 2 hops around them, so its cost does not grow with the
        tissue, and the spots are then embedded layer by layer on the full graphs. ``"auto"``: from 50,000 spots
        on (``encoder="dual"`` only). ``recon_batch_size`` and ``pair_batch_size`` apply to full-batch training.
    minibatch_size
        Spots per mini-batch step (over all processes when distributed).
    distributed
        Data-parallel mini-batch training across the processes of a ``torchrun`` job (``torch.distributed``,
        ``gloo`` on CPUs, ``nccl`` on GPUs), e.g. ``torchrun --nproc-per-node 2 script.py``: every process runs the
        same script on the same data, takes its share of each step's spots, and gets the same embedding. Implies
        mini-batch training.
    rng
        Seed: the same seed gives the same embedding on the same machine.
    device
        ``"auto"`` (GPU when available), ``"cpu"`` or ``"cuda"``.
    progress
        Show a progress bar.
    key_added
        ``obsm`` key of the embedding; metadata go to ``uns[key_added.removeprefix('X_')]``.
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``obsm['X_semst']``
        The embedding (float32, n_obs x latent_dim; n_obs x modelled genes with ``encoder="contrastive"``).
    ``uns['semst']``
        ``params`` and ``loss_history`` (per-epoch total and each loss term).
    """
    import torch

    from ..nn import ContrastiveGCN, LossWeights, SemSTModel, TrainingData, embed, gcn_adjacency, train
    from ..nn._distributed import distributed_session, process_group, share_from_first
    from ..nn._minibatch import GraphData, embed_layerwise, train_minibatch

    check_adata(adata)
    if encoder not in ("dual", "contrastive"):
        raise ValueError(f"encoder must be 'dual' or 'contrastive', got {encoder!r}")
    use_minibatch = _use_minibatch(minibatch, distributed, encoder, adata.n_obs)
    genes = require_prepared(adata)
    spatial_adj = require_graph(adata, spatial_key, "sst.pp.spatial_graph(adata)")
    feature_adj = require_graph(adata, feature_key, "sst.pp.feature_graph(adata)")
    semantic = None
    if semantic_key is not None:
        semantic = np.asarray(require_obsm(adata, semantic_key, "sst.pp.gene_semantics(adata)"), dtype=np.float32)
    n_epochs = n_epochs if n_epochs is not None else (100 if encoder == "dual" else 300)
    weight_decay = weight_decay if weight_decay is not None else (5e-4 if encoder == "dual" else 0.0)
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be positive, got {n_epochs}")
    dev = torch.device(settings.resolve_device(device))

    counts = _dense(adata.layers[C.COUNTS_LAYER][:, genes])
    x = _dense(adata.layers[C.SCALED_LAYER][:, genes]) if encoder == "dual" else _standardised_log(counts)
    totals = counts.sum(axis=1)
    size_factors = (totals / np.median(totals[totals > 0])).astype(np.float32)

    torch.manual_seed(rng)
    generator = torch.Generator().manual_seed(rng)
    semantic_dim = None if semantic is None else semantic.shape[1]
    if encoder == "dual":
        weights = LossWeights(spatial=spatial_weight, dicr=dicr_weight)
        model = SemSTModel(
            x.shape[1], counts.shape[1], semantic_dim, hidden_dim=hidden_dim, latent_dim=latent_dim, weights=weights
        )
    else:
        model = ContrastiveGCN(x.shape[1], semantic_dim)

    start = time.perf_counter()
    world_size = 1
    if use_minibatch:
        graphs = GraphData(x, counts, size_factors, spatial_adj, feature_adj, semantic)
        with distributed_session(device) if distributed else nullcontext(dev) as dev:
            rank, world_size = process_group()
            model = model.to(dev)
            with _deterministic():
                history = train_minibatch(
                    model,
                    graphs,
                    n_steps=n_epochs,
                    batch_size=minibatch_size,
                    lr=lr,
                    weight_decay=weight_decay,
                    rng=rng,
                    device=dev,
                    progress=progress,
                )
                z = embed_layerwise(model, graphs, device=dev) if rank == 0 else None
            z = share_from_first(z, (adata.n_obs, latent_dim), dev).cpu().numpy().astype(np.float32)
    else:
        coo = spatial_adj.tocoo()
        data = TrainingData(
            x=torch.from_numpy(x).to(dev),
            counts=torch.from_numpy(counts).to(dev),
            size_factors=torch.from_numpy(size_factors).to(dev),
            spatial_adjacency=gcn_adjacency(spatial_adj).to(dev),
            feature_adjacency=gcn_adjacency(feature_adj).to(dev),
            positive=torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64)).to(dev),
            semantic=None if semantic is None else torch.from_numpy(semantic).to(dev),
        )
        model = model.to(dev)
        with _deterministic():
            history = train(
                model,
                data,
                n_epochs=n_epochs,
                lr=lr,
                weight_decay=weight_decay,
                recon_batch_size=recon_batch_size,
                pair_batch_size=pair_batch_size,
                generator=generator,
                progress=progress,
            )
            z = embed(model, data).cpu().numpy().astype(np.float32)
    if not np.isfinite(z).all():
        raise FloatingPointError("training diverged (non-finite embedding): lower lr or check the input counts")
    how = f"mini-batch steps on {world_size} process(es)" if use_minibatch else "epochs"
    logg.info(f"trained the {encoder} model for {n_epochs} {how} in {time.perf_counter() - start:.1f} s on {dev}")

    out = adata.copy() if copy else adata
    out.obsm[key_added] = z
    out.uns[key_added.removeprefix("X_")] = {
        "params": {
            "n_epochs": n_epochs,
            "encoder": encoder,
            "semantic_key": semantic_key,
            "spatial_key": spatial_key,
            "feature_key": feature_key,
            "hidden_dim": hidden_dim,
            "latent_dim": latent_dim,
            "lr": lr,
            "weight_decay": weight_decay,
            "spatial_weight": spatial_weight,
            "dicr_weight": dicr_weight,
            "recon_batch_size": recon_batch_size,
            "pair_batch_size": pair_batch_size,
            "minibatch": use_minibatch,
            "minibatch_size": minibatch_size,
            "distributed": distributed,
            "world_size": world_size,
            "rng": rng,
            "device": str(dev),
            "n_genes": int(genes.sum()),
        },
        "loss_history": {k: np.asarray(v, dtype=np.float32) for k, v in history.items()},
    }
    return out if copy else None


def _use_minibatch(minibatch, distributed: bool, encoder: str, n_obs: int) -> bool:
    """Resolve ``minibatch`` (``True``, ``False`` or ``"auto"``) against the other arguments."""
    from ..nn._minibatch import AUTO_MINIBATCH_SPOTS

    if minibatch not in (True, False, "auto"):
        raise ValueError(f"minibatch must be True, False or 'auto', got {minibatch!r}")
    if distributed and minibatch is False:
        raise ValueError("distributed training trains on mini-batches: use minibatch=True or 'auto'")
    if minibatch is True or distributed:
        if encoder != "dual":
            raise ValueError("mini-batch and distributed training are for encoder='dual'")
        return True
    return minibatch == "auto" and encoder == "dual" and n_obs >= AUTO_MINIBATCH_SPOTS


@contextmanager
def _deterministic():
    """Use torch's deterministic kernels while training (CPU scatter-adds otherwise vary run to run)."""
    import torch

    settings = torch.utils.deterministic
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        settings.fill_uninitialized_memory,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    settings.fill_uninitialized_memory = False  # filling every new tensor with NaN costs 3x
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        settings.fill_uninitialized_memory = previous[2]


def _standardised_log(counts: np.ndarray) -> np.ndarray:
    """GraphST's input: counts scaled to 1e4 per spot, log1p, standardised per gene, clipped at 10."""
    totals = np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    logged = np.log1p(counts / totals * 1e4)
    scaled = (logged - logged.mean(axis=0)) / np.maximum(logged.std(axis=0), 1e-6)
    return np.clip(scaled, -10, 10).astype(np.float32)


def _dense(matrix) -> np.ndarray:
    return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=np.float32)
