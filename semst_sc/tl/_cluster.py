from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from .. import _constants as C
from .._docs import doc_params
from .._utils import (
    check_adata,
    check_integer,
    obsp_key,
    output_of,
    params_of,
    require_graph,
    require_obsm,
    warn_of_other_domains,
)
from ._merge import merge_to
from ._refine import majority_vote, vote_graph

Method = Literal["gmm", "kmeans", "leiden", "mclust"]
# mclust.options("subset"): R's mclust seeds EM from a hierarchical clustering of a random subset this large
_MCLUST_HC_SUBSET = 2000
#: the BIC elbow: the first added domain whose smoothed gain is under this share of the mean of the first two
ELBOW_SHARE = 0.6


@doc_params
def cluster(
    adata: AnnData,
    n_clusters: int | None = None,
    *,
    method: Method = "gmm",
    model_name: str = "EEE",
    use_rep: str = C.EMBEDDING_KEY,
    n_pcs: int | None = 20,
    refine: bool | None = None,
    merge_extra: bool | None = None,
    connectivity_key: str = C.SPATIAL_GRAPH_KEY,
    max_clusters: int = 15,
    sample_size: int | None = 100_000,
    rng: int = 0,
    key_added: str = C.DOMAIN_KEY,
    copy: bool = False,
) -> AnnData | None:
    """Cluster an embedding into spatial domains, with or without a known number of domains.

    Parameters
    ----------
    adata
        Spots (at least 3) with an embedding in ``obsm[use_rep]``.
    n_clusters
        Number of domains. ``None`` estimates it over 2..``max_clusters``. ``gmm``: the smaller of two numbers,
        the elbow of the BIC curve (the last K before the first added domain whose BIC gain is under 0.6 of the
        mean of the first two, the gains made non-increasing by isotonic regression so that one poor fit does not
        end the search) and the spatially coherent K (the last K before the first at which some domain keeps less
        than half of its spatial-graph edge weight inside itself). ``kmeans``: the best silhouette. ``leiden``:
        its own partition at resolution 1. ``mclust``: the largest BIC of the ``model_name`` mixture over
        2..``max_clusters``, mclust's own model selection. A ``gmm``, ``kmeans`` or ``mclust`` estimate on 2 or on
        the largest K tried logs a warning.
    method
        ``"gmm"``: Gaussian mixture with one shared (tied) covariance on a PCA of the embedding,
        the scikit-learn counterpart of mclust's EEE model; ``"kmeans"``; ``"leiden"``: Leiden on
        a kNN graph of the embedding, its resolution searched to reach ``n_clusters``; ``"mclust"``: mclust's
        Gaussian mixture (covariance model ``model_name``) on a PCA of the embedding, as GraphST, STAGATE and
        most spatial-domain papers run R's mclust, here through the pure-Python re-implementation ``pymclustr``
        (import name ``mclust_py``; GPL-3.0, an optional dependency: ``pip install semst_sc[mclust]``). As in
        R's ``Mclust``, EM starts from the model-based hierarchical clustering (``hcVVV``) of the spots, or of
        2000 of them (R's ``mclust.options("subset")``) drawn at random (seeded by ``rng``) when there are more;
        with fewer spots the result does not depend on ``rng``.
    model_name
        mclust covariance model of ``method="mclust"`` (``"EEE"``: one shared full covariance, as GraphST and
        STAGATE use; any of mclust's 14 models, e.g. ``"VVV"``, ``"EII"``). Another model with another method is
        refused.
    use_rep
        ``obsm`` key of the embedding.
    n_pcs
        Principal components the methods cluster (``leiden`` aside, which reads the embedding's neighbour graph);
        ``None`` uses the embedding as is.
    refine
        Relabel each observation with the label more than half of its surroundings share, when there is one
        (:func:`semst_sc.tl.refine`): at cell resolution its neighbourhood (``obsp['semst_neighbourhood']``, the
        cells :func:`~semst_sc.pp.prepare` pooled for it), otherwise its spatial neighbours. ``None``: at cell
        resolution only, where the vote lifted the ARI by 0.007 (15 of 20 runs; osmFISH +0.025) and a single
        cell's label is otherwise noisier than a spot's.
    merge_extra
        ``gmm`` only: also fit one component more, vote as ``refine`` says, and merge back the pair of domains with
        the largest ratio of spatial intertwining (the edge weight joining them over the edge weight leaving them) to
        expression distance (their Ward cost under the shared covariance), so that a domain split into two alike,
        interleaved pieces is joined again; then keep, of the two partitions into K domains, the one whose domains
        keep the larger share of the spatial graph's edge weight inside one domain. ``None``: at cell resolution
        only, when the spatial graph (``connectivity_key``) is there (docs/results.md, "Single cells").
    connectivity_key
        {doc_connectivity_key} Read by ``refine`` at spot resolution, by ``merge_extra`` and by the ``gmm`` estimate
        of the number of domains.
    max_clusters
        Largest number of domains tried when ``n_clusters`` is ``None`` (at least 2).
    sample_size
        ``gmm``, ``kmeans`` and ``mclust`` on more spots than this: fit the PCA and the mixture on this many spots
        drawn at random, then label every spot with the fitted model (time and memory stay bounded at millions of
        spots).
        ``None`` fits on every spot.
    rng
        Seed.
    key_added
        ``obs`` column (and ``uns`` key) written.
    copy
        {doc_copy}

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Writes

    ``obs['{key_added}']``
        Domain labels (categorical ``"0"``, ``"1"``, ... by decreasing size).
    ``uns['{key_added}']['params']``
        Method, requested and found number of domains (an estimate also ``n_estimated``, the number before the vote),
        how it was chosen (``estimated_by``), and (``gmm``,
        ``kmeans``, ``mclust``) ``fitted_on``: the number of spots the model was fitted on (fewer than ``n_obs``
        when a sample was used). With ``n_clusters`` given, ``gmm`` and ``mclust`` also record ``loglik``, the
        mixture log-likelihood of the fitted spots. An estimate by ``gmm`` also records its curves, keyed by K as
        strings: ``bic``, and ``coherence`` (the share of spatial-graph edge weight kept inside the least coherent
        domain), with the two numbers they give, ``k_elbow`` and ``k_coherent``; by ``kmeans``: ``scores`` (minus
        the silhouette); by ``mclust``: ``bic`` (lower is better, as scikit-learn's; mclust prints its negative).
        With ``merge_extra``: ``extra_coherence`` (the share of edge weight inside one domain of the direct and of the
        merged partition) and ``extra_kept`` (whether the merged one was kept). With the vote (``refine``):
        ``refined_over``, the ``obsp`` key of the graph voted over (it names the graph as ``connectivity_key`` too).
        ``mclust`` records its ``model_name``, ``leiden`` its ``resolution``.
    """
    check_adata(adata)
    if adata.n_obs < 3:
        raise ValueError(
            f"clustering needs at least 3 spots, the data have {adata.n_obs}: check the filtering or subsetting that "
            "produced them"
        )
    producer = "sst.tl.semst(adata)" if use_rep == C.EMBEDDING_KEY else f"the step that writes obsm['{use_rep}']"
    rep = require_obsm(adata, use_rep, producer)
    rep = np.asarray(rep.toarray() if sp.issparse(rep) else rep, dtype=np.float64)
    if rep.shape[1] == 0:
        raise ValueError(f"obsm['{use_rep}'] has no columns: give use_rep an embedding with at least one")
    if method not in C.CLUSTER_METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, C.CLUSTER_METHODS))}, got {method!r}")
    if method == "mclust":
        _check_model_name(model_name)
    elif model_name != "EEE":
        raise ValueError(
            f"model_name={model_name!r} is read by method='mclust' only ({method!r} fits "
            f"{'one shared covariance, EEE' if method == 'gmm' else 'no covariance model'}): "
            "pass method='mclust' for another covariance model"
        )
    check_integer(n_clusters, "n_clusters", optional=True)
    check_integer(n_pcs, "n_pcs", optional=True)
    check_integer(max_clusters, "max_clusters", minimum=2 if n_clusters is None else 1)
    check_integer(rng, "rng", minimum=0)
    if n_clusters is not None and not 1 <= n_clusters <= adata.n_obs:
        raise ValueError(f"n_clusters must be between 1 and the number of spots ({adata.n_obs}), got {n_clusters}")
    bad = ~np.isfinite(rep).all(axis=1)
    if bad.any():
        raise ValueError(
            f"obsm['{use_rep}'] has NaN or infinite values in {int(bad.sum())} spots (first: "
            f"{adata.obs_names[bad][0]!r}): compute it again ({producer}), or leave those spots out (adata[mask])"
        )
    estimate_on_graph = n_clusters is None and method == "gmm"
    cell_resolution = C.NEIGHBOURHOOD_KEY in adata.obsp
    refine = cell_resolution if refine is None else refine  # by default at cell resolution only
    if merge_extra and method != "gmm":
        raise ValueError(f"merge_extra needs method='gmm' (its shared covariance is the metric), got {method!r}")
    if merge_extra is None:  # by default at cell resolution, where the spatial graph is there to merge over
        graph_key = C.connectivities_key(connectivity_key)
        merge_extra = cell_resolution and method == "gmm" and graph_key in adata.obsp
        if cell_resolution and method == "gmm" and not merge_extra:
            logg.info(f"no obsp['{graph_key}']: no extra domain merged back (sst.pp.spatial_graph adds it)")
    needs_graph = estimate_on_graph or merge_extra
    spatial = (
        require_graph(adata, connectivity_key, "sst.pp.spatial_graph(adata)", spatial=True) if needs_graph else None
    )
    if estimate_on_graph and spatial.nnz == 0:
        raise ValueError(
            f"the spatial graph obsp['{obsp_key(adata, connectivity_key)}'] has no edges, and the number of domains is "
            "estimated from how coherent they are in space: build it with neighbours (sst.pp.spatial_graph(adata)) "
            "or give n_clusters"
        )
    vote, refined_over = vote_graph(adata, connectivity_key) if refine else (None, None)  # checked before the fit
    check_integer(sample_size, "sample_size", optional=True)
    need = 3 if n_clusters is None else n_clusters  # an estimate tries K = 2..(spots fitted - 1)
    if sample_size is not None and sample_size < min(need, adata.n_obs):
        task = "estimate the number of domains" if n_clusters is None else f"fit {n_clusters} domains"
        raise ValueError(f"sample_size={sample_size} spots cannot {task}: give at least {need}")

    info: dict = {}
    if method == "leiden":
        labels = _leiden(rep, n_clusters, rng, info)
    else:
        fit_rows = None
        if sample_size is not None and adata.n_obs > sample_size:
            fit_rows = np.sort(np.random.default_rng(rng).choice(adata.n_obs, sample_size, replace=False))
        info["fitted_on"] = adata.n_obs if fit_rows is None else sample_size
        if n_pcs is not None and rep.shape[1] > n_pcs:
            from sklearn.decomposition import PCA

            n_rows = adata.n_obs if fit_rows is None else len(fit_rows)
            pca = PCA(n_components=max(1, min(n_pcs, n_rows - 1)), random_state=rng)
            rep = pca.fit_transform(rep) if fit_rows is None else pca.fit(rep[fit_rows]).transform(rep)
        if method == "mclust":
            labels = _mclust(rep, fit_rows, n_clusters, model_name, max_clusters, rng, info)
        else:
            labels, n_fitted = _fit_mixture(rep, fit_rows, n_clusters, method, max_clusters, spatial, rng, info)
    if n_clusters is None:
        info["n_estimated"] = int(labels.max() + 1)  # before the vote, which may empty a domain
    if refine:
        labels = majority_vote(labels, vote)
    if merge_extra and 2 <= n_fitted < (adata.n_obs if fit_rows is None else sample_size):
        labels = _merge_extra(labels, rep, fit_rows, n_fitted, spatial, vote if refine else None, rng, info)

    labels = _by_size(labels)
    if n_clusters is not None and labels.max() + 1 < n_clusters:
        logg.warning(
            f"{labels.max() + 1} domains found of the {n_clusters} asked: the spots' representations do not tell more "
            "apart (identical inputs?), or the vote emptied a domain"
        )
    _warn_unless_sections_share_a_domain(adata, labels)
    categories = [str(i) for i in range(labels.max() + 1)]
    domains = pd.Series(pd.Categorical(labels.astype(str), categories=categories), index=adata.obs_names)
    warn_of_other_domains(adata, key_added, domains)
    out = output_of(adata, copy)
    out.obs[key_added] = domains
    out.uns[key_added] = {
        "params": {
            "method": method,
            **({"model_name": model_name} if method == "mclust" else {}),
            "n_clusters": n_clusters,
            "n_found": int(labels.max() + 1),
            "use_rep": use_rep,
            "n_pcs": None if method == "leiden" else n_pcs,  # what was applied: leiden reads the embedding as is
            "refine": refine,
            **({"refined_over": refined_over} if refine else {}),
            **({"merge_extra": merge_extra} if method == "gmm" else {}),
            "connectivity_key": connectivity_key,
            "sample_size": None if method == "leiden" else sample_size,
            "rng": rng,
            **info,
        }
    }
    how = ""
    if "estimated_by" in info:  # say that the number was estimated, and how
        how = f", the number estimated by {info['estimated_by']} over 2..{max_clusters} (n_clusters sets it)"
    logg.info(f"found {labels.max() + 1} domains with {method}{how}")
    return out if copy else None


