"""A simulated slide of layered cortex with a vessel patch (Visium, Xenium-like or Visium-HD-like): the demo data."""

from __future__ import annotations

from copy import deepcopy
from itertools import chain, zip_longest
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scipy.spatial import cKDTree
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

#: the simulated cell types (``tissue="cells"``): excitatory neurons by layer, interneurons, glia and vascular cells
CELL_TYPES = (
    "L2_3_IT",
    "L4_IT",
    "L5",
    "L6",
    "PVALB",
    "SST",
    "VIP",
    "Astrocyte",
    "Oligodendrocyte",
    "OPC",
    "Microglia",
    "Endothelial",
    "Mural",
)

# cell-type markers (human cortex: Allen Brain Map MTG taxonomy, Maynard et al. 2021, vascular atlases); each domain
# marker above is a marker of a cell type or class (HBB and HBA1: blood in the lumen of the endothelial cells' vessels)
_TYPE_MARKERS: dict[str, tuple[str, ...]] = {
    "L2_3_IT": tuple("CUX2 LAMP5 CALB1 HPCAL1 CARTPT RASGRF2 FREM3 COL5A2 GLRA3 ADCYAP1 C1QL2".split()),
    "L4_IT": tuple("RORB RSPO1 WHRN IL1RAPL2 TRABD2A SCN4B NEFH".split()),
    "L5": tuple("PCP4 BCL11B FEZF2 ETV1 CRYM POU3F1 HTR2C VAT1L NEFM SMYD1".split()),
    "L6": tuple("TLE4 FOXP2 NTNG2 SEMA3E SYT6 NR4A2 TSHZ2 NXPH4 ZFPM2 OPRK1".split()),
    "PVALB": tuple("PVALB KCNS1 KCNC1 SCN1A".split()),
    "SST": tuple("SST NPY".split()),
    "VIP": tuple("VIP CALB2 CCK ADARB2 RELN NDNF CXCL14".split()),
    "Astrocyte": tuple("AQP4 GFAP SLC1A3 AGT FABP7 ID3 MT1G CHI3L1 SLC1A2 GJA1 ALDH1L1 MLC1".split()),
    "Oligodendrocyte": tuple("MBP PLP1 MOBP MOG CNP MAG CLDN11 TF ERMN OPALIN ST18 ENPP2".split()),
    "OPC": tuple("PDGFRA CSPG4 VCAN GPR17".split()),
    "Microglia": tuple("P2RY12 CX3CR1 AIF1 CSF1R C1QA C1QB TYROBP TREM2 TMEM119 GPR34".split()),
    "Endothelial": tuple("CLDN5 FLT1 VWF PECAM1 CDH5 ESAM ITM2A SLC2A1 HBB HBA1".split()),
    "Mural": tuple("PDGFRB RGS5 ACTA2 MYH11 TAGLN NOTCH3 MYL9".split()),
}
# markers shared by a class of cell types (a smaller fold change): the class's cell types and genes
_CLASS_MARKERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "neuron": (CELL_TYPES[:7], tuple("SNAP25 SYT1 STMN2 RBFOX3 GAP43 NEFL".split())),
    "excitatory": (CELL_TYPES[:4], tuple("SLC17A7 SATB2 CAMK2A NRGN".split())),
    "inhibitory": (CELL_TYPES[4:7], tuple("GAD1 GAD2 SLC32A1".split())),
    "MGE interneuron": (("PVALB", "SST"), ("LHX6",)),
    "oligodendrocyte lineage": (("Oligodendrocyte", "OPC"), tuple("SOX10 OLIG1 OLIG2".split())),
    "vascular": (("Endothelial", "Mural"), tuple("IGFBP7 COL4A1 COL4A2".split())),
}
# share of each cell type in each domain (human DLPFC-like; missing: 0); layers share their neighbours' neurons and
# every domain holds glia and vessels
_PROPORTIONS: dict[str, dict[str, float]] = {
    "Layer1": {"L2_3_IT": 0.03, "PVALB": 0.01, "SST": 0.02, "VIP": 0.14, "Astrocyte": 0.40, "Oligodendrocyte": 0.07,
               "OPC": 0.08, "Microglia": 0.12, "Endothelial": 0.08, "Mural": 0.05},
    "Layer2_3": {"L2_3_IT": 0.45, "L4_IT": 0.04, "L5": 0.01, "PVALB": 0.06, "SST": 0.04, "VIP": 0.09,
                 "Astrocyte": 0.11, "Oligodendrocyte": 0.06, "OPC": 0.04, "Microglia": 0.05, "Endothelial": 0.03,
                 "Mural": 0.02},
    "Layer4": {"L2_3_IT": 0.06, "L4_IT": 0.42, "L5": 0.04, "PVALB": 0.10, "SST": 0.04, "VIP": 0.03, "Astrocyte": 0.09,
               "Oligodendrocyte": 0.09, "OPC": 0.05, "Microglia": 0.04, "Endothelial": 0.02, "Mural": 0.02},
    "Layer5": {"L4_IT": 0.04, "L5": 0.38, "L6": 0.05, "PVALB": 0.07, "SST": 0.07, "VIP": 0.02, "Astrocyte": 0.09,
               "Oligodendrocyte": 0.14, "OPC": 0.05, "Microglia": 0.05, "Endothelial": 0.02, "Mural": 0.02},
    "Layer6": {"L5": 0.05, "L6": 0.36, "PVALB": 0.03, "SST": 0.06, "VIP": 0.02, "Astrocyte": 0.08,
               "Oligodendrocyte": 0.25, "OPC": 0.06, "Microglia": 0.05, "Endothelial": 0.02, "Mural": 0.02},
    "WM": {"L6": 0.02, "SST": 0.01, "Astrocyte": 0.10, "Oligodendrocyte": 0.68, "OPC": 0.07, "Microglia": 0.08,
           "Endothelial": 0.02, "Mural": 0.02},
    "Vessel": {"L2_3_IT": 0.03, "L4_IT": 0.02, "L5": 0.03, "L6": 0.02, "PVALB": 0.01, "SST": 0.01, "Astrocyte": 0.15,
               "Oligodendrocyte": 0.06, "OPC": 0.03, "Microglia": 0.10, "Endothelial": 0.32, "Mural": 0.22},
}  # fmt: skip
_SHARES = np.array([[_PROPORTIONS[d].get(t, 0.0) for t in CELL_TYPES] for d in DOMAINS])


