from __future__ import annotations

import inspect
import time
from contextlib import nullcontext
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from .. import _constants as C
from .._docs import doc_params
from .._settings import settings
from .._utils import (
    check_adata,
    check_integer,
    check_number,
    check_prepared_for,
    output_of,
    params_of,
    prepared_counts,
    require_graph,
    require_obsm,
    require_prepared,
)

#: training settings ``train_kwargs`` may hold, with their defaults (``None`` for weight_decay: the encoder's)
TRAIN_DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "weight_decay": None,
    "recon_batch_size": 1024,
    "pair_batch_size": 16384,
    "minibatch": "auto",
    "minibatch_size": 1024,
    "fanouts": (10, 10),
    "distributed": False,
    "average_from": 0.5,
}


@doc_params
def semst(
    adata: AnnData,
    *,
    encoder: Any = "auto",
    encoder_kwargs: dict[str, Any] | None = None,
    train_kwargs: dict[str, Any] | None = None,
    n_epochs: int | None = None,
    semantic_key: str | None = C.SEMANTIC_KEY,
    connectivity_key: str = C.SPATIAL_GRAPH_KEY,
    feature_connectivity_key: str = C.FEATURE_GRAPH_KEY,
    covariate_key: str | None = None,
    rng: int = 0,
    device: str | None = None,
    key_added: str = C.EMBEDDING_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Learn spot embeddings with a graph encoder, modulated by the gene semantics (FSM); labels are never read.

    The default encoder is SemST's: spatial and feature GCNs, FSM, projection and a ZINB decoder fitted to the raw
    counts (:class:`~semst_sc.nn.SemSTModel`). Encoders come from :data:`semst_sc.nn.ENCODERS`; each carries its
    own defaults (input, epochs, weight decay, what is clustered). Training runs a fixed number of steps, full
    batch or, on large tissues, on neighbour-sampled mini-batches (``train_kwargs``).

    Parameters
    ----------
    adata
        Output of :func:`semst_sc.pp.prepare` with the graphs the encoder uses and (unless ``semantic_key=None``)
        the semantic vectors; the raw counts still where ``prepare`` read them (``X`` or its ``layer``).
    encoder
        A registered name (``"dual"``: SemST's dual-view GCN with a ZINB decoder; ``"contrastive"``: a
        GraphST-style contrastive GCN on the spatial graph, clustered on its spatially decoded reconstruction),
        ``"auto"``, or a :class:`~semst_sc.nn.SpotEncoder` instance built for this data (trained in place, from
        the weights it holds: build a new one for each run that should start afresh). ``"auto"`` is
        ``"contrastive"`` for several sections at spot resolution trained full batch (:func:`~semst_sc.pp.prepare`
        with ``library_key``; fewer than :data:`~semst_sc.nn.AUTO_MINIBATCH_SPOTS` spots; no ``encoder_kwargs``
        or ``covariate_key``), where it found better shared domains (``docs/method.md``), and ``"dual"`` otherwise.
    encoder_kwargs
        Keyword arguments of the encoder class, e.g. ``{"latent_dim": 64, "spatial_weight": 0.1}`` for ``"dual"``.
    train_kwargs
        Training settings: ``lr`` (1e-3), ``weight_decay`` (the encoder's), ``recon_batch_size`` (1024 spots
        reconstructed per full-batch step; ``None``: all), ``pair_batch_size`` (16384 neighbour pairs per
        full-batch step; ``None``: all), ``minibatch`` (``"auto"``: neighbour-sampled mini-batches from 50,000
        spots; ``True``/``False``), ``minibatch_size`` (1024 seed spots per step), ``fanouts`` ((10, 10)
        neighbours sampled at hops 1 and 2; ``None`` for a hop: all its neighbours), ``distributed``
        (data-parallel across the processes of a ``torchrun`` job; implies mini-batches), ``average_from`` (0.5:
        the parameters averaged over the steps from this share of training on, stochastic weight averaging, see
        :func:`semst_sc.nn.train`; ``None``: the last step's; ``docs/method.md``).
    n_epochs
        Training steps (``None``: the encoder's default, 100 for ``"dual"``, 300 for ``"contrastive"``).
    semantic_key
        ``obsm`` key of the semantic vectors; ``None`` trains without FSM.
    connectivity_key
        {doc_connectivity_key}
    feature_connectivity_key
        Expression graph of encoders that use one: ``obsp['{feature_connectivity_key}_connectivities']``.
    covariate_key
        ``obs`` column of a categorical covariate (e.g. the section, ``'library_id'``) that the decoder of encoders
        taking covariates (``"dual"``) sees beside the embedding, one-hot, as scVI sees its batch; ``None``: none.
        Not the default of several sections: per-section scaling (:func:`~semst_sc.pp.prepare`) already takes
        their differences out, and the covariate changed no accuracy (``docs/method.md``).
    rng
        Seed: the same seed gives the same embedding on the same machine and thread count.
    device
        Torch device (``None``: :attr:`semst_sc.settings.device`).
    key_added
        ``obsm`` key of the embedding; metadata go to ``uns[key_added.removeprefix('X_')]``. A key that would
        overwrite the semantic vectors, ``obsm['spatial']`` or another step's ``uns`` entry is refused.
    copy
        {doc_copy}

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``obsm['{key_added}']`` (``'X_semst'``)
        The embedding (float32, n_obs x the encoder's embedding size).
    ``uns[...]`` (``'semst'``: ``key_added`` without its ``X_``, as scanpy's ``X_pca`` and ``pca``)
        ``params`` (encoder, its settings and the training settings, ``None`` stored as ``""``, in ``fanouts`` as
        ``-1``) and ``loss_history`` (per-step total and each loss term).
    """
    import torch

    from .. import nn

    check_adata(adata)
    _check_key_added(adata, key_added, semantic_key)
    options = _train_options(train_kwargs)
    requested = encoder if isinstance(encoder, str) else ""
    if encoder == "auto":
        encoder = _auto_encoder(adata, options, encoder_kwargs, covariate_key)
    cls = type(encoder) if isinstance(encoder, nn.SpotEncoder) else nn.get_encoder(encoder)
    if isinstance(encoder, nn.SpotEncoder) and encoder_kwargs:
        raise ValueError("encoder_kwargs build a registered encoder: pass them to your instance's constructor instead")
    _check_encoder_kwargs(cls, encoder_kwargs)
    name = encoder if isinstance(encoder, str) else cls.__name__
    n_epochs = cls.n_epochs if n_epochs is None else n_epochs
    check_integer(n_epochs, "n_epochs")
    check_integer(rng, "rng", minimum=0)
    rng = int(rng)  # torch's generators take Python integers only (a seed from np.arange too)
    weight_decay = cls.weight_decay if options["weight_decay"] is None else options["weight_decay"]
    use_minibatch = _use_minibatch(options["minibatch"], options["distributed"], cls, adata.n_obs)
    genes = require_prepared(adata)
    keys = {"spatial": connectivity_key, "feature": feature_connectivity_key}
    producers = {"spatial": "sst.pp.spatial_graph(adata)", "feature": "sst.pp.feature_graph(adata)"}
    graphs = {g: require_graph(adata, keys[g], producers[g]) for g in dict.fromkeys(("spatial", *cls.graphs))}
    if "feature" in cls.graphs:
        entry = adata.uns.get(C.neighbors_key(feature_connectivity_key))
        check_prepared_for(adata, entry, f"the expression graph '{feature_connectivity_key}'", producers["feature"])
    semantic = None
    if semantic_key is not None:
        semantic = np.asarray(require_obsm(adata, semantic_key, "sst.pp.gene_semantics(adata)"), dtype=np.float32)
        check_prepared_for(
            adata, adata.uns.get(C.uns_key(semantic_key)), f"obsm['{semantic_key}']", "sst.pp.gene_semantics(adata)"
        )
        if not np.isfinite(semantic).all():
            raise ValueError(
                f"obsm['{semantic_key}'] has NaN or infinite values: compute it again with sst.pp.gene_semantics(adata)"
            )
    dev = torch.device(settings.resolve_device(device))

    counts = prepared_counts(adata, genes)  # in X or the layer sst.pp.prepare read them from: never copied
    x = INPUTS[cls.input_transform](adata, genes, counts)
    totals = counts.sum(axis=1)
    size_factors = (totals / np.median(totals[totals > 0])).astype(np.float32)
    covariates = _one_hot(adata, covariate_key)
    if covariates is not None and not cls.covariates:
        raise ValueError(f"{name} takes no covariates: leave covariate_key=None")

    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):  # the caller's random state kept
        torch.manual_seed(rng)
        if isinstance(encoder, nn.SpotEncoder):
            model = encoder
        else:
            sections = {} if covariates is None else {"n_covariates": covariates.shape[1]}
            model = cls(
                x.shape[1],
                counts.shape[1],
                None if semantic is None else semantic.shape[1],
                **(encoder_kwargs or {}),
                **sections,
            )
        _check_model(model, semantic, covariates)
        pair_weights = None
        if model.pair_weighting == "similarity":
            pair_weights = nn.pair_similarity_weights(x, graphs["spatial"], rng=rng)
        data = nn.GraphData(x, counts, size_factors, graphs, semantic, covariates, pair_weights)

        start = time.perf_counter()
        world_size = 1
        with settings.torch_threads() as n_threads:
            with nn.distributed_session(dev.type) if options["distributed"] else nullcontext(dev) as dev:
                from ..nn._distributed import process_group, share_from_first

                rank, world_size = process_group()
                model = model.to(dev)
                if use_minibatch:
                    sampler = nn.NeighbourSampler(
                        data,
                        cls.graphs,
                        dev,
                        options["minibatch_size"],
                        tuple(options["fanouts"]),
                        rng,
                        rank,
                        world_size,
                    )
                else:
                    sampler = nn.FullBatchSampler(
                        data,
                        cls.graphs,
                        dev,
                        recon_batch_size=options["recon_batch_size"],
                        pair_batch_size=options["pair_batch_size"],
                        rng=rng,
                    )
                try:
                    history = nn.train(
                        model,
                        sampler,
                        n_steps=int(n_epochs),
                        lr=options["lr"],
                        weight_decay=weight_decay,
                        average_from=options["average_from"],
                        progress=settings.progress,
                    )
                except (RuntimeError, IndexError) as err:  # torch's shape errors name matrices, not genes
                    if model is encoder and any(word in str(err) for word in ("shape", "size", "dimension")):
                        raise ValueError(_misfit_instance(cls, x, counts, semantic, err)) from err
                    raise
                z = nn.embed(model, sampler) if rank == 0 else None
                z = share_from_first(z, (adata.n_obs, model.embedding_dim), dev).cpu().numpy().astype(np.float32)
    if not np.isfinite(z).all():
        raise FloatingPointError(
            "training diverged (non-finite embedding): lower train_kwargs['lr'] or check the counts"
        )
    how = f"mini-batch steps on {world_size} process(es)" if use_minibatch else "full-batch epochs"
    logg.info(f"trained {name} for {n_epochs} {how} in {time.perf_counter() - start:.1f} s on {dev}")

    out = output_of(adata, copy)
    out.obsm[key_added] = z
    out.uns[C.uns_key(key_added)] = {
        "params": {
            "encoder": name,
            "encoder_requested": requested,
            "encoder_kwargs": _storable(encoder_kwargs or {}),
            "pair_weighting": model.pair_weighting,
            "mean_pair_weight": 1.0 if pair_weights is None else float(pair_weights.data.mean()),
            "embedding": cls.embedding,
            "input": cls.input_transform,
            "n_epochs": int(n_epochs),
            **_storable({**options, "weight_decay": weight_decay, "minibatch": use_minibatch}),
            "semantic_key": semantic_key or "",
            "connectivity_key": connectivity_key,
            "feature_connectivity_key": feature_connectivity_key if "feature" in cls.graphs else "",
            "covariate_key": covariate_key or "",
            "n_covariates": 0 if covariates is None else covariates.shape[1],
            "world_size": world_size,
            "rng": rng,
            "device": str(dev),
            "n_threads": n_threads,
            "n_genes": int(genes.sum()),
        },
        "loss_history": {k: np.asarray(v, dtype=np.float32) for k, v in history.items()},
    }
    return out if copy else None


def _check_key_added(adata: AnnData, key_added, semantic_key: str | None) -> None:
    """Refuse a ``key_added`` whose embedding or metadata would replace an input or another step's output."""
    if not isinstance(key_added, str) or not C.uns_key(key_added):
        raise ValueError(f"key_added must be an obsm key such as 'X_semst', got {key_added!r}")
    if key_added in (semantic_key, C.SPATIAL_KEY):
        what = "spatial coordinates" if key_added == C.SPATIAL_KEY else "semantic vectors this training reads"
        raise ValueError(f"key_added={key_added!r} would overwrite obsm['{key_added}'], the {what}: choose another key")
    uns_key = C.uns_key(key_added)
    if uns_key in adata.uns and "encoder" not in params_of(adata.uns[uns_key]):
        raise ValueError(
            f"key_added={key_added!r} would overwrite uns['{uns_key}'], which sst.tl.semst did not write (the "
            "metadata go to uns[key_added without its 'X_']): choose another key"
        )


def _train_options(train_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """Merge ``train_kwargs`` into the defaults, rejecting unknown keys and values that cannot work."""
    if train_kwargs is not None and not isinstance(train_kwargs, dict):
        raise TypeError(f"train_kwargs must be a dict of tl.semst training settings, got {train_kwargs!r}")
    from ..nn._distributed import check_process_group

    unknown = set(train_kwargs or {}) - set(TRAIN_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown train_kwargs {sorted(unknown)}; known: {sorted(TRAIN_DEFAULTS)}")
    options = {**TRAIN_DEFAULTS, **(train_kwargs or {})}
    if options["minibatch"] not in (True, False, "auto"):
        raise ValueError(f"train_kwargs['minibatch'] must be True, False or 'auto', got {options['minibatch']!r}")
    if options["distributed"] and options["minibatch"] is False:
        raise ValueError("distributed training trains on mini-batches: use minibatch=True or 'auto'")
    if options["distributed"]:
        check_process_group()  # outside torchrun: before any work
    for key in ("recon_batch_size", "pair_batch_size"):
        check_integer(options[key], f"train_kwargs['{key}']", optional=True)
    check_integer(options["minibatch_size"], "train_kwargs['minibatch_size']", minimum=2)
    fanouts = options["fanouts"]
    if not isinstance(fanouts, tuple | list) or len(fanouts) != 2:
        raise ValueError(f"train_kwargs['fanouts'] must be two neighbour counts (first hop, second), got {fanouts!r}")
    for fanout in fanouts:
        check_integer(fanout, "each of train_kwargs['fanouts']", optional=True)  # None: all neighbours
    check_number(options["lr"], "train_kwargs['lr']", positive=True)
    check_number(options["weight_decay"], "train_kwargs['weight_decay']", optional=True)
    average_from = options["average_from"]
    in_range = isinstance(average_from, Real) and not isinstance(average_from, bool) and 0 <= average_from < 1
    if average_from is not None and not in_range:
        raise ValueError(f"train_kwargs['average_from'] must be in [0, 1) or None, got {average_from!r}")
    return options


def _check_encoder_kwargs(cls: type, encoder_kwargs: dict[str, Any] | None) -> None:
    """Reject ``encoder_kwargs`` that are not a dict of ``cls``'s own settings (its keyword-only arguments)."""
    if encoder_kwargs is None:
        return
    if not isinstance(encoder_kwargs, dict):
        raise TypeError(f"encoder_kwargs must be a dict of encoder settings, got {encoder_kwargs!r}")
    parameters = inspect.signature(cls.__init__).parameters.values()
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return  # the encoder takes any keyword: it checks them itself
    known = {
        parameter.name
        for parameter in parameters
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.name != "n_covariates"  # covariate_key's
    }
    unknown = set(encoder_kwargs) - known
    if unknown:
        raise ValueError(f"unknown encoder_kwargs {sorted(unknown)} for {cls.__name__}; known: {sorted(known)}")


def _auto_encoder(adata: AnnData, options: dict, encoder_kwargs: dict | None, covariate_key: str | None) -> str:
    """Return the encoder ``"auto"`` stands for.

    ``"contrastive"`` for several sections at spot resolution trained full batch (and nothing asked of the dual
    encoder), ``"dual"`` otherwise.
    """
    from ..nn import AUTO_MINIBATCH_SPOTS

    params = params_of(adata.uns.get(C.PREPARE_KEY))
    library_key = params.get("library_key") or None
    several = library_key is not None and library_key in adata.obs and adata.obs[library_key].nunique() > 1
    full_batch = options["minibatch"] is not True and not options["distributed"] and adata.n_obs < AUTO_MINIBATCH_SPOTS
    joint = several and params.get("resolution") == "spot" and full_batch
    name = "contrastive" if joint and not encoder_kwargs and covariate_key is None else "dual"
    why = ""
    if joint:  # several sections at spot resolution take the contrastive encoder, unless asked the dual's settings
        asked = "encoder settings given" if encoder_kwargs else "covariate_key given"
        why = " (several sections at spot resolution)" if name == "contrastive" else f" ({asked})"
    logg.info(f"encoder 'auto': {name!r}{why}")
    return name


def _use_minibatch(minibatch, distributed: bool, cls, n_obs: int) -> bool:
    """Resolve ``minibatch`` (``True``, ``False`` or ``"auto"``) for this encoder and tissue."""
    from ..nn import _data

    if minibatch is True or distributed:
        if not cls.supports_minibatch:
            raise ValueError(f"{cls.__name__} does not train on mini-batches: use minibatch=False")
        return True
    return minibatch == "auto" and cls.supports_minibatch and n_obs >= _data.AUTO_MINIBATCH_SPOTS


def _misfit_instance(cls, x: np.ndarray, counts, semantic: np.ndarray | None, err: Exception) -> str:
    """Say how to build an encoder instance for these data, after it failed on their shapes."""
    semantic_dim = None if semantic is None else semantic.shape[1]
    return (
        f"the encoder instance does not fit the data ({err}): build it as {cls.__name__}({x.shape[1]}, "
        f"{counts.shape[1]}, {semantic_dim}): n_input and n_output are the {int(counts.shape[1])} genes "
        f"sst.pp.prepare modelled (var['{C.MODELLED_KEY}']), semantic_dim the width of the semantic vectors "
        "(None without them)"
    )


def _check_model(model, semantic: np.ndarray | None, covariates: np.ndarray | None) -> None:
    """Raise when the encoder's FSM and the semantic vectors, or its decoder and the sections, do not go together."""
    if model.fsm is not None and semantic is None:
        raise ValueError("the encoder has an FSM but semantic_key=None: pass the key of the semantic vectors")
    if model.fsm is None and semantic is not None:
        raise ValueError("the encoder has no FSM: build it with semantic_dim, or pass semantic_key=None")
    expected = 0 if covariates is None else covariates.shape[1]
    taken = getattr(model, "n_covariates", 0) if model.covariates else 0
    if taken != expected:
        raise ValueError(
            f"the encoder's decoder takes {taken} covariates but the data give {expected} "
            "(one per category of covariate_key, else none): build it with n_covariates="
            f"{expected}"
        )


def _one_hot(adata: AnnData, covariate_key: str | None) -> np.ndarray | None:
    """``obs[covariate_key]`` one-hot (n x categories), or ``None`` without a key."""
    if covariate_key is None:
        return None
    if covariate_key not in adata.obs:
        raise KeyError(f"covariate_key: obs['{covariate_key}'] not found; obs columns: {list(adata.obs.columns)}")
    values = adata.obs[covariate_key]
    if values.isna().any():
        raise ValueError(f"obs['{covariate_key}'] has {int(values.isna().sum())} missing values: fill or remove them")
    codes, categories = pd.factorize(values.astype(str), sort=True)
    if len(categories) > adata.n_obs // 2:
        raise ValueError(f"obs['{covariate_key}'] has {len(categories)} values: a covariate is categorical (sections)")
    one_hot = np.zeros((adata.n_obs, len(categories)), dtype=np.float32)
    one_hot[np.arange(adata.n_obs), codes] = 1.0
    return one_hot


def _storable(values: dict[str, Any]) -> dict[str, Any]:
    """Return values ``.h5ad`` can store: ``None`` as ``""``, tuples as lists, ``None`` in them (a fanout's all) -1."""

    def storable(value):
        if isinstance(value, tuple | list):  # one type per list: .h5ad stores no None in a list of numbers
            return [-1 if v is None else v for v in value]
        return "" if value is None else value

    return {k: storable(v) for k, v in values.items()}


def _scaled(adata: AnnData, genes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """SemST's input: ``layers['semst_scaled']`` of the modelled genes."""
    return _dense(adata.layers[C.SCALED_LAYER][:, genes])


def _log_standardised(adata: AnnData, genes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """GraphST's input: :func:`semst_sc.nn.standardised_log` of the modelled genes' counts (all sections together)."""
    from ..nn import standardised_log

    return standardised_log(counts)


#: encoder inputs by :attr:`~semst_sc.nn.SpotEncoder.input_transform`
INPUTS = {"scaled": _scaled, "log_standardised": _log_standardised}


def _dense(matrix) -> np.ndarray:
    return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=np.float32)