def _warn_unless_sections_share_a_domain(adata: AnnData, labels: np.ndarray) -> None:
    """Warn when the sections modelled together share no domain: each domain lies (90 %+) in one section.

    Their expression then differs more than their tissues do (a batch effect, or different tissues), and the
    joint model has not put one tissue compartment in one domain across them.
    """
    library_key = params_of(adata.uns.get(C.PREPARE_KEY)).get("library_key")
    if not library_key or library_key not in adata.obs or adata.obs[library_key].nunique() < 2:
        return
    counts = pd.crosstab(labels, adata.obs[library_key].astype(str).to_numpy())
    if (counts.max(axis=1) >= 0.9 * counts.sum(axis=1)).all():
        logg.warning(
            f"no domain is shared by the sections of obs['{library_key}']: each of the {len(counts)} domains lies in "
            "one section, so the sections' expression differs more than their tissues (a batch effect, or different "
            "tissues). Compare the sections' domains by their markers (sst.tl.annotate_domains), or model each alone"
        )


def _fit_mixture(rep, fit_rows, n_clusters, method, max_clusters, spatial, rng, info) -> tuple[np.ndarray, int]:
    """Fit a mixture on ``rep[fit_rows]`` (all rows when ``None``); return every row's label and the K fitted."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    fitted = rep if fit_rows is None else rep[fit_rows]

    def fit(k):
        if method == "gmm":
            return _tied_gmm(k, rng).fit(fitted)
        return KMeans(k, n_init=10, random_state=rng).fit(fitted)

    if n_clusters is not None:
        model = fit(n_clusters)
        if method == "gmm":
            info["loglik"] = float(model.score(fitted) * fitted.shape[0])
        return model.predict(rep), n_clusters
    candidates = list(range(2, min(max_clusters, fitted.shape[0] - 1) + 1))
    models = {k: fit(k) for k in candidates}
    if method == "gmm":
        bic = {k: float(model.bic(fitted)) for k, model in models.items()}
        rows = np.arange(rep.shape[0]) if fit_rows is None else fit_rows
        edges = spatial[rows].tocoo()  # the spatial edges of the fitted spots: bounded work on a sample
        seen = np.union1d(rows, edges.col)
        labels = np.zeros(rep.shape[0], dtype=int)
        coherence = {}
        for k, model in models.items():
            labels[seen] = model.predict(rep[seen])
            coherence[k] = _least_coherence(labels[rows[edges.row]], labels[edges.col], edges.data)
        info["k_elbow"], info["k_coherent"] = _bic_elbow(bic), _last_coherent(coherence)
        best = min(info["k_elbow"], info["k_coherent"])
        info["estimated_by"] = "BIC elbow and spatial coherence"
        info["bic"] = {str(k): v for k, v in bic.items()}  # str keys: .h5ad needs them
        info["coherence"] = {str(k): v for k, v in coherence.items()}
    else:
        sample = np.random.default_rng(rng).permutation(rep.shape[0])[:10_000]
        scores = {}
        for k, model in models.items():
            labels = model.predict(rep[sample])
            # one label (identical spots) has no silhouette: scored as no separation, 0
            scores[k] = -float(silhouette_score(rep[sample], labels, random_state=rng)) if np.ptp(labels) else 0.0
        best = min(scores, key=scores.get)
        info["estimated_by"] = "silhouette"
        info["scores"] = {str(k): v for k, v in scores.items()}
    _warn_on_bound(best, candidates)
    return models[best].predict(rep), best


def _tied_gmm(n_components: int, rng: int):
    """Return the ``gmm`` method's mixture (unfitted): one shared covariance, the best of 5 k-means starts."""
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(n_components, covariance_type="tied", n_init=5, random_state=rng)


