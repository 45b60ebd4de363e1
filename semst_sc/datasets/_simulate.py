"""A simulated slide of layered cortex with a vessel patch (Visium, Xenium-like or Visium-HD-like): the demo data."""

from __future__ import annotations

from copy import deepcopy
from itertools import chain, zip_longest
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scipy.special import expit

from .. import _constants as C

#: the simulated domains in anatomical order (pia to white matter, then the patch)
DOMAINS = ("Layer1", "Layer2_3", "Layer4", "Layer5", "Layer6", "WM", "Vessel")
_LAYERS = DOMAINS[:-1]
_PATCH = DOMAINS[-1]

# domain marker programs (human cortex; Maynard et al. 2021, Allen Brain Map MTG taxonomy, vascular atlases)
_MARKERS: dict[str, tuple[str, ...]] = {
    "Layer1": tuple("RELN AQP4 GFAP NDNF CXCL14 MT1G AGT ID3 FABP7 SLC1A3 CHI3L1".split()),
    "Layer2_3": tuple("CUX2 LAMP5 CALB1 HPCAL1 CARTPT RASGRF2 FREM3 COL5A2 GLRA3 ADCYAP1 C1QL2".split()),
    "Layer4": tuple("RORB RSPO1 PVALB WHRN IL1RAPL2 TRABD2A KCNS1 SCN4B NEFH".split()),
    "Layer5": tuple("PCP4 BCL11B FEZF2 ETV1 CRYM POU3F1 HTR2C VAT1L NEFM SMYD1".split()),
    "Layer6": tuple("TLE4 FOXP2 NTNG2 SEMA3E SYT6 NR4A2 TSHZ2 NXPH4 ZFPM2 OPRK1".split()),
    "WM": tuple("MBP PLP1 MOBP MOG CNP MAG CLDN11 TF ERMN OPALIN SOX10 ST18 ENPP2".split()),
    "Vessel": tuple("CLDN5 FLT1 VWF PECAM1 CDH5 ESAM ACTA2 MYH11 TAGLN PDGFRB RGS5 HBB HBA1 ITM2A SLC2A1".split()),
}

# mitochondrially encoded transcripts (highly abundant in Visium brain data)
_MITOCHONDRIAL = (
    "MT-ND1 MT-ND2 MT-CO1 MT-CO2 MT-ATP8 MT-ATP6 MT-CO3 MT-ND3 MT-ND4L MT-ND4 MT-ND5 MT-ND6 MT-CYB"
).split()

# housekeeping and ubiquitous high-abundance genes
_HOUSEKEEPING = (
    "ACTB GAPDH B2M TUBA1A TUBB EEF1A1 EEF2 TPT1 FTL FTH1 UBB UBC PPIA HSP90AB1 HSPA8 YWHAZ PGK1 LDHA ENO1 ALDOA "
    "TMSB4X TMSB10 MALAT1 CALM1 CALM2 CKB PFN1 CFL1 MYL6 NACA HNRNPA1 SERF2 COX4I1 ATP5F1E UQCRH NDUFA4 PTMA SRSF3 "
    "GNAS SPARC"
).split()

