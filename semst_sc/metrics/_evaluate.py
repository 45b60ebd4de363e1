from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData
from scanpy import logging as logg
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.neighbors import NearestNeighbors

from .. import _constants as C
from .._docs import doc_params
from .._sections import section_indices, section_names
from .._utils import (
    check_integer,
    check_is_anndata,
    get_spatial,
    library_key_hint,
    overlapping_sections,
    sections_column,
)


@doc_params
def evaluate(
    adata: AnnData, labels_key: str, *, domain_key: str = C.DOMAIN_KEY, library_key: str | None = None
) -> dict[str, float]:
    """Compare domains with ground-truth labels, over all spots and, with ``library_key``, per section.

    Spots whose label is missing (NaN) are left out of ARI and NMI; spots without a domain (NaN) are scored as one
    more domain in ARI and NMI, and as abnormal in PAS, so that a method cannot gain by leaving spots out.

    Parameters
    ----------
    adata
        Spots with both columns in ``obs``.
    labels_key
        ``obs`` column of the ground truth.
    domain_key
        ``obs`` column of the predicted domains.
    library_key
        {doc_library_key} Its sections are also scored one by one, and the spatial score is computed within each.

    Returns
    -------
    ``ari`` and ``nmi`` (on labelled spots), ``pas`` (spatial incoherence of the domains, lower is
    better; present when ``obsm['spatial']`` exists) and ``n_evaluated``. With ``library_key``, also
    ``sections``: the same scores for each section with labelled spots, by name (a section without any is left out,
    with a warning; ``ari`` and ``nmi`` over all spots compare the domains of every section with one truth, as one set
    of domains should).
    """
    check_is_anndata(adata)
    for key, producer in ((labels_key, "the column with the ground truth"), (domain_key, "sst.tl.cluster(adata)")):
        if key not in adata.obs:
            raise KeyError(f"obs['{key}'] not found: {producer} is needed")
    truth = adata.obs[labels_key]
    keep = truth.notna().to_numpy()
    if not keep.any():
        raise ValueError(f"obs['{labels_key}'] has no labelled spot")
    groups = section_indices(adata, library_key, min_size=2)  # any section a spatial score can be computed on
    t = truth[keep].astype(str).to_numpy()
    p = adata.obs[domain_key][keep].astype(str).to_numpy()
    result = {
        "ari": float(adjusted_rand_score(t, p)),
        "nmi": float(normalized_mutual_info_score(t, p)),
        "n_evaluated": int(keep.sum()),
    }
    if groups is None:
        column = sections_column(adata)  # the column a joint run modelled, or 'library_id'
        overlap = overlapping_sections(adata, C.SPATIAL_KEY, column)
        if overlap is not None:
            logg.warning(
                f"{overlap}: the spatial score takes spots of other sections as neighbours. {library_key_hint(column)}"
            )
        if C.SPATIAL_KEY in adata.obsm:
            result["pas"] = pas(get_spatial(adata), adata.obs[domain_key].to_numpy())
        return result
    names = section_names(adata, library_key)
    coords = get_spatial(adata) if C.SPATIAL_KEY in adata.obsm else None
    per_section = {}
    for name, rows in zip(names, groups, strict=True):
        if truth.iloc[rows].notna().any():  # scored on its columns alone (a view of a backed AnnData has no views)
            obs = adata.obs.iloc[rows][list({labels_key, domain_key})]  # one column when both keys name it
            section = AnnData(obs=obs, obsm={} if coords is None else {C.SPATIAL_KEY: coords[rows]})
            per_section[name] = evaluate(section, labels_key, domain_key=domain_key)
    unlabelled = [name for name in names if name not in per_section]
    if unlabelled:
        logg.warning(
            f"sections {unlabelled} of obs['{library_key}'] have no label in obs['{labels_key}'] and are left out of "
            "the per-section scores (result['sections']): label their spots to score them"
        )
    if coords is not None:  # the spots-weighted mean of the sections'
        domains = adata.obs[domain_key].to_numpy()
        result["pas"] = float(sum(pas(coords[rows], domains[rows]) * len(rows) for rows in groups) / adata.n_obs)
    result["sections"] = per_section
    return result


def pas(coords: np.ndarray, labels, n_neighbors: int = 10) -> float:
    """Proportion of abnormal spots: the share of spots whose label differs from most of their neighbours.

    A spot without a label (NaN) counts as abnormal, and as differing from its neighbours: a method cannot look more
    coherent by leaving its uncertain spots out.

    Parameters
    ----------
    coords
        Spot coordinates.
    labels
        Domain label per spot.
    n_neighbors
        Spatial neighbours compared.

    Returns
    -------
    A value in [0, 1]; lower means spatially more coherent domains.
    """
    coords, labels = np.asarray(coords, dtype=np.float64), np.asarray(labels)
    if coords.ndim != 2 or labels.ndim != 1 or len(coords) != len(labels) or len(labels) < 2:
        raise ValueError(
            "pas needs the coordinates of at least two spots (n_spots x 2, e.g. adata.obsm['spatial']) and one label "
            f"per spot (e.g. adata.obs['semst_domain']); got coordinates of shape {coords.shape} and {labels.shape} "
            "labels"
        )
    if not np.isfinite(coords).all():
        raise ValueError("pas: the coordinates hold NaN or infinite values; leave those spots out")
    check_integer(n_neighbors, "n_neighbors")
    codes = pd.factorize(labels)[0]  # -1 where missing
    k = min(n_neighbors, len(codes) - 1)
    _, idx = NearestNeighbors(n_neighbors=k).fit(coords).kneighbors()
    differ = ((codes[idx] != codes[:, None]) | (codes[idx] < 0)).sum(axis=1)
    return float(((differ > k / 2) | (codes < 0)).mean())