def _merge_extra(labels, rep, fit_rows, n_clusters, spatial, vote, rng, info) -> np.ndarray:
    """Return the more spatially coherent of ``labels`` and the K + 1 mixture's domains merged back to K."""
    fitted = rep if fit_rows is None else rep[fit_rows]
    model = _tied_gmm(n_clusters + 1, rng).fit(fitted)
    extra = model.predict(rep)
    if vote is not None:
        extra = majority_vote(extra, vote)
    merged = merge_to(extra, n_clusters, spatial, rep, np.linalg.inv(model.covariances_))
    coherence = {"direct": edge_coherence(labels, spatial), "merged": edge_coherence(merged, spatial)}
    info["extra_coherence"] = coherence
    info["extra_kept"] = bool(coherence["merged"] > coherence["direct"])
    return merged if info["extra_kept"] else labels


def _warn_on_bound(best: int, candidates: list[int]) -> None:
    if best in (candidates[0], candidates[-1]):
        bound = "only" if len(candidates) == 1 else "smallest" if best == candidates[0] else "largest"
        logg.warning(
            f"the estimated number of domains, {best}, is the {bound} one tried ({candidates[0]}..{candidates[-1]}): "
            "the estimate may be off; pass n_clusters" + (", or widen max_clusters" if bound != "smallest" else "")
        )