# neuronal, glial, immune, vascular and general genes without a domain program
_BACKGROUND = (
    "SNAP25 SYT1 STMN2 GAP43 NEFL NRGN CAMK2A SLC17A7 SATB2 GRIN1 GRIN2A GRIN2B GRIA1 GRIA2 GRIA3 GABRA1 GABRB2 "
    "GABRG2 GAD1 GAD2 SST VIP NPY CCK CALB2 RBFOX3 MAP2 TUBB3 SYP SYN1 SYN2 VAMP2 STXBP1 ENO2 THY1 NSF ATP1B1 "
    "ATP1A3 SCG2 SCG5 CHGA CHGB VSNL1 NELL2 OLFM1 UCHL1 BASP1 MEF2C NPTX1 NPTX2 VGF BDNF NTRK2 CPLX1 CPLX2 RTN1 "
    "RTN3 RTN4 NRXN1 NRXN3 NLGN1 CNTNAP2 DLG4 SHANK2 HOMER1 ARC EGR1 FOS JUNB NR4A1 KCNC1 KCNQ2 SCN1A SCN2A CACNA1A "
    "PRKCG MAPT APP SNCA SNCB GPM6A NRN1 CALY SV2A SYNGR1 RAB3A CPLX3 ELAVL4 INA PRNP CNR1 HTR2A DRD1 SLC6A1 "
    "SLC32A1 KIT ERBB4 LHX6 ADARB2 PROX1 SLC1A2 GJA1 ALDOC SPARCL1 ATP1A2 GLUL CLU APOE S100B SOX9 ALDH1L1 OLIG1 "
    "OLIG2 PDGFRA CSPG4 VCAN GPR17 SOX2 AIF1 CX3CR1 P2RY12 CSF1R C1QA C1QB C1QC TYROBP TREM2 CD74 HLA-DRA HLA-A "
    "HLA-B HLA-C PTPRC CD68 LYZ TMEM119 GPR34 SLC14A1 GPM6B NDRG2 MLC1 GJB6 ETNPPL CST3 MT2A MT1X MT1E SPP1 CRYAB "
    "QDPR APOD PLLP TMEM144 CA2 KLK6 COL1A1 COL1A2 COL3A1 COL4A1 COL4A2 LAMA4 VIM IFITM3 IFITM2 ANXA1 ANXA2 S100A6 "
    "S100A10 S100A11 LGALS1 LGALS3 TIMP1 TIMP3 MGP DCN LUM IGFBP7 IGFBP5 IGFBP4 CAV1 EMP1 KLF2 KLF4 SOX17 SOX18 "
    "NOTCH3 HBA2 HBD ALAS2 MKI67 TOP2A PCNA MCM2 CCND1 CDK4 CDKN1A CDKN2A TP53 MYC MAX JUN FOSB ATF3 ATF4 CREB1 "
    "STAT3 NFKB1 RELA SP1 YY1 CTCF SMAD2 SMAD3 SMAD4 TGFB1 TGFBR1 TGFBR2 EGFR ERBB2 IGF1R INSR AKT1 AKT2 MTOR "
    "PIK3CA PTEN KRAS HRAS NRAS BRAF RAF1 MAP2K1 MAPK1 MAPK3 MAPK8 MAPK14 GSK3B CTNNB1 APC AXIN1 WNT5A FZD7 NOTCH1 "
    "HES1 JAG1 DLL1 SHH PTCH1 GLI1 BMP4 BMPR2 ID1 ID2 ID4 HIF1A VEGFA PDGFB FGF2 FGFR1 FGFR2 FGFR3 IGF1 IGF2 TNF "
    "IL6 IL1B CXCL12 CXCR4 CCL2 NFKBIA SOCS3 IRF1 ISG15 MX1 GADD45A GADD45B DDIT3 XBP1 HSPA5 HSP90AA1 HSPA1A HSPA1B "
    "DNAJB1 HSPB1 SOD1 SOD2 CAT GPX1 GPX4 PRDX1 PRDX2 TXN TXNRD1 NQO1 HMOX1 G6PD PKM PFKP HK1 TPI1 PGAM1 LDHB MDH1 "
    "MDH2 IDH1 IDH2 CS ACO2 SDHA SDHB FH OGDH PDHA1 ATP5F1A ATP5F1B CYCS COX5A COX6C COX7C NDUFA1 NDUFB9 UQCRC1 "
    "SLC25A4 VDAC1 ACACA FASN SCD HMGCR LDLR SREBF1 PPARG CPT1A ACADM ACTG1 ACTN1 ACTN4 TPM1 TPM3 MYL9 MYH9 VCL "
    "TLN1 ITGB1 ITGA6 CD44 CD9 CD63 CD81 CDH1 CDH2 EPCAM KRT8 KRT18 DSP NCAM1 L1CAM MBNL1 NOVA1 RBFOX1 CELF1 ELAVL1 "
    "HNRNPK HNRNPU SRSF1 SFPQ NONO DDX5 DHX9 PABPC1 EIF4A1 EIF4E EIF4G1 EEF1G EEF1D EIF3A NPM1 NCL FBL DKC1 POLR2A "
    "TBP GTF2B MED1 EP300 CREBBP HDAC1 HDAC2 KAT2A DNMT1 DNMT3A TET2 EZH2 SUZ12 KDM1A BRD4 SMARCA4 ARID1A CHD4 "
    "H2AZ1 H3-3B H1-0 HMGB1 HMGB2 HMGN2 LMNA LMNB1 TUBA1B TUBB2A TUBB4A KIF5A KIF5C DYNC1H1 DCTN1 CLTC AP2M1 DNM1 "
    "RAB5A RAB7A RAB11A LAMP1 LAMP2 CTSB CTSD CTSL PSAP GRN SQSTM1 MAP1LC3B BECN1 ATG5 PSMA1 PSMB1 PSMD4 UBE2D3 "
    "UBE2I SUMO1 NEDD8 CUL1 RBX1 SKP1 VCP CANX CALR PDIA3 P4HB SEC61A1 SSR4 ARF1 ARF6 RHOA RAC1 CDC42 PAK1 ROCK1 "
    "YWHAB YWHAE YWHAG YWHAH YWHAQ STMN1 MARCKS GNB1 GNAI1 GNAO1 GNAQ ADCY1 PRKACA PRKCB PLCB1 ITPR1 CAMK2B CAMK4 "
    "PPP3CA PPP1CA PPP2CA CALM3 NCALD HPCA S100A1 PCP2 GAS7"
).split()

