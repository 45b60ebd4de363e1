"""Small helpers shared by the pp/tl functions: input checks and AnnData plumbing."""

from __future__ import annotations

import itertools
import math
import re
from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import _constants as C

if TYPE_CHECKING:
    from anndata import AnnData

_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}")


def check_is_anndata(adata) -> None:
    """Raise a clear error unless ``adata`` is an AnnData (a SpatialData: pass its table)."""
    from anndata import AnnData  # here, not at the top: semst_sc.nn imports this module without anndata

    if not isinstance(adata, AnnData):
        hint = ""
        if type(adata).__name__ == "SpatialData":
            hint = f": pass its table, e.g. sdata.tables['{C.TABLE_KEY}'] (sst.run_pipeline takes a SpatialData)"
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}{hint}")


def check_adata(adata) -> None:
    """Raise a clear error unless ``adata`` is an AnnData in memory with spots, genes and unique spot names."""
    check_is_anndata(adata)
    if adata.isbacked:
        raise ValueError(
            f"the AnnData is backed by {adata.filename} (read with backed=): load it with adata = adata.to_memory()"
        )
    shape = f"{adata.n_obs} spots x {adata.n_vars} genes"
    if adata.n_obs == 0:
        raise ValueError(f"the data have no spots ({shape}): check the filtering or subsetting that produced them")
    if adata.n_vars == 0:
        raise ValueError(f"the data have no genes ({shape}): check the filtering or subsetting that produced them")
    if not adata.obs_names.is_unique:
        n = int(adata.obs_names.duplicated().sum())
        raise ValueError(f"{n} duplicate spot names in adata.obs_names: run adata.obs_names_make_unique() first")


def view_to_actual(adata: AnnData) -> None:
    """Make a view (``adata[mask]``) an actual AnnData in place, silently; its parent is left untouched.

    What ``scanpy._utils.view_to_actual`` does before in-place work, without its warning (scanpy 1.11 warns "Received
    a view of an AnnData. Making a copy."; and it is private): anndata would do it on the first write to the view, with
    an ImplicitModificationWarning.
    """
    if adata.is_view:
        adata._init_as_actual(adata.copy())


def output_of(adata: AnnData, copy: bool) -> AnnData:
    """Return the AnnData a function writes its results to: a copy with ``copy=True``, else ``adata`` made actual.

    Called once the results are computed ("compute first, write at the end"): on failure a view is left a view.
    """
    if copy:
        return adata.copy()  # of a view too, an actual AnnData; the view and its parent are not touched
    view_to_actual(adata)
    return adata