def _import_mclust():
    try:
        import mclust_py
    except ImportError as err:
        raise ImportError(
            "method='mclust' needs the optional package pymclustr (GPL-3.0): "
            "pip install 'semst_sc[mclust]' (or pip install pymclustr)"
        ) from err
    return mclust_py


def _check_model_name(model_name: str) -> None:
    mc = _import_mclust()
    names = (*mc.EM_MODEL_NAMES_MULTI, *mc.EM_MODEL_NAMES_UNI)
    if model_name not in names:
        raise ValueError(f"model_name must be one of mclust's models {', '.join(names)}, got {model_name!r}")


def _mclust(rep, fit_rows, n_clusters, model_name, max_clusters, rng, info) -> np.ndarray:
    """Fit mclust's ``model_name`` mixture on ``rep[fit_rows]`` (all rows when ``None``) and label every row.

    EM is seeded as R's ``Mclust`` seeds it: the model-based hierarchical clustering (``hcVVV`` on the
    SVD-scaled data) cut into K groups; on more than ``_MCLUST_HC_SUBSET`` spots the tree is built on a random
    subset, whose M-step followed by an E-step on every spot gives the starting responsibilities.
    """
    mc = _import_mclust()
    fitted = rep if fit_rows is None else rep[fit_rows]
    n, d = fitted.shape
    univariate = model_name in mc.EM_MODEL_NAMES_UNI
    if univariate != (d == 1):
        if univariate:
            fix = f"a multivariate model_name ({', '.join(mc.EM_MODEL_NAMES_MULTI)}), or n_pcs=1"
        else:
            fix = f"a univariate model_name ({', '.join(mc.EM_MODEL_NAMES_UNI)}), or n_pcs of 2 or more"
        raise ValueError(
            f"mclust model {model_name!r} is {'uni' if univariate else 'multi'}variate and the data clustered (the "
            f"embedding, or its n_pcs principal components) have {d} dimension(s): pass {fix}"
        )
    subset = None
    if n > _MCLUST_HC_SUBSET:
        subset = np.sort(np.random.default_rng(rng).choice(n, _MCLUST_HC_SUBSET, replace=False))
    seed_data = fitted if subset is None else fitted[subset]
    tree = mc.hc(seed_data, model_name="VVV" if d > 1 else "V", use="SVD")

    def fit(k):
        z = mc.partition_to_z(mc.hclass(tree, k), G=k)
        if subset is not None:
            params = mc.mstep(model_name, seed_data, z)
            z, _ = mc.estep(fitted, params["pro"], params["mu"], params["sigma"])
        return mc.me(fitted, model_name, z)

    if n_clusters is not None:
        if n_clusters == 1:
            result = mc.fit_one_component(fitted, model_name)
        else:
            result = fit(n_clusters)
        if not np.isfinite(result.loglik):
            raise RuntimeError(
                f"mclust {model_name} with {n_clusters} components did not fit ({result.warning}); "
                "try another model_name or n_clusters"
            )
        info["loglik"] = float(result.loglik)
    else:
        candidates = list(range(2, min(max_clusters, n - 1) + 1))
        results = {k: fit(k) for k in candidates}
        bic = {k: -mc.bic(r.loglik, model_name, n, d, k) for k, r in results.items() if np.isfinite(r.loglik)}
        if not bic:
            raise RuntimeError(f"mclust {model_name} did not fit with any K in {candidates[0]}..{candidates[-1]}")
        best = min(bic, key=bic.get)
        result = results[best]
        info["estimated_by"] = "mclust BIC"
        info["bic"] = {str(k): float(v) for k, v in bic.items()}
        _warn_on_bound(best, candidates)
    z, _ = mc.estep(rep, result.pro, result.mean, result.sigma)
    return z.argmax(axis=1)