# ribosomal protein genes
_RIBOSOMAL = (
    "RPL3 RPL4 RPL5 RPL6 RPL7 RPL7A RPL8 RPL9 RPL10 RPL10A RPL11 RPL12 RPL13 RPL13A RPL14 RPL15 RPL18 RPL18A RPL19 "
    "RPL21 RPL23 RPL23A RPL24 RPL26 RPL27 RPL27A RPL28 RPL29 RPL30 RPL31 RPL32 RPL34 RPL35 RPL35A RPL36 RPL37 "
    "RPL37A RPL38 RPL39 RPL41 RPLP0 RPLP1 RPLP2 RPS2 RPS3 RPS3A RPS4X RPS5 RPS6 RPS7 RPS8 RPS9 RPS10 RPS11 RPS12 "
    "RPS13 RPS14 RPS15 RPS15A RPS16 RPS17 RPS18 RPS19 RPS20 RPS21 RPS23 RPS24 RPS25 RPS26 RPS27 RPS27A RPS28 RPS29 "
    "FAU UBA52"
).split()

# gene order: markers interleaved across domains (so any prefix is balanced), then the other groups
_MARKER_ORDER = [g for g in chain.from_iterable(zip_longest(*_MARKERS.values())) if g is not None]
_GROUPS = {
    "marker": _MARKER_ORDER,
    "mitochondrial": _MITOCHONDRIAL,
    "housekeeping": _HOUSEKEEPING,
    "background": _BACKGROUND,
    "ribosomal": _RIBOSOMAL,
}
_GENES = [gene for genes in _GROUPS.values() for gene in genes]
_GROUP_OF = [group for group, genes in _GROUPS.items() for _ in genes]
#: the largest ``n_genes`` that :func:`simulate_tissue` accepts (Visium and Visium HD)
MAX_GENES = len(_GENES)
# a targeted in-situ panel (Xenium) has no mitochondrial or ribosomal genes
_PANEL = [(g, group) for g, group in zip(_GENES, _GROUP_OF, strict=True) if group not in ("mitochondrial", "ribosomal")]

# model constants, all recorded in uns["simulation"]["params"]
_PARAMS = {
    "spacing": 100.0,  # centre-to-centre spot distance
    "layer_bottoms": [0.10, 0.30, 0.40, 0.57, 0.72],  # cortical depth (0 = top, 1 = bottom) where Layer1..Layer6 end
    "bend": 0.08,  # amplitude of the common curvature of the layers (fraction of the slide height)
    "wiggle": 0.015,  # amplitude of each boundary's own sine perturbation
    "boundary_softness": 0.6,  # width of the mixing zone at domain boundaries, in spots
    "patch_radii": [0.14, 0.10],  # semi-axes of the elliptic patch (fractions of the slide width / height)
    "patch_layer_fraction": 0.5,  # share of the underlying layer program kept inside the patch
    # relative expression level of a gene: log-normal (median, sd of log) per gene group
    "abundance": {
        "marker": [0.15, 0.9],
        "mitochondrial": [150.0, 0.5],
        "housekeeping": [6.0, 1.5],
        "background": [0.02, 1.5],
        "ribosomal": [0.6, 0.8],
    },
    "marker_log_fold": [1.8, 2.8],  # natural-log fold change of a marker in its own domain (uniform range)
    "adjacent_fraction": 0.3,  # share of that fold change in the neighbouring layers
    "program_sd": 0.2,  # spot-to-spot variability of the domain program strength (sd of log)
    "dispersion": [0.2, 0.5],  # negative-binomial dispersion per gene: log-normal (median, sd of log)
    "median_library": 3000.0,
    "library_sd": 0.35,  # spot-to-spot variability of the library size (sd of log)
    "library_trend": 0.6,  # smooth change of the log library size across the slide (x direction)
    "library_wave": 0.15,  # amplitude of a smooth sine wave of the log library size along y
    "library_domain": {"Layer1": -0.25, "WM": -0.35},  # lower UMI counts in layer 1 and white matter, as in DLPFC
}
# what differs per platform from the model constants above (recorded in uns["simulation"]["params"] too)
_PLATFORMS = {
    "visium": {},
    # single cells at irregular positions: a jittered hexagonal lattice (spacing in µm) with some sites left empty
    "xenium": {"spacing": 10.0, "jitter": 0.3, "empty_sites": 0.1, "median_library": 200.0},
    # square 8 µm bins with few UMIs each
    "visium_hd": {"spacing": 8.0, "median_library": 150.0},
}
_BLOCK = 8192  # spots drawn at a time