def check_integer(value, name: str, *, minimum: int = 1, optional: bool = False) -> None:
    """Raise a clear error unless ``value`` is an integer (not a bool) >= ``minimum``, or None when ``optional``."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer of at least {minimum}")
        raise ValueError(f"{name} must be {kind}{' (or None)' if optional else ''}, got {value!r}")


def check_number(value, name: str, *, positive: bool = False, optional: bool = False) -> None:
    """Raise a clear error unless ``value`` is a finite number >= 0 (> 0 when ``positive``), or None if ``optional``."""
    if optional and value is None:
        return
    finite = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
    if not finite or value < 0 or (positive and value == 0):
        kind = "a positive number" if positive else "a number of at least 0"
        raise ValueError(f"{name} must be {kind}{' (or None)' if optional else ''}, got {value!r}")


def get_spatial(adata: AnnData, key: str = C.SPATIAL_KEY) -> np.ndarray:
    """Return the spot coordinates, checked: present, 2-D or 3-D, finite, not all at one point."""
    if key not in adata.obsm:
        raise KeyError(
            f"obsm['{key}'] not found: store the spot coordinates (n_obs x 2) in adata.obsm['{key}'] "
            "(scanpy/squidpy readers do this for Visium)"
        )
    found = adata.obsm[key]
    try:
        coords = np.asarray(found, dtype=np.float64)
    except (TypeError, ValueError) as error:  # a sparse matrix, a DataFrame with a column of text
        columns = f" with columns {list(found.columns)}" if isinstance(found, pd.DataFrame) else ""
        raise ValueError(
            f"obsm['{key}'] is a {type(found).__name__}{columns} that is not read as numbers ({error}): store each "
            f"spot's coordinates in adata.obsm['{key}'] as a dense n_obs x 2 (or 3) array of numbers"
        ) from None
    check_spatial(coords, adata.obs_names, key)
    return coords


def check_spatial(coords: np.ndarray, obs_names, key: str = C.SPATIAL_KEY, what: str | None = None) -> None:
    """Raise unless spot coordinates bound for ``obsm[key]`` are n x 2 (or 3), finite and spread out.

    ``what`` names them in the errors (default ``obsm[key]``), e.g. the centroids they were derived from.
    """
    what = f"obsm['{key}']" if what is None else what
    if coords.ndim != 2 or coords.shape[1] not in (2, 3):
        raise ValueError(f"{what} must be n_obs x 2 (or 3) coordinates, got shape {coords.shape}")
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{what} has {int(bad.sum())} spots with NaN or infinite coordinates (first: {obs_names[bad][0]!r}): "
            f"remove them, e.g. adata = adata[np.isfinite(adata.obsm['{key}']).all(1)].copy()"
        )
    if len(coords) > 1 and not np.ptp(coords, axis=0).any():
        raise ValueError(
            f"{what} has no spread: all {len(coords)} spots are at the same coordinate "
            f"{tuple(float(c) for c in coords[0])}; store each spot's own position (n_obs x 2) in obsm['{key}']"
        )


def get_matrix(adata: AnnData, layer: str | None):
    """Return ``adata.X`` or a layer, with an error that names the missing layer."""
    if layer is None:
        return adata.X
    if layer not in adata.layers:
        raise KeyError(f"layers['{layer}'] not found; available layers: {list(adata.layers)}")
    return adata.layers[layer]


#: where CosMx readers keep each cell's position on the slide, beside its position within its field of view in
#: ``obsm['spatial']``: the reader that writes each
SLIDE_POSITIONS = {"spatial_fov": "squidpy.read.nanostring", "global": "spatialdata-io's CosMx reader"}


def check_one_frame(adata: AnnData, spatial_key: str, library_key: str | None) -> None:
    """Raise when ``obsm[spatial_key]``, read as one frame, holds sections or fields of view on top of each other.

    Without ``library_key``, the sections of ``obs['library_id']`` (as :func:`semst_sc.concat_sections` writes it), or
    of the column an earlier joint run modelled (:func:`sections_column`), must not overlap: sections in frames of
    their own would be modelled as one slide, their spots each other's neighbours. And CosMx readers
    (:data:`SLIDE_POSITIONS`) store each cell's position within its field of view in ``obsm['spatial']`` and the
    slide's beside it: read as one frame, the fields would overlap.
    """
    column = sections_column(adata)  # 'library_id', or the column an earlier joint run modelled
    overlap = overlapping_sections(adata, spatial_key, column) if library_key is None else None
    if overlap is not None:
        raise ValueError(f"{overlap}: they would be modelled as one slide. {library_key_hint(column)}")
    if "fov" not in adata.obs or library_key == "fov" or adata.obs["fov"].nunique() < 2:
        return
    for slide_key, reader in SLIDE_POSITIONS.items():
        if slide_key not in adata.obsm or spatial_key == slide_key:
            continue
        local = np.asarray(adata.obsm[spatial_key], dtype=np.float64)
        slide = np.asarray(adata.obsm[slide_key], dtype=np.float64)
        if local.shape == slide.shape and np.allclose(local, slide):
            continue
        raise ValueError(
            f"obsm['{spatial_key}'] holds each cell's position within its field of view (obs['fov']), as {reader} "
            f"stores it beside obsm['{slide_key}'], so the fields would lie on top of each other: use the slide "
            f"positions (adata.obsm['spatial'] = adata.obsm['{slide_key}']; of a SpatialData, its table's), or fit "
            "each field as a section (library_key='fov'), or read the export with sst.datasets.read_cosmx"
        )


def library_key_hint(column: str | None = None) -> str:
    """Say how to model the sections of ``obs[column]`` (``'library_id'`` by default) each in its own frame."""
    from ._sections import LIBRARY_KEY

    column = column or LIBRARY_KEY
    return (
        f"Model each section in its own frame with library_key='{column}' (CLI: --library-key {column}); if they "
        "really share one frame, rename the column"
    )


def sections_column(adata: AnnData) -> str:
    """Return the ``obs`` column whose sections would be overlaid when a map or score is read without library_key.

    The column a joint run modelled (``uns['semst_prepare']['params']['library_key']``, e.g. ``semst-sc run
    --library-key sample``) when ``obs`` holds it, else ``'library_id'`` (as :func:`semst_sc.concat_sections` writes).
    """
    from ._constants import PREPARE_KEY
    from ._sections import LIBRARY_KEY

    modelled = params_of(adata.uns.get(PREPARE_KEY)).get("library_key")
    return modelled if isinstance(modelled, str) and modelled in adata.obs else LIBRARY_KEY


def overlapping_sections(
    adata: AnnData, spatial_key: str, column: str | None = None, coords: np.ndarray | None = None
) -> str | None:
    """Say which two sections of ``obs[column]`` lie on top of each other in ``obsm[spatial_key]``, or None.

    Two sections overlap when their bounding boxes share at least half of the smaller one's extent along every axis,
    as sections do in frames of their own (each from 0, or each in its own image's pixels); sections laid side by side
    in one frame do not. ``column``: ``'library_id'`` by default; ``coords``: the coordinates, when not in ``obsm``.
    """
    from ._sections import LIBRARY_KEY

    column = column or LIBRARY_KEY
    if coords is None and spatial_key not in adata.obsm:
        return None
    if column not in adata.obs or adata.obs[column].nunique() < 2:
        return None
    coords = np.asarray(adata.obsm[spatial_key] if coords is None else coords, dtype=np.float64)
    codes, names = pd.factorize(adata.obs[column], sort=False)
    boxes = []
    for i in range(len(names)):
        rows = coords[codes == i]
        rows = rows[np.isfinite(rows).all(axis=1)]
        if len(rows):
            boxes.append((names[i], rows.min(axis=0), rows.max(axis=0)))
    for i, (a, low_a, high_a) in enumerate(boxes):
        for b, low_b, high_b in boxes[i + 1 :]:
            shared = np.minimum(high_a, high_b) - np.maximum(low_a, low_b)
            if (shared >= 0.5 * np.minimum(high_a - low_a, high_b - low_b)).all():
                return (
                    f"obs['{column}'] holds {len(names)} sections and sections {str(a)!r} and {str(b)!r} lie on "
                    "top of each other in their coordinates, but no library_key was given"
                )
    return None


#: values checked at a time for NaN and negatives; the first block alone decides whether the values are integers
COUNT_CHECK_BLOCK = 5_000_000


def check_counts(X, what: str) -> bool:
    """Raise when ``X`` cannot hold counts; return whether its values are integers.

    Non-negative non-integer values (counts divided by cell volume, as some MERFISH releases hold them) are modelled
    as counts. Values brought to one total per spot (``sc.pp.normalize_total``) or log-transformed (``sc.pp.log1p``)
    are not counts: they raise, as do negative (scaled) values.
    """
    values = X.data if sp.issparse(X) else np.asarray(X)
    if values.size == 0:
        return True
    flat = values.ravel()
    for start in range(0, flat.size, COUNT_CHECK_BLOCK):  # every value, a block at a time
        block = flat[start : start + COUNT_CHECK_BLOCK]
        if not np.isfinite(block).all():
            raise ValueError(f"{what} has NaN or infinite values; raw counts are needed")
        if (block < 0).any():
            raise ValueError(
                f"{what} has negative values (scaled, e.g. by sc.pp.scale?); raw counts are needed (pass "
                "layer='counts' if they are there)"
            )
    sample = flat[:COUNT_CHECK_BLOCK]  # integers, normalised or log-transformed: judged on the first block
    if np.allclose(sample, np.round(sample)):
        return True
    fix = "pass the layer with raw counts (layer='counts'; CLI: --layer counts) or load the unnormalised matrix"
    checks = [("normalised", X, "sc.pp.normalize_total")]
    if sample.max() < 20:  # log-transformed counts lie below 20 (e^20 = 5e8)
        unlogged = np.expm1(sample.astype(np.float64))
        if np.allclose(unlogged, np.round(unlogged)):
            raise ValueError(f"{what} holds non-integer values that are log-transformed counts (sc.pp.log1p): {fix}")
        unlogged_matrix = X.expm1() if sp.issparse(X) else np.expm1(np.asarray(X, dtype=np.float64))
        checks.append(("log-normalised", unlogged_matrix, "sc.pp.normalize_total, then sc.pp.log1p"))
    for name, matrix, steps in checks:
        totals = np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
        totals = totals[totals > 0]
        if len(totals) > 1 and totals.std() < 1e-3 * totals.mean():
            raise ValueError(
                f"{what} holds non-integer values {name} to one total per spot ({steps}), not counts: {fix}"
            )
    if len(checks) > 1 and _counts_times_a_factor_per_spot(checks[1][1]):  # log-normalised, then genes left out
        raise ValueError(
            f"{what} holds non-integer values that are log-transformed counts scaled per spot "
            f"(sc.pp.normalize_total, then sc.pp.log1p; genes left out since): {fix}"
        )
    return False


def _counts_times_a_factor_per_spot(matrix, n_rows: int = 2000) -> bool:
    """Whether, in most of the first ``n_rows`` spots, the values are whole multiples of the spot's smallest value.

    So are counts scaled by one factor per spot (a spot's smallest value is a count of 1 in almost every spot),
    whichever genes are kept; values unlogged from log-transformed data of another kind (e.g. counts divided by cell
    volume as a MERFISH release holds them) are not: on the shared data sets, 94-100% of spots against at most 2%.
    """
    rows = sp.csr_matrix(matrix[:n_rows], dtype=np.float64)
    n_spots = n_multiples = 0
    for start, end in itertools.pairwise(rows.indptr):
        values = rows.data[start:end]
        values = values[values > 0]
        if len(values) < 2:
            continue
        ratios = values / values.min()
        n_spots += 1
        n_multiples += bool(np.all(np.abs(ratios - np.round(ratios)) <= 1e-4 * ratios))
    return n_spots > 0 and n_multiples > 0.5 * n_spots


def find_counts(adata: AnnData, layer: str | None) -> tuple[str | None, object, bool]:
    """Return where the raw counts are, the matrix, and whether its values are integers.

    ``X`` unless ``layer`` is given; but when ``X`` holds no integer counts (normalised, log-transformed or scaled
    values: the scanpy layout; or ``None``) and ``layers['counts']`` does, those are read, with a warning.
    """
    matrix = get_matrix(adata, layer)
    if layer is None and not _integer_counts(matrix) and _integer_counts(adata.layers.get(C.USER_COUNTS_LAYER)):
        from scanpy import logging as logg

        logg.warning(
            "adata.X holds no raw counts (normalised, log-transformed, scaled or other non-integer values); reading "
            f"the integer counts of layers['{C.USER_COUNTS_LAYER}'] instead (pass layer=... to choose)"
        )
        return C.USER_COUNTS_LAYER, adata.layers[C.USER_COUNTS_LAYER], True
    if matrix is None:  # an AnnData of layers only
        raise ValueError(
            f"adata.X is empty (None): pass layer= with the raw counts (CLI: --layer); layers: {list(adata.layers)}"
        )
    try:
        return layer, matrix, check_counts(matrix, "adata.X" if layer is None else f"layers['{layer}']")
    except ValueError as error:
        if layer is None and adata.raw is not None and _integer_counts(adata.raw.X):
            raise ValueError(f"{error}; adata.raw holds counts: run on adata.raw.to_adata()") from None
        raise


def _integer_counts(matrix) -> bool:
    """Whether ``matrix`` (or ``None``) holds integer counts."""
    try:
        return matrix is not None and check_counts(matrix, "")
    except ValueError:
        return False


#: the control features instruments write beside the genes: Xenium's negative control probes and codewords, unassigned,
#: deprecated and blank codewords and genomic controls, MERSCOPE's and MERFISH's blank barcodes, CosMx's negative
#: probes, system controls and false codes
_CONTROL_PROBE = re.compile(
    r"^(NegControl|NegPrb|Negative\d|SystemControl|FalseCode|UnassignedCodeword|DeprecatedCodeword|Intergenic_Region"
    r"|BLANK[-_]?\d)",
    re.IGNORECASE,
)


def is_control_probe(name) -> bool:
    """Return True for an instrument's control feature: ``NegControlProbe_*``, ``BLANK_*``, ``Blank-*``, ``NegPrb*``."""
    return isinstance(name, str) and bool(_CONTROL_PROBE.match(name))


def looks_like_ensembl(names) -> bool:
    """Return True when most names look like Ensembl gene IDs."""
    names = list(names)[:200]
    return bool(names) and sum(bool(_ENSEMBL.match(str(n))) for n in names) > 0.5 * len(names)


def require_obsm(adata: AnnData, key: str, producer: str) -> np.ndarray:
    """Return ``adata.obsm[key]`` or raise an error naming the call that makes it."""
    if key not in adata.obsm:
        raise KeyError(f"obsm['{key}'] not found: run {producer} first")
    return adata.obsm[key]


def as_csr(matrix, dtype=None) -> sp.csr_matrix:
    """Return ``matrix`` as CSR, tidied (sorted indices, no duplicate entries) in a copy when it is not already.

    scipy tidies a matrix in place before many operations (comparisons, sums of matrices); on a CSR that shares the
    arrays of an AnnData's ``X``, layer or graph, that would rewrite the user's data.
    """
    csr = sp.csr_matrix(matrix, dtype=dtype)
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    return csr


def require_graph(adata: AnnData, key: str, producer: str, *, spatial: bool = False) -> sp.csr_matrix:
    """Return the connectivities of graph ``key`` (or the ``obsp`` entry ``key``), or raise naming the call to make.

    ``spatial``: a graph of neighbours in the tissue, refused when it links the sections ``pp.prepare`` modelled.
    """
    ckey = obsp_key(adata, key)  # a full obsp key too, e.g. 'semst_neighbourhood'
    if ckey not in adata.obsp:
        raise KeyError(f"obsp['{ckey}'] not found: run {producer} first")
    graph = as_csr(adata.obsp[ckey])
    library_key = params_of(adata.uns.get(C.PREPARE_KEY)).get("library_key") or None  # the sections modelled
    if spatial and library_key in adata.obs:
        from ._sections import links_sections

        if links_sections(graph, adata, library_key):
            raise ValueError(
                f"obsp['{ckey}'] links spots of different sections of obs['{library_key}'] (a graph built without "
                f"library_key, e.g. by squidpy): build it within each section, sst.pp.spatial_graph(adata, "
                f"library_key='{library_key}', n_neighbors=6), or squidpy's spatial_neighbors(library_key=...)"
            )
    return graph


def obsp_key(adata: AnnData, key: str) -> str:
    """Return the ``obsp`` key :func:`require_graph` reads for graph ``key``."""
    ckey = C.connectivities_key(key)
    return key if ckey not in adata.obsp and key in adata.obsp else ckey


def require_prepared(adata: AnnData) -> np.ndarray:
    """Return the boolean mask of modelled genes, checking that ``sst.pp.prepare`` ran."""
    for where, keys, key in (
        ("layers", adata.layers, C.SCALED_LAYER),
        ("var", adata.var, C.MODELLED_KEY),
        ("uns", adata.uns, C.PREPARE_KEY),
    ):
        if key not in keys:
            raise KeyError(
                f"{where}['{key}'] not found: run sst.pp.prepare(adata) first "
                "(sst.run_pipeline keeps the encoder input only with keep_intermediates=True; semst-sc run with "
                "--keep-intermediates)"
            )
    return np.array(adata.var[C.MODELLED_KEY], dtype=bool)  # a copy: a view would let a caller rewrite var


def prepared_stamp(scaled: sp.csr_matrix, genes: np.ndarray) -> str:
    """Return a short fingerprint of what ``sst.pp.prepare`` made: the modelled genes and the encoder input.

    Read from the genes, the input's shape and a sample of its values (fast at millions of spots): a run of prepare
    with other genes, another resolution or scaling gets another. The steps built on prepare's output record it, so
    that one built on an earlier run is told apart (:func:`check_prepared_for`).
    """
    import hashlib

    step = max(1, scaled.nnz // 100_000)
    digest = hashlib.sha1(np.packbits(np.asarray(genes, dtype=bool)).tobytes())
    digest.update(np.asarray([*scaled.shape, scaled.nnz], dtype=np.int64).tobytes())
    digest.update(np.asarray(scaled.indices[::step], dtype=np.int64).tobytes())
    digest.update(np.asarray(scaled.data[::step], dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def prepared_of(adata: AnnData) -> str:
    """Return the fingerprint of the current ``sst.pp.prepare`` output (``""`` when none was recorded)."""
    return str(params_of(adata.uns.get(C.PREPARE_KEY)).get("stamp", ""))


def check_prepared_for(adata: AnnData, entry, what: str, fix: str) -> None:
    """Raise when ``what`` (its ``uns`` ``entry``) was built on another run of ``sst.pp.prepare`` than the current."""
    recorded, current = str(params_of(entry).get("prepared", "")), prepared_of(adata)
    if recorded and current and recorded != current:
        raise ValueError(
            f"{what} was built on an earlier run of sst.pp.prepare (other genes, resolution or scaling): run {fix} "
            "again"
        )


def prepared_counts(adata: AnnData, genes: np.ndarray) -> np.ndarray:
    """Return the raw counts of the modelled ``genes`` (dense float32), read where ``sst.pp.prepare`` found them.

    At cell resolution these are the neighbourhoods' summed counts (``obsp['semst_neighbourhood']``).
    """
    params = adata.uns[C.PREPARE_KEY]["params"]
    layer = params.get("layer") or None
    where = "adata.X" if layer is None else f"layers['{layer}']"
    if layer is not None and layer not in adata.layers:
        raise KeyError(
            f"{where} not found: sst.pp.prepare(adata, layer='{layer}') read the raw counts there; "
            "put them back or run sst.pp.prepare(adata, layer=...) again"
        )
    counts = get_matrix(adata, layer)[:, genes]
    try:
        if not check_counts(counts, where) and params.get("integer_counts", True):
            raise ValueError(f"{where} holds non-integer values, but sst.pp.prepare found integer counts there")
    except ValueError as error:
        raise ValueError(
            f"{error}. sst.pp.prepare(adata{'' if layer is None else f', layer={layer!r}'}) read the raw counts "
            f"in {where}: keep them there (e.g. normalise a copy, or keep the counts in a layer and run "
            "sst.pp.prepare(adata, layer='counts'))"
        ) from None
    if params.get("resolution") == "cell":
        if C.NEIGHBOURHOOD_KEY not in adata.obsp:
            raise KeyError(
                f"obsp['{C.NEIGHBOURHOOD_KEY}'] not found: sst.pp.prepare chose cell resolution and wrote it; "
                "run sst.pp.prepare(adata) again"
            )
        return _pooled(as_csr(adata.obsp[C.NEIGHBOURHOOD_KEY]), as_csr(counts, np.float32))
    return np.asarray(counts.toarray() if sp.issparse(counts) else counts, dtype=np.float32)


def _pooled(pool: sp.csr_matrix, counts: sp.csr_matrix, block: int = 65536) -> np.ndarray:
    """Return ``pool @ counts`` as a dense float32 array, ``block`` rows at a time (no sparse product in full)."""
    out = np.empty((pool.shape[0], counts.shape[1]), np.float32)
    for start in range(0, pool.shape[0], block):
        out[start : start + block] = (pool[start : start + block] @ counts).toarray()
    return out


def domain_labels(values: pd.Series) -> pd.Categorical:
    """Return ``values`` as string categories in their own order: a categorical's, else numbers by value, else sorted.

    Domains ``"0"`` to ``"11"`` come in that order (not ``"0", "1", "10", ...``), and an anatomical order a user gave
    the categories is kept. Whole numbers stored as floats (labels read from a table with missing values: 0.0, 1.0,
    NaN) are written as integers, ``"1"``, not ``"1.0"``.
    """
    if pd.api.types.is_float_dtype(values) and is_whole(values):
        values = values.astype("Int64")
    if isinstance(values.dtype, pd.CategoricalDtype):
        order = [str(c) for c in values.cat.categories]
    else:
        present = pd.unique(values.dropna().astype(str))
        numbers = pd.to_numeric(pd.Series(present), errors="coerce")
        order = list(
            present[np.argsort(numbers.to_numpy(), kind="stable")] if numbers.notna().all() else sorted(present)
        )
    return pd.Categorical(values.astype("string").astype(object), categories=list(dict.fromkeys(order)))


def is_whole(values: pd.Series) -> bool:
    """Return True when every value that is not missing is a whole number (labels, not measurements)."""
    present = values.dropna().to_numpy(dtype=np.float64)
    return bool(np.isfinite(present).all() and (present == np.round(present)).all())


def params_of(entry) -> dict:
    """Return the ``params`` of a ``uns`` entry written by a semst_sc step (``{}`` for anything else)."""
    return entry.get("params", {}) if isinstance(entry, dict) else {}


def names_column(key: str, entry) -> str:
    """Return the ``obs`` column of the names that the annotation ``uns[key]`` gave (its ``key_added``)."""
    before = key.removesuffix("_annotation") + "_name"  # the column of annotations written before it was recorded
    return params_of(entry).get("key_added", before)


def names_of_other_domains(adata: AnnData, domain_key: str, domains: pd.Series | None = None) -> list[str]:
    """Return the ``uns`` keys of the domain annotations made of ``obs[domain_key]`` that no longer match it.

    An annotation (:func:`semst_sc.tl.annotate_domains`) matches while each spot's name in its ``obs`` column is the
    name its table gives the spot's domain; after clustering again it does not. Annotations whose ``obs`` column is
    gone are not judged. ``domains``: the domains about to be written to ``obs[domain_key]`` (default: those there).
    """
    stale = []
    for key in domain_annotations(adata, domain_key):
        entry = adata.uns[key]
        names_key = names_column(key, entry)
        if names_key not in adata.obs or "domains" not in entry:
            continue
        if domains is None and domain_key not in adata.obs:
            stale.append(key)
            continue
        table = entry["domains"].set_index("domain")["name"].astype(str)
        now = pd.Series(domain_labels(adata.obs[domain_key] if domains is None else domains))  # as annotated: "1"
        named = now.notna().to_numpy()
        expected = now[named].astype(str).map(table)
        if (expected.to_numpy() != adata.obs[names_key][named].astype(str).to_numpy()).any():
            stale.append(key)
    return stale


def domain_annotations(adata: AnnData, domain_key: str) -> list[str]:
    """Return the ``uns`` keys of the annotations (:func:`semst_sc.tl.annotate_domains`) of ``obs[domain_key]``."""
    return [
        key
        for key, entry in adata.uns.items()
        if key.endswith("_annotation") and params_of(entry).get("domain_key") == domain_key
    ]


def warn_of_other_domains(adata: AnnData, domain_key: str, domains: pd.Series | None = None) -> None:
    """Warn of each annotation of ``obs[domain_key]`` naming other domains than ``domains`` (default: those there)."""
    from scanpy import logging as logg

    for stale in names_of_other_domains(adata, domain_key, domains):
        logg.warning(f"the names in uns['{stale}'] are of the domains before: run sst.tl.annotate_domains again")


def check_n_neighbors(n_obs: int, n_neighbors: int, graph: str, hint: str, where: str = "the slide") -> None:
    """Raise a clear error unless a kNN ``graph`` of ``n_neighbors`` per spot can be built on ``n_obs`` spots.

    ``where``: what holds the spots, as the message names it (``"the slide"``, or a section).
    """
    check_integer(n_neighbors, "n_neighbors")
    if n_obs <= n_neighbors:
        raise ValueError(
            f"{where} has {n_obs} spots, too few for {graph} of {n_neighbors} neighbours per spot: "
            f"at least {n_neighbors + 1} spots are needed ({hint})"
        )


def sparse_knn_graph(indices: np.ndarray, distances: np.ndarray, n: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Build a symmetric binary connectivity and a distance matrix from kNN results (self excluded)."""
    rows = np.repeat(np.arange(n), indices.shape[1])
    cols = indices.ravel()
    d = distances.ravel().astype(np.float32)
    keep = rows != cols
    rows, cols, d = rows[keep], cols[keep], d[keep]
    conn = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, n))
    conn = ((conn + conn.T) > 0).astype(np.float32).tocsr()
    # each edge once in each direction, with its distance: a distance of 0 (two spots at one place) is kept
    both_rows, both_cols, both_d = np.concatenate([rows, cols]), np.concatenate([cols, rows]), np.concatenate([d, d])
    _, first = np.unique(both_rows.astype(np.int64) * n + both_cols, return_index=True)
    dist = sp.csr_matrix((both_d[first], (both_rows[first], both_cols[first])), shape=(n, n))
    return conn, dist


def store_graph(adata: AnnData, key: str, conn: sp.csr_matrix, dist: sp.csr_matrix, params: dict) -> None:
    """Write a graph under squidpy's key layout."""
    adata.obsp[C.connectivities_key(key)] = conn
    adata.obsp[C.distances_key(key)] = dist
    adata.uns[C.neighbors_key(key)] = {
        "connectivities_key": C.connectivities_key(key),
        "distances_key": C.distances_key(key),
        "params": params,
    }
