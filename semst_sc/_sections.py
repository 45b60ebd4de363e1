"""Several sections in one AnnData: how they are joined, and how each step finds them (``obs[library_key]``).

Sections (replicates, adjacent slices, patients) are told apart by an ``obs`` column, squidpy's ``library_key``.
Their coordinates live in separate frames, so everything spatial (graphs, neighbourhoods, spatial scores) is built
within a section; everything about expression (genes, the model, the clustering) is shared, so that one domain has
one name in every section.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scanpy import logging as logg

from . import _constants as C

#: the obs column concat_sections, the multi-slice loaders and the CLI write (squidpy's and scanpy's name)
LIBRARY_KEY = "library_id"
#: a section needs at least this many observations to get its own graphs and scaling
MIN_SECTION_SIZE = 20
#: fewer shared genes than this cannot make a joint model
MIN_SHARED_GENES = 20


def concat_folders(read: Callable[[Path], AnnData], folders: Sequence) -> AnnData:
    """Read each output folder with ``read`` and join them as sections named by :func:`folder_section_name`."""
    folders = [Path(p).expanduser() for p in folders]
    names = [C.folder_section_name(folder) for folder in folders]
    if len(set(names)) < len(names):
        raise ValueError(f"the folders name the sections and must have distinct names, got {names}")
    return concat_sections({n: read(f) for n, f in zip(names, folders, strict=True)})


def concat_sections(sections: Mapping[str, AnnData], *, library_key: str = LIBRARY_KEY) -> AnnData:
    """Join sections into one AnnData, told apart by ``obs[library_key]``.

    Genes are joined inner (only genes every section measured; a warning names the sections that lack some, and how
    many), coordinates and ``uns['spatial']`` are kept per section (a section's one entry under its name, as squidpy
    looks it up), and spot names become ``"{spot}-{section}"`` (anndata's ``index_unique``). The inputs are not
    modified.

    Parameters
    ----------
    sections
        Section name -> AnnData with raw counts and ``obsm['spatial']``, e.g. ``{"151673": a, "151674": b}``.
    library_key
        ``obs`` column written with the section names (a value a section already holds there is replaced, with a
        warning when it is not the section's name).

    Returns
    -------
    The joined AnnData: ``obs[library_key]`` (categorical, in the order given), the union of the ``obs`` columns
    (but for the names :func:`semst_sc.tl.annotate_domains` gave a section's own domains, left out with a warning; a
    column of different types in different sections as strings, with a warning),
    ``obsm['spatial']`` and ``uns['spatial'][section name]`` of every section that had one entry there (a section with
    several keeps their keys), and the other ``obsm`` keys that every section has, of one width (the others are left
    out with a warning). Graphs (``obsp``) are not joined, with a warning (but for semst_sc's expression graph and
    neighbourhoods, which every run builds again): build them on the joined AnnData.
    """
    return join_sections(sections, library_key, "name the section {value!r} to keep it, or pass another library_key")


def join_sections(sections: Mapping[str, AnnData], library_key: str, keep: str) -> AnnData:
    """Join sections as :func:`concat_sections` does, saying with ``keep`` how the caller keeps a replaced value.

    ``keep`` ends the warning that a section's own single ``obs[library_key]`` value (``{value}`` in it) is replaced
    by the section's name: what the caller can do to keep it (the CLI names the sections by its input files).
    """
    import anndata as ad

    if not isinstance(sections, Mapping) or len(sections) == 0:
        raise TypeError("concat_sections takes a dict {section name: AnnData} with at least one section")
    for name, adata in sections.items():
        if not isinstance(adata, AnnData):
            raise TypeError(f"section {name!r} is a {type(adata).__name__}, not an AnnData")
        if not adata.var_names.is_unique:
            raise ValueError(f"section {name!r} has duplicate gene names: run adata.var_names_make_unique() first")
        if not adata.obs_names.is_unique:
            raise ValueError(f"section {name!r} has duplicate spot names: run adata.obs_names_make_unique() first")
        if "/" in str(name):  # an .h5ad stores uns['spatial'][name] as a path: 'P1/A' would become 'P1' / 'A'
            raise ValueError(f"section name {str(name)!r} holds a '/': name the sections without one, e.g. 'P1_A'")
    without = [str(name) for name, adata in sections.items() if C.SPATIAL_KEY not in adata.obsm]
    if without and len(without) < len(sections):
        raise KeyError(
            f"section {without[0]!r} has no obsm['{C.SPATIAL_KEY}'] while others do, and the coordinates of all would "
            "be lost: store its spot coordinates (n_obs x 2) there, or leave it out"
        )
    for name, adata in sections.items():
        held = adata.obs[library_key].dropna().astype(str).unique() if library_key in adata.obs else []
        if len(held) > 1:
            logg.warning(
                f"section {str(name)!r} already holds {len(held)} sections in "
                f"obs['{library_key}']: they become one section {str(name)!r} (join the original sections instead)"
            )
        elif len(held) == 1 and held[0] != str(name):
            logg.warning(
                f"section {str(name)!r} holds obs['{library_key}'] = {held[0]!r}, replaced by the section's name: "
                + keep.format(value=held[0])
            )
    names = [str(name) for name in sections]
    if len(set(names)) < len(names):
        raise ValueError(f"section names must be distinct as strings, got {names}")
    earlier = {str(name): _earlier_names(adata) for name, adata in sections.items()}
    for name, columns in earlier.items():
        for column, entry in columns:
            logg.warning(
                f"section {name!r} holds obs['{column}'], the names tl.annotate_domains gave its own domains "
                f"(uns['{entry}'], which is not joined): left out, as the sections' joint domains will be others "
                "(name them with sst.tl.annotate_domains, CLI --annotate); to keep these, rename the column first"
            )
    shared = _shared_genes(sections)
    layers = [set(adata.layers) for adata in sections.values()]
    partial = sorted(set.union(*layers) - set.intersection(*layers))
    if partial:
        logg.warning(
            f"layers {partial} are not in every section and are left out of the joined AnnData: give every section "
            "the same layers (e.g. the raw counts in X, or in layers['counts'] of each)"
        )
    own = {C.NEIGHBOURHOOD_KEY, C.connectivities_key(C.FEATURE_GRAPH_KEY), C.distances_key(C.FEATURE_GRAPH_KEY)}
    graphs = sorted({str(key) for adata in sections.values() for key in adata.obsp} - own)  # semst_sc's own: rebuilt
    if graphs:
        logg.warning(
            f"obsp {graphs} (graphs within a section) are left out of the joined AnnData, as graphs are not joined: "
            f"build them on it, e.g. sq.gr.spatial_neighbors(joined, library_key='{library_key}', radius=...); "
            "otherwise sst.pp.spatial_graph (and semst-sc run) builds a kNN graph within each section"
        )
    light = {str(k): _with_array_coordinates(v) for k, v in sections.items()}
    uneven = _uneven_obsm(light)
    joined = ad.concat(light, join="inner", label=library_key, index_unique="-", merge="same", uns_merge=None)
    for key in uneven:  # anndata would keep each section's first columns: not one quantity
        del joined.obsm[key]
    # genes inner, obs columns outer (anndata's join covers both): a column some sections lack is missing there
    obs = {str(k): ad.AnnData(obs=v.obs.drop(columns=[c for c, _ in earlier[str(k)]])) for k, v in sections.items()}
    joined.obs = ad.concat(obs, join="outer", label=library_key, index_unique="-").obs.loc[joined.obs_names]
    joined.obs[library_key] = pd.Categorical(joined.obs[library_key], categories=names)
    _one_type_per_column(joined.obs)
    joined.var = _same_var(sections, joined.var_names)
    spatial = {}
    for name, adata in zip(names, sections.values(), strict=True):
        entries = adata.uns.get("spatial", {})
        if not isinstance(entries, Mapping):
            raise TypeError(
                f"section {name!r} has a {type(entries).__name__} in uns['spatial']: squidpy's layout is a dict "
                "{library_id: {'scalefactors': ..., 'images': ...}}; fix or delete it"
            )
        entries = copy.deepcopy(dict(entries))  # the joined object shares nothing with the inputs
        if len(entries) == 1:  # squidpy reads a section's scale factors and images at uns['spatial'][its library_id]
            entries = {name: next(iter(entries.values()))}
        clash = sorted(set(entries) & set(spatial))
        if clash:
            raise ValueError(
                f"section {name!r} has uns['spatial'][{clash[0]!r}] as another section does, and one would be lost: "
                "give each section one entry in uns['spatial'] (it is stored under the section's name)"
            )
        spatial.update(entries)
    if spatial:
        joined.uns["spatial"] = spatial
    logg.info(f"joined {len(names)} sections: {joined.n_obs} spots, {len(shared)} shared genes")
    return joined


def _earlier_names(adata: AnnData) -> list[tuple[str, str]]:
    """Return (obs column, uns key) of the domain names that earlier annotations of ``adata`` wrote and it holds."""
    from ._utils import names_column, params_of

    found = []
    for key, entry in adata.uns.items():
        if key.endswith("_annotation") and params_of(entry).get("domain_key"):
            column = names_column(key, entry)
            if column in adata.obs:
                found.append((column, key))
    return found


def _uneven_obsm(sections: Mapping[str, AnnData]) -> list[str]:
    """Return the ``obsm`` arrays of different widths in the sections; warn of them and of the keys some lack.

    Raises when the coordinates differ in width (2-D and 3-D sections).
    """
    keys = [set(adata.obsm) for adata in sections.values()]
    partial = sorted(set.union(*keys) - set.intersection(*keys))
    widths = {
        key: {name: np.shape(adata.obsm[key])[1:] for name, adata in sections.items()}
        for key in sorted(set.intersection(*keys))
        if not any(isinstance(adata.obsm[key], pd.DataFrame) for adata in sections.values())  # joined by column
    }
    uneven = {key: each for key, each in widths.items() if len(set(each.values())) > 1}
    if C.SPATIAL_KEY in uneven:
        each = {name: shape[0] for name, shape in uneven[C.SPATIAL_KEY].items()}
        raise ValueError(
            f"the sections' obsm['{C.SPATIAL_KEY}'] have different numbers of columns ({each}): give every section the "
            f"same, e.g. adata.obsm['{C.SPATIAL_KEY}'] = adata.obsm['{C.SPATIAL_KEY}'][:, :2]"
        )
    if partial or uneven:
        logg.warning(
            f"obsm {sorted(partial + list(uneven))} are not in every section or differ in width between the "
            "sections, and are left out of the joined AnnData: compute them on the joined AnnData (e.g. sc.pp.pca)"
        )
    return sorted(uneven)


def _one_type_per_column(obs: pd.DataFrame) -> None:
    """Store as strings, with a warning, the ``obs`` columns whose sections gave values of several types.

    A column of text in one section and numbers in another cannot be written to an ``.h5ad``.
    """
    mixed = [c for c in obs.columns if obs[c].dtype == object and obs[c].dropna().map(type).nunique() > 1]
    for column in mixed:
        obs[column] = obs[column].astype(str).where(obs[column].notna())
    if mixed:
        logg.warning(
            f"obs columns {mixed} hold values of different types in the sections (e.g. text in one, numbers in "
            "another): stored as strings, as an .h5ad holds one type per column"
        )


def genes_lacking(found: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Return how many genes each section lacks, of the sections that lack some.

    ``found``: section name -> boolean mask, over the same genes, of those the section has.
    """
    return {str(name): int((~mask).sum()) for name, mask in found.items() if not mask.all()}


def _shared_genes(sections: Mapping[str, AnnData]) -> pd.Index:
    """Return the genes every section has; warn which sections lack genes, raise when too few are shared."""
    panels = [adata.var_names for adata in sections.values()]
    shared, every = panels[0], panels[0]
    for genes in panels[1:]:
        shared, every = shared.intersection(genes), every.union(genes)
    smallest = min(adata.n_vars for adata in sections.values())
    if len(shared) < min(MIN_SHARED_GENES, smallest):  # small panels that share all their genes are fine
        kinds = {name: _id_kind(adata.var_names) for name, adata in sections.items()}
        hint = (
            f"; the sections name genes differently ({kinds}): give them the same kind of names, e.g. "
            "adata.var_names = adata.var['gene_symbol']"
            if len(set(kinds.values())) > 1
            else ""
        )
        raise ValueError(
            f"the sections share {len(shared)} genes, fewer than the {MIN_SHARED_GENES} a joint model needs{hint}"
        )
    if len(shared) < len(every):
        lacking = genes_lacking({name: every.isin(adata.var_names) for name, adata in sections.items()})
        logg.warning(
            f"keeping the {len(shared)} genes measured in every section ({len(every) - len(shared)} dropped; genes "
            f"each lacks: {lacking}): leave out a section that lacks many to keep them for the others"
        )
    return shared


def _with_array_coordinates(adata: AnnData) -> AnnData:
    """Return ``adata``, or a light copy (sharing its data) whose ``obsm['spatial']`` DataFrame is an array."""
    if not isinstance(adata.obsm.get(C.SPATIAL_KEY), pd.DataFrame):
        return adata
    light = AnnData(X=adata.X, obs=adata.obs, var=adata.var, obsm=dict(adata.obsm), layers=dict(adata.layers))
    light.obsm[C.SPATIAL_KEY] = adata.obsm[C.SPATIAL_KEY].to_numpy()
    return light


def _same_var(sections: Mapping[str, AnnData], genes: pd.Index) -> pd.DataFrame:
    """Return the ``var`` columns whose values agree in every section (categories compared by value); log the others."""
    frames = [adata.var.loc[genes] for adata in sections.values()]
    columns = [c for c in frames[0].columns if all(c in f for f in frames)]
    # semst_sc's own (var['semst_modelled'] of an earlier run) is written again by the joint run: not worth a word
    partial = sorted({str(c) for f in frames for c in f.columns} - {str(c) for c in columns} - {C.MODELLED_KEY})
    if partial:
        where = "; ".join(
            f"{c!r} in " + ", ".join(str(n) for n, f in zip(sections, frames, strict=True) if c in f.columns)
            for c in partial
        )
        logg.warning(
            f"var columns {partial} are not in every section and are left out of the joined var ({where}): give "
            "every section the same columns to keep them (e.g. the gene symbols under one column name)"
        )
    same = [c for c in columns if all(f[c].astype(object).equals(frames[0][c].astype(object)) for f in frames[1:])]
    differ = [c for c in columns if c not in same]
    if differ:
        logg.warning(
            f"var columns {differ} differ between the sections and are left out of the joined var: make them agree "
            "before joining to keep them (e.g. the same gene-symbol release in every section)"
        )
    return frames[0][same].copy()


def _id_kind(names) -> str:
    from ._utils import looks_like_ensembl

    return "Ensembl IDs" if looks_like_ensembl(names) else "symbols"


def section_indices(
    adata: AnnData, library_key: str | None, min_size: int = MIN_SECTION_SIZE
) -> list[np.ndarray] | None:
    """Return the row indices of each section of ``obs[library_key]`` (``None`` when ``library_key`` is ``None``).

    Raises a clear error when the column is missing, has missing values, or a section has fewer than ``min_size``
    spots.
    """
    if library_key is None:
        return None
    if library_key not in adata.obs:
        raise KeyError(
            f"obs['{library_key}'] not found: library_key names the obs column that tells the sections apart "
            f"(sst.concat_sections writes obs['{LIBRARY_KEY}']); obs columns: {list(adata.obs.columns)}"
        )
    labels = adata.obs[library_key]
    if labels.isna().any():
        raise ValueError(
            f"obs['{library_key}'] has {int(labels.isna().sum())} spots without a section: fill or remove them"
        )
    codes, names = pd.factorize(labels.astype(str), sort=False)
    groups = [np.flatnonzero(codes == i) for i in range(len(names))]
    small = {str(names[i]): len(g) for i, g in enumerate(groups) if len(g) < min_size}
    if small:
        raise ValueError(
            f"sections with fewer than {min_size} spots in obs['{library_key}']: {small}; "
            "remove them or check the section labels"
        )
    return groups


def smallest_section(adata: AnnData, library_key: str | None, groups: list[np.ndarray]) -> tuple[int, str]:
    """Return the size of the smallest of ``groups`` and how a message names it (``"the slide"`` for one)."""
    if library_key is None or len(groups) == 1:
        return len(groups[0]), "the slide" if library_key is None else f"the section of obs['{library_key}']"
    i = int(np.argmin([len(g) for g in groups]))
    return len(groups[i]), f"section {section_names(adata, library_key)[i]!r} of obs['{library_key}']"


def section_names(adata: AnnData, library_key: str) -> list[str]:
    """Return the section names in the order :func:`section_indices` returns them."""
    return [str(n) for n in pd.factorize(adata.obs[library_key].astype(str), sort=False)[1]]


def block_diagonal(blocks, groups: list[np.ndarray], n: int):
    """Place each section's n_s x n_s sparse matrix at its rows and columns of an n x n CSR matrix."""
    rows, cols, data = [], [], []
    for block, index in zip(blocks, groups, strict=True):
        coo = sp.coo_matrix(block)
        rows.append(index[coo.row])
        cols.append(index[coo.col])
        data.append(coo.data)
    return sp.csr_matrix(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n), dtype=np.float32
    )


def links_sections(graph, adata: AnnData, library_key: str | None) -> bool:
    """Return True when ``graph`` has an edge between two sections of ``obs[library_key]``."""
    groups = section_indices(adata, library_key)
    if groups is None or len(groups) == 1:
        return False
    section = np.empty(adata.n_obs, dtype=np.int64)
    for i, index in enumerate(groups):
        section[index] = i
    edges = sp.coo_matrix(graph)
    return bool((section[edges.row] != section[edges.col]).any())