def simulate_tissue(
    n_rows: int = 40,
    n_cols: int = 40,
    *,
    n_genes: int = 300,
    platform: Literal["visium", "xenium", "visium_hd"] = "visium",
    n_cells: int | None = None,
    rng: int = 0,
) -> AnnData:
    """Simulate a slide of layered human cortex with a vessel patch: Visium spots, Xenium-like cells or Visium HD bins.

    Six curved cortical domains (``Layer1``, ``Layer2_3``, ``Layer4``, ``Layer5``, ``Layer6``, ``WM``) with smooth,
    sine-perturbed boundaries and an elliptic ``Vessel`` patch cut into them. Each domain up-regulates real marker
    genes (mildly also in the adjacent layers). Counts are negative binomial with gene-specific means and dispersions,
    and library sizes vary smoothly across the slide, so normalisation matters. Single spots are noisy: the domains
    are recovered much better with spatial smoothing than from expression alone. A million cells take about a minute.

    Parameters
    ----------
    n_rows, n_cols
        ``"visium"``: size of the hexagonal spot grid (odd rows shifted by half a spot, as on Visium). Other
        platforms: the aspect ratio (width ``n_cols`` to height ``n_rows``) of the slide, and ``n_rows * n_cols``
        cells unless ``n_cells`` is given.
    n_genes
        Number of genes: the domain markers first, then mitochondrial, housekeeping, background and ribosomal genes,
        at most :data:`MAX_GENES`. ``"xenium"`` is a targeted panel without mitochondrial and ribosomal genes
        (at most 600 genes).
    platform
        ``"visium"``: 55 µm spots on a hexagonal grid, about 3,000 UMIs each. ``"xenium"``: single cells at irregular
        positions (a jittered hexagonal lattice of 10 µm spacing with 10% of the sites empty), about 200 transcripts
        each. ``"visium_hd"``: square 8 µm bins, row by row, about 150 UMIs each.
    n_cells
        Number of cells (``"xenium"``) or bins (``"visium_hd"``); ``None``: ``n_rows * n_cols``. Not used by
        ``"visium"``.
    rng
        Random seed; the same seed gives the same slide.

    Returns
    -------
    AnnData with

    - ``X``: raw counts (CSR, float32 holding integers); ``var['gene_symbol']``: the gene symbols (= ``var_names``);
    - ``obs['array_row']``, ``obs['array_col']``: array coordinates (``"visium"``: Visium's; ``"visium_hd"``: the
      bin's row and column; absent for ``"xenium"``);
    - ``obs['domain']``: the true domain (categorical, anatomical order);
    - ``obsm['spatial']``: spot, cell or bin centres (x along columns, y along rows; spacing 100 on Visium, µm
      otherwise);
    - ``uns['simulation']``: ``{'params': ..., 'markers': {domain: marker genes}}``.

    """
    if platform not in _PLATFORMS:
        raise ValueError(f"platform must be one of {list(_PLATFORMS)}, got {platform!r}")
    if n_rows < 2 or n_cols < 2:
        raise ValueError(f"the slide needs at least 2 x 2 spots, got n_rows={n_rows}, n_cols={n_cols}")
    catalogue = _PANEL if platform == "xenium" else list(zip(_GENES, _GROUP_OF, strict=True))
    if not 1 <= n_genes <= len(catalogue):
        raise ValueError(
            f"n_genes must be between 1 and {len(catalogue)} (the built-in gene list of {platform!r}), got {n_genes}"
        )
    if platform == "visium" and n_cells is not None:
        raise ValueError("n_cells is for platform='xenium' or 'visium_hd'; a Visium slide has n_rows * n_cols spots")
    if n_cells is not None and n_cells < 4:
        raise ValueError(f"n_cells must be at least 4, got {n_cells}")
    gen = np.random.default_rng(rng)
    p = {**_PARAMS, **_PLATFORMS[platform]}
    n_obs = n_rows * n_cols if n_cells is None else n_cells
    array = None
    if platform == "visium":
        array_row, array_col, coords = _hex_grid(n_rows, n_cols, p["spacing"])
        array = {"array_row": array_row, "array_col": array_col}
        extent = (p["spacing"] * n_cols, p["spacing"] * np.sqrt(3) / 2 * n_rows)
        grid_rows = n_rows
    elif platform == "xenium":
        coords, extent, grid_rows = _cell_layout(n_obs, n_cols / n_rows, p, gen)
    else:
        array_row, array_col, coords, extent, grid_rows = _bin_grid(n_obs, n_cols / n_rows, p["spacing"])
        array = {"array_row": array_row, "array_col": array_col}
    u = coords[:, 0] / extent[0]
    v = coords[:, 1] / extent[1]
    softness = p["boundary_softness"] / grid_rows
    layers, layer_code, geometry = _layers(u, v, softness, gen)
    patch, in_patch, patch_geometry = _patch(u, v, softness, gen)
    geometry.update(patch_geometry)

    genes = [gene for gene, _ in catalogue[:n_genes]]
    groups = [group for _, group in catalogue[:n_genes]]
    median, sd = np.array([p["abundance"][g] for g in groups]).T
    log_base = np.log(median) + sd * gen.standard_normal(n_genes)
    fold = _programs(genes, gen)
    strength = np.exp(p["program_sd"] * gen.standard_normal(len(u)))
    keep = 1 - p["patch_layer_fraction"] * patch
    domain_offset = np.array([p["library_domain"].get(name, 0.0) for name in _LAYERS])
    phase = gen.uniform(0, 2 * np.pi)
    library = np.exp(
        np.log(p["median_library"])
        + p["library_sd"] * gen.standard_normal(len(u))
        + p["library_trend"] * (u - 0.5)
        + p["library_wave"] * np.sin(2 * np.pi * v + phase)
        + keep * (layers @ domain_offset)
    )
    dispersion = p["dispersion"][0] * np.exp(p["dispersion"][1] * gen.standard_normal(n_genes))
    blocks = []
    for start in range(0, len(u), _BLOCK):  # spots in blocks: no dense spots x genes matrix
        b = slice(start, start + _BLOCK)
        program = (keep[b, None] * (layers[b] @ fold[:-1]) + patch[b, None] * fold[-1]) * strength[b, None]
        blocks.append(_counts(log_base + program, library[b], dispersion, gen))
    counts = sp.vstack(blocks, format="csr")

    code = np.where(in_patch, len(DOMAINS) - 1, layer_code)
    n_digits = max(4, len(str(len(u) - 1)))
    prefix = {"visium": "spot", "xenium": "cell", "visium_hd": "bin"}[platform]
    obs = pd.DataFrame(
        {**(array or {}), "domain": pd.Categorical.from_codes(code, categories=list(DOMAINS))},
        index=[f"{prefix}_{i:0{n_digits}d}" for i in range(len(u))],
    )
    var = pd.DataFrame({"gene_symbol": genes}, index=pd.Index(genes))
    params = {"n_rows": n_rows, "n_cols": n_cols, "n_genes": n_genes, "rng": rng, **deepcopy(p), **geometry}
    params.update({"platform": platform, "n_cells": len(u)})
    present = set(genes)
    markers = {name: [g for g in _MARKERS[name] if g in present] for name in DOMAINS}
    return AnnData(
        X=counts,
        obs=obs,
        var=var,
        obsm={C.SPATIAL_KEY: coords},
        uns={"simulation": {"params": params, "markers": markers}},
    )