def _interleave(lists) -> list[str]:
    """Return the first gene of every list, then the second of every list, and so on (any prefix is balanced)."""
    return [g for g in chain.from_iterable(zip_longest(*lists)) if g is not None]


# gene order: markers interleaved across domains (so any prefix is balanced), then the other groups
_MARKER_ORDER = _interleave(_MARKERS.values())
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
# the same genes for the cells model: cell-type markers interleaved across types, then class markers, then the rest
_CELL_MARKERS = _interleave(_TYPE_MARKERS.values()) + _interleave(genes for _, genes in _CLASS_MARKERS.values())
_CELL_CATALOGUE = [(g, "marker") for g in _CELL_MARKERS] + [
    (g, group) for g, group in zip(_GENES, _GROUP_OF, strict=True) if g not in _CELL_MARKERS
]
_CATALOGUES = {"programs": list(zip(_GENES, _GROUP_OF, strict=True)), "cells": _CELL_CATALOGUE}

# model constants, all recorded in uns["simulation"]["params"]
_PARAMS = {
    "spacing": 100.0,  # centre-to-centre spot distance
    "layer_bottoms": [0.10, 0.30, 0.40, 0.57, 0.72],  # cortical depth (0 = top, 1 = bottom) where Layer1..Layer6 end
    "bend": 0.08,  # amplitude of the common curvature of the layers (fraction of the slide height)
    "wiggle": 0.015,  # amplitude of each boundary's own sine perturbation
    "boundary_softness": 0.6,  # width of the mixing zone at domain boundaries, in spots
    "patch_radii": [0.14, 0.10],  # semi-axes of the elliptic patch (fractions of the slide width / height)
    # relative expression level of a gene: log-normal (median, sd of log) per gene group
    "abundance": {
        "marker": [0.15, 0.9],
        "mitochondrial": [150.0, 0.5],
        "housekeeping": [6.0, 1.5],
        "background": [0.02, 1.5],
        "ribosomal": [0.6, 0.8],
    },
    "dispersion": [0.2, 0.5],  # negative-binomial dispersion per gene: log-normal (median, sd of log)
    "median_library": 3000.0,
    "library_sd": 0.35,  # spot-to-spot variability of the library size (sd of log)
    "library_trend": 0.6,  # smooth change of the log library size across the slide (x direction)
    "library_wave": 0.15,  # amplitude of a smooth sine wave of the log library size along y
    "library_domain": {"Layer1": -0.25, "WM": -0.35},  # lower UMI counts in layer 1 and white matter, as in DLPFC
}
# constants of each tissue model
_TISSUES = {
    # every spot expresses its domain's marker program
    "programs": {
        "patch_layer_fraction": 0.5,  # share of the underlying layer program kept inside the patch
        "marker_log_fold": [1.8, 2.8],  # natural-log fold change of a marker in its own domain (uniform range)
        "adjacent_fraction": 0.3,  # share of that fold change in the neighbouring layers
        "program_sd": 0.2,  # spot-to-spot variability of the domain program strength (sd of log)
    },
    # cells of mixed types, drawn from their domain's proportions (uns["simulation"]["proportions"])
    "cells": {
        "type_log_fold": [4.0, 5.0],  # natural-log fold change of a cell-type marker in its own type
        "class_log_fold": [1.5, 2.2],  # the same for a marker shared by a class of cell types
        "program_sd": 0.2,  # cell-to-cell variability of the type program strength (sd of log)
    },
}
# what differs per platform from the model constants above (recorded in uns["simulation"]["params"] too)
_PLATFORMS = {
    "visium": {},
    # single cells at irregular positions: a jittered hexagonal lattice (spacing in µm) with some sites left empty
    "xenium": {"spacing": 10.0, "jitter": 0.3, "empty_sites": 0.1, "median_library": 200.0},
    # square 8 µm bins with few UMIs each
    "visium_hd": {"spacing": 8.0, "median_library": 150.0},
}
# what the cells model adds per platform: the cells under a Visium spot (1 + Poisson many, uniform in the spot's
# 55 µm disk; median_library is then the spot's), and the cells that Visium HD bins cut into pieces (a jittered
# hexagonal lattice; a bin holds a share of the transcripts of the cell under its centre, varying by bin_library_sd)
_CELL_PLATFORMS = {
    "visium": {"cells_per_spot": 7.0, "spot_diameter": 55.0},
    "xenium": {},
    "visium_hd": {"cell_spacing": 12.0, "jitter": 0.3, "bin_library_sd": 0.15},
}
_BLOCK = 8192  # spots drawn at a time