def _bic_elbow(bic: dict[int, float]) -> int:
    """Return the last K before the first whose smoothed BIC gain is under 0.6 of the mean of the first two.

    The gains of adding one domain are made non-increasing by isotonic regression (diminishing returns), so that one
    poor fit, whose gain dips and the next one's leaps, does not end the search.
    """
    from sklearn.isotonic import IsotonicRegression

    ks = sorted(bic)
    if len(ks) == 1:  # one K tried (max_clusters=2): nothing to compare
        return ks[0]
    gains = np.array([bic[ks[i - 1]] - bic[ks[i]] for i in range(1, len(ks))])
    smoothed = IsotonicRegression(increasing=False).fit_transform(np.arange(len(gains)), gains)
    reference = smoothed[:2].mean()  # one unusually large first gain does not set the bar alone
    if reference <= 0:
        return ks[0]
    below = np.flatnonzero(smoothed < ELBOW_SHARE * reference)
    return ks[below[0]] if below.size else ks[-1]


def _last_coherent(coherence: dict[int, float]) -> int:
    """Return the last K before the first at which some domain keeps under half of its spatial edges inside."""
    ks = sorted(coherence)
    failing = [k for k in ks if coherence[k] < 0.5]
    return max(failing[0] - 1, ks[0]) if failing else ks[-1]