def _counts(log_mean: np.ndarray, library: np.ndarray, dispersion: np.ndarray, gen: np.random.Generator):
    """Draw negative-binomial (gamma-Poisson) counts of a block of spots: CSR, float32."""
    share = np.exp(log_mean - log_mean.max(axis=1, keepdims=True))
    share /= share.sum(axis=1, keepdims=True)
    mean = library[:, None] * share
    return sp.csr_matrix(gen.poisson(gen.gamma(1 / dispersion, mean * dispersion)).astype(np.float32))


def _hex_grid(n_rows: int, n_cols: int, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the Visium array coordinates and pixel-like spot centres of a hexagonal grid."""
    row, col = np.divmod(np.arange(n_rows * n_cols), n_cols)
    odd = row % 2
    coords = np.column_stack([spacing * (col + 0.5 * odd), spacing * np.sqrt(3) / 2 * row]).astype(np.float64)
    return row, 2 * col + odd, coords


def _cell_layout(n_cells: int, aspect: float, p: dict, gen: np.random.Generator):
    """Irregular cell centres: a jittered hexagonal lattice with a share of its sites left empty, in lattice order.

    Returns the centres, the slide's extent (width, height) and its number of lattice rows.
    """
    sites = int(np.ceil(n_cells / (1 - p["empty_sites"])))
    n_rows = max(2, round(np.sqrt(sites / aspect)))
    n_cols = max(2, -(-sites // n_rows))
    spacing = p["spacing"]
    _, _, lattice = _hex_grid(n_rows, n_cols, spacing)
    occupied = np.sort(gen.choice(len(lattice), n_cells, replace=False))
    coords = lattice[occupied] + spacing * gen.uniform(-p["jitter"], p["jitter"], size=(n_cells, 2))
    return coords, (spacing * n_cols, spacing * np.sqrt(3) / 2 * n_rows), n_rows


def _bin_grid(n_bins: int, aspect: float, spacing: float):
    """Square bins row by row (the last row may be partial): array row and column, centres, extent and rows."""
    n_rows = max(2, round(np.sqrt(n_bins / aspect)))
    n_cols = -(-n_bins // n_rows)
    row, col = np.divmod(np.arange(n_bins), n_cols)
    coords = np.column_stack([spacing * col, spacing * row]).astype(np.float64)
    return row, col, coords, (spacing * n_cols, spacing * n_rows), n_rows


def _layers(u: np.ndarray, v: np.ndarray, softness: float, gen: np.random.Generator):
    """Return soft layer memberships (spots x layers), the hard layer of each spot and the drawn geometry."""
    p = _PARAMS
    bend_phase = gen.uniform(0, 2 * np.pi)
    wiggle_phase = gen.uniform(0, 2 * np.pi, size=len(p["layer_bottoms"]))
    depth = v - p["bend"] * np.sin(np.pi * u + bend_phase)
    bottoms = np.array(p["layer_bottoms"])[None, :] + p["wiggle"] * np.sin(3 * np.pi * u[:, None] + wiggle_phase)
    below = expit((depth[:, None] - bottoms) / softness)  # soft "deeper than boundary k"
    below = np.column_stack([np.ones_like(u), below, np.zeros_like(u)])
    memberships = below[:, :-1] - below[:, 1:]
    code = (depth[:, None] >= bottoms).sum(axis=1)
    return memberships, code, {"bend_phase": float(bend_phase), "wiggle_phases": wiggle_phase.tolist()}


def _patch(u: np.ndarray, v: np.ndarray, softness: float, gen: np.random.Generator):
    """Return the soft membership of the elliptic patch, the hard patch mask and the drawn geometry."""
    centre = np.array([gen.uniform(0.55, 0.75), gen.uniform(0.35, 0.6)])
    angle = gen.uniform(0, np.pi)
    a, b = _PARAMS["patch_radii"]
    du, dv = u - centre[0], v - centre[1]
    radius = np.hypot((du * np.cos(angle) + dv * np.sin(angle)) / a, (-du * np.sin(angle) + dv * np.cos(angle)) / b)
    membership = expit((1 - radius) * min(a, b) / softness)
    return membership, radius < 1, {"patch_centre": centre.tolist(), "patch_angle": float(angle)}


def _programs(genes: list[str], gen: np.random.Generator) -> np.ndarray:
    """Return log-fold changes (domains x genes): markers up in their domain and, less, in the adjacent layers."""
    lo, hi = _PARAMS["marker_log_fold"]
    size = gen.uniform(lo, hi, size=len(genes))
    fold = np.zeros((len(DOMAINS), len(genes)))
    column = {g: j for j, g in enumerate(genes)}
    for d, name in enumerate(DOMAINS):
        js = [column[g] for g in _MARKERS[name] if g in column]
        fold[d, js] = size[js]
        if name != _PATCH:
            for a in (d - 1, d + 1):
                if 0 <= a < len(_LAYERS):
                    fold[a, js] = np.maximum(fold[a, js], _PARAMS["adjacent_fraction"] * size[js])
    return fold