def simulate_tissue(
    n_rows: int = 40,
    n_cols: int = 40,
    *,
    n_genes: int = 300,
    platform: Literal["visium", "xenium", "visium_hd"] = "visium",
    n_cells: int | None = None,
    tissue: Literal["cells", "programs"] = "cells",
    rng: int = 0,
) -> AnnData:
    """Simulate a slide of layered human cortex with a vessel patch: Visium spots, Xenium-like cells or Visium HD bins.

    Six curved cortical domains (``Layer1``, ``Layer2_3``, ``Layer4``, ``Layer5``, ``Layer6``, ``WM``) with smooth,
    sine-perturbed boundaries and an elliptic ``Vessel`` patch cut into them. With ``tissue="cells"`` the tissue is
    built from cells of 13 types, each with its real marker genes: excitatory neurons of each layer (``L2_3_IT``,
    ``L4_IT``, ``L5``, ``L6``), interneurons (``PVALB``, ``SST``, ``VIP``), glia (``Astrocyte``, ``Oligodendrocyte``,
    ``OPC``, ``Microglia``) and vascular cells (``Endothelial``, ``Mural``). Every cell draws its type from its
    domain's proportions (mixed near the boundaries), so a domain is a neighbourhood of mixed cell types and the same
    type occurs in several domains: a single cell's expression tells its type rather than its domain, and the domains
    appear by averaging over spatial neighbours. Visium spots sum the few cells under them; Visium HD bins are pieces
    of cells. ``tissue="programs"``: every spot expresses its domain's marker program instead (mildly also in the
    adjacent layers). Counts are negative binomial with gene-specific means and dispersions, and library sizes vary
    smoothly across the slide, so normalisation matters. A million cells take well under a minute.

    Parameters
    ----------
    n_rows, n_cols
        ``"visium"``: size of the hexagonal spot grid (odd rows shifted by half a spot, as on Visium). Other
        platforms: the aspect ratio (width ``n_cols`` to height ``n_rows``) of the slide, and ``n_rows * n_cols``
        cells unless ``n_cells`` is given.
    n_genes
        Number of genes: the markers first (of cell types, or of domains for ``"programs"``), then mitochondrial,
        housekeeping, background and ribosomal genes, at most :data:`MAX_GENES`. ``"xenium"`` is a targeted panel
        without mitochondrial and ribosomal genes (at most 600 genes).
    platform
        ``"visium"``: 55 µm spots on a hexagonal grid, about 3,000 UMIs each (with ``"cells"``: the sum of about 7
        cells). ``"xenium"``: single cells at irregular positions (a jittered hexagonal lattice of 10 µm spacing with
        10% of the sites empty), about 200 transcripts each. ``"visium_hd"``: square 8 µm bins, row by row, about 150
        UMIs each (with ``"cells"``: pieces of cells about 12 µm apart).
    n_cells
        Number of cells (``"xenium"``) or bins (``"visium_hd"``); ``None``: ``n_rows * n_cols``. Refused with
        ``"visium"``, whose slide has ``n_rows * n_cols`` spots.
    tissue
        ``"cells"``: mixed cell types in domain-specific proportions. ``"programs"``: one marker program per domain
        (the model before cell types; the same seed gives the same slide as then).
    rng
        Random seed; the same seed gives the same slide. A seed draws the tissue's gene programs (each gene's base
        level and fold changes) as well as the slide, so two seeds are two tissues, not replicates of one. Visium
        slides of one seed and other sizes share the programs (sections of one tissue); on the other platforms the
        cells' positions are drawn first, so the size changes the programs too.

    Returns
    -------
    AnnData with

    - ``X``: raw counts (CSR, float32 holding integers); ``var['gene_symbol']``: the gene symbols (= ``var_names``);
    - ``obs['array_row']``, ``obs['array_col']``: array coordinates (``"visium"``: Visium's; ``"visium_hd"``: the
      bin's row and column; absent for ``"xenium"``);
    - ``obs['domain']``: the true domain at the spot, cell or bin centre (categorical, anatomical order);
    - ``"cells"`` only: ``obs['cell_type']`` (categorical): the cell's type (``"xenium"``), the type of the cell
      the bin is a piece of (``"visium_hd"``, with that cell's number in ``obs['cell_id']``) or the most frequent
      type under the spot (``"visium"``, with ``obs['n_cells']`` and the count of each type in
      ``obsm['cell_type_counts']``);
    - ``obsm['spatial']``: spot, cell or bin centres (x along columns, y along rows; spacing 100 on Visium, µm
      otherwise);
    - ``uns['simulation']``: ``{'params': ..., 'markers': {domain: marker genes}}``; ``"cells"`` adds
      ``'cell_types'`` ({type: marker genes}) and ``'proportions'`` ({domain: {type: share}}).

    """
    if platform not in _PLATFORMS:
        raise ValueError(f"platform must be one of {list(_PLATFORMS)}, got {platform!r}")
    if tissue not in _TISSUES:
        raise ValueError(f"tissue must be one of {list(_TISSUES)}, got {tissue!r}")
    if n_rows < 2 or n_cols < 2:
        raise ValueError(f"the slide needs at least 2 x 2 spots, got n_rows={n_rows}, n_cols={n_cols}")
    catalogue = _CATALOGUES[tissue]
    if platform == "xenium":  # a targeted in-situ panel has no mitochondrial or ribosomal genes
        catalogue = [(g, group) for g, group in catalogue if group not in ("mitochondrial", "ribosomal")]
    if not 1 <= n_genes <= len(catalogue):
        raise ValueError(
            f"n_genes must be between 1 and {len(catalogue)} (the built-in gene list of {platform!r}), got {n_genes}"
        )
    if platform == "visium" and n_cells is not None:
        raise ValueError("n_cells is for platform='xenium' or 'visium_hd'; a Visium slide has n_rows * n_cols spots")
    if n_cells is not None and n_cells < 4:
        raise ValueError(f"n_cells must be at least 4, got {n_cells}")
    gen = np.random.default_rng(rng)
    p = {**_PARAMS, **_TISSUES[tissue], **_PLATFORMS[platform]}
    if tissue == "cells":
        p.update(_CELL_PLATFORMS[platform])
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
    geometry = _geometry(gen)
    slide = _Slide(extent, p["boundary_softness"] / grid_rows, geometry)
    layers, layer_code, patch, in_patch = slide.memberships(coords)

    genes = [gene for gene, _ in catalogue[:n_genes]]
    groups = [group for _, group in catalogue[:n_genes]]
    median, sd = np.array([p["abundance"][g] for g in groups]).T
    log_base = np.log(median) + sd * gen.standard_normal(n_genes)
    present = set(genes)
    if tissue == "programs":
        counts = _program_counts(p, genes, log_base, slide, coords, layers, patch, gen)
        extra_obs, extra_obsm, extra_uns = {}, {}, {}
    else:
        model = _CellModel(p, genes, log_base, slide, gen)
        simulate = {"visium": model.spots, "xenium": model.cells, "visium_hd": model.bins}[platform]
        counts, extra_obs, extra_obsm = simulate(coords)
        extra_uns = {
            "cell_types": {t: [g for g in model.markers(t) if g in present] for t in CELL_TYPES},
            "proportions": {d: {t: _PROPORTIONS[d].get(t, 0.0) for t in CELL_TYPES} for d in DOMAINS},
        }

    code = np.where(in_patch, len(DOMAINS) - 1, layer_code)
    n_digits = max(4, len(str(len(coords) - 1)))
    prefix = {"visium": "spot", "xenium": "cell", "visium_hd": "bin"}[platform]
    obs_names = [f"{prefix}_{i:0{n_digits}d}" for i in range(len(coords))]
    obs = pd.DataFrame(
        {**(array or {}), "domain": pd.Categorical.from_codes(code, categories=list(DOMAINS)), **extra_obs},
        index=obs_names,
    )
    for key, value in extra_obsm.items():
        extra_obsm[key] = pd.DataFrame(value, index=obs.index, columns=list(CELL_TYPES))
    var = pd.DataFrame({"gene_symbol": genes}, index=pd.Index(genes))
    params = {"n_rows": n_rows, "n_cols": n_cols, "n_genes": n_genes, "rng": rng, **deepcopy(p), **geometry}
    params.update({"platform": platform, "n_cells": len(coords), "tissue": tissue})
    markers = {name: [g for g in _MARKERS[name] if g in present] for name in DOMAINS}
    return AnnData(
        X=counts,
        obs=obs,
        var=var,
        obsm={C.SPATIAL_KEY: coords, **extra_obsm},
        uns={"simulation": {"params": params, "markers": markers, **extra_uns}},
    )