def edge_coherence(labels: np.ndarray, graph) -> float:
    """Return the share of ``graph``'s edge weight that joins two spots of one domain (1: no edge crosses a border)."""
    edges = sp.coo_matrix(graph)
    total = edges.data.sum()
    return float(edges.data[labels[edges.row] == labels[edges.col]].sum() / total) if total > 0 else 1.0


def _least_coherence(source: np.ndarray, target: np.ndarray, weights: np.ndarray) -> float:
    """Return the share of its edge weight that the least coherent domain keeps inside itself.

    ``source``, ``target``: the domains at the two ends of each spatial edge; ``weights``: the edge weights.
    """
    inside = np.bincount(source, weights=weights * (source == target), minlength=source.max() + 1)
    total = np.bincount(source, weights=weights, minlength=source.max() + 1)
    return float((inside[total > 0] / total[total > 0]).min())


def _leiden(rep, n_clusters, rng, info) -> np.ndarray:
    import scanpy as sc

    tmp = AnnData(np.zeros((rep.shape[0], 1), dtype=np.float32), obsm={"rep": rep})
    sc.pp.neighbors(tmp, n_neighbors=min(15, rep.shape[0] - 1), use_rep="rep", random_state=rng)

    def run(resolution):
        sc.tl.leiden(tmp, resolution=resolution, flavor="igraph", n_iterations=2, random_state=rng)
        return tmp.obs["leiden"].astype(int).to_numpy()

    if n_clusters is None:
        info.update({"resolution": 1.0, "estimated_by": "leiden at resolution 1"})
        return run(1.0)
    low, high, best = 0.0, 3.0, None
    for _ in range(30):
        mid = (low + high) / 2
        labels = run(mid)
        found = labels.max() + 1
        if best is None or abs(found - n_clusters) < abs(best[1].max() + 1 - n_clusters):
            best = (mid, labels)
        if found == n_clusters:
            break
        low, high = (mid, high) if found < n_clusters else (low, mid)
    if best[1].max() + 1 != n_clusters:
        logg.warning(f"leiden: no resolution gave {n_clusters} domains; using {best[1].max() + 1}")
    info["resolution"] = best[0]
    return best[1]


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 0..K-1 by decreasing size (ties by first appearance)."""
    values, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    mapping = np.empty(values.max() + 1, dtype=int)
    mapping[values[order]] = np.arange(len(values))
    return mapping[labels]