class _Slide:
    """The drawn slide geometry: soft domain memberships at any position."""

    def __init__(self, extent: tuple[float, float], softness: float, geometry: dict):
        self.extent, self.softness, self.geometry = extent, softness, geometry

    def uv(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions as fractions of the slide's width and height."""
        return coords[:, 0] / self.extent[0], coords[:, 1] / self.extent[1]

    def memberships(self, coords: np.ndarray):
        """Soft layer memberships (positions x layers), the hard layer, the soft patch membership and the hard patch."""
        u, v = self.uv(coords)
        layers, layer_code = _layers(u, v, self.softness, self.geometry)
        patch, in_patch = _patch(u, v, self.softness, self.geometry)
        return layers, layer_code, patch, in_patch

    def log_library(self, p: dict, coords: np.ndarray, layers: np.ndarray, keep: np.ndarray, noise: np.ndarray):
        """Log library sizes: median, noise, a trend along x, a wave along y and lower counts in some layers."""
        u, v = self.uv(coords)
        domain_offset = np.array([p["library_domain"].get(name, 0.0) for name in _LAYERS])
        return (
            np.log(p["median_library"])
            + p["library_sd"] * noise
            + p["library_trend"] * (u - 0.5)
            + p["library_wave"] * np.sin(2 * np.pi * v + self.geometry["library_phase"])
            + keep * (layers @ domain_offset)
        )


def _program_counts(p, genes, log_base, slide, coords, layers, patch, gen) -> sp.csr_matrix:
    """Draw the counts of the ``"programs"`` model: every spot expresses its (soft) domain's marker program."""
    n_genes, n_obs = len(genes), len(coords)
    fold = _programs(genes, gen)
    strength = np.exp(p["program_sd"] * gen.standard_normal(n_obs))
    keep = 1 - p["patch_layer_fraction"] * patch
    slide.geometry["library_phase"] = float(gen.uniform(0, 2 * np.pi))
    library = np.exp(slide.log_library(p, coords, layers, keep, gen.standard_normal(n_obs)))
    dispersion = p["dispersion"][0] * np.exp(p["dispersion"][1] * gen.standard_normal(n_genes))
    blocks = []
    for start in range(0, n_obs, _BLOCK):  # spots in blocks: no dense spots x genes matrix
        b = slice(start, start + _BLOCK)
        program = (keep[b, None] * (layers[b] @ fold[:-1]) + patch[b, None] * fold[-1]) * strength[b, None]
        blocks.append(_counts(log_base + program, library[b], dispersion, gen))
    return sp.vstack(blocks, format="csr")


class _CellModel:
    """The ``"cells"`` model: cells draw their type from their domain's proportions and express its program."""

    def __init__(self, p: dict, genes: list[str], log_base: np.ndarray, slide: _Slide, gen: np.random.Generator):
        self.p, self.log_base, self.slide, self.gen = p, log_base, slide, gen
        self.fold = _type_programs(genes, p, gen)
        self.dispersion = p["dispersion"][0] * np.exp(p["dispersion"][1] * gen.standard_normal(len(genes)))
        slide.geometry["library_phase"] = float(gen.uniform(0, 2 * np.pi))

    @staticmethod
    def markers(cell_type: str) -> list[str]:
        """Return the cell type's own markers, then those of its classes."""
        shared = [g for members, genes in _CLASS_MARKERS.values() if cell_type in members for g in genes]
        return list(_TYPE_MARKERS[cell_type]) + shared

    def draw(self, coords: np.ndarray, library_scale: float = 1.0):
        """Draw cells at these positions: their type codes, program strengths and library sizes."""
        gen = self.gen
        layers, _, patch, _ = self.slide.memberships(coords)
        keep = 1 - patch
        shares = keep[:, None] * (layers @ _SHARES[:-1]) + patch[:, None] * _SHARES[-1]
        types = (np.cumsum(shares, axis=1) < gen.random(len(coords))[:, None]).sum(axis=1)
        types = np.minimum(types, len(CELL_TYPES) - 1).astype(np.int8)  # guard against rounding of the last share
        strength = np.exp(self.p["program_sd"] * gen.standard_normal(len(coords)))
        noise = gen.standard_normal(len(coords))
        library = library_scale * np.exp(self.slide.log_library(self.p, coords, layers, keep, noise))
        return types, strength, library

    def counts(self, types: np.ndarray, strength: np.ndarray, library: np.ndarray) -> sp.csr_matrix:
        """Negative-binomial counts of cells (or pieces of cells), in blocks."""
        blocks = []
        for start in range(0, len(types), _BLOCK):
            b = slice(start, start + _BLOCK)
            log_mean = self.log_base + self.fold[types[b]] * strength[b, None]
            blocks.append(_counts(log_mean, library[b], self.dispersion, self.gen))
        return sp.vstack(blocks, format="csr")

    def cells(self, coords: np.ndarray):
        """Single cells (Xenium)."""
        types, strength, library = self.draw(coords)
        return self.counts(types, strength, library), {"cell_type": _type_column(types)}, {}

    def spots(self, centres: np.ndarray):
        """Visium spots: the sums of the cells under each spot's footprint."""
        p, gen = self.p, self.gen
        n_spots = len(centres)
        n_in = 1 + gen.poisson(p["cells_per_spot"] - 1, size=n_spots)
        spot_of = np.repeat(np.arange(n_spots), n_in)
        radius = p["spot_diameter"] / 2 * np.sqrt(gen.random(len(spot_of)))
        angle = gen.uniform(0, 2 * np.pi, size=len(spot_of))
        coords = centres[spot_of] + radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
        types, strength, library = self.draw(coords, 1 / p["cells_per_spot"])
        step = max(1, int(_BLOCK / (2 * p["cells_per_spot"])))  # spots at a time: their cells, then their sums
        starts = np.arange(0, n_spots, step)
        edges = np.append(np.searchsorted(spot_of, starts), len(spot_of))
        blocks = []
        for start, c0, c1 in zip(starts, edges[:-1], edges[1:], strict=True):
            cell_counts = self.counts(types[c0:c1], strength[c0:c1], library[c0:c1])
            under = (np.ones(c1 - c0, np.float32), (spot_of[c0:c1] - start, np.arange(c1 - c0)))
            blocks.append(sp.csr_matrix(under, shape=(min(step, n_spots - start), c1 - c0)) @ cell_counts)
        counts = sp.vstack(blocks, format="csr")
        counts.sort_indices()
        composition = np.zeros((n_spots, len(CELL_TYPES)), dtype=np.int32)
        np.add.at(composition, (spot_of, types), 1)
        obs = {"cell_type": _type_column(composition.argmax(axis=1)), "n_cells": n_in}
        return counts, obs, {"cell_type_counts": composition}

    def bins(self, centres: np.ndarray):
        """Visium HD bins: each a piece of the cell under its centre, with a share of that cell's transcripts."""
        p, gen = self.p, self.gen
        spacing = p["cell_spacing"]
        width, height = self.slide.extent
        n_rows, n_cols = int(height / (spacing * np.sqrt(3) / 2)) + 2, int(width / spacing) + 2  # cover the slide
        _, _, lattice = _hex_grid(n_rows, n_cols, spacing)
        cells = lattice + spacing * gen.uniform(-p["jitter"], p["jitter"], size=lattice.shape)
        cell_of = cKDTree(cells).query(centres)[1]
        used, cell_of = np.unique(cell_of, return_inverse=True)  # only the cells under some bin
        types, strength, library = self.draw(cells[used])
        bin_library = library[cell_of] * np.exp(p["bin_library_sd"] * gen.standard_normal(len(centres)))
        counts = self.counts(types[cell_of], strength[cell_of], bin_library)
        return counts, {"cell_type": _type_column(types[cell_of]), "cell_id": cell_of}, {}


def _type_column(codes: np.ndarray) -> pd.Categorical:
    """Cell-type codes as a categorical column."""
    return pd.Categorical.from_codes(codes, categories=list(CELL_TYPES))


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


def _geometry(gen: np.random.Generator) -> dict:
    """Draw the slide's geometry: phases of the layer curvature and boundaries, position and angle of the patch."""
    bend_phase = gen.uniform(0, 2 * np.pi)
    wiggle_phases = gen.uniform(0, 2 * np.pi, size=len(_PARAMS["layer_bottoms"]))
    centre = [gen.uniform(0.55, 0.75), gen.uniform(0.35, 0.6)]
    angle = gen.uniform(0, np.pi)
    return {
        "bend_phase": float(bend_phase),
        "wiggle_phases": wiggle_phases.tolist(),
        "patch_centre": [float(c) for c in centre],
        "patch_angle": float(angle),
    }


def _layers(u: np.ndarray, v: np.ndarray, softness: float, geometry: dict):
    """Return soft layer memberships (spots x layers) and the hard layer of each spot."""
    p = _PARAMS
    depth = v - p["bend"] * np.sin(np.pi * u + geometry["bend_phase"])
    wiggle_phase = np.array(geometry["wiggle_phases"])
    bottoms = np.array(p["layer_bottoms"])[None, :] + p["wiggle"] * np.sin(3 * np.pi * u[:, None] + wiggle_phase)
    below = expit((depth[:, None] - bottoms) / softness)  # soft "deeper than boundary k"
    below = np.column_stack([np.ones_like(u), below, np.zeros_like(u)])
    memberships = below[:, :-1] - below[:, 1:]
    code = (depth[:, None] >= bottoms).sum(axis=1)
    return memberships, code


def _patch(u: np.ndarray, v: np.ndarray, softness: float, geometry: dict):
    """Return the soft membership of the elliptic patch and the hard patch mask."""
    centre, angle = geometry["patch_centre"], geometry["patch_angle"]
    a, b = _PARAMS["patch_radii"]
    du, dv = u - centre[0], v - centre[1]
    radius = np.hypot((du * np.cos(angle) + dv * np.sin(angle)) / a, (-du * np.sin(angle) + dv * np.cos(angle)) / b)
    membership = expit((1 - radius) * min(a, b) / softness)
    return membership, radius < 1


def _programs(genes: list[str], gen: np.random.Generator) -> np.ndarray:
    """Return log-fold changes (domains x genes): markers up in their domain and, less, in the adjacent layers."""
    lo, hi = _TISSUES["programs"]["marker_log_fold"]
    size = gen.uniform(lo, hi, size=len(genes))
    fold = np.zeros((len(DOMAINS), len(genes)))
    column = {g: j for j, g in enumerate(genes)}
    for d, name in enumerate(DOMAINS):
        js = [column[g] for g in _MARKERS[name] if g in column]
        fold[d, js] = size[js]
        if name != _PATCH:
            for a in (d - 1, d + 1):
                if 0 <= a < len(_LAYERS):
                    fold[a, js] = np.maximum(fold[a, js], _TISSUES["programs"]["adjacent_fraction"] * size[js])
    return fold


def _type_programs(genes: list[str], p: dict, gen: np.random.Generator) -> np.ndarray:
    """Return log-fold changes (cell types x genes): a type's own markers, and less, the markers of its classes."""
    column = {g: j for j, g in enumerate(genes)}
    own = gen.uniform(*p["type_log_fold"], size=len(genes))
    shared = gen.uniform(*p["class_log_fold"], size=len(genes))
    fold = np.zeros((len(CELL_TYPES), len(genes)))
    for t, name in enumerate(CELL_TYPES):
        js = [column[g] for g in _TYPE_MARKERS[name] if g in column]
        fold[t, js] = own[js]
    for members, class_genes in _CLASS_MARKERS.values():
        js = [column[g] for g in class_genes if g in column]
        for name in members:
            fold[CELL_TYPES.index(name), js] = shared[js]
    return fold
